// Proves the CSV reader keeps good rows with the physical line each starts on, and reports
// every bad row (wrong width, stray quote, over a limit) by line while reading on.
#include "io/csv_reader.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

CsvTable parseOk(std::string_view text) {
  Result<CsvTable> table = parseCsv(text);
  REQUIRE(table.isOk());
  return table.value();
}

}  // namespace

TEST_CASE("header and rows, with the line each row starts on") {
  CsvTable table = parseOk("email,first_name\nada@x.test,Ada\nbob@x.test,Bob\n");
  CHECK(table.header == std::vector<std::string>{"email", "first_name"});
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 2);
  CHECK(table.rows[0].fields == std::vector<std::string>{"ada@x.test", "Ada"});
  CHECK(table.rows[1].line == 3);
  CHECK(table.errors.empty());
}

TEST_CASE("a UTF-8 BOM is stripped from the first header name") {
  CsvTable table = parseOk(
      "\xEF\xBB\xBF"
      "email,name\na@x.test,Zoë\n");
  CHECK(table.header[0] == "email");
  REQUIRE(table.rows.size() == 1);
  CHECK(table.rows[0].fields[1] == "Zoë");
}

TEST_CASE("quoted commas and quoted newlines; later rows keep their physical line") {
  std::string text =
      "email,note,company\n"                 // 1
      "a@x.test,\"likes, commas\",Acme\n"    // 2
      "b@x.test,\"two\nline\nnote\",Beta\n"  // 3-5
      "c@x.test,\"say \"\"hi\"\"\",Gamma\n"  // 6
      "d@x.test,plain,Delta";                // 7, no final newline
  CsvTable table = parseOk(text);
  REQUIRE(table.rows.size() == 4);
  CHECK(table.rows[0].fields[1] == "likes, commas");
  CHECK(table.rows[1].line == 3);
  CHECK(table.rows[1].fields[1] == "two\nline\nnote");
  CHECK(table.rows[2].line == 6);
  CHECK(table.rows[2].fields[1] == "say \"hi\"");
  CHECK(table.rows[3].line == 7);
  CHECK(table.rows[3].fields[2] == "Delta");
  CHECK(table.errors.empty());
}

TEST_CASE("a row with the wrong field count is reported by line and the rest kept") {
  std::string text =
      "email,first_name,company\n"  // 1
      "a@x.test,Ada,Acme\n"         // 2
      "b@x.test,Bob\n"              // 3: too few
      "c@x.test,Cy,Co,extra\n"      // 4: too many
      "d@x.test,Di,Dco\n";          // 5
  CsvTable table = parseOk(text);
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 2);
  CHECK(table.rows[1].line == 5);
  REQUIRE(table.errors.size() == 2);
  CHECK(table.errors[0].line == 3);
  CHECK(table.errors[0].reason == "expected 3 fields, got 2");
  CHECK(table.errors[1].line == 4);
  CHECK(table.errors[1].reason == "expected 3 fields, got 4");
}

TEST_CASE("CRLF files number lines like LF files") {
  CsvTable table = parseOk("email,name\r\na@x.test,\"multi\r\nline\"\r\nb@x.test,Bee\r\n");
  REQUIRE(table.rows.size() == 2);
  CHECK(table.header == std::vector<std::string>{"email", "name"});
  CHECK(table.rows[0].line == 2);
  CHECK(table.rows[0].fields[1] == "multi\r\nline");
  CHECK(table.rows[1].line == 4);
  CHECK(table.rows[1].fields == std::vector<std::string>{"b@x.test", "Bee"});
}

TEST_CASE("blank lines are skipped but still counted") {
  std::string text = "\n\nemail,name\n\na@x.test,Ada\n   \n\r\n\t\nb@x.test,\"keeps\n\nblank\"\n";
  CsvTable table = parseOk(text);
  CHECK(table.header == std::vector<std::string>{"email", "name"});
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 5);
  CHECK(table.rows[1].line == 9);
  CHECK(table.rows[1].fields[1] == "keeps\n\nblank");
  CHECK(table.errors.empty());
}

