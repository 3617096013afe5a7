// CsvReader: reads a contacts CSV (RFC 4180 via libcsv in strict mode) into rows with the
// line number each started on, and reports bad rows by line without stopping.
//
// Strips a UTF-8 BOM; the first row is the header; a row whose field count differs from the
// header's is an error for that row only ("line N: expected 9 fields, got 7"). Line numbers
// are 1-based physical lines (a quoted field with newlines spans several).
//
// Thread-safety: none per reader; readers are independent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kCsvFieldBytesMax = 64 * 1024;
inline constexpr std::size_t kCsvFieldsMax = 1024;

struct CsvRow {
  std::size_t line = 0;  // where the row starts
  std::vector<std::string> fields;
};

struct CsvError {
  std::size_t line = 0;
  std::string reason;
};

struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRow> rows;     // good rows only
  std::vector<CsvError> errors;  // bad rows, by line
};

// Parses a whole CSV document. Fails whole (Status) only when there is no header row or the
// text cannot be parsed at all; row-level problems go to errors.
Result<CsvTable> parseCsv(std::string_view text);

}  // namespace seqd
