#include "daemon/engine_start.hpp"

#include <chrono>
#include <utility>

#include "io/store_guard.hpp"

namespace seqd {

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
    round.committed = true;
    if (round.status.isOk()) round.clock_ms = clock_ms;
  }
  engine.recycleBatch(std::move(batch));  // empty or committed: its room is reused
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

}  // namespace seqd
