#include "io/control_server.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/assert.hpp"
#include "io/control_protocol.hpp"
#include "io/server_stop.hpp"

namespace seqd {
namespace {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = asio::local::stream_protocol::socket::rebind_executor<Strand>::other;
using Acceptor = asio::local::stream_protocol::acceptor::rebind_executor<Strand>::other;
using RetryTimer = asio::steady_timer::rebind_executor<Strand>::other;
using IdleTimer = asio::steady_timer::rebind_executor<Strand>::other;

constexpr mode_t kSocketMode = 0660;
constexpr mode_t kDirectoryMode = 0755;
// getpwuid_r / getgrnam_r buffers grow by doubling up to this size.
constexpr std::size_t kLookupBufferBytesMax = 1024 * 1024;
constexpr std::size_t kLookupBufferBytesMin = 1024;
// After a failed accept (EMFILE, ENOBUFS) wait before the next one instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

std::string errnoText(int error) { return std::strerror(error); }

void setCloseOnExec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string user;
};

std::size_t lookupBufferBytes() {
  long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  if (suggested <= 0) return kLookupBufferBytesMin;
  return std::max(kLookupBufferBytesMin, static_cast<std::size_t>(suggested));
}

// The user name of uid, or the number as text when it has none (or the lookup fails).
std::string userName(uid_t uid) {
  for (std::size_t size = lookupBufferBytes(); size <= kLookupBufferBytesMax; size *= 2) {
    std::vector<char> buffer(size);
    passwd entry{};
    passwd* found = nullptr;
    int rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE) continue;
    if (rc == 0 && found != nullptr) return found->pw_name;
    break;
  }
  return std::to_string(uid);
}

Result<gid_t> groupId(const std::string& name) {
  for (std::size_t size = lookupBufferBytes(); size <= kLookupBufferBytesMax; size *= 2) {
    std::vector<char> buffer(size);
    group entry{};
    group* found = nullptr;
    int rc = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE) continue;
    if (rc == 0 && found != nullptr) return found->gr_gid;
    if (rc == 0)
      return Status::invalidArgument(fmt::format("socket_group '{}': no such group", name));
    return Status::ioError(
        fmt::format("socket_group '{}': cannot look it up: {}", name, errnoText(rc)));
  }
  return Status::ioError(fmt::format("socket_group '{}': group entry too large", name));
}

Result<PeerCredentials> peerCredentials(int fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return Status::ioError("cannot read the peer's credentials: " + errnoText(errno));
  }
  return PeerCredentials{credentials.uid, credentials.gid, userName(credentials.uid)};
}

sockaddr_un socketAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// REQUIRES: path.size() <= kSocketPathBytesMax.
Status removeStaleSocket(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return Status::ok();
    return Status::ioError(fmt::format("cannot inspect {}: {}", path, errnoText(errno)));
  }
  if (!S_ISSOCK(info.st_mode)) {
    return Status::failedPrecondition(
        fmt::format("{} exists and is not a socket; refusing to replace it", path));
  }
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return Status::ioError("cannot create a socket: " + errnoText(errno));
  sockaddr_un address = socketAddress(path);
  int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  int error = rc == 0 ? 0 : errno;
  ::close(probe);
  // A full backlog (EAGAIN) still means someone listens.
  if (rc == 0 || error == EAGAIN || error == EINPROGRESS) {
    return Status::failedPrecondition("another seqd is listening on " + path);
  }
  if (error == ENOENT) return Status::ok();
  if (error != ECONNREFUSED) {
    return Status::ioError(
        fmt::format("cannot tell whether {} is in use: {}", path, errnoText(error)));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::ioError(
        fmt::format("cannot remove the stale socket {}: {}", path, errnoText(errno)));
  }
  return Status::ok();
}

