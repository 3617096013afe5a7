#include "io/lateness_trace.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace seqd {

ThreadUsage ThreadUsage::now() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_THREAD, &usage) != 0) return {};  // a benchmark's aid: zeros then
  auto micros = [](const struct timeval& time) {
    return static_cast<std::int64_t>(time.tv_sec) * 1000000 + time.tv_usec;
  };
  return ThreadUsage{micros(usage.ru_utime) + micros(usage.ru_stime), usage.ru_minflt,
                     usage.ru_majflt, usage.ru_nvcsw, usage.ru_nivcsw};
}

ThreadUsage ThreadUsage::operator-(const ThreadUsage& earlier) const {
  return ThreadUsage{cpu_us - earlier.cpu_us, minor_faults - earlier.minor_faults,
                     major_faults - earlier.major_faults,
                     voluntary_switches - earlier.voluntary_switches,
                     involuntary_switches - earlier.involuntary_switches};
}

std::string formatRoundTrace(const RoundTrace& round) {
  return fmt::format(
      "R {} {} {} {} {} {} {} {} drain_us={} inputs_us={} advance_us={} take_us={} wait_us={} "
      "records={} enrollments={} progress={} checkpoint_rows={} governor={} commit_us={} cpu_us={} "
      "minflt={} majflt={} nvcsw={} nivcsw={} commit_cpu_us={} commit_minflt={} commit_majflt={} "
      "commit_nvcsw={} commit_nivcsw={}\n",
      round.round, round.now_ms, round.woke_us, round.decided_us, round.submitted_us,
      round.commit_done_us, round.released_us, round.intents, round.drain_us, round.inputs_us,
      round.advance_us, round.take_us, round.wait_us, round.records, round.enrollments,
      round.progress, round.checkpoint_rows, round.governor ? 1 : 0, round.commit_us,
      round.usage.cpu_us, round.usage.minor_faults, round.usage.major_faults,
      round.usage.voluntary_switches, round.usage.involuntary_switches, round.commit_usage.cpu_us,
      round.commit_usage.minor_faults, round.commit_usage.major_faults,
      round.commit_usage.voluntary_switches, round.commit_usage.involuntary_switches);
}

std::unique_ptr<LatenessTrace> LatenessTrace::fromEnvironment() {
  const char* path = std::getenv("SEQD_LATENESS_TRACE");
  if (path == nullptr || *path == '\0') return nullptr;
  return std::make_unique<LatenessTrace>(path);
}

LatenessTrace::~LatenessTrace() {
  std::FILE* file = std::fopen(path_.c_str(), "w");
  if (file == nullptr) return;  // a benchmark's aid: nothing to report it to
  for (const std::string& chunk : chunks_) std::fwrite(chunk.data(), 1, chunk.size(), file);
  std::fprintf(file, "# kept %zu dropped %zu\n", kept_, dropped_);
  std::fclose(file);
}

std::int64_t LatenessTrace::nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void LatenessTrace::append(const std::string& lines, std::size_t count) {
  std::lock_guard lock(mutex_);
  if (kept_ + count > kLatenessTraceLinesMax) {
    dropped_ += count;
    return;
  }
  kept_ += count;
  if (chunks_.empty() || chunks_.back().size() + lines.size() > chunks_.back().capacity()) {
    // Moving the strings when chunks_ grows moves their heap buffers, not the bytes in them.
    chunks_.emplace_back().reserve(std::max(kLatenessTraceChunkBytes, lines.size()));
  }
  chunks_.back() += lines;
}

std::size_t LatenessTrace::chunkCount() {
  std::lock_guard lock(mutex_);
  return chunks_.size();
}

const char* LatenessTrace::chunkData(std::size_t index) {
  std::lock_guard lock(mutex_);
  return chunks_.at(index).data();
}

}  // namespace seqd
