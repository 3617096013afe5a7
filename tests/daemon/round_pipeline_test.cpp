// Proves the pipelined round end (daemon/engine_start.hpp: RoundPipeline, ThreadCommitter) over
// a real LMDB store and a real Engine: round N's intents come back only after N's commit
// returned, while round N+1 is decided on top of it; the next round's end waits for N's
// commit; a round refused for want of room takes the round decided on top of it along; a
// drain leaves nothing in flight; a batch handed over holds no pointer into the engine
// (it is committed unchanged while the engine goes on); and the committer tells the store it
// is idle once after a burst of commits.
#include <doctest/doctest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "daemon/engine_start.hpp"
#include "daemon/fixtures.hpp"
#include "temp_dir.hpp"

using namespace seqd;
using namespace seqd::testing;
namespace json = boost::json;

namespace {

constexpr auto kBlockedLong = std::chrono::milliseconds(300);

// A store whose commits wait until the test opens the gate; counts the commits that returned.
class GateStore final : public Store {
 public:
  explicit GateStore(Store& target) : target_(target) {}
  Status commit(const WriteBatch& batch) override {
    {
      std::unique_lock lock(mutex_);
      ++entered_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return open_; });
    }
    Status status = target_.commit(batch);
    last_batch_enrollments_ = batch.enrollments.size();
    returned_.fetch_add(1);
    return status;
  }
  Status load(LoadedState& out) override { return target_.load(out); }
  Result<std::uint64_t> lastProgressSeq() override { return target_.lastProgressSeq(); }
  bool historyTrimPending() const override { return target_.historyTrimPending(); }
  Status probeWrite() override { return target_.probeWrite(); }
  void idle() override {
    idles_.fetch_add(1);
    target_.idle();
  }

  void setOpen(bool open) {
    std::lock_guard lock(mutex_);
    open_ = open;
    changed_.notify_all();
  }
  // Waits until `count` commits have started (and are held at the gate if it is shut).
  void awaitEntered(int count) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return entered_ >= count; });
  }
  int entered() {
    std::lock_guard lock(mutex_);
    return entered_;
  }
  int returned() const { return returned_.load(); }
  int idles() const { return idles_.load(); }
  std::size_t lastBatchEnrollments() const { return last_batch_enrollments_; }

 private:
  Store& target_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  int entered_ = 0;
  std::atomic<int> returned_{0};
  std::atomic<int> idles_{0};
  std::size_t last_batch_enrollments_ = 0;
};

struct Daemon {
  explicit Daemon(const std::string& dir, EngineSettings engine_settings = alphaSettings())
      : settings(std::move(engine_settings)) {
    faults = openFaultInjectingStore(dir);
    gate = std::make_unique<GateStore>(*faults);
    rebuild();
    committer = std::make_unique<ThreadCommitter>(*gate, nullptr);
    pipeline = std::make_unique<RoundPipeline>(*committer);
  }
  void rebuild() { engine = engineFromStore(*gate, kStart, settings); }
  std::vector<FinishedRound> end(TimeMs now_ms) {
    return pipeline->end(*engine, *gate, room, kSlots, now_ms, std::nullopt, now_ms);
  }
  DispatchReply run(const std::string& cmd, json::object args, TimeMs now_ms = kStart) {
    return runAsRoot(*engine, cmd, std::move(args), now_ms);
  }
  void importContacts(int count) {
    json::array rows;
    for (int i = 0; i < count; ++i) {
      rows.push_back(
          json::object{{"fields", json::object{{"email", "c" + std::to_string(i) + "@example.test"},
                                               {"first_name", "C"}}}});
    }
    REQUIRE(run("import", json::object{{"rows", rows}}).ok);
  }
  EngineSettings settings;
  std::unique_ptr<FaultInjectingStore> faults;
  std::unique_ptr<GateStore> gate;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ThreadCommitter> committer;
  std::unique_ptr<RoundPipeline> pipeline;
  StoreRoom room;
};

}  // namespace