TEST_CASE("a stray quote is an error on its line and parsing resumes on the next") {
  std::string text =
      "email,name\n"                // 1
      "a@x.test,Ada\n"              // 2
      "b@x.test,Bob \"Bobby\" B\n"  // 3: quote inside an unquoted field
      "c@x.test,\"Cy\"x\n"          // 4: text after the closing quote
      "d@x.test,Di\n";              // 5
  CsvTable table = parseOk(text);
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 2);
  CHECK(table.rows[1].line == 5);
  CHECK(table.rows[1].fields == std::vector<std::string>{"d@x.test", "Di"});
  REQUIRE(table.errors.size() == 2);
  CHECK(table.errors[0].line == 3);
  CHECK(table.errors[0].reason.find("quot") != std::string::npos);
  CHECK(table.errors[1].line == 4);
}

TEST_CASE("a bad row after a lone CR is reported on its line; the lines after keep their numbers") {
  // Found by the csv_reader fuzz target (tests/fuzz/corpus/csv_reader/crash-lone-cr-then-bad-
  // quote): the row after a lone CR had no field yet when it failed, so it was reported at
  // line 0 and every later line was numbered from 1 again.
  std::string text =
      "email,name\r\n"                   // 1
      "a@x.test,Ada\rb@x\"test,Bob\r\n"  // 2: a lone CR ends Ada's row; a stray quote follows
      "c@x.test,Cy\n";                   // 3
  CsvTable table = parseOk(text);
  REQUIRE(table.errors.size() == 1);
  CHECK(table.errors[0].line == 2);
  CHECK(table.errors[0].reason == "malformed quoting (a stray '\"' or text after a closing quote)");
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 2);
  CHECK(table.rows[1].line == 3);
  CHECK(table.rows[1].fields == std::vector<std::string>{"c@x.test", "Cy"});

  // The same at the end of the document: a quote opened after a lone CR and never closed.
  table = parseOk("email,name\na@x.test,Ada\r\"b@x.test,Bob\n");
  REQUIRE(table.errors.size() == 1);
  CHECK(table.errors[0].line == 2);
  CHECK(table.errors[0].reason == "a quoted field is never closed");
  REQUIRE(table.rows.size() == 1);
  CHECK(table.rows[0].line == 2);
}

TEST_CASE("a quote never closed costs only its own row") {
  std::string text =
      "email,name\n"      // 1
      "a@x.test,\"Ada\n"  // 2: opens a quote nothing closes
      "b@x.test,Bob\n"    // 3
      "c@x.test,Cy\n";    // 4
  CsvTable table = parseOk(text);
  REQUIRE(table.errors.size() == 1);
  CHECK(table.errors[0].line == 2);
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 3);
  CHECK(table.rows[1].line == 4);

  // Closed by a later line's quote, then broken: still only the opening row is lost.
  text = "email,name\na@x.test,\"Ada\nb@x.test,Bob\nc@x.test,\"Cy\"\n";
  table = parseOk(text);
  REQUIRE(table.errors.size() == 1);
  CHECK(table.errors[0].line == 2);
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 3);
  CHECK(table.rows[1].line == 4);
  CHECK(table.rows[1].fields == std::vector<std::string>{"c@x.test", "Cy"});
}

TEST_CASE("fields and rows over the limits are errors for that row") {
  std::string big(kCsvFieldBytesMax + 1, 'x');
  std::string wide;
  for (std::size_t i = 0; i <= kCsvFieldsMax; ++i) wide += "f,";
  wide += "f";
  std::string text =
      "email,name\n"
      "a@x.test," +
      big + "\n" + wide + "\nb@x.test,Bob\n";
  CsvTable table = parseOk(text);
  REQUIRE(table.errors.size() == 2);
  CHECK(table.errors[0].line == 2);
  CHECK(table.errors[0].reason.find("longer than") != std::string::npos);
  CHECK(table.errors[1].line == 3);
  CHECK(table.errors[1].reason.find("fields") != std::string::npos);
  REQUIRE(table.rows.size() == 1);
  CHECK(table.rows[0].line == 4);

  std::string exactly(kCsvFieldBytesMax, 'y');
  table = parseOk("a\n" + exactly + "\n");
  REQUIRE(table.rows.size() == 1);
  CHECK(table.rows[0].fields[0].size() == kCsvFieldBytesMax);
}