// Creates the missing directories above the socket, each with mode 0755 (not the umask's).
Status createParentDirectories(const std::string& socket_path) {
  std::filesystem::path parent = std::filesystem::path(socket_path).parent_path();
  std::filesystem::path current;
  for (const std::filesystem::path& component : parent) {  // bounded by the path's length
    current /= component;
    if (::mkdir(current.c_str(), kDirectoryMode) == 0) {
      ::chmod(current.c_str(), kDirectoryMode);
    } else if (errno != EEXIST) {
      return Status::ioError(
          fmt::format("cannot create directory {}: {}", current.string(), errnoText(errno)));
    }
  }
  return Status::ok();
}

class Connection;

// State shared by the server object and its pending handlers, so that a handler still queued
// on the io_context after the server was destroyed finds it alive.
struct Shared {
  Shared(asio::io_context& io_context, std::string path, std::string group,
         ControlHandler request_handler, ControlLog drop_log, ControlLimits connection_limits,
         ControlAdminCheck admin_check)
      : io(io_context),
        socket_path(std::move(path)),
        socket_group(std::move(group)),
        handler(std::move(request_handler)),
        log(std::move(drop_log)),
        limits(connection_limits),
        is_admin(std::move(admin_check)),
        acceptor(asio::make_strand(io_context)),
        accept_retry_timer(acceptor.get_executor()) {}

  asio::io_context& io;
  const std::string socket_path;
  const std::string socket_group;
  const ControlHandler handler;
  const ControlLog log;  // may be empty
  const ControlLimits limits;
  const ControlAdminCheck is_admin;  // may be empty
  Acceptor acceptor;                 // used on its strand once accepting has started
  RetryTimer accept_retry_timer;     // on the acceptor's strand

  // Everything below is guarded by mutex.
  std::mutex mutex;
  bool started = false;
  bool stopped = false;
  std::unordered_set<std::shared_ptr<Connection>> connections;
  std::unordered_map<uid_t, std::size_t> connections_by_uid;  // no zero counts
  // The socket file this server bound, so stop() removes it and nothing else.
  std::optional<std::pair<dev_t, ino_t>> bound_file;
};

