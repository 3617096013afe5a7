#include "io/csv_reader.hpp"

#include <csv.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "engine/utf8.hpp"

namespace seqd {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kUtf16LittleEndianBom = "\xFF\xFE";
constexpr std::string_view kUtf16BigEndianBom = "\xFE\xFF";
constexpr const char* kSaveAsUtf8 = "save it as UTF-8 (\"CSV UTF-8\" in a spreadsheet)";

// True when the line holds nothing but spaces, tabs and its line break.
bool isBlankLine(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

// What the libcsv callbacks build up, and where the stream stands in its source. Offsets are
// absolute (from the start of the document); buffer holds the bytes from `base` on.
struct CsvStream::State {
  CsvSource source;
  std::string buffer;
  std::size_t base = 0;      // absolute offset of buffer[0]
  std::size_t scanned = 0;   // absolute offset up to which buffer holds no '\n' past offset
  bool source_done = false;  // the source returned 0
  bool bom_checked = false;
  std::size_t bytes_read = 0;  // from the source

  csv_parser parser{};
  bool parser_live = false;
  bool done = false;

  std::vector<std::string> header;
  bool have_header = false;
  Status fatal;                 // set when the whole stream fails
  std::size_t error_count = 0;  // over the whole document
  CsvChunk* out = nullptr;      // where rows and errors of the current read() go

  std::size_t offset = 0;          // the next physical line to feed starts here
  std::size_t line = 1;            // and has this number
  std::size_t current_line = 0;    // the physical line being fed
  std::size_t current_offset = 0;  // where that line starts
  std::size_t row_line = 0;        // where the pending row began; 0: none pending
  std::size_t row_offset = 0;
  std::vector<std::string> fields;
  std::string row_error;  // the first limit the pending row broke

  ~State() {
    if (parser_live) csv_free(&parser);
  }
};

namespace {

using State = CsvStream::State;

void addError(State& state, std::size_t line, std::string reason) {
  ++state.error_count;
  if (state.error_count > kCsvErrorsListedMax) {
    ++state.out->errors_unlisted;
    return;
  }
  state.out->errors.push_back({line, std::move(reason)});
}

// Why a row's fields cannot be taken as text, or empty when they can.
std::string encodingError(const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].find('\0') != std::string::npos) {
      return "NUL byte (column " + std::to_string(i + 1) + ")";
    }
    if (!isUtf8(fields[i])) return "not UTF-8 (column " + std::to_string(i + 1) + ")";
  }
  return {};
}

// A finished row goes to the header, the good rows or the errors.
void acceptRow(State& state, std::size_t line, std::vector<std::string> fields, std::string error) {
  if (error.empty()) error = encodingError(fields);
  if (!state.have_header) {
    if (error.rfind("NUL byte", 0) == 0) {
      error += ": the file looks like UTF-16; " + std::string(kSaveAsUtf8);
    } else if (error.rfind("not UTF-8", 0) == 0) {
      error += "; " + std::string(kSaveAsUtf8);
    }
    if (!error.empty()) {
      state.fatal = Status::invalidArgument("line " + std::to_string(line) + ": header: " + error);
      return;
    }
    state.header = std::move(fields);
    state.have_header = true;
    return;
  }
  if (error.empty() && fields.size() != state.header.size()) {
    error = "expected " + std::to_string(state.header.size()) + " fields, got " +
            std::to_string(fields.size());
  }
  if (!error.empty()) {
    addError(state, line, std::move(error));
    return;
  }
  state.out->rows.push_back(CsvRow{line, std::move(fields)});
}

void startRowIfNone(State& state) {
  if (state.row_line != 0) return;
  state.row_line = state.current_line;
  state.row_offset = state.current_offset;
}

void onField(void* data, std::size_t size, void* context) {
  auto& state = *static_cast<State*>(context);
  startRowIfNone(state);
  if (!state.row_error.empty()) return;
  if (state.fields.size() >= kCsvFieldsMax) {
    state.row_error = "more than " + std::to_string(kCsvFieldsMax) + " fields";
    return;
  }
  if (size > kCsvFieldBytesMax) {
    state.row_error = "field " + std::to_string(state.fields.size() + 1) + " is longer than " +
                      std::to_string(kCsvFieldBytesMax) + " bytes";
    return;
  }
  if (size == 0) {
    state.fields.emplace_back();
  } else {
    state.fields.emplace_back(static_cast<const char*>(data), size);
  }
}

void dropPendingRow(State& state) {
  state.fields.clear();
  state.row_error.clear();
  state.row_line = 0;
}

