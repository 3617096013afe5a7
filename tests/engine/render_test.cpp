// Proves that rendering in the delivery workers (engine/render.hpp) gives the very bytes the
// engine thread used to render, and the same not_sent reasons; that an email is rendered
// from the contact as it was when its step fired, whatever edits follow; and that intents
// still out stay valid across a reload.
//
// The engine-thread rendering as it was before it moved to the workers is kept here, as the
// reference: oldMessage() below is that code, on top of renderTemplate() and buildMessage().
#include "engine/render.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "engine/delivery.hpp"
#include "engine/engine.hpp"
#include "engine/message.hpp"
#include "engine/template.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kAdmin{"root", true};

// --- the reference: the engine thread's rendering before it moved ---

const Variant* oldPickVariant(const Step& step, const std::string& contact_key) {
  if (step.variants.empty()) return nullptr;
  int total = 0;
  for (const Variant& variant : step.variants) total += variant.weight;
  if (total <= 0) return nullptr;
  std::uint64_t hash = fnv1a64(step.id, fnv1a64(contact_key));
  int point = static_cast<int>(hash % static_cast<std::uint64_t>(total));
  for (const Variant& variant : step.variants) {
    if (point < variant.weight) return &variant;
    point -= variant.weight;
  }
  return &step.variants.back();
}

bool oldRenderStepText(const Step& step, const Contact& contact, std::string& subject,
                       std::string& body, std::string& not_sent_reason) {
  const Variant* variant = oldPickVariant(step, contact.key);
  const std::string& subject_text =
      variant != nullptr && !variant->subject.empty() ? variant->subject : step.subject;
  const std::string& body_text =
      variant != nullptr && !variant->body.empty() ? variant->body : step.body;
  FieldLookup lookup = [&contact](std::string_view name) { return contact.field(name); };
  for (auto [text, out] : {std::pair{&subject_text, &subject}, std::pair{&body_text, &body}}) {
    RenderResult rendered = renderTemplate(*text, lookup);
    if (!rendered.ok) {
      not_sent_reason = rendered.missing_variable.empty()
                            ? "template_error:" + rendered.error
                            : "missing_variable:" + rendered.missing_variable;
      return false;
    }
    *out = std::move(rendered.text);
  }
  return true;
}

// The message of (sequence, step, contact) sent from mailbox at at_ms, or nullopt with the
// reason it is not sent.
std::optional<std::string> oldMessage(const EngineSettings& settings, const Sequence& sequence,
                                      const Step& step, const Contact& contact,
                                      const Mailbox& mailbox, TimeMs at_ms,
                                      std::string_view line_ending, std::string& reason) {
  MessageParts parts;
  if (!oldRenderStepText(step, contact, parts.subject, parts.body, reason)) return std::nullopt;
  if (step.thread_previous) {
    const Step* previous = nullptr;
    for (const Step& candidate : sequence.steps) {
      if (&candidate == &step) break;
      if (candidate.type == StepType::kAutoEmail) previous = &candidate;
    }
    if (previous != nullptr) {
      parts.in_reply_to = makeMessageId(sequence.id, previous->id, contact.key, mailbox.address);
      parts.references = parts.in_reply_to;
      std::string previous_subject, previous_body, ignored;
      if (parts.subject.empty() &&
          oldRenderStepText(*previous, contact, previous_subject, previous_body, ignored)) {
        parts.subject = "Re: " + previous_subject;
      }
    }
  }
  parts.from_name = mailbox.name;
  parts.from_address = mailbox.address;
  if (!contact.first_name.empty()) {
    parts.to_name = contact.first_name;
    if (!contact.last_name.empty()) parts.to_name += " " + contact.last_name;
  }
  parts.to_address = contact.email;
  parts.date_ms = at_ms;
  parts.message_id = makeMessageId(sequence.id, step.id, contact.key, mailbox.address);
  const UnsubscribeLinks& links = settings.unsubscribe;
  std::string mailto = "<mailto:" + mailbox.address + "?subject=unsubscribe>";
  parts.list_unsubscribe_one_click = !links.url_template.empty() && !links.secret.empty();
  parts.list_unsubscribe = mailto;
  if (parts.list_unsubscribe_one_click) {
    std::string token = makeUnsubscribeToken(links.secret, contact.key, sequence.id);
    parts.list_unsubscribe = "<" + unsubscribeUrl(links.url_template, token) + ">, " + mailto;
  }
  parts.sequence_id = sequence.id;
  parts.step_id = step.id;
  if (const Variant* variant = oldPickVariant(step, contact.key)) parts.variant_id = variant->id;
  parts.contact_key = contact.key;
  return buildMessage(parts, line_ending);
}

