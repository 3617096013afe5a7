// The control protocol: JSON lines over the Unix control socket.
//
// Request:  {"v":1,"id":7,"cmd":"pause","args":{...}}
// Reply:    {"id":7,"ok":true,"result":{...}}
//           {"id":7,"ok":false,"error":{"code":"permission_denied","message":"..."}}
// Progress: {"id":7,"event":"progress",...}   (zero or more, before the reply)
//
// One UTF-8 JSON value per '\n'; a frame is at most kFrameBytesMax bytes (bulk adds and
// imports go in batches). Error codes: bad_request, unknown_command, not_found,
// permission_denied, failed, frame_too_large, busy.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace seqd {

inline constexpr std::size_t kFrameBytesMax = 1024 * 1024;
inline constexpr int kProtocolVersion = 1;

boost::json::object makeRequest(std::uint64_t id, std::string_view cmd, boost::json::object args);
boost::json::object makeOkReply(const boost::json::value& id, boost::json::value result);
boost::json::object makeErrorReply(const boost::json::value& id, std::string_view code,
                                   std::string_view message);
boost::json::object makeProgress(const boost::json::value& id, boost::json::object fields);

// Serializes one frame, '\n'-terminated.
std::string toFrame(const boost::json::object& message);

}  // namespace seqd
