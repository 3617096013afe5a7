// TimerWheel: every enrolled contact's next due time, drained tick by tick, highest
// prospect score first within a tick.
//
// (Header comment with the levels/granularity/range table and what precision is given up
// goes here.)
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/time.hpp"

namespace seqd {

class TimerWheel {
 public:
  using EntryId = std::uint32_t;  // dense: an EnrollmentId

  struct Expired {
    EntryId id;
    TimeMs due_ms;       // as scheduled (not rounded)
    std::uint8_t score;  // 0..100
  };

  // start_ms: the wheel's current time; tick_ms: its resolution (> 0).
  TimerWheel(TimeMs start_ms, DurationMs tick_ms);

  // Schedules id at due_ms with score (0..100); an id already scheduled is moved.
  // A due time at or before the wheel's current time fires on the next popDue().
  void schedule(EntryId id, TimeMs due_ms, std::uint8_t score);
  // Returns true when id was scheduled.
  bool cancel(EntryId id);
  bool isScheduled(EntryId id) const;
  std::size_t size() const;

  // The start of the earliest tick holding an entry, or nullopt when empty. Exact: never
  // later than the earliest due entry's tick.
  std::optional<TimeMs> nextDue() const;

  // Moves the wheel's time to now_ms (never backwards) and appends to out the entries whose
  // due tick is <= now_ms's tick, in order: tick ascending, then score descending, then id
  // ascending. Appends at most count_max entries; the rest stay for the next call.
  // Returns the number appended. Popped entries are no longer scheduled.
  std::size_t popDue(TimeMs now_ms, std::vector<Expired>& out, std::size_t count_max);

  TimeMs now() const;
  DurationMs tick() const;
};

}  // namespace seqd
