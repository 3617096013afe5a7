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
//  - Committer and RoundPipeline: the round end pipelined one round deep. The engine thread
//    releases the round's intents and takes its batch (a value: nothing in it points into
//    the engine, Symbols are read-only from any thread: engine/symbol.hpp); a Committer
//    encodes and commits it in ONE transaction (commitTaken) while the engine thread decides
//    the next round. At most one batch is in flight: before round N+1's batch is handed over,
//    round N's outcome is known (RoundPipeline::end waits for it). Nothing of a round is
//    released before its commit returned ok: the pipeline hands its intents back with its
//    outcome, and the caller answers what it tagged with that round's number then. When
//    round N fails for want of room, round N+1 (decided on top of it) is refused too: both
//    come back kOutOfRoom. While the store is full there is no pipelining: end() drains and
//    runs commitRoundMindingRoom() in place. Every other write (the shutdown checkpoint, a
//    probe) is made only with nothing in flight (drain() first): LMDB has one writer.
//
// Thread-safety: call on the thread that owns the Engine and commits to the Store; with a
// RoundPipeline, its Committer's commits run on the Committer's thread (ThreadCommitter: its
// own; InlineCommitter: the caller's, when the caller says), and the engine thread writes to
// the Store only while nothing is in flight.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "io/lateness_trace.hpp"
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
  ThreadUsage commit_usage;             // what it cost the thread that made it (traces)
  std::chrono::system_clock::time_point commit_finished{};  // when it returned (traces)
  std::optional<TimeMs> clock_ms;  // the clock reading written with it, if any
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

// ---------------------------------------------------------------------------------------
// The pipelined round end

// What a commit of a taken batch came to: run by a Committer, read by the engine thread.
struct CommitOutcome {
  Status status;
  std::vector<std::string> dropped;  // records the store could not hold (bugs, logged)
  double commit_seconds = 0;
  ThreadUsage usage;  // the committing thread's CPU, faults and switches during the commit
  std::chrono::system_clock::time_point finished{};  // when the commit returned
  bool history_trim_pending = false;  // Store::historyTrimPending() after it, read there
  WriteBatch spent;                   // handed back for Engine::afterCommit
};

// Encodes and commits `batch` in one transaction (commitKeepingHoldable), on the thread that
// commits; reads the store's historyTrimPending() there too.
CommitOutcome commitTaken(Store& store, WriteBatch batch);

// Where a taken batch is committed. One batch at a time: submit(), then wait() for its
// outcome before the next submit().
class Committer {
 public:
  virtual ~Committer() = default;
  // Engine thread. REQUIRES: nothing in flight.
  virtual void submit(WriteBatch batch) = 0;
  // Engine thread: blocks until the batch in flight is committed (or failed) and returns the
  // outcome. REQUIRES: a batch in flight.
  virtual CommitOutcome wait() = 0;
};

// seqd's: one thread that commits each batch handed to it, then calls `on_done` (the engine
// thread's wakeup). When no batch has come for `idle_after` since its last commit, it calls
// the store's idle() and then `on_idle` when given (once: the next call waits for the next
// commit), so that what a burst of commits left resident goes once the burst is over (seqd's
// `on_idle` drops the contact text file's pages: io/contact_text_file.hpp). The destructor
// waits for a commit in flight and joins the thread.
class ThreadCommitter final : public Committer {
 public:
  static constexpr std::chrono::milliseconds kIdleAfterDefault{200};

  ThreadCommitter(Store& store, std::function<void()> on_done,
                  std::chrono::milliseconds idle_after = kIdleAfterDefault,
                  std::function<void()> on_idle = {});
  ~ThreadCommitter() override;
  ThreadCommitter(const ThreadCommitter&) = delete;
  ThreadCommitter& operator=(const ThreadCommitter&) = delete;
  void submit(WriteBatch batch) override;
  CommitOutcome wait() override;
  // True when the batch in flight is done (wait() returns at once).
  bool ready();

 private:
  void run();
  Store& store_;
  std::function<void()> on_done_;
  std::chrono::milliseconds idle_after_;
  std::function<void()> on_idle_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<WriteBatch> pending_;     // handed over, not yet taken by the thread
  std::optional<CommitOutcome> outcome_;  // done, not yet taken by wait()
  bool stopping_ = false;
  std::thread thread_;
};

