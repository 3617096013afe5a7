// Proves the CSV reader keeps good rows with the physical line each starts on, and reports
// every bad row (wrong width, stray quote, over a limit) by line while reading on.
#include "io/csv_reader.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace seqd;

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
  std::uint64_t seed = 0;
  if (const char* env = std::getenv("SEQD_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  MESSAGE("seed (set SEQD_SEED to replay): " << seed);
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
