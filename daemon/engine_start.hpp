// Engine start and round commit: the two steps of the daemon's life that the Runtime and the
// deterministic simulation (tests/sim/) share, so the simulation restarts and commits exactly
// as seqd does instead of a copy of it.
//
//  - startEngine(): what seqd does with a loaded store before it serves: builds the Engine at
//    `now`, restores the loaded state into it (sends fired but never answered are handed out
//    again, or counted interrupted for SMTP; engine/engine.hpp) and checks the workflows'
//    lists, which only the store knows.
//  - commitRound(): the end of every round: releases the queued sends delivery has room for
//    (their kStepFired records join the batch), takes the batch and commits it in one
//    transaction, dropping a record the store cannot hold rather than the round
//    (io/store_guard.hpp). The caller acknowledges commands and hands the released intents
//    to delivery only when the status is ok; on an error nothing may be acknowledged or
//    delivered and seqd exits (the last committed state is authoritative).
//
// Thread-safety: call on the thread that owns the Engine and commits to the Store.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "io/store.hpp"

namespace seqd {

// REQUIRES: `loaded` came from Store::load() of the store seqd commits to.
Result<std::unique_ptr<Engine>> startEngine(LoadedState loaded, EngineSettings settings,
                                            TimeMs now_ms);

struct RoundCommit {
  Status status;                        // the commit's; not ok: deliver and answer nothing
  std::vector<DeliveryIntent> intents;  // released this round: deliver once status is ok
  std::vector<std::string> dropped;     // records the store could not hold (bugs, logged)
  bool committed = false;               // false when the batch was empty (nothing written)
  double commit_seconds = 0;            // how long the commit took, when one was made
  std::optional<TimeMs> clock_ms;       // the clock reading written with it, if any
};

// Releases at most `slots` queued sends, then commits the engine's batch (with `clock_ms`
// when set: the virtual clock) unless it is empty and the store has no truncation pending.
// The sends released count against their mailboxes' limits from now_ms.
RoundCommit commitRound(Engine& engine, Store& store, DeliverySlots slots, TimeMs now_ms,
                        std::optional<TimeMs> clock_ms);

}  // namespace seqd
