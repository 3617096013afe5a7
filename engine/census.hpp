// EnrollmentCensus: how many enrollments stand in each status, overall and per sequence, and how
// many are due, kept as the enrollments change so that reading them costs O(sequences), not a
// pass over every enrollment (the metrics and STATUS= read them every second; at 10M
// enrollments that pass cost 90-320 ms: perf/RESULTS.md).
//
// The engine calls update() for an enrollment whenever it may have changed: each enrollment
// marked for its next snapshot (every change is, or it would not be stored) is counted again
// before a census is read and when the batch is taken; a restore and a reload count every
// enrollment again. update() replaces how the enrollment was counted before, so counting an
// unchanged one again changes nothing.
//
// Due: an enrollment is due at `now` when it is running (scheduled or active) and its step's
// due time (next_at, before any sending window) is at or before the last whole second at or
// before `now`. The one-second resolution is what keeps the count cheap: due times are
// counted per second in a hash map of the seconds still ahead, and when a census asks at a
// later second the seconds passed since the last one are folded into one count (each second
// at most once, or the map walked once when that is fewer entries). A census asked at an
// earlier second than the last one counts as of the last one (the clock never goes back).
//
// Memory: 5 bytes per enrollment (how each was counted: its status, and its due second as 4
// bytes from a base second, the first one counted: 68 years either side of it; one further
// away, which only an odd clock or a step waiting for decades makes, sits in a map instead),
// one map entry (about 16 bytes) per distinct second still ahead among running enrollments'
// due times, and a row of counts per sequence.
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <vector>

#include "engine/enrollment.hpp"
#include "engine/symbol.hpp"

namespace seqd {

using StatusCounts = std::array<std::uint64_t, kEnrollmentStatusCount>;

class EnrollmentCensus {
 public:
  // Counts the enrollment as it stands: in its sequence, under its status, and, running with
  // a due time, in that due time's second.
  void update(EnrollmentId id, Symbol sequence, EnrollmentStatus status, TimeMs next_at_ms);
  // Forgets every count (a restore or reload counts every enrollment again).
  void clear();
  // Room for ids below `enrollments`, so that counting that many does not grow the counts
  // step by step (a restart counts every enrollment again).
  void reserve(std::size_t enrollments);

  const StatusCounts& byStatus() const { return by_status_; }
  // The counts of one sequence's enrollments; all zero for a sequence with none.
  const StatusCounts& ofSequence(Symbol sequence) const;
  // Running enrollments whose step is due at the last whole second at or before now_ms.
  std::uint64_t dueAt(TimeMs now_ms);

 private:
  static constexpr std::int64_t kNotDue = INT64_MIN;
  void addDue(std::int64_t second);
  void removeDue(std::int64_t second);
  // The due second an enrollment is counted in (kNotDue when none), and setting it.
  std::int64_t countedDue(EnrollmentId id) const;
  void setCountedDue(EnrollmentId id, std::int64_t second);

  StatusCounts by_status_{};
  boost::unordered_flat_map<std::uint32_t, StatusCounts> by_sequence_;  // by Symbol index
  // How each enrollment is counted now (index == EnrollmentId): its status (kNotCounted when
  // it is not) and its due second: kDueNone when it is not running or has no due time,
  // kDueFar when far_due_ holds it, else the second due_base_s_ + value (which is neither).
  static constexpr std::uint8_t kNotCounted = 0xFF;
  static constexpr std::uint32_t kDueNone = 0;
  static constexpr std::uint32_t kDueFar = UINT32_MAX;
  std::vector<std::uint8_t> counted_status_;
  std::vector<std::uint32_t> counted_due_;
  std::int64_t due_base_s_ = kNotDue;  // set by the first due second counted
  boost::unordered_flat_map<EnrollmentId, std::int64_t> far_due_;
  // Due seconds at or before folded_s_ are counted in due_passed_; later ones per second.
  std::int64_t folded_s_ = INT64_MIN;
  std::uint64_t due_passed_ = 0;
  boost::unordered_flat_map<std::int64_t, std::uint32_t> due_ahead_;
};

// The second an enrollment due at next_at_ms counts in: the first whole second at or after it.
std::int64_t dueSecondOf(TimeMs next_at_ms);

}  // namespace seqd