TEST_CASE("no header row, or a broken header, fails the whole parse") {
  CHECK_FALSE(parseCsv("").isOk());
  CHECK_FALSE(parseCsv("\xEF\xBB\xBF").isOk());
  Result<CsvTable> blank = parseCsv("\n \r\n\n");
  REQUIRE_FALSE(blank.isOk());
  CHECK(blank.status().code() == StatusCode::kInvalidArgument);
  CHECK(blank.status().message().find("no header") != std::string::npos);

  Result<CsvTable> broken = parseCsv("email,\"na\"me\na@x.test,Ada\n");
  REQUIRE_FALSE(broken.isOk());
  CHECK(broken.status().message().find("line 1") != std::string::npos);

  CsvTable header_only = parseOk("email,name\n");
  CHECK(header_only.rows.empty());
  CHECK(header_only.errors.empty());
}

TEST_CASE("random well-formed documents parse back to their rows and lines") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  const std::vector<std::string> pieces = {"a", "Zoë", ",", "\"", "\n", "\r\n", " x", "東", "-"};
  constexpr int kDocumentsMax = 50;
  constexpr std::size_t kColumns = 3;
  for (int document = 0; document < kDocumentsMax; ++document) {
    INFO("seed " << seed << " document " << document);
    std::string eol = random() % 2 ? "\n" : "\r\n";
    std::string text = "c1,c2,c3" + eol;
    std::size_t line = 2;
    std::vector<CsvRow> expected;
    std::size_t row_count = random() % 20;
    for (std::size_t row = 0; row < row_count; ++row) {
      if (random() % 4 == 0) {  // a blank line first
        text += eol;
        ++line;
      }
      CsvRow want{line, {}};
      for (std::size_t column = 0; column < kColumns; ++column) {
        std::string field = "v";
        std::size_t length = random() % 6;
        for (std::size_t i = 0; i < length; ++i) field += pieces[random() % pieces.size()];
        std::string quoted = "\"";
        for (char c : field) {
          if (c == '\n') ++line;
          quoted += c;
          if (c == '"') quoted += '"';
        }
        text += quoted + "\"" + (column + 1 < kColumns ? "," : "");
        want.fields.push_back(field);
      }
      text += eol;
      ++line;
      expected.push_back(want);
    }
    CsvTable table = parseOk(text);
    CHECK(table.errors.empty());
    REQUIRE(table.rows.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(table.rows[i].line == expected[i].line);
      CHECK(table.rows[i].fields == expected[i].fields);
    }
  }
}

namespace {

// Reads `text` through a CsvStream fed `piece_bytes` at a time, `rows_max` rows per read().
Result<CsvTable> parseStreamed(std::string_view text, std::size_t piece_bytes, std::size_t rows_max,
                               std::size_t* reads = nullptr) {
  std::size_t position = 0;
  CsvStream stream([&](char* buffer, std::size_t size) -> Result<std::size_t> {
    std::size_t count = std::min({size, piece_bytes, text.size() - position});
    std::copy_n(text.data() + position, count, buffer);
    position += count;
    return count;
  });
  CsvTable table;
  CsvChunk chunk;
  std::size_t calls = 0;
  for (bool more = true; more; ++calls) {
    chunk.rows.clear();
    chunk.errors.clear();
    Result<bool> read = stream.read(chunk, rows_max);
    if (!read.isOk()) return read.status();
    more = read.value();
    table.rows.insert(table.rows.end(), chunk.rows.begin(), chunk.rows.end());
    table.errors.insert(table.errors.end(), chunk.errors.begin(), chunk.errors.end());
  }
  table.header = stream.header();
  if (reads != nullptr) *reads = calls;
  CHECK(stream.bytesRead() == text.size());
  return table;
}

void checkSameTable(const CsvTable& streamed, const CsvTable& whole) {
  CHECK(streamed.header == whole.header);
  REQUIRE(streamed.rows.size() == whole.rows.size());
  for (std::size_t i = 0; i < whole.rows.size(); ++i) {
    CHECK(streamed.rows[i].line == whole.rows[i].line);
    CHECK(streamed.rows[i].fields == whole.rows[i].fields);
  }
  REQUIRE(streamed.errors.size() == whole.errors.size());
  for (std::size_t i = 0; i < whole.errors.size(); ++i) {
    CHECK(streamed.errors[i].line == whole.errors[i].line);
    CHECK(streamed.errors[i].reason == whole.errors[i].reason);
  }
}

}  // namespace

