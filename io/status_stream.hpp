// Reads off the engine thread: answers `status`, `report`, `tasks` and `contacts` in a reader
// thread, streaming the large ones in frames, with back-pressure; and streams the lists of a
// long `add --where` or `retry --all` after its commit (streamedAnswer).
//
// The engine thread takes a snapshot between rounds (engine/status_snapshot.hpp for status,
// engine/read_snapshots.hpp for the others) and hands it here after the round's commit. The
// reader thread filters it, orders it (a partial sort under --limit), builds each row's JSON
// and writes the answer to the connection as it goes:
//
//   {"id":7,"event":"rows","head":{"sequence":"S"},"rows":[{...},{...}]}   zero or more
//   {"id":7,"ok":true,"result":{"sequence":"S","contacts":[{...}]}}        the reply
//
// The reply carries the last rows; a client appends them to the rows of the "rows" events
// before it, in order (io/control_protocol.hpp). The rows are the reply's one array: status'
// and contacts' "contacts", tasks' "tasks" (a report's reply is bounded, at most
// kReportAttentionMax contacts, and goes whole). An answer that fits in one frame is the reply
// alone, byte for byte what the engine thread used to send. Each frame is at most about
// chunk_bytes_max (one row longer than that goes alone). Before each frame the reader waits
// while the connection holds more than unsent_bytes_max bytes not yet written, so a 1M-row
// answer costs the daemon a few frames of memory, not the whole answer; a connection on which
// nothing is written for stall_max is dropped (and the log says so).
//
// A streamed answer is written by the reader thread while the engine thread goes on: a later
// request on the same connection may be answered before it (seqctl sends one request per
// connection for these reads). At most kStatusReadsPendingMax reads wait for the reader; one
// more is answered "busy".
//
// Thread-safety: submit() and stop() from any thread, one StatusReader per daemon;
// writeStatusFrames() and RowFrameWriter are pure but for their emit callback.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "engine/read_snapshots.hpp"
#include "engine/status_snapshot.hpp"
#include "io/control_protocol.hpp"
#include "io/control_server.hpp"
#include "io/part_writer.hpp"
#include "io/store.hpp"

namespace seqd {

inline constexpr std::size_t kStatusReadsPendingMax = 16;
// StatusStreamLimits::spare_keep's default: after a minute with no read handing buffers back
// the reader frees the ones it kept (56 MB after a status of 1M rows).
inline constexpr std::chrono::milliseconds kReadBuffersKeep{60000};

struct StatusStreamLimits {
  std::size_t chunk_bytes_max = kFrameBytesMax;
  std::size_t unsent_bytes_max = 4 * kFrameBytesMax;
  std::chrono::milliseconds stall_max{30000};
  // Tests only: the reader waits this long before it answers each read, as if the answer took
  // that long to compute, so a test can see the engine thread go on meanwhile.
  std::chrono::milliseconds delay{0};
  // How long the buffers of the last large read are kept for the next one after it is
  // answered (StatusReader::takeSpareRows). Reads that come more often than this (a dashboard
  // polling) fill a buffer already faulted in; after a quiet spell the memory goes back.
  std::chrono::milliseconds spare_keep = kReadBuffersKeep;

  // The defaults, or for tests only smaller ones from SEQD_TEST_STATUS_CHUNK_BYTES,
  // SEQD_TEST_STATUS_UNSENT_BYTES and SEQD_TEST_STATUS_STALL_MS, and a delay from
  // SEQD_TEST_READ_DELAY_MS (read once, at start), so a few thousand rows make many frames,
  // a slow reader is found quickly and a slow answer is slow.
  static StatusStreamLimits fromEnvironment();
};

// An answer whose rows may be many: rows go out in "rows" events
// {"id":ID,"event":"rows","head":{HEAD...},"rows":[...]} of at most about chunk_bytes_max bytes,
// then the reply {"id":ID,"ok":true,"result":{HEAD...,"KEY":[...]}} with the last rows, HEAD
// being the result's other fields (each event carries them so that a client can print the
// answer as it comes: seqctl --json).
class RowFrameWriter {
 public:
  RowFrameWriter(const boost::json::value& id, const boost::json::object& head,
                 std::string_view rows_key, std::size_t chunk_bytes_max, const FrameEmit& emit);
  // Adds a row (its JSON text); false once a frame was refused: stop adding.
  bool add(const std::string& row);
  // Sends the reply with the rows not sent yet. Returns the rows added.
  std::size_t finish();

