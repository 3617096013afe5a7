#include "daemon/engine_start.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "engine/assert.hpp"
#include "io/store_guard.hpp"
#include "io/thread_name.hpp"

namespace seqd {

namespace {

std::int64_t microsecondsBetween(std::chrono::steady_clock::time_point from,
                                 std::chrono::steady_clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace

Result<std::unique_ptr<Engine>> startEngine(LoadedState loaded, EngineSettings settings,
                                            TimeMs now_ms) {
  // Kept for the workflow check: the engine takes its own copy.
  EngineSettings checked = settings;
  auto engine = std::make_unique<Engine>(std::move(settings), now_ms);
  Status restored = engine->restore(std::move(loaded), now_ms);
  if (!restored.isOk()) return restored;
  // A workflow's list must exist: a config error, found only now that the store is read.
  restored = engine->checkWorkflowLists(checked);
  if (!restored.isOk()) return restored;
  return engine;
}

RoundCommit commitRound(Engine& engine, Store& store, DeliverySlots slots, TimeMs now_ms,
                        std::optional<TimeMs> clock_ms) {
  RoundCommit round;
  round.intents = engine.takeIntents(slots, now_ms);
  WriteBatch batch = engine.takeBatch();
  batch.clock_ms = clock_ms;
  if (!batch.empty() || store.historyTrimPending()) {
    const auto started = std::chrono::steady_clock::now();
    round.status = commitKeepingHoldable(store, batch, round.dropped);
    round.commit_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    round.commit_finished = std::chrono::system_clock::now();
    round.committed = true;
    if (round.status.isOk()) round.clock_ms = clock_ms;
  }
  engine.afterCommit(std::move(batch));  // empty or committed: its room is reused
  return round;
}

bool StoreRoom::commitDue(const Engine& engine, bool clock_moved, std::int64_t monotonic_ms) const {
  if (!full_) return true;
  if (engine.pendingRecords() > records_) return true;
  if (engine.enrollmentChanges() > enrollment_changes_) return true;
  if (clock_moved) return true;
  return monotonic_ms >= probe_at_ms_;
}

void StoreRoom::enter(const Status& error, const Engine& rebuilt, std::int64_t monotonic_ms) {
  full_ = true;
  error_ = error.message();
  records_ = rebuilt.pendingRecords();
  enrollment_changes_ = rebuilt.enrollmentChanges();
  probe_at_ms_ = monotonic_ms + kStoreFullProbeMs;
}

RoomRound commitRoundMindingRoom(Engine& engine, Store& store, StoreRoom& room, DeliverySlots slots,
                                 TimeMs now_ms, std::optional<TimeMs> clock_ms,
                                 std::int64_t monotonic_ms) {
  RoomRound result;
  if (!room.commitDue(engine, clock_ms.has_value(), monotonic_ms)) {
    result.end = RoundEnd::kNotDue;
    return result;
  }
  result.round =
      commitRound(engine, store, room.full() ? DeliverySlots{0, 0} : slots, now_ms, clock_ms);
  result.status = result.round.status;
  // Nothing to write while the store is full: a write that changes nothing tells whether
  // there is room again. When it fails, the engine holds nothing uncommitted (its batch was
  // empty, nothing was released): it stays as it is.
  if (result.status.isOk() && room.full() && !result.round.committed) {
    result.status = store.probeWrite();
    if (!result.status.isOk() && isOutOfRoom(result.status)) {
      result.end = RoundEnd::kStillFull;
      room.probeFailed(monotonic_ms);
      return result;
    }
  }
  if (!result.status.isOk()) {
    result.end = isOutOfRoom(result.status) ? RoundEnd::kOutOfRoom : RoundEnd::kFailed;
    // Their kStepFired records were not written: they are due again in the engine built
    // again from the store (kOutOfRoom), or at the next start (kFailed).
    result.round.intents.clear();
    return result;
  }
  result.end = room.full() ? RoundEnd::kResumed : RoundEnd::kCommitted;
  room.leave();
  return result;
}

// ---------------------------------------------------------------------------------------
// The pipelined round end

CommitOutcome commitTaken(Store& store, WriteBatch batch) {
  CommitOutcome outcome;
  const ThreadUsage usage_before = ThreadUsage::now();
  const auto started = std::chrono::steady_clock::now();
  outcome.status = commitKeepingHoldable(store, batch, outcome.dropped);
  outcome.commit_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  outcome.usage = ThreadUsage::now() - usage_before;
  outcome.finished = std::chrono::system_clock::now();
  outcome.history_trim_pending = store.historyTrimPending();
  outcome.spent = std::move(batch);
  return outcome;
}

ThreadCommitter::ThreadCommitter(Store& store, std::function<void()> on_done,
                                 std::chrono::milliseconds idle_after,
                                 std::function<void()> on_idle)
    : store_(store),
      on_done_(std::move(on_done)),
      idle_after_(idle_after),
      on_idle_(std::move(on_idle)),
      thread_([this] { run(); }) {}

ThreadCommitter::~ThreadCommitter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ThreadCommitter::submit(WriteBatch batch) {
  {
    std::lock_guard lock(mutex_);
    SEQD_ASSERT(!pending_ && !outcome_);
    pending_ = std::move(batch);
  }
  changed_.notify_all();
}

CommitOutcome ThreadCommitter::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return outcome_.has_value(); });
  CommitOutcome outcome = std::move(*outcome_);
  outcome_.reset();
  return outcome;
}

bool ThreadCommitter::ready() {
  std::lock_guard lock(mutex_);
  return outcome_.has_value();
}

