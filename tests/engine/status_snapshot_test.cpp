// Proves that a status read from a snapshot (Engine::statusSnapshot, then selectStatusRows and
// statusRowAt on another thread) shows exactly the rows worked out one contact at a time
// (each enrollment's row as `contact show` builds it, filtered and ordered here), for random
// states, filters and limits, and that a snapshot keeps showing the instant it was taken.
#include "engine/status_snapshot.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "engine/engine.hpp"
#include "engine/fixtures.hpp"
#include "test_seed.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

EngineSettings settings() {
  EngineSettings result;
  result.schedules["office"] = officeSchedule();
  Sequence sequence = sequenceOf("s", "root", {"a@acme.test", "b@acme.test"});
  sequence.schedule = "office";
  for (const char* id : {"one", "two", "three"}) {
    sequence.steps.push_back(emailStep(id, "Hi {{first_name}}", "Hello {{company}}", kDayMs));
  }
  result.sequences[sequence.id] = sequence;
  for (const char* address : {"a@acme.test", "b@acme.test"}) {
    result.mailboxes.push_back(mailboxOf(address));
  }
  return result;
}

// As the daemon reads it: the snapshot of the filter's status alone, when it has one.
std::vector<StatusRow> fromSnapshot(const Engine& engine, const StatusFilter& filter) {
  Result<StatusSnapshot> snapshot = engine.statusSnapshot("s", {}, filter.status);
  REQUIRE(snapshot.isOk());
  if (filter.status) {  // only those rows were copied
    for (const StatusSnapshotRow& row : snapshot.value().rows) CHECK(row.status == *filter.status);
  }
  SendingCalendar calendar(snapshot.value().schedules);
  std::vector<StatusRow> rows;
  for (std::size_t index : selectStatusRows(snapshot.value(), filter)) {
    rows.push_back(statusRowAt(snapshot.value(), index, calendar));
  }
  return rows;
}

// What `status s` must show, worked out without the snapshot: each contact's row in `s` as
// Engine::enrollmentsOf builds it, kept by the filter, by score (high first) then contact key.
std::vector<StatusRow> expectedRows(const Engine& engine, const std::vector<std::string>& keys,
                                    const StatusFilter& filter) {
  std::vector<StatusRow> rows;
  const std::string needle = toLowerAscii(filter.search);
  for (const std::string& key : keys) {
    for (const StatusRow& row : engine.enrollmentsOf(key)) {
      if (row.sequence != "s") continue;
      if (filter.status && row.status != enrollmentStatusName(*filter.status)) continue;
      if (!filter.paused_reason.empty() && row.paused_reason != filter.paused_reason) continue;
      if (filter.resume_scheduled && (row.resume_at_ms != kNoTime) != *filter.resume_scheduled) {
        continue;
      }
      if (!needle.empty()) {
        const PackedContact* contact = engine.findContact(key);
        REQUIRE(contact != nullptr);
        std::string haystack =
            key + ' ' + std::string(contact->email()) + ' ' + std::string(contact->firstName()) +
            ' ' + std::string(contact->lastName()) + ' ' + std::string(contact->company());
        if (toLowerAscii(haystack).find(needle) == std::string::npos) continue;
      }
      rows.push_back(row);
    }
  }
  std::sort(rows.begin(), rows.end(), [](const StatusRow& a, const StatusRow& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.contact < b.contact;
  });
  if (filter.limit > 0 && rows.size() > filter.limit) rows.resize(filter.limit);
  return rows;
}

void checkSame(const std::vector<StatusRow>& expected, const std::vector<StatusRow>& actual) {
  REQUIRE(expected.size() == actual.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("row " << i << " contact " << expected[i].contact);
    CHECK(actual[i].contact == expected[i].contact);
    CHECK(actual[i].email == expected[i].email);
    CHECK(actual[i].score == expected[i].score);
    CHECK(actual[i].status == expected[i].status);
    CHECK(actual[i].step == expected[i].step);
    CHECK(actual[i].step_index == expected[i].step_index);
    CHECK(actual[i].next_at_ms == expected[i].next_at_ms);
    CHECK(actual[i].paused_reason == expected[i].paused_reason);
    CHECK(actual[i].resume_at_ms == expected[i].resume_at_ms);
    CHECK(actual[i].finish_reason == expected[i].finish_reason);
    CHECK(actual[i].not_sent_reason == expected[i].not_sent_reason);
    CHECK(actual[i].bounce_reason == expected[i].bounce_reason);
    CHECK(actual[i].variant == expected[i].variant);
    CHECK(actual[i].mailbox == expected[i].mailbox);
    CHECK(actual[i].owner == expected[i].owner);
  }
}

// A contact's key: every third alike with others in its first 16 bytes and more, so that
// ordering by key prefix (engine/text_prefix.hpp) must break ties on the whole key.
std::string keyOf(int i) {
  return (i % 3 == 0 ? "same-first-sixteen-bytes-" : "p") + std::to_string(i) + "@x.test";
}

}  // namespace

