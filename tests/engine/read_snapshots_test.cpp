// Proves that the read snapshots (engine/read_snapshots.hpp) answer `contacts`, `tasks` and
// `report` as the engine's state says: contacts matched from a snapshot equal a brute-force
// reference over every contact (random queries with in_sequence, random limits, removed
// enrollments); a report's contacts needing a person equal a reference over every row and
// open task, though its snapshot holds only the rows it lists; and a snapshot keeps showing
// the instant it was taken while the engine goes on (a contact edited, a task completed, a
// contact replied), tasks made after it included.
#include "engine/read_snapshots.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "engine/fixtures.hpp"
#include "test_seed.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

// Sequence "s": an email, then a call two days later. Sequence "t": one email.
EngineSettings settings() {
  EngineSettings result;
  for (const char* id : {"s", "t"}) {
    Sequence sequence = sequenceOf(id, "alice", {"a@acme.test"});
    sequence.rules.finish_on = {"reply"};
    sequence.steps.push_back(emailStep("intro", "Hi {{first_name}}", "Hello"));
    if (std::string(id) == "s") {
      sequence.steps.push_back(callStep("call", 2 * kDayMs, "Call {{first_name}} at {{company}}"));
    }
    result.sequences[id] = sequence;
  }
  result.mailboxes = {mailboxOf("a@acme.test")};
  return result;
}

std::vector<std::string> keysOf(const std::vector<ContactRef>& contacts) {
  std::vector<std::string> keys;
  for (const auto& contact : contacts) keys.emplace_back(contact->key());
  return keys;
}

// Every delivered: the intro goes out, the call's task opens two days later.
void deliverAll(Engine& engine, TimeMs now_ms) {
  engine.advanceTo(now_ms);
  for (const DeliveryIntent& intent : engine.takeIntents()) {
    engine.onDeliveryResult(
        {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
        now_ms);
  }
}

// `count` contacts keyed key_of(0), key_of(1), ..., with the fields the sequences' templates
// name; their keys in that order.
template <typename KeyOf>
std::vector<std::string> upsertNumbered(Engine& engine, int count, const KeyOf& key_of) {
  std::vector<ContactRow> rows;
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) {
    ContactRow row;
    keys.push_back(key_of(i));
    row.fields = {{"email", keys.back()}, {"first_name", "C"}, {"company", "Co"}};
    rows.push_back(row);
  }
  REQUIRE(engine.upsertContacts(rows).keys.size() == static_cast<std::size_t>(count));
  return keys;
}

// A contact's key: every third alike with others in its first 16 bytes and more, so that
// ordering by key prefix (engine/text_prefix.hpp) must break ties on the whole key.
std::string keyOf(int i) {
  return (i % 3 == 0 ? "same-first-sixteen-bytes-" : "p") + std::to_string(i) + "@x.test";
}

}  // namespace

