// Proves the metrics text: label values escaped as the exposition format wants, histogram
// buckets cumulative with +Inf equal to _count, every enrollment status and reload result
// present even at zero; and the route: GET /metrics only (404 elsewhere, 405 with Allow for
// other methods, 503 before the first snapshot).
#include "io/metrics.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace seqd;

namespace {

MetricsSnapshot sample() {
  MetricsSnapshot snapshot;
  snapshot.version = "0.1.0";
  snapshot.sends["a\"b\\c@acme.test"]["sent"] = 2;
  snapshot.enrollments = {{"scheduled", 1}, {"finished", 0}};
  snapshot.commit_duration_seconds.observe(0.0007);
  snapshot.commit_duration_seconds.observe(0.003);
  snapshot.commit_duration_seconds.observe(100);
  return snapshot;
}

}  // namespace

TEST_CASE("label values are escaped") {
  const std::string text = formatMetrics(sample());
  CHECK(text.find("seqd_sends_total{mailbox=\"a\\\"b\\\\c@acme.test\",result=\"sent\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("seqd_build_info{version=\"0.1.0\"} 1\n") != std::string::npos);
}

TEST_CASE("histogram buckets are cumulative and +Inf is the count") {
  const std::string text = formatMetrics(sample());
  CHECK(text.find("# TYPE seqd_store_commit_duration_seconds histogram\n") != std::string::npos);
  CHECK(text.find("seqd_store_commit_duration_seconds_bucket{le=\"0.0005\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("seqd_store_commit_duration_seconds_bucket{le=\"0.001\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("seqd_store_commit_duration_seconds_bucket{le=\"0.005\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("seqd_store_commit_duration_seconds_bucket{le=\"5\"} 2\n") != std::string::npos);
  CHECK(text.find("seqd_store_commit_duration_seconds_bucket{le=\"+Inf\"} 3\n") !=
        std::string::npos);
  CHECK(text.find("seqd_store_commit_duration_seconds_count 3\n") != std::string::npos);
}

TEST_CASE("reload results show at zero") {
  const std::string text = formatMetrics(sample());
  CHECK(text.find("seqd_reloads_total{result=\"ok\"} 0\n") != std::string::npos);
  CHECK(text.find("seqd_reloads_total{result=\"rejected\"} 0\n") != std::string::npos);
  CHECK(text.find("seqd_enrollments{status=\"finished\"} 0\n") != std::string::npos);
}

TEST_CASE("only GET /metrics is served") {
  const MetricsSnapshot snapshot = sample();
  HttpResponse ok = answerMetrics({"GET", "/metrics", ""}, &snapshot);
  CHECK(ok.status == 200);
  CHECK(ok.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(ok.body == formatMetrics(snapshot));
  CHECK(answerMetrics({"GET", "/metrics?x=1", ""}, &snapshot).status == 200);
  CHECK(answerMetrics({"GET", "/", ""}, &snapshot).status == 404);
  CHECK(answerMetrics({"GET", "/metricsx", ""}, &snapshot).status == 404);
  HttpResponse post = answerMetrics({"POST", "/metrics", ""}, &snapshot);
  CHECK(post.status == 405);
  REQUIRE(post.headers.size() == 1);
  CHECK(post.headers[0] == std::pair<std::string, std::string>("Allow", "GET"));
  CHECK(answerMetrics({"GET", "/metrics", ""}, nullptr).status == 503);
}
