// Proves the engine moves enrollments through auto_email steps in due order, highest score
// first, never runs a step twice across a restart rebuilt from its own write batches, and
// refuses to send broken or blocked emails. A step's email is queued when it falls due and
// the contact waits on that send: the next step is scheduled only once it was delivered.
#include "engine/engine.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

#include "engine/fake_store.hpp"
#include "engine/fixtures.hpp"
#include "engine/render.hpp"
#include "test_seed.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

Sequence twoEmails() {
  Sequence sequence = sequenceOf("two", "alice", {"alice@acme.test"});
  sequence.name = "Two emails";
  sequence.schedule = "business-hours";
  sequence.rules.block_stages = {"disqualified"};
  sequence.steps = {emailStep("hello", "Hello {{first_name}}", "Hi {{first_name|there}}"),
                    emailStep("again", "Again {{first_name}}", "Still {{company}}?", kDayMs)};
  return sequence;
}

EngineSettings settings() {
  EngineSettings result;
  Sequence sequence = twoEmails();
  result.sequences[sequence.id] = sequence;
  result.mailboxes = {mailboxOf("alice@acme.test", "Alice")};
  return result;
}

ContactRow row(const std::string& email, const std::string& first_name, int score,
               const std::string& company = "Acme") {
  ContactRow contact_row;
  contact_row.fields = {{"email", email},
                        {"first_name", first_name},
                        {"score", std::to_string(score)},
                        {"company", company}};
  return contact_row;
}

void deliverAll(Engine& engine, const std::vector<DeliveryIntent>& intents, TimeMs now_ms) {
  for (const DeliveryIntent& intent : intents) {
    engine.onDeliveryResult(
        {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
        now_ms);
  }
}

void answer(Engine& engine, const DeliveryIntent& intent, DeliveryOutcome outcome,
            const std::string& detail, TimeMs now_ms) {
  engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.send, outcome, detail,
                           intent.transport, false, intent.redelivery},
                          now_ms);
}

// Advances, releases what fell due and delivers it; returns what was delivered.
std::vector<DeliveryIntent> advanceAndDeliver(Engine& engine, TimeMs now_ms) {
  engine.advanceTo(now_ms);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  deliverAll(engine, intents, now_ms);
  return intents;
}

std::vector<std::string> keysOf(const ImportResult& imported) { return imported.keys; }

// Imports a@x.test, activates "two" and adds the contact to it at now_ms.
void enrollOne(Engine& engine, TimeMs now_ms) {
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, now_ms).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, now_ms).isOk());
}

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
  CHECK(intents[0].recipient() == "high@x.test");
  CHECK(intents[1].recipient() == "mid@x.test");
  CHECK(intents[2].recipient() == "low@x.test");
  CHECK(renderMessage(intents[0], "\n").find("Subject: Hello High") != std::string::npos);
  deliverAll(engine, intents, kStart + kHourMs);

  Result<std::vector<StatusRow>> rows = engine.status("two", {});
  REQUIRE(rows.isOk());
  for (const StatusRow& status_row : rows.value()) {
    CHECK(status_row.status == "scheduled");
    CHECK(status_row.step == "again");
    CHECK(status_row.step_index == 1);
    CHECK(status_row.next_at_ms == kStart + kHourMs + kDayMs);
  }
}

TEST_CASE("a committed batch's room is reused by the next one unless it is over 1 MiB") {
  Engine engine(settings(), kStart);
  const std::size_t small = 64;
  const std::size_t large = Engine::kRecycledBatchBytesMax / sizeof(ContactRef) + 1;

  WriteBatch spent = engine.takeBatch();
  spent.contacts.reserve(small);
  spent.progress.reserve(small);
  engine.afterCommit(std::move(spent));
  WriteBatch next = engine.takeBatch();
  CHECK(next.contacts.capacity() >= small);  // reused: the next round does not grow it again
  CHECK(next.progress.capacity() >= small);

  next.contacts.clear();
  next.contacts.reserve(large);  // one large round's (an import's) room
  engine.afterCommit(std::move(next));
  WriteBatch after_large = engine.takeBatch();
  CHECK(after_large.contacts.capacity() < large);  // freed: it would stay with the process
}

TEST_CASE("the timer wheel's room goes back once nothing is scheduled and no send is out") {
  EngineSettings one_step = settings();
  one_step.sequences["two"].steps.resize(1);
  Engine engine(one_step, kStart);
  const std::size_t count = TimerWheel::kKeepEntriesDefault + 1000;
  std::vector<ContactRow> rows;
  for (std::size_t index = 0; index < count; ++index) {
    rows.push_back(
        row("c" + std::to_string(index) + "@x.test", "C", static_cast<int>(index % 100)));
  }
  const ImportResult imported = engine.upsertContacts(rows);
  REQUIRE(imported.keys.size() == count);
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.wheelEntries() == count);
  auto commitRound = [&engine] { engine.afterCommit(engine.takeBatch()); };
  commitRound();
  const std::size_t full_bytes = engine.wheelBytes();
  CHECK(full_bytes > 16 * count);
  // Held while any entry is scheduled.
  engine.advanceTo(kStart + 7 * kDayMs);
  const std::vector<DeliveryIntent> out = engine.takeIntents();
  REQUIRE(!out.empty());
  commitRound();
  CHECK(engine.wheelBytes() >= full_bytes);

  // Nothing scheduled, but sends out: their results schedule again, so the room is kept.
  REQUIRE(engine.deactivate("two", kAdmin).isOk());
  REQUIRE(engine.wheelEntries() == 0);
  commitRound();
  CHECK(engine.wheelBytes() >= full_bytes);

  // The last result in: handed back at the round's end.
  deliverAll(engine, out, kStart + 7 * kDayMs);
  CHECK(engine.wheelBytes() >= full_bytes);
  commitRound();
  CHECK(engine.wheelBytes() < full_bytes / 16);

  // And the wheel grows again for the next activation.
  REQUIRE(engine.activate("two", kAdmin, kStart + 7 * kDayMs).isOk());
  CHECK(engine.wheelEntries() == count - out.size());
  engine.advanceTo(kStart + 14 * kDayMs);
  CHECK(!engine.takeIntents().empty());
}

