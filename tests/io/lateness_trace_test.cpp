// Proves the lateness trace writes every line kept, in order, across its chunks; keeps at most
// kLatenessTraceLinesMax lines and counts the rest; never moves a chunk once written (an
// append copies only its own lines, never those before it); writes a round's line with its
// name=value fields after the positional ones; and reads the thread's CPU time and faults.
#include "io/lateness_trace.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "temp_dir.hpp"

using namespace seqd;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Line `number`, of a length that varies so appends end at every offset of a chunk.
std::string lineOf(std::size_t number) {
  return "I " + std::to_string(number) + " " + std::string(number % 97, 'x') + "\n";
}

}  // namespace

TEST_CASE("the file holds every line, in order, across chunk boundaries") {
  testing::TempDir dir;
  const std::string path = dir.file("trace");
  std::string expected;
  {
    LatenessTrace trace(path);
    std::size_t number = 0;
    // Appends of 1 to 7 lines, until the lines span several chunks.
    while (expected.size() < 3 * kLatenessTraceChunkBytes + 12345) {
      std::string lines;
      const std::size_t count = 1 + number % 7;
      for (std::size_t i = 0; i < count; ++i) lines += lineOf(number++);
      trace.append(lines, count);
      expected += lines;
    }
    CHECK(trace.chunkCount() >= 4);
    expected += "# kept " + std::to_string(number) + " dropped 0\n";
  }
  const std::string written = readFile(path);
  CHECK(written.size() == expected.size());
  CHECK(written == expected);
}

TEST_CASE("an append longer than a chunk is kept whole") {
  testing::TempDir dir;
  const std::string path = dir.file("trace");
  const std::string small = "R 1\n";
  const std::string large = std::string(kLatenessTraceChunkBytes + 10, 'y') + "\n";
  {
    LatenessTrace trace(path);
    trace.append(small, 1);
    trace.append(large, 1);
    trace.append(small, 1);
  }
  CHECK(readFile(path) == small + large + small + "# kept 3 dropped 0\n");
}

TEST_CASE("at most kLatenessTraceLinesMax lines are kept; later ones are counted") {
  testing::TempDir dir;
  const std::string path = dir.file("trace");
  {
    LatenessTrace trace(path);
    // The count is the caller's: one line standing for all but the last one allowed.
    trace.append("first\n", kLatenessTraceLinesMax - 1);
    trace.append("last kept\n", 1);
    trace.append("dropped\n", 1);
    trace.append("dropped too\ndropped too\n", 2);
  }
  CHECK(readFile(path) ==
        "first\nlast kept\n# kept " + std::to_string(kLatenessTraceLinesMax) + " dropped 3\n");
}

TEST_CASE("appending never moves a chunk once written") {
  testing::TempDir dir;
  LatenessTrace trace(dir.file("trace"));
  trace.append(lineOf(0), 1);
  REQUIRE(trace.chunkCount() == 1);
  const char* first = trace.chunkData(0);
  std::size_t appended = lineOf(0).size();
  std::size_t number = 1;
  while (appended < 5 * kLatenessTraceChunkBytes) {
    const std::string line = lineOf(number++);
    trace.append(line, 1);
    appended += line.size();
  }
  CHECK(trace.chunkCount() >= 5);
  // A single growing string would have reallocated (moved) its bytes several times by now.
  CHECK(trace.chunkData(0) == first);
}

TEST_CASE("a round's line has the positional fields, then name=value fields") {
  RoundTrace round;
  round.round = 7;
  round.now_ms = 1000;
  round.woke_us = 1000100;
  round.decided_us = 1000200;
  round.submitted_us = 1000300;
  round.commit_done_us = 1000400;
  round.released_us = 1000500;
  round.intents = 3;
  round.drain_us = 11;
  round.inputs_us = 12;
  round.advance_us = 13;
  round.take_us = 14;
  round.wait_us = 15;
  round.records = 16;
  round.enrollments = 17;
  round.progress = 18;
  round.checkpoint_rows = 19;
  round.governor = true;
  round.commit_us = 20;
  round.usage = ThreadUsage{21, 22, 23, 24, 25};
  round.commit_usage = ThreadUsage{26, 27, 28, 29, 30};
  CHECK(
      formatRoundTrace(round) ==
      "R 7 1000 1000100 1000200 1000300 1000400 1000500 3 drain_us=11 inputs_us=12 "
      "advance_us=13 take_us=14 wait_us=15 records=16 enrollments=17 progress=18 "
      "checkpoint_rows=19 governor=1 commit_us=20 cpu_us=21 minflt=22 majflt=23 nvcsw=24 nivcsw=25 "
      "commit_cpu_us=26 commit_minflt=27 commit_majflt=28 commit_nvcsw=29 commit_nivcsw=30\n");
}

TEST_CASE("the thread's usage counts its CPU time, first touches of pages and its waits") {
  const ThreadUsage before = ThreadUsage::now();
  // 64 MiB of fresh pages, each touched once: a minor fault per page (or per huge page).
  constexpr std::size_t kBytes = 64 * 1024 * 1024;
  std::unique_ptr<char[]> pages(new char[kBytes]);
  volatile char* touched = pages.get();
  for (std::size_t at = 0; at < kBytes; at += 4096) touched[at] = 1;
  // A sleep gives the CPU up: a voluntary switch.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // CPU time is counted in the scheduler's ticks: spin until a few went by (5 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((ThreadUsage::now() - before).cpu_us < 20000 &&
         std::chrono::steady_clock::now() < deadline) {
  }
  const ThreadUsage spent = ThreadUsage::now() - before;
  CHECK(spent.cpu_us >= 20000);
  CHECK(spent.minor_faults >= 1);
  CHECK(spent.voluntary_switches >= 1);
}
