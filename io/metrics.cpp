#include "io/metrics.hpp"

#include <fmt/format.h>

#include <cmath>

namespace seqd {
namespace {

// A label value with \, " and newline escaped, as the text format wants.
std::string labelValue(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(std::string& out, std::string_view name, std::string_view help,
               const Histogram& values) {
  header(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  const std::vector<double>& bounds = values.upperBounds();
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += values.bucketCounts()[i];
    const std::string le = i < bounds.size() ? number(bounds[i]) : "+Inf";
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, le, cumulative);
  }
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, number(values.sum()), name, values.count());
}

}  // namespace

std::string formatMetrics(const MetricsSnapshot& snapshot) {
  std::string out;
  header(out, "seqd_build_info", "gauge", "The running seqd's version; always 1.");
  out += fmt::format("seqd_build_info{{version=\"{}\"}} 1\n", labelValue(snapshot.version));

  header(out, "seqd_sends_total", "counter",
         "Emails handed to a transport since start, by mailbox and result (sent, retry: a "
         "temporary failure to be retried or given up, bounced, returned: never attempted).");
  for (const auto& [mailbox, results] : snapshot.sends) {
    for (const auto& [result, count] : results) {
      out += fmt::format("seqd_sends_total{{mailbox=\"{}\",result=\"{}\"}} {}\n",
                         labelValue(mailbox), labelValue(result), count);
    }
  }

  header(out, "seqd_due_backlog", "gauge",
         "Enrollments whose next step is due and not yet done (waiting for a mailbox, a "
         "window check or a worker).");
  out += fmt::format("seqd_due_backlog {}\n", snapshot.due_backlog);

  header(out, "seqd_enrollments", "gauge", "Enrollments by status.");
  for (const auto& [status, count] : snapshot.enrollments) {
    out += fmt::format("seqd_enrollments{{status=\"{}\"}} {}\n", labelValue(status), count);
  }

  header(out, "seqd_timer_wheel_entries", "gauge", "Enrollments waiting on the timer wheel.");
  out += fmt::format("seqd_timer_wheel_entries {}\n", snapshot.wheel_entries);

  histogram(out, "seqd_store_commit_duration_seconds",
            "Time to commit one round's batch to the store (LMDB write transaction).",
            snapshot.commit_duration_seconds);
  histogram(out, "seqd_step_firing_lateness_seconds",
            "How long after its due time each step fired.", snapshot.firing_lateness_seconds);

  header(out, "seqd_reloads_total", "counter",
         "Config reloads since start by result (ok, rejected: invalid config, refused: "
         "needs --force).");
  for (const char* result : {"ok", "rejected", "refused"}) {
    auto found = snapshot.reloads.find(result);
    out += fmt::format("seqd_reloads_total{{result=\"{}\"}} {}\n", result,
                       found == snapshot.reloads.end() ? 0 : found->second);
  }

  header(out, "seqd_metrics_snapshot_timestamp_seconds", "gauge",
         "When these values were taken, on the daemon's clock (Unix seconds).");
  out += fmt::format("seqd_metrics_snapshot_timestamp_seconds {}\n",
                     number(snapshot.taken_at_seconds));
  return out;
}

HttpResponse answerMetrics(const HttpRequest& request, const MetricsSnapshot* snapshot) {
  HttpResponse response;
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path != "/metrics") {
    response.status = 404;
    response.body = "not found; metrics are at /metrics\n";
    return response;
  }
  if (request.method != "GET") {
    response.status = 405;
    response.headers.emplace_back("Allow", "GET");
    response.body = "method not allowed\n";
    return response;
  }
  if (snapshot == nullptr) {
    response.status = 503;
    response.headers.emplace_back("Retry-After", "1");
    response.body = "starting; try again\n";
    return response;
  }
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = formatMetrics(*snapshot);
  return response;
}

}  // namespace seqd