// --- random sequences and contacts ---

std::string pick(std::mt19937_64& random, const std::vector<std::string>& choices) {
  return choices[random() % choices.size()];
}

// Text pieces that exercise every path of the renderer: plain words, '=', UTF-8, control
// bytes, CR/LF of every kind, a line over 998 bytes, header-like text, encoded-word openers.
std::string randomLiteral(std::mt19937_64& random) {
  static const std::vector<std::string> kLiterals = {"Hi ",
                                                     " there",
                                                     ", ",
                                                     "Quick question",
                                                     "\n",
                                                     "\r\n",
                                                     "\r",
                                                     "a=b ",
                                                     "Grüße ",
                                                     "— ",
                                                     "✓",
                                                     "\t",
                                                     "  ",
                                                     "=?UTF-8?",
                                                     "}} ",
                                                     "{ x }",
                                                     "Bcc: x\n",
                                                     "\x01",
                                                     "\x7f",
                                                     "teams like yours. ",
                                                     "(paren) ",
                                                     "\"quoted\"",
                                                     "trailing ",
                                                     std::string(1000, 'x'),
                                                     std::string(80, 'y')};
  return pick(random, kLiterals);
}

std::string randomTag(std::mt19937_64& random) {
  static const std::vector<std::string> kNames = {
      "first_name", "last_name", "company", "title", "email", "score",         "dnc",     "id",
      "key",        "city",      "stage",   "phone", "owner", "email_opt_out", "nickname"};
  static const std::vector<std::string> kFallbacks = {"there", "", " a friend ", "München"};
  std::string name = pick(random, kNames);
  if (random() % 4 == 0) name = " " + name + "\t";
  switch (random() % 3) {
    case 0:
      return "{{" + name + "}}";
    case 1:
      return "{{" + name + "|" + pick(random, kFallbacks) + "}}";
    default:
      return "{{ " + name + " | " + pick(random, kFallbacks) + " }}";
  }
}

std::string randomTemplate(std::mt19937_64& random, std::size_t pieces_max) {
  std::string text;
  const std::size_t pieces = random() % (pieces_max + 1);
  for (std::size_t i = 0; i < pieces; ++i) {
    text += random() % 3 == 0 ? randomTag(random) : randomLiteral(random);
  }
  if (random() % 40 == 0) text += "{{unclosed";  // a syntax error: template_error
  return text;
}

std::string randomValue(std::mt19937_64& random) {
  static const std::vector<std::string> kValues = {
      "",         "",           "Ada",           "Zoë",
      "O'Brien",  "Acme, Inc.", "Line\nbreak",   "José",
      "=?x?=",    "Bob",        "a\r\nBcc: e@x", "张伟",
      "Lovelace", "  padded  ", "x\x01",         "very-long-" + std::string(70, 'n')};
  return pick(random, kValues);
}

ContactRow randomContact(std::mt19937_64& random, std::size_t index) {
  ContactRow row;
  row.fields["email"] = random() % 20 == 0 ? std::string()
                                           : "p" + std::to_string(index) + "@ex" +
                                                 std::to_string(random() % 3) + ".test";
  row.fields["id"] = "c" + std::to_string(index);
  for (const char* field : {"first_name", "last_name", "company", "title", "city", "nickname"}) {
    if (random() % 3 != 0) row.fields[field] = randomValue(random);
  }
  row.fields["score"] = std::to_string(random() % 101);
  return row;
}