void onRowEnd(int /*terminator*/, void* context) {
  auto& state = *static_cast<State*>(context);
  startRowIfNone(state);
  acceptRow(state, state.row_line, std::move(state.fields), std::move(state.row_error));
  dropPendingRow(state);
}

void stopParser(State& state) {
  if (!state.parser_live) return;
  csv_free(&state.parser);
  state.parser_live = false;
}

// Drops the bytes no restart can need (before the pending row, or before the next line), then
// reads one more piece from the source. Returns false when the source is at its end.
bool readMore(State& state) {
  std::size_t keep = state.row_line != 0 ? std::min(state.row_offset, state.offset) : state.offset;
  if (keep > state.base) {
    state.buffer.erase(0, std::min(keep - state.base, state.buffer.size()));
    state.base = keep;
  }
  if (state.source_done) return false;
  std::size_t old_size = state.buffer.size();
  state.buffer.resize(old_size + kCsvReadBytes);
  Result<std::size_t> got = state.source(state.buffer.data() + old_size, kCsvReadBytes);
  if (!got.isOk()) {
    state.buffer.resize(old_size);
    state.fatal = got.status();
    return false;
  }
  state.buffer.resize(old_size + std::min(got.value(), kCsvReadBytes));
  state.bytes_read += got.value();
  if (got.value() == 0) state.source_done = true;
  return got.value() != 0;
}

enum class LineKind { kLine, kEnd, kTooLong, kFailed };

// The physical line starting at state.offset, its '\n' included (the last line may lack one).
LineKind nextLine(State& state, std::string_view& line) {
  if (!state.bom_checked) {
    while (state.buffer.size() < kUtf8Bom.size() && readMore(state)) {
    }
    if (!state.fatal.isOk()) return LineKind::kFailed;
    std::string_view start = std::string_view(state.buffer).substr(0, kUtf8Bom.size());
    if (start == kUtf8Bom) state.offset = kUtf8Bom.size();
    if (start.substr(0, 2) == kUtf16LittleEndianBom || start.substr(0, 2) == kUtf16BigEndianBom) {
      state.fatal =
          Status::invalidArgument("the file is UTF-16 (it starts with a UTF-16 byte order mark); " +
                                  std::string(kSaveAsUtf8));
      return LineKind::kFailed;
    }
    state.bom_checked = true;
  }
  state.scanned = std::max(state.scanned, state.offset);
  for (;;) {
    std::size_t end = state.base + state.buffer.size();
    if (state.offset >= end && state.source_done) return LineKind::kEnd;
    std::size_t newline = state.buffer.find('\n', state.scanned - state.base);
    if (newline != std::string::npos) {
      line = std::string_view(state.buffer)
                 .substr(state.offset - state.base, state.base + newline + 1 - state.offset);
      return LineKind::kLine;
    }
    state.scanned = end;
    if (end - state.offset > kCsvLineBytesMax) return LineKind::kTooLong;
    if (!readMore(state)) {
      if (!state.fatal.isOk()) return LineKind::kFailed;
      if (state.offset >= state.base + state.buffer.size()) return LineKind::kEnd;
      line = std::string_view(state.buffer).substr(state.offset - state.base);
      return LineKind::kLine;
    }
  }
}

// Goes on at the line after `line`, which starts at `offset`: the rest of that line is
// skipped unread. Returns false at the end of the document.
bool skipPastLine(State& state, std::size_t offset, std::size_t line) {
  state.offset = offset;
  state.scanned = offset;
  for (;;) {
    std::size_t from = state.scanned - state.base;
    std::size_t newline = state.buffer.find('\n', from);
    if (newline != std::string::npos) {
      state.offset = state.base + newline + 1;
      state.scanned = state.offset;
      state.line = line + 1;
      return true;
    }
    // Nothing before the end of the buffer is needed again.
    state.offset = state.base + state.buffer.size();
    state.scanned = state.offset;
    if (!readMore(state)) return false;
  }
}

// The pending row cannot be parsed: it is a bad row, and parsing starts again at the line
// after the one it began on, so one bad row costs at most that row.
void abandonRow(State& state, std::string reason) {
  stopParser(state);
  if (!state.have_header) {
    state.fatal =
        Status::invalidArgument("line " + std::to_string(state.row_line) + ": header: " + reason);
    return;
  }
  addError(state, state.row_line, std::move(reason));
  std::size_t row_line = state.row_line;
  std::size_t row_offset = state.row_offset;
  dropPendingRow(state);
  if (!skipPastLine(state, row_offset, row_line)) state.done = true;
}

// A line longer than kCsvLineBytesMax: the row it is in is a bad row.
void refuseLongLine(State& state) {
  std::string reason =
      "row is longer than " + std::to_string(kCsvRowBytesMax) + " bytes (an unclosed quote?)";
  if (state.row_line != 0 && state.row_offset < state.offset) {
    abandonRow(state, std::move(reason));  // comes back to this line afterwards
    return;
  }
  stopParser(state);
  dropPendingRow(state);
  if (!state.have_header) {
    state.fatal =
        Status::invalidArgument("line " + std::to_string(state.line) + ": header: " + reason);
    return;
  }
  addError(state, state.line, std::move(reason));
  if (!skipPastLine(state, state.offset, state.line)) state.done = true;
}

std::string parseFailure(csv_parser& parser, std::size_t line, std::size_t row_line) {
  std::string reason = csv_error(&parser) == CSV_EPARSE
                           ? "malformed quoting (a stray '\"' or text after a closing quote)"
                           : std::string("csv: ") + csv_strerror(csv_error(&parser));
  if (line != row_line) reason += " at line " + std::to_string(line);
  return reason;
}

// Feeds one physical line to the parser.
void feedLine(State& state, std::string_view line) {
  state.current_line = state.line;
  state.current_offset = state.offset;
  state.offset += line.size();
  state.scanned = state.offset;
  ++state.line;
  if (state.row_line == 0 && isBlankLine(line)) return;
  startRowIfNone(state);
  if (csv_parse(&state.parser, line.data(), line.size(), onField, onRowEnd, &state) !=
      line.size()) {
    abandonRow(state, parseFailure(state.parser, state.current_line, state.row_line));
    return;
  }
  if (state.row_line != 0 && state.offset - state.row_offset > kCsvRowBytesMax) {
    abandonRow(state, "row is longer than " + std::to_string(kCsvRowBytesMax) +
                          " bytes (an unclosed quote?)");
  }
}

// The end of the document: the last row may lack its line break.
void finishDocument(State& state) {
  if (state.parser_live && csv_fini(&state.parser, onField, onRowEnd, &state) != 0) {
    if (!state.fatal.isOk()) return;
    abandonRow(state, "a quoted field is never closed");
    return;
  }
  stopParser(state);
  state.done = true;
}

}  // namespace

CsvStream::CsvStream(CsvSource source) : state_(std::make_unique<State>()) {
  state_->source = std::move(source);
}

CsvStream::~CsvStream() = default;

const std::vector<std::string>& CsvStream::header() const { return state_->header; }

std::size_t CsvStream::bytesRead() const { return state_->bytes_read; }

Result<bool> CsvStream::read(CsvChunk& chunk, std::size_t rows_max) {
  State& state = *state_;
  state.out = &chunk;
  const std::size_t rows_before = chunk.rows.size();
  // Each pass feeds a line or ends the document; a restart goes back at most one row, and
  // restarts follow errors, which are capped.
  while (state.fatal.isOk() && !state.done) {
    if (state.have_header && chunk.rows.size() - rows_before >= rows_max) break;
    if (!state.parser_live) {
      if (csv_init(&state.parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        state.fatal = Status::ioError("csv: cannot initialise the parser");
        break;
      }
      state.parser_live = true;
      dropPendingRow(state);
    }
    std::string_view line;
    switch (nextLine(state, line)) {
      case LineKind::kLine:
        feedLine(state, line);
        break;
      case LineKind::kEnd:
        finishDocument(state);
        break;
      case LineKind::kTooLong:
        refuseLongLine(state);
        break;
      case LineKind::kFailed:
        break;
    }
  }
  state.out = nullptr;
  if (!state.fatal.isOk()) return state.fatal;
  if (state.done && !state.have_header) return Status::invalidArgument("csv: no header row");
  if (state.done) stopParser(state);
  return !state.done;
}

Result<CsvTable> parseCsv(std::string_view text) {
  std::size_t position = 0;
  CsvStream stream([&](char* buffer, std::size_t size) -> Result<std::size_t> {
    std::size_t count = std::min(size, text.size() - position);
    std::memcpy(buffer, text.data() + position, count);
    position += count;
    return count;
  });
  CsvChunk chunk;
  Result<bool> more = stream.read(chunk, std::numeric_limits<std::size_t>::max());
  if (!more.isOk()) return more.status();
  CsvTable table;
  table.header = stream.header();
  table.rows = std::move(chunk.rows);
  table.errors = std::move(chunk.errors);
  table.errors_unlisted = chunk.errors_unlisted;
  return table;
}

}  // namespace seqd