TEST_CASE(
    "a stream read a byte at a time, a row at a time, gives the rows and errors of a whole parse") {
  std::string text =
      "\xEF\xBB\xBF"
      "email,note\r\n"                    // 1
      "a@x.test,\"two\r\nlines\"\r\n"     // 2-3
      "b@x.test,\"x\"y\r\n"               // 4: text after a closing quote
      "\r\n"                              // 5: blank
      "c@x.test,\"open\r\n"               // 6: never closed
      "d@x.test,Di\r\n"                   // 7
      "e@x.test\r\n"                      // 8: one field
      "f@x.test,\"three\nline\nnote\"\n"  // 9-11
      "g@x.test,last";                    // 12, no line break
  Result<CsvTable> whole = parseCsv(text);
  REQUIRE(whole.isOk());
  REQUIRE(whole.value().rows.size() == 4);
  CHECK(whole.value().rows[3].line == 12);
  for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{7}, kCsvReadBytes}) {
    for (std::size_t rows_max : {std::size_t{1}, std::size_t{2}, std::size_t{1000}}) {
      INFO("piece " << piece << " rows_max " << rows_max);
      Result<CsvTable> streamed = parseStreamed(text, piece, rows_max);
      REQUIRE(streamed.isOk());
      checkSameTable(streamed.value(), whole.value());
    }
  }
  std::size_t reads = 0;
  REQUIRE(parseStreamed(text, 5, 1, &reads).isOk());
  CHECK(reads >= 4);  // one row per read, then the end
}

TEST_CASE("a stream keeps its memory to a row: a file many times the read size goes through") {
  std::string text = "email,name\n";
  constexpr std::size_t kRows = 40000;
  for (std::size_t i = 0; i < kRows; ++i) {
    text += "p" + std::to_string(i) + "@x.test,\"Name\n" + std::to_string(i) + "\"\n";
  }
  REQUIRE(text.size() > 2 * kCsvReadBytes);
  std::size_t position = 0;
  std::size_t largest_read = 0;
  CsvStream stream([&](char* buffer, std::size_t size) -> Result<std::size_t> {
    largest_read = std::max(largest_read, size);
    std::size_t count = std::min(size, text.size() - position);
    std::copy_n(text.data() + position, count, buffer);
    position += count;
    return count;
  });
  std::size_t rows = 0;
  std::size_t expected_line = 2;
  CsvChunk chunk;
  for (bool more = true; more;) {
    chunk.rows.clear();
    Result<bool> read = stream.read(chunk, 100);
    REQUIRE(read.isOk());
    more = read.value();
    CHECK(chunk.rows.size() <= 101);
    for (const CsvRow& row : chunk.rows) {
      REQUIRE(row.line == expected_line);
      expected_line += 2;
      ++rows;
    }
  }
  CHECK(rows == kRows);
  CHECK(chunk.errors.empty());
  CHECK(largest_read == kCsvReadBytes);
}

TEST_CASE("a line longer than the limit is an error for its row, skipped unread") {
  std::string text = "email,name\na@x.test,Ada\nb@x.test," +
                     std::string(kCsvLineBytesMax + kCsvReadBytes, 'x') + "\nc@x.test,Cy\n";
  for (std::size_t piece : {std::size_t{4096}, kCsvReadBytes}) {
    Result<CsvTable> streamed = parseStreamed(text, piece, 1000);
    REQUIRE(streamed.isOk());
    REQUIRE(streamed.value().errors.size() == 1);
    CHECK(streamed.value().errors[0].line == 3);
    CHECK(streamed.value().errors[0].reason.find("longer than") != std::string::npos);
    REQUIRE(streamed.value().rows.size() == 2);
    CHECK(streamed.value().rows[1].line == 4);
    CHECK(streamed.value().rows[1].fields == std::vector<std::string>{"c@x.test", "Cy"});
  }
}

