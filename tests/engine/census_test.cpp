// Proves that the census counters (engine/census.hpp) kept as enrollments change equal a full
// pass over every enrollment, overall and per sequence, after every one of many random
// operations (adds, sends and their results, pauses, resumes, finishes, removes, retries,
// events, activations, moves of the clock), before and after each batch is taken, after a
// restart from what was committed and after reloads that drop and add steps.
#include "engine/census.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "engine/fixtures.hpp"
#include "test_seed.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

const std::vector<std::string> kSequences = {"s", "t"};

EngineSettings settings(bool edited) {
  EngineSettings result;
  result.schedules["office"] = officeSchedule();
  for (const std::string& id : kSequences) {
    Sequence sequence = sequenceOf(id, "root", {"a@acme.test"});
    if (id == "s") sequence.schedule = "office";
    std::vector<const char*> steps = {"one", "two", "three"};
    if (edited) steps = {"one", "three", "four"};  // "two" dropped, "four" added
    for (const char* step_id : steps) {
      // Due times off the second.
      const DurationMs wait_ms = (id == "s" ? kDayMs : 7 * kHourMs) + 1234;
      sequence.steps.push_back(emailStep(step_id, "Hi {{first_name}}", "Hello", wait_ms));
    }
    result.sequences[sequence.id] = sequence;
  }
  result.mailboxes.push_back(mailboxOf("a@acme.test", "A", 40, 15));
  return result;
}

// The reference: one pass over every enrollment, by the rule census.hpp states.
Engine::Census fullPass(const Engine& engine, TimeMs now_ms, const std::string& sequence_id) {
  Engine::Census census;
  const std::int64_t now_s = now_ms >= 0 ? now_ms / 1000 : -((-now_ms + 999) / 1000);
  for (EnrollmentId id = 0; id < engine.enrollmentCount(); ++id) {
    const Enrollment& enrollment = engine.enrollmentAt(id);
    if (!sequence_id.empty() && enrollment.sequence_id != sequence_id) continue;
    ++census.by_status[static_cast<std::size_t>(enrollment.status)];
    const bool running = enrollment.status == EnrollmentStatus::kScheduled ||
                         enrollment.status == EnrollmentStatus::kActive;
    if (running && enrollment.next_at_ms != kNoTime && enrollment.next_at_ms <= now_s * 1000) {
      ++census.due;
    }
  }
  return census;
}

// What the checks saw, so the test fails if its operations stop reaching some states.
StatusCounts g_statuses_seen{};
std::uint64_t g_due_seen = 0;

void checkCensus(const Engine& engine, TimeMs now_ms, const std::string& where) {
  INFO(where);
  const Engine::Census expected = fullPass(engine, now_ms, "");
  for (std::size_t status = 0; status < kEnrollmentStatusCount; ++status) {
    g_statuses_seen[status] = std::max(g_statuses_seen[status], expected.by_status[status]);
  }
  g_due_seen = std::max(g_due_seen, expected.due);
  const Engine::Census counted = engine.census(now_ms);
  for (std::size_t status = 0; status < kEnrollmentStatusCount; ++status) {
    INFO("status " << enrollmentStatusName(static_cast<EnrollmentStatus>(status)));
    CHECK(counted.by_status[status] == expected.by_status[status]);
  }
  CHECK(counted.due == expected.due);
  for (const std::string& sequence : kSequences) {
    const Engine::Census of_sequence = fullPass(engine, now_ms, sequence);
    CHECK(engine.sequenceCensus(sequence) == of_sequence.by_status);
  }
}

struct Harness {
  std::mt19937_64 random;
  testing::FakeStore store;
  std::unique_ptr<Engine> engine;
  std::vector<std::string> keys;
  std::vector<DeliveryIntent> out;  // released, no result yet
  TimeMs now_ms = kStart;
  bool edited = false;

  explicit Harness(std::uint64_t seed)
      : random(seed), engine(std::make_unique<Engine>(settings(false), kStart)) {}

  const std::string& someKey() { return keys[random() % keys.size()]; }
  const std::string& someSequence() { return kSequences[random() % kSequences.size()]; }

  void commit() {
    for (DeliveryIntent& intent : engine->takeIntents(DeliverySlots(), now_ms)) {
      out.push_back(std::move(intent));
    }
    store.commit(engine->takeBatch());
  }

