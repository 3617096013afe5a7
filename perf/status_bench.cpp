// status_bench: how long a status of one sequence of CONTACTS enrollments holds the engine
// thread, with and without --limit (engine only: no socket, no JSON).
//
// Usage: status_bench [CONTACTS [RUNS]]   (default 1000000, 5)
// Prints the median of RUNS calls for: Engine::statusSnapshot(), all the engine thread does;
// and the reader thread's share from that snapshot (select and build rows: every row,
// --limit 3, --limit 3 with --search). The engine-thread path it replaced is gone; its
// before/after figures stay in perf/RESULTS.md's section on `status` off the engine thread.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/engine.hpp"
#include "engine/status_snapshot.hpp"
#include "perf/bench_settings.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = kBenchStart;

// The reader thread's share: select the rows and build each one from the snapshot.
std::size_t readerRows(const StatusSnapshot& snapshot, const StatusFilter& filter) {
  SendingCalendar calendar(snapshot.schedules);
  std::size_t bytes = 0;
  for (std::size_t index : selectStatusRows(snapshot, filter)) {
    bytes += statusRowAt(snapshot, index, calendar).contact.size();
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t contacts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  Engine engine(benchSettings(), kStart);
  enrollBenchContacts(engine, contacts);
  std::printf("status: one sequence of %zu enrollments, median of %d calls (engine only)\n",
              contacts, runs);
  StatusFilter every_row;
  StatusFilter limited;
  limited.limit = 3;
  StatusFilter searched = limited;
  searched.search = "company 99";
  // The first snapshot also finds each enrollment's contact entry and faults its rows buffer
  // in; later ones reuse the entries, and the buffer when handed back (as the daemon does).
  std::size_t snapshot_rows = 0;
  const auto first_started = std::chrono::steady_clock::now();
  std::vector<StatusSnapshotRow> spare = engine.statusSnapshot("bench").value().rows;
  snapshot_rows = spare.size();
  std::printf(
      "%-28s %9zu rows %10.1f ms   (engine thread, now)\n", "snapshot, first", snapshot_rows,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - first_started)
          .count());
  const double fresh_ms =
      medianMs(runs, [&] { snapshot_rows = engine.statusSnapshot("bench").value().rows.size(); });
  std::printf("%-28s %9zu rows %10.1f ms   (engine thread, now)\n", "snapshot, new buffer",
              snapshot_rows, fresh_ms);
  const double snapshot_ms = medianMs(runs, [&] {
    Result<StatusSnapshot> snapshot = engine.statusSnapshot("bench", std::move(spare));
    snapshot_rows = snapshot.value().rows.size();
    spare = std::move(snapshot.value().rows);
  });
  std::printf("%-28s %9zu rows %10.1f ms   (engine thread, now)\n", "snapshot, reused buffer",
              snapshot_rows, snapshot_ms);
  Result<StatusSnapshot> snapshot = engine.statusSnapshot("bench");
  std::size_t checksum = 0;
  const double reader_all_ms =
      medianMs(runs, [&] { checksum += readerRows(snapshot.value(), every_row); });
  std::printf("%-28s %9zu rows %10.1f ms   (reader thread)\n", "reader: status", snapshot_rows,
              reader_all_ms);
  const double reader_limited_ms =
      medianMs(runs, [&] { checksum += readerRows(snapshot.value(), limited); });
  std::printf("%-28s %9zu rows %10.1f ms   (reader thread)\n", "reader: status --limit 3",
              std::size_t{3}, reader_limited_ms);
  const double reader_searched_ms =
      medianMs(runs, [&] { checksum += readerRows(snapshot.value(), searched); });
  std::printf("%-28s %9zu rows %10.1f ms   (reader thread)\n", "reader: --limit 3 --search",
              std::size_t{3}, reader_searched_ms);
  std::printf("(checksum %zu)\n", checksum);
  return 0;
}