 private:
  const FrameEmit& emit_;
  std::size_t chunk_bytes_max_;
  std::string rows_head_;
  std::string reply_head_;
  std::size_t envelope_bytes_ = 0;
  std::string body_;
  std::size_t rows_ = 0;
  bool stopped_ = false;
};

// Writes the answer's frames, '\n'-terminated, through emit(text, is_reply); stops early
// when emit returns false. Returns the number of rows written.
std::size_t writeStatusFrames(const StatusSnapshot& snapshot, const StatusFilter& filter,
                              const boost::json::value& id, std::size_t chunk_bytes_max,
                              const FrameEmit& emit);

// The buffers of a snapshot a read is done with, emptied on the reader's thread (so the
// contacts' references they held are dropped there), their room kept for the next snapshot
// of its kind to fill (StatusReader::takeSpareRows, takeSpareTasks).
struct ReadBuffers {
  std::vector<StatusSnapshotRow> rows;  // a status's or a report's
  TasksSnapshot tasks;                  // a tasks read's: its in_memory and in_memory_ids

  // The room the buffers have, in bytes (0: none).
  std::size_t roomBytes() const {
    return rows.capacity() * sizeof(StatusSnapshotRow) +
           tasks.in_memory.capacity() * sizeof(decltype(tasks.in_memory)::value_type) +
           tasks.in_memory_ids.capacity() * sizeof(decltype(tasks.in_memory_ids)::value_type);
  }
};

// Any other read: writes its whole answer through emit, in frames of at most about
// chunk_bytes_max (RowFrameWriter). Runs on the reader thread, once: it hands back the
// buffers of its snapshot (a report's rows, a tasks snapshot's), emptied.
using ReadAnswer = std::function<ReadBuffers(const FrameEmit& emit, std::size_t chunk_bytes_max)>;

// The answers of `report`, `tasks` and `contacts` from their snapshots
// (engine/read_snapshots.hpp). The tasks answer reads the store's tasks table (its own read
// transaction) for those the engine no longer holds; `store` must outlive the reader.
ReadAnswer reportAnswer(std::shared_ptr<ReportSnapshot> snapshot, boost::json::value id);
ReadAnswer tasksAnswer(std::shared_ptr<TasksSnapshot> snapshot, Store* store,
                       boost::json::value id);
ReadAnswer contactsAnswer(std::shared_ptr<const ContactsSnapshot> snapshot, boost::json::value id);

// The answer of a command that changed something, listing many contacts (an `add --where`,
// a `retry --all`): written in "part" events after its commit (io/part_writer.hpp).
ReadAnswer streamedAnswer(std::shared_ptr<const StreamedAnswer> answer, boost::json::value id);

struct StatusRead {
  std::unique_ptr<StatusSnapshot> snapshot;  // a status read
  StatusFilter filter;
  ReadAnswer answer;  // any other read (snapshot is null)
  std::string what;   // "status of sequence 'S'": what the log names when it is dropped
  boost::json::value id;
  ControlSend send;
};

class StatusReader {
 public:
  // A dropped stream is reported by the control server's log (ControlSend::drop).
  explicit StatusReader(StatusStreamLimits limits);
  ~StatusReader();  // stop()

  StatusReader(const StatusReader&) = delete;
  StatusReader& operator=(const StatusReader&) = delete;

  // Queues a read; false (nothing queued) when kStatusReadsPendingMax wait already.
  bool submit(StatusRead read);
  // Queues the answer of a change already committed (streamedAnswer), however many wait: its
  // client must learn the change was made. They are few: one per command, each bounded by the
  // round's commands.
  void submitAnswer(StatusRead read);
  // The rows buffer of the last read answered, its rows cleared (empty when none waits), for
  // the next snapshot to fill (Engine::statusSnapshot's `spare`). Keeping it costs the largest
  // answered sequence's rows in memory (about 56 bytes a row); faulting a new buffer in costs
  // the engine thread more than the snapshot itself (perf/RESULTS.md, 2026-12-02). So it is
  // kept for limits.spare_keep after the last read that handed buffers back, then freed.
  std::vector<StatusSnapshotRow> takeSpareRows();
  // The same for a `tasks` snapshot (Engine::tasksSnapshot's `spare`): the buffers of the
  // largest answered, with room for every task the engine held then (64 bytes a task; in
  // memory as far as rows were written). A new one for 1M tasks held the engine thread
  // ~200 ms more, faulted in (perf/tasks_bench). Freed with the rows buffer.
  TasksSnapshot takeSpareTasks();
  // The room the buffers kept for the next reads have, in bytes (0 once they are freed).
  std::size_t spareBytes();
  // Lets the read in progress end at its next frame, drops the queued ones, joins.
  // Idempotent.
  void stop();

 private:
  void run();
  void answer(StatusRead& read);

  const StatusStreamLimits limits_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StatusRead> pending_;  // guarded by mutex_
  ReadBuffers spare_;               // guarded by mutex_: kept for the next snapshots
  // When the spare buffers are freed unless a read hands buffers back first.
  std::chrono::steady_clock::time_point spare_until_;  // guarded by mutex_
  bool stopping_ = false;                              // guarded by mutex_
  std::thread thread_;
};

}  // namespace seqd
