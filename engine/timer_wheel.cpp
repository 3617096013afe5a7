// TimerWheel: see the header for the level table, the ordering, the storage and the
// invariants.
#include "engine/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "engine/assert.hpp"

namespace seqd {
namespace {

constexpr std::uint64_t kSignBit = std::uint64_t{1} << 63;
// How many ids ahead a walk over a chunk prefetches their nodes.
constexpr std::size_t kPrefetchDistance = 8;

// Geometric growth of 1.25x (the library's is 2x) keeps the headroom within the memory
// budget; copying 16-byte nodes is cheap next to the cache misses the wheel lives with.
template <typename T>
void reserveFor(std::vector<T>& vector, std::size_t needed) {
  if (needed <= vector.capacity()) return;
  vector.reserve(std::max(needed, vector.capacity() + vector.capacity() / 4 + 16));
}

}  // namespace

static_assert(sizeof(TimerWheel::EntryId) == 4);

TimerWheel::TimerWheel(TimeMs start_ms, DurationMs tick_ms, std::size_t keep_entries)
    : tick_ms_(tick_ms), keep_entries_(keep_entries), now_ms_(start_ms), elapsed_(0) {
  SEQD_ASSERT(tick_ms > 0);
  static_assert(sizeof(Node) == 16, "the memory budget counts on 16-byte nodes");
  static_assert(sizeof(Chunk) == 256, "a chunk is four cache lines");
  static_assert(kChunkIdCount <= std::numeric_limits<decltype(Node::index)>::max());
  elapsed_ = tickOf(start_ms);
  heads_.fill(kNil);
  list_min_tick_.fill(kTickNone);
}

std::uint64_t TimerWheel::tickOf(TimeMs time_ms) const {
  std::int64_t tick = time_ms / tick_ms_;
  if (time_ms % tick_ms_ < 0) --tick;  // floor, not truncation
  return static_cast<std::uint64_t>(tick) ^ kSignBit;
}

std::uint64_t TimerWheel::dueTickOf(TimeMs due_ms) const {
  TimeMs rounded_up = 0;
  // The last tick before INT64_MAX holds whatever cannot be rounded up.
  if (__builtin_add_overflow(due_ms, tick_ms_ - 1, &rounded_up)) return tickOf(due_ms);
  return tickOf(rounded_up);
}

TimeMs TimerWheel::tickStartMs(std::uint64_t tick) const {
  const auto signed_tick = static_cast<std::int64_t>(tick ^ kSignBit);
  TimeMs start_ms = 0;
  // Only the first tick before INT64_MIN can overflow; it starts at the earliest instant.
  if (__builtin_mul_overflow(signed_tick, tick_ms_, &start_ms)) {
    return std::numeric_limits<TimeMs>::min();
  }
  return start_ms;
}

// ---------------------------------------------------------------------------------------
// Lists

void TimerWheel::growTo(EntryId id) {
  if (id < nodes_.size()) return;
  SEQD_ASSERT(id <= kEntryIdMax);
  const std::size_t needed = static_cast<std::size_t>(id) + 1;
  reserveFor(nodes_, needed);
  Node empty;
  empty.list = kNoList;
  nodes_.resize(needed, empty);
}

std::uint32_t TimerWheel::allocateChunk() {
  if (free_chunk_ != kNil) {
    const std::uint32_t chunk = free_chunk_;
    free_chunk_ = chunks_[chunk].next;
    return chunk;
  }
  SEQD_ASSERT(chunks_.size() < kNil);
  reserveFor(chunks_, chunks_.size() + 1);
  chunks_.emplace_back();
  return static_cast<std::uint32_t>(chunks_.size() - 1);
}

void TimerWheel::append(std::uint16_t list, EntryId id) {
  std::uint32_t head = heads_[list];
  if (head == kNil || chunks_[head].count == kChunkIdCount) {
    const std::uint32_t chunk = allocateChunk();
    chunks_[chunk].next = head;
    chunks_[chunk].count = 0;
    heads_[list] = chunk;
    head = chunk;
  }
  Chunk& chunk = chunks_[head];
  Node& node = nodes_[id];
  node.chunk = head;
  node.index = static_cast<std::uint8_t>(chunk.count);
  node.list = list;
  chunk.ids[chunk.count++] = id;
  if (list < kListCount) occupied_[list / kSlotCount] |= std::uint64_t{1} << (list % kSlotCount);
}

// Places a node whose due_ms and score are set into the slot its tick belongs to.
void TimerWheel::insert(EntryId id) {
  const std::uint64_t tick = std::max(dueTickOf(nodes_[id].due_ms), elapsed_);
  const std::uint64_t differing = tick ^ elapsed_;
  std::uint16_t list = kOverflowList;
  if ((differing >> kWheelBits) == 0) {
    const std::size_t level =
        differing == 0 ? 0 : static_cast<std::size_t>(63 - std::countl_zero(differing)) / kSlotBits;
    const std::size_t slot = (tick >> (level * kSlotBits)) & (kSlotCount - 1);
    list = static_cast<std::uint16_t>(level * kSlotCount + slot);
  }
  append(list, id);
  if (list >= kSlotCount) list_min_tick_[list] = std::min(list_min_tick_[list], tick);
}

// Takes id out of its list: the list's last id (in its head chunk) moves into id's place.
void TimerWheel::unlink(EntryId id) {
  Node& node = nodes_[id];
  const std::uint16_t list = node.list;
  SEQD_ASSERT(list != kNoList);
  node.list = kNoList;
  if (list == kReadyList) {
    // The id stays in ready_ and is skipped there; only the live count changes.
    SEQD_ASSERT(ready_live_ > 0);
    --ready_live_;
    return;
  }
  const std::uint32_t head = heads_[list];
  Chunk& head_chunk = chunks_[head];
  SEQD_ASSERT(head_chunk.count > 0);
  const EntryId last = head_chunk.ids[head_chunk.count - 1];
  chunks_[node.chunk].ids[node.index] = last;
  nodes_[last].chunk = node.chunk;
  nodes_[last].index = node.index;
  if (--head_chunk.count == 0) {
    heads_[list] = head_chunk.next;
    head_chunk.next = free_chunk_;
    free_chunk_ = head;
  }
  const std::uint64_t bit = std::uint64_t{1} << (list % kSlotCount);
  if (heads_[list] == kNil) {
    if (list < kListCount) occupied_[list / kSlotCount] &= ~bit;
    list_min_tick_[list] = kTickNone;
    list_min_stale_[list / kSlotCount] &= ~bit;
  } else if (list >= kSlotCount && dueTickOf(node.due_ms) <= list_min_tick_[list]) {
    list_min_stale_[list / kSlotCount] |= bit;
  }
}

// Empties a list and returns its former head chunk; the chunks stay allocated until taken.
std::uint32_t TimerWheel::detachList(std::uint16_t list) {
  const std::uint32_t head = heads_[list];
  heads_[list] = kNil;
  const std::uint64_t bit = std::uint64_t{1} << (list % kSlotCount);
  if (list < kListCount) occupied_[list / kSlotCount] &= ~bit;
  list_min_tick_[list] = kTickNone;
  list_min_stale_[list / kSlotCount] &= ~bit;
  return head;
}

// Copies a detached chunk's ids out, frees it (so the walk can refill it at once) and
// returns the next chunk.
std::uint32_t TimerWheel::takeChunk(std::uint32_t chunk, std::array<EntryId, kChunkIdCount>& ids,
                                    std::size_t& count) {
  Chunk& taken = chunks_[chunk];
  count = taken.count;
  std::copy_n(taken.ids.begin(), count, ids.begin());
  const std::uint32_t next = taken.next;
  taken.next = free_chunk_;
  free_chunk_ = chunk;
  for (std::size_t index = 0; index < std::min(count, kPrefetchDistance); ++index) {
    __builtin_prefetch(&nodes_[ids[index]]);
  }
  return next;
}

// The earliest tick in a list of level >= 1 or the overflow, rescanning it when stale.
std::uint64_t TimerWheel::listMinTick(std::uint16_t list) const {
  const std::uint64_t bit = std::uint64_t{1} << (list % kSlotCount);
  std::uint64_t& stale = list_min_stale_[list / kSlotCount];
  if ((stale & bit) == 0) return list_min_tick_[list];
  std::uint64_t min_tick = kTickNone;
  std::size_t steps = 0;
  for (std::uint32_t chunk = heads_[list]; chunk != kNil; chunk = chunks_[chunk].next) {
    SEQD_ASSERT(++steps <= chunks_.size());
    const Chunk& walked = chunks_[chunk];
    for (std::size_t index = 0; index < walked.count; ++index) {
      min_tick = std::min(min_tick, dueTickOf(nodes_[walked.ids[index]].due_ms));
    }
  }
  list_min_tick_[list] = min_tick;
  stale &= ~bit;
  return min_tick;
}

// ---------------------------------------------------------------------------------------
// Public API

void TimerWheel::schedule(EntryId id, TimeMs due_ms, std::uint8_t score) {
  SEQD_ASSERT(id <= kEntryIdMax);
  growTo(id);
  if (nodes_[id].list != kNoList) {
    unlink(id);
    --size_;
  }
  Node& node = nodes_[id];
  node.due_ms = due_ms;
  node.score = std::min(score, kScoreMax);
  insert(id);
  ++size_;
}

bool TimerWheel::cancel(EntryId id) {
  if (!isScheduled(id)) return false;
  unlink(id);
  --size_;
  return true;
}

// With nothing scheduled every list is empty and every chunk free; what the ready list still
// holds are cancelled ids, which popDue() would skip.
void TimerWheel::releaseIfEmpty() {
  if (size_ != 0 || nodes_.capacity() <= keep_entries_) return;
  for (const std::uint32_t head : heads_) SEQD_ASSERT(head == kNil);
  clearReady();
  std::vector<Node>().swap(nodes_);
  std::vector<Chunk>().swap(chunks_);
  free_chunk_ = kNil;
}

bool TimerWheel::isScheduled(EntryId id) const {
  return id < nodes_.size() && nodes_[id].list != kNoList;
}

std::size_t TimerWheel::size() const { return size_; }

TimeMs TimerWheel::now() const { return now_ms_; }

DurationMs TimerWheel::tick() const { return tick_ms_; }

std::optional<std::size_t> TimerWheel::levelOf(EntryId id) const {
  if (!isScheduled(id)) return std::nullopt;
  const std::uint16_t list = nodes_[id].list;
  if (list == kReadyList) return 0;
  if (list == kOverflowList) return kOverflowLevel;
  return list / kSlotCount;
}

std::size_t TimerWheel::memoryBytes() const {
  return sizeof(*this) + nodes_.capacity() * sizeof(Node) + chunks_.capacity() * sizeof(Chunk) +
         ready_.capacity() * sizeof(EntryId) + sort_keys_.capacity() * sizeof(std::uint64_t);
}

std::optional<TimeMs> TimerWheel::nextDue() const {
  if (ready_live_ > 0) return tickStartMs(elapsed_);
  const std::optional<Expiration> next = nextExpiration();
  if (!next) return std::nullopt;
  return tickStartMs(earliestTick(*next));
}

// A coarse slot starts before its entries may; its cached minimum is exact.
std::uint64_t TimerWheel::earliestTick(const Expiration& expiration) const {
  if (expiration.level == 0 || expiration.level == kOverflowLevel) return expiration.tick;
  return listMinTick(static_cast<std::uint16_t>(expiration.level * kSlotCount + expiration.slot));
}

// ---------------------------------------------------------------------------------------
// Validation

std::string TimerWheel::validateList(std::size_t list, std::size_t& listed) const {
  const std::size_t level = list / kSlotCount;
  const std::uint64_t bit = std::uint64_t{1} << (list % kSlotCount);
  auto violation = [list](const char* what, std::uint64_t id = kNil) {
    std::string text = "list " + std::to_string(list) + ": ";
    if (id != kNil) text += "id " + std::to_string(id) + " ";
    return text + what;
  };
  if (list < kListCount && ((occupied_[level] & bit) != 0) != (heads_[list] != kNil)) {
    return violation("occupancy bit disagrees with the list");
  }
  std::uint64_t min_tick = kTickNone;
  std::size_t steps = 0;
  for (std::uint32_t chunk = heads_[list]; chunk != kNil; chunk = chunks_[chunk].next) {
    if (++steps > chunks_.size()) return violation("cycle");
    const Chunk& walked = chunks_[chunk];
    if (walked.count == 0) return violation("empty chunk");
    if (chunk != heads_[list] && walked.count != kChunkIdCount) return violation("partial chunk");
    for (std::size_t index = 0; index < walked.count; ++index) {
      const EntryId id = walked.ids[index];
      if (id >= nodes_.size()) return violation("out of range", id);
      const Node& node = nodes_[id];
      if (node.list != list) return violation("names another list", id);
      if (node.chunk != chunk || node.index != index) return violation("wrong position", id);
      const std::uint64_t tick = std::max(dueTickOf(node.due_ms), elapsed_);
      const std::uint64_t differing = tick ^ elapsed_;
      if (list == kOverflowList) {
        if ((differing >> kWheelBits) == 0) return violation("overflows in the wheel's lap", id);
      } else {
        const std::size_t shift = level * kSlotBits;
        if ((differing >> (shift + kSlotBits)) != 0) return violation("beyond its level", id);
        if (level > 0 && (differing >> shift) == 0) return violation("below its level", id);
        if (((tick >> shift) & (kSlotCount - 1)) != list % kSlotCount) {
          return violation("in the wrong slot", id);
        }
      }
      min_tick = std::min(min_tick, tick);
      ++listed;
    }
  }
  const bool stale = (list_min_stale_[list / kSlotCount] & bit) != 0;
  if (list >= kSlotCount && !stale && list_min_tick_[list] != min_tick) {
    return violation("cached minimum is not the minimum");
  }
  if (list >= kSlotCount && stale && list_min_tick_[list] > min_tick) {
    return violation("stale minimum above the true one");
  }
  return std::string();
}

std::string TimerWheel::validate() const {
  std::size_t listed = 0;
  for (std::size_t list = 0; list <= kListCount; ++list) {
    std::string violation = validateList(list, listed);
    if (!violation.empty()) return violation;
  }
  std::size_t ready = 0;
  for (std::size_t index = ready_pos_; index < ready_.size(); ++index) {
    if (nodes_[ready_[index]].list == kReadyList) ++ready;
  }
  if (ready != ready_live_) return "ready count disagrees";
  std::size_t scheduled = 0;
  for (const Node& node : nodes_) scheduled += node.list != kNoList ? 1 : 0;
  if (scheduled != size_ || listed + ready != size_) return "size disagrees";
  std::size_t used = 0;
  for (std::size_t list = 0; list <= kListCount; ++list) {
    for (std::uint32_t chunk = heads_[list]; chunk != kNil; chunk = chunks_[chunk].next) ++used;
  }
  std::size_t free = 0;
  for (std::uint32_t chunk = free_chunk_; chunk != kNil && free <= chunks_.size();
       chunk = chunks_[chunk].next) {
    ++free;
  }
  if (used + free != chunks_.size()) return "chunks leaked or shared";
  return std::string();
}

// ---------------------------------------------------------------------------------------
// Advancing

// The lowest occupied level's first occupied slot (lower levels always expire first), else
// the overflow's earliest tick.
std::optional<TimerWheel::Expiration> TimerWheel::nextExpiration() const {
  for (std::size_t level = 0; level < kLevelCount; ++level) {
    const std::uint64_t occupied = occupied_[level];
    if (occupied == 0) continue;
    const std::size_t shift = level * kSlotBits;
    const std::size_t digit = (elapsed_ >> shift) & (kSlotCount - 1);
    const std::uint64_t ahead = occupied & (~std::uint64_t{0} << digit);
    SEQD_ASSERT(ahead != 0);  // nothing sits behind the wheel's current slot
    const auto slot = static_cast<std::size_t>(std::countr_zero(ahead));
    SEQD_ASSERT(level == 0 || slot != digit);  // the current slot was cascaded
    const std::size_t lap_shift = shift + kSlotBits;
    const std::uint64_t lap_start = (elapsed_ >> lap_shift) << lap_shift;
    return Expiration{level, slot, lap_start | (static_cast<std::uint64_t>(slot) << shift)};
  }
  if (heads_[kOverflowList] == kNil) return std::nullopt;
  return Expiration{kOverflowLevel, 0, listMinTick(kOverflowList)};
}

void TimerWheel::advanceTo(std::uint64_t tick) {
  SEQD_ASSERT(tick >= elapsed_);
  const bool new_lap = (tick >> kWheelBits) != (elapsed_ >> kWheelBits);
  elapsed_ = tick;
  if (new_lap && heads_[kOverflowList] != kNil) migrateOverflow();
}

// Re-inserts one coarse slot's entries relative to the wheel's time, one level down or more.
void TimerWheel::cascadeSlot(std::size_t level, std::size_t slot) {
  const auto list = static_cast<std::uint16_t>(level * kSlotCount + slot);
  std::uint32_t chunk = detachList(list);
  std::array<EntryId, kChunkIdCount> ids;
  std::size_t count = 0;
  for (std::size_t steps = 0; chunk != kNil; ++steps) {
    SEQD_ASSERT(steps < chunks_.size());
    chunk = takeChunk(chunk, ids, count);
    for (std::size_t index = 0; index < count; ++index) {
      if (index + kPrefetchDistance < count) {
        __builtin_prefetch(&nodes_[ids[index + kPrefetchDistance]]);
      }
      insert(ids[index]);
      SEQD_ASSERT(nodes_[ids[index]].list < list - slot);  // a lower level
    }
    cascade_count_ += count;
  }
}

// Moves overflow entries that lie in the wheel's new lap into the wheel; the walk also
// recomputes the earliest tick of those that stay.
void TimerWheel::migrateOverflow() {
  std::uint32_t chunk = detachList(kOverflowList);
  std::uint64_t min_tick = kTickNone;
  std::array<EntryId, kChunkIdCount> ids;
  std::size_t count = 0;
  for (std::size_t steps = 0; chunk != kNil; ++steps) {
    SEQD_ASSERT(steps < chunks_.size());
    chunk = takeChunk(chunk, ids, count);
    for (std::size_t index = 0; index < count; ++index) {
      const EntryId id = ids[index];
      const std::uint64_t tick = dueTickOf(nodes_[id].due_ms);
      SEQD_ASSERT(tick >= elapsed_);
      if (((tick ^ elapsed_) >> kWheelBits) == 0) {
        insert(id);
      } else {
        append(kOverflowList, id);
        min_tick = std::min(min_tick, tick);
      }
    }
  }
  list_min_tick_[kOverflowList] = min_tick;
}

// Sorts the level-0 slot of the wheel's current tick into ready_: score descending by a
// counting sort into 101 buckets, then id ascending within each bucket.
void TimerWheel::drainSlot(std::size_t slot) {
  SEQD_ASSERT(ready_.empty());
  SEQD_ASSERT(slot == (elapsed_ & (kSlotCount - 1)));
  std::uint32_t chunk = detachList(static_cast<std::uint16_t>(slot));
  sort_keys_.clear();
  std::array<std::size_t, kScoreMax + 2> bucket_end{};  // bucket b holds score 100 - b
  std::array<EntryId, kChunkIdCount> ids;
  std::size_t count = 0;
  for (std::size_t steps = 0; chunk != kNil; ++steps) {
    SEQD_ASSERT(steps < chunks_.size());
    chunk = takeChunk(chunk, ids, count);
    for (std::size_t index = 0; index < count; ++index) {
      if (index + kPrefetchDistance < count) {
        __builtin_prefetch(&nodes_[ids[index + kPrefetchDistance]]);
      }
      Node& node = nodes_[ids[index]];
      const std::uint64_t bucket = kScoreMax - node.score;
      sort_keys_.push_back((bucket << 32) | ids[index]);
      ++bucket_end[bucket + 1];
      node.list = kReadyList;
    }
  }
  for (std::size_t bucket = 1; bucket < bucket_end.size(); ++bucket) {
    bucket_end[bucket] += bucket_end[bucket - 1];
  }
  ready_.resize(sort_keys_.size());
  for (const std::uint64_t key : sort_keys_) {
    ready_[bucket_end[key >> 32]++] = static_cast<EntryId>(key);
  }
  std::size_t begin = 0;
  for (std::size_t bucket = 0; bucket <= kScoreMax; ++bucket) {
    const std::size_t end = bucket_end[bucket];
    if (end - begin > 1) std::sort(ready_.begin() + begin, ready_.begin() + end);
    begin = end;
  }
  ready_pos_ = 0;
  ready_live_ = ready_.size();
  releaseIfLarge(sort_keys_);
}

std::size_t TimerWheel::emitReady(std::vector<Expired>& out, std::size_t count_max) {
  std::size_t emitted = 0;
  for (; ready_pos_ < ready_.size(); ++ready_pos_) {
    if (ready_pos_ + kPrefetchDistance < ready_.size()) {
      __builtin_prefetch(&nodes_[ready_[ready_pos_ + kPrefetchDistance]]);
    }
    const EntryId id = ready_[ready_pos_];
    Node& node = nodes_[id];
    if (node.list != kReadyList) continue;  // cancelled or moved since the sort
    if (emitted == count_max) break;
    out.push_back(Expired{id, node.due_ms, node.score});
    node.list = kNoList;
    --ready_live_;
    --size_;
    ++emitted;
  }
  if (ready_pos_ == ready_.size()) clearReady();
  return emitted;
}

void TimerWheel::clearReady() {
  SEQD_ASSERT(ready_live_ == 0);
  ready_.clear();
  ready_pos_ = 0;
  releaseIfLarge(ready_);
}

std::size_t TimerWheel::popDue(TimeMs now_ms, std::vector<Expired>& out, std::size_t count_max) {
  now_ms_ = std::max(now_ms_, now_ms);
  const std::uint64_t target = std::max(tickOf(now_ms_), elapsed_);
  std::size_t appended = 0;
  // Each round returns, drains a slot, cascades a slot or migrates the overflow; an entry is
  // migrated once, cascaded at most kLevelCount - 1 times and drained once.
  const std::size_t rounds_max = (size_ + 1) * (kLevelCount + 2);
  for (std::size_t round = 0; round < rounds_max; ++round) {
    appended += emitReady(out, count_max - appended);
    if (!ready_.empty()) return appended;  // count_max reached inside a tick
    const std::optional<Expiration> next = nextExpiration();
    if (!next || next->tick > target) {
      advanceTo(target);
      return appended;
    }
    // With count_max reached, stop before anything due; cascading entries that are not yet
    // due moves no entry out, and lets the wheel's time reach now_ms's tick.
    if (appended == count_max && earliestTick(*next) <= target) return appended;
    advanceTo(next->tick);
    if (next->level == 0) {
      drainSlot(next->slot);
    } else if (next->level < kLevelCount) {
      cascadeSlot(next->level, next->slot);
    }
    // For the overflow, advanceTo() has moved the entries of the new lap into the wheel.
  }
  assertionFailed("popDue converges within rounds_max", __FILE__, __LINE__);
}

}  // namespace seqd
