#include "io/lateness_trace.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace seqd {

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