class Connection : public ControlSink, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Socket socket, PeerCredentials peer, ControlHandler handler,
             std::weak_ptr<Shared> server, std::chrono::milliseconds idle_max)
      : socket_(std::move(socket)),
        strand_(socket_.get_executor()),
        peer_(std::move(peer)),
        handler_(std::move(handler)),
        server_(std::move(server)),
        idle_max_(idle_max),
        idle_timer_(strand_) {}

  // REQUIRES: on strand_.
  void start() {
    last_progress_ = std::chrono::steady_clock::now();
    armIdleTimer(idle_max_);
    readIfRoom();
  }

  const Strand& strand() const { return strand_; }

  // Any thread.
  void postClose() {
    asio::post(strand_, [self = shared_from_this()] { self->close(); });
  }

  // Any thread. Counted as unsent from now until written, so a streaming writer's wait sees
  // frames still on their way to the strand too.
  void sendText(std::string text, bool is_reply) override {
    unsent_bytes_.fetch_add(text.size());
    asio::post(strand_, [self = shared_from_this(), text = std::move(text), is_reply]() mutable {
      self->deliver(std::move(text), is_reply, true);
    });
  }

  // Any thread but the io_context's.
  Wait waitUnsent(std::size_t unsent_bytes_max, std::chrono::milliseconds stall_max) override {
    std::unique_lock lock(wait_mutex_);
    std::uint64_t progress = written_frames_;
    auto deadline = std::chrono::steady_clock::now() + stall_max;
    while (!closed_flag_.load() && unsent_bytes_.load() > unsent_bytes_max) {
      if (written_.wait_until(lock, deadline) != std::cv_status::timeout) {
        if (written_frames_ != progress) {
          progress = written_frames_;
          deadline = std::chrono::steady_clock::now() + stall_max;
        }
        continue;
      }
      if (written_frames_ == progress) return Wait::kStalled;
      progress = written_frames_;
      deadline = std::chrono::steady_clock::now() + stall_max;
    }
    return closed_flag_.load() ? Wait::kClosed : Wait::kReady;
  }

  // Any thread.
  void drop(const std::string& why) override {
    log("control connection of " + peer_.user + " dropped: " + why);
    postClose();
  }

 private:
  void readNext() {
    asio::async_read_until(
        socket_, asio::dynamic_buffer(read_buffer_, kFrameBytesMax + 1), '\n',
        [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
          self->onRead(ec, bytes);
        });
  }

  void onRead(boost::system::error_code ec, std::size_t bytes) {
    reading_ = false;
    if (closed_) return;
    if (ec == asio::error::not_found) {
      // No '\n' within kFrameBytesMax + 1 bytes: the framing is lost, so stop reading.
      reading_done_ = true;
      queueFrame(makeErrorReply(
          nullptr, "frame_too_large",
          fmt::format("a frame is at most {} bytes; closing the connection", kFrameBytesMax)));
      return;
    }
    if (ec == asio::error::eof) {
      // The peer finished sending; answer what it asked, then close.
      reading_done_ = true;
      closeIfDone();
      return;
    }
    if (ec) {
      close();
      return;
    }
    std::string line = read_buffer_.substr(0, bytes - 1);
    read_buffer_.erase(0, bytes);
    last_progress_ = std::chrono::steady_clock::now();
    handleLine(line);
    readIfRoom();
  }

  // Reads the next request unless the peer already has enough unanswered or unsent.
  // REQUIRES: on strand_.
  void readIfRoom() {
    if (closed_ || reading_ || reading_done_) return;
    if (outstanding_ >= kPipelinedRequestsMax || write_queue_bytes_ >= kPipelinedReplyBytesMax) {
      return;  // deliver() or onWritten() reads again once replies went out
    }
    reading_ = true;
    readNext();
  }

  void handleLine(const std::string& line) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;  // blank line
    RequestParse parsed = parseRequest(line);
    if (!parsed.error.empty()) {
      queueFrame(makeErrorReply(parsed.id, "bad_request", parsed.error));
      return;
    }
    ControlRequest request;
    request.id = parsed.id;
    request.cmd = std::move(parsed.cmd);
    request.args = std::move(parsed.args);
    request.peer_uid = peer_.uid;
    request.peer_gid = peer_.gid;
    request.peer_user = peer_.user;
    ++outstanding_;
    try {
      handler_(std::move(request), makeSend());
    } catch (const std::exception& error) {
      // The handler's exception must not take down the io_context thread.
      deliver(toFrame(makeErrorReply(parsed.id, "failed", error.what())), true);
    }
  }

  ControlSend makeSend() { return ControlSend(std::weak_ptr<ControlSink>(shared_from_this())); }

  void queueFrame(const boost::json::object& frame) { deliver(toFrame(frame), false); }

  // REQUIRES: on strand_. counted: the text's bytes were added to unsent_bytes_ already.
  void deliver(std::string text, bool is_reply, bool counted = false) {
    if (!counted) unsent_bytes_.fetch_add(text.size());
    if (closed_) {
      unsent_bytes_.fetch_sub(text.size());
      return;
    }
    if (is_reply && outstanding_ > 0) --outstanding_;
    if (write_queue_bytes_ + text.size() > kConnectionWriteBytesMax) {
      unsent_bytes_.fetch_sub(text.size());
      log("control connection of " + peer_.user + " dropped: over " +
          std::to_string(kConnectionWriteBytesMax) + " bytes of answers unread");
      close();
      return;
    }
    write_queue_bytes_ += text.size();
    write_queue_.push_back(std::move(text));
    if (!writing_) writeNext();
    if (is_reply) readIfRoom();
  }

  void writeNext() {
    writing_ = true;
    // deque::push_back keeps references valid, so front() outlives the write.
    asio::async_write(socket_, asio::buffer(write_queue_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->onWritten(ec);
                      });
  }

  void onWritten(boost::system::error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    write_queue_bytes_ -= write_queue_.front().size();
    unsent_bytes_.fetch_sub(write_queue_.front().size());
    write_queue_.pop_front();
    last_progress_ = std::chrono::steady_clock::now();
    readIfRoom();
    {
      std::lock_guard lock(wait_mutex_);
      ++written_frames_;
    }
    written_.notify_all();
    if (!write_queue_.empty()) {
      writeNext();
      return;
    }
    closeIfDone();
  }

  // REQUIRES: on strand_.
  void armIdleTimer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->onIdleTimer();
    });
  }

  // A connection the daemon still owes an answer is working, not idle (a long time advance);
  // a streamed answer whose peer stops reading is dropped by its writer.
  void onIdleTimer() {
    if (closed_) return;
    const auto now = std::chrono::steady_clock::now();
    if (outstanding_ > 0) last_progress_ = now;
    const auto idle = now - last_progress_;
    if (idle < idle_max_) {
      armIdleTimer(idle_max_ - idle);
      return;
    }
    log(fmt::format("control connection of {} closed: idle for {} ms (nothing sent or read)",
                    peer_.user, idle_max_.count()));
    close();
  }

  void closeIfDone() {
    if (reading_done_ && outstanding_ == 0 && !writing_ && write_queue_.empty()) close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    idle_timer_.cancel();
    {
      std::lock_guard lock(wait_mutex_);
      closed_flag_.store(true);
    }
    written_.notify_all();
    boost::system::error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    if (std::shared_ptr<Shared> server = server_.lock()) {
      std::lock_guard lock(server->mutex);
      if (server->connections.erase(shared_from_this()) > 0) {
        auto count = server->connections_by_uid.find(peer_.uid);
        if (count != server->connections_by_uid.end() && --count->second == 0) {
          server->connections_by_uid.erase(count);
        }
      }
    }
  }

  void log(const std::string& line) const {
    if (std::shared_ptr<Shared> server = server_.lock(); server && server->log) server->log(line);
  }

  Socket socket_;
  const Strand strand_;
  const PeerCredentials peer_;
  const ControlHandler handler_;
  const std::weak_ptr<Shared> server_;
  const std::chrono::milliseconds idle_max_;

  // Everything below is used on strand_ only.
  IdleTimer idle_timer_;
  std::chrono::steady_clock::time_point last_progress_;  // last request read or frame written
  std::string read_buffer_;
  std::deque<std::string> write_queue_;
  std::size_t write_queue_bytes_ = 0;
  std::size_t outstanding_ = 0;  // requests handed to the handler and not yet replied to
  bool writing_ = false;
  bool reading_ = false;  // a read is in flight
  bool reading_done_ = false;
  bool closed_ = false;

  // Shared with the threads that wait in waitUnsent().
  std::atomic<std::size_t> unsent_bytes_{0};  // sent through this connection, not yet written
  std::atomic<bool> closed_flag_{false};
  std::mutex wait_mutex_;
  std::condition_variable written_;
  std::uint64_t written_frames_ = 0;  // guarded by wait_mutex_
};

