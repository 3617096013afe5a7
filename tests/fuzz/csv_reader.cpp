// Fuzz target: the contacts CSV reader (io/csv_reader). Any bytes as a file: parseCsv reads
// them whole, and a CsvStream reads them again from a source that hands out pieces of 1 to 997
// bytes, in chunks of a few rows. Checked on every input: both readings agree (header, rows,
// errors, the unlisted count), every good row has the header's field count and only UTF-8
// text without NUL bytes, and rows and errors come in line order, from line 1 (a lone CR ends
// a row but not a line, so two rows may share a line).
#include "io/csv_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/utf8.hpp"
#include "fuzz_input.hpp"

using namespace seqd;

namespace {

void checkTable(const CsvTable& table) {
  std::size_t previous_line = 0;
  for (const CsvRow& row : table.rows) {
    FUZZ_CHECK(row.fields.size() == table.header.size());
    FUZZ_CHECK(row.line >= 1 && row.line >= previous_line);  // a lone CR ends a row, not a line
    previous_line = row.line;
    for (const std::string& field : row.fields) {
      FUZZ_CHECK(field.find('\0') == std::string::npos);
      FUZZ_CHECK(isUtf8(field));
      FUZZ_CHECK(field.size() <= kCsvFieldBytesMax);
    }
  }
  FUZZ_CHECK(table.errors.size() <= kCsvErrorsListedMax);
  FUZZ_CHECK(table.errors_unlisted == 0 || table.errors.size() == kCsvErrorsListedMax);
  for (const CsvError& error : table.errors) FUZZ_CHECK(error.line >= 1);
  for (std::size_t i = 1; i < table.errors.size(); ++i) {
    FUZZ_CHECK(table.errors[i].line >= table.errors[i - 1].line);
  }
}

// The same text read by a CsvStream in small, uneven pieces.
Result<CsvTable> readInPieces(std::string_view text) {
  std::size_t offset = 0;
  std::size_t turn = 0;
  CsvStream stream([&](char* buffer, std::size_t size) -> Result<std::size_t> {
    std::size_t piece = 1 + (turn++ * 7919 + text.size()) % 997;
    std::size_t count = std::min({piece, size, text.size() - offset});
    std::memcpy(buffer, text.data() + offset, count);
    offset += count;
    return count;
  });
  CsvTable table;
  CsvChunk chunk;
  for (;;) {
    Result<bool> more = stream.read(chunk, 3);
    if (!more.isOk()) return more.status();
    if (!more.value()) break;
  }
  table.header = stream.header();
  table.rows = std::move(chunk.rows);
  table.errors = std::move(chunk.errors);
  table.errors_unlisted = chunk.errors_unlisted;
  FUZZ_CHECK(stream.bytesRead() == text.size());
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::asText(data, size);
  Result<CsvTable> whole = parseCsv(text);
  Result<CsvTable> pieces = readInPieces(text);
  FUZZ_CHECK(whole.isOk() == pieces.isOk());
  if (!whole.isOk()) {
    FUZZ_CHECK(whole.status().message() == pieces.status().message());
    return 0;
  }
  const CsvTable& table = whole.value();
  checkTable(table);
  FUZZ_CHECK(table.header == pieces.value().header);
  FUZZ_CHECK(table.rows.size() == pieces.value().rows.size());
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    FUZZ_CHECK(table.rows[i].line == pieces.value().rows[i].line);
    FUZZ_CHECK(table.rows[i].fields == pieces.value().rows[i].fields);
  }
  FUZZ_CHECK(table.errors.size() == pieces.value().errors.size());
  for (std::size_t i = 0; i < table.errors.size(); ++i) {
    FUZZ_CHECK(table.errors[i].line == pieces.value().errors[i].line);
    FUZZ_CHECK(table.errors[i].reason == pieces.value().errors[i].reason);
  }
  FUZZ_CHECK(table.errors_unlisted == pieces.value().errors_unlisted);
  return 0;
}
