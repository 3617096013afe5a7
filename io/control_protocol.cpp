#include "io/control_protocol.hpp"

#include <cmath>
#include <utility>

namespace seqd {
namespace {

bool isSupportedVersion(const boost::json::value& version) {
  if (version.is_int64()) return version.get_int64() == kProtocolVersion;
  if (version.is_uint64()) return version.get_uint64() == kProtocolVersion;
  return false;
}

// False when the value holds a number a double cannot hold (1e400 parses as infinity), which
// JSON cannot write back. Recursion is bounded by the parser's depth limit (32 levels).
bool allNumbersFinite(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      return std::isfinite(value.get_double());
    case boost::json::kind::array:
      for (const boost::json::value& item : value.get_array()) {
        if (!allNumbersFinite(item)) return false;
      }
      return true;
    case boost::json::kind::object:
      for (const auto& member : value.get_object()) {
        if (!allNumbersFinite(member.value())) return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace

boost::json::object makeRequest(std::uint64_t id, std::string_view cmd, boost::json::object args) {
  boost::json::object request;
  request["v"] = kProtocolVersion;
  request["id"] = id;
  request["cmd"] = cmd;
  request["args"] = std::move(args);
  return request;
}

boost::json::object makeOkReply(const boost::json::value& id, boost::json::value result) {
  boost::json::object reply;
  reply["id"] = id;
  reply["ok"] = true;
  reply["result"] = std::move(result);
  return reply;
}

boost::json::object makeErrorReply(const boost::json::value& id, std::string_view code,
                                   std::string_view message) {
  boost::json::object error;
  error["code"] = code;
  error["message"] = message;
  boost::json::object reply;
  reply["id"] = id;
  reply["ok"] = false;
  reply["error"] = std::move(error);
  return reply;
}

boost::json::object makeProgress(const boost::json::value& id, boost::json::object fields) {
  boost::json::object progress;
  progress["id"] = id;
  progress["event"] = "progress";
  for (auto& field : fields) {
    if (field.key() == "id") continue;
    progress[field.key()] = std::move(field.value());
  }
  return progress;
}

std::string toFrame(const boost::json::object& message) {
  std::string frame = boost::json::serialize(message);
  frame.push_back('\n');
  return frame;
}

RequestParse parseRequest(std::string_view line) {
  RequestParse parsed;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(line, ec);
  if (ec) {
    parsed.error = "not valid JSON: " + ec.message();
    return parsed;
  }
  if (!allNumbersFinite(value)) {
    parsed.error = "a number is out of range (larger than a double holds)";
    return parsed;
  }
  boost::json::object* request = value.if_object();
  if (request == nullptr) {
    parsed.error = "a request must be a JSON object";
    return parsed;
  }
  if (const boost::json::value* id = request->if_contains("id")) parsed.id = *id;
  const boost::json::value* version = request->if_contains("v");
  if (version != nullptr && !isSupportedVersion(*version)) {
    parsed.error = "unsupported protocol version " + boost::json::serialize(*version) +
                   " (this seqd speaks " + std::to_string(kProtocolVersion) + ")";
    return parsed;
  }
  const boost::json::value* cmd = request->if_contains("cmd");
  if (cmd == nullptr || !cmd->is_string() || cmd->get_string().empty()) {
    parsed.error = "a request needs a non-empty string \"cmd\"";
    return parsed;
  }
  boost::json::value* args = request->if_contains("args");
  if (args != nullptr && !args->is_object()) {
    parsed.error = "\"args\" must be a JSON object";
    return parsed;
  }
  parsed.cmd = std::string(cmd->get_string());
  // Moved, not copied: an import's args are most of a 1 MiB frame.
  if (args != nullptr) parsed.args = std::move(args->get_object());
  return parsed;
}

}  // namespace seqd
