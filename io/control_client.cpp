#include "io/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace seqd {
namespace {

// Consecutive EINTRs tolerated on one system call before giving up.
constexpr int kInterruptedRetriesMax = 1000;
constexpr std::size_t kReceiveChunkBytes = 64 * 1024;
// Frames (progress events, stale replies) read while waiting for one reply.
constexpr std::size_t kCallFramesMax = std::size_t{1} << 24;

std::string errnoText(int error) { return std::strerror(error); }

// A connect() interrupted by a signal goes on in the background; wait for its outcome.
// Returns 0 or the errno of the failure.
int finishInterruptedConnect(int fd) {
  for (int attempt = 0; attempt < kInterruptedRetriesMax; ++attempt) {
    pollfd entry{fd, POLLOUT, 0};
    int rc = ::poll(&entry, 1, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return errno;
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
  }
  return EINTR;
}

bool idMatches(const boost::json::value& id, std::uint64_t expected) {
  if (id.is_uint64()) return id.get_uint64() == expected;
  if (id.is_int64())
    return id.get_int64() >= 0 && static_cast<std::uint64_t>(id.get_int64()) == expected;
  return false;
}

}  // namespace

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      next_id_(other.next_id_),
      buffer_(std::move(other.buffer_)) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  fd_ = std::exchange(other.fd_, -1);
  next_id_ = other.next_id_;
  buffer_ = std::move(other.buffer_);
  return *this;
}

Result<ControlClient> ControlClient::connect(const std::string& socket_path) {
  if (socket_path.empty()) return Status::invalidArgument("the control socket path is empty");
  if (socket_path.size() > kSocketPathBytesMax) {
    return Status::invalidArgument("the control socket path is longer than " +
                                   std::to_string(kSocketPathBytesMax) + " bytes: " + socket_path);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::ioError("cannot create a socket: " + errnoText(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  int error = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error = errno == EINTR ? finishInterruptedConnect(fd) : errno;
  }
  if (error != 0) {
    ::close(fd);
    return Status::ioError("cannot connect to " + socket_path + ": " + errnoText(error));
  }
  return ControlClient(fd);
}

Result<boost::json::object> ControlClient::call(
    std::string_view cmd, boost::json::object args,
    const std::function<void(const boost::json::object&)>& on_progress) {
  if (fd_ < 0) return Status::ioError("not connected to the daemon");
  std::uint64_t id = next_id_++;
  std::string frame = toFrame(makeRequest(id, cmd, std::move(args)));
  if (frame.size() - 1 > kFrameBytesMax) {
    return Status::invalidArgument("the " + std::string(cmd) + " request is " +
                                   std::to_string(frame.size() - 1) +
                                   " bytes; a frame is at most " + std::to_string(kFrameBytesMax));
  }
  Status sent = sendAll(frame);
  if (sent.isOk()) return readReply(id, on_progress);
  // The daemon may have answered before it hung up (busy); that answer says more.
  Result<boost::json::object> reply = readReply(id, on_progress);
  if (reply.isOk()) return reply;
  return sent;
}

Result<std::uint64_t> ControlClient::sendRequest(std::string_view cmd, std::string_view args_json) {
  if (fd_ < 0) return Status::ioError("not connected to the daemon");
  std::uint64_t id = next_id_++;
  std::string& frame = send_frame_;
  frame.assign(R"({"v":)");
  frame.append(std::to_string(kProtocolVersion));
  frame.append(R"(,"id":)");
  frame.append(std::to_string(id));
  frame.append(R"(,"cmd":)");
  frame.append(boost::json::serialize(boost::json::string_view(cmd.data(), cmd.size())));
  frame.append(R"(,"args":)");
  frame.append(args_json);
  frame.append("}\n");
  if (frame.size() - 1 > kFrameBytesMax) {
    return Status::invalidArgument("the " + std::string(cmd) + " request is " +
                                   std::to_string(frame.size() - 1) +
                                   " bytes; a frame is at most " + std::to_string(kFrameBytesMax));
  }
  Status sent = sendAll(frame);
  if (!sent.isOk()) return sent;
  return id;
}

Result<boost::json::object> ControlClient::receiveReply() {
  if (fd_ < 0) return Status::ioError("not connected to the daemon");
  for (std::size_t frames = 0; frames < kCallFramesMax; ++frames) {
    Result<std::size_t> length = readFrame();
    if (!length.isOk()) return length.status();
    // Parsed where it lies in buffer_, then dropped from it: no copy of a large reply.
    std::string_view line(buffer_.data(), length.value());
    boost::system::error_code ec;
    boost::json::value value;
    const bool blank = line.find_first_not_of(" \t\r") == std::string_view::npos;
    if (!blank) value = boost::json::parse(line, ec);
    buffer_.erase(0, length.value() + 1);
    if (blank) continue;
    if (ec || !value.is_object()) {
      return Status::ioError("the daemon sent a malformed frame: " +
                             (ec ? ec.message() : std::string("not a JSON object")));
    }
    if (value.get_object().contains("ok")) return std::move(value.get_object());
  }
  return Status::ioError("the daemon sent more than " + std::to_string(kCallFramesMax) +
                         " frames without a reply");
}

Result<std::size_t> ControlClient::readFrame() {
  std::size_t scanned = 0;  // bytes of buffer_ known to hold no '\n'
  // Receiving adds at least one byte per pass and a frame is capped at kReplyBytesMax.
  for (;;) {
    std::size_t newline = buffer_.find('\n', scanned);
    if (newline != std::string::npos) return newline;
    scanned = buffer_.size();
    if (buffer_.size() > kReplyBytesMax) {
      return Status::failedPrecondition("the daemon's reply is larger than " +
                                        std::to_string(kReplyBytesMax) + " bytes");
    }
    Status received = receiveMore();
    if (!received.isOk()) return received;
  }
}

Status ControlClient::sendAll(std::string_view bytes) {
  int interrupted = 0;
  while (!bytes.empty()) {  // each pass sends at least one byte, reads some, or fails
    ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (written >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(written));
      interrupted = 0;
      continue;
    }
    if (errno == EINTR && ++interrupted < kInterruptedRetriesMax) continue;
    if (errno == EPIPE || errno == ECONNRESET) {
      return Status::ioError("daemon closed the connection");
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status::ioError("cannot send to the daemon: " + errnoText(errno));
    }
    // The socket is full. Replies to requests already sent may be what the daemon waits to
    // write before it reads on (its back-pressure), so read them while waiting to send.
    pollfd entry{fd_, POLLIN | POLLOUT, 0};
    int ready = ::poll(&entry, 1, -1);
    if (ready < 0 && errno == EINTR && ++interrupted < kInterruptedRetriesMax) continue;
    if (ready < 0) return Status::ioError("cannot wait for the daemon: " + errnoText(errno));
    if ((entry.revents & POLLIN) != 0) {
      Status received = receiveMore();
      if (!received.isOk()) return received;
    } else if ((entry.revents & (POLLERR | POLLHUP)) != 0 && (entry.revents & POLLOUT) == 0) {
      return Status::ioError("daemon closed the connection");
    }
  }
  return Status::ok();
}

Status ControlClient::receiveMore() {
  char chunk[kReceiveChunkBytes];
  for (int attempt = 0; attempt < kInterruptedRetriesMax; ++attempt) {
    ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
    if (received > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(received));
      return Status::ok();
    }
    if (received == 0) return Status::ioError("daemon closed the connection");
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return Status::ioError("daemon closed the connection");
    return Status::ioError("cannot read from the daemon: " + errnoText(errno));
  }
  return Status::ioError("reading from the daemon was interrupted too often");
}

