// ControlClient: a blocking client of the control socket, used by seqctl and the tests.
// It owns one connected socket; each call() sends one request and reads frames until that
// request's reply arrives. For bulk commands, sendRequest() and receiveReply() pipeline: the
// caller sends several requests before reading their replies (the daemon answers the requests
// of one connection in the order it read them), bounding how many it leaves unanswered.
//
// Limits: a reply is at most kReplyBytesMax bytes (larger is a kFailedPrecondition error, not
// an I/O error: the daemon is there). Writes use
// MSG_NOSIGNAL, so a daemon that went away is an error value, not a SIGPIPE. There is no
// timeout: a call waits as long as the daemon works on it (seqctl reload, time advance).
//
// Thread-safety: one client per thread.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "engine/status.hpp"
#include "io/control_protocol.hpp"

namespace seqd {

inline constexpr std::size_t kReplyBytesMax = kFrameBytesMax * 64;
static_assert(kReplyBytesMax > kReplyFrameBytesMax, "every reply the daemon sends is read");

class ControlClient {
 public:
  ~ControlClient();
  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;

  // Fails with kIOError when nothing listens at socket_path (seqctl exit code 5), with
  // kInvalidArgument when the path is empty or longer than kSocketPathBytesMax.
  static Result<ControlClient> connect(const std::string& socket_path);

  // Sends one request and waits for its reply, passing its events to on_progress: progress,
  // and the "rows" or "part" of a streamed answer (io/control_protocol.hpp), in the order they
  // came.
  // Returns the reply object ({"id","ok",...}); a transport failure is kIOError.
  // A reply with "id":null (the daemon is busy, or could not frame the request) is taken as
  // the answer too; if the daemon closed the connection before reading the whole request, an
  // error frame it left behind is still returned.
  Result<boost::json::object> call(
      std::string_view cmd, boost::json::object args,
      const std::function<void(const boost::json::object&)>& on_progress = {});

  // Sends one request whose arguments are given as the JSON text of an object, without
  // waiting for the reply; returns the request's id. Fails with kInvalidArgument when the
  // frame would be over kFrameBytesMax (nothing is sent), kIOError on a transport failure.
  // REQUIRES: args_json is the serialized text of one JSON object.
  Result<std::uint64_t> sendRequest(std::string_view cmd, std::string_view args_json);
  // Waits for the next reply frame on the connection, whatever request it answers, and
  // returns it ({"id","ok",...}); progress events on the way are skipped.
  Result<boost::json::object> receiveReply();

 private:
  explicit ControlClient(int fd) : fd_(fd) {}
  // Sends every byte; while the socket is full it reads what the daemon sends into buffer_,
  // so a daemon that stops reading until its replies are read (io/control_server.hpp's
  // back-pressure) never deadlocks a client pipelining requests (CsvUpload).
  Status sendAll(std::string_view bytes);
  Result<boost::json::object> readReply(
      std::uint64_t id, const std::function<void(const boost::json::object&)>& on_progress);
  // Reads until buffer_ holds a whole frame; returns its length (the '\n' not counted).
  Result<std::size_t> readFrame();
  // Reads more bytes into buffer_. Fails on a closed connection or an error.
  Status receiveMore();

  int fd_ = -1;
  std::uint64_t next_id_ = 1;
  std::string buffer_;
  // sendRequest's frame, kept so that each bulk request reuses its memory.
  std::string send_frame_;
};

}  // namespace seqd
