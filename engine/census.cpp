#include "engine/census.hpp"

#include "engine/assert.hpp"

namespace seqd {
namespace {

bool isRunning(EnrollmentStatus status) {
  return status == EnrollmentStatus::kScheduled || status == EnrollmentStatus::kActive;
}

// floor(ms / 1000) for negative times too.
std::int64_t floorSecond(TimeMs ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); }

}  // namespace

std::int64_t dueSecondOf(TimeMs next_at_ms) { return -floorSecond(-next_at_ms); }

void EnrollmentCensus::update(EnrollmentId id, Symbol sequence, EnrollmentStatus status,
                              TimeMs next_at_ms) {
  if (id >= counted_status_.size()) {
    counted_status_.resize(id + 1, kNotCounted);
    counted_due_.resize(id + 1, kDueNone);
  }
  const auto status_index = static_cast<std::uint8_t>(status);
  SEQD_ASSERT(status_index < kEnrollmentStatusCount);
  const std::int64_t due_s =
      isRunning(status) && next_at_ms != kNoTime ? dueSecondOf(next_at_ms) : kNotDue;
  const std::uint8_t counted = counted_status_[id];
  if (counted != status_index) {
    StatusCounts& of_sequence = by_sequence_[sequence.index()];
    if (counted != kNotCounted) {
      SEQD_ASSERT(by_status_[counted] > 0);
      SEQD_ASSERT(of_sequence[counted] > 0);
      --by_status_[counted];
      --of_sequence[counted];
    }
    ++by_status_[status_index];
    ++of_sequence[status_index];
    counted_status_[id] = status_index;
  }
  const std::int64_t counted_due_s = countedDue(id);
  if (counted_due_s != due_s) {
    if (counted_due_s != kNotDue) removeDue(counted_due_s);
    if (due_s != kNotDue) addDue(due_s);
    setCountedDue(id, due_s);
  }
}

std::int64_t EnrollmentCensus::countedDue(EnrollmentId id) const {
  const std::uint32_t value = counted_due_[id];
  if (value == kDueNone) return kNotDue;
  if (value == kDueFar) return far_due_.find(id)->second;
  return due_base_s_ + value;
}

void EnrollmentCensus::setCountedDue(EnrollmentId id, std::int64_t second) {
  if (counted_due_[id] == kDueFar) far_due_.erase(id);
  if (second == kNotDue) {
    counted_due_[id] = kDueNone;
    return;
  }
  // The base sits half the range before the first second counted, so that seconds on either
  // side of it fit.
  constexpr std::int64_t kHalfRange = std::int64_t{1} << 31;
  if (due_base_s_ == kNotDue) due_base_s_ = second - kHalfRange;
  // Neither kDueNone nor kDueFar: 1 .. UINT32_MAX - 1 from the base (and no overflow: a due
  // second is a time in ms divided by 1000).
  if (second > due_base_s_ && second - due_base_s_ < kDueFar) {
    counted_due_[id] = static_cast<std::uint32_t>(second - due_base_s_);
  } else {
    counted_due_[id] = kDueFar;
    far_due_[id] = second;
  }
}

void EnrollmentCensus::clear() { *this = EnrollmentCensus(); }

void EnrollmentCensus::reserve(std::size_t enrollments) {
  counted_status_.reserve(enrollments);
  counted_due_.reserve(enrollments);
}

const StatusCounts& EnrollmentCensus::ofSequence(Symbol sequence) const {
  static const StatusCounts kNone{};
  auto found = by_sequence_.find(sequence.index());
  return found == by_sequence_.end() ? kNone : found->second;
}

void EnrollmentCensus::addDue(std::int64_t second) {
  if (second <= folded_s_) {
    ++due_passed_;
  } else {
    ++due_ahead_[second];
  }
}

void EnrollmentCensus::removeDue(std::int64_t second) {
  if (second <= folded_s_) {
    SEQD_ASSERT(due_passed_ > 0);
    --due_passed_;
    return;
  }
  auto found = due_ahead_.find(second);
  SEQD_ASSERT(found != due_ahead_.end());
  SEQD_ASSERT(found->second > 0);
  if (--found->second == 0) due_ahead_.erase(found);
}

std::uint64_t EnrollmentCensus::dueAt(TimeMs now_ms) {
  const std::int64_t now_s = floorSecond(now_ms);
  if (now_s <= folded_s_) return due_passed_;
  // Each second passed is looked up once, or the map is walked once when it holds fewer
  // entries than that (a first census, or a clock moved ahead by days).
  const bool walk_map =
      folded_s_ == INT64_MIN || static_cast<std::uint64_t>(now_s - folded_s_) > due_ahead_.size();
  if (walk_map) {
    boost::unordered::erase_if(due_ahead_, [&](const auto& entry) {
      if (entry.first > now_s) return false;
      due_passed_ += entry.second;
      return true;
    });
  } else {
    for (std::int64_t second = folded_s_ + 1; second <= now_s; ++second) {
      auto found = due_ahead_.find(second);
      if (found == due_ahead_.end()) continue;
      due_passed_ += found->second;
      due_ahead_.erase(found);
    }
  }
  folded_s_ = now_s;
  return due_passed_;
}

}  // namespace seqd
