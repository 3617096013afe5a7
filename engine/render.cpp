#include "engine/render.hpp"

#include "engine/assert.hpp"
#include "engine/delivery.hpp"
#include "engine/message.hpp"
#include "engine/template.hpp"

namespace seqd {
namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";
constexpr std::string_view kLineEnding = "\n";

std::string_view trimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::uint32_t offsetIn(std::string_view whole, std::string_view part) {
  return static_cast<std::uint32_t>(part.data() - whole.data());
}

std::string_view templateTooLong() {
  static const std::string kMessage =
      "template: rendered text is longer than " + std::to_string(kRenderedBytesMax) + " bytes";
  return kMessage;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// CompiledTemplate

// The syntax is checkTemplate()'s; a text it refuses keeps its error and renders nothing.
CompiledTemplate::CompiledTemplate(std::string text) : text_(std::move(text)) {
  Status syntax = checkTemplate(text_);
  if (!syntax.isOk()) {
    error_ = syntax.message();
    return;
  }
  static const std::unordered_map<std::string_view, Field> kFields = {
      {"email", Field::kEmail},
      {"email_status", Field::kEmailStatus},
      {"first_name", Field::kFirstName},
      {"last_name", Field::kLastName},
      {"company", Field::kCompany},
      {"title", Field::kTitle},
      {"phone", Field::kPhone},
      {"timezone", Field::kTimezone},
      {"owner", Field::kOwner},
      {"stage", Field::kStage},
      {"id", Field::kKey},
      {"key", Field::kKey},
      {"score", Field::kScore},
      {"dnc", Field::kDnc},
      {"call_opt_out", Field::kCallOptOut},
      {"email_opt_out", Field::kEmailOptOut}};
  const std::string_view text_view = text_;
  std::size_t position = 0;
  // checkTemplate() passed: every "{{" has its "}}" and a valid name, and the text is at most
  // kTemplateBytesMax, so this loop ends within that many pieces.
  while (position < text_view.size()) {
    const std::size_t open = text_view.find(kOpen, position);
    const std::size_t literal_end = open == std::string_view::npos ? text_view.size() : open;
    if (literal_end > position) {
      Piece literal;
      literal.offset = static_cast<std::uint32_t>(position);
      literal.size = static_cast<std::uint32_t>(literal_end - position);
      pieces_.push_back(literal);
    }
    if (open == std::string_view::npos) break;
    const std::size_t close = text_view.find(kClose, open + kOpen.size());
    SEQD_ASSERT(close != std::string_view::npos);
    const std::string_view inside = text_view.substr(open + kOpen.size(), close - open - 2);
    const std::size_t bar = inside.find('|');
    const std::string_view name = trimBlanks(inside.substr(0, bar));
    Piece variable;
    variable.is_variable = true;
    variable.offset = offsetIn(text_view, name);
    variable.size = static_cast<std::uint32_t>(name.size());
    auto known = kFields.find(name);
    variable.field = known == kFields.end() ? Field::kExtra : known->second;
    if (bar != std::string_view::npos) {
      const std::string_view fallback = trimBlanks(inside.substr(bar + 1));
      variable.has_fallback = true;
      variable.fallback_offset =
          fallback.empty() ? 0 : offsetIn(text_view, fallback);  // an empty view may point past
      variable.fallback_size = static_cast<std::uint32_t>(fallback.size());
    }
    pieces_.push_back(variable);
    position = close + kClose.size();
  }
}

std::string_view CompiledTemplate::valueOf(const Piece& piece, const PackedContact& contact,
                                           char (&digits)[4]) const {
  auto boolean = [](bool value) -> std::string_view { return value ? "true" : "false"; };
  switch (piece.field) {
    case Field::kEmail:
      return contact.email();
    case Field::kEmailStatus:
      return contact.emailStatus();
    case Field::kFirstName:
      return contact.firstName();
    case Field::kLastName:
      return contact.lastName();
    case Field::kCompany:
      return contact.company();
    case Field::kTitle:
      return contact.title();
    case Field::kPhone:
      return contact.phone();
    case Field::kTimezone:
      return contact.timezone();
    case Field::kOwner:
      return contact.owner();
    case Field::kStage:
      return contact.stage();
    case Field::kKey:
      return contact.key();
    case Field::kScore: {
      unsigned score = contact.score();  // at most kScoreMax: three digits
      std::size_t length = 0;
      char reversed[3];
      do {
        reversed[length++] = static_cast<char>('0' + score % 10);
        score /= 10;
      } while (score != 0 && length < 3);
      for (std::size_t i = 0; i < length; ++i) digits[i] = reversed[length - 1 - i];
      return std::string_view(digits, length);
    }
    case Field::kDnc:
      return boolean(contact.dnc());
    case Field::kCallOptOut:
      return boolean(contact.callOptOut());
    case Field::kEmailOptOut:
      return boolean(contact.emailOptOut());
    case Field::kExtra:
      return contact.extra(view(piece.offset, piece.size)).value_or(std::string_view());
  }
  return std::string_view();
}

std::string CompiledTemplate::problem(const PackedContact& contact) const {
  if (!error_.empty()) return "template_error:" + error_;
  std::size_t rendered_bytes = 0;
  char digits[4];
  for (const Piece& piece : pieces_) {
    if (!piece.is_variable) {
      rendered_bytes += piece.size;
    } else if (std::string_view value = valueOf(piece, contact, digits); !value.empty()) {
      rendered_bytes += value.size();
    } else if (piece.has_fallback) {
      rendered_bytes += piece.fallback_size;
    } else {
      return "missing_variable:" + std::string(view(piece.offset, piece.size));
    }
    if (rendered_bytes > kRenderedBytesMax)
      return "template_error:" + std::string(templateTooLong());
  }
  return std::string();
}

void CompiledTemplate::renderTo(const PackedContact& contact, std::string& out) const {
  char digits[4];
  for (const Piece& piece : pieces_) {
    if (!piece.is_variable) {
      out += view(piece.offset, piece.size);
    } else if (std::string_view value = valueOf(piece, contact, digits); !value.empty()) {
      out += value;
    } else {
      out += view(piece.fallback_offset, piece.fallback_size);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Compiled sequences and senders

const CompiledTemplate& RenderStep::subjectOf(int variant) const {
  if (variant >= 0 && variants[variant].own_subject) return variants[variant].subject;
  return subject;
}

const CompiledTemplate& RenderStep::bodyOf(int variant) const {
  if (variant >= 0 && variants[variant].own_body) return variants[variant].body;
  return body;
}

const RenderSequence* RenderSettings::findSequence(std::string_view id) const {
  auto found = sequences.find(id);
  return found == sequences.end() ? nullptr : &found->second;
}

const RenderSender* RenderSettings::findSender(std::string_view address) const {
  auto found = senders.find(address);
  return found == senders.end() ? nullptr : &found->second;
}

namespace {

RenderSequence compileSequence(const Sequence& sequence) {
  RenderSequence compiled;
  compiled.id = sequence.id;
  compiled.steps.reserve(sequence.steps.size());
  std::uint32_t previous_email = RenderStep::kNoStep;
  for (std::size_t i = 0; i < sequence.steps.size(); ++i) {
    const Step& step = sequence.steps[i];
    RenderStep& target = compiled.steps.emplace_back();
    target.id = step.id;
    target.is_email = step.type == StepType::kAutoEmail;
    target.thread_previous = step.thread_previous;
    target.previous_email = previous_email;
    target.subject = CompiledTemplate(step.subject);
    target.body = CompiledTemplate(step.body);
    for (const Variant& variant : step.variants) {
      RenderVariant& compiled_variant = target.variants.emplace_back();
      compiled_variant.id = variant.id;
      compiled_variant.weight = variant.weight;
      compiled_variant.own_subject = !variant.subject.empty();
      compiled_variant.own_body = !variant.body.empty();
      compiled_variant.subject = CompiledTemplate(variant.subject);
      compiled_variant.body = CompiledTemplate(variant.body);
    }
    appendUnstructuredHeader(target.fixed_headers, "X-Seqd-Sequence", sequence.id, kLineEnding);
    appendUnstructuredHeader(target.fixed_headers, "X-Seqd-Step", step.id, kLineEnding);
    if (target.is_email) previous_email = static_cast<std::uint32_t>(i);
  }
  return compiled;
}

}  // namespace

std::shared_ptr<const RenderSettings> compileRenderSettings(const Sequences& sequences,
                                                            const std::vector<Mailbox>& mailboxes,
                                                            const UnsubscribeLinks& unsubscribe) {
  auto settings = std::make_shared<RenderSettings>();
  for (const auto& [id, sequence] : sequences) {
    settings->sequences.emplace(id, compileSequence(sequence));
  }
  for (const Mailbox& mailbox : mailboxes) {
    RenderSender sender;
    sender.address = mailbox.address;
    sender.address_symbol = Symbol(mailbox.address);
    sender.name = mailbox.name;
    sender.transport = mailbox.transport;
    appendMailboxHeader(sender.from_header, "From", mailbox.name, mailbox.address, kLineEnding);
    settings->senders.emplace(mailbox.address, std::move(sender));  // the first one wins
  }
  settings->unsubscribe = unsubscribe;
  if (!unsubscribe.url_template.empty() && !unsubscribe.secret.empty()) {
    settings->unsubscribe_signer.emplace(unsubscribe.secret);
  }
  return settings;
}

int pickVariant(const RenderStep& step, std::string_view contact_key) {
  if (step.variants.empty()) return -1;
  int total = 0;
  for (const RenderVariant& variant : step.variants) total += variant.weight;
  if (total <= 0) return -1;
  const std::uint64_t hash = fnv1a64(step.id, fnv1a64(contact_key));
  int point = static_cast<int>(hash % static_cast<std::uint64_t>(total));
  for (std::size_t i = 0; i < step.variants.size(); ++i) {
    if (point < step.variants[i].weight) return static_cast<int>(i);
    point -= step.variants[i].weight;
  }
  return static_cast<int>(step.variants.size() - 1);
}

std::string checkStepText(const RenderStep& step, int variant, const PackedContact& contact) {
  std::string problem = step.subjectOf(variant).problem(contact);
  if (problem.empty()) problem = step.bodyOf(variant).problem(contact);
  return problem;
}

// ---------------------------------------------------------------------------------------
// MessageRenderer

void MessageRenderer::appendDate(TimeMs at_ms) {
  const std::int64_t second = at_ms / kSecondMs - (at_ms % kSecondMs < 0 ? 1 : 0);  // floor
  if (second != date_second_) {
    date_header_.clear();
    appendHeader(date_header_, "Date", formatRfc5322Date(at_ms), kLineEnding);
    date_second_ = second;
  }
  message_ += date_header_;
}

void MessageRenderer::renderText(const RenderStep& step, int variant, const RenderStep* previous,
                                 const PackedContact& contact) {
  subject_.clear();
  body_.clear();
  step.subjectOf(variant).renderTo(contact, subject_);
  step.bodyOf(variant).renderTo(contact, body_);
  // A threaded step with no subject of its own answers the previous email's: "Re: " + its
  // subject, when that renders for this contact.
  if (previous != nullptr && subject_.empty()) {
    const int previous_variant = pickVariant(*previous, contact.key());
    if (checkStepText(*previous, previous_variant, contact).empty()) {
      subject_ = "Re: ";
      previous->subjectOf(previous_variant).renderTo(contact, subject_);
    }
  }
}

std::string_view MessageRenderer::render(const DeliveryIntent& intent,
                                         std::string_view message_id) {
  SEQD_ASSERT(intent.render != nullptr);
  SEQD_ASSERT(intent.contact != nullptr);
  // Both point into *intent.render, which the intent keeps alive.
  const RenderSequence* sequence = intent.sequence;
  const RenderSender* sender = intent.sender;
  SEQD_ASSERT(sequence != nullptr);
  SEQD_ASSERT(sender != nullptr);
  SEQD_ASSERT(intent.step_index < sequence->steps.size());
  const RenderStep& step = sequence->steps[intent.step_index];
  const PackedContact& contact = *intent.contact;
  const RenderStep* previous = step.thread_previous && step.previous_email != RenderStep::kNoStep
                                   ? &sequence->steps[step.previous_email]
                                   : nullptr;
  renderText(step, intent.variant, previous, contact);
  message_.clear();
  message_ += sender->from_header;
  if (contact.firstName().empty()) {
    appendMailboxHeader(message_, "To", "", contact.email(), kLineEnding);
  } else {
    scratch_ = contact.firstName();
    if (!contact.lastName().empty()) {
      scratch_ += ' ';
      scratch_ += contact.lastName();
    }
    appendMailboxHeader(message_, "To", scratch_, contact.email(), kLineEnding);
  }
  appendUnstructuredHeader(message_, "Subject", subject_, kLineEnding);
  appendDate(intent.fired_at_ms);
  appendHeader(message_, "Message-ID", message_id, kLineEnding);
  if (previous != nullptr) {
    scratch_.clear();
    appendMessageId(scratch_, sequence->id, previous->id, contact.key(), sender->address);
    appendHeader(message_, "In-Reply-To", scratch_, kLineEnding);
    appendHeader(message_, "References", scratch_, kLineEnding);
  }
  // List-Unsubscribe (SPEC §3 rule 9): the sending mailbox's mailto: always; with an
  // unsubscribe_url, first the signed HTTPS link, which RFC 8058 clients POST to.
  const RenderSettings& render = *intent.render;
  const bool one_click = render.unsubscribe_signer.has_value();
  scratch_.clear();
  if (one_click) {
    scratch_ += '<';
    appendUnsubscribeUrl(scratch_, render.unsubscribe.url_template, *render.unsubscribe_signer,
                         contact.key(), sequence->id);
    scratch_ += ">, ";
  }
  scratch_ += "<mailto:";
  scratch_ += sender->address;
  scratch_ += "?subject=unsubscribe>";
  const std::size_t unsubscribe_at = message_.size();
  appendHeader(message_, "List-Unsubscribe", scratch_, kLineEnding);
  if (one_click && message_.find("<https://", unsubscribe_at) != std::string::npos) {
    message_ += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n";
  }
  message_ += "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n";
  const bool quoted_printable = needsQuotedPrintable(body_);
  message_ += quoted_printable ? "Content-Transfer-Encoding: quoted-printable\n"
                               : "Content-Transfer-Encoding: 7bit\n";
  message_ += step.fixed_headers;
  if (intent.variant >= 0) {
    SEQD_ASSERT(static_cast<std::size_t>(intent.variant) < step.variants.size());
    appendUnstructuredHeader(message_, "X-Seqd-Variant", step.variants[intent.variant].id,
                             kLineEnding);
  }
  appendUnstructuredHeader(message_, "X-Seqd-Contact", contact.key(), kLineEnding);
  message_ += kLineEnding;
  appendMessageBody(message_, body_, quoted_printable, kLineEnding);
  return message_;
}

std::string renderMessage(const DeliveryIntent& intent, std::string_view line_ending) {
  MessageRenderer renderer;
  const std::string_view message = renderer.render(intent, intent.messageId());
  if (line_ending == kLineEnding) return std::string(message);
  // Every line break the renderer writes is a '\n' (header values and the body have theirs
  // rewritten), so other endings are a rewrite of those.
  std::string rewritten;
  rewritten.reserve(message.size() + message.size() / 16);
  for (char c : message) {
    if (c == '\n') {
      rewritten += line_ending;
    } else {
      rewritten += c;
    }
  }
  return rewritten;
}

}  // namespace seqd
