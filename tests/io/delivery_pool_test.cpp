// Proves the delivery pool's queues: it refuses intents beyond its in-flight bound, a worker
// acknowledges the idempotent deliveries of the batch it took with one push (one wakeup of the
// engine thread), and stopping returns every intent not delivered, none lost or doubled.
#include "io/delivery_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "io/maildir.hpp"
#include "temp_dir.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z

EngineSettings discardSettings(Transport transport = Transport::kDiscard) {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "root";
  sequence.mailboxes = {"alice@acme.test"};
  Step step;
  step.id = "intro";
  step.subject = "Hello {{first_name}}";
  step.body = "Hi {{first_name|there}}\n";
  sequence.steps.push_back(step);
  settings.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "alice@acme.test";
  mailbox.name = "Alice";
  mailbox.daily_limit = 1000000000;
  mailbox.hourly_limit = 1000000000;
  mailbox.transport = transport;
  settings.mailboxes = {mailbox};
  return settings;
}

// `count` discard intents out of a real Engine, as the engine thread releases them.
std::vector<DeliveryIntent> makeIntents(Engine& engine, std::size_t count) {
  std::vector<ContactRow> rows;
  for (std::size_t i = 0; i < count; ++i) {
    ContactRow row;
    row.fields = {{"email", "p" + std::to_string(i) + "@example.test"},
                  {"first_name", "Pat" + std::to_string(i)}};
    rows.push_back(std::move(row));
  }
  ImportResult imported = engine.upsertContacts(rows);
  Caller admin{"root", true};
  engine.add("s", imported.keys, {}, admin, kStart);
  engine.activate("s", admin, kStart);
  engine.advanceTo(kStart);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  REQUIRE(intents.size() == count);
  return intents;
}

// Takes results until `count` came back (or 10 s passed).
std::vector<DeliveryResult> takeResults(DeliveryPool& pool, Wakeup& wakeup, std::size_t count) {
  std::vector<DeliveryResult> results;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (results.size() < count && std::chrono::steady_clock::now() < deadline) {
    if (pool.takeResults(results) == 0) wakeup.waitFor(std::chrono::milliseconds(100));
  }
  return results;
}

}  // namespace

TEST_CASE("submit refuses intents beyond the in-flight bound and takes none of them") {
  Engine engine(discardSettings(), kStart);
  std::vector<DeliveryIntent> intents = makeIntents(engine, 12);
  Wakeup wakeup;
  DeliveryPool pool("", SmtpSettings{}, 1, 10, [&] { wakeup.notify(); });
  std::vector<DeliveryIntent> too_many(intents.begin(), intents.begin() + 11);
  CHECK_FALSE(pool.submit(too_many));
  CHECK(too_many.size() == 11);
  CHECK(pool.inFlight() == 0);

  std::vector<DeliveryIntent> ten(intents.begin(), intents.begin() + 10);
  REQUIRE(pool.submit(ten));
  CHECK(ten.empty());
  CHECK(pool.inFlight() == 10);
  std::vector<DeliveryIntent> one(intents.begin() + 10, intents.begin() + 11);
  CHECK_FALSE(pool.submit(one));  // in flight until the results are taken, delivered or not
  CHECK(one.size() == 1);

  std::vector<DeliveryResult> results = takeResults(pool, wakeup, 10);
  CHECK(results.size() == 10);
  CHECK(pool.inFlight() == 0);
  CHECK(pool.submit(one));
  CHECK(takeResults(pool, wakeup, 1).size() == 1);
}

TEST_CASE("a worker acknowledges the idempotent deliveries of its batch in one push") {
  Engine engine(discardSettings(), kStart);
  std::vector<DeliveryIntent> intents = makeIntents(engine, kWorkerBatchMax);
  std::set<EnrollmentId> submitted;
  for (const DeliveryIntent& intent : intents) submitted.insert(intent.enrollment_id);
  Wakeup wakeup;
  std::atomic<int> notified{0};
  DeliveryPool pool("", SmtpSettings{}, 1, 4096, [&] {
    notified.fetch_add(1);
    wakeup.notify();
  });
  REQUIRE(pool.submit(intents));
  std::vector<DeliveryResult> results = takeResults(pool, wakeup, kWorkerBatchMax);
  REQUIRE(results.size() == kWorkerBatchMax);
  CHECK(notified.load() == 1);  // one wakeup for the whole batch, not one per message
  std::set<EnrollmentId> delivered;
  for (const DeliveryResult& result : results) {
    CHECK(result.outcome == DeliveryOutcome::kDelivered);
    delivered.insert(result.enrollment_id);
  }
  CHECK(delivered == submitted);
}

TEST_CASE("a worker's Maildir batch is in new/ when its one push of results arrives") {
  seqd::testing::TempDir root("seqd-delivery-pool-test");
  Engine engine(discardSettings(Transport::kMaildir), kStart);
  std::vector<DeliveryIntent> intents = makeIntents(engine, kWorkerBatchMax);
  std::vector<std::string> message_ids;
  for (const DeliveryIntent& intent : intents) message_ids.push_back(intent.messageId());
  Wakeup wakeup;
  std::atomic<int> notified{0};
  DeliveryPool pool(root.path(), SmtpSettings{}, 1, 4096, [&] {
    notified.fetch_add(1);
    wakeup.notify();
  });
  REQUIRE(pool.submit(intents));
  std::vector<DeliveryResult> results = takeResults(pool, wakeup, kWorkerBatchMax);
  REQUIRE(results.size() == kWorkerBatchMax);
  CHECK(notified.load() == 1);
  const std::string new_dir = root.path() + "/alice@acme.test/new/";
  for (const DeliveryResult& result : results) {
    CHECK(result.outcome == DeliveryOutcome::kDelivered);
  }
  for (const std::string& message_id : message_ids) {
    CHECK(std::filesystem::exists(new_dir + MaildirWriter::fileNameFor(message_id)));
  }
}

TEST_CASE("stopping returns every intent not delivered: none lost, none doubled") {
  Engine engine(discardSettings(), kStart);
  std::vector<DeliveryIntent> intents = makeIntents(engine, 4000);
  std::set<EnrollmentId> submitted;
  std::map<EnrollmentId, bool> redelivery;  // every other one is handed out again
  for (std::size_t i = 0; i < intents.size(); ++i) {
    intents[i].redelivery = i % 2 == 1;
    submitted.insert(intents[i].enrollment_id);
    redelivery[intents[i].enrollment_id] = intents[i].redelivery;
  }
  Wakeup wakeup;
  DeliveryPool pool("", SmtpSettings{}, 2, 4096, [&] { wakeup.notify(); });
  REQUIRE(pool.submit(intents));
  // Stop once the workers are under way: some delivered, some in a worker's batch, the rest
  // still queued.
  std::vector<DeliveryResult> results = takeResults(pool, wakeup, 1);
  REQUIRE_FALSE(results.empty());
  pool.stopTaking();
  pool.returnQueued();
  pool.stop();
  pool.takeResults(results);
  CHECK(results.size() == submitted.size());
  std::set<EnrollmentId> answered;
  std::size_t returned = 0;
  for (const DeliveryResult& result : results) {
    CHECK(answered.insert(result.enrollment_id).second);
    if (result.outcome != DeliveryOutcome::kReturned) continue;
    ++returned;
    // The engine keeps a returned redelivery out (it may have landed before): the flag
    // comes back with it.
    CHECK(result.redelivery == redelivery.at(result.enrollment_id));
  }
  CHECK(answered == submitted);
  MESSAGE(returned << " of " << results.size() << " returned undelivered");
  CHECK(pool.inFlight() == 0);
}
