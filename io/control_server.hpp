// ControlServer: the Unix control socket. Accepts connections on Boost.Asio, reads
// JSON-line requests, learns the caller from SO_PEERCRED and hands each well-formed request
// to the handler; answers malformed lines itself (and keeps the connection and the daemon
// serving).
//
// (Header comment: limits, thread-safety, socket file mode/group.)
#pragma once

#include <sys/types.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <string>

#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kConnectionsMax = 256;

struct ControlRequest {
  boost::json::value id;
  std::string cmd;
  boost::json::object args;
  uid_t peer_uid = 0;
  gid_t peer_gid = 0;
  std::string peer_user;  // user name of peer_uid, or the number as text if it has none
};

// Sends one frame (a progress event or the final reply) to the requesting connection.
// Callable from any thread, any number of times; a no-op after the connection closed.
using ControlSend = std::function<void(boost::json::object frame)>;
using ControlHandler = std::function<void(ControlRequest request, ControlSend send)>;

class ControlServer {
 public:
  // socket_group empty: leave the daemon's group. The socket file gets mode 0660.
  ControlServer(boost::asio::io_context& io, std::string socket_path, std::string socket_group,
                ControlHandler handler);
  ~ControlServer();

  // Binds and listens. Refuses (Status) when another process is listening on the path;
  // removes a stale socket file left by a crash.
  Status start();
  // Stops accepting and closes every connection.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqd
