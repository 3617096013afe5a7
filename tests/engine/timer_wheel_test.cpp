// Proves the timer wheel hands out every entry at its tick (the first tick boundary at or
// after its due time), never before its due time nor a tick late, in
// tick-then-score-then-id order, across all levels and the overflow, and agrees with a sorted
// reference model under random schedule, cancel and popDue calls.
#include "engine/timer_wheel.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/time.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

using Expired = TimerWheel::Expired;
using EntryId = TimerWheel::EntryId;

constexpr TimeMs kStartMs = 1796133600000;  // 2026-12-01T14:00:00Z
constexpr DurationMs kTickMs = 100;
constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();
constexpr DurationMs kYearMs = 365 * kDayMs;

std::vector<Expired> pop(TimerWheel& wheel, TimeMs now_ms, std::size_t count_max = kAll) {
  std::vector<Expired> out;
  const std::size_t appended = wheel.popDue(now_ms, out, count_max);
  CHECK(appended == out.size());
  return out;
}

std::vector<EntryId> idsOf(const std::vector<Expired>& expired) {
  std::vector<EntryId> ids;
  for (const Expired& entry : expired) ids.push_back(entry.id);
  return ids;
}

// For messages: an optional instant as text.
std::string text(std::optional<TimeMs> time_ms) {
  return time_ms ? std::to_string(*time_ms) : std::string("none");
}

// For messages: popped entries as "id@due_ms/score" in order.
std::string text(const std::vector<Expired>& expired) {
  std::string result;
  for (const Expired& entry : expired) {
    result += std::to_string(entry.id) + "@" + std::to_string(entry.due_ms) + "/" +
              std::to_string(entry.score) + " ";
  }
  return result;
}

std::int64_t floorDiv(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  if (value % divisor < 0) --quotient;
  return quotient;
}

// An entry's tick: the first tick starting at or after its due time.
std::int64_t ceilDiv(std::int64_t value, std::int64_t divisor) {
  return floorDiv(value - 1, divisor) + 1;  // REQUIRES: value > INT64_MIN
}

// The reference: entries keyed by (tick, -score, id) in an ordered set, plus the ready rest
// of a tick that a count_max cut short. Ticks before the cursor count as the cursor's tick.
class ReferenceWheel {
 public:
  ReferenceWheel(TimeMs start_ms, DurationMs tick_ms)
      : tick_ms_(tick_ms), now_ms_(start_ms), cursor_(floorDiv(start_ms, tick_ms)) {}

  void schedule(EntryId id, TimeMs due_ms, std::uint8_t score) {
    cancel(id);
    const std::int64_t tick = std::max(ceilDiv(due_ms, tick_ms_), cursor_);
    pending_.insert({tick, -static_cast<int>(score), id});
    entries_[id] = Entry{tick, due_ms, score, false};
  }

  bool cancel(EntryId id) {
    auto found = entries_.find(id);
    if (found == entries_.end()) return false;
    const Entry& entry = found->second;
    if (entry.ready) {
      ready_.erase(std::find(ready_.begin(), ready_.end(), id));
    } else {
      pending_.erase({entry.tick, -static_cast<int>(entry.score), id});
    }
    entries_.erase(found);
    return true;
  }

  std::size_t popDue(TimeMs now_ms, std::vector<Expired>& out, std::size_t count_max) {
    now_ms_ = std::max(now_ms_, now_ms);
    const std::int64_t target = std::max(floorDiv(now_ms_, tick_ms_), cursor_);
    std::size_t appended = 0;
    // Each round but the last moves at least one pending entry to ready_.
    const std::size_t rounds_max = entries_.size() + 2;
    for (std::size_t round = 0; round < rounds_max; ++round) {
      while (!ready_.empty() && appended < count_max) {
        const Entry& entry = entries_.at(ready_.front());
        out.push_back(Expired{ready_.front(), entry.due_ms, entry.score});
        entries_.erase(ready_.front());
        ready_.pop_front();
        ++appended;
      }
      if (!ready_.empty()) return appended;
      if (pending_.empty() || std::get<0>(*pending_.begin()) > target) {
        cursor_ = target;
        return appended;
      }
      if (appended == count_max) return appended;
      cursor_ = std::get<0>(*pending_.begin());
      while (!pending_.empty() && std::get<0>(*pending_.begin()) == cursor_) {
        const EntryId id = std::get<2>(*pending_.begin());
        ready_.push_back(id);
        entries_.at(id).ready = true;
        pending_.erase(pending_.begin());
      }
    }
    FAIL("the reference model did not converge");
    return appended;
  }

  std::optional<TimeMs> nextDue() const {
    if (!ready_.empty()) return cursor_ * tick_ms_;
    if (pending_.empty()) return std::nullopt;
    return std::get<0>(*pending_.begin()) * tick_ms_;
  }

  bool isScheduled(EntryId id) const { return entries_.count(id) != 0; }
  std::size_t size() const { return entries_.size(); }
  TimeMs now() const { return now_ms_; }

 private:
  struct Entry {
    std::int64_t tick;
    TimeMs due_ms;
    std::uint8_t score;
    bool ready;
  };

  DurationMs tick_ms_;
  TimeMs now_ms_;
  std::int64_t cursor_;
  std::set<std::tuple<std::int64_t, int, EntryId>> pending_;
  std::deque<EntryId> ready_;
  std::map<EntryId, Entry> entries_;
};

}  // namespace

TEST_CASE("within a tick: score descending, then id ascending; due_ms comes back unrounded") {
  TimerWheel wheel(kStartMs, kTickMs);
  // Due in the 100 ms up to a tick boundary: each comes out at that boundary, none before
  // its due time.
  const TimeMs tick_start_ms = kStartMs + 10 * kTickMs;
  wheel.schedule(7, tick_start_ms - 1, 50);
  wheel.schedule(3, tick_start_ms - 90, 50);
  wheel.schedule(9, tick_start_ms, 100);
  wheel.schedule(1, tick_start_ms - 50, 0);
  wheel.schedule(5, tick_start_ms - 99, 50);
  wheel.schedule(2, tick_start_ms - 2, 99);
  CHECK(wheel.size() == 6);
  CHECK(wheel.nextDue() == tick_start_ms);
  CHECK(pop(wheel, tick_start_ms - 1).empty());
  const std::vector<Expired> out = pop(wheel, tick_start_ms);
  CHECK(idsOf(out) == std::vector<EntryId>{9, 2, 3, 5, 7, 1});
  REQUIRE(out.size() == 6);
  CHECK(out[0].due_ms == tick_start_ms);
  CHECK(out[1].due_ms == tick_start_ms - 2);
  CHECK(out[1].score == 99);
  CHECK(out[4].due_ms == tick_start_ms - 1);
  CHECK(wheel.size() == 0);
  CHECK_FALSE(wheel.nextDue().has_value());
}

TEST_CASE("nothing comes out before its due time: a time inside a tick waits for its end") {
  TimerWheel wheel(kStartMs, kTickMs);
  const TimeMs due_ms = kStartMs + 5 * kTickMs + 1;
  wheel.schedule(1, due_ms, 10);
  CHECK(wheel.nextDue() == kStartMs + 6 * kTickMs);
  CHECK(pop(wheel, due_ms - 1).empty());
  CHECK(pop(wheel, due_ms).empty());
  CHECK(pop(wheel, kStartMs + 6 * kTickMs - 1).empty());
  CHECK(idsOf(pop(wheel, kStartMs + 6 * kTickMs)) == std::vector<EntryId>{1});
}

TEST_CASE("across ticks: tick ascending, whatever the scores") {
  TimerWheel wheel(kStartMs, kTickMs);
  wheel.schedule(1, kStartMs + 5 * kTickMs, 0);
  wheel.schedule(2, kStartMs + 3 * kTickMs + 1, 10);
  wheel.schedule(3, kStartMs + 70 * kTickMs, 100);  // level 1 at this start
  wheel.schedule(4, kStartMs + 3 * kTickMs, 90);
  wheel.schedule(5, kStartMs + 5000 * kTickMs, 100);
  CHECK(idsOf(pop(wheel, kStartMs + kHourMs)) == std::vector<EntryId>{4, 2, 1, 3, 5});
  CHECK(wheel.now() == kStartMs + kHourMs);
}

TEST_CASE("timers far ahead at every level and in the overflow fire at the first tick after") {
  // Started on a 2^36-tick boundary (the epoch), a delay of d ticks with 64^L <= d < 64^(L+1)
  // sits at level L; at 100 ms level 5 reaches 217.8 years.
  struct Timer {
    EntryId id;
    DurationMs delay_ms;
    std::size_t level;
  };
  const std::vector<Timer> timers = {
      {10, 5 * kTickMs + 42, 0},
      {11, (64 * 3 + 7) * kTickMs + 1, 1},
      {12, (64 * 64 * 5 + 100) * kTickMs, 2},
      {13, (std::int64_t{64} * 64 * 64 * 9 + 12345) * kTickMs + 99, 3},
      {14, 3 * kYearMs + 1234, 4},
      {15, 100 * kYearMs + 77, 5},
      {16, 300 * kYearMs + 5, TimerWheel::kOverflowLevel},
      {17, 1000 * kYearMs, TimerWheel::kOverflowLevel},
      {18, 1000 * kYearMs + kTickMs, TimerWheel::kOverflowLevel},
  };
  const TimeMs start_ms = 0;
  TimerWheel wheel(start_ms, kTickMs);
  for (const Timer& timer : timers) {
    wheel.schedule(timer.id, start_ms + timer.delay_ms, static_cast<std::uint8_t>(timer.id));
  }
  for (const Timer& timer : timers) {
    INFO("id " << timer.id);
    CHECK(wheel.levelOf(timer.id) == timer.level);
  }
  for (const Timer& timer : timers) {
    INFO("id " << timer.id);
    const TimeMs tick_start_ms = ceilDiv(start_ms + timer.delay_ms, kTickMs) * kTickMs;
    REQUIRE(wheel.nextDue() == tick_start_ms);
    CHECK(pop(wheel, tick_start_ms - 1).empty());
    const std::vector<Expired> out = pop(wheel, tick_start_ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0].id == timer.id);
    CHECK(out[0].due_ms == start_ms + timer.delay_ms);
  }
  CHECK(wheel.size() == 0);
  CHECK(wheel.cascadeCount() > 0);
}

TEST_CASE("three years ahead overflows a 1 ms wheel and still fires on time") {
  TimerWheel wheel(kStartMs, 1);
  const TimeMs due_ms = kStartMs + 3 * kYearMs + 17;
  wheel.schedule(1, due_ms, 40);
  wheel.schedule(2, kStartMs + 2 * kHourMs, 40);
  wheel.schedule(3, kStartMs + 10 * kYearMs, 40);
  CHECK(wheel.levelOf(1) == TimerWheel::kOverflowLevel);
  CHECK(wheel.levelOf(3) == TimerWheel::kOverflowLevel);
  CHECK(idsOf(pop(wheel, kStartMs + kDayMs)) == std::vector<EntryId>{2});
  CHECK(wheel.nextDue() == due_ms);
  CHECK(pop(wheel, due_ms - 1).empty());
  CHECK(idsOf(pop(wheel, due_ms)) == std::vector<EntryId>{1});
  CHECK(wheel.nextDue() == kStartMs + 10 * kYearMs);
  CHECK(idsOf(pop(wheel, kStartMs + 10 * kYearMs)) == std::vector<EntryId>{3});
}

TEST_CASE("one huge jump returns every level's entries in tick order") {
  TimerWheel wheel(kStartMs, kTickMs);
  std::vector<EntryId> expected;
  const std::vector<DurationMs> delays_ms = {
      0, kSecondMs, kMinuteMs, kHourMs, kDayMs, 30 * kDayMs, kYearMs, 5 * kYearMs, 500 * kYearMs};
  for (std::size_t index = 0; index < delays_ms.size(); ++index) {
    const auto id = static_cast<EntryId>(delays_ms.size() - index);
    wheel.schedule(id, kStartMs + delays_ms[index], static_cast<std::uint8_t>(index));
    expected.push_back(id);
  }
  CHECK(idsOf(pop(wheel, kStartMs + 1000 * kYearMs)) == expected);
}

TEST_CASE("50,000 due in one tick come out score descending, then id ascending") {
  constexpr EntryId kCount = 50000;
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TimerWheel wheel(kStartMs, kTickMs);
  const TimeMs due_ms = kStartMs + 2 * kHourMs;  // a tick boundary
  std::vector<EntryId> ids(kCount);
  for (EntryId id = 0; id < kCount; ++id) ids[id] = id;
  std::shuffle(ids.begin(), ids.end(), random);
  std::vector<std::uint8_t> scores(kCount);
  for (const EntryId id : ids) {
    scores[id] = static_cast<std::uint8_t>(random() % 101);
    wheel.schedule(id, due_ms - static_cast<TimeMs>(random() % kTickMs), scores[id]);
  }
  std::vector<Expired> out;
  for (std::size_t call = 0; call < kCount && wheel.size() > 0; ++call) {
    wheel.popDue(due_ms, out, 1000);
  }
  REQUIRE(out.size() == kCount);
  std::size_t ordered = 0;
  for (std::size_t index = 1; index < out.size(); ++index) {
    const Expired& before = out[index - 1];
    const Expired& after = out[index];
    if (before.score > after.score || (before.score == after.score && before.id < after.id)) {
      ++ordered;
    }
  }
  CHECK(ordered == kCount - 1);
  CHECK(out.front().score == 100);
  CHECK(out.back().score == 0);
}

TEST_CASE("cancel and reschedule") {
  TimerWheel wheel(kStartMs, kTickMs);
  CHECK_FALSE(wheel.cancel(5));
  CHECK_FALSE(wheel.isScheduled(5));
  CHECK_FALSE(wheel.isScheduled(1000000));

  wheel.schedule(5, kStartMs + kMinuteMs, 10);
  wheel.schedule(6, kStartMs + kMinuteMs, 20);
  CHECK(wheel.isScheduled(5));
  CHECK(wheel.cancel(5));
  CHECK_FALSE(wheel.isScheduled(5));
  CHECK_FALSE(wheel.cancel(5));
  CHECK(wheel.size() == 1);

  SUBCASE("moving an id: only the new time and score count") {
    wheel.schedule(6, kStartMs + kDayMs, 30);
    CHECK(wheel.size() == 1);
    CHECK(wheel.nextDue() == kStartMs + kDayMs);
    CHECK(pop(wheel, kStartMs + kHourMs).empty());
    const std::vector<Expired> out = pop(wheel, kStartMs + kDayMs);
    REQUIRE(out.size() == 1);
    CHECK(out[0].id == 6);
    CHECK(out[0].score == 30);
    CHECK(out[0].due_ms == kStartMs + kDayMs);
    CHECK_FALSE(wheel.isScheduled(6));
  }
  SUBCASE("moving an id earlier, then re-adding a cancelled one") {
    wheel.schedule(6, kStartMs + kSecondMs, 20);
    wheel.schedule(5, kStartMs + 2 * kSecondMs, 10);
    CHECK(idsOf(pop(wheel, kStartMs + kSecondMs)) == std::vector<EntryId>{6});
    CHECK(idsOf(pop(wheel, kStartMs + kMinuteMs)) == std::vector<EntryId>{5});
  }
  SUBCASE("an id cancelled or moved while waiting in a cut-short tick") {
    for (EntryId id = 10; id < 20; ++id) wheel.schedule(id, kStartMs + kSecondMs, 50);
    CHECK(idsOf(pop(wheel, kStartMs + kMinuteMs, 3)) == std::vector<EntryId>{10, 11, 12});
    CHECK(wheel.isScheduled(15));
    CHECK(wheel.cancel(15));
    CHECK_FALSE(wheel.cancel(15));
    wheel.schedule(13, kStartMs + kHourMs, 50);
    CHECK(wheel.size() == 7);
    CHECK(idsOf(pop(wheel, kStartMs + kMinuteMs)) == std::vector<EntryId>{14, 16, 17, 18, 19, 6});
    CHECK(idsOf(pop(wheel, kStartMs + kHourMs)) == std::vector<EntryId>{13});
  }
}

TEST_CASE("cancelling and moving ids out of a crowded slot keeps the rest intact") {
  constexpr EntryId kCount = 1000;
  TimerWheel wheel(kStartMs, kTickMs);
  const TimeMs due_ms = kStartMs + 20 * kMinuteMs;  // one level-2 slot, many chunks
  for (EntryId id = 0; id < kCount; ++id) {
    wheel.schedule(id, due_ms, static_cast<std::uint8_t>(id % 7));
  }
  std::vector<EntryId> expected;
  std::size_t moved = 0;
  for (EntryId id = 0; id < kCount; ++id) {
    if (id % 3 == 0) {
      CHECK(wheel.cancel(id));
    } else if (id % 5 == 0) {
      wheel.schedule(id, due_ms + kHourMs, 0);
      ++moved;
    } else {
      expected.push_back(id);
    }
    if (id % 97 == 0) REQUIRE(wheel.validate() == "");
  }
  CHECK(wheel.validate() == "");
  std::stable_sort(expected.begin(), expected.end(),
                   [](EntryId left, EntryId right) { return left % 7 > right % 7; });
  CHECK(idsOf(pop(wheel, due_ms)) == expected);
  CHECK(wheel.validate() == "");
  CHECK(wheel.size() == moved);
  CHECK(wheel.nextDue() == due_ms + kHourMs);
}

TEST_CASE("nextDue is exact at every level, also after its earliest entry is cancelled") {
  const TimeMs start_ms = 37;  // in the tick that starts a level-5 lap: one level per base
  TimerWheel wheel(start_ms, kTickMs);
  CHECK_FALSE(wheel.nextDue().has_value());
  // Several entries share each coarse slot; the earliest is not at the slot's start.
  const std::vector<DurationMs> bases_ms = {3 * kSecondMs, 5 * kMinuteMs, 3 * kHourMs,  9 * kDayMs,
                                            2 * kYearMs,   90 * kYearMs,  400 * kYearMs};
  EntryId id = 0;
  for (const DurationMs base_ms : bases_ms) {
    wheel.schedule(id++, start_ms + base_ms + 3 * kTickMs, 1);
    wheel.schedule(id++, start_ms + base_ms + 1 * kTickMs, 1);
    wheel.schedule(id++, start_ms + base_ms + 2 * kTickMs, 1);
  }
  std::set<std::size_t> levels;
  for (EntryId entry = 0; entry < id; ++entry) levels.insert(*wheel.levelOf(entry));
  CHECK(levels.size() == TimerWheel::kLevelCount + 1);
  for (std::size_t index = 0; index < bases_ms.size(); ++index) {
    INFO("base " << bases_ms[index] << " ms");
    const TimeMs base_ms = start_ms + bases_ms[index];
    const auto first = static_cast<EntryId>(3 * index);
    CHECK(wheel.nextDue() == ceilDiv(base_ms + kTickMs, kTickMs) * kTickMs);
    CHECK(wheel.cancel(first + 1));
    CHECK(wheel.nextDue() == ceilDiv(base_ms + 2 * kTickMs, kTickMs) * kTickMs);
    CHECK(wheel.cancel(first + 2));
    CHECK(wheel.nextDue() == ceilDiv(base_ms + 3 * kTickMs, kTickMs) * kTickMs);
    const TimeMs next_ms = *wheel.nextDue();
    CHECK(pop(wheel, next_ms - 1).empty());
    CHECK(idsOf(pop(wheel, next_ms)) == std::vector<EntryId>{first});
  }
  CHECK_FALSE(wheel.nextDue().has_value());
}

TEST_CASE("count_max splits a tick; the rest comes first on the next call, in order") {
  TimerWheel wheel(kStartMs, kTickMs);
  const TimeMs tick_a_ms = kStartMs + kSecondMs;
  const TimeMs tick_b_ms = tick_a_ms + kTickMs;
  for (EntryId id = 0; id < 10; ++id) {
    wheel.schedule(id, tick_a_ms, static_cast<std::uint8_t>(id * 10));
  }
  wheel.schedule(20, tick_b_ms, 100);
  wheel.schedule(21, tick_b_ms, 100);
  CHECK(idsOf(pop(wheel, tick_b_ms, 4)) == std::vector<EntryId>{9, 8, 7, 6});
  CHECK(wheel.nextDue() == tick_a_ms);
  // Scheduled into the cut-short tick: sorted among themselves, after the rest.
  wheel.schedule(30, tick_a_ms, 100);
  wheel.schedule(31, kStartMs, 55);
  CHECK(idsOf(pop(wheel, tick_b_ms, 4)) == std::vector<EntryId>{5, 4, 3, 2});
  CHECK(idsOf(pop(wheel, tick_b_ms, 0)).empty());
  CHECK(idsOf(pop(wheel, tick_b_ms, 3)) == std::vector<EntryId>{1, 0, 30});
  CHECK(idsOf(pop(wheel, tick_b_ms, 2)) == std::vector<EntryId>{31, 20});
  CHECK(idsOf(pop(wheel, tick_b_ms)) == std::vector<EntryId>{21});
  CHECK(wheel.size() == 0);
}

TEST_CASE("a due time in the past fires on the next popDue, an overdue backlog by score") {
  TimerWheel wheel(kStartMs, kTickMs);
  CHECK(pop(wheel, kStartMs + kHourMs).empty());
  wheel.schedule(1, kStartMs - kDayMs, 10);
  wheel.schedule(2, kStartMs + 5 * kMinuteMs, 90);
  wheel.schedule(3, kStartMs + kHourMs, 50);
  wheel.schedule(4, std::numeric_limits<TimeMs>::min(), 50);
  CHECK(wheel.nextDue() <= wheel.now());
  CHECK(wheel.levelOf(1) == 0);
  const std::vector<Expired> out = pop(wheel, kStartMs + kHourMs);
  CHECK(idsOf(out) == std::vector<EntryId>{2, 3, 4, 1});
  REQUIRE(out.size() == 4);
  CHECK(out[3].due_ms == kStartMs - kDayMs);
  CHECK(out[2].due_ms == std::numeric_limits<TimeMs>::min());

  SUBCASE("before the wheel's start time") {
    TimerWheel fresh(kStartMs, kTickMs);
    fresh.schedule(8, kStartMs - 1, 0);
    CHECK(fresh.nextDue() == kStartMs);
    CHECK(idsOf(pop(fresh, kStartMs)) == std::vector<EntryId>{8});
  }
  SUBCASE("time never moves backwards") {
    wheel.schedule(5, kStartMs + 2 * kHourMs, 0);
    CHECK(pop(wheel, kStartMs).empty());
    CHECK(wheel.now() == kStartMs + kHourMs);
    CHECK(idsOf(pop(wheel, kStartMs + 2 * kHourMs)) == std::vector<EntryId>{5});
  }
}

TEST_CASE("extreme instants and scores") {
  TimerWheel wheel(kStartMs, 7);
  const TimeMs last_ms = std::numeric_limits<TimeMs>::max();
  wheel.schedule(1, last_ms, 255);
  CHECK(wheel.levelOf(1) == TimerWheel::kOverflowLevel);
  CHECK(wheel.nextDue() == last_ms / 7 * 7);
  const std::vector<Expired> out = pop(wheel, last_ms);
  REQUIRE(out.size() == 1);
  CHECK(out[0].score == 100);  // above 100 counts as 100
  CHECK(out[0].due_ms == last_ms);
}

TEST_CASE("memory stays within 32 bytes per entry") {
  constexpr EntryId kCount = 200000;
  TimerWheel wheel(kStartMs, kTickMs);
  for (EntryId id = 0; id < kCount; ++id) {
    wheel.schedule(id, kStartMs + static_cast<TimeMs>(id) * 37 % kHourMs, 50);
  }
  MESSAGE("bytes per entry: " << static_cast<double>(wheel.memoryBytes()) / kCount);
  CHECK(wheel.memoryBytes() <= std::size_t{32} * kCount);
}

TEST_CASE("what only a large tick or a full wheel needed is handed back, and the wheel goes on") {
  constexpr EntryId kCount = 200000;
  const std::size_t empty_bytes = TimerWheel(kStartMs, kTickMs).memoryBytes();
  // Well under what the wheel held for the entries (~32 B each), well over its fixed part.
  const std::size_t handed_back_bytes = empty_bytes + std::size_t{64} * 1024;
  const TimeMs due_ms = kStartMs + kHourMs;
  auto fill = [&](TimerWheel& wheel) {
    for (EntryId id = 0; id < kCount; ++id) wheel.schedule(id, due_ms, id % 101);
    REQUIRE(wheel.memoryBytes() > std::size_t{16} * kCount);
  };

  SUBCASE("every entry handed out in one tick") {
    TimerWheel wheel(kStartMs, kTickMs);
    fill(wheel);
    std::vector<Expired> out;
    while (wheel.size() > 0) wheel.popDue(due_ms, out, 4096);
    CHECK(out.size() == kCount);
    CHECK(out.front().score == 100);
    CHECK(wheel.memoryBytes() > handed_back_bytes);  // until asked: the entries may come back
    wheel.releaseIfEmpty();
    MESSAGE("bytes held: " << wheel.memoryBytes() << " (empty " << empty_bytes << ")");
    CHECK(wheel.memoryBytes() < handed_back_bytes);
  }
  SUBCASE("every entry cancelled") {
    TimerWheel wheel(kStartMs, kTickMs);
    fill(wheel);
    for (EntryId id = 0; id < kCount; ++id) {
      REQUIRE(wheel.cancel(id));
      if (id % 50000 == 0) wheel.releaseIfEmpty();  // not empty yet: a no-op
    }
    wheel.releaseIfEmpty();
    CHECK(wheel.memoryBytes() < handed_back_bytes);
  }
  SUBCASE("the rest of a sorted tick cancelled before it was handed out") {
    TimerWheel wheel(kStartMs, kTickMs);
    fill(wheel);
    REQUIRE(pop(wheel, due_ms, 10).size() == 10);
    for (EntryId id = 0; id < kCount; ++id) wheel.cancel(id);
    CHECK(wheel.size() == 0);
    wheel.releaseIfEmpty();
    CHECK(wheel.memoryBytes() < handed_back_bytes);
    CHECK(pop(wheel, due_ms + kTickMs).empty());
    CHECK(wheel.validate() == "");
    wheel.schedule(kCount - 1, due_ms + kMinuteMs, 3);
    CHECK(idsOf(pop(wheel, due_ms + kMinuteMs)) == std::vector<EntryId>{kCount - 1});
  }
  SUBCASE("a sorted tick's sort keys go once it is sorted, its order once handed out") {
    TimerWheel wheel(kStartMs, kTickMs);
    fill(wheel);
    wheel.schedule(kCount, due_ms + kDayMs, 7);  // keeps the wheel from emptying
    const std::size_t full_bytes = wheel.memoryBytes();
    REQUIRE(pop(wheel, due_ms, 10).size() == 10);
    // The 4-byte order of the tick is kept while it is handed out; the 8-byte keys are not.
    CHECK(wheel.memoryBytes() < full_bytes + std::size_t{6} * kCount);
    std::vector<Expired> out;
    while (wheel.size() > 1) wheel.popDue(due_ms, out, 4096);
    CHECK(wheel.memoryBytes() <= full_bytes);
    CHECK(wheel.memoryBytes() > handed_back_bytes);  // one entry still scheduled
  }
  SUBCASE("below keep_entries nothing is handed back") {
    TimerWheel wheel(kStartMs, kTickMs, 4 * kCount);
    fill(wheel);
    const std::size_t full_bytes = wheel.memoryBytes();
    for (EntryId id = 0; id < kCount; ++id) REQUIRE(wheel.cancel(id));
    wheel.releaseIfEmpty();
    CHECK(wheel.memoryBytes() == full_bytes);
  }
}

TEST_CASE("an emptied wheel schedules, orders and cancels again as before") {
  TimerWheel wheel(kStartMs, kTickMs, 0);  // hands everything back each time it empties
  for (int lap = 0; lap < 3; ++lap) {
    INFO("lap " << lap);
    const TimeMs due_ms = wheel.now() + kMinuteMs;
    wheel.schedule(5, due_ms, 10);
    wheel.schedule(3, due_ms, 90);
    wheel.schedule(9, due_ms + kDayMs, 50);
    wheel.schedule(1, due_ms, 10);
    CHECK(wheel.cancel(9));
    CHECK(wheel.validate() == "");
    CHECK(text(wheel.nextDue()) == text(due_ms));
    CHECK(idsOf(pop(wheel, due_ms)) == std::vector<EntryId>{3, 1, 5});
    CHECK(wheel.size() == 0);
    wheel.releaseIfEmpty();
    CHECK(wheel.memoryBytes() == TimerWheel(kStartMs, kTickMs).memoryBytes());
    CHECK(!wheel.isScheduled(5));
    CHECK(!wheel.nextDue());
    CHECK(wheel.validate() == "");
  }
}

