// CsvReader: reads a contacts CSV (RFC 4180 via libcsv in strict mode) into rows with the
// line number each started on, and reports bad rows by line without stopping.
//
// Strips a UTF-8 BOM; the first row is the header; a row whose field count differs from the
// header's is an error for that row only ("line N: expected 9 fields, got 7"). Line numbers
// are 1-based physical lines (a quoted field with newlines spans several); lines end at LF,
// so CRLF and LF files number alike (a lone CR ends a row but not a line). Blank lines
// (nothing but spaces, tabs or CR) between rows are skipped. Unquoted fields lose their
// leading and trailing spaces and tabs (libcsv's default); quoted fields are kept exactly,
// line breaks inside included.
//
// Every field must be UTF-8 without NUL bytes: a row with another byte is an error for that
// row only ("line N: not UTF-8 (column 3)", "line N: NUL byte (column 2)"). A file that starts
// with a UTF-16 byte order mark, or whose header has NUL bytes (UTF-16 without one), fails
// whole before any row is read, saying to save it as UTF-8.
//
// Bad rows never stop the reading: the first kCsvErrorsListedMax are listed, the others
// counted (CsvChunk::errors_unlisted), and every good row is read.
//
// A strict-mode parse error (a stray quote, text after a closing quote, a quote never
// closed) is an error for the row it is in, and parsing starts again at the line after the
// one that row began on, so one bad row costs at most that row. A row over one of the limits
// below is an error for that row. Problems with the header row fail the whole parse.
//
// CsvStream reads the same format piece by piece from a source (a file, a string) and hands
// out the rows in chunks, so a file of any size is read in bounded memory: it keeps the bytes
// from the start of the row being read (at most kCsvRowBytesMax, plus one line of at most
// kCsvLineBytesMax and one read of kCsvReadBytes). parseCsv is CsvStream over a whole text,
// so both number lines and report bad rows alike.
//
// Thread-safety: parseCsv is a pure function; independent calls may run in parallel. A
// CsvStream is used by one thread at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kCsvFieldBytesMax = 64 * 1024;
inline constexpr std::size_t kCsvFieldsMax = 1024;
// A row spanning more bytes than this is abandoned as an error (usually an unclosed quote
// swallowing the lines after it); parsing resumes at the line after the row's first one.
inline constexpr std::size_t kCsvRowBytesMax = 1024 * 1024;
// Bad rows listed with their line and reason; those after are only counted.
inline constexpr std::size_t kCsvErrorsListedMax = 1000;
// One physical line longer than this is an error for its row, skipped to its end unread.
inline constexpr std::size_t kCsvLineBytesMax = kCsvRowBytesMax;
// CsvStream reads its source this many bytes at a time.
inline constexpr std::size_t kCsvReadBytes = 256 * 1024;

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
  std::vector<CsvRow> rows;      // good rows only
  std::vector<CsvError> errors;  // bad rows, by line: the first kCsvErrorsListedMax
  std::size_t errors_unlisted = 0;
};

// Parses a whole CSV document. Fails whole (Status) only when there is no header row or the
// text cannot be parsed at all; row-level problems go to errors.
Result<CsvTable> parseCsv(std::string_view text);

// Fills up to `size` bytes of `buffer` from a document; returns how many it filled, 0 at the
// end of the document, or an error (which fails the stream).
using CsvSource = std::function<Result<std::size_t>(char* buffer, std::size_t size)>;

// What one CsvStream::read() adds: good rows and bad rows, each with the line it started on.
struct CsvChunk {
  std::vector<CsvRow> rows;
  std::vector<CsvError> errors;
  std::size_t errors_unlisted = 0;  // bad rows past the first kCsvErrorsListedMax
};

class CsvStream {
 public:
  explicit CsvStream(CsvSource source);
  ~CsvStream();
  CsvStream(const CsvStream&) = delete;
  CsvStream& operator=(const CsvStream&) = delete;

  // Reads on, appending to `chunk`, until it holds at least `rows_max` good rows (a physical
  // line may end a few more) or the document ends. The first call reads the header first.
  // Returns true while rows may follow, false once the document is read. Fails (Status) as
  // parseCsv does: no header row, a broken header, or the source failing.
  Result<bool> read(CsvChunk& chunk, std::size_t rows_max);
  // The header row; empty before the first read().
  const std::vector<std::string>& header() const;
  // Bytes taken from the source so far.
  std::size_t bytesRead() const;

  struct State;  // the parser's state, defined in csv_reader.cpp

 private:
  std::unique_ptr<State> state_;
};

}  // namespace seqd