TEST_CASE("randomized: snapshot rows equal the rows worked out per contact, any filter and limit") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  Engine engine(settings(), kStart);
  const std::vector<std::string> zones = {"", "Europe/Paris", "Asia/Tokyo", "America/Chicago"};
  const std::vector<std::string> owners = {"", "alice", "bob"};
  std::vector<ContactRow> rows;
  const int count = 300;
  for (int i = 0; i < count; ++i) {
    ContactRow row;
    row.fields = {{"email", keyOf(i)},
                  {"first_name", "P" + std::to_string(i)},
                  {"company", "Company " + std::to_string(random() % 7)},
                  {"score", std::to_string(random() % 5 * 20)}};
    if (const std::string& zone = zones[random() % zones.size()]; !zone.empty()) {
      row.fields["timezone"] = zone;
    }
    if (const std::string& owner = owners[random() % owners.size()]; !owner.empty()) {
      row.fields["owner"] = owner;
    }
    if (random() % 10 == 0) row.fields.erase("first_name");  // not_sent: missing_variable
    rows.push_back(row);
  }
  ImportResult imported = engine.upsertContacts(rows);
  // Contacts owned by someone other than the sequence's owner are skipped (owner_mismatch).
  Result<AddResult> added = engine.add("s", imported.keys, {}, kAdmin, kStart);
  REQUIRE(added.isOk());
  const std::vector<std::string>& enrolled = added.value().added;
  REQUIRE(!enrolled.empty());
  // Before activation nothing is scheduled; after it, steps go out over a few days.
  checkSame(expectedRows(engine, imported.keys, {}), fromSnapshot(engine, {}));
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  TimeMs now_ms = kStart;
  for (int round = 0; round < 12; ++round) {
    now_ms += static_cast<TimeMs>(random() % (kDayMs / 2));
    engine.advanceTo(now_ms);
    for (const DeliveryIntent& intent : engine.takeIntents()) {
      if (random() % 4 == 0) continue;  // still out: the row shows the step of its send
      const DeliveryOutcome outcome =
          random() % 8 == 0 ? DeliveryOutcome::kFailedPermanent : DeliveryOutcome::kDelivered;
      engine.onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, outcome,
           outcome == DeliveryOutcome::kDelivered ? "" : "550 no", intent.transport, false},
          now_ms);
    }
    OperatorRequest request;
    request.action = random() % 3 == 0   ? OperatorAction::kFinish
                     : random() % 2 == 0 ? OperatorAction::kPause
                                         : OperatorAction::kResume;
    if (request.action == OperatorAction::kPause && random() % 2 == 0) {
      request.at_ms = now_ms + static_cast<TimeMs>(random() % (3 * kDayMs));
    }
    request.reason = "round " + std::to_string(round);
    // One enrolled contact among random ones, so the command is never refused as naming
    // nobody in the sequence (all 20 random picks skipped: ~1 run in 250).
    request.contacts.push_back(enrolled[random() % enrolled.size()]);
    for (int pick = 0; pick < 20; ++pick)
      request.contacts.push_back(imported.keys[random() % count]);
    REQUIRE(engine.operate("s", request, kAdmin, now_ms).isOk());
    if (random() % 3 == 0) {  // a contact's new zone moves its window
      ContactRow zone;
      zone.fields = {{"timezone", zones[1 + random() % (zones.size() - 1)]}};
      REQUIRE(engine.setContactFields(imported.keys[random() % count], zone).isOk());
    }
    for (int trial = 0; trial < 6; ++trial) {
      StatusFilter filter;
      switch (random() % 6) {
        case 0:
          filter.status = static_cast<EnrollmentStatus>(random() % 7);
          break;
        case 1:
          filter.paused_reason = random() % 2 == 0 ? "manual" : "ooo";
          break;
        case 2:
          filter.resume_scheduled = random() % 2 == 0;
          break;
        case 3:
          filter.search = random() % 2 == 0 ? "company " + std::to_string(random() % 7) : "P1";
          break;
        default:
          break;
      }
      if (random() % 2 == 0) filter.limit = 1 + random() % 40;
      INFO("round " << round << " trial " << trial);
      checkSame(expectedRows(engine, imported.keys, filter), fromSnapshot(engine, filter));
    }
  }
}

TEST_CASE("a snapshot shows the instant it was taken, whatever changes after") {
  Engine engine(settings(), kStart);
  ContactRow row;
  row.fields = {{"email", "x@x.test"}, {"first_name", "X"}, {"score", "10"}};
  ImportResult imported = engine.upsertContacts({row});
  REQUIRE(engine.add("s", imported.keys, {}, kAdmin, kStart).isOk());
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  const std::vector<StatusRow> before = engine.status("s", {}).value();
  Result<StatusSnapshot> snapshot = engine.statusSnapshot("s");
  REQUIRE(snapshot.isOk());
  ContactRow changed;
  changed.fields = {{"score", "90"}, {"email", "new@x.test"}};
  REQUIRE(engine.setContactFields("x@x.test", changed).isOk());
  OperatorRequest pause;
  pause.action = OperatorAction::kPause;
  pause.contacts = {"x@x.test"};
  REQUIRE(engine.operate("s", pause, kAdmin, kStart).isOk());
  REQUIRE(engine.status("s", {}).value()[0].status == "paused");
  SendingCalendar calendar(snapshot.value().schedules);
  std::vector<StatusRow> shown;
  for (std::size_t index : selectStatusRows(snapshot.value(), {})) {
    shown.push_back(statusRowAt(snapshot.value(), index, calendar));
  }
  checkSame(before, shown);
  CHECK(shown[0].score == 10);
  CHECK(shown[0].email == "x@x.test");
}

TEST_CASE("an unknown sequence is not found; a known one with no enrollments is empty") {
  Engine engine(settings(), kStart);
  CHECK(engine.statusSnapshot("nope").status().code() == StatusCode::kNotFound);
  Result<StatusSnapshot> empty = engine.statusSnapshot("s");
  REQUIRE(empty.isOk());
  CHECK(empty.value().rows.empty());
  CHECK(selectStatusRows(empty.value(), {}).empty());
}
