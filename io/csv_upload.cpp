#include "io/csv_upload.hpp"

#include <boost/unordered/unordered_flat_map.hpp>
#include <deque>
#include <functional>
#include <unordered_map>

#include "engine/contact.hpp"
#include "io/request_checks.hpp"

namespace seqd {
namespace {

void addRowError(UploadResult& result, std::size_t line, std::string reason) {
  if (result.errors.size() < kCsvErrorsListedMax) {
    result.errors.push_back({line, std::move(reason)});
  } else {
    ++result.errors_unlisted;
  }
}

// Room left in a frame for {"v":1,"id":N,"cmd":"...","args":{"rows":[ ... ]}} around the rows.
constexpr std::size_t kFrameEnvelopeBytes = 256;

class Uploader {
 public:
  Uploader(ControlClient& client, const UploadOptions& options)
      : client_(client), options_(options) {
    std::string base = boost::json::serialize(options.base_args);
    // Not `"," + base.substr(1)`: g++ 12 at -O3 misreads prepending to a temporary as an
    // overlapping memcpy (-Wrestrict, GCC bug 105329).
    tail_ = base.size() > 2 ? std::string(",").append(base, 1) : std::string("}");
    budget_bytes_ = kFrameBytesMax > kFrameEnvelopeBytes + tail_.size() + options.cmd.size()
                        ? kFrameBytesMax - kFrameEnvelopeBytes - tail_.size() - options.cmd.size()
                        : 0;
  }

  // Fails when two columns map to one field.
  Status setColumns(const std::vector<std::string>& header) {
    std::unordered_map<std::string, std::size_t> column_of_field;
    for (std::size_t i = 0; i < header.size(); ++i) {
      const std::string& column = header[i];
      std::string field = options_.field_for_column ? options_.field_for_column(column) : column;
      std::string prefix;
      if (!field.empty()) {
        auto [earlier, added] = column_of_field.emplace(field, i);
        if (!added) {
          return Status::invalidArgument("columns '" + header[earlier->second] + "' and '" +
                                         column + "' both map to field '" + field +
                                         "'; drop one, or --map one to another field");
        }
        if (field == "id") id_column_ = i;
        if (field == "email") email_column_ = i;
        appendJsonString(prefix, field);
        prefix += ':';
      }
      columns_.push_back(std::move(prefix));
    }
    return Status::ok();
  }

  // The line of an earlier row with the same contact key, or 0.
  std::size_t earlierRowOfKey(const CsvRow& row) {
    std::string key;
    if (id_column_ < row.fields.size()) key = row.fields[id_column_];
    if (key.empty() && email_column_ < row.fields.size()) {
      key = toLowerAscii(row.fields[email_column_]);
    }
    if (key.empty()) return 0;  // the daemon says what is missing
    auto [earlier, added] = line_of_key_.emplace(std::hash<std::string>{}(key), row.line);
    return added ? 0 : earlier->second;
  }

  // Adds one row to the frame being built, sending the frame first when it is full.
  Status add(const CsvRow& row, UploadResult& result) {
    if (std::size_t earlier = earlierRowOfKey(row); earlier != 0) {
      addRowError(result, row.line,
                  "duplicate contact (same id or email as line " + std::to_string(earlier) +
                      "); only the first is imported");
      return Status::ok();
    }
    row_text_.clear();
    row_text_ += R"({"line":)";
    row_text_ += std::to_string(row.line);
    row_text_ += R"(,"fields":{)";
    bool first = true;
    for (std::size_t i = 0; i < row.fields.size() && i < columns_.size(); ++i) {
      if (columns_[i].empty()) continue;
      if (!first) row_text_ += ',';
      first = false;
      row_text_ += columns_[i];
      appendJsonString(row_text_, row.fields[i]);
    }
    row_text_ += "}}";
    if (row_text_.size() + 1 > budget_bytes_) {
      addRowError(result, row.line,
                  "row is " + std::to_string(row_text_.size()) + " bytes as a request; at most " +
                      std::to_string(budget_bytes_));
      return Status::ok();
    }
    if (frame_rows_ > 0 && (frame_.size() + 1 + row_text_.size() > budget_bytes_ ||
                            frame_rows_ >= kRowsPerRequestMax)) {
      Status sent = flush(result);
      if (!sent.isOk()) return sent;
    }
    if (frame_rows_ > 0) frame_ += ',';
    frame_ += row_text_;
    ++frame_rows_;
    return Status::ok();
  }

