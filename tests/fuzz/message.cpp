// Fuzz target: the message builder (engine/message buildMessage and its pieces) and the
// delivery workers' renderer (engine/render: compileRenderSettings, MessageRenderer,
// renderMessage). The input's first byte holds flags (CRLF line endings, one-click link, a
// threaded step); the rest is twelve values separated by 0x1e: from name, from address, to
// name, to address, subject, body, In-Reply-To, References, List-Unsubscribe, sequence id,
// step id, contact key. buildMessage gets them as parts; the renderer gets a sequence whose
// step has that subject and body as templates, a mailbox with that name and address and a
// contact with that name, email and key.
//
// Checked on every message: its line endings are all the chosen one; in the header block each
// line is a "Name: value" or a folded continuation, at most 998 bytes, without control bytes;
// a quoted-printable body has lines of at most 76 characters; the renderer's two entry points
// give the same bytes.
#include "engine/message.hpp"

#include <string>

#include "config/sequence_yaml.hpp"
#include "engine/delivery.hpp"
#include "engine/email_address.hpp"
#include "engine/render.hpp"
#include "fuzz_input.hpp"
#include "io/request_checks.hpp"

using namespace seqd;

namespace {

enum Part {
  kFromName,
  kFromAddress,
  kToName,
  kToAddress,
  kSubject,
  kBody,
  kInReplyTo,
  kReferences,
  kListUnsubscribe,
  kSequenceId,
  kStepId,
  kContactKey,
  kPartCount
};

void checkLineEndings(std::string_view message, std::string_view line_ending) {
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (line_ending == "\n") {
      FUZZ_CHECK(message[i] != '\r');
    } else if (message[i] == '\n') {
      FUZZ_CHECK(i > 0 && message[i - 1] == '\r');
    } else if (message[i] == '\r') {
      FUZZ_CHECK(i + 1 < message.size() && message[i + 1] == '\n');
    }
  }
}

void checkMessage(std::string_view message, std::string_view line_ending) {
  checkLineEndings(message, line_ending);
  std::size_t body_at = message.find(std::string(line_ending) + std::string(line_ending));
  FUZZ_CHECK(body_at != std::string_view::npos);
  std::string_view headers = message.substr(0, body_at + line_ending.size());
  std::string_view body = message.substr(body_at + 2 * line_ending.size());
  bool quoted_printable = false;
  while (!headers.empty()) {
    std::size_t end = headers.find(line_ending);
    FUZZ_CHECK(end != std::string_view::npos);
    std::string_view line = headers.substr(0, end);
    headers.remove_prefix(end + line_ending.size());
    FUZZ_CHECK(!line.empty() && line.size() <= 998);
    for (char c : line) {
      const unsigned char byte = static_cast<unsigned char>(c);
      FUZZ_CHECK(byte >= ' ' || byte == '\t');
      FUZZ_CHECK(byte != 0x7f);
    }
    if (line[0] != ' ' && line[0] != '\t') {  // "Name:" then the value, which may be empty
      const std::size_t colon = line.find(':');
      FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
      FUZZ_CHECK(line.substr(0, colon).find(' ') == std::string_view::npos);
    }
    if (line == "Content-Transfer-Encoding: quoted-printable") quoted_printable = true;
  }
  if (!quoted_printable) return;
  while (!body.empty()) {
    std::size_t end = body.find(line_ending);
    FUZZ_CHECK(end != std::string_view::npos);  // the body ends with a line ending
    FUZZ_CHECK(end <= 76);
    body.remove_prefix(end + line_ending.size());
  }
}