  void deliverSome() {
    std::shuffle(out.begin(), out.end(), random);
    const std::size_t count = out.empty() ? 0 : random() % (out.size() + 1);
    for (std::size_t i = 0; i < count; ++i) {
      const DeliveryIntent intent = out.back();
      out.pop_back();
      const std::uint64_t pick = random() % 10;
      const DeliveryOutcome outcome = pick < 6   ? DeliveryOutcome::kDelivered
                                      : pick < 8 ? DeliveryOutcome::kFailedTemporary
                                                 : DeliveryOutcome::kFailedPermanent;
      engine->onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, outcome,
           outcome == DeliveryOutcome::kDelivered ? "" : "5xx no", intent.transport, false},
          now_ms);
    }
  }

  void operate() {
    OperatorRequest request;
    const std::uint64_t pick = random() % 6;
    request.action = pick == 0   ? OperatorAction::kFinish
                     : pick == 1 ? OperatorAction::kRemove
                     : pick == 2 ? OperatorAction::kRetry
                     : pick == 3 ? OperatorAction::kResume
                                 : OperatorAction::kPause;
    if (request.action == OperatorAction::kPause && random() % 2 == 0) {
      request.at_ms = now_ms + static_cast<TimeMs>(random() % (2 * kDayMs));
    }
    for (int i = 0; i < 6; ++i) request.contacts.push_back(someKey());
    (void)engine->operate(someSequence(), request, kAdmin, now_ms);
  }

  void event() {
    ContactEvent event;
    const std::uint64_t pick = random() % 4;
    event.kind = pick == 0   ? EventKind::kReply
                 : pick == 1 ? EventKind::kBounce
                 : pick == 2 ? EventKind::kOoo
                             : EventKind::kMeetingBooked;
    event.contact = someKey();
    if (random() % 2 == 0) event.sequence_id = someSequence();
    (void)engine->applyEvent(event, now_ms);
  }

  void add() {
    std::vector<std::string> picked;
    for (int i = 0; i < 8; ++i) picked.push_back(someKey());
    AddOptions options;
    options.force = random() % 2 == 0;
    if (random() % 4 == 0) options.at_ms = now_ms + static_cast<TimeMs>(random() % kDayMs);
    (void)engine->add(someSequence(), picked, options, kAdmin, now_ms);
  }

  void restart() {
    commit();
    out.clear();  // what was out counts as interrupted, or is handed out again
    engine = std::make_unique<Engine>(settings(edited), now_ms);
    REQUIRE(engine->restore(store.state, now_ms).isOk());
  }

  void step(int operation) {
    switch (random() % 10) {
      case 0:
        add();
        break;
      case 1:
        operate();
        break;
      case 2:
        event();
        break;
      case 3: {
        const std::string& sequence = someSequence();
        if (random() % 3 == 0) {
          (void)engine->deactivate(sequence, kAdmin);
        } else {
          (void)engine->activate(sequence, kAdmin, now_ms);
        }
        break;
      }
      case 4:
        deliverSome();
        break;
      case 5:
        if (random() % 4 == 0) {
          restart();
        } else if (random() % 3 == 0) {
          edited = !edited;
          engine->reconfigure(settings(edited), now_ms);
        }
        break;
      default:
        now_ms += static_cast<TimeMs>(random() % (6 * kHourMs));
        engine->advanceTo(now_ms);
        break;
    }
    checkCensus(*engine, now_ms, "operation " + std::to_string(operation) + ", before commit");
    if (random() % 2 == 0) {
      commit();
      checkCensus(*engine, now_ms, "operation " + std::to_string(operation) + ", committed");
    }
  }
};

}  // namespace