EngineSettings randomSettings(std::mt19937_64& random) {
  EngineSettings settings;
  static const std::vector<std::string> kNames = {"Alice", "Bob \"The Closer\"", "Zoë Åberg", "",
                                                  "Sales, Team"};
  for (int i = 0; i < 3; ++i) {
    Mailbox mailbox;
    mailbox.address = "m" + std::to_string(i) + "@acme" + std::to_string(i) + ".test";
    mailbox.name = pick(random, kNames);
    mailbox.daily_limit = 1000000;
    mailbox.hourly_limit = 1000000;
    mailbox.transport = i == 2 ? Transport::kSmtp : Transport::kMaildir;
    settings.mailboxes.push_back(mailbox);
  }
  Sequence sequence;
  sequence.id = random() % 2 ? "seq" : "séquence-with-a-long-id-" + std::string(60, 's');
  sequence.owner = "root";
  for (const Mailbox& mailbox : settings.mailboxes) sequence.mailboxes.push_back(mailbox.address);
  const int steps = 2 + static_cast<int>(random() % 3);
  for (int i = 0; i < steps; ++i) {
    Step step;
    step.id = "s" + std::to_string(i);
    step.wait_ms = i == 0 ? 0 : kHourMs;
    // A task between emails: a threaded email replies to the email before it, not to it.
    step.type = i > 0 && random() % 5 == 0 ? StepType::kTask : StepType::kAutoEmail;
    step.subject = random() % 4 == 0 ? std::string() : randomTemplate(random, 4);
    step.body = randomTemplate(random, 8);
    step.thread_previous = i > 0 && random() % 2 == 0;
    const int variants = random() % 3 == 0 ? static_cast<int>(random() % 3) : 0;
    for (int v = 0; v < variants; ++v) {
      Variant variant;
      variant.id = "v" + std::to_string(v);
      variant.weight = static_cast<int>(random() % 4);
      if (random() % 2) variant.subject = randomTemplate(random, 3);
      if (random() % 2) variant.body = randomTemplate(random, 5);
      step.variants.push_back(variant);
    }
    sequence.steps.push_back(step);
  }
  settings.sequences[sequence.id] = sequence;
  if (random() % 2) {
    settings.unsubscribe.url_template = "https://acme.test/u/{token}";
    settings.unsubscribe.secret = "0123456789abcdef0123456789abcdef";
  }
  return settings;
}

const Mailbox& mailboxOf(const EngineSettings& settings, const std::string& address) {
  for (const Mailbox& mailbox : settings.mailboxes) {
    if (mailbox.address == address) return mailbox;
  }
  FAIL("unknown mailbox " << address);
  return settings.mailboxes.front();
}

EngineSettings fixedSettings() {
  EngineSettings settings;
  Mailbox mailbox;
  mailbox.address = "alice@acme.test";
  mailbox.name = "Alice";
  mailbox.daily_limit = 1000000;
  mailbox.hourly_limit = 1000000;
  settings.mailboxes = {mailbox};
  Sequence sequence;
  sequence.id = "two";
  sequence.owner = "root";
  sequence.mailboxes = {mailbox.address};
  Step hello;
  hello.id = "hello";
  hello.subject = "Hello {{first_name}}";
  hello.body = "Hi {{first_name|there}} at {{company}}";
  Step again;
  again.id = "again";
  again.wait_ms = kDayMs;
  again.subject = "Again {{first_name}}";
  again.body = "Still {{company}}?";
  sequence.steps = {hello, again};
  settings.sequences[sequence.id] = sequence;
  return settings;
}