// A checkpoint's slice per batch follows the batch's own snapshots (kCheckpointSliceRowsPerSnapshot
// each, within kCheckpointSliceMin..checkpoint_slice_max): a round that changed a few
// enrollments carries a few hundred rows, not the whole 8,192 (each row is commit time).
TEST_CASE("a checkpoint's slice per batch is sized by the batch's own snapshots") {
  EngineSettings small_start = settings();
  small_start.checkpoint_snapshots_min = 1;
  Engine engine(small_start, kStart);
  std::vector<ContactRow> rows;
  for (int i = 0; i < 21010; ++i) rows.push_back(row("c" + std::to_string(i) + "@x.test", "C", 50));
  const std::vector<std::string> keys = keysOf(engine.upsertContacts(rows));
  const auto addAndTake = [&](std::size_t from, std::size_t count) {
    const std::vector<std::string> some(keys.begin() + static_cast<std::ptrdiff_t>(from),
                                        keys.begin() + static_cast<std::ptrdiff_t>(from + count));
    REQUIRE(engine.add("two", some, {}, kAdmin, kStart).isOk());
    WriteBatch batch = engine.takeBatch();
    REQUIRE(batch.enrollments.size() == count);
    return batch;
  };
  // 20,000 snapshots start a checkpoint over 20,000 enrollments: the largest slice.
  WriteBatch first = addAndTake(0, 20000);
  CHECK(first.checkpoint_start);
  CHECK(first.checkpoint_rows.size() == kCheckpointSliceMax);
  // 10 snapshots: the smallest slice.
  WriteBatch few = addAndTake(20000, 10);
  CHECK(few.checkpoint_rows.size() == kCheckpointSliceMin);
  // 1,000 snapshots: two rows each.
  WriteBatch some = addAndTake(20010, 1000);
  CHECK(some.checkpoint_rows.size() == kCheckpointSliceRowsPerSnapshot * 1000);
  // Nothing changed: the smallest slice still, so the checkpoint goes on in a quiet daemon.
  WriteBatch quiet = engine.takeBatch();
  CHECK(quiet.enrollments.empty());
  CHECK(quiet.checkpoint_rows.size() == kCheckpointSliceMin);
  // The rest, in id order where the last slice stopped, ends it.
  std::size_t written = first.checkpoint_rows.size() + few.checkpoint_rows.size() +
                        some.checkpoint_rows.size() + quiet.checkpoint_rows.size();
  while (written < 20000) {
    WriteBatch next = engine.takeBatch();
    REQUIRE_FALSE(next.checkpoint_rows.empty());
    written += next.checkpoint_rows.size();
    CHECK(next.checkpoint_finish == (written == 20000));
  }
  CHECK(written == 20000);
}