TEST_CASE("round N's intents are released only after N's commit returned") {
  seqd::testing::TempDir dir("seqd-round-pipeline");
  Daemon seqd(dir.path());
  seqd.importContacts(2);
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}).ok);
  std::vector<FinishedRound> first = seqd.end(kStart);  // nothing in flight before it
  REQUIRE(first.size() == 0);
  REQUIRE(seqd.pipeline->drain(*seqd.engine)->end == RoundEnd::kCommitted);

  // Round N: a send decided and released into the batch; its commit is held at the gate.
  seqd.gate->setOpen(false);
  REQUIRE(seqd.run("add", addToAlpha("c0@example.test")).ok);
  seqd.engine->advanceTo(kStart);
  const std::uint64_t round_n = seqd.pipeline->current();
  const int entered = seqd.gate->entered();
  std::vector<FinishedRound> ended = seqd.end(kStart);
  CHECK(ended.empty());  // in flight: nothing of it comes back
  CHECK(seqd.pipeline->inFlight());
  CHECK(seqd.pipeline->held().idempotent == 1);  // its send holds a delivery slot
  seqd.gate->awaitEntered(entered + 1);
  const int returned_before = seqd.gate->returned();

  // Round N+1 is decided on top of it (the engine is free while N is written)...
  REQUIRE(seqd.run("add", addToAlpha("c1@example.test")).ok);
  seqd.engine->advanceTo(kStart + 1);
  // ...and its end waits for N's commit: it does not return while the gate is shut.
  std::atomic<std::chrono::steady_clock::time_point> called{};
  auto next = std::async(std::launch::async, [&] {
    called = std::chrono::steady_clock::now();
    return seqd.end(kStart + 1);
  });
  CHECK(next.wait_for(kBlockedLong) == std::future_status::timeout);
  CHECK(seqd.gate->returned() == returned_before);
  const auto opened = std::chrono::steady_clock::now();
  seqd.gate->setOpen(true);
  std::vector<FinishedRound> after = next.get();
  // For the lateness trace: N+1's end waited for N's commit, from when it had taken its batch
  // until the gate opened (the thread may have started a little after wait_for() did: its wait
  // is counted from its own start, less the take, less kCallSlack for the call itself), and
  // its batch holds the send's progress record and its enrollment's snapshot.
  const RoundPipeline::EndStats& stats = seqd.pipeline->lastEnd();
  constexpr std::int64_t kCallSlackUs = 20000;
  const std::int64_t gate_shut_us =
      std::chrono::duration_cast<std::chrono::microseconds>(opened - called.load()).count();
  CHECK(gate_shut_us > 0);
  CHECK(stats.wait_us + stats.take_us + kCallSlackUs >= gate_shut_us);
  CHECK(stats.take_us < stats.wait_us);
  CHECK(stats.progress == 1);
  CHECK(stats.enrollments == 1);
  CHECK(stats.records >= stats.progress + stats.enrollments);
  CHECK(stats.checkpoint_rows == 0);
  // N came back with its send, after its commit returned; N+1 is in flight now.
  REQUIRE(after.size() == 1);
  CHECK(seqd.gate->returned() > returned_before);
  CHECK(after[0].number == round_n);
  CHECK(after[0].end == RoundEnd::kCommitted);
  REQUIRE(after[0].round.intents.size() == 1);
  CHECK(after[0].round.intents[0].contact->key() == "c0@example.test");
  CHECK(seqd.pipeline->inFlight());
  std::optional<FinishedRound> last = seqd.pipeline->drain(*seqd.engine);
  REQUIRE(last.has_value());
  CHECK(last->number == round_n + 1);
  REQUIRE(last->round.intents.size() == 1);
  CHECK(last->round.intents[0].contact->key() == "c1@example.test");
  CHECK_FALSE(seqd.pipeline->inFlight());
  CHECK_FALSE(seqd.pipeline->drain(*seqd.engine).has_value());
  CHECK(seqd.pipeline->held().idempotent == 0);

  // What was answered is what is stored: an engine built from the store has both sends out.
  seqd.rebuild();
  CHECK(seqd.engine->findEnrollment("alpha", "c0@example.test") != nullptr);
  CHECK(seqd.engine->findEnrollment("alpha", "c1@example.test") != nullptr);
}