// A connection that is not served, between its refusal frame and its close.
struct RefusedConnection {
  RefusedConnection(Socket connection, std::string frame)
      : socket(std::move(connection)), text(std::move(frame)), timer(socket.get_executor()) {}
  Socket socket;
  std::string text;
  IdleTimer timer;
  std::array<char, 512> sink{};
};

// Refused connections waiting for their peer to read the refusal; past this many a refused
// connection is closed as soon as its frame is written.
std::atomic<int> refused_lingering{0};
constexpr int kRefusedLingeringMax = 64;
constexpr std::chrono::milliseconds kRefusedLinger{1000};

void closeRefused(const std::shared_ptr<RefusedConnection>& refused) {
  boost::system::error_code ignored;
  refused->timer.cancel();
  if (refused->socket.is_open()) {
    refused->socket.close(ignored);
    refused_lingering.fetch_sub(1);
  }
}

// Reads and drops what the peer still sends (its first request) until it closes.
void drainRefused(const std::shared_ptr<RefusedConnection>& refused) {
  refused->socket.async_read_some(asio::buffer(refused->sink),
                                  [refused](boost::system::error_code error, std::size_t) {
                                    if (error) return closeRefused(refused);
                                    drainRefused(refused);
                                  });
}

// Writes one error frame to a connection that will not be served, shuts its sending side and
// closes it when the peer does, or after kRefusedLinger: a client that sends its request right
// after connecting then reads the refusal instead of failing on a closed socket (EPIPE).
void refuse(Socket socket, const boost::json::object& frame) {
  auto refused = std::make_shared<RefusedConnection>(std::move(socket), toFrame(frame));
  refused_lingering.fetch_add(1);
  asio::async_write(refused->socket, asio::buffer(refused->text),
                    [refused](boost::system::error_code error, std::size_t) {
                      boost::system::error_code ignored;
                      if (error || refused_lingering.load() > kRefusedLingeringMax) {
                        return closeRefused(refused);
                      }
                      refused->socket.shutdown(asio::socket_base::shutdown_send, ignored);
                      refused->timer.expires_after(kRefusedLinger);
                      refused->timer.async_wait([refused](boost::system::error_code waited) {
                        if (!waited) closeRefused(refused);
                      });
                      drainRefused(refused);
                    });
}