TEST_CASE("randomized: contacts matched from a snapshot equal a pass over every contact") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  Engine engine(settings(), kStart);
  std::vector<ContactRow> rows;
  for (int i = 0; i < 200; ++i) {
    ContactRow row;
    row.fields = {{"email", keyOf(i)},
                  {"company", "Company " + std::to_string(random() % 5)},
                  {"stage", random() % 2 == 0 ? "new" : "won"},
                  {"score", std::to_string(random() % 101)}};
    rows.push_back(row);
  }
  const std::vector<std::string> keys = engine.upsertContacts(rows).keys;
  for (const char* sequence : {"s", "t"}) {
    std::vector<std::string> picked;
    for (const std::string& key : keys) {
      if (random() % 2 == 0) picked.push_back(key);
    }
    REQUIRE(engine.add(sequence, picked, {}, kAdmin, kStart).isOk());
    OperatorRequest remove;
    remove.action = OperatorAction::kRemove;
    for (int i = 0; i < 20; ++i) remove.contacts.push_back(picked[random() % picked.size()]);
    REQUIRE(engine.operate(sequence, remove, kAdmin, kStart).isOk());
  }
  const std::vector<std::string> wheres = {
      "",
      "score>=50",
      "in_sequence=s",
      "in_sequence!=t and stage=won",
      "in_sequence=s or in_sequence=t",
      "(in_sequence=t and score<30) or company~'company 3'",
  };
  const Result<Engine::ContactSearch> everyone = engine.searchContacts(ContactQuery(), 0);
  REQUIRE(everyone.isOk());
  REQUIRE(everyone.value().contacts.size() == keys.size());
  for (int trial = 0; trial < 60; ++trial) {
    const std::string& where = wheres[random() % wheres.size()];
    const std::size_t limit = random() % 3 == 0 ? 0 : random() % 120;
    INFO("where '" << where << "' limit " << limit);
    Result<ContactQuery> query = where.empty() ? ContactQuery() : ContactQuery::parse(where);
    REQUIRE(query.isOk());
    // The reference: every contact, asked one by one, in key order.
    const ContactQuery::InSequence in_sequence = [&](const PackedContact& contact,
                                                     const std::string& sequence) {
      const Enrollment* enrollment = engine.findEnrollment(sequence, std::string(contact.key()));
      return enrollment != nullptr && enrollment->status != EnrollmentStatus::kRemoved;
    };
    std::vector<std::string> expected;
    for (const auto& contact : everyone.value().contacts) {
      if (query.value().matches(*contact, in_sequence)) expected.emplace_back(contact->key());
    }
    std::sort(expected.begin(), expected.end());
    const std::size_t matched = expected.size();
    if (limit > 0 && limit < expected.size()) expected.resize(limit);
    Result<ContactsSnapshot> snapshot = engine.contactsSnapshot(query.value(), limit);
    REQUIRE(snapshot.isOk());
    const ContactMatches matches = matchContacts(snapshot.value());
    CHECK(matches.matched == matched);
    CHECK(keysOf(matches.contacts) == expected);
  }
  Result<ContactQuery> unknown = ContactQuery::parse("in_sequence=nope");
  REQUIRE(unknown.isOk());
  CHECK(engine.contactsSnapshot(unknown.value(), 0).status().code() == StatusCode::kNotFound);
}

TEST_CASE("read snapshots show the instant they were taken, whatever changes after") {
  Engine engine(settings(), kStart);
  testing::FakeStore store;
  ContactRow row;
  row.fields = {{"email", "ada@x.test"}, {"first_name", "Ada"}, {"company", "Acme"}};
  ContactRow other;
  other.fields = {{"email", "bob@x.test"}, {"first_name", "Bob"}, {"company", "Initech"}};
  REQUIRE(engine.upsertContacts({row, other}).keys.size() == 2);
  REQUIRE(engine.add("s", {"ada@x.test"}, {}, kAdmin, kStart).isOk());
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  deliverAll(engine, kStart);
  deliverAll(engine, kStart + 2 * kDayMs);  // the call's task opens
  store.commit(engine.takeBatch());

  Result<ContactsSnapshot> contacts = engine.contactsSnapshot(ContactQuery(), 0);
  REQUIRE(contacts.isOk());
  const TasksSnapshot tasks = engine.tasksSnapshot({});
  Result<ReportSnapshot> report = engine.reportSnapshot("s", kStart + 2 * kDayMs);
  REQUIRE(report.isOk());
  REQUIRE(engine.tasks({}).size() == 1);
  const std::uint64_t task_id = engine.tasks({}).front().id;

  // Then: Ada's company changes, her task is completed, Bob is added and gets a task of his.
  ContactRow changed;
  changed.fields = {{"company", "Globex"}};
  REQUIRE(engine.setContactFields("ada@x.test", changed).isOk());
  REQUIRE(engine.finishTask(task_id, false, kAdmin, kStart + 2 * kDayMs).isOk());
  REQUIRE(engine.add("s", {"bob@x.test"}, {}, kAdmin, kStart + 2 * kDayMs).isOk());
  deliverAll(engine, kStart + 2 * kDayMs);
  deliverAll(engine, kStart + 4 * kDayMs);
  store.commit(engine.takeBatch());
  REQUIRE(engine.tasks({}, store.state.tasks).size() == 2);

  const ContactMatches matched = matchContacts(contacts.value());
  REQUIRE(matched.contacts.size() == 2);
  CHECK(matched.contacts[0]->company() == "Acme");
  // The store's copy holds Bob's task now too; the snapshot lists what was, as it was.
  const std::vector<TaskRow> rows = taskRows(tasks, store.state.tasks);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == task_id);
  CHECK(rows[0].state == "open");
  CHECK(rows[0].note == "Call Ada at Acme");
  CHECK(rows[0].contact == "ada@x.test");
  const SequenceReport before = finishReport(report.value());
  REQUIRE(before.attention.size() == 1);
  CHECK(before.attention[0].contact == "ada@x.test");
  CHECK(before.attention[0].reason == "task " + std::to_string(task_id) + " (alice)");
  CHECK(before.attention_total == 1);
  CHECK(before.totals[static_cast<std::size_t>(ReportCount::kSent)] == 1);
  // Now Ada's task is done and Bob waits on his: the engine's report says so.
  const SequenceReport now = engine.report("s", kStart + 4 * kDayMs).value();
  REQUIRE(now.attention.size() == 1);
  CHECK(now.attention[0].contact == "bob@x.test");
  CHECK(now.totals[static_cast<std::size_t>(ReportCount::kSent)] == 2);
}

