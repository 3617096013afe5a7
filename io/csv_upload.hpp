// CsvUpload: streams a contacts CSV file to the daemon as rows of `import` or `add` requests,
// in bounded memory and pipelined.
//
// The file is read piece by piece (io/csv_reader.hpp's CsvStream), each good row is encoded
// straight to JSON text ({"line": N, "fields": {...}}, N the row's line in the original file)
// and rows are packed into request frames of at most kFrameBytesMax bytes (and at most
// kRowsPerRequestMax rows). Up to `in_flight_max` requests are sent before their replies are
// read: the daemon reads the next frame while the engine works on the last one, and commits
// several in one round. Memory is bounded by one frame being built, one read of the file, one
// pending CSV row and the replies of the requests in flight, whatever the file's size.
//
// Checks made here, on the whole file, that no single request could make: two header columns
// that map to one field fail the upload before any row is sent (which one would win is not
// the operator's intent); a row whose contact key (its `id`, else its lower-cased email, as
// the daemon keys it) an earlier row of the file already had is a bad row ("duplicate
// contact"), so the first row of a key is imported and the others are listed, never merged
// silently. Keys are remembered as 64-bit hashes with the line (about 40 bytes a row).
//
// Each request is a whole command of its own (the daemon commits its rows before it answers),
// so the caller merges the replies: on_reply sees every reply frame in order.
//
// Thread-safety: one upload at a time per ControlClient; single-threaded.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "engine/status.hpp"
#include "io/control_client.hpp"
#include "io/csv_reader.hpp"

namespace seqd {

// Requests sent and not yet answered, at most (the daemon holds their frames meanwhile).
inline constexpr std::size_t kUploadInFlightMax = 8;
// Rows taken from the CSV reader at a time.
inline constexpr std::size_t kUploadReadRowsMax = 1024;

struct UploadOptions {
  std::string cmd;                // "import" or "add"
  boost::json::object base_args;  // sent in every request beside "rows"
  std::size_t in_flight_max = kUploadInFlightMax;
  // Send the first request alone and read its reply before sending more, so a command the
  // daemon refuses whole stops before a second request goes out.
  bool first_alone = false;
  // The contact field each header column goes to; "" drops the column.
  std::function<std::string(const std::string& column)> field_for_column;
  // Checks the header before any row is sent; an error ends the upload with it.
  std::function<Status(const std::vector<std::string>& header)> check_header;
  // Returns false to send no more requests (replies of those already sent still come).
  std::function<bool(const boost::json::object& reply)> on_reply;
  // Called after each request is sent, and once at the end.
  std::function<void(std::size_t bytes_read, std::size_t rows_sent)> on_progress;
};

struct UploadResult {
  std::size_t rows_sent = 0;
  std::size_t requests = 0;
  bool stopped = false;  // on_reply asked to stop
  // Rows the reader refused, duplicates and rows that cannot fit a frame: the first
  // kCsvErrorsListedMax, and how many more.
  std::vector<CsvError> errors;
  std::size_t errors_unlisted = 0;
};

// Reads `source` (the CSV file's bytes) and sends it. Fails on a bad header, a read error or
// a transport failure; row-level problems go to UploadResult::errors.
Result<UploadResult> uploadCsv(ControlClient& client, CsvSource source,
                               const UploadOptions& options);

// Appends `text` as a JSON string literal (quotes and escapes added).
void appendJsonString(std::string& out, std::string_view text);

}  // namespace seqd
