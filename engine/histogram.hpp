// Histogram: counts of observations in fixed buckets, with their sum, in the shape Prometheus
// exposes (`le` upper bounds, cumulative at output). Used for the firing lateness (engine) and
// the store's commit latency (daemon); io/metrics.hpp formats it.
//
// The buckets are fixed at construction; observe() is O(buckets) without allocating.
// Thread-safety: none; the owner's thread observes, and a copy is what another thread reads.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace seqd {

class Histogram {
 public:
  // REQUIRES: upper_bounds ascending. Observations above the last go to +Inf.
  explicit Histogram(std::initializer_list<double> upper_bounds)
      : upper_bounds_(upper_bounds), counts_(upper_bounds.size() + 1, 0) {}

  void observe(double value) {
    std::size_t bucket = 0;
    while (bucket < upper_bounds_.size() && value > upper_bounds_[bucket]) ++bucket;
    ++counts_[bucket];
    sum_ += value;
    ++count_;
  }

  const std::vector<double>& upperBounds() const { return upper_bounds_; }
  // Per bucket, not cumulative; the last is above every bound (+Inf).
  const std::vector<std::uint64_t>& bucketCounts() const { return counts_; }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Buckets for how late a step fires after its due time, in seconds: at most one tick (100 ms)
// unless the daemon is behind, or was down.
inline Histogram firingLatenessHistogram() {
  return Histogram{0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 3600, 86400};
}

}  // namespace seqd