// The report's snapshot holds only the rows it lists (bounced, not sent, or waiting on a
// step's task), not every row of the sequence. Random fates for 400 contacts
// (the intro delivered and the call's task open, or done; the intro failed for good or
// returned; not sent, opted out of email; paused; finished; added late and still scheduled),
// interleaved in enrollment order: the report lists the same contacts, with the same tasks, as a
// reference built from every row's status and every open task.
TEST_CASE("randomized: a report's contacts needing a person equal those of every row and task") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  Engine engine(settings(), kStart);
  constexpr int kContacts = 400;
  const std::vector<std::string> keys = upsertNumbered(
      engine, kContacts, [](int i) { return "c" + std::to_string(1000 + i) + "@x.test"; });
  std::vector<std::string> late;  // added after the first sends: still scheduled
  for (const std::string& key : keys) {
    if (random() % 6 == 0) {
      late.push_back(key);
    } else {
      REQUIRE(engine.add("s", {key}, {}, kAdmin, kStart).isOk());
    }
  }
  for (const std::string& key : keys) {  // opted out once added: not sent
    if (random() % 8 != 0) continue;
    ContactRow opt_out;
    opt_out.fields = {{"email_opt_out", "true"}};
    REQUIRE(engine.setContactFields(key, opt_out).isOk());
  }
  for (const std::string& key : keys) {  // steps due together fire best score first
    if (random() % 3 != 0) continue;
    ContactRow score;
    score.fields = {{"score", std::to_string(1 + random() % 100)}};
    REQUIRE(engine.setContactFields(key, score).isOk());
  }
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  for (const DeliveryIntent& intent : engine.takeIntents()) {
    const int fate = static_cast<int>(random() % 8);
    const DeliveryOutcome outcome = fate == 0   ? DeliveryOutcome::kFailedPermanent
                                    : fate == 1 ? DeliveryOutcome::kReturned
                                                : DeliveryOutcome::kDelivered;
    engine.onDeliveryResult(
        {intent.enrollment_id, intent.step_index, intent.send, outcome, "550 5.1.1 no such user"},
        kStart);
  }
  for (const std::string& key : keys) {
    const int fate = static_cast<int>(random() % 10);
    if (fate > 1) continue;
    OperatorRequest request;
    request.action = fate == 0 ? OperatorAction::kPause : OperatorAction::kFinish;
    request.contacts = {key};
    engine.operate("s", request, kAdmin, kStart + kMinuteMs);  // refused for some: no matter
  }
  for (const std::string& key : late) {
    REQUIRE(engine.add("s", {key}, {}, kAdmin, kStart + kDayMs).isOk());
  }
  deliverAll(engine, kStart + 2 * kDayMs + kMinuteMs);  // the calls' tasks open
  for (const TaskRow& task : engine.tasks({})) {
    if (random() % 4 == 0)
      REQUIRE(engine.finishTask(task.id, false, kAdmin, kStart + 3 * kDayMs).isOk());
  }
  const TimeMs now_ms = kStart + 3 * kDayMs;
  // The tasks were made partly in their enrollments' order, partly not (by score): the report
  // finds each task's row both ways.
  std::vector<std::pair<std::uint64_t, EnrollmentId>> made;  // each task's id, enrollment
  for (const TaskRow& task : engine.tasks({})) {
    made.emplace_back(task.id, engine.findEnrollment("s", task.contact)->id);
  }
  std::sort(made.begin(), made.end());
  std::size_t in_order = 0;
  std::size_t out_of_order = 0;
  for (std::size_t i = 1; i < made.size(); ++i) {
    ++(made[i - 1].second < made[i].second ? in_order : out_of_order);
  }
  CHECK(in_order > 10);
  CHECK(out_of_order > 10);

  // The reference: every row, and every open task.
  std::vector<std::pair<std::string, std::string>> expected;  // contact, status or task
  Result<std::vector<StatusRow>> every_row = engine.status("s", {});
  REQUIRE(every_row.isOk());
  for (const StatusRow& row : every_row.value()) {
    if (row.status == "bounced" || row.status == "not_sent")
      expected.emplace_back(row.contact, row.status);
  }
  for (const TaskRow& task : engine.tasks({})) {
    if (task.state == "open") {
      expected.emplace_back(task.contact, "task " + std::to_string(task.id) + " (alice)");
    }
  }
  std::sort(expected.begin(), expected.end());
  REQUIRE(expected.size() < kReportAttentionMax);

  const SequenceReport report = engine.report("s", now_ms).value();
  std::vector<std::pair<std::string, std::string>> listed;
  for (const ReportAttentionRow& row : report.attention) {
    listed.emplace_back(row.contact, row.status == "active" ? row.reason : row.status);
  }
  std::sort(listed.begin(), listed.end());
  CHECK(listed == expected);
  CHECK(report.attention_total == expected.size());
  // Each kind there, among rows that need no one (the snapshot's rows are not the sequence's).
  std::size_t bounced = 0, not_sent = 0, tasks = 0, others = 0;
  for (const StatusRow& row : every_row.value()) {
    bounced += row.status == "bounced" ? 1 : 0;
    not_sent += row.status == "not_sent" ? 1 : 0;
  }
  for (const auto& [contact, what] : expected) tasks += what.rfind("task ", 0) == 0 ? 1 : 0;
  others = every_row.value().size() - bounced - not_sent - tasks;
  CHECK(bounced > 0);
  CHECK(not_sent > 0);
  CHECK(tasks > 0);
  CHECK(others > 0);
}

