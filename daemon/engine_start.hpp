// Engine start and round commit: the steps of the daemon's life that the Runtime and the
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
//  - StoreRoom and commitRoundMindingRoom(): the same round end when the store may run out of
//    room (isOutOfRoom: a full disk or LMDB map). A commit that fails so does not end seqd:
//    nothing of the round is kept (kOutOfRoom: the caller answers every command of the round
//    with the error, leaves the inbox messages unmarked, builds the engine again from the
//    store and calls StoreRoom::enter). While full, the caller takes no due step and applies
//    no inbox message; a round releases nothing and writes only when commitDue() (a change
//    was asked for, the virtual clock moved, or kStoreFullProbeMs passed: a probeWrite() when
//    there is nothing to write; when that fails the engine holds nothing uncommitted, so it is
//    kept as it is: kStillFull). The first write that succeeds ends it (kResumed).
//
// Thread-safety: call on the thread that owns the Engine and commits to the Store.
#pragma once

#include <cstdint>
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

// While the store has no room, a write is tried every this often (and with each change).
inline constexpr std::int64_t kStoreFullProbeMs = 5000;

// Whether the store is out of room, and when to try a write again. "monotonic" times are the
// caller's steady clock in ms (the Runtime's steady_clock; the simulation's clock).
class StoreRoom {
 public:
  bool full() const { return full_; }
  // The failed commit's message, while full.
  const std::string& error() const { return error_; }
  // When a round writes though nothing asked for a change, while full.
  std::int64_t probeAtMs() const { return probe_at_ms_; }
  // While full: a round writes when the engine changed since it was built again (records
  // beyond those it started with, or an enrollment changed: one restore left waiting for the
  // batch counts once in pendingRecords() however often it changes again), when `clock_moved`
  // (a virtual clock to store), or once probeAtMs() came. Always true when not full.
  bool commitDue(const Engine& engine, bool clock_moved, std::int64_t monotonic_ms) const;
  // After a commit failed for want of room and the engine was built again from the store.
  void enter(const Status& error, const Engine& rebuilt, std::int64_t monotonic_ms);
  // A probe write failed: the next one kStoreFullProbeMs later.
  void probeFailed(std::int64_t monotonic_ms) { probe_at_ms_ = monotonic_ms + kStoreFullProbeMs; }
  // A write succeeded.
  void leave() { full_ = false; }

 private:
  bool full_ = false;
  std::string error_;
  std::size_t records_ = 0;               // uncommitted records the rebuilt engine started with
  std::uint64_t enrollment_changes_ = 0;  // the rebuilt engine's enrollmentChanges()
  std::int64_t probe_at_ms_ = 0;
};

enum class RoundEnd {
  kCommitted,  // written (or nothing to write): answer and deliver
  kResumed,    // the first write since the store was full succeeded: answer; nothing released
  kNotDue,     // full, and no write due: nothing written or released; answer (nothing changed)
  kStillFull,  // full, and the probe write failed: as kNotDue (the engine held nothing to write)
  kOutOfRoom,  // refused for want of room: nothing kept; intents dropped (`round.intents` empty)
  kFailed,     // any other failure: nothing may be answered or delivered; seqd exits
};

struct RoomRound {
  RoundEnd end = RoundEnd::kCommitted;
  Status status;      // the error for kOutOfRoom and kFailed
  RoundCommit round;  // what commitRound did (nothing for kNotDue)
};

// commitRound() minding the store's room (see the top of this file): releases at most `slots`
// (none while full), commits or probes, and says how the round ended; updates `room` but for
// enter(), which the caller makes once the engine is built again.
RoomRound commitRoundMindingRoom(Engine& engine, Store& store, StoreRoom& room, DeliverySlots slots,
                                 TimeMs now_ms, std::optional<TimeMs> clock_ms,
                                 std::int64_t monotonic_ms);

}  // namespace seqd
