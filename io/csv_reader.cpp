#include "io/csv_reader.hpp"

#include <csv.h>

namespace seqd {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// What the libcsv callbacks build up while a pass runs.
struct ParseState {
  CsvTable table;
  bool have_header = false;
  Status fatal;          // set when the whole parse fails (a bad header)
  bool stopped = false;  // too many errors

  std::size_t current_line = 0;    // the physical line being fed
  std::size_t current_offset = 0;  // where that line starts
  std::size_t row_line = 0;        // where the pending row began; 0: none pending
  std::size_t row_offset = 0;
  std::vector<std::string> fields;
  std::string row_error;  // the first limit the pending row broke
};

void addError(ParseState& state, std::size_t line, std::string reason) {
  if (state.table.errors.size() >= kCsvErrorsMax) {
    state.table.errors.push_back(
        {line, "more than " + std::to_string(kCsvErrorsMax) + " bad rows; stopped reading"});
    state.stopped = true;
    return;
  }
  state.table.errors.push_back({line, std::move(reason)});
}

// A finished row goes to the header, the good rows or the errors.
void acceptRow(ParseState& state, std::size_t line, std::vector<std::string> fields,
               std::string error) {
  if (!state.have_header) {
    if (!error.empty()) {
      state.fatal = Status::invalidArgument("line " + std::to_string(line) + ": header: " + error);
      return;
    }
    state.table.header = std::move(fields);
    state.have_header = true;
    return;
  }
  if (error.empty() && fields.size() != state.table.header.size()) {
    error = "expected " + std::to_string(state.table.header.size()) + " fields, got " +
            std::to_string(fields.size());
  }
  if (!error.empty()) {
    addError(state, line, std::move(error));
    return;
  }
  state.table.rows.push_back(CsvRow{line, std::move(fields)});
}

void startRowIfNone(ParseState& state) {
  if (state.row_line != 0) return;
  state.row_line = state.current_line;
  state.row_offset = state.current_offset;
}

void onField(void* data, std::size_t size, void* context) {
  auto& state = *static_cast<ParseState*>(context);
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

void onRowEnd(int /*terminator*/, void* context) {
  auto& state = *static_cast<ParseState*>(context);
  startRowIfNone(state);
  acceptRow(state, state.row_line, std::move(state.fields), std::move(state.row_error));
  state.fields.clear();
  state.row_error.clear();
  state.row_line = 0;
}

void dropPendingRow(ParseState& state) {
  state.fields.clear();
  state.row_error.clear();
  state.row_line = 0;
}

// True when the line holds nothing but spaces, tabs and its line break.
bool isBlankLine(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// How a pass ended: at the end of the text, or at a row that could not be parsed.
struct PassEnd {
  bool at_end = true;
  std::string reason;  // when !at_end: why the pending row was abandoned
};

PassEnd failPass(csv_parser& parser, std::string reason) {
  csv_free(&parser);
  return PassEnd{false, std::move(reason)};
}

// Feeds text from `offset` (the start of physical line `line`) one line at a time to a fresh
// strict parser, until the end or the first row that cannot be parsed.
PassEnd runPass(std::string_view text, std::size_t offset, std::size_t line, ParseState& state) {
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
    state.fatal = Status::ioError("csv: cannot initialise the parser");
    return PassEnd{};
  }
  dropPendingRow(state);
  for (; offset < text.size() && state.fatal.isOk() && !state.stopped; ++line) {
    std::size_t newline = text.find('\n', offset);
    std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    std::string_view chunk = text.substr(offset, end - offset);
    state.current_line = line;
    state.current_offset = offset;
    offset = end;
    if (state.row_line == 0 && isBlankLine(chunk)) continue;
    startRowIfNone(state);
    if (csv_parse(&parser, chunk.data(), chunk.size(), onField, onRowEnd, &state) != chunk.size()) {
      std::string reason = csv_error(&parser) == CSV_EPARSE
                               ? "malformed quoting (a stray '\"' or text after a closing quote)"
                               : std::string("csv: ") + csv_strerror(csv_error(&parser));
      if (line != state.row_line) reason += " at line " + std::to_string(line);
      return failPass(parser, std::move(reason));
    }
    if (state.row_line != 0 && offset - state.row_offset > kCsvRowBytesMax) {
      return failPass(parser, "row is longer than " + std::to_string(kCsvRowBytesMax) +
                                  " bytes (an unclosed quote?)");
    }
  }
  if (state.fatal.isOk() && !state.stopped && csv_fini(&parser, onField, onRowEnd, &state) != 0) {
    return failPass(parser, "a quoted field is never closed");
  }
  csv_free(&parser);
  return PassEnd{};
}

}  // namespace

Result<CsvTable> parseCsv(std::string_view text) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  ParseState state;
  std::size_t offset = 0;
  std::size_t line = 1;
  // Every restart follows one more error, and errors are capped, so this ends.
  for (std::size_t pass = 0; pass <= kCsvErrorsMax + 1; ++pass) {
    PassEnd end = runPass(text, offset, line, state);
    if (!state.fatal.isOk()) return state.fatal;
    if (end.at_end || state.stopped) break;
    if (!state.have_header) {
      return Status::invalidArgument("line " + std::to_string(state.row_line) +
                                     ": header: " + end.reason);
    }
    addError(state, state.row_line, end.reason);
    std::size_t newline = text.find('\n', state.row_offset);
    if (newline == std::string_view::npos) break;
    offset = newline + 1;
    line = state.row_line + 1;
  }
  if (!state.have_header) return Status::invalidArgument("csv: no header row");
  return std::move(state.table);
}

}  // namespace seqd
