// Proves applyInbound() (engine/inbound.cpp): a reply, auto-reply, bounce or unsubscribe from
// a mailbox's inbox finds its contact by the Message-ID of the email it answers (or by the
// sender's address), applies the event SPEC §3 rule 7 gives, and never applies the same
// message twice, not even after a restart rebuilt from what was committed.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "engine/fixtures.hpp"
#include "engine/message.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

EngineSettings twoSequences() {
  EngineSettings settings;
  for (const char* id : {"s", "t"}) {
    const std::string address = std::string(id) + "@acme.test";
    Sequence sequence = sequenceOf(id, "alice", {address});
    sequence.rules.finish_on = {"reply", "unsubscribe"};
    sequence.steps = {emailStep("one", "Hello", "Hi"), emailStep("two", "Hello", "Hi", kDayMs)};
    settings.sequences[id] = sequence;
    const Mailbox defaults;  // the default send limits
    settings.mailboxes.push_back(
        mailboxOf(address, "Sender", defaults.daily_limit, defaults.hourly_limit));
  }
  return settings;
}

EngineSettings keepingInbound(DurationMs inbound_keep_ms) {
  EngineSettings settings = twoSequences();
  settings.inbound_keep_ms = inbound_keep_ms;
  return settings;
}

struct Fixture {
  FakeStore store;
  std::unique_ptr<Engine> engine;
  std::vector<DeliveryIntent> sent;

  explicit Fixture(DurationMs inbound_keep_ms = EngineSettings().inbound_keep_ms)
      : engine(std::make_unique<Engine>(keepingInbound(inbound_keep_ms), kStart)) {
    ContactRow ann, bob;
    ann.fields = {{"email", "Ann@Example.test"}, {"timezone", "Asia/Tokyo"}};
    bob.fields = {{"id", "bob-1"}, {"email", "bob@example.test"}};
    ImportResult imported = engine->upsertContacts({ann, bob});
    AddOptions in_both;  // the second add warns in_other_sequence
    in_both.force = true;
    for (const char* sequence : {"s", "t"}) {
      REQUIRE(engine->activate(sequence, kAdmin, kStart).isOk());
      REQUIRE(engine->add(sequence, imported.keys, in_both, kAdmin, kStart).isOk());
    }
    engine->advanceTo(kStart);
    sent = engine->takeIntents();
    commit();
    for (const DeliveryIntent& intent : sent) {
      engine->onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
          kStart);
    }
    commit();
    REQUIRE(sent.size() == 4);
  }

  void commit() { store.commit(engine->takeBatch()); }

  void restart() {
    engine = std::make_unique<Engine>(twoSequences(), kStart + kHourMs);
    REQUIRE(engine->restore(store.state, kStart + kHourMs).isOk());
    commit();
  }

  std::string sentId(const std::string& mailbox, const std::string& recipient) {
    for (const DeliveryIntent& intent : sent) {
      if (intent.mailbox() == mailbox && intent.recipient() == recipient) return intent.messageId();
    }
    FAIL("nothing sent from " << mailbox << " to " << recipient);
    return "";
  }

  EnrollmentStatus status(const std::string& sequence, const std::string& contact) {
    return engine->findEnrollment(sequence, contact)->status;
  }
};

}  // namespace

TEST_CASE("a reply naming a sent email finishes the contact in every sequence, once") {
  Fixture f;
  InboundMessage reply;
  reply.kind = InboundKind::kReply;
  reply.mailbox = "s@acme.test";
  reply.message_id = "<answer-1@example.test>";
  reply.from_address = "someone-else@example.test";  // the id decides, not the sender
  reply.referenced_ids = {"<unrelated@example.test>", f.sentId("s@acme.test", "bob@example.test")};
  Result<InboundResult> applied = f.engine->applyInbound(reply, kStart + kMinuteMs);
  REQUIRE(applied.isOk());
  CHECK(applied.value().contact == "bob-1");
  CHECK(applied.value().sequence == "s");
  CHECK(applied.value().action == "finished: replied");
  CHECK(f.status("s", "bob-1") == EnrollmentStatus::kFinished);
  CHECK(f.status("t", "bob-1") == EnrollmentStatus::kFinished);
  CHECK(f.status("s", "ann@example.test") == EnrollmentStatus::kScheduled);
  f.commit();
  CHECK(countProgress(f.store.state.progress, ProgressKind::kInbound) == 1);
  Result<std::string> why = f.engine->explain("s", "bob-1");
  REQUIRE(why.isOk());
  CHECK(why.value().find("message <answer-1@example.test> at 2026-12-01T14:01:00Z") !=
        std::string::npos);

  // The same message again (a second poll, or a crash before it was marked): nothing.
  Result<InboundResult> again = f.engine->applyInbound(reply, kStart + 2 * kMinuteMs);
  REQUIRE(again.isOk());
  CHECK(again.value().duplicate);
  f.restart();
  AddOptions force;
  force.force = true;
  REQUIRE(f.engine->add("s", {"bob-1"}, force, kAdmin, kStart + kHourMs).isOk());
  CHECK(f.status("s", "bob-1") == EnrollmentStatus::kScheduled);
  Result<InboundResult> after_restart = f.engine->applyInbound(reply, kStart + kHourMs);
  REQUIRE(after_restart.isOk());
  CHECK(after_restart.value().duplicate);
  CHECK(f.status("s", "bob-1") == EnrollmentStatus::kScheduled);
}

TEST_CASE("a reply without references is matched by its sender in that mailbox") {
  Fixture f;
  InboundMessage reply;
  reply.kind = InboundKind::kReply;
  reply.mailbox = "t@acme.test";
  reply.message_id = "<top-posted@example.test>";
  reply.from_address = "ANN@example.test";
  Result<InboundResult> applied = f.engine->applyInbound(reply, kStart + kMinuteMs);
  REQUIRE(applied.isOk());
  CHECK(applied.value().contact == "ann@example.test");
  CHECK(f.status("t", "ann@example.test") == EnrollmentStatus::kFinished);

  InboundMessage stranger = reply;
  stranger.message_id = "<stranger@example.test>";
  stranger.from_address = "nobody@example.test";
  Result<InboundResult> unknown = f.engine->applyInbound(stranger, kStart + kMinuteMs);
  REQUIRE(unknown.isOk());
  CHECK(unknown.value().contact.empty());
  CHECK(unknown.value().action == "no contact");
}

// The indexes by hash are built at the first inbound message and kept as contacts change
// after it: a contact imported since, or whose email was edited, is found by its new
// address and no longer by its old one, with no rebuild.
TEST_CASE("a sender is found by the email a contact has now, also after edits since the index") {
  Fixture f;
  int serial = 0;
  // The contact a reply to t@acme.test finds: from `from`, naming `answers` when not empty.
  const auto contactOf = [&](const std::string& from, const std::string& answers = "") {
    InboundMessage reply;
    reply.kind = InboundKind::kReply;
    reply.mailbox = "t@acme.test";
    reply.message_id = "<m" + std::to_string(++serial) + "@example.test>";
    reply.from_address = from;
    if (!answers.empty()) reply.referenced_ids = {answers};
    Result<InboundResult> applied = f.engine->applyInbound(reply, kStart + kMinuteMs);
    REQUIRE(applied.isOk());
    return applied.value().contact;
  };
  CHECK(contactOf("nobody@example.test").empty());  // the first message: the indexes are built

  ContactRow moved;
  moved.fields = {{"email", "Bob.New@Example.test"}};
  REQUIRE(f.engine->setContactFields("bob-1", moved).isOk());
  ContactRow cara;
  cara.fields = {{"email", "cara@example.test"}};
  f.engine->upsertContacts({cara});
  AddOptions force;
  force.force = true;
  REQUIRE(f.engine->add("t", {"cara@example.test"}, force, kAdmin, kStart + kMinuteMs).isOk());

  CHECK(contactOf("bob@example.test").empty());
  CHECK(f.status("t", "bob-1") == EnrollmentStatus::kScheduled);
  CHECK(contactOf("bob.new@example.test") == "bob-1");
  CHECK(f.status("t", "bob-1") == EnrollmentStatus::kFinished);
  // Cara, imported after the indexes were built: by the Message-ID of her first email (the
  // key's hash), and by her address.
  CHECK(contactOf("nobody@example.test", makeMessageId("t", "one", "cara@example.test",
                                                       "t@acme.test")) == "cara@example.test");
  CHECK(contactOf("Cara@example.test") == "cara@example.test");
}

TEST_CASE("an auto-reply pauses until the start of its return date in the contact's zone") {
  Fixture f;
  InboundMessage away;
  away.kind = InboundKind::kAutoReply;
  away.mailbox = "s@acme.test";
  away.message_id = "<away@example.test>";
  away.from_address = "ann@example.test";
  away.referenced_ids = {f.sentId("s@acme.test", "Ann@Example.test")};
  away.return_date = LocalDate{2026, 12, 9};
  Result<InboundResult> applied = f.engine->applyInbound(away, kStart + kMinuteMs);
  REQUIRE(applied.isOk());
  CHECK(applied.value().action == "paused: out of office until 2026-12-09");
  const Enrollment* enrollment = f.engine->findEnrollment("s", "ann@example.test");
  CHECK(enrollment->status == EnrollmentStatus::kPaused);
  CHECK(enrollment->paused_reason == PauseReason::kOoo);
  // Midnight 2026-12-09 in Tokyo (UTC+9) is 2026-12-08T15:00:00Z.
  CHECK(formatRfc3339(f.engine->resumeAt(*enrollment)) == "2026-12-08T15:00:00Z");
  Result<std::string> why = f.engine->explain("s", "ann@example.test");
  REQUIRE(why.isOk());
  CHECK(why.value().find("auto_reply: paused: out of office until 2026-12-09") !=
        std::string::npos);
}

TEST_CASE("a bounce marks only the sequence whose email bounced; unsubscribe opts out") {
  Fixture f;
  InboundMessage bounce;
  bounce.kind = InboundKind::kBounce;
  bounce.mailbox = "t@acme.test";
  bounce.message_id = "<dsn-1@mx.example.test>";
  bounce.from_address = "mailer-daemon@mx.example.test";
  bounce.referenced_ids = {f.sentId("t@acme.test", "bob@example.test")};
  Result<InboundResult> applied = f.engine->applyInbound(bounce, kStart + kMinuteMs);
  REQUIRE(applied.isOk());
  CHECK(f.status("t", "bob-1") == EnrollmentStatus::kBounced);
  CHECK(f.status("s", "bob-1") == EnrollmentStatus::kScheduled);

  InboundMessage unsubscribe;
  unsubscribe.kind = InboundKind::kUnsubscribe;
  unsubscribe.mailbox = "s@acme.test";
  unsubscribe.message_id = "<unsub@example.test>";
  unsubscribe.from_address = "ann@example.test";
  REQUIRE(f.engine->applyInbound(unsubscribe, kStart + kMinuteMs).isOk());
  CHECK(f.engine->findContact("ann@example.test")->emailOptOut());
  CHECK(f.status("s", "ann@example.test") == EnrollmentStatus::kFinished);
  CHECK(f.engine->findEnrollment("s", "ann@example.test")->finish_reason == "unsubscribed");
}

TEST_CASE("a bounce of an email whose step a reload removed marks that email's sequence") {
  Fixture f;
  const std::string bounced_id = f.sentId("t@acme.test", "bob@example.test");
  EngineSettings edited = twoSequences();
  edited.sequences["t"].steps.erase(edited.sequences["t"].steps.begin());  // "one" is gone
  Engine engine(edited, kStart + kHourMs);
  REQUIRE(engine.restore(f.store.state, kStart + kHourMs).isOk());
  InboundMessage bounce;
  bounce.kind = InboundKind::kBounce;
  bounce.mailbox = "t@acme.test";
  bounce.message_id = "<dsn-2@mx.example.test>";
  bounce.from_address = "mailer-daemon@mx.example.test";
  bounce.referenced_ids = {bounced_id};
  Result<InboundResult> applied = engine.applyInbound(bounce, kStart + kHourMs);
  REQUIRE(applied.isOk());
  CHECK(applied.value().sequence == "t");
  CHECK(engine.findEnrollment("t", "bob-1")->status == EnrollmentStatus::kBounced);
  CHECK(engine.findEnrollment("s", "bob-1")->status == EnrollmentStatus::kScheduled);
}