void acceptNext(const std::shared_ptr<Shared>& shared);

// Why a new connection of uid is not served, or empty when it is.
// REQUIRES: shared.mutex held.
std::string admissionRefusal(const Shared& shared, uid_t uid, const std::string& user, bool admin) {
  const ControlLimits& limits = shared.limits;
  auto held = shared.connections_by_uid.find(uid);
  if (held != shared.connections_by_uid.end() && held->second >= limits.connections_per_user_max) {
    return fmt::format(
        "user {} already has {} connections to seqd, the most one user may have; close one "
        "and try again",
        user, held->second);
  }
  const std::size_t open = shared.connections.size();
  if (open >= limits.connections_max) {
    return fmt::format("seqd serves at most {} connections at once; try again",
                       limits.connections_max);
  }
  const std::size_t others_max = limits.connections_max - limits.connections_reserved_for_admins;
  if (!admin && open >= others_max) {
    return fmt::format(
        "seqd serves at most {} connections at once ({} more are kept for admins); try again",
        others_max, limits.connections_reserved_for_admins);
  }
  return {};
}

// On the acceptor's strand.
void admit(const std::shared_ptr<Shared>& shared, Socket socket) {
  setCloseOnExec(socket.native_handle());
  Result<PeerCredentials> peer = peerCredentials(socket.native_handle());
  if (!peer.isOk()) {
    refuse(std::move(socket), makeErrorReply(nullptr, "failed", peer.status().message()));
    return;
  }
  const ControlLimits& limits = shared->limits;
  const uid_t uid = peer.value().uid;
  const bool admin =
      shared->is_admin ? shared->is_admin(uid, peer.value().user) : uid == 0 || uid == ::geteuid();
  std::shared_ptr<Connection> connection;
  std::string refusal;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return;
    refusal = admissionRefusal(*shared, uid, peer.value().user, admin);
    if (refusal.empty()) {
      connection = std::make_shared<Connection>(std::move(socket), std::move(peer.value()),
                                                shared->handler, shared, limits.idle_max);
      shared->connections.insert(connection);
      ++shared->connections_by_uid[uid];
    }
  }
  if (!connection) {
    refuse(std::move(socket), makeErrorReply(nullptr, "busy", refusal));
    return;
  }
  asio::dispatch(connection->strand(), [connection] { connection->start(); });
}

// On the acceptor's strand.
void onAccepted(const std::shared_ptr<Shared>& shared, boost::system::error_code ec,
                Socket socket) {
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return;
  }
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    shared->accept_retry_timer.expires_after(kAcceptRetryDelay);
    shared->accept_retry_timer.async_wait([shared](boost::system::error_code wait_error) {
      if (!wait_error) acceptNext(shared);
    });
    return;
  }
  admit(shared, std::move(socket));
  acceptNext(shared);
}

