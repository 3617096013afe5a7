#include "io/state_marker.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "io/crc32c.hpp"

namespace seqd {
namespace {

constexpr const char* kTempFileName = "seqd.state.new";
constexpr std::string_view kHeader =
    "seqd state dir: data.mdb here holds a store; if it is gone or empty, restore it";
constexpr std::size_t kStoreIdHexDigits = 32;
constexpr mode_t kFileMode = 0640;

Status errnoStatus(const std::string& what, int error) {
  std::string message = what + ": " + std::strerror(error);
  if (error == EACCES || error == EPERM) return Status::permissionDenied(std::move(message));
  return Status::ioError(std::move(message));
}

// Reads "NAME VALUE\n" at `at` and advances past it.
bool markerField(std::string_view text, std::size_t& at, std::string_view name,
                 std::string_view& value) {
  const std::size_t end = text.find('\n', at);
  if (end == std::string_view::npos) return false;
  const std::string_view line = text.substr(at, end - at);
  if (line.size() <= name.size() || line.substr(0, name.size()) != name ||
      line[name.size()] != ' ') {
    return false;
  }
  value = line.substr(name.size() + 1);
  at = end + 1;
  return true;
}

bool parseNumber(std::string_view text, std::uint32_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

// Parses a marker; on failure returns why in `why`.
std::optional<StateMarker> parseMarker(std::string_view text, std::string& why) {
  const std::size_t crc_at = text.rfind("\ncrc32c ");
  if (crc_at == std::string_view::npos) {
    why = "it has no crc32c line";
    return std::nullopt;
  }
  const std::string_view body = text.substr(0, crc_at + 1);
  char expected[16];
  std::snprintf(expected, sizeof expected, "%08x", static_cast<unsigned>(crc32c(body)));
  if (text.substr(crc_at + 1) != std::string("crc32c ") + expected + "\n") {
    why = "its checksum does not match";
    return std::nullopt;
  }
  StateMarker marker;
  std::size_t at = kHeader.size() + 1;
  std::string_view format, schema, store;
  if (body.substr(0, at) != std::string(kHeader) + "\n" ||
      !markerField(body, at, "format", format) || !parseNumber(format, marker.format)) {
    why = "it does not start with its header and format";
    return std::nullopt;
  }
  if (marker.format != kStateMarkerFormat) return marker;  // the caller refuses other formats
  if (!markerField(body, at, "schema", schema) || !parseNumber(schema, marker.schema) ||
      !markerField(body, at, "store", store) || store.size() != kStoreIdHexDigits ||
      at != body.size()) {
    why = "its fields are not format, schema and store";
    return std::nullopt;
  }
  marker.store_id = std::string(store);
  return marker;
}

// Reads up to bytes_max + 1 bytes of `path`; ENOENT gives nullopt.
Result<std::optional<std::string>> readSmallFile(const std::string& path, std::size_t bytes_max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return errnoStatus("cannot open '" + path + "'", errno);
  }
  std::string text(bytes_max + 1, '\0');
  std::size_t filled = 0;
  while (filled < text.size()) {
    const ssize_t got = ::read(fd, text.data() + filled, text.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      return errnoStatus("cannot read '" + path + "'", error);
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  ::close(fd);
  text.resize(filled);
  return std::optional<std::string>(std::move(text));
}

Status writeAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t wrote = ::write(fd, bytes.data(), bytes.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return errnoStatus("cannot write '" + path + "'", errno);
    bytes.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return Status::ok();
}

}  // namespace

std::string stateMarkerText(const StateMarker& marker) {
  const std::string body = std::string(kHeader) + "\nformat " + std::to_string(marker.format) +
                           "\nschema " + std::to_string(marker.schema) + "\nstore " +
                           marker.store_id + "\n";
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", static_cast<unsigned>(crc32c(body)));
  return body + "crc32c " + crc + "\n";
}

Result<std::optional<StateMarker>> readStateMarker(const std::string& dir) {
  Result<std::optional<std::string>> text =
      readSmallFile(dir + "/" + kStateMarkerFileName, kStateMarkerBytesMax);
  if (!text.isOk()) return text.status();
  if (!text.value().has_value()) return std::optional<StateMarker>();
  if (text.value()->size() > kStateMarkerBytesMax) {
    return Status::corruption(std::string(kStateMarkerFileName) + " is over " +
                              std::to_string(kStateMarkerBytesMax) + " bytes");
  }
  std::string why;
  std::optional<StateMarker> marker = parseMarker(*text.value(), why);
  if (!marker.has_value()) {
    return Status::corruption(std::string(kStateMarkerFileName) + " is unreadable: " + why);
  }
  return marker;
}

// Writes the marker durably: a temp file, fsync, rename over, fsync the directory.
Status writeStateMarker(const std::string& dir, const StateMarker& marker) {
  const std::string temp = dir + "/" + kTempFileName;
  const std::string path = dir + "/" + kStateMarkerFileName;
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode);
  if (fd < 0) return errnoStatus("cannot create '" + temp + "'", errno);
  Status status = writeAll(fd, stateMarkerText(marker), temp);
  if (status.isOk() && ::fsync(fd) != 0) status = errnoStatus("cannot sync '" + temp + "'", errno);
  ::close(fd);
  if (!status.isOk()) return status;
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return errnoStatus("cannot rename '" + temp + "' to '" + path + "'", errno);
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errnoStatus("cannot open '" + dir + "'", errno);
  if (::fsync(dir_fd) != 0) status = errnoStatus("cannot sync '" + dir + "'", errno);
  ::close(dir_fd);
  return status;
}

}  // namespace seqd