// For the lateness trace: lastEnd() says whether the batch a round took carries a snapshot of
// the send limits (written once the log grew by governor_snapshot_records_min records, and by
// as many as the limits remember: here two per send, its mailbox's and its domain's).
TEST_CASE("a round's end says whether its batch carries a snapshot of the send limits") {
  seqd::testing::TempDir dir("seqd-round-pipeline");
  EngineSettings settings = alphaSettings();
  settings.governor_snapshot_records_min = 1;
  Daemon seqd(dir.path(), settings);
  seqd.importContacts(1);
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}).ok);
  seqd.end(kStart);
  seqd.pipeline->drain(*seqd.engine);
  CHECK_FALSE(seqd.pipeline->lastEnd().governor);  // no send logged yet

  REQUIRE(seqd.run("add", addToAlpha("c0@example.test")).ok);
  seqd.engine->advanceTo(kStart);
  seqd.end(kStart);
  CHECK(seqd.pipeline->lastEnd().progress == 1);
  CHECK_FALSE(seqd.pipeline->lastEnd().governor);  // one record; the limits remember two
  std::optional<FinishedRound> fired = seqd.pipeline->drain(*seqd.engine);
  REQUIRE(fired.has_value());
  REQUIRE(fired->round.intents.size() == 1);
  const DeliveryIntent& intent = fired->round.intents[0];
  seqd.engine->onDeliveryResult(
      {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
      kStart + 1);
  seqd.end(kStart + 1);
  CHECK(seqd.pipeline->lastEnd().progress == 1);
  CHECK(seqd.pipeline->lastEnd().governor);  // its result: the log grew by two
  seqd.pipeline->drain(*seqd.engine);
  seqd.end(kStart + 2);
  CHECK_FALSE(seqd.pipeline->lastEnd().governor);  // nothing logged since
  seqd.pipeline->drain(*seqd.engine);
}

TEST_CASE("a round refused for want of room takes the round decided on top of it along") {
  seqd::testing::TempDir dir("seqd-round-pipeline");
  Daemon seqd(dir.path());
  seqd.importContacts(2);
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}).ok);
  seqd.end(kStart);
  seqd.pipeline->drain(*seqd.engine);

  seqd.gate->setOpen(false);
  REQUIRE(seqd.run("add", addToAlpha("c0@example.test")).ok);
  seqd.engine->advanceTo(kStart);
  const std::uint64_t round_n = seqd.pipeline->current();
  const int entered = seqd.gate->entered();
  REQUIRE(seqd.end(kStart).empty());
  seqd.gate->awaitEntered(entered + 1);
  seqd.faults->fillUp(OutOfRoom::kDisk);  // before N's commit reaches the disk
  seqd.gate->setOpen(true);
  REQUIRE(seqd.run("add", addToAlpha("c1@example.test")).ok);
  seqd.engine->advanceTo(kStart + 1);
  std::vector<FinishedRound> refused = seqd.end(kStart + 1);
  REQUIRE(refused.size() == 2);
  CHECK(refused[0].number == round_n);
  CHECK(refused[1].number == round_n + 1);
  for (const FinishedRound& round : refused) {
    CHECK(round.end == RoundEnd::kOutOfRoom);
    CHECK(isOutOfRoom(round.status));
    CHECK(round.round.intents.empty());
  }
  CHECK_FALSE(seqd.pipeline->inFlight());
  CHECK(seqd.pipeline->held().idempotent == 0);
  // Nothing of either is stored.
  seqd.rebuild();
  CHECK(seqd.engine->findEnrollment("alpha", "c0@example.test") == nullptr);
  CHECK(seqd.engine->findEnrollment("alpha", "c1@example.test") == nullptr);
  seqd.room.enter(refused[0].status, *seqd.engine, kStart + 1);

  // While full there is no pipelining: a round ends in place, and resumes once there is room.
  seqd.faults->makeRoom();
  std::vector<FinishedRound> resumed = seqd.end(seqd.room.probeAtMs());
  REQUIRE(resumed.size() == 1);
  CHECK(resumed[0].end == RoundEnd::kResumed);
  CHECK_FALSE(seqd.pipeline->inFlight());
}

