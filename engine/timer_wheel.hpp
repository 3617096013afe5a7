// TimerWheel: every enrolled contact's next due time, drained tick by tick, highest
// prospect score first within a tick.
//
// A hierarchical wheel of 6 levels x 64 slots; each level is 64x coarser than the one below.
// At the configured tick of 100 ms (seqd.yaml `tick`):
//
//   level | slot granularity      | reaches (ahead of the wheel's time)
//   ------+-----------------------+------------------------------------
//     0   | 100 ms                | 6.4 s
//     1   | 6.4 s                 | 6 min 49.6 s
//     2   | 6 min 49.6 s          | 7 h 16 min 54.4 s
//     3   | 7 h 16 min 54.4 s     | 19.4 days
//     4   | 19.4 days             | 3.4 years
//     5   | 3.4 years             | 217.8 years
//   overflow: one unordered list for anything later (at a 1 ms tick level 5 reaches only
//   2.18 years, so there the overflow does hold real timers).
// An entry sits at the lowest level whose lap (64 of its slots) also holds the wheel's
// current tick, so just past a lap boundary it may sit one level above the table's row.
//
// Precision given up: only the tick. A due time is rounded UP to a tick boundary (its due
// tick is ceil(due_ms / tick_ms), epoch-aligned), so an entry comes out of popDue() once the
// wheel's time reaches the first tick start at or after due_ms: never before due_ms (a
// min_interval between sends, a wait, a window opening all hold to the millisecond), at most
// tick_ms - 1 ms after it; due times on a tick boundary (whole seconds, minutes, window
// openings) come out exactly on time. Within a tick the order is score then id, not due_ms.
// Nothing is later than that: entries cascade from higher levels to lower
// ones exactly when the wheel reaches their slot (unlike Linux's non-cascading wheel, which
// accepts up to 12.5% lateness), and the overflow is re-examined whenever the wheel's time
// enters a new level-5 lap (2^36 ticks), moving the entries of that lap into the wheel.
//
// Ordering: ticks ascending; within a tick score descending (a counting sort into 101
// buckets), then id ascending as the fixed tie-break. An entry scheduled before the wheel's
// current tick counts as due in the current tick, so an overdue backlog drains best scores
// first. popDue() stops at count_max; the unreturned rest of a sorted tick stays in a ready
// list and comes out first, in the same order, on the next call; entries scheduled into that
// tick meanwhile are sorted among themselves and follow that rest. The wheel's current tick
// is now()'s tick once popDue() has returned everything due, else the tick it stopped in.
//
// Storage: entries are keyed by a dense EntryId (the EnrollmentId); each id owns a 16-byte
// node in one vector (due_ms, score, which list, where in it). A slot's list is unrolled:
// a chain of 62-id chunks taken from one pool and linked by 32-bit chunk indexes, the node
// holding its chunk index and position so that cancel is an O(1) swap with the list's last
// id. Neither scheduling nor cancelling allocates per timer (the two vectors grow by 1.25x).
// Why chunks rather than linking every node: a cascade or a drain then reads ids from
// contiguous memory and loads their nodes independently, where walking per-node links is a
// chain of dependent cache misses (DESIGN-NOTES: ~228 ns each at scale); see
// perf/timer_wheel_bench.cpp for the figures.
//
// Memory per entry: 16 B node + 4.1 B of chunk, <= 26 B with the vectors' growth headroom
// (<= 32 B is the target), plus fixed tables (~5 KB), at most one partly filled chunk per
// list (385 x 256 B) and scratch of 12 B per entry of the tick being drained.
// The node vector is sized by the largest id ever scheduled, so ids must stay dense.
// What only a large wheel needed is handed back (above `keep_entries`, 65,536 by default:
// ~1 MiB of nodes): the sort's 8 B an entry once a tick is sorted, its order's 4 B once the
// tick is handed out, and the nodes and chunks when the owner calls releaseIfEmpty() with
// nothing scheduled. The next schedule() grows them again.
//
// Costs: schedule and cancel are O(1). popDue is O(1) per cascade step (an entry cascades at
// most 5 times) plus O(n + sum of b log b) per tick of n entries in score buckets of size b.
// nextDue() is O(6) when the earliest entry is at level 0; at a higher level it reads that
// slot's cached minimum, rescanning the slot only after the minimum's holder was removed.
// The overflow list is scanned whole when the wheel enters a new lap (every 217.8 years at
// 100 ms, every 2.18 years at 1 ms), and to find its minimum again after removals.
//
// Thread-safety: none; owned by the engine thread. nextDue() refreshes a cache, so even
// const calls must not run concurrently.
//
// Invariants (checked, abort on violation): every scheduled id is in exactly one list (a
// wheel slot, the overflow list or the ready list); a slot's occupancy bit is set iff its
// list is non-empty; an entry at level L > 0 sits in a slot after the wheel's current slot
// at that level and in the same 64^(L+1)-tick lap; overflow entries lie in a later 2^36-tick
// lap than the wheel's current tick.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/time.hpp"

namespace seqd {

class TimerWheel {
 public:
  using EntryId = std::uint32_t;  // dense: an EnrollmentId

  static constexpr std::size_t kLevelCount = 6;
  static constexpr std::size_t kSlotCount = 64;
  // levelOf() answers this for an entry in the overflow list.
  static constexpr std::size_t kOverflowLevel = kLevelCount;
  static constexpr std::uint8_t kScoreMax = 100;
  // Ids are dense indexes; the largest one is reserved as the null link.
  static constexpr EntryId kEntryIdMax = 0xFFFFFFFEu;

  struct Expired {
    EntryId id;
    TimeMs due_ms;       // as scheduled (not rounded)
    std::uint8_t score;  // 0..100
  };

  static constexpr std::size_t kKeepEntriesDefault = 65536;

  // start_ms: the wheel's current time; tick_ms: its resolution (> 0); keep_entries: how
  // many entries' worth of nodes and scratch it keeps once they are no longer needed (see
  // Memory above; tests pass a small one to exercise the release).
  // REQUIRES: tick_ms > 0 (config validation guarantees it; checked).
  TimerWheel(TimeMs start_ms, DurationMs tick_ms, std::size_t keep_entries = kKeepEntriesDefault);

  // Schedules id at due_ms with score (0..100); an id already scheduled is moved.
  // A due time at or before the wheel's current time fires on the next popDue().
  // A score above 100 counts as 100.
  // REQUIRES: id <= kEntryIdMax (checked).
  void schedule(EntryId id, TimeMs due_ms, std::uint8_t score);
  // Returns true when id was scheduled.
  bool cancel(EntryId id);
  bool isScheduled(EntryId id) const;
  std::size_t size() const;

  // The start of the earliest due tick holding an entry, or nullopt when empty: the first
  // tick boundary at or after the earliest due_ms (or the current tick, for a backlog).
  std::optional<TimeMs> nextDue() const;

  // Moves the wheel's time to now_ms (never backwards) and appends to out the entries whose
  // due tick starts at or before now_ms (so due_ms <= now_ms), in order: tick ascending, then score
  // descending, then id ascending. Appends at most count_max entries; the rest stay for the next
  // call. Returns the number appended. Popped entries are no longer scheduled.
  std::size_t popDue(TimeMs now_ms, std::vector<Expired>& out, std::size_t count_max);

  TimeMs now() const;
  DurationMs tick() const;

  // Frees the nodes and chunks when nothing is scheduled and they hold more than
  // keep_entries; a no-op otherwise. For an owner that knows nothing is about to be
  // scheduled: freeing on every emptying would grow them again, a fault a page, when entries
  // leave the wheel and come back a round later (the engine's sends out for delivery).
  void releaseIfEmpty();

  // Read-only diagnostics for tests and benchmarks.
  // The level an entry sits at: 0..kLevelCount-1, kOverflowLevel, or nullopt when not
  // scheduled. Entries already sorted into the ready list report level 0.
  std::optional<std::size_t> levelOf(EntryId id) const;
  // Entries re-inserted one level down so far (cascade steps).
  std::uint64_t cascadeCount() const { return cascade_count_; }
  // Bytes held: the node and chunk vectors' capacity, scratch and fixed tables.
  std::size_t memoryBytes() const;
  // Walks every list and checks the invariants above; returns the first violation found, or
  // an empty string. O(ids); for tests.
  std::string validate() const;

 private:
  static constexpr std::size_t kChunkIdCount = 62;

