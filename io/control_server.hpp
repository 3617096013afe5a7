// ControlServer: the Unix control socket. Accepts connections on Boost.Asio, reads
// JSON-line requests, learns the caller from SO_PEERCRED and hands each well-formed request
// to the handler; answers malformed lines itself (and keeps the connection and the daemon
// serving).
//
// Limits: a frame is at most kFrameBytesMax bytes; a longer one is answered with
// frame_too_large and its connection is closed, since the framing is lost. At most
// kConnectionsMax connections are served at once, the last kConnectionsReservedForAdmins of
// them only to admins (those `is_admin` names; without it root and seqd's own account), so that
// `seqctl reload` (systemctl reload) still gets in when others took every other slot; one user
// has at most kConnectionsPerUserMax. A connection over a limit is accepted, answered with a
// single {"id":null,"ok":false,"error":{"code":"busy",...}} frame naming the limit, and closed.
// A connection that has nothing unanswered and neither completed a request nor had a frame
// written for kConnectionIdleMax is closed (a client that connects and never sends, or sends
// half a line, holds its slot that long at most). A connection whose unsent frames exceed
// kConnectionWriteBytesMax (the peer stopped reading) is closed.
//
// Back-pressure: a connection stops reading while kPipelinedRequestsMax of its requests are
// unanswered, or while kPipelinedReplyBytesMax or more of its frames are unsent, and reads
// again once replies went out. A peer that pipelines requests without reading the replies is
// thus held by its socket's buffers instead of growing the daemon's memory (at most
// kPipelinedRequestsMax requests of kFrameBytesMax each, plus its unsent replies), and the
// handler is never given more than kConnectionsMax x kPipelinedRequestsMax requests at once.
//
// The log callback says when a connection is closed at kConnectionWriteBytesMax. A streamed
// answer (io/status_stream.hpp) never gets near that cap: its writer waits while the
// connection's unsent bytes are over a bound (waitUnsent) and drops the connection itself
// when nothing is written for a while.
// Blank lines are ignored. A peer that shuts down its sending side still gets the replies to
// the requests it sent; the connection closes once they are written.
//
// Socket file: mode 0660, group socket_group when one is given. start() refuses a path where
// another process listens, replaces a stale socket file left by a crash, never replaces a file
// that is not a socket, and creates missing parent directories with mode 0755. stop() removes
// the socket file only if it is still the one this server bound.
//
// Thread-safety: the server runs on whatever threads run the io_context (the daemon runs one).
// Each connection has its own strand: the handler is called on an io_context thread, one
// request at a time per connection (concurrently for different connections only when several
// threads run the io_context), so it must not block: hand the request on and answer through
// `send`. `send` may be called from any thread. start() and stop() may be called from any
// thread, one at a time. The io_context must outlive the server and every ControlSend it
// handed out.
//
// Invariants: each connection has at most one write in flight and writes its frames in the
// order `send` was called for it; a connection is handed requests only with known peer
// credentials (a connection whose credentials cannot be read is refused).
#pragma once

#include <sys/types.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "engine/status.hpp"
#include "io/control_protocol.hpp"