// Past kReportAttentionMax contacts needing a person, the report lists the first that many in
// enrollment order (by contact) and counts them all; its snapshot copies only the listed rows.
TEST_CASE("a report lists the first 1,000 contacts needing a person and counts them all") {
  Engine engine(settings(), kStart);
  constexpr int kContacts = 1500;
  // Keys descend, so the order by contact is not the order of enrollment.
  const std::vector<std::string> keys = upsertNumbered(
      engine, kContacts, [](int i) { return "c" + std::to_string(10000 - i) + "@x.test"; });
  for (const std::string& key : keys) REQUIRE(engine.add("s", {key}, {}, kAdmin, kStart).isOk());
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  // Every fourth contact's intro delivered (its call two days off: needs no one yet); the
  // others' intro failed for good.
  std::vector<std::string> needing;  // in enrollment order
  for (const DeliveryIntent& intent : engine.takeIntents()) {
    const bool delivered = intent.enrollment_id % 4 == 0;
    engine.onDeliveryResult(
        {intent.enrollment_id, intent.step_index, intent.send,
         delivered ? DeliveryOutcome::kDelivered : DeliveryOutcome::kFailedPermanent,
         "550 5.1.1 no such user"},
        kStart);
    if (!delivered) needing.push_back(keys[intent.enrollment_id]);
  }
  REQUIRE(needing.size() > kReportAttentionMax);
  needing.resize(kReportAttentionMax);
  std::sort(needing.begin(), needing.end());
  const SequenceReport report = engine.report("s", kStart + kMinuteMs).value();
  CHECK(report.attention_total == kContacts - kContacts / 4);
  std::vector<std::string> listed;
  for (const ReportAttentionRow& row : report.attention) listed.push_back(row.contact);
  CHECK(listed == needing);
  Result<ReportSnapshot> snapshot = engine.reportSnapshot("s", kStart + kMinuteMs);
  REQUIRE(snapshot.isOk());
  CHECK(snapshot.value().rows.rows.size() == kReportAttentionMax);
}
