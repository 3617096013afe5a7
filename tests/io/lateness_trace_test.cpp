// Proves the lateness trace writes every line kept, in order, across its chunks; keeps at most
// kLatenessTraceLinesMax lines and counts the rest; and never moves a chunk once written (an
// append copies only its own lines, never those before it).
#include "io/lateness_trace.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

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
