// The control protocol: JSON lines over the Unix control socket.
//
// Request:  {"v":1,"id":7,"cmd":"pause","args":{...}}
// Reply:    {"id":7,"ok":true,"result":{...}}
//           {"id":7,"ok":false,"error":{"code":"permission_denied","message":"..."}}
// Progress: {"id":7,"event":"progress",...}   (zero or more, before the reply)
// Rows:     {"id":7,"event":"rows","head":{...},"rows":[{...},...]}   (zero or more, before
//           the reply)
// Part:     {"id":7,"event":"part","result":{...}}      (zero or more, before the reply)
//
// A large answer streams: `status`, `contacts` and `tasks` send their rows in "rows" events of
// at most about kFrameBytesMax bytes each, then the reply, whose array ("contacts", "tasks")
// holds the last rows; the rows of the answer are those of the events, in order, followed by
// the reply's. Each "rows" event's "head" is the reply's result without its array, the
// answer's other fields in their order ({"sequence":"S"}, {"matched":N}, {}): a client can
// write the whole answer out as its rows come, without holding them. An answer that fits in
// one frame is the reply alone (io/status_stream.hpp). A client reads frames until the reply;
// one that ignores "rows" events sees only the last rows. An `add --where`/`--list` or
// a `retry --all` whose lists are long sends them in "part" events after its commit; the
// answer is the parts' results and the reply's merged, arrays appended in order and objects'
// members together (io/part_writer.hpp).
//
// One UTF-8 JSON value per '\n'; a frame is at most kFrameBytesMax bytes (bulk adds and
// imports go in batches). Error codes: bad_request, unknown_command, not_found,
// permission_denied, failed, frame_too_large, busy, reply_too_large.
//
// A request may omit "v" (taken as 1), "id" (taken as null) and "args" (taken as {}); it must
// carry a non-empty string "cmd". A reply is any frame with an "ok" member; the server answers
// lines it cannot frame or parse with "id":null.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace seqd {

// Bytes of one frame's JSON text, not counting its '\n'.
inline constexpr std::size_t kFrameBytesMax = 1024 * 1024;
// Bytes of one reply the daemon sends whole (not streamed). A larger answer is replaced by a
// reply_too_large error, so the connection and the daemon's memory stay bounded.
inline constexpr std::size_t kReplyFrameBytesMax = 16 * 1024 * 1024;
inline constexpr int kProtocolVersion = 1;
// sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
inline constexpr std::size_t kSocketPathBytesMax = 107;

boost::json::object makeRequest(std::uint64_t id, std::string_view cmd, boost::json::object args);
boost::json::object makeOkReply(const boost::json::value& id, boost::json::value result);
boost::json::object makeErrorReply(const boost::json::value& id, std::string_view code,
                                   std::string_view message);
// {"id":id,"event":"progress", ...fields}. A field named "event" replaces "progress"; a field
// named "id" is ignored.
boost::json::object makeProgress(const boost::json::value& id, boost::json::object fields);

// Serializes one frame, '\n'-terminated.
std::string toFrame(const boost::json::object& message);

// One request line, parsed. `error` is empty when the line is a well-formed request; otherwise
// it says what is wrong, and `id` holds the request's id when one could be read (else null) so
// the bad_request reply can carry it.
struct RequestParse {
  boost::json::value id;
  std::string cmd;
  boost::json::object args;
  std::string error;
};

// Parses one frame's text (without its '\n'). Never throws on any input (except bad_alloc).
RequestParse parseRequest(std::string_view line);

}  // namespace seqd
