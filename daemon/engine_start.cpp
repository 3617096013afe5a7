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

}  // namespace seqd
