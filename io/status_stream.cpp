#include "io/status_stream.hpp"

#include <cstdlib>

#include "io/command_dispatch.hpp"

namespace seqd {
namespace {

namespace json = boost::json;

std::size_t sizeFromEnvironment(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  unsigned long long value = std::strtoull(text, &end, 10);
  return end != text && *end == '\0' && value > 0 ? static_cast<std::size_t>(value) : fallback;
}

}  // namespace

StatusStreamLimits StatusStreamLimits::fromEnvironment() {
  StatusStreamLimits limits;
  limits.chunk_bytes_max =
      sizeFromEnvironment("SEQD_TEST_STATUS_CHUNK_BYTES", limits.chunk_bytes_max);
  limits.unsent_bytes_max =
      sizeFromEnvironment("SEQD_TEST_STATUS_UNSENT_BYTES", limits.unsent_bytes_max);
  limits.stall_max = std::chrono::milliseconds(sizeFromEnvironment(
      "SEQD_TEST_STATUS_STALL_MS", static_cast<std::size_t>(limits.stall_max.count())));
  return limits;
}

std::size_t writeStatusFrames(const StatusSnapshot& snapshot, const StatusFilter& filter,
                              const json::value& id, std::size_t chunk_bytes_max,
                              const std::function<bool(std::string text, bool is_reply)>& emit) {
  const std::vector<std::size_t> selected = selectStatusRows(snapshot, filter);
  SendingCalendar calendar(snapshot.schedules);
  // The reply's bytes are what serializing makeOkReply(id, {"sequence","contacts"}) gives.
  const std::string id_text = json::serialize(id);
  const std::string rows_head = R"({"id":)" + id_text + R"(,"event":"rows","rows":[)";
  const std::string rows_tail = "]}\n";
  const std::string reply_head = R"({"id":)" + id_text + R"(,"ok":true,"result":{"sequence":)" +
                                 json::serialize(json::value(snapshot.sequence_id)) +
                                 R"(,"contacts":[)";
  const std::string reply_tail = "]}}\n";
  const std::size_t envelope_bytes =
      std::max(rows_head.size() + rows_tail.size(), reply_head.size() + reply_tail.size());
  std::string body;
  std::size_t written = 0;
  for (std::size_t index : selected) {
    const std::string row = json::serialize(statusRowJson(statusRowAt(snapshot, index, calendar)));
    if (!body.empty() && envelope_bytes + body.size() + 1 + row.size() > chunk_bytes_max) {
      if (!emit(rows_head + body + rows_tail, false)) return written;
      body.clear();
    }
    if (!body.empty()) body += ',';
    body += row;
    ++written;
  }
  emit(reply_head + body + reply_tail, true);
  return written;
}

StatusReader::StatusReader(StatusStreamLimits limits) : limits_(limits) {
  thread_ = std::thread([this] { run(); });
}

StatusReader::~StatusReader() { stop(); }

bool StatusReader::submit(StatusRead read) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || pending_.size() >= kStatusReadsPendingMax) return false;
    pending_.push_back(std::move(read));
  }
  ready_.notify_one();
  return true;
}

std::vector<StatusSnapshotRow> StatusReader::takeSpareRows() {
  std::lock_guard lock(mutex_);
  return std::move(spare_rows_);
}

void StatusReader::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    pending_.clear();
  }
  ready_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StatusReader::run() {
  for (;;) {
    StatusRead read;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      read = std::move(pending_.front());
      pending_.pop_front();
    }
    answer(read);
  }
}

void StatusReader::answer(StatusRead& read) {
  const auto emit = [&](std::string text, bool is_reply) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    switch (read.send.waitUnsent(limits_.unsent_bytes_max, limits_.stall_max)) {
      case ControlSink::Wait::kReady:
        break;
      case ControlSink::Wait::kClosed:
        return false;
      case ControlSink::Wait::kStalled:
        read.send.drop("nothing read for " + std::to_string(limits_.stall_max.count()) +
                       " ms while a status answer of sequence '" + read.snapshot->sequence_id +
                       "' streamed");
        return false;
    }
    read.send.sendText(std::move(text), is_reply);
    return true;
  };
  writeStatusFrames(*read.snapshot, read.filter, read.id, limits_.chunk_bytes_max, emit);
  // The contacts' references go here, on this thread; the buffer's room is kept.
  std::vector<StatusSnapshotRow> rows = std::move(read.snapshot->rows);
  rows.clear();
  std::lock_guard lock(mutex_);
  if (rows.capacity() > spare_rows_.capacity()) spare_rows_ = std::move(rows);
}

}  // namespace seqd