Result<boost::json::object> ControlClient::readReply(
    std::uint64_t id, const std::function<void(const boost::json::object&)>& on_progress) {
  std::size_t scanned = 0;  // bytes of buffer_ known to hold no '\n'
  std::size_t frames = 0;
  // Receiving adds at least one byte per pass and a frame is capped at kReplyBytesMax, so
  // the passes between two frames are bounded too.
  while (frames < kCallFramesMax) {
    std::size_t newline = buffer_.find('\n', scanned);
    if (newline == std::string::npos) {
      scanned = buffer_.size();
      if (buffer_.size() > kReplyBytesMax) {
        return Status::failedPrecondition("the daemon's reply is larger than " +
                                          std::to_string(kReplyBytesMax) + " bytes");
      }
      Status received = receiveMore();
      if (!received.isOk()) return received;
      continue;
    }
    ++frames;
    std::string line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);
    scanned = 0;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(line, ec);
    if (ec || !value.is_object()) {
      return Status::ioError("the daemon sent a malformed frame: " +
                             (ec ? ec.message() : std::string("not a JSON object")));
    }
    boost::json::object& message = value.get_object();
    const boost::json::value* frame_id = message.if_contains("id");
    bool ours = frame_id != nullptr && idMatches(*frame_id, id);
    bool unaddressed = frame_id == nullptr || frame_id->is_null();
    if (message.contains("ok") && (ours || unaddressed)) return std::move(message);
    if (message.contains("event") && ours && on_progress) on_progress(message);
  }
  return Status::ioError("the daemon sent more than " + std::to_string(kCallFramesMax) +
                         " frames without a reply");
}

}  // namespace seqd