TEST_CASE("add --at into an inactive sequence keeps its time through the activation") {
  Engine engine(settings(), kStart);
  ImportResult imported =
      engine.upsertContacts({row("later@x.test", "Later", 50), row("now@x.test", "Now", 40)});
  AddOptions later;
  later.at_ms = kStart + 2 * kHourMs;
  REQUIRE(engine.add("two", {"later@x.test"}, later, kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", {"now@x.test"}, {}, kAdmin, kStart).isOk());
  const Enrollment* waiting = engine.findEnrollment("two", "later@x.test");
  REQUIRE(waiting != nullptr);
  CHECK(waiting->next_at_ms == kStart + 2 * kHourMs);

  REQUIRE(engine.activate("two", kAdmin, kStart + kHourMs).isOk());
  engine.advanceTo(kStart + kHourMs);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  REQUIRE(intents.size() == 1);  // without --at: due from the activation
  CHECK(intents[0].recipient() == "now@x.test");
  deliverAll(engine, intents, kStart + kHourMs);
  engine.advanceTo(kStart + 2 * kHourMs - 1);
  CHECK(engine.takeIntents().empty());
  engine.advanceTo(kStart + 2 * kHourMs);
  intents = engine.takeIntents();
  REQUIRE(intents.size() == 1);
  CHECK(intents[0].recipient() == "later@x.test");
}

TEST_CASE("the second step waits its full wait, then the contact finishes") {
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", keysOf(imported), {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  std::vector<DeliveryIntent> first = engine.takeIntents();
  CHECK(first.size() == 1);
  // The result comes a minute later: the wait still counts from when the step fired.
  deliverAll(engine, first, kStart + kMinuteMs);
  engine.advanceTo(kStart + kDayMs - 1000);
  CHECK(engine.takeIntents().empty());
  REQUIRE(engine.nextDue().has_value());
  CHECK(engine.nextDue().value() <= kStart + kDayMs);
  engine.advanceTo(kStart + kDayMs);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  REQUIRE(intents.size() == 1);
  CHECK(renderMessage(intents[0], "\n").find("Subject: Again A") != std::string::npos);
  const Enrollment* enrollment = engine.findEnrollment("two", "a@x.test");
  REQUIRE(enrollment != nullptr);
  CHECK(enrollment->status == EnrollmentStatus::kActive);  // waits on the last send
  deliverAll(engine, intents, kStart + kDayMs);
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
  // The first email has a fallback for everything.
  CHECK(advanceAndDeliver(engine, kStart).size() == 1);
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
  // Crash at every point of every round: after the commit of advanceTo() (emails queued,
  // never released), after the commit of takeIntents() (released, not yet handed to
  // delivery), after the hand-over (the Maildir files written, results not yet recorded) and
  // after the commit of the results. Replay what was committed into a new engine and run to
  // the end; every (contact, step) must go out exactly once across both lives (a released
  // Maildir email delivered again is the same file: idempotent).
  const std::vector<TimeMs> times = {kStart, kStart + kHourMs, kStart + kDayMs,
                                     kStart + 2 * kDayMs};
  const int crash_points = 4 * static_cast<int>(times.size());
  for (int crash_at = 0; crash_at <= crash_points; ++crash_at) {
    CAPTURE(crash_at);
    FakeStore store;
    std::multiset<std::string> sent;  // message ids handed to delivery
    std::set<std::string> released;   // message ids whose kStepFired was committed
    Engine first(settings(), kStart);
    ImportResult imported = first.upsertContacts(
        {row("a@x.test", "A", 1), row("b@x.test", "B", 2), row("c@x.test", "C", 3)});
    REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
    REQUIRE(first.activate("two", kAdmin, kStart).isOk());
    int point = 0;
    bool crashed = false;
    auto crashHere = [&] {
      crashed = point++ == crash_at;
      return crashed;
    };
    for (TimeMs now : times) {
      first.advanceTo(now);
      store.commit(first.takeBatch());
      if (crashHere()) break;
      std::vector<DeliveryIntent> intents = first.takeIntents();
      store.commit(first.takeBatch());
      for (const DeliveryIntent& intent : intents) released.insert(intent.messageId());
      if (crashHere()) break;
      for (const DeliveryIntent& intent : intents) sent.insert(intent.messageId());
      if (crashHere()) break;
      deliverAll(first, intents, now);
      store.commit(first.takeBatch());
      if (crashHere()) break;
    }
    TimeMs now = kStart + 2 * kDayMs;
    Engine second(settings(), now);
    REQUIRE(second.restore(store.state, now).isOk());
    // Released emails without a result come back as idempotent redeliveries.
    std::vector<DeliveryIntent> redeliveries = second.takeIntents();
    WriteBatch restored = second.takeBatch();
    // No new send: the only kStepFired records move the redeliveries' counts to now.
    CHECK(countProgress(restored.progress, ProgressKind::kStepFired) == redeliveries.size());
    CHECK(countRedelivered(restored.progress) == redeliveries.size());
    store.commit(std::move(restored));
    std::set<std::string> redelivered;
    for (const DeliveryIntent& intent : redeliveries) {
      CHECK(released.count(intent.messageId()) == 1);
      redelivered.insert(intent.messageId());
      if (sent.count(intent.messageId()) == 0) sent.insert(intent.messageId());
    }
    deliverAll(second, redeliveries, now);
    store.commit(second.takeBatch());
    for (int rounds = 0; rounds < 100; ++rounds) {
      std::optional<TimeMs> next = second.nextDue();
      if (!next || *next > kStart + 10 * kDayMs) break;
      now = std::max(now, *next);
      second.advanceTo(now);
      std::vector<DeliveryIntent> rest = second.takeIntents();
      store.commit(second.takeBatch());
      for (const DeliveryIntent& intent : rest) sent.insert(intent.messageId());
      deliverAll(second, rest, now);
      store.commit(second.takeBatch());
    }
    CHECK(sent.size() == 6);
    for (const std::string& id : sent) CHECK(sent.count(id) == 1);
    Result<std::vector<StatusRow>> rows = second.status("two", {});
    REQUIRE(rows.isOk());
    CHECK(rows.value().size() == 3);
    for (const StatusRow& status_row : rows.value()) CHECK(status_row.status == "finished");
    if (!crashed) CHECK(redelivered.empty());
  }
}

TEST_CASE("re-adding a contact that finished every step never repeats completed steps") {
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  std::size_t sent = advanceAndDeliver(engine, kStart).size();
  sent += advanceAndDeliver(engine, kStart + 2 * kDayMs).size();
  CHECK(sent == 2);
  CHECK(engine.findEnrollment("two", "a@x.test")->status == EnrollmentStatus::kFinished);
  AddOptions force;
  force.force = true;
  Result<AddResult> again = engine.add("two", imported.keys, force, kAdmin, kStart + 3 * kDayMs);
  REQUIRE(again.isOk());
  CHECK(again.value().added.empty());
  engine.advanceTo(kStart + 9 * kDayMs);
  CHECK(engine.takeIntents().empty());
}

TEST_CASE("randomized: many contacts over random advances each get every step exactly once") {
  const std::uint64_t seed = testSeed();
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
    for (const DeliveryIntent& intent : intents) sent.insert(intent.messageId());
    deliverAll(engine, intents, now);
  }
  engine.advanceTo(now + 3 * kDayMs);
  for (const DeliveryIntent& intent : engine.takeIntents()) sent.insert(intent.messageId());
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
  CHECK(first[0].mailbox() != first[1].mailbox());  // rotation across the send-from set
  deliverAll(engine, first, kStart);
  engine.advanceTo(kStart + kDayMs);
  std::vector<DeliveryIntent> second = engine.takeIntents();
  REQUIRE(second.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(second[i].mailbox() == first[i].mailbox());
    CHECK(renderMessage(second[i], "\n").find("In-Reply-To: " + first[i].messageId()) !=
          std::string::npos);
    CHECK(renderMessage(second[i], "\n").find("Subject: Re: Hello ") != std::string::npos);
  }
}

TEST_CASE("an email fired but never delivered is rebuilt identically at restart") {
  FakeStore store;
  Engine first(settings(), kStart);
  ImportResult imported = first.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  first.advanceTo(kStart);
  std::vector<DeliveryIntent> lost = first.takeIntents();
  REQUIRE(lost.size() == 1);
  store.commit(first.takeBatch());  // its kStepFired committed, then a crash before delivery
  REQUIRE(countProgress(store.state.progress, ProgressKind::kStepFired) == 1);
  Engine second(settings(), kStart + kHourMs);
  REQUIRE(second.restore(store.state, kStart + kHourMs).isOk());
  std::vector<DeliveryIntent> again = second.takeIntents();
  REQUIRE(again.size() == 1);
  CHECK(renderMessage(again[0], "\n") == renderMessage(lost[0], "\n"));
  CHECK(again[0].messageId() == lost[0].messageId());
  CHECK(second.deliveriesInFlight() == 1);
  // Counted once against the limits, from when it is written again (not at both instants).
  std::vector<MailboxRow> usage = second.mailboxes(kStart + kHourMs);
  REQUIRE(usage.size() == 1);
  CHECK(usage[0].sent_last_24h == 1);
  CHECK(usage[0].sent_last_hour == 1);
  // The same send: its one new record moves its count to now, in the log too.
  WriteBatch batch = second.takeBatch();
  REQUIRE(countProgress(batch.progress, ProgressKind::kStepFired) == 1);
  CHECK(countRedelivered(batch.progress) == 1);
  CHECK(batch.progress.front().at_ms == kStart + kHourMs);
  store.commit(std::move(batch));
  deliverAll(second, again, kStart + kHourMs);
  CHECK(second.deliveriesInFlight() == 0);
  const Enrollment* enrollment = second.findEnrollment("two", "a@x.test");
  CHECK(enrollment->status == EnrollmentStatus::kScheduled);
  CHECK(enrollment->step_index == 1);
  CHECK(enrollment->next_at_ms == kStart + kDayMs);  // counted from the first life's fire
  store.commit(second.takeBatch());

  // An engine built from the store again counts it where the second one did: in the last
  // hour half an hour later (counted at the first life's fire, it would have left that hour).
  const TimeMs third_start = kStart + kHourMs + 30 * kMinuteMs;
  Engine third(settings(), third_start);
  REQUIRE(third.restore(store.state, third_start).isOk());
  std::vector<MailboxRow> counted = third.mailboxes(third_start);
  REQUIRE(counted.size() == 1);
  CHECK(counted[0].sent_last_24h == 1);
  CHECK(counted[0].sent_last_hour == 1);
}

// A restart arms each enrollment by whether its sequence is active (Engine::isActive of the
// enrollment, by the id's Symbol): rows of a sequence deactivated before the restart stay off
// the wheel until it is activated again, rows of an active one fire, across runs of rows.
TEST_CASE("a restart arms the rows of active sequences only, until an activation") {
  EngineSettings two_sequences = settings();
  Sequence three = twoEmails();
  three.id = "three";
  two_sequences.sequences[three.id] = three;
  FakeStore store;
  Engine first(two_sequences, kStart);
  ImportResult imported = first.upsertContacts(
      {row("a@x.test", "A", 5), row("b@x.test", "B", 4), row("c@x.test", "C", 3)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", {"a@x.test"}, {}, kAdmin, kStart).isOk());
  REQUIRE(first.add("three", {"b@x.test"}, {}, kAdmin, kStart).isOk());
  REQUIRE(first.add("two", {"c@x.test"}, {}, kAdmin, kStart).isOk());
  REQUIRE(first.activate("three", kAdmin, kStart).isOk());
  REQUIRE(first.deactivate("three", kAdmin).isOk());
  store.commit(first.takeBatch());

  Engine second(two_sequences, kStart + kMinuteMs);
  REQUIRE(second.restore(store.state, kStart + kMinuteMs).isOk());
  CHECK(second.isActive("two"));
  CHECK_FALSE(second.isActive("three"));
  second.advanceTo(kStart + kMinuteMs);
  std::vector<DeliveryIntent> fired = second.takeIntents();
  REQUIRE(fired.size() == 2);
  std::set<std::string> recipients;
  for (const DeliveryIntent& intent : fired) recipients.insert(intent.recipient());
  CHECK(recipients == std::set<std::string>{"a@x.test", "c@x.test"});
  deliverAll(second, fired, kStart + kMinuteMs);
  second.advanceTo(kStart + kHourMs);
  CHECK(second.takeIntents().empty());

  REQUIRE(second.activate("three", kAdmin, kStart + kHourMs).isOk());
  second.advanceTo(kStart + kHourMs);
  fired = second.takeIntents();
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].recipient() == "b@x.test");
}

TEST_CASE("a send returned not attempted gives its count back, also across a restart") {
  FakeStore store;
  Engine first(settings(), kStart);
  ImportResult imported = first.upsertContacts({row("a@x.test", "A", 5), row("b@x.test", "B", 4)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  first.advanceTo(kStart);  // both decided and counted at kStart
  std::vector<DeliveryIntent> early = first.takeIntents({SIZE_MAX, 1}, kStart);
  REQUIRE(early.size() == 1);
  deliverAll(first, early, kStart);
  // The second leaves ten minutes later: its count moves to then.
  const TimeMs later = kStart + 10 * kMinuteMs;
  std::vector<DeliveryIntent> late = first.takeIntents({SIZE_MAX, 1}, later);
  REQUIRE(late.size() == 1);
  CHECK(first.mailboxes(later)[0].sent_last_24h == 2);
  // seqd stops before a worker took it: it never left.
  answer(first, late[0], DeliveryOutcome::kReturned, "", later);
  CHECK(first.mailboxes(later)[0].sent_last_24h == 1);
  // The count given back is the moved one: an hour and five minutes on, the hour holds none.
  CHECK(first.mailboxes(kStart + kHourMs + 5 * kMinuteMs)[0].sent_last_hour == 0);
  store.commit(first.takeBatch());

  // Rebuilt from the log (a kStepFired then a "returned" failure): counted once, not twice.
  Engine second(settings(), later);
  REQUIRE(second.restore(store.state, later).isOk());
  CHECK(second.mailboxes(later)[0].sent_last_24h == 1);
  second.advanceTo(later);
  std::vector<DeliveryIntent> again = second.takeIntents({}, later);
  REQUIRE(again.size() == 1);
  CHECK(again[0].enrollment_id == late[0].enrollment_id);
  CHECK(second.mailboxes(later)[0].sent_last_24h == 2);
}

TEST_CASE("a result counts only for the send out it names: its step and its mailbox") {
  // A result carries no Message-ID: it names its send by the step and the from mailbox, as
  // interned ids. One naming another step or another mailbox is a stray, whatever its outcome.
  EngineSettings two_mailboxes = settings();
  two_mailboxes.mailboxes.push_back(mailboxOf("bob@acme.test", "Bob"));
  FakeStore store;
  Engine first(two_mailboxes, kStart);
  enrollOne(first, kStart);
  first.advanceTo(kStart);
  std::vector<DeliveryIntent> out = first.takeIntents();
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].mailbox() == "alice@acme.test");
  CHECK(out[0].send.step == "hello");
  CHECK(out[0].send.mailbox == "alice@acme.test");
  store.commit(first.takeBatch());
  DeliveryIntent other_step = out[0];
  other_step.send.step = "again";
  DeliveryIntent other_mailbox = out[0];
  other_mailbox.send.mailbox = "bob@acme.test";
  answer(first, other_step, DeliveryOutcome::kFailedPermanent, "550 no", kStart);
  answer(first, other_mailbox, DeliveryOutcome::kDelivered, "", kStart);
  CHECK(first.deliveriesInFlight() == 1);
  const Enrollment* waiting = first.findEnrollment("two", "a@x.test");
  CHECK(waiting->status == EnrollmentStatus::kActive);
  CHECK(waiting->sending);
  CHECK(first.takeBatch().progress.empty());  // nothing recorded for the strays

  // An engine built again from the store in the same process (as after a refused commit)
  // takes the late result of the send it restored, and hands out nothing more for it.
  const TimeMs rebuilt_at = kStart + kMinuteMs;
  Engine rebuilt(two_mailboxes, rebuilt_at);
  REQUIRE(rebuilt.restore(store.state, rebuilt_at).isOk());
  answer(rebuilt, out[0], DeliveryOutcome::kDelivered, "", rebuilt_at);
  CHECK(rebuilt.deliveriesInFlight() == 0);
  CHECK(rebuilt.takeIntents().empty());
  const Enrollment* done = rebuilt.findEnrollment("two", "a@x.test");
  CHECK(done->status == EnrollmentStatus::kScheduled);
  CHECK(done->step_index == 1);
  CHECK_FALSE(done->sending);
}

TEST_CASE(
    "a redelivery seqd stops before attempting stays out, on its mailbox, for the next start") {
  // The send-from set rotates over a Maildir mailbox and an SMTP one. The first life writes
  // the email to the Maildir and loses its result (a crash, or a commit refused for want of
  // room); the second hands it out again and stops before a worker takes it. The email may
  // have landed: the step must not be decided again (that could send it over SMTP too).
  EngineSettings rotating = settings();
  rotating.sequences["two"].mailboxes = {"alice@acme.test", "relay@other.test"};
  Mailbox relay = mailboxOf("relay@other.test", "Relay");
  relay.transport = Transport::kSmtp;
  rotating.mailboxes.push_back(relay);
  FakeStore store;
  Engine first(rotating, kStart);
  enrollOne(first, kStart);
  first.advanceTo(kStart);
  std::vector<DeliveryIntent> landed = first.takeIntents();
  REQUIRE(landed.size() == 1);
  REQUIRE(landed[0].mailbox() == "alice@acme.test");
  store.commit(first.takeBatch());  // released, written to the Maildir, the result lost

  const TimeMs second_start = kStart + kMinuteMs;
  Engine second(rotating, second_start);
  REQUIRE(second.restore(store.state, second_start).isOk());
  std::vector<DeliveryIntent> again = second.takeIntents();
  REQUIRE(again.size() == 1);
  CHECK(again[0].messageId() == landed[0].messageId());
  CHECK_FALSE(landed[0].redelivery);
  CHECK(again[0].redelivery);
  answer(second, again[0], DeliveryOutcome::kReturned, "", second_start);  // seqd stops
  CHECK(second.deliveriesInFlight() == 0);
  const Enrollment* kept = second.findEnrollment("two", "a@x.test");
  CHECK(kept->status == EnrollmentStatus::kActive);
  const SendOut* kept_send = second.sendOut(*kept);
  REQUIRE(kept_send != nullptr);
  CHECK(kept_send->step == "hello");
  CHECK(kept_send->mailbox == "alice@acme.test");
  CHECK(kept_send->released);
  second.advanceTo(second_start + kMinuteMs);
  CHECK(second.takeIntents().empty());  // nothing decided again
  WriteBatch stop = second.takeBatch();
  // The start's record of the redelivery, nothing for the send handed back.
  CHECK(countProgress(stop.progress, ProgressKind::kStepFired) == 1);
  CHECK(countRedelivered(stop.progress) == 1);
  CHECK(countProgress(stop.progress, ProgressKind::kDeliveryFailed) == 0);
  store.commit(std::move(stop));

  // The next start delivers the same email again, from the same mailbox.
  const TimeMs third_start = kStart + kHourMs;
  Engine third(rotating, third_start);
  REQUIRE(third.restore(store.state, third_start).isOk());
  std::vector<DeliveryIntent> third_try = third.takeIntents();
  REQUIRE(third_try.size() == 1);
  CHECK(third_try[0].mailbox() == "alice@acme.test");
  CHECK(third_try[0].messageId() == landed[0].messageId());
  deliverAll(third, third_try, third_start);
  third.advanceTo(third_start);
  CHECK(third.takeIntents().empty());
  const Enrollment* done = third.findEnrollment("two", "a@x.test");
  CHECK(done->status == EnrollmentStatus::kScheduled);
  CHECK(done->step_index == 1);

  // A first send (not a redelivery) returned not attempted never left: it is decided again.
  const TimeMs next_day = kStart + kDayMs;
  third.advanceTo(next_day);
  std::vector<DeliveryIntent> fresh = third.takeIntents();
  REQUIRE(fresh.size() == 1);
  CHECK_FALSE(fresh[0].redelivery);
  answer(third, fresh[0], DeliveryOutcome::kReturned, "", next_day);
  const Enrollment* back = third.findEnrollment("two", "a@x.test");
  CHECK(back->status == EnrollmentStatus::kScheduled);
  CHECK_FALSE(back->sending);
}

// A first life that releases a@x.test's first email to the Maildir and loses its result (a
// crash after the commit): the store it leaves.
FakeStore releasedResultLost() {
  FakeStore store;
  Engine first(settings(), kStart);
  enrollOne(first, kStart);
  first.advanceTo(kStart);
  REQUIRE(first.takeIntents().size() == 1);
  store.commit(first.takeBatch());
  return store;
}

// The rows keep a bit for a send out; the sends themselves come beside them. A state whose
// two disagree is damaged, and said so, rather than restored with a send lost or made up.
TEST_CASE("a restore refuses sends out that the rows' bits do not match") {
  const FakeStore store = releasedResultLost();
  REQUIRE(store.state.sends_out.size() == 1);
  const EnrollmentId id = store.state.sends_out[0].first;
  REQUIRE(static_cast<bool>(store.state.enrollments[id].sending));
  {
    Engine whole(settings(), kStart);
    CHECK(whole.restore(store.state, kStart).isOk());
    const SendOut* send = whole.sendOut(whole.enrollmentAt(id));
    REQUIRE(send != nullptr);
    CHECK(send->released);
  }
  SUBCASE("a row with a send out, and no send") {
    LoadedState lost = store.state;
    lost.sends_out.clear();
    Engine second(settings(), kStart);
    const Status status = second.restore(lost, kStart);
    CHECK(status.code() == StatusCode::kCorruption);
    CHECK_MESSAGE(status.message() == "rows with a send out: 1; sends out kept beside them: 0",
                  status.message());
  }
  SUBCASE("a send, and its row without one") {
    LoadedState made_up = store.state;
    made_up.enrollments[id].sending = false;
    Engine second(settings(), kStart);
    const Status status = second.restore(made_up, kStart);
    CHECK(status.code() == StatusCode::kCorruption);
    CHECK_MESSAGE(status.message() ==
                      "a send out names enrollment " + std::to_string(id) + ", which has none out",
                  status.message());
  }
}

// A row's extras come beside the rows too: extras naming no row are damage, said so.
TEST_CASE("a restore takes the extras beside the rows, and refuses extras for no row") {
  const FakeStore store = releasedResultLost();
  const EnrollmentId id = 0;
  REQUIRE(store.state.enrollments.size() == 1);
  LoadedState resumes = store.state;
  EnrollmentExtras resume_tomorrow;
  resume_tomorrow.resume_at_ms = kStart + kDayMs;
  resumes.extras = {{id, resume_tomorrow}};
  {
    Engine whole(settings(), kStart);
    REQUIRE(whole.restore(resumes, kStart).isOk());
    CHECK(whole.resumeAt(whole.enrollmentAt(id)) == kStart + kDayMs);
    CHECK(whole.recordOf(whole.enrollmentAt(id)).extras.resume_at_ms == kStart + kDayMs);
  }
  LoadedState no_row = store.state;
  no_row.extras = {{id + 1, resume_tomorrow}};
  Engine second(settings(), kStart);
  const Status status = second.restore(no_row, kStart);
  CHECK(status.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(status.message() ==
                    "extras (own mailboxes, steps unresolved, an auto-resume time) name "
                    "enrollment 1, which has no row",
                status.message());
}

// The first life writes the email to the Maildir and loses its result; the second hands it
// out again, the operator stops the contact (`action`), and seqd stops before a worker takes
// the redelivery. Returns the store as that stop committed it.
FakeStore redeliveryHandedBackAfter(OperatorAction action, TimeMs second_start) {
  FakeStore store = releasedResultLost();

  Engine second(settings(), second_start);
  REQUIRE(second.restore(store.state, second_start).isOk());
  std::vector<DeliveryIntent> again = second.takeIntents();
  REQUIRE(again.size() == 1);
  REQUIRE(again[0].redelivery);
  OperatorRequest stop;
  stop.action = action;
  stop.contacts = {"a@x.test"};
  REQUIRE(second.operate("two", stop, kAdmin, second_start).isOk());
  answer(second, again[0], DeliveryOutcome::kReturned, "", second_start);  // seqd stops
  const Enrollment* stopped = second.findEnrollment("two", "a@x.test");
  CHECK_FALSE(stopped->sending);
  // The try before may have landed: the step is marked interrupted, and the send still
  // counts against the limits.
  CHECK(second.extrasOf(*stopped).unresolved.get(Symbol("hello")) == "interrupted");
  std::vector<MailboxRow> counted = second.mailboxes(second_start);
  REQUIRE(counted.size() == 1);
  CHECK(counted[0].sent_last_hour == 1);
  WriteBatch batch = second.takeBatch();
  REQUIRE(countProgress(batch.progress, ProgressKind::kDeliveryFailed) == 1);
  CHECK(batch.progress.back().detail.starts_with("interrupted: "));
  store.commit(std::move(batch));
  return store;
}

TEST_CASE("a redelivery still waiting for a worker when its contact is finished is not sent") {
  FakeStore store = releasedResultLost();

  const TimeMs second_start = kStart + kMinuteMs;
  Engine second(settings(), second_start);
  REQUIRE(second.restore(store.state, second_start).isOk());
  CHECK(second.takeIntents(DeliverySlots{0, 0}, second_start).empty());  // no worker free
  OperatorRequest finish;
  finish.action = OperatorAction::kFinish;
  finish.contacts = {"a@x.test"};
  REQUIRE(second.operate("two", finish, kAdmin, second_start).isOk());
  CHECK(second.takeIntents(DeliverySlots{}, second_start + kMinuteMs).empty());
  CHECK(second.deliveriesInFlight() == 0);
  const Enrollment* finished = second.findEnrollment("two", "a@x.test");
  CHECK_FALSE(finished->sending);
  CHECK(second.extrasOf(*finished).unresolved.get(Symbol("hello")) ==
        "interrupted");  // it may have landed
}

TEST_CASE("a redelivery handed back after the contact was finished is not sent again") {
  const TimeMs second_start = kStart + kMinuteMs;
  FakeStore store = redeliveryHandedBackAfter(OperatorAction::kFinish, second_start);
  // The next start hands nothing out (no email after the contact was finished), and still
  // counts the send.
  const TimeMs third_start = kStart + 30 * kMinuteMs;
  Engine third(settings(), third_start);
  REQUIRE(third.restore(store.state, third_start).isOk());
  CHECK(third.takeIntents().empty());
  CHECK(third.deliveriesInFlight() == 0);
  CHECK(third.findEnrollment("two", "a@x.test")->status == EnrollmentStatus::kFinished);
  CHECK(third.mailboxes(third_start)[0].sent_last_hour == 1);
}

TEST_CASE("a redelivery handed back after the contact was paused is not decided again on resume") {
  const TimeMs second_start = kStart + kMinuteMs;
  FakeStore store = redeliveryHandedBackAfter(OperatorAction::kPause, second_start);
  const TimeMs third_start = kStart + kHourMs;
  Engine third(settings(), third_start);
  REQUIRE(third.restore(store.state, third_start).isOk());
  CHECK(third.takeIntents().empty());
  OperatorRequest resume;
  resume.action = OperatorAction::kResume;
  resume.contacts = {"a@x.test"};
  REQUIRE(third.operate("two", resume, kAdmin, third_start).isOk());
  third.advanceTo(third_start + kMinuteMs);
  // Never a second send by itself: the step is not_sent interrupted until a `retry`.
  CHECK(third.takeIntents().empty());
  const Enrollment* resumed = third.findEnrollment("two", "a@x.test");
  CHECK(resumed->status == EnrollmentStatus::kNotSent);
  CHECK(resumed->not_sent_reason == "interrupted");
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
  REQUIRE(first.takeIntents().size() == 1);
  store.commit(first.takeBatch());  // handed to SMTP, then the crash
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
                          intents[0].send,
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

TEST_CASE(
    "two 0m steps with 451 on the first: the contact is retried, not stuck, and the "
    "second waits for the first") {
  EngineSettings zero = settings();
  zero.sequences["two"].steps[1].wait_ms = 0;
  zero.mailboxes[0].transport = Transport::kSmtp;
  Engine engine(zero, kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  std::vector<DeliveryIntent> first = engine.takeIntents();
  REQUIRE(first.size() == 1);
  CHECK(first[0].step_index == 0);
  engine.advanceTo(kStart + kSecondMs);  // the second step is due too, but waits on the first
  CHECK(engine.takeIntents().empty());
  answer(engine, first[0], DeliveryOutcome::kFailedTemporary, "451 try later", kStart + kSecondMs);
  const Enrollment* enrollment = engine.findEnrollment("two", "a@x.test");
  CHECK(enrollment->status == EnrollmentStatus::kScheduled);
  CHECK(enrollment->step_index == 0);
  CHECK(enrollment->next_at_ms == kStart + kSecondMs + 5 * kMinuteMs);
  CHECK(enrollment->done_steps.empty());
  engine.advanceTo(kStart + 5 * kMinuteMs);
  CHECK(engine.takeIntents().empty());  // neither step before the retry is due
  engine.advanceTo(kStart + kSecondMs + 5 * kMinuteMs);
  std::vector<DeliveryIntent> retried = engine.takeIntents();
  REQUIRE(retried.size() == 1);  // the first step again, not the second
  CHECK(retried[0].step_index == 0);
  CHECK(retried[0].messageId() == first[0].messageId());
  CHECK(enrollment->status == EnrollmentStatus::kActive);
  deliverAll(engine, retried, kStart + 6 * kMinuteMs);
  engine.advanceTo(kStart + 6 * kMinuteMs);
  std::vector<DeliveryIntent> second = engine.takeIntents();
  REQUIRE(second.size() == 1);
  CHECK(second[0].step_index == 1);
  deliverAll(engine, second, kStart + 6 * kMinuteMs);
  CHECK(enrollment->status == EnrollmentStatus::kFinished);
  CHECK(enrollment->done_steps.items() == std::vector<Symbol>{"hello", "again"});
}

TEST_CASE("a bounce of step k arrives before step k+1 fires") {
  // Step k+1 (1d later) never fires while step k's result is outstanding, however long it
  // takes: the bounce that comes late still stops the contact before its next email.
  Engine engine(settings(), kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
  REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  std::vector<DeliveryIntent> hello = engine.takeIntents();
  REQUIRE(hello.size() == 1);
  for (TimeMs now : {kStart + kDayMs, kStart + 2 * kDayMs, kStart + 5 * kDayMs}) {
    engine.advanceTo(now);
    CHECK(engine.takeIntents().empty());
  }
  const Enrollment* enrollment = engine.findEnrollment("two", "a@x.test");
  CHECK(enrollment->status == EnrollmentStatus::kActive);
  CHECK(enrollment->step_index == 0);
  CHECK(engine.deliveriesInFlight() == 1);
  answer(engine, hello[0], DeliveryOutcome::kFailedPermanent, "550 no such user",
         kStart + 5 * kDayMs);
  CHECK(enrollment->status == EnrollmentStatus::kBounced);
  CHECK(enrollment->step_index == 0);
  CHECK(engine.deliveriesInFlight() == 0);
  engine.advanceTo(kStart + 10 * kDayMs);
  CHECK(engine.takeIntents().empty());
  CHECK_FALSE(engine.nextDue().has_value());
}

TEST_CASE(
    "a restart with an SMTP send released but unanswered gives not_sent interrupted; a "
    "queued unreleased one is simply due again") {
  EngineSettings smtp = settings();
  smtp.mailboxes[0].transport = Transport::kSmtp;
  FakeStore store;
  Engine first(smtp, kStart);
  ImportResult imported =
      first.upsertContacts({row("a@x.test", "A", 90), row("b@x.test", "B", 10)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  first.advanceTo(kStart);
  CHECK(first.queuedIntents() == 2);
  DeliverySlots one_smtp;
  one_smtp.smtp = 1;
  std::vector<DeliveryIntent> out = first.takeIntents(one_smtp);
  REQUIRE(out.size() == 1);
  CHECK(out[0].recipient() == "a@x.test");  // best score first
  CHECK(first.queuedIntents() == 1);
  store.commit(first.takeBatch());  // a's send handed to SMTP, b's still queued; then a crash
  REQUIRE(countProgress(store.state.progress, ProgressKind::kStepFired) == 1);

  const TimeMs restart = kStart + kHourMs;
  Engine second(smtp, restart);
  REQUIRE(second.restore(store.state, restart).isOk());
  CHECK(second.takeIntents().empty());  // neither comes back as an intent by itself
  CHECK(second.deliveriesInFlight() == 0);
  const Enrollment* a = second.findEnrollment("two", "a@x.test");
  CHECK(a->status == EnrollmentStatus::kNotSent);
  CHECK(a->not_sent_reason == "interrupted");
  CHECK(a->step_index == 0);
  const Enrollment* b = second.findEnrollment("two", "b@x.test");
  CHECK(b->status == EnrollmentStatus::kScheduled);
  CHECK(b->step_index == 0);
  CHECK(b->next_at_ms == restart);
  CHECK_FALSE(b->sending);
  WriteBatch batch = second.takeBatch();
  CHECK(countProgress(batch.progress, ProgressKind::kDeliveryFailed) == 1);  // a's, recorded
  store.commit(std::move(batch));
  second.advanceTo(restart);
  std::vector<DeliveryIntent> due = second.takeIntents();
  REQUIRE(due.size() == 1);
  CHECK(due[0].recipient() == "b@x.test");
  CHECK(due[0].step_index == 0);
  deliverAll(second, due, restart);
  CHECK(b->status == EnrollmentStatus::kScheduled);
  CHECK(b->step_index == 1);
  CHECK(a->status == EnrollmentStatus::kNotSent);
}

namespace {

const std::string kUnsubscribeSecret = "engine-test-secret-0123456789";

EngineSettings withUnsubscribeLinks() {
  EngineSettings linked = settings();
  linked.unsubscribe.url_template = "https://acme.test/u/{token}";
  linked.unsubscribe.secret = kUnsubscribeSecret;
  return linked;
}

// The unfolded value of a header in a rendered message, or "" when absent.
std::string headerOf(const std::string& message, const std::string& name) {
  std::size_t at = message.find("\n" + name + ": ");
  if (at == std::string::npos) return "";
  std::string value;
  std::size_t start = at + name.size() + 3;
  for (;;) {
    std::size_t end = message.find('\n', start);
    value += message.substr(start, end - start);
    if (end + 1 >= message.size() || (message[end + 1] != ' ' && message[end + 1] != '\t')) break;
    start = end + 1;
  }
  return value;
}

}  // namespace

TEST_CASE("List-Unsubscribe: mailto: only, or the signed HTTPS link first with One-Click") {
  for (bool linked : {false, true}) {
    CAPTURE(linked);
    Engine engine(linked ? withUnsubscribeLinks() : settings(), kStart);
    ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5)});
    REQUIRE(engine.activate("two", kAdmin, kStart).isOk());
    REQUIRE(engine.add("two", imported.keys, {}, kAdmin, kStart).isOk());
    std::vector<DeliveryIntent> intents = advanceAndDeliver(engine, kStart);
    REQUIRE(intents.size() == 1);
    const std::string mailto = "<mailto:alice@acme.test?subject=unsubscribe>";
    const std::string message = renderMessage(intents[0], "\n");
    if (!linked) {
      CHECK(headerOf(message, "List-Unsubscribe") == mailto);
      CHECK(headerOf(message, "List-Unsubscribe-Post").empty());
      continue;
    }
    std::string token = makeUnsubscribeToken(kUnsubscribeSecret, "a@x.test", "two");
    CHECK(headerOf(message, "List-Unsubscribe") ==
          "<https://acme.test/u/" + token + ">, " + mailto);
    CHECK(headerOf(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");
    std::optional<UnsubscribeTarget> target = readUnsubscribeToken(kUnsubscribeSecret, token);
    REQUIRE(target.has_value());
    CHECK(target->contact_key == "a@x.test");
    CHECK(target->sequence_id == "two");
  }
}

TEST_CASE("an email with an unsubscribe link is rebuilt byte-identically at restart") {
  FakeStore store;
  Engine first(withUnsubscribeLinks(), kStart);
  ImportResult imported = first.upsertContacts({row("a@x.test", "A", 5)});
  REQUIRE(first.activate("two", kAdmin, kStart).isOk());
  REQUIRE(first.add("two", imported.keys, {}, kAdmin, kStart).isOk());
  first.advanceTo(kStart);
  std::vector<DeliveryIntent> lost = first.takeIntents();
  REQUIRE(lost.size() == 1);
  store.commit(first.takeBatch());
  Engine second(withUnsubscribeLinks(), kStart + kHourMs);
  REQUIRE(second.restore(store.state, kStart + kHourMs).isOk());
  std::vector<DeliveryIntent> again = second.takeIntents();
  REQUIRE(again.size() == 1);
  CHECK(renderMessage(again[0], "\n") == renderMessage(lost[0], "\n"));
  CHECK(renderMessage(again[0], "\n").find("List-Unsubscribe: <https://acme.test/u/") !=
        std::string::npos);
}

TEST_CASE("a good unsubscribe token opts the contact out and finishes it where finish_on says") {
  EngineSettings linked = withUnsubscribeLinks();
  linked.sequences["two"].rules.finish_on = {"reply", "unsubscribe"};
  Sequence kept = twoEmails();
  kept.id = "kept";
  kept.rules.finish_on = {"reply"};  // an unsubscribe does not finish this one
  linked.sequences[kept.id] = kept;
  Engine engine(linked, kStart);
  ImportResult imported = engine.upsertContacts({row("a@x.test", "A", 5), row("b@x.test", "B", 6)});
  AddOptions force;
  force.force = true;  // in_other_sequence is only a warning
  for (const char* sequence : {"two", "kept"}) {
    REQUIRE(engine.activate(sequence, kAdmin, kStart).isOk());
    Result<AddResult> added = engine.add(sequence, imported.keys, force, kAdmin, kStart);
    REQUIRE(added.isOk());
    REQUIRE(added.value().added.size() == 2);
  }
  advanceAndDeliver(engine, kStart);
  engine.takeBatch();
  const std::string token_a = makeUnsubscribeToken(kUnsubscribeSecret, "a@x.test", "two");

  SUBCASE("a GET's check changes nothing") {
    Result<UnsubscribeTarget> target = engine.checkUnsubscribeToken(token_a);
    REQUIRE(target.isOk());
    CHECK(target.value().contact_key == "a@x.test");
    CHECK(engine.pendingRecords() == 0);
    CHECK_FALSE(engine.findContact("a@x.test")->emailOptOut());
  }
  SUBCASE("forged, foreign or unknown tokens change nothing") {
    std::string token_b = makeUnsubscribeToken(kUnsubscribeSecret, "b@x.test", "two");
    std::string a_named_b = encodeBase64Url("b@x.test") + token_a.substr(token_a.find('.'));
    std::string flipped = token_a;
    flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
    for (const std::string& bad :
         {a_named_b, flipped, makeUnsubscribeToken("another-secret-0123456789", "a@x.test", "two"),
          makeUnsubscribeToken(kUnsubscribeSecret, "nobody@x.test", "two"), std::string("x.y.z")}) {
      CAPTURE(bad);
      Result<EventResult> refused = engine.unsubscribeByToken(bad, kStart + kMinuteMs);
      CHECK(refused.status().code() == StatusCode::kNotFound);
      CHECK(refused.status().message() == "not a valid unsubscribe link");
      CHECK_FALSE(engine.checkUnsubscribeToken(bad).isOk());
    }
    CHECK(engine.pendingRecords() == 0);
    CHECK_FALSE(engine.findContact("a@x.test")->emailOptOut());
    CHECK_FALSE(engine.findContact("b@x.test")->emailOptOut());
    CHECK(engine.unsubscribeByToken(token_b, kStart).isOk());  // B's own token works
  }
  SUBCASE("a good token is the unsubscribe event") {
    Result<EventResult> result = engine.unsubscribeByToken(token_a, kStart + kMinuteMs);
    REQUIRE(result.isOk());
    CHECK(result.value().contact == "a@x.test");
    REQUIRE(result.value().changed.size() == 1);
    CHECK(result.value().changed[0] == std::pair<std::string, std::string>{"two", "finished"});
    CHECK(engine.findContact("a@x.test")->emailOptOut());
    CHECK(engine.findEnrollment("two", "a@x.test")->finish_reason == "unsubscribed");
    CHECK(engine.findEnrollment("kept", "a@x.test")->status == EnrollmentStatus::kScheduled);
    CHECK(engine.findEnrollment("two", "b@x.test")->status == EnrollmentStatus::kScheduled);
    CHECK(engine.pendingRecords() > 0);
    // Again: nothing more to finish, still fine.
    result = engine.unsubscribeByToken(token_a, kStart + kHourMs);
    REQUIRE(result.isOk());
    CHECK(result.value().changed.empty());
    // "kept" goes on, but its next email is not sent: the contact opted out.
    engine.advanceTo(kStart + 2 * kDayMs);
    std::vector<DeliveryIntent> later = engine.takeIntents();
    CHECK(later.size() == 2);  // b's second email in each sequence
    for (const DeliveryIntent& intent : later) CHECK(intent.recipient() == "b@x.test");
    const Enrollment* kept_a = engine.findEnrollment("kept", "a@x.test");
    CHECK(kept_a->status == EnrollmentStatus::kNotSent);
    CHECK(kept_a->not_sent_reason == "email_opt_out");
  }
  SUBCASE("no secret: no token is accepted") {
    EngineSettings unlinked = linked;
    unlinked.unsubscribe = {};
    engine.reconfigure(unlinked, kStart);
    CHECK_FALSE(engine.unsubscribeByToken(token_a, kStart).isOk());
  }
}

TEST_CASE("status --limit shows the first rows of the full order, and filters before it") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  Engine engine(settings(), kStart);
  std::vector<ContactRow> rows;
  for (int i = 0; i < 300; ++i) {
    rows.push_back(row("c" + std::to_string(i) + "@x.test", "C", static_cast<int>(random() % 5),
                       i % 3 == 0 ? "Needle Inc" : "Acme"));
  }
  ImportResult imported = engine.upsertContacts(rows);
  REQUIRE(engine.add("two", keysOf(imported), {}, kAdmin, kStart).isOk());
  OperatorRequest pause;
  pause.contacts = {"c1@x.test", "c4@x.test"};
  REQUIRE(engine.operate("two", pause, kAdmin, kStart).isOk());
  const auto contacts = [](const std::vector<StatusRow>& shown) {
    std::vector<std::string> keys;
    for (const StatusRow& shown_row : shown) keys.push_back(shown_row.contact);
    return keys;
  };
  StatusFilter all_filter;
  std::vector<StatusRow> all = engine.status("two", all_filter).value();
  REQUIRE(all.size() == 300);
  for (std::size_t i = 1; i < all.size(); ++i) {
    const bool ordered = all[i - 1].score > all[i].score ||
                         (all[i - 1].score == all[i].score && all[i - 1].contact < all[i].contact);
    REQUIRE_MESSAGE(ordered, "row ", i);
  }
  for (std::size_t limit : {1, 7, 299, 300, 301}) {
    StatusFilter filter;
    filter.limit = limit;
    std::vector<StatusRow> limited = engine.status("two", filter).value();
    std::vector<std::string> expected = contacts(all);
    expected.resize(std::min<std::size_t>(limit, expected.size()));
    CHECK(contacts(limited) == expected);
  }
  StatusFilter needle;
  needle.search = "NEEDLE";
  needle.limit = 5;
  std::vector<StatusRow> found = engine.status("two", needle).value();
  REQUIRE(found.size() == 5);
  std::vector<std::string> expected;
  for (const StatusRow& all_row : all) {
    const int index = std::stoi(all_row.contact.substr(1));
    if (index % 3 == 0 && expected.size() < 5) expected.push_back(all_row.contact);
  }
  CHECK(contacts(found) == expected);
  StatusFilter paused;
  paused.status = EnrollmentStatus::kPaused;
  paused.limit = 1;
  std::vector<StatusRow> paused_rows = engine.status("two", paused).value();
  REQUIRE(paused_rows.size() == 1);
  CHECK((paused_rows[0].contact == "c1@x.test" || paused_rows[0].contact == "c4@x.test"));
}