  // One entry; 16 bytes. list == kNoList when the id is not scheduled; in a wheel slot or the
  // overflow, ids of chunks_[chunk] holds it at index.
  struct Node {
    TimeMs due_ms = 0;
    std::uint32_t chunk = 0;
    std::uint8_t index = 0;
    std::uint8_t score = 0;
    std::uint16_t list = 0;
  };
  // Part of a list, four cache lines. Only a list's head chunk may be partly filled.
  struct alignas(64) Chunk {
    std::array<EntryId, kChunkIdCount> ids;
    std::uint32_t next;  // the next chunk of the list, or of the free list
    std::uint32_t count;
  };
  // Where to cascade or drain next: a wheel slot, or the overflow (level == kOverflowLevel).
  struct Expiration {
    std::size_t level;
    std::size_t slot;
    std::uint64_t tick;  // the slot's first tick, or the overflow's earliest tick
  };

  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;
  static constexpr std::size_t kSlotBits = 6;
  static constexpr std::size_t kWheelBits = kSlotBits * kLevelCount;  // 36: ticks per lap
  static constexpr std::size_t kListCount = kLevelCount * kSlotCount;
  static constexpr std::uint16_t kOverflowList = kListCount;
  static constexpr std::uint16_t kReadyList = kListCount + 1;
  static constexpr std::uint16_t kNoList = 0xFFFF;
  static constexpr std::uint64_t kTickNone = ~std::uint64_t{0};

  // Ticks are kept as order-preserving unsigned values: floor(ms / tick_ms) with the sign
  // bit flipped, so the wheel's bit arithmetic never meets a negative number.
  std::uint64_t tickOf(TimeMs time_ms) const;
  // An entry's tick: the first one starting at or after due_ms (ceil, not floor).
  std::uint64_t dueTickOf(TimeMs due_ms) const;
  TimeMs tickStartMs(std::uint64_t tick) const;

  void growTo(EntryId id);
  std::uint32_t allocateChunk();
  void insert(EntryId id);
  void unlink(EntryId id);
  void append(std::uint16_t list, EntryId id);
  std::uint32_t detachList(std::uint16_t list);
  std::uint32_t takeChunk(std::uint32_t chunk, std::array<EntryId, kChunkIdCount>& ids,
                          std::size_t& count);
  std::string validateList(std::size_t list, std::size_t& listed) const;

  std::optional<Expiration> nextExpiration() const;
  std::uint64_t listMinTick(std::uint16_t list) const;
  std::uint64_t earliestTick(const Expiration& expiration) const;
  void advanceTo(std::uint64_t tick);
  void cascadeSlot(std::size_t level, std::size_t slot);
  void migrateOverflow();
  void drainSlot(std::size_t slot);
  std::size_t emitReady(std::vector<Expired>& out, std::size_t count_max);
  // Empties the ready list, freeing it when large. REQUIRES: no live id left in it.
  void clearReady();

  // Frees a scratch vector with room for more than keep_entries_ entries.
  template <typename T>
  void releaseIfLarge(std::vector<T>& scratch) const {
    if (scratch.capacity() > keep_entries_) std::vector<T>().swap(scratch);
  }

  DurationMs tick_ms_;
  std::size_t keep_entries_;
  TimeMs now_ms_;
  std::uint64_t elapsed_;  // the wheel's current tick; every entry's tick is >= it
  std::size_t size_ = 0;
  std::uint64_t cascade_count_ = 0;

  std::vector<Node> nodes_;
  std::vector<Chunk> chunks_;
  std::uint32_t free_chunk_ = kNil;  // head of the free chunks, linked through next
  // Head chunk of each list: kListCount wheel slots, then the overflow list.
  std::array<std::uint32_t, kListCount + 1> heads_;
  std::array<std::uint64_t, kLevelCount> occupied_{};
  // Earliest tick per list for levels >= 1 and the overflow; a stale bit means a removal may
  // have taken the minimum, so the next read rescans that one list.
  mutable std::array<std::uint64_t, kListCount + 1> list_min_tick_;
  mutable std::array<std::uint64_t, kLevelCount + 1> list_min_stale_{};

  // The tick being handed out: ids in order, ready_[ready_pos_..] not yet returned. Ids that
  // were cancelled or moved meanwhile stay in the vector and are skipped.
  std::vector<EntryId> ready_;
  std::size_t ready_pos_ = 0;
  std::size_t ready_live_ = 0;
  std::vector<std::uint64_t> sort_keys_;  // scratch for drainSlot
};

}  // namespace seqd