void acceptNext(const std::shared_ptr<Shared>& shared) {
  shared->acceptor.async_accept(asio::make_strand(shared->io),
                                [shared](boost::system::error_code ec, Socket socket) {
                                  onAccepted(shared, ec, std::move(socket));
                                });
}

// True when gid is the process's effective group or one of its supplementary groups: the
// groups an unprivileged process may give its files to.
bool processIsInGroup(gid_t gid) {
  if (::getegid() == gid) return true;
  int count = ::getgroups(0, nullptr);
  if (count <= 0) return false;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  count = ::getgroups(count, groups.data());
  if (count <= 0) return false;
  groups.resize(static_cast<std::size_t>(count));
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

// Why chown(2) of the socket file to socket_group failed, in terms an operator can act on.
// Without CAP_CHOWN a process may only give its files to a group it is a member of.
Status socketGroupError(const std::string& path, const std::string& group_name, gid_t group,
                        int error) {
  std::string prefix = fmt::format("socket_group '{}': cannot give {} to it: {}", group_name, path,
                                   errnoText(error));
  if (error == EPERM && !processIsInGroup(group)) {
    return Status::permissionDenied(fmt::format(
        "{}; seqd runs as user {} and is not a member of group '{}' (add the group to the "
        "unit's SupplementaryGroups=, or use seqd's own group)",
        prefix, userName(::geteuid()), group_name));
  }
  if (error == EPERM) {
    return Status::permissionDenied(fmt::format(
        "{}; seqd is a member of the group, so a system call filter refused chown (the unit's "
        "SystemCallFilter= must allow @chown)",
        prefix));
  }
  if (error == EINVAL) {
    return Status::invalidArgument(fmt::format(
        "{}; the group has no id in seqd's user namespace (do not run seqd with PrivateUsers=)",
        prefix));
  }
  return Status::ioError(prefix);
}

// Binds the socket file, gives it its mode and group, then listens: nobody can connect
// before the mode is right.
Status bindAndListen(Shared& shared, std::optional<gid_t> group) {
  const std::string& path = shared.socket_path;
  boost::system::error_code ec;
  shared.acceptor.open(asio::local::stream_protocol(), ec);
  if (ec) return Status::ioError("cannot create the control socket: " + ec.message());
  setCloseOnExec(shared.acceptor.native_handle());
  shared.acceptor.bind(asio::local::stream_protocol::endpoint(path), ec);
  if (ec) return Status::ioError(fmt::format("cannot bind {}: {}", path, ec.message()));
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    std::lock_guard lock(shared.mutex);
    shared.bound_file = std::make_pair(info.st_dev, info.st_ino);
  }
  if (::chmod(path.c_str(), kSocketMode) != 0) {
    return Status::ioError(fmt::format("cannot set mode 0660 on {}: {}", path, errnoText(errno)));
  }
  if (group && ::chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
    return socketGroupError(path, shared.socket_group, *group, errno);
  }
  shared.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::ioError(fmt::format("cannot listen on {}: {}", path, ec.message()));
  return Status::ok();
}

// Removes the socket file if it is still the one this server bound.
void removeBoundFile(Shared& shared) {
  std::optional<std::pair<dev_t, ino_t>> bound;
  {
    std::lock_guard lock(shared.mutex);
    bound = shared.bound_file;
    shared.bound_file.reset();
  }
  if (!bound) return;
  struct stat info {};
  if (::lstat(shared.socket_path.c_str(), &info) != 0) return;
  if (info.st_dev != bound->first || info.st_ino != bound->second) return;
  ::unlink(shared.socket_path.c_str());
}

}  // namespace

struct ControlServer::Impl {
  std::shared_ptr<Shared> shared;
};

ControlLimits ControlLimits::fromEnvironment() {
  ControlLimits limits;
  if (const char* text = std::getenv("SEQD_TEST_CONNECTION_IDLE_MS"); text && *text != '\0') {
    char* end = nullptr;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (*end == '\0' && value > 0) limits.idle_max = std::chrono::milliseconds(value);
  }
  return limits;
}