ContactRow row(const std::string& email, const std::string& first_name,
               const std::string& company = "Acme") {
  ContactRow contact_row;
  contact_row.fields = {{"email", email}, {"first_name", first_name}, {"company", company}};
  return contact_row;
}

// Fires the one contact's first step of fixedSettings()-like settings at kStart.
std::unique_ptr<Engine> firedEngine(const EngineSettings& settings, const ContactRow& contact) {
  auto engine = std::make_unique<Engine>(settings, kStart);
  ImportResult imported = engine->upsertContacts({contact});
  REQUIRE(imported.errors.empty());
  const std::string sequence_id = settings.sequences.begin()->first;
  REQUIRE(engine->activate(sequence_id, kAdmin, kStart).isOk());
  REQUIRE(engine->add(sequence_id, imported.keys, {}, kAdmin, kStart).isOk());
  engine->advanceTo(kStart);
  return engine;
}

std::string notSentReason(const Engine& engine, const std::string& sequence_id,
                          const std::string& key) {
  const Enrollment* enrollment = engine.findEnrollment(sequence_id, key);
  REQUIRE(enrollment != nullptr);
  return enrollment->status == EnrollmentStatus::kNotSent ? enrollment->not_sent_reason : "";
}

}  // namespace

TEST_CASE("compiled templates decide and render exactly as renderTemplate, on random input") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (int round = 0; round < 3000; ++round) {
    CAPTURE(seed);
    CAPTURE(round);
    const std::string text = randomTemplate(random, 8);
    ContactRow contact_row = randomContact(random, static_cast<std::size_t>(round));
    Contact contact;
    for (const auto& [name, value] : contact_row.fields) {
      if (name != "id") REQUIRE(contact.setField(name, value).isOk());
    }
    contact.key = contact_row.fields["id"];
    contact.dnc = random() % 2 == 0;
    CAPTURE(text);
    RenderResult expected =
        renderTemplate(text, [&](std::string_view name) { return contact.field(name); });
    CompiledTemplate compiled(text);
    const ContactRef packed = PackedContact::pack(contact);
    const std::string problem = compiled.problem(*packed);
    if (!expected.ok) {
      CHECK(problem == (expected.missing_variable.empty()
                            ? "template_error:" + expected.error
                            : "missing_variable:" + expected.missing_variable));
      continue;
    }
    REQUIRE(problem.empty());
    std::string rendered;
    compiled.renderTo(*packed, rendered);
    CHECK(rendered == expected.text);
  }
}