TEST_CASE("a batch in flight is committed as taken while the engine changes") {
  seqd::testing::TempDir dir("seqd-round-pipeline");
  Daemon seqd(dir.path());
  seqd.importContacts(40);
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}).ok);
  seqd.end(kStart);
  seqd.pipeline->drain(*seqd.engine);
  seqd.gate->setOpen(false);
  json::array half;
  for (int i = 0; i < 20; ++i)
    half.push_back(json::value("c" + std::to_string(i) + "@example.test"));
  REQUIRE(seqd.run("add", json::object{{"sequence", "alpha"}, {"contacts", half}}).ok);
  const int entered = seqd.gate->entered();
  REQUIRE(seqd.end(kStart).empty());
  CHECK(seqd.pipeline->lastEnd().enrollments == 20);
  CHECK(seqd.pipeline->lastEnd().wait_us == 0);  // nothing was in flight
  seqd.gate->awaitEntered(entered + 1);
  // The engine changes the same enrollments again while the batch waits.
  REQUIRE(seqd.run("pause", json::object{{"sequence", "alpha"}, {"contacts", half}}).ok);
  seqd.gate->setOpen(true);
  std::optional<FinishedRound> done = seqd.pipeline->drain(*seqd.engine);
  REQUIRE(done.has_value());
  CHECK(done->end == RoundEnd::kCommitted);
  CHECK(seqd.gate->lastBatchEnrollments() == 20);
  // Stored as taken: added and scheduled, not the pause decided after.
  seqd.rebuild();
  for (int i = 0; i < 20; ++i) {
    const Enrollment* enrollment =
        seqd.engine->findEnrollment("alpha", "c" + std::to_string(i) + "@example.test");
    REQUIRE(enrollment != nullptr);
    CHECK(enrollment->status == EnrollmentStatus::kScheduled);
  }
}

TEST_CASE("the committer calls the store's idle() once when no batch came for a while after one") {
  seqd::testing::TempDir dir("seqd-round-pipeline");
  std::unique_ptr<FaultInjectingStore> store = openFaultInjectingStore(dir.path());
  GateStore gate(*store);
  constexpr auto kIdleAfter = std::chrono::milliseconds(150);
  ThreadCommitter committer(gate, nullptr, kIdleAfter);
  const auto commitOne = [&](std::uint64_t seq) {
    WriteBatch batch;
    ProgressRecord record;
    record.seq = seq;
    record.kind = ProgressKind::kStepFired;
    record.at_ms = kStart;
    batch.progress.push_back(record);
    committer.submit(std::move(batch));
    REQUIRE(committer.wait().status.isOk());
  };
  const auto awaitIdles = [&](int count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (gate.idles() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return gate.idles();
  };
  // Nothing committed yet: nothing to be idle after.
  std::this_thread::sleep_for(kIdleAfter * 2);
  CHECK(gate.idles() == 0);
  // Commits one right after the other: not idle between them.
  for (std::uint64_t seq = 1; seq <= 5; ++seq) commitOne(seq);
  CHECK(gate.idles() == 0);
  // Once they stop: one call, however long it stays quiet.
  CHECK(awaitIdles(1) == 1);
  std::this_thread::sleep_for(kIdleAfter * 3);
  CHECK(gate.idles() == 1);
  // The next commit starts it again.
  commitOne(6);
  CHECK(awaitIdles(2) == 2);
}
