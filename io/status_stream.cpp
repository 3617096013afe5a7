#include "io/status_stream.hpp"

#include <cstdlib>
#include <utility>

#include "engine/assert.hpp"
#include "io/command_dispatch.hpp"
#include "io/thread_name.hpp"

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
  limits.delay = std::chrono::milliseconds(sizeFromEnvironment("SEQD_TEST_READ_DELAY_MS", 0));
  return limits;
}

RowFrameWriter::RowFrameWriter(const json::value& id, const json::object& head,
                               std::string_view rows_key, std::size_t chunk_bytes_max,
                               const FrameEmit& emit)
    : emit_(emit), chunk_bytes_max_(chunk_bytes_max) {
  // The reply's bytes are what serializing makeOkReply(id, {HEAD..., KEY: []}) gives, the
  // rows spliced into its last array.
  json::object result = head;
  result[rows_key] = json::array();
  const std::string reply = json::serialize(makeOkReply(id, std::move(result)));
  SEQD_ASSERT(reply.ends_with("[]}}"));
  reply_head_ = reply.substr(0, reply.size() - 3);
  rows_head_ = R"({"id":)" + json::serialize(id) + R"(,"event":"rows","head":)" +
               json::serialize(head) + R"(,"rows":[)";
  envelope_bytes_ = std::max(rows_head_.size() + 3, reply_head_.size() + 4);
}

bool RowFrameWriter::add(const std::string& row) {
  if (stopped_) return false;
  if (!body_.empty() && envelope_bytes_ + body_.size() + 1 + row.size() > chunk_bytes_max_) {
    if (!emit_(rows_head_ + body_ + "]}\n", false)) {
      stopped_ = true;
      return false;
    }
    body_.clear();
  }
  if (!body_.empty()) body_ += ',';
  body_ += row;
  ++rows_;
  return true;
}

std::size_t RowFrameWriter::finish() {
  if (!stopped_) emit_(reply_head_ + body_ + "]}}\n", true);
  return rows_;
}

std::size_t writeStatusFrames(const StatusSnapshot& snapshot, const StatusFilter& filter,
                              const json::value& id, std::size_t chunk_bytes_max,
                              const FrameEmit& emit) {
  const std::vector<std::size_t> selected = selectStatusRows(snapshot, filter);
  SendingCalendar calendar(snapshot.schedules);
  RowFrameWriter writer(id, json::object{{"sequence", snapshot.sequence_id}}, "contacts",
                        chunk_bytes_max, emit);
  for (std::size_t index : selected) {
    if (!writer.add(json::serialize(statusRowJson(statusRowAt(snapshot, index, calendar))))) {
      break;
    }
  }
  return writer.finish();
}

ReadAnswer reportAnswer(std::shared_ptr<ReportSnapshot> snapshot, json::value id) {
  return [snapshot = std::move(snapshot), id = std::move(id)](const FrameEmit& emit, std::size_t) {
    emit(toFrame(makeOkReply(id, reportJson(finishReport(*snapshot)))), true);
    ReadBuffers done;
    done.rows = std::move(snapshot->rows.rows);
    done.rows.clear();
    return done;
  };
}

namespace {

// Writes the `tasks` answer of a snapshot: the rows, or the failure to read the store's.
void writeTasks(const TasksSnapshot& snapshot, Store* store, const json::value& id,
                std::size_t chunk_bytes_max, const FrameEmit& emit) {
  TaskListing listing(snapshot);
  if (snapshot.readsArchive()) {
    const Status read = store->visitTasks([&listing](const Task& task) {
      listing.addArchived(task);
      return Status::ok();
    });
    if (!read.isOk()) {
      emit(toFrame(makeErrorReply(id, "failed", read.message())), true);
      return;
    }
  }
  RowFrameWriter writer(id, json::object(), "tasks", chunk_bytes_max, emit);
  listing.forEachRow(
      [&writer](const TaskRow& row) { return writer.add(json::serialize(taskRowJson(row))); });
  writer.finish();
}

}  // namespace