TEST_CASE("the worker renders byte for byte what the engine thread rendered, same reasons") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  std::size_t compared = 0;
  std::size_t not_sent = 0;
  for (int round = 0; round < 40; ++round) {
    CAPTURE(seed);
    CAPTURE(round);
    const EngineSettings settings = randomSettings(random);
    const Sequence& sequence = settings.sequences.begin()->second;
    Engine engine(settings, kStart);
    std::vector<ContactRow> rows;
    for (std::size_t i = 0; i < 25; ++i) rows.push_back(randomContact(random, i));
    ImportResult imported = engine.upsertContacts(rows);
    REQUIRE(imported.errors.empty());
    REQUIRE(engine.activate(sequence.id, kAdmin, kStart).isOk());
    AddOptions force;
    force.force = true;  // no_email is only a warning at add; the step then goes not_sent
    REQUIRE(engine.add(sequence.id, imported.keys, force, kAdmin, kStart).isOk());
    for (TimeMs now = kStart; now <= kStart + 6 * kHourMs; now += kHourMs) {
      engine.advanceTo(now);
      for (const DeliveryIntent& intent : engine.takeIntents()) {
        const PackedContact* stored = engine.findContact(std::string(intent.contact->key()));
        REQUIRE(stored != nullptr);
        const Contact unpacked = stored->unpack();
        const Contact* contact = &unpacked;
        const Step& step = sequence.steps.at(intent.step_index);
        const Mailbox& mailbox = mailboxOf(settings, intent.mailbox());
        for (std::string_view line_ending : {std::string_view("\n"), std::string_view("\r\n")}) {
          std::string reason;
          std::optional<std::string> expected =
              oldMessage(settings, sequence, step, *contact, mailbox, now, line_ending, reason);
          REQUIRE_MESSAGE(expected.has_value(), reason);
          const std::string rendered = renderMessage(intent, line_ending);
          CHECK(rendered == *expected);
          ++compared;
        }
        CHECK(intent.recipient() == contact->email);
        CHECK(intent.messageId() ==
              makeMessageId(sequence.id, step.id, contact->key, mailbox.address));
        engine.onDeliveryResult(
            {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
            now);
      }
      for (const TaskRow& task : engine.tasks({})) {
        if (task.state == "open") REQUIRE(engine.finishTask(task.id, false, kAdmin, now).isOk());
      }
    }
    // Every not_sent because of its text has the reason the old rendering gives.
    for (const std::string& key : imported.keys) {
      const Enrollment* enrollment = engine.findEnrollment(sequence.id, key);
      REQUIRE(enrollment != nullptr);
      if (enrollment->status != EnrollmentStatus::kNotSent ||
          enrollment->not_sent_reason == "no_email") {
        continue;
      }
      CAPTURE(key);
      const Step& step = sequence.steps.at(enrollment->step_index);
      std::string reason;
      std::optional<std::string> expected =
          oldMessage(settings, sequence, step, engine.findContact(key)->unpack(),
                     settings.mailboxes[0], kStart, "\n", reason);
      CHECK_FALSE(expected.has_value());
      CHECK(enrollment->not_sent_reason == reason);
      ++not_sent;
    }
  }
  MESSAGE(compared << " messages compared, " << not_sent << " not_sent reasons");
  CHECK(compared > 100);
  CHECK(not_sent > 10);
}

TEST_CASE("a contact edited after its step fired gets the email of the contact as it fired") {
  for (bool released_first : {false, true}) {
    CAPTURE(released_first);
    EngineSettings settings = fixedSettings();
    std::unique_ptr<Engine> fired = firedEngine(settings, row("a@x.test", "Ada", "Acme"));
    Engine& engine = *fired;
    REQUIRE(engine.queuedIntents() == 1);
    std::vector<DeliveryIntent> intents;
    if (released_first) intents = engine.takeIntents();
    ContactRow edit;
    edit.fields = {{"first_name", ""}, {"company", "Other"}, {"email", "new@x.test"}};
    REQUIRE(engine.setContactFields("a@x.test", edit).isOk());
    if (!released_first) intents = engine.takeIntents();
    REQUIRE(intents.size() == 1);
    const std::string message = renderMessage(intents[0], "\n");
    CHECK(message.find("To: Ada <a@x.test>\n") != std::string::npos);
    CHECK(message.find("Subject: Hello Ada\n") != std::string::npos);
    CHECK(message.find("Hi Ada at Acme\n") != std::string::npos);
    CHECK(intents[0].recipient() == "a@x.test");
    // The engine sees the edit: the contact's next email would miss first_name.
    CHECK(engine.findContact("a@x.test")->firstName().empty());
    CHECK(intents[0].contact->firstName() == "Ada");
  }
}

