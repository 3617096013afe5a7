// tasks_bench: how long `seqctl tasks` and `seqctl report` hold the engine thread when CONTACTS
// contacts each wait on an open call task (engine only: no socket, no JSON, no store).
//
// Usage: tasks_bench [CONTACTS [RUNS]]   (default 1000000, 5)
// Prints the median of RUNS calls of Engine::tasksSnapshot() (every task into a new buffer or
// into the last one's, and a filter by an owner no task has) and Engine::reportSnapshot(): all
// the engine thread does for each read; and the reader thread's share of `tasks --json`.
// perf/reads_e2e.py measures the same reads end to end through the daemon.
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/engine.hpp"
#include "engine/read_snapshots.hpp"
#include "io/command_dispatch.hpp"
#include "perf/bench_settings.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = kBenchStart;

// benchSettings() with its one step a call: each contact waits on a task once it is due.
EngineSettings callSettings() {
  EngineSettings settings = benchSettings();
  Step& step = settings.sequences["bench"].steps.front();
  step.type = StepType::kCall;
  step.note = "Call {{first_name}} at {{company}}";
  return settings;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t contacts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  Engine engine(callSettings(), kStart);
  enrollBenchContacts(engine, contacts);
  if (!engine.activate("bench", Caller{"root", true}, kStart).isOk()) return 1;
  // Each due call opens its task; batches are dropped (no store here).
  for (TimeMs now = kStart; engine.wheelEntries() > 0; now += 1000) {
    engine.advanceTo(now);
    engine.takeBatch();
  }
  const TasksSnapshot every = engine.tasksSnapshot({});
  std::printf("tasks and report: %zu contacts, %zu open tasks, median of %d calls (engine only)\n",
              contacts, every.in_memory.size(), runs);
  std::size_t checksum = 0;
  const double tasks_ms =
      medianMs(runs, [&] { checksum += engine.tasksSnapshot({}).in_memory.size(); });
  std::printf("%-34s %10.1f ms   (engine thread)\n", "tasksSnapshot, new buffer", tasks_ms);
  // As the daemon's reader hands the last snapshot's buffers back, cleared on its thread.
  TasksSnapshot spare;
  TasksSnapshot snapshot;
  const double reused_ms = medianMs(
      runs,
      [&] {
        snapshot = engine.tasksSnapshot({}, std::move(spare));
        checksum += snapshot.in_memory.size();
      },
      [&] {
        spare = std::move(snapshot);
        spare.in_memory.clear();  // the reader's part
      });
  std::printf("%-34s %10.1f ms   (engine thread)\n", "tasksSnapshot, reused buffer", reused_ms);
  TaskFilter nobody;
  nobody.owner = "hello";  // interned (the step's id), but no task's owner
  const double filtered_ms =
      medianMs(runs, [&] { checksum += engine.tasksSnapshot(nobody).in_memory.size(); });
  std::printf("%-34s %10.1f ms   (engine thread)\n", "tasksSnapshot, --owner of none", filtered_ms);
  const double report_ms = medianMs(runs, [&] {
    const ReportSnapshot report = engine.reportSnapshot("bench", kStart + 60000).value();
    checksum += report.rows.rows.size() + report.tasks.size();
  });
  std::printf("%-34s %10.1f ms   (engine thread)\n", "reportSnapshot", report_ms);
  // The reader thread's share of `tasks --json`: order the rows, render each note, build and
  // write each row's JSON (io/status_stream.cpp without the frames).
  const double reader_ms = medianMs(runs, [&] {
    TaskListing listing(every);
    listing.forEachRow([&checksum](const TaskRow& row) {
      checksum += boost::json::serialize(taskRowJson(row)).size();
      return true;
    });
  });
  std::printf("%-34s %10.1f ms   (reader thread)\n", "reader: tasks --json rows", reader_ms);
  std::printf("(checksum %zu)\n", checksum);
  return 0;
}