ReadAnswer tasksAnswer(std::shared_ptr<TasksSnapshot> snapshot, Store* store, json::value id) {
  return [snapshot = std::move(snapshot), store, id = std::move(id)](const FrameEmit& emit,
                                                                     std::size_t chunk_bytes_max) {
    writeTasks(*snapshot, store, id, chunk_bytes_max, emit);
    ReadBuffers done;
    done.tasks.in_memory = std::move(snapshot->in_memory);
    done.tasks.in_memory.clear();
    done.tasks.in_memory_ids = std::move(snapshot->in_memory_ids);
    done.tasks.in_memory_ids.clear();
    return done;
  };
}

ReadAnswer contactsAnswer(std::shared_ptr<const ContactsSnapshot> snapshot, json::value id) {
  return [snapshot = std::move(snapshot), id = std::move(id)](const FrameEmit& emit,
                                                              std::size_t chunk_bytes_max) {
    const ContactMatches matches = matchContacts(*snapshot);
    RowFrameWriter writer(id, json::object{{"matched", matches.matched}}, "contacts",
                          chunk_bytes_max, emit);
    for (const ContactRef& contact : matches.contacts) {
      if (!writer.add(json::serialize(contactRowJson(*contact)))) break;
    }
    writer.finish();
    return ReadBuffers();
  };
}

ReadAnswer streamedAnswer(std::shared_ptr<const StreamedAnswer> answer, json::value id) {
  return [answer = std::move(answer), id = std::move(id)](const FrameEmit& emit,
                                                          std::size_t chunk_bytes_max) {
    PartWriter writer(id, chunk_bytes_max, emit);
    answer->write(writer);
    return ReadBuffers();
  };
}

StatusReader::StatusReader(StatusStreamLimits limits) : limits_(limits) {
  thread_ = std::thread([this] {
    nameThisThread("seqd-status");
    run();
  });
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

void StatusReader::submitAnswer(StatusRead read) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    pending_.push_back(std::move(read));
  }
  ready_.notify_one();
}

std::vector<StatusSnapshotRow> StatusReader::takeSpareRows() {
  std::lock_guard lock(mutex_);
  return std::move(spare_.rows);
}

TasksSnapshot StatusReader::takeSpareTasks() {
  std::lock_guard lock(mutex_);
  return std::move(spare_.tasks);
}

std::size_t StatusReader::spareBytes() {
  std::lock_guard lock(mutex_);
  return spare_.roomBytes();
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
    ReadBuffers freed;  // the spare buffers once they were kept long enough, freed unlocked
    {
      std::unique_lock lock(mutex_);
      const auto woken = [this] { return stopping_ || !pending_.empty(); };
      if (spare_.roomBytes() == 0) {
        ready_.wait(lock, woken);
      } else if (!ready_.wait_until(lock, spare_until_, woken)) {
        freed = std::exchange(spare_, {});
        continue;
      }
      if (stopping_) return;
      read = std::move(pending_.front());
      pending_.pop_front();
    }
    answer(read);
  }
}

void StatusReader::answer(StatusRead& read) {
  if (limits_.delay.count() > 0) {
    std::unique_lock lock(mutex_);
    if (ready_.wait_for(lock, limits_.delay, [this] { return stopping_; })) return;
  }
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
                       " ms while the answer to " + read.what + " streamed");
        return false;
    }
    read.send.sendText(std::move(text), is_reply);
    return true;
  };
  ReadBuffers done;
  if (read.snapshot == nullptr) {
    done = read.answer(emit, limits_.chunk_bytes_max);
    read.answer = nullptr;  // the snapshot it holds goes here, on this thread
  } else {
    writeStatusFrames(*read.snapshot, read.filter, read.id, limits_.chunk_bytes_max, emit);
    // The contacts' references go here, on this thread; the buffer's room is kept.
    done.rows = std::move(read.snapshot->rows);
    done.rows.clear();
  }
  std::lock_guard lock(mutex_);
  if (done.roomBytes() > 0) {
    spare_until_ = std::chrono::steady_clock::now() + limits_.spare_keep;
  }
  if (done.rows.capacity() > spare_.rows.capacity()) spare_.rows = std::move(done.rows);
  if (done.tasks.in_memory.capacity() > spare_.tasks.in_memory.capacity()) {
    spare_.tasks.in_memory = std::move(done.tasks.in_memory);
  }
  if (done.tasks.in_memory_ids.capacity() > spare_.tasks.in_memory_ids.capacity()) {
    spare_.tasks.in_memory_ids = std::move(done.tasks.in_memory_ids);
  }
}

}  // namespace seqd