TEST_CASE("missing-variable and template-error reasons are those of a full render") {
  struct Case {
    std::string subject;
    std::string body;
    std::string variant_subject;  // "" : the variant keeps the step's
    std::string variant_body;
    std::string expected;
  };
  const std::string big(300 * 1024, 'b');
  const std::vector<Case> cases = {
      // subject before body, and the first missing one in each
      {"Hi {{nickname}} {{city}}", "{{company_size}}", "", "", "missing_variable:nickname"},
      {"Hi {{first_name}}", "{{ company_size }} {{nickname}}", "", "",
       "missing_variable:company_size"},
      // a fallback, even an empty one, is never missing
      {"Hi {{nickname|}}", "{{city|there}}", "", "", ""},
      // the variant's text when it overrides the step's
      {"Hi {{first_name}}", "ok", "{{nickname}}", "", "missing_variable:nickname"},
      {"Hi {{nickname}}", "ok", "Hi {{first_name}}", "{{city}}", "missing_variable:city"},
      // syntax, and a rendered text over the limit (first piece by piece, as rendered)
      {"Hi {{first_name", "ok", "", "", "template_error:template: unclosed '{{' at offset 3"},
      {"{{big}}{{big}}{{big}}{{big}}{{nickname}}", "ok", "", "",
       "template_error:template: rendered text is longer than 1048576 bytes"},
      {"{{big}}{{nickname}}{{big}}{{big}}{{big}}", "ok", "", "", "missing_variable:nickname"},
  };
  for (const Case& test : cases) {
    CAPTURE(test.subject);
    CAPTURE(test.body);
    EngineSettings settings = fixedSettings();
    Step& step = settings.sequences["two"].steps[0];
    step.subject = test.subject;
    step.body = test.body;
    if (!test.variant_subject.empty() || !test.variant_body.empty()) {
      step.variants = {Variant{"only", 1, test.variant_subject, test.variant_body}};
    }
    ContactRow contact = row("a@x.test", "Ada");
    contact.fields["big"] = big;
    std::unique_ptr<Engine> fired = firedEngine(settings, contact);
    Engine& engine = *fired;
    CHECK(notSentReason(engine, "two", "a@x.test") == test.expected);
    // The reference: the text rendered in full, as the engine thread did.
    const Contact stored = engine.findContact("a@x.test")->unpack();
    std::string reason;
    std::optional<std::string> old = oldMessage(settings, settings.sequences["two"], step, stored,
                                                settings.mailboxes[0], kStart, "\n", reason);
    CHECK(old.has_value() == test.expected.empty());
    CHECK(reason == test.expected);
    CHECK(engine.queuedIntents() == (test.expected.empty() ? 1u : 0u));
  }
}

TEST_CASE("an email of a step with variants names its variant in X-Seqd-Variant; others do not") {
  EngineSettings settings = fixedSettings();
  settings.sequences["two"].steps[0].variants = {Variant{"a", 50, "", ""},
                                                 Variant{"b", 50, "B {{first_name}}", ""}};
  auto owned = std::make_unique<Engine>(settings, kStart);
  Engine& engine = *owned;
  ImportResult imported =
      engine.upsertContacts({row("a@x.test", "Ada"), row("b@x.test", "Bea"), row("c@x.test", "Cy"),
                             row("d@x.test", "Di"), row("e@x.test", "Ed"), row("f@x.test", "Flo")});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  REQUIRE(intents.size() == 6);
  std::set<std::string> seen;
  for (const DeliveryIntent& intent : intents) {
    REQUIRE(intent.variant >= 0);
    const std::string id = intent.variant == 0 ? "a" : "b";
    seen.insert(id);
    const std::string message = renderMessage(intent, "\n");
    CHECK(message.find("\nX-Seqd-Variant: " + id + "\n") != std::string::npos);
    CHECK((message.find("Subject: B ") != std::string::npos) == (id == "b"));
  }
  CHECK(seen.size() == 2);  // both variants drawn among six contacts

  EngineSettings plain = fixedSettings();
  auto other = std::make_unique<Engine>(plain, kStart);
  imported = other->upsertContacts({row("a@x.test", "Ada")});
  REQUIRE(other->activate("two", kAdmin, kStart).isOk());
  REQUIRE(other->add("two", imported.keys, {}, kAdmin, kStart).isOk());
  other->advanceTo(kStart);
  intents = other->takeIntents();
  REQUIRE(intents.size() == 1);
  CHECK(intents[0].variant == -1);
  CHECK(renderMessage(intents[0], "\n").find("X-Seqd-Variant") == std::string::npos);
}

