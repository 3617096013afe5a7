// Status streaming: answers `status` off the engine thread, in frames, with back-pressure.
//
// The engine thread takes a StatusSnapshot of the sequence between rounds (a pass over its
// ids: engine/status_snapshot.hpp) and hands it here after the round's commit. A reader
// thread filters it, orders it (a partial sort under --limit), builds each row's JSON and
// writes the answer to the connection as it goes:
//
//   {"id":7,"event":"rows","rows":[{...},{...}]}                       zero or more
//   {"id":7,"ok":true,"result":{"sequence":"S","contacts":[{...}]}}    the reply
//
// The reply carries the last rows; a client appends them to the rows of the "rows" events
// before it, in order (io/control_protocol.hpp). An answer that fits in one frame is the
// reply alone, byte for byte what the engine thread used to send. Each frame is at most
// about chunk_bytes_max (one row longer than that goes alone). Before each frame the reader
// waits while the connection holds more than unsent_bytes_max bytes not yet written, so a
// 1M-row answer costs the daemon a few frames of memory, not the whole answer; a connection
// on which nothing is written for stall_max is dropped (and the log says so).
//
// A streamed answer is written by the reader thread while the engine thread goes on: a later
// request on the same connection may be answered before it (seqctl sends one request per
// connection for status). At most kStatusReadsPendingMax reads wait for the reader; one more
// is answered "busy".
//
// Thread-safety: submit() and stop() from any thread, one StatusReader per daemon;
// writeStatusFrames() is pure but for its emit callback.
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
#include <thread>

#include "engine/status_snapshot.hpp"
#include "io/control_protocol.hpp"
#include "io/control_server.hpp"

namespace seqd {

inline constexpr std::size_t kStatusReadsPendingMax = 16;

struct StatusStreamLimits {
  std::size_t chunk_bytes_max = kFrameBytesMax;
  std::size_t unsent_bytes_max = 4 * kFrameBytesMax;
  std::chrono::milliseconds stall_max{30000};

  // The defaults, or for tests only smaller ones from SEQD_TEST_STATUS_CHUNK_BYTES,
  // SEQD_TEST_STATUS_UNSENT_BYTES and SEQD_TEST_STATUS_STALL_MS (read once, at start), so a
  // few thousand rows make many frames and a slow reader is found quickly.
  static StatusStreamLimits fromEnvironment();
};

// Writes the answer's frames, '\n'-terminated, through emit(text, is_reply); stops early
// when emit returns false. Returns the number of rows written.
std::size_t writeStatusFrames(const StatusSnapshot& snapshot, const StatusFilter& filter,
                              const boost::json::value& id, std::size_t chunk_bytes_max,
                              const std::function<bool(std::string text, bool is_reply)>& emit);

struct StatusRead {
  std::unique_ptr<StatusSnapshot> snapshot;
  StatusFilter filter;
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
  // The rows buffer of the last read answered, its rows cleared (empty when none waits), for
  // the next snapshot to fill (Engine::statusSnapshot's `spare`). Keeping it costs the largest
  // answered sequence's rows in memory (about 56 bytes a row); faulting a new buffer in costs
  // the engine thread more than the snapshot itself (perf/RESULTS.md, 2026-12-02).
  std::vector<StatusSnapshotRow> takeSpareRows();
  // Lets the read in progress end at its next frame, drops the queued ones, joins.
  // Idempotent.
  void stop();

 private:
  void run();
  void answer(StatusRead& read);

  const StatusStreamLimits limits_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StatusRead> pending_;             // guarded by mutex_
  std::vector<StatusSnapshotRow> spare_rows_;  // guarded by mutex_
  bool stopping_ = false;                      // guarded by mutex_
  std::thread thread_;
};

}  // namespace seqd