namespace seqd {

inline constexpr std::size_t kConnectionsMax = 256;
// Of kConnectionsMax, this many are kept for admins: others are refused beyond
// kConnectionsMax - kConnectionsReservedForAdmins.
inline constexpr std::size_t kConnectionsReservedForAdmins = 16;
// Connections of one OS user (by uid) served at once.
inline constexpr std::size_t kConnectionsPerUserMax = 32;
// A connection with nothing unanswered and no request read or frame written for this long is
// closed.
inline constexpr std::chrono::milliseconds kConnectionIdleMax{60'000};
// Unsent bytes queued on one connection before it is dropped as not reading: room for the
// largest reply and the frames queued before it.
inline constexpr std::size_t kConnectionWriteBytesMax = 2 * kReplyFrameBytesMax;
// Requests of one connection handed to the handler and not yet answered, at most; seqctl's
// streamed import keeps 8 in flight.
inline constexpr std::size_t kPipelinedRequestsMax = 64;
// A connection with this many unsent bytes reads no further request until they are written.
inline constexpr std::size_t kPipelinedReplyBytesMax = 1024 * 1024;

struct ControlRequest {
  boost::json::value id;
  std::string cmd;
  boost::json::object args;
  uid_t peer_uid = 0;
  gid_t peer_gid = 0;
  std::string peer_user;  // user name of peer_uid, or the number as text if it has none
};

// One connection as a ControlSend writes to it; the server's connections implement it.
class ControlSink {
 public:
  enum class Wait { kReady, kClosed, kStalled };
  virtual ~ControlSink() = default;
  virtual void sendText(std::string text, bool is_reply) = 0;
  virtual Wait waitUnsent(std::size_t unsent_bytes_max, std::chrono::milliseconds stall_max) = 0;
  virtual void drop(const std::string& why) = 0;
};

// Sends frames to the requesting connection. Callable from any thread, any number of times;
// a no-op after the connection closed. A frame with an "ok" member is the reply: once every
// request read from a connection has been replied to, a connection whose peer has finished
// sending is closed.
class ControlSend {
 public:
  ControlSend() = default;
  explicit ControlSend(std::weak_ptr<ControlSink> sink) : sink_(std::move(sink)) {}

  // One frame (a progress event or the final reply), serialized on the calling thread.
  void operator()(const boost::json::object& frame) const;
  // One frame already serialized, '\n'-terminated; is_reply: it is the request's reply.
  void sendText(std::string text, bool is_reply) const;
  // For a streamed answer (back-pressure): blocks the calling thread while more than
  // unsent_bytes_max bytes queued on the connection are not written yet. kStalled when no
  // byte was written for stall_max meanwhile (the peer stopped reading), kClosed when the
  // connection closed. REQUIRES: not called on an io_context thread.
  ControlSink::Wait waitUnsent(std::size_t unsent_bytes_max,
                               std::chrono::milliseconds stall_max) const;
  // Closes the connection; the server logs why.
  void drop(const std::string& why) const;

 private:
  std::weak_ptr<ControlSink> sink_;
};
using ControlHandler = std::function<void(ControlRequest request, ControlSend send)>;
// Whether the OS user may take the reserved connection slots. Called on the io_context's
// thread for each connection accepted. Without one, root and seqd's own account may.
using ControlAdminCheck = std::function<bool(uid_t uid, const std::string& user)>;

// The connection limits (see the header comment); tests make them small.
struct ControlLimits {
  std::size_t connections_max = kConnectionsMax;
  std::size_t connections_reserved_for_admins = kConnectionsReservedForAdmins;
  std::size_t connections_per_user_max = kConnectionsPerUserMax;
  std::chrono::milliseconds idle_max = kConnectionIdleMax;

  // The defaults, with idle_max from SEQD_TEST_CONNECTION_IDLE_MS when it is set (tests only).
  static ControlLimits fromEnvironment();
};
// Where the server says why it dropped a connection (a peer that stopped reading).
using ControlLog = std::function<void(const std::string& line)>;

class ControlServer {
 public:
  // socket_group empty: leave the daemon's group. The socket file gets mode 0660.
  ControlServer(boost::asio::io_context& io, std::string socket_path, std::string socket_group,
                ControlHandler handler, ControlLog log = {}, ControlLimits limits = {},
                ControlAdminCheck is_admin = {});
  // Calls stop().
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and listens. Refuses (Status) when another process is listening on the path;
  // removes a stale socket file left by a crash. Errors: kInvalidArgument (path empty or
  // longer than kSocketPathBytesMax, unknown group), kFailedPrecondition (another listener,
  // a non-socket file at the path, already started or stopped), kPermissionDenied / kIOError
  // from the file system.
  // REQUIRES: called at most once.
  Status start();
  // Stops accepting and closes every connection. The socket file is removed before stop()
  // returns; the acceptor and the connections are closed on the io_context's threads (at
  // once if the io_context is running, otherwise when it next runs or is destroyed).
  // Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqd
