// Proves the engine moves enrollments through auto_email steps in due order, highest score
// first, never runs a step twice across a restart rebuilt from its own write batches, and
// refuses to send broken or blocked emails.
#include "engine/engine.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

#include "engine/fake_store.hpp"

using namespace seqd;
using seqd::testing::FakeStore;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z

Sequence twoEmails() {
  Sequence sequence;
  sequence.id = "two";
  sequence.name = "Two emails";
  sequence.owner = "alice";
  sequence.schedule = "business-hours";
  sequence.mailboxes = {"alice@acme.test"};
  sequence.rules.block_stages = {"disqualified"};
  Step hello;
  hello.id = "hello";
  hello.subject = "Hello {{first_name}}";
  hello.body = "Hi {{first_name|there}}";
  Step again;
  again.id = "again";
  again.wait_ms = kDayMs;
  again.subject = "Again {{first_name}}";
  again.body = "Still {{company}}?";
  sequence.steps = {hello, again};
  return sequence;
}

EngineSettings settings() {
  EngineSettings result;
  Sequence sequence = twoEmails();
  result.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "alice@acme.test";
  mailbox.name = "Alice";
  mailbox.daily_limit = 1000000;  // limits are governor_test's subject, not these tests'
  mailbox.hourly_limit = 1000000;
  result.mailboxes = {mailbox};
  return result;
}

const Caller kAdmin{"root", true};

ContactRow row(const std::string& email, const std::string& first_name, int score,
               const std::string& company = "Acme") {
  ContactRow contact_row;
  contact_row.fields = {{"email", email},
                        {"first_name", first_name},
                        {"score", std::to_string(score)},
                        {"company", company}};
  return contact_row;
}

void deliverAll(Engine& engine, std::vector<DeliveryIntent>& intents, TimeMs now_ms) {
  for (const DeliveryIntent& intent : intents) {
    engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.message_id,
                             DeliveryOutcome::kDelivered, ""},
                            now_ms);
  }
}

std::vector<std::string> keysOf(const ImportResult& imported) { return imported.keys; }

}  // namespace

TEST_CASE("added contacts wait for activation, then fire highest score first") {
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts(
      {row("low@x.test", "Low", 10), row("high@x.test", "High", 90), row("mid@x.test", "Mid", 50)});
  REQUIRE(imported.errors.empty());
  Result<AddResult> added = engine.add("two", keysOf(imported), {}, kAdmin, kStart);
  REQUIRE(added.isOk());
  CHECK(added.value().added.size() == 3);
  engine.advanceTo(kStart + kHourMs);
  CHECK(engine.takeIntents().empty());  // inactive: nothing runs

  REQUIRE(engine.activate("two", kAdmin, kStart + kHourMs).isOk());
  engine.advanceTo(kStart + kHourMs);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  REQUIRE(intents.size() == 3);
  CHECK(intents[0].recipient == "high@x.test");
  CHECK(intents[1].recipient == "mid@x.test");
  CHECK(intents[2].recipient == "low@x.test");
  CHECK(intents[0].message.find("Subject: Hello High") != std::string::npos);

  Result<std::vector<StatusRow>> rows = engine.status("two", {});
  REQUIRE(rows.isOk());
  for (const StatusRow& status_row : rows.value()) {
    CHECK(status_row.status == "scheduled");
    CHECK(status_row.step == "again");
    CHECK(status_row.step_index == 1);
    CHECK(status_row.next_at_ms == kStart + kHourMs + kDayMs);
  }
}

TEST_CASE("the second step waits its full wait, then the contact finishes") {
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", keysOf(imported), {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  CHECK(engine.takeIntents().size() == 1);
  engine.advanceTo(kStart + kDayMs - 1000);
  CHECK(engine.takeIntents().empty());
  CHECK(engine.nextDue().value() <= kStart + kDayMs);
  engine.advanceTo(kStart + kDayMs);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  REQUIRE(intents.size() == 1);
  CHECK(intents[0].message.find("Subject: Again A") != std::string::npos);
  const Enrollment* enrollment = engine.findEnrollment("two", "a@x.test");
  REQUIRE(enrollment != nullptr);
  CHECK(enrollment->status == EnrollmentStatus::kFinished);
  CHECK(enrollment->finish_reason == "completed");
  CHECK_FALSE(engine.nextDue().has_value());
}

TEST_CASE("a missing template variable never sends: not_sent missing_variable") {
  Engine engine(settings(), kStart);
  ContactRow no_company = row("nc@x.test", "Nc", 5, "");
  ImportResult imported = engine.upsertContacts({no_company});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", keysOf(imported), {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  CHECK(engine.takeIntents().size() == 1);  // the first email has a fallback for everything
  engine.advanceTo(kStart + 2 * kDayMs);
  CHECK(engine.takeIntents().empty());
  const Enrollment* enrollment = engine.findEnrollment("two", "nc@x.test");
  CHECK(enrollment->status == EnrollmentStatus::kNotSent);
  CHECK(enrollment->not_sent_reason == "missing_variable:company");
  CHECK(enrollment->step_index == 1);  // stays on the step that could not be sent
}

TEST_CASE("add-time validation: warnings keep contacts out unless forced; hard blocks stay") {
  Engine engine(settings(), kStart);
  ContactRow blocked = row("b@x.test", "B", 5);
  blocked.fields["stage"] = "disqualified";
  ContactRow unverified = row("u@x.test", "U", 5);
  unverified.fields["email_status"] = "unverified";
  ContactRow owned = row("o@x.test", "O", 5);
  owned.fields["owner"] = "bob";
  ImportResult imported = engine.upsertContacts({blocked, unverified, owned});
  Result<AddResult> plain = engine.add("two", imported.keys, {}, Caller{"alice", false}, kStart);
  REQUIRE(plain.isOk());
  CHECK(plain.value().added.empty());
  REQUIRE(plain.value().skipped.size() == 3);
  CHECK(plain.value().skipped[0].warnings == std::vector<std::string>{"stage_blocked"});
  CHECK(plain.value().skipped[1].warnings == std::vector<std::string>{"unverified_email"});
  CHECK(plain.value().skipped[2].warnings == std::vector<std::string>{"owner_mismatch"});
  AddOptions force;
  force.force = true;
  Result<AddResult> forced =
      engine.add("two", imported.keys, force, Caller{"alice", false}, kStart);
  REQUIRE(forced.isOk());
  CHECK(forced.value().added == std::vector<std::string>{"u@x.test", "o@x.test"});
  CHECK(forced.value().skipped.size() == 1);
}

TEST_CASE("only the owner or an admin may add or activate") {
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  CHECK(engine.add("two", imported.keys, {}, Caller{"mallory", false}, kStart).status().code() ==
        StatusCode::kPermissionDenied);
  CHECK(engine.activate("two", Caller{"mallory", false}, kStart).code() ==
        StatusCode::kPermissionDenied);
  CHECK(engine.activate("two", Caller{"alice", false}, kStart).isOk());
  CHECK(engine.add("nope", imported.keys, {}, kAdmin, kStart).status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("bad contact rows are reported by line, good rows kept") {
  Engine engine(settings(), kStart);
  ContactRow bad_score = row("s@x.test", "S", 5);
  bad_score.line = 7;
  bad_score.fields["score"] = "high";
  ContactRow no_key;
  no_key.line = 9;
  no_key.fields = {{"first_name", "Nobody"}};
  ContactRow good = row("G@X.test", "G", 5);
  good.line = 8;
  ImportResult result = engine.upsertContacts({bad_score, good, no_key});
  CHECK(result.imported == 1);
  REQUIRE(result.errors.size() == 2);
  CHECK(result.errors[0].line == 7);
  CHECK(result.errors[0].reason.find("score") != std::string::npos);
  CHECK(result.errors[1].line == 9);
  CHECK(engine.findContact("g@x.test") != nullptr);  // keyed by the lower-cased email
  CHECK(engine.upsertContacts({good}).updated == 1);
}

TEST_CASE("a restart rebuilt from committed batches repeats no step, at any crash point") {
  // Crash after every possible commit: replay what was committed into a new engine and run
  // to the end; every (contact, step) must be sent exactly once across both lives.
  for (int crash_after = 0; crash_after < 6; ++crash_after) {
    CAPTURE(crash_after);
    FakeStore store;
    std::multiset<std::string> sent;  // message ids delivered
    Engine first(settings(), kStart);
    ImportResult imported = first.upsertContacts(
        {row("a@x.test", "A", 1), row("b@x.test", "B", 2), row("c@x.test", "C", 3)});
    REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
    REQUIRE(first.activate("two", kAdmin, kStart).isOk());
    std::vector<TimeMs> times = {kStart, kStart + kHourMs, kStart + kDayMs, kStart + 2 * kDayMs};
    int commits = 0;
    bool crashed = false;
    for (TimeMs now : times) {
      first.advanceTo(now);
      store.commit(first.takeBatch());
      if (commits++ == crash_after) {
        crashed = true;  // intents of this round were never handed to delivery
        break;
      }
      std::vector<DeliveryIntent> intents = first.takeIntents();
      for (const DeliveryIntent& intent : intents) sent.insert(intent.message_id);
      deliverAll(first, intents, now);
      store.commit(first.takeBatch());
    }
    Engine second(settings(), kStart + 2 * kDayMs);
    REQUIRE(second.restore(store.state, kStart + 2 * kDayMs).isOk());
    // Emails whose step fired but were never delivered come back as idempotent redeliveries.
    std::vector<DeliveryIntent> redeliveries = second.takeIntents();
    std::set<std::string> redelivered;
    for (const DeliveryIntent& intent : redeliveries) {
      redelivered.insert(intent.message_id);
      if (sent.count(intent.message_id) == 0) sent.insert(intent.message_id);
    }
    deliverAll(second, redeliveries, kStart + 2 * kDayMs);
    second.advanceTo(kStart + 10 * kDayMs);
    std::vector<DeliveryIntent> rest = second.takeIntents();
    for (const DeliveryIntent& intent : rest) sent.insert(intent.message_id);
    CHECK(sent.size() == 6);
    for (const std::string& id : sent) CHECK(sent.count(id) == 1);
    Result<std::vector<StatusRow>> rows = second.status("two", {});
    for (const StatusRow& status_row : rows.value()) CHECK(status_row.status == "finished");
    if (!crashed) CHECK(redelivered.empty());
  }
}

TEST_CASE("re-adding a contact that finished every step never repeats completed steps") {
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  engine.advanceTo(kStart + 2 * kDayMs);
  CHECK(engine.takeIntents().size() == 2);
  AddOptions force;
  force.force = true;
  Result<AddResult> again = engine.add("two", imported.keys, force, kAdmin, kStart + 3 * kDayMs);
  REQUIRE(again.isOk());
  CHECK(again.value().added.empty());
  engine.advanceTo(kStart + 9 * kDayMs);
  CHECK(engine.takeIntents().empty());
}

TEST_CASE("randomized: many contacts over random advances each get every step exactly once") {
  std::uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("SEQD_SEED")) seed = std::strtoull(fixed, nullptr, 10);
  MESSAGE("seed " << seed << " (set SEQD_SEED to replay)");
  std::mt19937_64 random(seed);
  Engine engine(settings(), kStart);
  std::vector<ContactRow> rows;
  const int count = 500;
  for (int i = 0; i < count; ++i) {
    rows.push_back(row("p" + std::to_string(i) + "@x.test", "P", static_cast<int>(random() % 101)));
  }
  ImportResult imported = engine.upsertContacts(rows);
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  TimeMs now = kStart;
  std::multiset<std::string> sent;
  std::size_t next = 0;
  while (now < kStart + 5 * kDayMs) {
    std::size_t batch = std::min<std::size_t>(imported.keys.size() - next, random() % 50);
    std::vector<std::string> keys(imported.keys.begin() + static_cast<long>(next),
                                  imported.keys.begin() + static_cast<long>(next + batch));
    next += batch;
    REQUIRE(engine.add("two", keys, {}, kAdmin, now).isOk());
    now += static_cast<TimeMs>(random() % (6 * kHourMs));
    engine.advanceTo(now);
    std::vector<DeliveryIntent> intents = engine.takeIntents();
    for (const DeliveryIntent& intent : intents) sent.insert(intent.message_id);
    deliverAll(engine, intents, now);
  }
  engine.advanceTo(now + 3 * kDayMs);
  for (const DeliveryIntent& intent : engine.takeIntents()) sent.insert(intent.message_id);
  CHECK(sent.size() == 2 * next);
  for (const std::string& id : sent) REQUIRE(sent.count(id) == 1);
}

TEST_CASE("a thread: previous step replies in the first email's thread, same mailbox") {
  EngineSettings threaded = settings();
  Sequence& sequence = threaded.sequences["two"];
  sequence.steps[1].subject.clear();
  sequence.steps[1].thread_previous = true;
  sequence.mailboxes = {"alice@acme.test", "bob@other.test"};
  Mailbox bob;
  bob.address = "bob@other.test";
  bob.name = "Bob";
  threaded.mailboxes.push_back(bob);
  Engine engine(threaded, kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5), row("b@x.test", "B", 4)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  std::vector<DeliveryIntent> first = engine.takeIntents();
  REQUIRE(first.size() == 2);
  CHECK(first[0].mailbox != first[1].mailbox);  // rotation across the send-from set
  engine.advanceTo(kStart + kDayMs);
  std::vector<DeliveryIntent> second = engine.takeIntents();
  REQUIRE(second.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(second[i].mailbox == first[i].mailbox);
    CHECK(second[i].message.find("In-Reply-To: " + first[i].message_id) != std::string::npos);
    CHECK(second[i].message.find("Subject: Re: Hello ") != std::string::npos);
  }
}

TEST_CASE("an email fired but never delivered is rebuilt identically at restart") {
  FakeStore store;
  Engine first(settings(), kStart);
  ImportResult imported = first.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  first.advanceTo(kStart);
  store.commit(first.takeBatch());
  std::vector<DeliveryIntent> lost = first.takeIntents();  // crash before delivery
  REQUIRE(lost.size() == 1);
  Engine second(settings(), kStart + kHourMs);
  REQUIRE(second.restore(store.state, kStart + kHourMs).isOk());
  std::vector<DeliveryIntent> again = second.takeIntents();
  REQUIRE(again.size() == 1);
  CHECK(again[0].message == lost[0].message);
  CHECK(again[0].message_id == lost[0].message_id);
  CHECK(second.deliveriesInFlight() == 1);
}

TEST_CASE("an SMTP email in flight at a crash is not sent again: not_sent interrupted") {
  EngineSettings smtp = settings();
  smtp.mailboxes[0].transport = Transport::kSmtp;
  FakeStore store;
  Engine first(smtp, kStart);
  ImportResult imported = first.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  first.advanceTo(kStart);
  store.commit(first.takeBatch());
  REQUIRE(first.takeIntents().size() == 1);  // handed to SMTP, then the crash
  Engine second(smtp, kStart + kHourMs);
  REQUIRE(second.restore(store.state, kStart + kHourMs).isOk());
  CHECK(second.takeIntents().empty());
  CHECK(second.deliveriesInFlight() == 0);
  const Enrollment* enrollment = second.findEnrollment("two", "a@x.test");
  CHECK(enrollment->status == EnrollmentStatus::kNotSent);
  CHECK(enrollment->not_sent_reason == "interrupted");
  CHECK(enrollment->step_index == 0);
  store.commit(second.takeBatch());
  Engine third(smtp, kStart + 2 * kHourMs);  // and it stays so at the next restart
  REQUIRE(third.restore(store.state, kStart + 2 * kHourMs).isOk());
  CHECK(third.takeIntents().empty());
  CHECK(third.findEnrollment("two", "a@x.test")->not_sent_reason == "interrupted");
}

TEST_CASE("temporary failures retry after 5m, 30m and 2h, then not_sent") {
  EngineSettings smtp = settings();
  smtp.mailboxes[0].transport = Transport::kSmtp;
  Engine engine(smtp, kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  TimeMs now = kStart;
  const DurationMs delays[] = {5 * kMinuteMs, 30 * kMinuteMs, 2 * kHourMs};
  for (int attempt = 0; attempt < 4; ++attempt) {
    CAPTURE(attempt);
    engine.advanceTo(now);
    std::vector<DeliveryIntent> intents = engine.takeIntents();
    REQUIRE(intents.size() == 1);
    DeliveryResult failed{intents[0].enrollment_id,
                          intents[0].step_index,
                          intents[0].message_id,
                          DeliveryOutcome::kFailedTemporary,
                          "450 busy",
                          Transport::kSmtp,
                          false};
    engine.onDeliveryResult(failed, now);
    const Enrollment* enrollment = engine.findEnrollment("two", "a@x.test");
    CHECK(enrollment->step_index == 0);
    if (attempt < 3) {
      CHECK(enrollment->status == EnrollmentStatus::kScheduled);
      CHECK(enrollment->next_at_ms == now + delays[attempt]);
      now += delays[attempt];
    } else {
      CHECK(enrollment->status == EnrollmentStatus::kNotSent);
      CHECK(enrollment->not_sent_reason == "smtp_4xx_exhausted");
    }
  }
}