ControlServer::ControlServer(asio::io_context& io, std::string socket_path,
                             std::string socket_group, ControlHandler handler, ControlLog log,
                             ControlLimits limits, ControlAdminCheck is_admin)
    : impl_(std::make_unique<Impl>()) {
  SEQD_ASSERT(limits.connections_reserved_for_admins < limits.connections_max);
  impl_->shared =
      std::make_shared<Shared>(io, std::move(socket_path), std::move(socket_group),
                               std::move(handler), std::move(log), limits, std::move(is_admin));
}

void ControlSend::operator()(const boost::json::object& frame) const {
  std::shared_ptr<ControlSink> sink = sink_.lock();
  if (!sink) return;
  const bool is_reply = frame.contains("ok");
  std::string text = toFrame(frame);
  if (is_reply && text.size() - 1 > kReplyFrameBytesMax) {
    const boost::json::value* id = frame.if_contains("id");
    // The answer of a command that changed something (an `add --where` of a million contacts
    // lists each one added) comes after the change: say so, lest it be taken for a refusal.
    const boost::json::value* ok = frame.if_contains("ok");
    const bool carried_out = ok != nullptr && ok->is_bool() && ok->get_bool();
    text = toFrame(makeErrorReply(
        id != nullptr ? *id : boost::json::value(nullptr), "reply_too_large",
        fmt::format("{}, but its answer is {} bytes, over the {} bytes one reply may have; ask "
                    "for less (contacts --limit N or --where EXPR)",
                    carried_out ? "the command was carried out" : "the command failed",
                    text.size() - 1, kReplyFrameBytesMax)));
  }
  sink->sendText(std::move(text), is_reply);
}

void ControlSend::sendText(std::string text, bool is_reply) const {
  if (std::shared_ptr<ControlSink> sink = sink_.lock()) sink->sendText(std::move(text), is_reply);
}

ControlSink::Wait ControlSend::waitUnsent(std::size_t unsent_bytes_max,
                                          std::chrono::milliseconds stall_max) const {
  std::shared_ptr<ControlSink> sink = sink_.lock();
  if (!sink) return ControlSink::Wait::kClosed;
  return sink->waitUnsent(unsent_bytes_max, stall_max);
}

void ControlSend::drop(const std::string& why) const {
  if (std::shared_ptr<ControlSink> sink = sink_.lock()) sink->drop(why);
}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  std::shared_ptr<Shared> shared = impl_->shared;
  const std::string& path = shared->socket_path;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return Status::failedPrecondition("the control server was stopped");
    if (shared->started) return Status::failedPrecondition("the control server already started");
    shared->started = true;
  }
  if (path.empty()) return Status::invalidArgument("control_socket: the path is empty");
  if (path.size() > kSocketPathBytesMax) {
    return Status::invalidArgument(
        fmt::format("control_socket: {} is {} bytes; a Unix socket path is at most {} bytes", path,
                    path.size(), kSocketPathBytesMax));
  }
  std::optional<gid_t> group;
  if (!shared->socket_group.empty()) {
    Result<gid_t> gid = groupId(shared->socket_group);
    if (!gid.isOk()) return gid.status();
    group = gid.value();
  }
  Status status = removeStaleSocket(path);
  if (status.isOk()) status = createParentDirectories(path);
  if (status.isOk()) status = bindAndListen(*shared, group);
  if (!status.isOk()) {
    boost::system::error_code ignored;
    shared->acceptor.close(ignored);
    removeBoundFile(*shared);
    return status;
  }
  asio::post(shared->acceptor.get_executor(), [shared] { acceptNext(shared); });
  return Status::ok();
}

void ControlServer::stop() {
  std::shared_ptr<Shared> shared = impl_->shared;
  stopServer(shared, [&] { removeBoundFile(*shared); });
}

}  // namespace seqd
