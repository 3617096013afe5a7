// Metrics: what `GET /metrics` at seqd.yaml's `metrics_listen` answers, in the Prometheus text
// exposition format (version 0.0.4).
//
// The engine thread publishes a MetricsSnapshot between rounds (at most once a second, and
// never while a scrape waits on it); the HTTP thread formats the latest one. A scrape never
// waits for the engine thread, and what it shows is at most about a second old.
//
//   metric                                        type       labels
//   seqd_build_info                               gauge      version
//   seqd_sends_total                              counter    mailbox, result (sent, retry,
//                                                            bounced, returned)
//   seqd_due_backlog                              gauge      enrollments due and not yet sent
//   seqd_enrollments                              gauge      status
//   seqd_timer_wheel_entries                      gauge
//   seqd_store_commit_duration_seconds            histogram
//   seqd_step_firing_lateness_seconds             histogram
//   seqd_reloads_total                            counter    result (ok, rejected, refused)
//   seqd_metrics_snapshot_timestamp_seconds       gauge      when the snapshot was taken
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "engine/histogram.hpp"
#include "io/http_server.hpp"

namespace seqd {

// Buckets, in seconds: commits take ~1 ms on an SSD (fsync), seconds on a choked disk.
inline Histogram commitDurationHistogram() {
  return Histogram{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

struct MetricsSnapshot {
  std::string version;
  double taken_at_seconds = 0;  // the daemon's clock, Unix seconds
  // mailbox -> result -> count
  std::map<std::string, std::map<std::string, std::uint64_t>> sends;
  std::uint64_t due_backlog = 0;
  std::map<std::string, std::uint64_t> enrollments;  // status -> count, every status present
  std::uint64_t wheel_entries = 0;
  Histogram commit_duration_seconds = commitDurationHistogram();
  Histogram firing_lateness_seconds = firingLatenessHistogram();
  std::map<std::string, std::uint64_t> reloads;  // result -> count
};

// The exposition text of `snapshot`.
std::string formatMetrics(const MetricsSnapshot& snapshot);

// GET /metrics: 200 with formatMetrics(snapshot); another method on /metrics: 405 with
// Allow: GET; any other path: 404. `snapshot` may be null before the
// first one is published: 503.
HttpResponse answerMetrics(const HttpRequest& request, const MetricsSnapshot* snapshot);

}  // namespace seqd