TEST_CASE("a reload while intents are out keeps them valid and rendered as they were decided") {
  EngineSettings settings = fixedSettings();
  settings.sequences["two"].steps[0].variants = {Variant{"b", 1, "Variant {{first_name}}", ""}};
  auto owned = std::make_unique<Engine>(settings, kStart);
  Engine& engine = *owned;
  ImportResult imported = engine.upsertContacts(
      {row("a@x.test", "Ada"), row("b@x.test", "Bea"), row("c@x.test", "Cy")});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  DeliverySlots one;
  one.idempotent = 1;
  std::vector<DeliveryIntent> released = engine.takeIntents(one);  // one out, two queued
  REQUIRE(released.size() == 1);
  const std::string before = renderMessage(released[0], "\n");
  CHECK(before.find("Subject: Variant ") != std::string::npos);

  // Every text, the mailbox's name and the step's variants change; the old objects are freed
  // unless the intents keep them (an ASan build reports a use after free otherwise).
  EngineSettings edited = fixedSettings();
  edited.mailboxes[0].name = "Someone Else";
  edited.sequences["two"].steps[0].subject = "Edited {{first_name}}";
  edited.sequences["two"].steps[0].body = "Edited body";
  engine.reconfigure(edited, kStart + kMinuteMs);
  EngineSettings emptied;
  emptied.mailboxes = edited.mailboxes;
  engine.reconfigure(emptied, kStart + 2 * kMinuteMs);  // the sequence itself is gone now
  CHECK(renderMessage(released[0], "\n") == before);
  std::vector<DeliveryIntent> queued = engine.takeIntents();
  REQUIRE(queued.size() == 2);
  for (const DeliveryIntent& intent : queued) {
    CAPTURE(intent.recipient());
    const std::string message = renderMessage(intent, "\n");
    CHECK(message.find("From: Alice <alice@acme.test>\n") == 0);
    CHECK(message.find("Subject: Variant ") != std::string::npos);
    CHECK(message.find("Edited") == std::string::npos);
  }
  // The message is a function of what the intent holds: the same again, from copies that
  // outlive the engine.
  std::vector<DeliveryIntent> copies = queued;
  const std::string first = renderMessage(copies[0], "\n");
  released.clear();
  queued.clear();
  owned.reset();
  CHECK(renderMessage(copies[0], "\n") == first);
}

TEST_CASE("one renderer reuses its buffers and its Date line: same bytes as a fresh one") {
  EngineSettings settings = fixedSettings();
  Engine engine(settings, kStart);
  std::vector<ContactRow> rows;
  for (int i = 0; i < 20; ++i) {
    rows.push_back(row("p" + std::to_string(i) + "@x.test", i % 3 ? "P" + std::to_string(i) : "",
                       i % 4 ? "Acme" : "Grüße GmbH"));
  }
  ImportResult imported = engine.upsertContacts(rows);
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  AddOptions force;
  force.force = true;
  REQUIRE(engine.add("two", imported.keys, force, kAdmin, kStart).isOk());
  MessageRenderer renderer;
  std::size_t rendered = 0;
  // Rounds 400 ms apart: several in one second share a Date line, then it changes.
  for (TimeMs now = kStart; now <= kStart + 3000; now += 400) {
    engine.advanceTo(now);
    for (const DeliveryIntent& intent : engine.takeIntents()) {
      CHECK(std::string(renderer.render(intent, intent.messageId())) ==
            renderMessage(intent, "\n"));
      CHECK(renderMessage(intent, "\n").find("Date: " + formatRfc5322Date(now) + "\n") !=
            std::string::npos);
      ++rendered;
    }
    ContactRow late = row("late" + std::to_string(now) + "@x.test", "L");
    ImportResult added = engine.upsertContacts({late});
    REQUIRE(engine.add("two", added.keys, force, kAdmin, now).isOk());
  }
  CHECK(rendered > 15);
}