// A batch handed over before the destructor is committed before the thread ends.
void ThreadCommitter::run() {
  nameThisThread("seqd-commit");
  std::unique_lock lock(mutex_);
  bool committed_since_idle = false;
  const auto woken = [this] { return pending_.has_value() || stopping_; };
  for (;;) {
    if (committed_since_idle && !changed_.wait_for(lock, idle_after_, woken)) {
      committed_since_idle = false;
      lock.unlock();
      store_.idle();
      if (on_idle_) on_idle_();
      lock.lock();
      continue;
    }
    changed_.wait(lock, woken);
    if (!pending_) return;
    WriteBatch batch = std::move(*pending_);
    pending_.reset();
    lock.unlock();
    CommitOutcome outcome = commitTaken(store_, std::move(batch));
    committed_since_idle = true;
    lock.lock();
    outcome_ = std::move(outcome);
    changed_.notify_all();
    if (on_done_) {
      lock.unlock();
      on_done_();
      lock.lock();
    }
  }
}

void InlineCommitter::submit(WriteBatch batch) {
  SEQD_ASSERT(!inFlight());
  pending_ = std::move(batch);
}

void InlineCommitter::commitNow() {
  if (!pending_) return;
  outcome_ = commitTaken(store_, std::move(*pending_));
  pending_.reset();
}

CommitOutcome InlineCommitter::wait() {
  commitNow();
  SEQD_ASSERT(outcome_.has_value());
  CommitOutcome outcome = std::move(*outcome_);
  outcome_.reset();
  return outcome;
}

FinishedRound RoundPipeline::finish(Engine& engine) {
  SEQD_ASSERT(in_flight_.has_value());
  InFlight flight = std::move(*in_flight_);
  in_flight_.reset();
  held_ = {0, 0};
  CommitOutcome outcome = committer_.wait();
  trim_pending_ = outcome.history_trim_pending;
  FinishedRound finished;
  finished.number = flight.number;
  finished.status = outcome.status;
  finished.round.status = outcome.status;
  finished.round.dropped = std::move(outcome.dropped);
  finished.round.committed = true;
  finished.round.commit_seconds = outcome.commit_seconds;
  finished.round.commit_usage = outcome.usage;
  finished.round.commit_finished = outcome.finished;
  if (!outcome.status.isOk()) {
    // Its kStepFired records were not written: due again in the engine built again from the
    // store (kOutOfRoom), or at the next start (kFailed).
    finished.end = isOutOfRoom(outcome.status) ? RoundEnd::kOutOfRoom : RoundEnd::kFailed;
    return finished;
  }
  finished.end = RoundEnd::kCommitted;
  finished.round.intents = std::move(flight.intents);
  finished.round.clock_ms = flight.clock_ms;
  engine.afterCommit(std::move(outcome.spent));
  return finished;
}

std::optional<FinishedRound> RoundPipeline::drain(Engine& engine) {
  if (!in_flight_) return std::nullopt;
  return finish(engine);
}

std::vector<FinishedRound> RoundPipeline::end(Engine& engine, Store& store, StoreRoom& room,
                                              DeliverySlots slots, TimeMs now_ms,
                                              std::optional<TimeMs> clock_ms,
                                              std::int64_t monotonic_ms) {
  std::vector<FinishedRound> ended;
  const std::uint64_t number = next_++;
  last_end_ = EndStats{};
  if (room.full()) {
    // No pipelining while full: nothing is in flight (a refusal drained it before the engine
    // was built again), and a probe writes on this thread.
    if (std::optional<FinishedRound> before = drain(engine)) ended.push_back(std::move(*before));
    RoomRound in_place =
        commitRoundMindingRoom(engine, store, room, slots, now_ms, clock_ms, monotonic_ms);
    trim_pending_ = store.historyTrimPending();
    ended.push_back(
        FinishedRound{number, in_place.end, in_place.status, std::move(in_place.round)});
    return ended;
  }
  slots.smtp -= std::min(slots.smtp, held_.smtp);
  slots.idempotent -= std::min(slots.idempotent, held_.idempotent);
  slots.idempotent = std::min(slots.idempotent, kIdempotentRoundMax);
  const auto taking = std::chrono::steady_clock::now();
  std::vector<DeliveryIntent> intents = engine.takeIntents(slots, now_ms);
  WriteBatch batch = engine.takeBatch();
  batch.clock_ms = clock_ms;
  const auto taken = std::chrono::steady_clock::now();
  last_end_.take_us = microsecondsBetween(taking, taken);
  last_end_.records = batch.recordCount();
  last_end_.enrollments = batch.enrollments.size();
  last_end_.progress = batch.progress.size();
  last_end_.checkpoint_rows = batch.checkpoint_rows.size();
  last_end_.governor = batch.governor.has_value();
  if (in_flight_) {
    ended.push_back(finish(engine));
    last_end_.wait_us = microsecondsBetween(taken, std::chrono::steady_clock::now());
    const FinishedRound& before = ended.back();
    if (before.end != RoundEnd::kCommitted) {
      // Decided on top of a round that is not kept: this one goes with it.
      FinishedRound refused;
      refused.number = number;
      refused.end = before.end;
      refused.status = before.status;
      refused.round.status = before.status;
      ended.push_back(std::move(refused));
      return ended;
    }
  }
  if (batch.empty() && !trim_pending_) {
    // Nothing to write: released sends add records, so there are none either.
    FinishedRound nothing;
    nothing.number = number;
    nothing.round.intents = std::move(intents);
    engine.afterCommit(std::move(batch));
    ended.push_back(std::move(nothing));
    return ended;
  }
  for (const DeliveryIntent& intent : intents) {
    ++(isIdempotent(intent.transport) ? held_.idempotent : held_.smtp);
  }
  in_flight_ = InFlight{number, std::move(intents), clock_ms};
  committer_.submit(std::move(batch));
  return ended;
}

}  // namespace seqd
