// LatenessTrace: a benchmark's record of when each send passed each stage between its due
// time and its delivery, so perf/lateness_breakdown.py can say where the time goes.
//
// Off unless the environment names a file (SEQD_LATENESS_TRACE=PATH): seqd then keeps one text
// line per round and per send in memory and writes them all to PATH when it stops (nothing is
// written while it runs, so the trace adds no I/O to the path it measures). Times are
// microseconds of the system clock (CLOCK_REALTIME), comparable with due times and file
// mtimes. Lines (space-separated):
//
//   R round now_ms woke_us decided_us submitted_us commit_done_us released_us intents
//     name=value...
//       a round that released intents: the instant the engine decided at (now_ms), when the
//       engine thread woke for it, finished deciding, handed its batch to the committer
//       (after the round before it was durable), when that commit returned, and when the
//       round's intents went to delivery. Then why a round took long (RoundTrace below says
//       each): the phases of the engine thread's round, what its batch held, what its commit
//       took, the engine thread's CPU time, page faults and context switches from woke_us
//       to submitted_us, and the same of the committing thread during the commit (commit_*:
//       a slow commit that used little CPU waited, for the disk or for a core). A reader takes
//       the positional fields and any name=value after them.
//   I round contact step             an intent released by that round (contact: its key)
//   D contact step taken_us done_us
//       a worker took the intent (its batch) and delivered it
//
// Bounds: at most kLatenessTraceLinesMax lines are kept; later ones are counted, not kept.
//
// Storage: the lines are kept in chunks of kLatenessTraceChunkBytes, each reserved whole when
// it is started and never grown past it (an append longer than that gets a chunk of its own
// size), so an append copies only its own bytes. One string grown by doubling instead copied
// everything kept so far at each reallocation (16 MB into fresh pages at the last one of a
// 10 s run at 38,400 steps/s), under the mutex, on the engine thread or on a worker the engine
// thread then waited for: rounds of 50-300 ms in the very lateness it measures.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace seqd {

inline constexpr std::size_t kLatenessTraceLinesMax = 4 * 1000 * 1000;
inline constexpr std::size_t kLatenessTraceChunkBytes = 1024 * 1024;

// The calling thread's CPU time (user and system), page faults and context switches so far
// (getrusage RUSAGE_THREAD); the difference of two readings says what a span cost.
struct ThreadUsage {
  std::int64_t cpu_us = 0;
  std::int64_t minor_faults = 0;
  std::int64_t major_faults = 0;
  std::int64_t voluntary_switches = 0;    // the thread waited (a lock, a condition, I/O)
  std::int64_t involuntary_switches = 0;  // the scheduler ran something else
  static ThreadUsage now();
  ThreadUsage operator-(const ThreadUsage& earlier) const;
};

// One round's R line (see the top of this file): the positional fields, then the rest.
struct RoundTrace {
  std::uint64_t round = 0;
  std::int64_t now_ms = 0;
  std::int64_t woke_us = 0;
  std::int64_t decided_us = 0;
  std::int64_t submitted_us = 0;
  std::int64_t commit_done_us = 0;
  std::int64_t released_us = 0;
  std::size_t intents = 0;
  // From woke_us to decided_us:
  std::int64_t drain_us = 0;    // the round in flight answered and delivered, when it was done
  std::int64_t inputs_us = 0;   // results, commands, inbox messages, unsubscribes applied
  std::int64_t advance_us = 0;  // the due steps fired (Engine::advanceTo)
  // From decided_us to submitted_us (daemon/engine_start.hpp, RoundPipeline::lastEnd()):
  std::int64_t take_us = 0;  // the intents released and the batch taken
  std::int64_t wait_us = 0;  // the round before it made durable
  // The batch: its records, of them enrollment snapshots, progress records and checkpoint
  // rows, whether it carries a snapshot of the send limits (its size grows with the day's
  // sends); and its commit's own duration, on the committer's thread.
  std::size_t records = 0;
  std::size_t enrollments = 0;
  std::size_t progress = 0;
  std::size_t checkpoint_rows = 0;
  bool governor = false;
  std::int64_t commit_us = 0;
  ThreadUsage usage;         // the engine thread's, from woke_us to submitted_us
  ThreadUsage commit_usage;  // the committing thread's, during the commit (commit_us)
};

// The line, ending with '\n'.
std::string formatRoundTrace(const RoundTrace& round);

class LatenessTrace {
 public:
  // The trace SEQD_LATENESS_TRACE asks for, or null.
  static std::unique_ptr<LatenessTrace> fromEnvironment();
  explicit LatenessTrace(std::string path) : path_(std::move(path)) {}
  // Writes the lines kept to the file.
  ~LatenessTrace();
  LatenessTrace(const LatenessTrace&) = delete;
  LatenessTrace& operator=(const LatenessTrace&) = delete;

  // Microseconds since the epoch, now.
  static std::int64_t nowUs();
  // Appends lines (each ending with '\n') written by the caller, counting them.
  void append(const std::string& lines, std::size_t count);

  // For tests: how many chunks hold the lines, and where chunk `index` keeps its bytes.
  std::size_t chunkCount();
  // REQUIRES: index < chunkCount().
  const char* chunkData(std::size_t index);

 private:
  std::string path_;
  std::mutex mutex_;
  std::vector<std::string> chunks_;  // in order; the last one is appended to
  std::size_t kept_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace seqd