// The simulation's and the tests': the batch waits in it until commitNow() (any moment the
// caller picks between submit() and wait()), or until wait(); dropInFlight() forgets it (a
// crash before it landed). Single-threaded.
class InlineCommitter final : public Committer {
 public:
  explicit InlineCommitter(Store& store) : store_(store) {}
  void submit(WriteBatch batch) override;
  CommitOutcome wait() override;
  bool inFlight() const { return pending_.has_value() || outcome_.has_value(); }
  // Commits the batch handed over, if not done yet.
  void commitNow();
  bool committed() const { return outcome_.has_value(); }
  void dropInFlight() {
    pending_.reset();
    outcome_.reset();
  }

 private:
  Store& store_;
  std::optional<WriteBatch> pending_;
  std::optional<CommitOutcome> outcome_;
};

// One round's end, as known: which round (RoundPipeline::end numbers them from 1), how it
// ended, and for kCommitted and kResumed the intents to deliver now.
struct FinishedRound {
  std::uint64_t number = 0;
  RoundEnd end = RoundEnd::kCommitted;
  Status status;      // the error for kOutOfRoom and kFailed
  RoundCommit round;  // intents (kCommitted only), dropped records, commit time, clock
};

// Idempotent (Maildir, discard) sends one round releases, at most: a round's commit and its
// records stay a few milliseconds long however many are due.
inline constexpr std::size_t kIdempotentRoundMax = 4096;

class RoundPipeline {
 public:
  explicit RoundPipeline(Committer& committer) : committer_(committer) {}

  // The number end() gives the round now being decided: tag what it must answer with it.
  std::uint64_t current() const { return next_; }
  bool inFlight() const { return in_flight_.has_value(); }
  // Sends taken into the round in flight, not yet handed back: they hold delivery slots.
  DeliverySlots held() const { return held_; }
  // Store::historyTrimPending() as of the last commit whose outcome is known.
  bool historyTrimPending() const { return trim_pending_; }

  // Ends round current(): releases at most `slots` (less held(), and no more than
  // kIdempotentRoundMax idempotent sends) and takes the batch; then
  // finishes the round in flight (waits for its commit) and, when that was ok, hands this
  // batch to the committer (or finishes it at once when there is nothing to write). Returns
  // the rounds that ended, oldest first: the one in flight, then this one when it is finished
  // too (nothing to write; refused with the one before; or the store is full: then no
  // pipelining, commitRoundMindingRoom() in place). A kOutOfRoom or kFailed ends both.
  std::vector<FinishedRound> end(Engine& engine, Store& store, StoreRoom& room, DeliverySlots slots,
                                 TimeMs now_ms, std::optional<TimeMs> clock_ms,
                                 std::int64_t monotonic_ms);
  // What the last end() did, for the lateness trace (io/lateness_trace.hpp): how long it took
  // to release the intents and take the batch, how long it then waited for the round before
  // to be durable, and what the batch held (none of it when the store was full).
  struct EndStats {
    std::int64_t take_us = 0;
    std::int64_t wait_us = 0;
    std::size_t records = 0;  // WriteBatch::recordCount()
    std::size_t enrollments = 0;
    std::size_t progress = 0;
    std::size_t checkpoint_rows = 0;
    bool governor = false;  // the batch carries a snapshot of the send limits
  };
  const EndStats& lastEnd() const { return last_end_; }
  // Waits for the round in flight, if any, and returns how it ended.
  std::optional<FinishedRound> drain(Engine& engine);
  // The process died: the round in flight is forgotten (the caller drops its committer's
  // batch, or lets it land: a crash after the commit).
  void forget() {
    in_flight_.reset();
    held_ = {0, 0};
  }

 private:
  struct InFlight {
    std::uint64_t number = 0;
    std::vector<DeliveryIntent> intents;
    std::optional<TimeMs> clock_ms;
  };
  FinishedRound finish(Engine& engine);

  Committer& committer_;
  std::uint64_t next_ = 1;
  std::optional<InFlight> in_flight_;
  EndStats last_end_;
  DeliverySlots held_{0, 0};
  bool trim_pending_ = false;
};

}  // namespace seqd