TEST_CASE("random schedule, cancel and popDue agree with a sorted reference model") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  auto below = [&random](std::uint64_t bound) { return random() % bound; };

  constexpr std::size_t kRoundCount = 12;
  constexpr std::size_t kOperationCount = 12000;
  for (std::size_t round = 0; round < kRoundCount; ++round) {
    // Few ids crowd each slot less; many fill slots with several chunks.
    const EntryId id_count = std::vector<EntryId>{50, 600, 5000}[round % 3];
    const DurationMs tick_ms = std::vector<DurationMs>{1, 7, 100, 1000}[below(4)];
    const TimeMs start_ms = below(8) == 0 ? -static_cast<TimeMs>(below(kYearMs))
                                          : kStartMs + static_cast<TimeMs>(below(kYearMs));
    // Half the rounds hand back the nodes and scratch whenever they can.
    const std::size_t keep_entries = round % 2 == 0 ? 0 : TimerWheel::kKeepEntriesDefault;
    TimerWheel wheel(start_ms, tick_ms, keep_entries);
    ReferenceWheel model(start_ms, tick_ms);
    std::size_t popped = 0;
    for (std::size_t step = 0; step < kOperationCount; ++step) {
      INFO("seed " << seed << " round " << round << " step " << step << " tick " << tick_ms);
      const std::uint64_t kind = below(100);
      const auto id = static_cast<EntryId>(below(id_count));
      if (kind < 45) {
        // Delays from the past to centuries ahead, often within a few ticks of each other.
        static const std::vector<DurationMs> kSpansMs = {
            3,           kSecondMs,   kMinuteMs,     kHourMs,        kDayMs,
            40 * kDayMs, 4 * kYearMs, 300 * kYearMs, 30000 * kYearMs};
        const DurationMs span_ms = kSpansMs[below(kSpansMs.size())];
        TimeMs due_ms = model.now() + static_cast<TimeMs>(below(span_ms)) * tick_ms / 3;
        if (below(10) == 0) due_ms = model.now() - static_cast<TimeMs>(below(span_ms));
        const auto score = static_cast<std::uint8_t>(below(4) == 0 ? 50 : below(101));
        wheel.schedule(id, due_ms, score);
        model.schedule(id, due_ms, score);
      } else if (kind < 60) {
        REQUIRE(wheel.cancel(id) == model.cancel(id));
      } else {
        TimeMs now_ms = model.now();
        const std::uint64_t jump = below(10);
        const std::optional<TimeMs> next_ms = model.nextDue();
        if (jump < 4) {
          now_ms += static_cast<TimeMs>(below(4 * static_cast<std::uint64_t>(tick_ms)));
        } else if (jump < 7 && next_ms) {
          now_ms = std::max(now_ms, *next_ms + static_cast<TimeMs>(below(3)) - 1);
        } else if (jump < 9) {
          now_ms += static_cast<TimeMs>(below(kDayMs));
        } else {
          now_ms += static_cast<TimeMs>(below(1000 * kYearMs));
        }
        const std::size_t count_max = below(3) == 0 ? kAll : below(40);
        std::vector<Expired> actual;
        std::vector<Expired> expected;
        REQUIRE(wheel.popDue(now_ms, actual, count_max) ==
                model.popDue(now_ms, expected, count_max));
        REQUIRE(text(actual) == text(expected));
        for (const Expired& entry : actual) REQUIRE(entry.due_ms <= now_ms);  // never early
        popped += actual.size();
        REQUIRE(wheel.now() == model.now());
      }
      if (below(8) == 0) wheel.releaseIfEmpty();
      if (step % 16 == 0) REQUIRE(wheel.validate() == "");
      REQUIRE(wheel.size() == model.size());
      REQUIRE(text(wheel.nextDue()) == text(model.nextDue()));
      const auto probe = static_cast<EntryId>(below(id_count));
      REQUIRE(wheel.isScheduled(probe) == model.isScheduled(probe));
    }
    CHECK(popped > 0);
  }
}