TEST_CASE("a source that fails fails the stream") {
  int calls = 0;
  CsvStream stream([&](char* buffer, std::size_t size) -> Result<std::size_t> {
    if (++calls > 1) return Status::ioError("disk on fire");
    std::string_view text = "email\na@x.test\n";
    std::size_t count = std::min(size, text.size());
    std::copy_n(text.data(), count, buffer);
    return count;
  });
  CsvChunk chunk;
  Result<bool> read = stream.read(chunk, 1000);
  REQUIRE_FALSE(read.isOk());
  CHECK(read.status().message().find("disk on fire") != std::string::npos);
}

TEST_CASE("a row that is not UTF-8 is an error for that row alone, by line and column") {
  CsvTable table = parseOk(
      "email,first_name\n"
      "ada@x.test,Ada\n"
      "bob@x.test,B\xF6"
      "b\n"                       // Latin-1 ö
      "cy@x.test,\xED\xA0\x80\n"  // a UTF-16 surrogate written as UTF-8
      "dee@x.test,\xC0\xAF\n"     // an overlong '/'
      "eve@x.test,Ev\xC3\xA9\n");
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].line == 2);
  CHECK(table.rows[1].line == 6);
  REQUIRE(table.errors.size() == 3);
  CHECK(table.errors[0].line == 3);
  CHECK(table.errors[0].reason == "not UTF-8 (column 2)");
  CHECK(table.errors[1].line == 4);
  CHECK(table.errors[2].line == 5);
}

TEST_CASE("a NUL byte in a field is an error for its row") {
  using namespace std::string_literals;
  CsvTable table = parseOk("email,first_name\na@x.test,A\0B\nb@x.test,B\n"s);
  REQUIRE(table.rows.size() == 1);
  REQUIRE(table.errors.size() == 1);
  CHECK(table.errors[0].line == 2);
  CHECK(table.errors[0].reason == "NUL byte (column 2)");
}

TEST_CASE("UTF-16 files are refused whole, up front, with or without a byte order mark") {
  using namespace std::string_literals;
  for (const std::string& text :
       {"\xFF\xFE"s + "e\0m\0a\0i\0l\0\n\0"s, "\xFE\xFF"s + "\0e\0m\0a\0i\0l\0\n"s,
        "e\0m\0a\0i\0l\0,\0n\0\n\0a\0@\0x\0\n\0"s}) {
    Result<CsvTable> table = parseCsv(text);
    REQUIRE_FALSE(table.isOk());
    CHECK(table.status().message().find("UTF-16") != std::string::npos);
    CHECK(table.status().message().find("save it as UTF-8") != std::string::npos);
  }
  Result<CsvTable> latin1 = parseCsv("email,n\xE9\na@x.test,x\n");
  REQUIRE_FALSE(latin1.isOk());
  CHECK(latin1.status().message() ==
        "line 1: header: not UTF-8 (column 2); save it as UTF-8 (\"CSV UTF-8\" in a spreadsheet)");
}

TEST_CASE("past kCsvErrorsListedMax bad rows the list stops but the reading does not") {
  CHECK(kCsvErrorsListedMax == 1000);
  std::string text = "email,score\n";
  const std::size_t bad_rows = kCsvErrorsListedMax + 500;
  for (std::size_t i = 0; i < bad_rows; ++i) text += "bad" + std::to_string(i) + "\n";
  for (std::size_t i = 0; i < 300; ++i) text += "p" + std::to_string(i) + "@x.test,1\n";
  CsvTable table = parseOk(text);
  CHECK(table.errors.size() == kCsvErrorsListedMax);
  CHECK(table.errors_unlisted == 500);
  CHECK(table.rows.size() == 300);
  CHECK(table.rows.back().line == 1 + bad_rows + 300);
}