// Values the checks before the engine keep short (io/request_checks.hpp, config/) are cut to
// their limits, as nothing longer reaches the builder: addresses (kEmailAddressBytesMax),
// contact keys (kContactKeyBytesMax), ids (kIdBytesMax), the Message-IDs makeMessageId makes,
// and a List-Unsubscribe value to what fits one line (kUnsubscribeUrlBytesMax is chosen so
// that the longest link does). Names, subjects and bodies stay as long as the input makes them.
void cutToLimits(std::vector<std::string>& parts) {
  auto cut = [&](Part part, std::size_t bytes_max) {
    if (parts[part].size() > bytes_max) parts[part].resize(bytes_max);
  };
  cut(kFromAddress, kEmailAddressBytesMax);
  cut(kToAddress, kEmailAddressBytesMax);
  cut(kContactKey, kContactKeyBytesMax);
  cut(kSequenceId, kIdBytesMax);
  cut(kStepId, kIdBytesMax);
  cut(kInReplyTo, 2 * kMessageIdPartBytesMax + kEmailAddressBytesMax + 24);
  cut(kReferences, 2 * kMessageIdPartBytesMax + kEmailAddressBytesMax + 24);
  cut(kListUnsubscribe, 998 - std::string_view("List-Unsubscribe: ").size());
}

void buildFromParts(const std::vector<std::string>& parts, unsigned flags) {
  MessageParts message;
  message.from_name = parts[kFromName];
  message.from_address = parts[kFromAddress];
  message.to_name = parts[kToName];
  message.to_address = parts[kToAddress];
  message.subject = parts[kSubject];
  message.body = parts[kBody];
  message.date_ms = static_cast<TimeMs>(fnv1a64(parts[kBody]) % kTimeMsMax);
  message.in_reply_to = parts[kInReplyTo];
  message.references = parts[kReferences];
  message.list_unsubscribe = parts[kListUnsubscribe];
  message.list_unsubscribe_one_click = (flags & 2) != 0;
  message.sequence_id = parts[kSequenceId];
  message.step_id = parts[kStepId];
  message.contact_key = parts[kContactKey];
  const std::string_view line_ending = (flags & 1) != 0 ? "\r\n" : "\n";
  checkMessage(buildMessage(message, line_ending), line_ending);
}

void renderFromTemplates(const std::vector<std::string>& parts, unsigned flags) {
  Sequence sequence;
  sequence.id = "s";
  Step first;
  first.id = "intro";
  first.subject = parts[kSubject];
  first.body = parts[kBody];
  Step second = first;
  second.id = "bump";
  second.thread_previous = (flags & 4) != 0;
  sequence.steps = {first, second};
  Mailbox mailbox;
  mailbox.address = parts[kFromAddress];
  mailbox.name = parts[kFromName];
  UnsubscribeLinks links;
  if ((flags & 2) != 0) links = {"https://acme.test/u/{token}", "0123456789abcdef0123456789abcdef"};
  Contact fields;
  fields.key = parts[kContactKey];
  fields.email = parts[kToAddress];
  fields.first_name = parts[kToName];
  fields.last_name = parts[kReferences];
  const ContactRef contact = PackedContact::pack(fields);

  DeliveryIntent intent;
  intent.render = compileRenderSettings({{"s", sequence}}, {mailbox}, links);
  intent.sequence = intent.render->findSequence("s");
  intent.sender = intent.render->findSender(mailbox.address);
  FUZZ_CHECK(intent.sequence != nullptr && intent.sender != nullptr);
  intent.contact = contact;
  intent.step_index = 1;
  intent.fired_at_ms = static_cast<TimeMs>(fnv1a64(parts[kSubject]) % kTimeMsMax);
  FUZZ_CHECK(intent.messageId() == makeMessageId("s", "bump", contact->key(), mailbox.address));
  const RenderStep& step = intent.sequence->steps[1];
  if (!checkStepText(step, -1, *contact).empty()) return;
  MessageRenderer renderer;
  const std::string rendered(renderer.render(intent, intent.messageId()));
  checkMessage(rendered, "\n");
  FUZZ_CHECK(rendered == renderMessage(intent, "\n"));
  checkMessage(renderMessage(intent, "\r\n"), "\r\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = fuzz::asText(data, size);
  const unsigned flags = static_cast<unsigned>(fuzz::takeChoice(input, 8));
  std::vector<std::string> parts = fuzz::splitInput(input, kPartCount);
  cutToLimits(parts);
  buildFromParts(parts, flags);
  renderFromTemplates(parts, flags);
  return 0;
}