TEST_CASE("randomized: the census counters equal a full pass, across restarts and reloads") {
  const std::uint64_t seed = testSeed();
  Harness harness(seed);
  std::vector<ContactRow> rows;
  for (int i = 0; i < 120; ++i) {
    ContactRow row;
    row.fields = {{"email", "p" + std::to_string(i) + "@x" + std::to_string(i % 9) + ".test"},
                  {"first_name", "P" + std::to_string(i)},
                  {"score", std::to_string(harness.random() % 101)}};
    if (i % 13 == 0) row.fields.erase("first_name");  // not_sent: missing_variable
    rows.push_back(row);
  }
  harness.keys = harness.engine->upsertContacts(rows).keys;
  checkCensus(*harness.engine, harness.now_ms, "empty");
  for (int operation = 0; operation < 600; ++operation) harness.step(operation);
  harness.restart();
  checkCensus(*harness.engine, harness.now_ms, "the last restart");
  // Every status was reached, and steps were due (waiting for the window or the limits).
  for (std::size_t status = 0; status < kEnrollmentStatusCount; ++status) {
    INFO("status " << enrollmentStatusName(static_cast<EnrollmentStatus>(status)));
    CHECK(g_statuses_seen[status] > 0);
  }
  CHECK(g_due_seen > 0);
}

TEST_CASE("due counts at whole seconds, and folds seconds passed once") {
  EnrollmentCensus census;
  const Symbol sequence("s");
  census.update(0, sequence, EnrollmentStatus::kScheduled, 10'500);
  census.update(1, sequence, EnrollmentStatus::kScheduled, 11'000);
  census.update(2, sequence, EnrollmentStatus::kPaused, 5'000);  // not running: never due
  census.update(3, sequence, EnrollmentStatus::kActive, kNoTime);
  CHECK(census.dueAt(10'999) == 0);  // 10.5 s is after 10 s, the last whole second
  CHECK(census.dueAt(11'000) == 2);
  census.update(0, sequence, EnrollmentStatus::kFinished, kNoTime);  // leaves the folded count
  CHECK(census.dueAt(11'500) == 1);
  census.update(3, sequence, EnrollmentStatus::kActive, 100'000'000);
  CHECK(census.dueAt(99'999'999) == 1);
  CHECK(census.dueAt(100'000'000) == 2);
  CHECK(census.dueAt(50'000) == 2);  // asked earlier than before: as of the last census
  CHECK(census.byStatus()[static_cast<std::size_t>(EnrollmentStatus::kScheduled)] == 1);
  CHECK(census.byStatus()[static_cast<std::size_t>(EnrollmentStatus::kActive)] == 1);
  CHECK(census.ofSequence(Symbol("s"))[static_cast<std::size_t>(EnrollmentStatus::kFinished)] == 1);
  CHECK(census.ofSequence(Symbol("other")) == StatusCounts{});
}

// Due seconds are kept as 4 bytes from a base (the first one counted, less 2^31): seconds
// more than ~68 years from it are kept aside, and count, move and leave as the others do.
TEST_CASE("due seconds decades from the first counted are counted too") {
  EnrollmentCensus census;
  const Symbol sequence("s");
  constexpr TimeMs kYear2026 = 1'796'000'000'000;
  constexpr TimeMs kYear2300 = 10'413'000'000'000;  // ~274 years on: past the range
  constexpr TimeMs kYear1900 = -2'208'000'000'000;  // ~126 years before: past it too
  census.update(0, sequence, EnrollmentStatus::kScheduled, kYear2026);  // sets the base
  census.update(1, sequence, EnrollmentStatus::kScheduled, kYear2300);
  census.update(2, sequence, EnrollmentStatus::kScheduled, kYear1900);
  census.update(3, sequence, EnrollmentStatus::kActive, kYear2026 + 1'000);
  CHECK(census.dueAt(kYear1900) == 1);
  CHECK(census.dueAt(kYear2026) == 2);
  CHECK(census.dueAt(kYear2026 + 1'000) == 3);
  // The far one moves near, and a near one far; then one of them stops.
  census.update(1, sequence, EnrollmentStatus::kScheduled, kYear2026 + 5'000);
  census.update(0, sequence, EnrollmentStatus::kScheduled, kYear2300 + 1'000);
  CHECK(census.dueAt(kYear2026 + 5'000) == 3);
  census.update(2, sequence, EnrollmentStatus::kFinished, kNoTime);
  CHECK(census.dueAt(kYear2300) == 2);
  CHECK(census.dueAt(kYear2300 + 1'000) == 3);
  census.update(0, sequence, EnrollmentStatus::kFinished, kNoTime);
  CHECK(census.dueAt(kYear2300 + 2'000) == 2);
  CHECK(census.byStatus()[static_cast<std::size_t>(EnrollmentStatus::kFinished)] == 2);
}