TEST_CASE("applied inbound messages are remembered while the store keeps them, then forgotten") {
  // Regression: every inbound message ever applied stayed in memory until a restart, though
  // the store forgets it after inbound_keep_ms (90 days).
  Fixture f(kDayMs);
  InboundMessage reply;
  reply.kind = InboundKind::kReply;
  reply.mailbox = "s@acme.test";
  reply.referenced_ids = {f.sentId("s@acme.test", "bob@example.test")};
  const int hours = 72;  // one a hour for three days
  std::size_t most = 0;
  for (int i = 0; i < hours; ++i) {
    reply.message_id = "<answer-" + std::to_string(i) + "@example.test>";
    Result<InboundResult> applied = f.engine->applyInbound(reply, kStart + i * kHourMs);
    REQUIRE(applied.isOk());
    REQUIRE_FALSE(applied.value().duplicate);
    most = std::max(most, f.engine->inboundRemembered());
  }
  CHECK(most == 25);  // the day's (24 h back, the edge included) and the one just applied
  // Inside the day: still applied before. Older: forgotten, as the store forgets it.
  reply.message_id = "<answer-" + std::to_string(hours - 24) + "@example.test>";
  CHECK(f.engine->applyInbound(reply, kStart + hours * kHourMs).value().duplicate);
  reply.message_id = "<answer-0@example.test>";
  CHECK_FALSE(f.engine->applyInbound(reply, kStart + hours * kHourMs).value().duplicate);
}

TEST_CASE("an email's exact step wins over an earlier enrollment whose sequence part matches") {
  // "x y" and "x-y" give their Message-IDs the same first part, "x-y": the contact's
  // enrollment in "x y" (made first) matches that part only, the one in "x-y" its step too.
  EngineSettings settings;
  const std::vector<std::pair<std::string, std::string>> sequences = {{"x y", "one"},
                                                                      {"x-y", "two"}};
  for (const auto& [id, step] : sequences) {
    const std::string address = (id == "x y" ? "a" : "b") + std::string("@acme.test");
    Sequence sequence = sequenceOf(id, "alice", {address});
    sequence.steps = {emailStep(step, "Hello", "Hi")};
    settings.sequences[id] = sequence;
    settings.mailboxes.push_back(mailboxOf(address, "Sender", 100, 100));
  }
  Engine engine(settings, kStart);
  ContactRow ann;
  ann.fields = {{"email", "ann@example.test"}};
  ImportResult imported = engine.upsertContacts({ann});
  AddOptions in_both;
  in_both.force = true;
  for (const auto& [id, step] : sequences) {
    REQUIRE(engine.activate(id, kAdmin, kStart).isOk());
    REQUIRE(engine.add(id, imported.keys, in_both, kAdmin, kStart).isOk());
  }
  engine.advanceTo(kStart);
  std::string bounced_id;
  for (const DeliveryIntent& intent : engine.takeIntents()) {
    if (intent.mailbox() == "b@acme.test") bounced_id = intent.messageId();
  }
  REQUIRE(bounced_id.starts_with("<x-y.two."));
  InboundMessage bounce;
  bounce.kind = InboundKind::kBounce;
  bounce.mailbox = "b@acme.test";
  bounce.message_id = "<dsn-3@mx.example.test>";
  bounce.from_address = "mailer-daemon@mx.example.test";
  bounce.referenced_ids = {bounced_id};
  Result<InboundResult> applied = engine.applyInbound(bounce, kStart + kMinuteMs);
  REQUIRE(applied.isOk());
  CHECK(applied.value().sequence == "x-y");
  CHECK(engine.findEnrollment("x-y", "ann@example.test")->status == EnrollmentStatus::kBounced);
  CHECK(engine.findEnrollment("x y", "ann@example.test")->status != EnrollmentStatus::kBounced);
}