  // Sends the frame being built (if any rows), keeping at most in_flight_max unanswered.
  Status flush(UploadResult& result) {
    if (frame_rows_ == 0 || stopped_) return Status::ok();
    std::size_t in_flight_max = std::max<std::size_t>(1, options_.in_flight_max);
    while (in_flight_ids_.size() >= in_flight_max) {
      Status received = receiveOne();
      if (!received.isOk()) return received;
    }
    if (stopped_) return Status::ok();
    args_.assign(R"({"rows":[)");
    args_ += frame_;
    args_ += ']';
    args_ += tail_;
    Result<std::uint64_t> id = client_.sendRequest(options_.cmd, args_);
    if (!id.isOk()) return id.status();
    in_flight_ids_.push_back(id.value());
    result.rows_sent += frame_rows_;
    ++result.requests;
    frame_.clear();
    frame_rows_ = 0;
    if (result.requests == 1 && options_.first_alone) {
      Status received = receiveOne();
      if (!received.isOk()) return received;
    }
    return Status::ok();
  }

  // Reads the replies still due.
  Status drain() {
    while (!in_flight_ids_.empty()) {
      Status received = receiveOne();
      if (!received.isOk()) return received;
    }
    return Status::ok();
  }

  bool stopped() const { return stopped_; }

 private:
  Status receiveOne() {
    Result<boost::json::object> reply = client_.receiveReply();
    if (!reply.isOk()) return reply.status();
    // Replies come in request order; one with a null id (busy, a frame the daemon could not
    // read) answers the oldest request.
    in_flight_ids_.pop_front();
    if (options_.on_reply && !options_.on_reply(reply.value())) stopped_ = true;
    return Status::ok();
  }

  ControlClient& client_;
  const UploadOptions& options_;
  std::string tail_;  // the base arguments and the closing brace of "args"
  std::size_t budget_bytes_ = 0;
  std::vector<std::string> columns_;     // per column: the JSON `"field":` prefix, or ""
  std::size_t id_column_ = SIZE_MAX;     // the column mapped to `id`, if any
  std::size_t email_column_ = SIZE_MAX;  // the column mapped to `email`, if any
  // Hash of each contact key seen -> the line of its first row.
  boost::unordered_flat_map<std::size_t, std::size_t> line_of_key_;
  std::string row_text_;
  std::string frame_;  // rows of the request being built, comma-separated
  std::string args_;   // the request's arguments, reusing one buffer for every request
  std::size_t frame_rows_ = 0;
  std::deque<std::uint64_t> in_flight_ids_;
  bool stopped_ = false;
};

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + plain_from, i - plain_from);
    plain_from = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(text.data() + plain_from, text.size() - plain_from);
  out += '"';
}

Result<UploadResult> uploadCsv(ControlClient& client, CsvSource source,
                               const UploadOptions& options) {
  CsvStream stream(std::move(source));
  Uploader uploader(client, options);
  UploadResult result;
  bool have_columns = false;
  CsvChunk chunk;
  bool more = true;
  while (more && !uploader.stopped()) {  // each pass reads on, or ends the file
    chunk.rows.clear();
    chunk.errors.clear();
    Result<bool> read = stream.read(chunk, kUploadReadRowsMax);
    if (!read.isOk()) return read.status();
    more = read.value();
    if (!have_columns) {
      if (options.check_header) {
        Status header = options.check_header(stream.header());
        if (!header.isOk()) return header;  // nothing was sent
      }
      Status columns = uploader.setColumns(stream.header());
      if (!columns.isOk()) return columns;  // nothing was sent
      have_columns = true;
    }
    for (CsvError& error : chunk.errors) addRowError(result, error.line, std::move(error.reason));
    result.errors_unlisted += chunk.errors_unlisted;
    std::size_t requests_before = result.requests;
    for (const CsvRow& row : chunk.rows) {
      Status added = uploader.add(row, result);
      if (!added.isOk()) return added;
      if (uploader.stopped()) break;
    }
    if (result.requests != requests_before && options.on_progress) {
      options.on_progress(stream.bytesRead(), result.rows_sent);
    }
  }
  Status sent = uploader.flush(result);
  if (sent.isOk()) sent = uploader.drain();
  if (!sent.isOk()) return sent;
  result.stopped = uploader.stopped();
  if (options.on_progress) options.on_progress(stream.bytesRead(), result.rows_sent);
  return result;
}

}  // namespace seqd
