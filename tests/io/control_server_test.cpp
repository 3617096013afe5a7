// Proves the control socket end to end over real Unix sockets: requests reach the handler with
// the caller's credentials, progress and replies come back in order, bad lines are answered
// without losing the connection, oversized frames and excess connections are refused, and the
// socket file is created protected, guarded against a second daemon and replaced when stale.
#include "io/control_server.hpp"

#include <doctest/doctest.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/control_client.hpp"
#include "io/control_protocol.hpp"
#include "temp_dir.hpp"

using namespace seqd;
namespace json = boost::json;

namespace {

using seqd::testing::TempDir;

// A failure shows as a timeout instead of a hung test run.
constexpr int kReadTimeoutMs = 5000;

// A ControlServer on its own io_context thread, as the daemon runs it.
class RunningServer {
 public:
  RunningServer(const std::string& path, ControlHandler handler, std::string group = "",
                ControlLog log = {}, ControlLimits limits = {}, ControlAdminCheck is_admin = {})
      : work_(boost::asio::make_work_guard(io_)),
        server_(io_, path, std::move(group), std::move(handler), std::move(log), limits,
                std::move(is_admin)),
        thread_([this] { io_.run(); }) {}
  ~RunningServer() {
    server_.stop();
    work_.reset();
    thread_.join();
  }
  Status start() { return server_.start(); }
  void stop() { server_.stop(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  ControlServer server_;
  std::thread thread_;
};

void echoHandler(ControlRequest request, ControlSend send) {
  send(makeOkReply(request.id, request.args));
}

sockaddr_un addressOf(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// A plain socket for sending what ControlClient never would.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address = addressOf(path);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends as much as the peer takes; returns false once it stops taking.
  bool write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
  }

  // The next '\n'-terminated line without its '\n'; nullopt on EOF, error or timeout.
  std::optional<std::string> readLine() {
    while (true) {
      std::size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      if (!receive()) return std::nullopt;
    }
  }

  json::object readFrame() {
    std::optional<std::string> line = readLine();
    REQUIRE(line.has_value());
    return json::parse(*line).as_object();
  }

  // True when the peer closed the connection (within the timeout) with nothing left unread:
  // end of stream, or ECONNRESET when it closed with bytes of ours still unread.
  bool readsClosed() {
    if (!buffer_.empty()) return false;
    while (receive()) {
      if (!buffer_.empty()) return false;
    }
    return closed_by_peer_;
  }

  // Waits (up to the timeout) until the peer has stopped sending: it shut down its side or
  // closed. Bytes it sent before stay readable.
  bool waitPeerDoneSending() {
    pollfd entry{fd_, POLLRDHUP, 0};
    return ::poll(&entry, 1, kReadTimeoutMs) == 1 && (entry.revents & (POLLRDHUP | POLLHUP)) != 0;
  }

  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool receive() {
    pollfd entry{fd_, POLLIN, 0};
    if (::poll(&entry, 1, kReadTimeoutMs) <= 0) return false;
    char chunk[4096];
    ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
    if (received == 0 || (received < 0 && errno == ECONNRESET)) closed_by_peer_ = true;
    if (received <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(received));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_by_peer_ = false;
};

json::object callOk(const std::string& path, std::string_view cmd, json::object args) {
  Result<ControlClient> client = ControlClient::connect(path);
  REQUIRE(client.isOk());
  Result<json::object> reply = client.value().call(cmd, std::move(args));
  REQUIRE(reply.isOk());
  return reply.value();
}

std::string errorCode(const json::object& reply) {
  return std::string(reply.at("error").at("code").as_string());
}

std::string errorMessage(const json::object& reply) {
  return std::string(reply.at("error").at("message").as_string());
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("protocol helpers build versioned, newline-terminated frames") {
  json::object args{{"note", "two\nlines"}};
  json::object request = makeRequest(7, "pause", args);
  CHECK(request.at("v").as_int64() == 1);
  CHECK(request.at("id").to_number<std::uint64_t>() == 7);
  CHECK(request.at("cmd").as_string() == "pause");
  CHECK(request.at("args").as_object() == args);

  std::string frame = toFrame(request);
  REQUIRE(!frame.empty());
  CHECK(frame.back() == '\n');
  CHECK(frame.find('\n') == frame.size() - 1);  // the newline inside a string is escaped
  CHECK(json::parse(frame).as_object() == request);

  json::object progress = makeProgress(7, {{"done", 3}, {"id", 99}});
  CHECK(progress.at("id").as_int64() == 7);
  CHECK(progress.at("event").as_string() == "progress");
  CHECK(progress.at("done").as_int64() == 3);

  RequestParse parsed = parseRequest(R"({"cmd":"status"})");
  CHECK(parsed.error.empty());
  CHECK(parsed.cmd == "status");
  CHECK(parsed.id.is_null());
  CHECK(parsed.args.empty());
}

TEST_CASE("a request reaches the handler and the echoed reply comes back") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::atomic<int> calls{0};
  std::string seen_cmd;
  std::mutex seen_mutex;
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    ++calls;
    {
      std::lock_guard lock(seen_mutex);
      seen_cmd = request.cmd;
    }
    echoHandler(std::move(request), std::move(send));
  });
  REQUIRE(server.start().isOk());

  Result<ControlClient> client = ControlClient::connect(path);
  REQUIRE(client.isOk());
  json::object args{{"sequence", "q3-outreach"}, {"count", 3}, {"name", "Zoë"}};
  Result<json::object> first = client.value().call("echo", args);
  REQUIRE(first.isOk());
  CHECK(first.value().at("ok").as_bool());
  CHECK(first.value().at("result").as_object() == args);
  CHECK(first.value().at("id").to_number<std::uint64_t>() == 1);

  Result<json::object> second = client.value().call("echo", {{"again", true}});
  REQUIRE(second.isOk());
  CHECK(second.value().at("id").to_number<std::uint64_t>() == 2);
  CHECK(second.value().at("result").at("again").as_bool());
  CHECK(calls == 2);
  std::lock_guard lock(seen_mutex);
  CHECK(seen_cmd == "echo");
}

TEST_CASE("progress frames sent from another thread arrive before the reply, in order") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  static constexpr int kProgressCount = 20;
  std::vector<std::thread> workers;
  std::mutex workers_mutex;
  {
    RunningServer server(path, [&](ControlRequest request, ControlSend send) {
      std::lock_guard lock(workers_mutex);
      workers.emplace_back([id = request.id, send] {
        for (int step = 0; step < kProgressCount; ++step) {
          send(makeProgress(id, {{"step", step}}));
        }
        send(makeOkReply(id, json::object{{"steps", kProgressCount}}));
      });
    });
    REQUIRE(server.start().isOk());

    Result<ControlClient> client = ControlClient::connect(path);
    REQUIRE(client.isOk());
    std::vector<std::int64_t> steps;
    Result<json::object> reply =
        client.value().call("import", {}, [&](const json::object& progress) {
          CHECK(progress.at("event").as_string() == "progress");
          steps.push_back(progress.at("step").as_int64());
        });
    REQUIRE(reply.isOk());
    CHECK(reply.value().at("result").at("steps").as_int64() == kProgressCount);
    std::vector<std::int64_t> expected;
    for (int step = 0; step < kProgressCount; ++step) expected.push_back(step);
    CHECK(steps == expected);
    std::lock_guard lock(workers_mutex);
    for (std::thread& worker : workers) worker.join();
  }
}

TEST_CASE("malformed lines get bad_request and the same connection keeps serving") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::atomic<int> calls{0};
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    ++calls;
    echoHandler(std::move(request), std::move(send));
  });
  REQUIRE(server.start().isOk());
  RawConnection connection(path);

  struct BadLine {
    std::string line;
    bool has_id;
    std::string message_part;
  };
  std::vector<BadLine> bad_lines = {
      {"this is not json", false, "not valid JSON"},
      {R"({"v":1,"id":1,"cmd":"echo")", false, "not valid JSON"},
      {"[1,2,3]", false, "JSON object"},
      {R"("echo")", false, "JSON object"},
      {R"({"v":1,"id":3,"args":{}})", true, "cmd"},
      {R"({"v":1,"id":3,"cmd":42})", true, "cmd"},
      {R"({"v":2,"id":3,"cmd":"echo"})", true, "version 2"},
      {R"({"v":"1","id":3,"cmd":"echo"})", true, "version"},
      {R"({"v":1,"id":3,"cmd":"echo","args":[1]})", true, "args"},
      // Numbers a double cannot hold parse as infinities, which JSON cannot write back: the
      // reply would have been {"id":Infinity,...}, which strict parsers refuse.
      {R"({"id":1e400,"cmd":"echo"})", false, "out of range"},
      {R"({"id":3,"cmd":"echo","args":{"a":[0,-1e999]}})", false, "out of range"},
  };
  for (const BadLine& bad : bad_lines) {
    INFO("line: " << bad.line);
    REQUIRE(connection.write(bad.line + "\n"));
    json::object reply = connection.readFrame();
    CHECK_FALSE(reply.at("ok").as_bool());
    CHECK(errorCode(reply) == "bad_request");
    CHECK(contains(errorMessage(reply), bad.message_part));
    if (bad.has_id) {
      CHECK(reply.at("id").as_int64() == 3);
    } else {
      CHECK(reply.at("id").is_null());
    }
  }
  CHECK(calls == 0);

  REQUIRE(connection.write(toFrame(makeRequest(9, "echo", {{"fine", true}}))));
  json::object reply = connection.readFrame();
  CHECK(reply.at("ok").as_bool());
  CHECK(reply.at("id").as_int64() == 9);
  CHECK(reply.at("result").at("fine").as_bool());
  CHECK(calls == 1);
}

TEST_CASE("several requests on one connection may be outstanding and answered out of order") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::mutex mutex;
  std::vector<std::pair<json::value, ControlSend>> pending;
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    std::lock_guard lock(mutex);
    pending.emplace_back(request.id, send);
    if (pending.size() < 2) return;
    // Both arrived: answer the second first.
    for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
      it->second(makeOkReply(it->first, nullptr));
    }
  });
  REQUIRE(server.start().isOk());
  RawConnection connection(path);
  REQUIRE(
      connection.write(toFrame(makeRequest(1, "slow", {})) + toFrame(makeRequest(2, "fast", {}))));
  CHECK(connection.readFrame().at("id").as_int64() == 2);
  CHECK(connection.readFrame().at("id").as_int64() == 1);
}

TEST_CASE("a peer that finishes sending still gets its late reply, then the connection closes") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::promise<std::pair<json::value, ControlSend>> handed_over;
  std::atomic<bool> first{true};
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    if (first.exchange(false)) {
      handed_over.set_value({request.id, send});
      return;
    }
    echoHandler(std::move(request), std::move(send));
  });
  REQUIRE(server.start().isOk());
  RawConnection connection(path);
  REQUIRE(connection.write(toFrame(makeRequest(5, "slow", {{"n", 1}}))));
  connection.shutdownWrite();
  std::future<std::pair<json::value, ControlSend>> future = handed_over.get_future();
  REQUIRE(future.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  auto [id, send] = future.get();
  // A round trip on another connection lets the server see the first one's end of stream
  // before the reply is sent.
  CHECK(callOk(path, "echo", {}).at("ok").as_bool());
  send(makeProgress(id, {{"step", 1}}));
  send(makeOkReply(id, "done"));
  CHECK(connection.readFrame().at("event").as_string() == "progress");
  json::object reply = connection.readFrame();
  CHECK(reply.at("id").as_int64() == 5);
  CHECK(reply.at("result").as_string() == "done");
  CHECK(connection.readsClosed());
}

// A reply over kReplyFrameBytesMax is replaced by reply_too_large; its message says whether
// the command was carried out (an add of a million contacts is made before its answer).
TEST_CASE("an answer over the reply limit is reply_too_large, saying if the command was done") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, [](ControlRequest request, ControlSend send) {
    std::string pad(kReplyFrameBytesMax, 'a');
    if (request.cmd == "done") {
      send(makeOkReply(request.id, json::object{{"pad", std::move(pad)}}));
    } else {
      send(makeErrorReply(request.id, "failed", pad));
    }
  });
  REQUIRE(server.start().isOk());
  for (const char* cmd : {"done", "refused"}) {
    CAPTURE(cmd);
    RawConnection connection(path);
    REQUIRE(connection.write(json::serialize(makeRequest(3, cmd, {})) + "\n"));
    json::object reply = connection.readFrame();
    CHECK(reply.at("id").as_int64() == 3);
    CHECK_FALSE(reply.at("ok").as_bool());
    CHECK(errorCode(reply) == "reply_too_large");
    const std::string message(reply.at("error").at("message").as_string());
    CHECK_MESSAGE(contains(message, std::string(cmd) == "done" ? "the command was carried out"
                                                               : "the command failed"),
                  message);
  }
}

TEST_CASE("frame size: exactly kFrameBytesMax is served, one byte more is frame_too_large") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, [](ControlRequest request, ControlSend send) {
    std::size_t pad_bytes = request.args.at("pad").as_string().size();
    send(makeOkReply(request.id, json::object{{"pad_bytes", pad_bytes}}));
  });
  REQUIRE(server.start().isOk());

  std::string empty_request = json::serialize(makeRequest(1, "size", {{"pad", ""}}));
  std::size_t pad_bytes = kFrameBytesMax - empty_request.size();
  std::string largest =
      json::serialize(makeRequest(1, "size", {{"pad", std::string(pad_bytes, 'a')}}));
  REQUIRE(largest.size() == kFrameBytesMax);

  SUBCASE("the largest frame is served") {
    RawConnection connection(path);
    REQUIRE(connection.write(largest + "\n"));
    json::object reply = connection.readFrame();
    CHECK(reply.at("ok").as_bool());
    CHECK(reply.at("result").at("pad_bytes").to_number<std::size_t>() == pad_bytes);
  }
  SUBCASE("a longer frame is refused and the connection closed") {
    RawConnection connection(path);
    std::string oversized = largest;
    oversized.insert(oversized.size() - 2, "a");  // inside the pad string
    connection.write(oversized + "\n");           // the server may hang up before taking it all
    json::object reply = connection.readFrame();
    CHECK(reply.at("id").is_null());
    CHECK_FALSE(reply.at("ok").as_bool());
    CHECK(errorCode(reply) == "frame_too_large");
    CHECK(connection.readsClosed());
  }
  SUBCASE("the client refuses to send an oversized request") {
    Result<ControlClient> client = ControlClient::connect(path);
    REQUIRE(client.isOk());
    Result<json::object> reply =
        client.value().call("size", {{"pad", std::string(kFrameBytesMax, 'a')}});
    REQUIRE_FALSE(reply.isOk());
    CHECK(reply.status().code() == StatusCode::kInvalidArgument);
  }
  // Whatever happened on other connections, the server still serves.
  CHECK(callOk(path, "size", {{"pad", "abc"}}).at("result").at("pad_bytes").as_int64() == 3);
}

TEST_CASE("the handler learns the caller from SO_PEERCRED") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, [](ControlRequest request, ControlSend send) {
    send(makeOkReply(request.id, json::object{{"uid", request.peer_uid},
                                              {"gid", request.peer_gid},
                                              {"user", request.peer_user}}));
  });
  REQUIRE(server.start().isOk());
  json::object result = callOk(path, "whoami", {}).at("result").as_object();
  CHECK(result.at("uid").to_number<uid_t>() == ::getuid());
  CHECK(result.at("gid").to_number<gid_t>() == ::getgid());
  passwd* entry = ::getpwuid(::getuid());
  std::string expected = entry != nullptr ? entry->pw_name : std::to_string(::getuid());
  CHECK(result.at("user").as_string() == expected);
}

TEST_CASE("a handler that throws answers failed and the server keeps serving") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, [](ControlRequest request, ControlSend send) {
    if (request.cmd == "explode") throw std::runtime_error("store is on fire");
    echoHandler(std::move(request), std::move(send));
  });
  REQUIRE(server.start().isOk());
  Result<ControlClient> client = ControlClient::connect(path);
  REQUIRE(client.isOk());
  Result<json::object> failed = client.value().call("explode", {});
  REQUIRE(failed.isOk());
  CHECK(errorCode(failed.value()) == "failed");
  CHECK(contains(errorMessage(failed.value()), "store is on fire"));
  Result<json::object> fine = client.value().call("echo", {{"x", 1}});
  REQUIRE(fine.isOk());
  CHECK(fine.value().at("ok").as_bool());
}

TEST_CASE("a second server on the same path refuses while the first runs") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer first(path, echoHandler);
  REQUIRE(first.start().isOk());
  {
    RunningServer second(path, echoHandler);
    Status refused = second.start();
    CHECK(refused.code() == StatusCode::kFailedPrecondition);
    CHECK(refused.message() == "another seqd is listening on " + path);
  }
  // The refused server, now destroyed, left the first one's socket alone.
  CHECK(std::filesystem::exists(path));
  CHECK(callOk(path, "echo", {{"still", "here"}}).at("ok").as_bool());
}

TEST_CASE("a stale socket file left by a crash is replaced") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  int crashed = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(crashed >= 0);
  sockaddr_un address = addressOf(path);
  REQUIRE(::bind(crashed, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  ::close(crashed);
  REQUIRE(std::filesystem::is_socket(path));
  CHECK(ControlClient::connect(path).status().code() == StatusCode::kIOError);

  RunningServer server(path, echoHandler);
  REQUIRE(server.start().isOk());
  CHECK(callOk(path, "echo", {{"n", 1}}).at("ok").as_bool());
}

TEST_CASE("a file that is not a socket is never replaced") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::ofstream(path) << "precious";
  RunningServer server(path, echoHandler);
  Status refused = server.start();
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK(contains(refused.message(), "not a socket"));
  std::ifstream kept(path);
  std::string content;
  kept >> content;
  CHECK(content == "precious");
}

TEST_CASE("the socket file is mode 0660 in created parent directories of mode 0755") {
  TempDir dir("seqd-ctl");
  std::string parent = dir.file("run/seqd");
  std::string path = parent + "/control.sock";
  mode_t old_umask = ::umask(0077);  // the modes must not depend on the umask
  RunningServer server(path, echoHandler);
  Status started = server.start();
  ::umask(old_umask);
  REQUIRE(started.isOk());

  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  CHECK((info.st_mode & 07777) == 0660);
  REQUIRE(::stat(parent.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0755);
  REQUIRE(::stat(dir.file("run").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0755);

  server.stop();
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(ControlClient::connect(path).status().code() == StatusCode::kIOError);
}

TEST_CASE("socket_group sets the socket file's group; an unknown group is refused") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  SUBCASE("a known group") {
    group* own = ::getgrgid(::getgid());
    if (own == nullptr) {
      MESSAGE("the process's group has no name here; skipped");
      return;
    }
    RunningServer server(path, echoHandler, own->gr_name);
    REQUIRE(server.start().isOk());
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK(info.st_gid == ::getgid());
  }
  SUBCASE("an unknown group") {
    RunningServer server(path, echoHandler, "no-such-group-seqd-test");
    Status refused = server.start();
    CHECK(refused.code() == StatusCode::kInvalidArgument);
    CHECK(contains(refused.message(), "no-such-group-seqd-test"));
    CHECK_FALSE(std::filesystem::exists(path));
  }
}

TEST_CASE("a socket path of 108 bytes or more is refused with a clear status") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file(std::string(120, 'x'));
  RunningServer server(path, echoHandler);
  Status refused = server.start();
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK(contains(refused.message(), "107"));
  CHECK(ControlClient::connect(path).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("connecting where nothing listens is an I/O error naming the path") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("missing.sock");
  Result<ControlClient> client = ControlClient::connect(path);
  REQUIRE_FALSE(client.isOk());
  CHECK(client.status().code() == StatusCode::kIOError);
  CHECK(contains(client.status().message(), "cannot connect to " + path));
}

// A one-connection stand-in for the daemon: reads one request line, then writes `script` one
// byte per send so the client sees it in pieces, then hangs up.
class ScriptedDaemon {
 public:
  ScriptedDaemon(const std::string& path, std::string script) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_un address = addressOf(path);
    REQUIRE(::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener_, 1) == 0);
    thread_ = std::thread([this, script = std::move(script)] {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char byte = 0;
      while (::recv(fd, &byte, 1, 0) == 1 && byte != '\n') {
      }
      for (char out : script) {
        if (::send(fd, &out, 1, MSG_NOSIGNAL) != 1) break;
      }
      ::close(fd);
    });
  }
  ~ScriptedDaemon() {
    thread_.join();
    ::close(listener_);
  }

 private:
  int listener_ = -1;
  std::thread thread_;
};

TEST_CASE("the client reassembles split frames, skips other ids and reports a hang-up") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  SUBCASE("split frames") {
    ScriptedDaemon daemon(path,
                          "{\"id\":1,\"event\":\"progress\",\"n\":1}\n"
                          "{\"id\":99,\"ok\":true,\"result\":\"not ours\"}\n"
                          "{\"id\":99,\"event\":\"progress\",\"n\":99}\n"
                          "{\"id\":1,\"ok\":true,\"result\":7}\n");
    Result<ControlClient> client = ControlClient::connect(path);
    REQUIRE(client.isOk());
    std::vector<std::int64_t> progress;
    Result<json::object> reply = client.value().call("status", {}, [&](const json::object& event) {
      progress.push_back(event.at("n").as_int64());
    });
    REQUIRE(reply.isOk());
    CHECK(reply.value().at("result").as_int64() == 7);
    CHECK(progress == std::vector<std::int64_t>{1});
  }
  SUBCASE("a hang-up before the reply") {
    ScriptedDaemon daemon(path, "{\"id\":1,\"event\":\"progress\"}\n");
    Result<ControlClient> client = ControlClient::connect(path);
    REQUIRE(client.isOk());
    Result<json::object> reply = client.value().call("status", {});
    REQUIRE_FALSE(reply.isOk());
    CHECK(reply.status().code() == StatusCode::kIOError);
    CHECK(reply.status().message() == "daemon closed the connection");
  }
}

TEST_CASE("a reply sent after the client disconnected does not crash the server") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::promise<ControlSend> handed_over;
  std::atomic<bool> first{true};
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    if (first.exchange(false)) {
      handed_over.set_value(send);
      return;
    }
    echoHandler(std::move(request), std::move(send));
  });
  REQUIRE(server.start().isOk());
  {
    RawConnection connection(path);
    REQUIRE(connection.write(toFrame(makeRequest(1, "slow", {}))));
  }  // gone before any answer
  std::future<ControlSend> future = handed_over.get_future();
  REQUIRE(future.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  ControlSend late = future.get();
  late(makeProgress(1, {{"step", 1}}));
  late(makeOkReply(1, "too late"));
  late(makeOkReply(1, "later still"));
  CHECK(callOk(path, "echo", {{"alive", true}}).at("result").at("alive").as_bool());
  server.stop();
  late(makeOkReply(1, "after stop"));
}

TEST_CASE("beyond kConnectionsMax connections, one more is told busy") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  // Every connection here is this process's user, an admin without a check: the total is what
  // stops it, not the per-user limit.
  ControlLimits limits;
  limits.connections_per_user_max = kConnectionsMax;
  RunningServer server(path, echoHandler, "", {}, limits);
  REQUIRE(server.start().isOk());
  std::vector<std::unique_ptr<RawConnection>> held;
  for (std::size_t index = 0; index < kConnectionsMax; ++index) {
    held.push_back(std::make_unique<RawConnection>(path));
    // A round trip proves the server admitted this connection.
    REQUIRE(held.back()->write(toFrame(makeRequest(index, "echo", {}))));
    REQUIRE(held.back()->readFrame().at("ok").as_bool());
  }
  Result<ControlClient> client = ControlClient::connect(path);
  REQUIRE(client.isOk());
  Result<json::object> reply = client.value().call("echo", {});
  REQUIRE(reply.isOk());
  CHECK(reply.value().at("id").is_null());
  CHECK_FALSE(reply.value().at("ok").as_bool());
  CHECK(errorCode(reply.value()) == "busy");
  // The admitted connections are unaffected.
  REQUIRE(held.front()->write(toFrame(makeRequest(1000, "echo", {}))));
  CHECK(held.front()->readFrame().at("id").as_int64() == 1000);
}

TEST_CASE("a connection stops reading at kPipelinedRequestsMax unanswered requests") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::mutex mutex;
  std::vector<std::pair<json::value, ControlSend>> held;  // requests of the "held" command
  std::atomic<std::size_t> handed{0};
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    if (request.cmd != "held") return echoHandler(std::move(request), std::move(send));
    std::lock_guard lock(mutex);
    held.emplace_back(request.id, std::move(send));
    handed.fetch_add(1);
  });
  REQUIRE(server.start().isOk());
  auto waitForHanded = [&](std::size_t count) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (handed.load() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return handed.load();
  };
  auto answerHeld = [&](std::size_t count) {
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < count && !held.empty(); ++i) {
      held.front().second(makeOkReply(held.front().first, nullptr));
      held.erase(held.begin());
    }
  };

  constexpr std::size_t kRequests = 3 * kPipelinedRequestsMax + 10;
  RawConnection connection(path);
  std::string frames;
  for (std::size_t i = 0; i < kRequests; ++i) frames += toFrame(makeRequest(i, "held", {}));
  REQUIRE(connection.write(frames));  // small enough for the socket's buffers
  CHECK(waitForHanded(kPipelinedRequestsMax) == kPipelinedRequestsMax);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(handed.load() == kPipelinedRequestsMax);  // the rest waits in the socket
  // Other connections are served meanwhile.
  CHECK(callOk(path, "echo", {{"other", true}}).at("result").at("other").as_bool());

  answerHeld(1);  // one reply out: one more request read
  CHECK(waitForHanded(kPipelinedRequestsMax + 1) == kPipelinedRequestsMax + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(handed.load() == kPipelinedRequestsMax + 1);

  // Answering as they come drains the rest; every reply arrives, in order.
  std::vector<std::int64_t> ids;
  while (ids.size() < kRequests) {
    answerHeld(kRequests);
    std::optional<std::string> line = connection.readLine();
    REQUIRE(line.has_value());
    ids.push_back(json::parse(*line).as_object().at("id").as_int64());
  }
  for (std::size_t i = 0; i < kRequests; ++i) CHECK(ids[i] == static_cast<std::int64_t>(i));
  CHECK(handed.load() == kRequests);
}

// A peer that pipelines requests and never reads the replies: the server stops reading once
// kPipelinedReplyBytesMax of replies are unsent, so the peer's sends stall at a few socket
// buffers' worth instead of the server reading (and answering into memory) everything.
TEST_CASE("a peer that never reads its replies stalls on its socket; nothing is lost") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::atomic<std::size_t> handed{0};
  RunningServer server(path, [&](ControlRequest request, ControlSend send) {
    handed.fetch_add(1);
    echoHandler(std::move(request), std::move(send));
  });
  REQUIRE(server.start().isOk());

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address = addressOf(path);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  const std::string padding(200, 'x');
  std::string frames;
  std::size_t count = 0;
  constexpr std::size_t kSendBytesMax = 64 * 1024 * 1024;
  while (frames.size() < kSendBytesMax) {
    frames += toFrame(makeRequest(count++, "echo", {{"pad", padding}}));
  }
  // Send until the socket takes nothing for 500 ms.
  std::size_t sent = 0;
  while (sent < frames.size()) {
    ssize_t written = ::send(fd, frames.data() + sent, frames.size() - sent, MSG_NOSIGNAL);
    if (written > 0) {
      sent += static_cast<std::size_t>(written);
      continue;
    }
    REQUIRE((written < 0 && (errno == EAGAIN || errno == EINTR)));
    pollfd entry{fd, POLLOUT, 0};
    if (::poll(&entry, 1, 500) == 0) break;
  }
  MESSAGE("bytes the peer could send: " << sent << ", requests handed over: " << handed.load());
  CHECK(sent < 16 * 1024 * 1024);
  CHECK(handed.load() < 16 * 1024 * 1024 / frames.substr(0, frames.find('\n') + 1).size());
  CHECK(callOk(path, "echo", {{"other", true}}).at("result").at("other").as_bool());

  // Now read: the rest of the sent frames get through, and every one is answered in order.
  std::size_t end = frames.find('\n', sent == 0 ? 0 : sent - 1);
  REQUIRE(end != std::string::npos);
  std::size_t expected = 0;
  for (std::size_t at = frames.find('\n'); at != std::string::npos && at <= end;
       at = frames.find('\n', at + 1)) {
    ++expected;
  }
  std::string buffer;
  std::size_t replies = 0;
  std::int64_t next_id = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (replies < expected && std::chrono::steady_clock::now() < deadline) {
    if (sent <= end) {
      ssize_t written = ::send(fd, frames.data() + sent, end + 1 - sent, MSG_NOSIGNAL);
      if (written > 0) sent += static_cast<std::size_t>(written);
    }
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 100) <= 0) continue;
    char chunk[65536];
    ssize_t received = ::recv(fd, chunk, sizeof chunk, 0);
    REQUIRE(received > 0);
    buffer.append(chunk, static_cast<std::size_t>(received));
    for (std::size_t newline = buffer.find('\n'); newline != std::string::npos;
         newline = buffer.find('\n')) {
      json::object reply = json::parse(buffer.substr(0, newline)).as_object();
      CHECK(reply.at("id").as_int64() == next_id++);
      ++replies;
      buffer.erase(0, newline + 1);
    }
  }
  CHECK(replies == expected);
  ::close(fd);
}

// A log that tests read while the server writes to it.
struct DropLog {
  std::mutex mutex;
  std::vector<std::string> lines;
  ControlLog callback() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  bool has(const std::string& text) {
    std::lock_guard lock(mutex);
    for (const std::string& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

// The handler hands the request's ControlSend to the test thread, which streams through it.
struct HandedOver {
  std::promise<ControlSend> promise;
  ControlHandler handler() {
    return [this](ControlRequest, ControlSend send) { promise.set_value(send); };
  }
  ControlSend take() {
    std::future<ControlSend> future = promise.get_future();
    REQUIRE(future.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    return future.get();
  }
};

TEST_CASE("a streaming writer waits while its peer does not read, and drops a stalled one") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  DropLog log;
  HandedOver handed;
  RunningServer server(path, handed.handler(), "", log.callback());
  REQUIRE(server.start().isOk());
  RawConnection connection(path);
  REQUIRE(connection.write(toFrame(makeRequest(1, "status", {}))));
  ControlSend send = handed.take();
  const std::string frame = toFrame(makeProgress(1, {{"pad", std::string(64 * 1024, 'x')}}));
  constexpr std::size_t kUnsentMax = 256 * 1024;
  std::size_t sent_bytes = 0;
  ControlSink::Wait wait = ControlSink::Wait::kReady;
  // The peer reads nothing: the kernel's buffers fill, then the writer waits, then stalls.
  for (int frames = 0; frames < 1000; ++frames) {
    wait = send.waitUnsent(kUnsentMax, std::chrono::milliseconds(300));
    if (wait != ControlSink::Wait::kReady) break;
    send.sendText(frame, false);
    sent_bytes += frame.size();
  }
  CHECK(wait == ControlSink::Wait::kStalled);
  // What went out is bounded by the socket's buffers and the bound, never the 1000 frames.
  CHECK(sent_bytes < 100 * frame.size());
  CHECK_FALSE(log.has("dropped"));
  send.drop("nothing read");
  // The frames already written arrive, then the end of the connection, with no reply.
  std::size_t read_frames = 0;
  while (std::optional<std::string> line = connection.readLine()) {
    CHECK(json::parse(*line).as_object().at("event") == "progress");
    ++read_frames;
  }
  CHECK(read_frames > 0);
  CHECK(read_frames <= sent_bytes / frame.size());
  CHECK(log.has("dropped: nothing read"));
  CHECK(send.waitUnsent(0, std::chrono::milliseconds(100)) == ControlSink::Wait::kClosed);
}

TEST_CASE("a streaming writer goes on as soon as its peer reads") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  HandedOver handed;
  RunningServer server(path, handed.handler());
  REQUIRE(server.start().isOk());
  RawConnection connection(path);
  REQUIRE(connection.write(toFrame(makeRequest(1, "status", {}))));
  ControlSend send = handed.take();
  constexpr int kFrames = 200;
  std::thread writer([&] {
    for (int i = 0; i < kFrames; ++i) {
      REQUIRE(send.waitUnsent(64 * 1024, std::chrono::seconds(5)) == ControlSink::Wait::kReady);
      send(makeProgress(1, {{"n", i}, {"pad", std::string(16 * 1024, 'y')}}));
    }
    send(makeOkReply(1, "done"));
  });
  for (int i = 0; i < kFrames; ++i) CHECK(connection.readFrame().at("n").as_int64() == i);
  CHECK(connection.readFrame().at("result") == "done");
  writer.join();
}

TEST_CASE("a peer over the unsent cap is dropped, and the log says so") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  DropLog log;
  HandedOver handed;
  RunningServer server(path, handed.handler(), "", log.callback());
  REQUIRE(server.start().isOk());
  RawConnection connection(path);
  REQUIRE(connection.write(toFrame(makeRequest(1, "status", {}))));
  ControlSend send = handed.take();
  const std::string frame = toFrame(makeProgress(1, {{"pad", std::string(1024 * 1024, 'z')}}));
  for (std::size_t sent = 0; sent <= kConnectionWriteBytesMax + 2 * frame.size();
       sent += frame.size()) {
    send.sendText(frame, false);
  }
  CHECK(send.waitUnsent(0, std::chrono::seconds(5)) == ControlSink::Wait::kClosed);
  CHECK(log.has("unread"));
}

// Small limits, so the edges are a handful of connections; every peer here is the test's own
// user, so the per-user limit is set above the total where the total is tested.
ControlLimits smallLimits(std::size_t total, std::size_t reserved, std::size_t per_user) {
  ControlLimits limits;
  limits.connections_max = total;
  limits.connections_reserved_for_admins = reserved;
  limits.connections_per_user_max = per_user;
  return limits;
}

// Opens a connection and proves with a round trip that the server serves it; false when it was
// refused instead (busy), with the refusal's message in `refusal`.
bool admitted(RawConnection& connection, std::string* refusal = nullptr) {
  REQUIRE(connection.write(toFrame(makeRequest(7, "echo", {}))));
  json::object reply = connection.readFrame();
  if (reply.at("ok").as_bool()) return true;
  CHECK(errorCode(reply) == "busy");
  if (refusal != nullptr) *refusal = errorMessage(reply);
  return false;
}

// The race a refused client used to lose: the server wrote `busy` and closed at once, so a client
// that wrote its request after the close failed with EPIPE and never read the refusal. Here the
// client writes only once the server is done sending (its side shut down or closed), which is
// the moment that failed, every run, before refused connections lingered.
TEST_CASE("a refused client that writes after the refusal was sent still reads busy, not EPIPE") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, echoHandler, "", {}, smallLimits(2, 1, 100),
                       [](uid_t, const std::string&) { return false; });
  REQUIRE(server.start().isOk());
  RawConnection held(path);
  REQUIRE(admitted(held));
  RawConnection refused(path);
  REQUIRE(refused.waitPeerDoneSending());
  // The server has sent everything it will send; the request still goes in.
  CHECK(refused.write(toFrame(makeRequest(1, "echo", {}))));
  json::object reply = refused.readFrame();
  CHECK(reply.at("id").is_null());
  CHECK(errorCode(reply) == "busy");
  refused.close();
  // The admitted connection is unaffected.
  REQUIRE(held.write(toFrame(makeRequest(2, "echo", {}))));
  CHECK(held.readFrame().at("id").as_int64() == 2);
}

TEST_CASE("one user gets kConnectionsPerUserMax connections; one more is busy, naming the limit") {
  CHECK(kConnectionsPerUserMax == 32);
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, echoHandler, "", {}, smallLimits(16, 2, 4),
                       [](uid_t, const std::string&) { return false; });
  REQUIRE(server.start().isOk());
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int index = 0; index < 4; ++index) {
    held.push_back(std::make_unique<RawConnection>(path));
    REQUIRE(admitted(*held.back()));
  }
  RawConnection fifth(path);
  std::string refusal;
  CHECK_FALSE(admitted(fifth, &refusal));
  CHECK(contains(refusal, "already has 4 connections"));
  // Closing one frees the user's slot.
  held.pop_back();
  for (int attempt = 0; attempt < 100; ++attempt) {
    RawConnection again(path);
    if (admitted(again)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("the slot of a closed connection was not given back");
}

TEST_CASE("the last kConnectionsReservedForAdmins slots are for admins only") {
  CHECK(kConnectionsMax - kConnectionsReservedForAdmins == 240);
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  std::atomic<bool> next_is_admin{false};
  RunningServer server(path, echoHandler, "", {}, smallLimits(6, 2, 100),
                       [&](uid_t, const std::string&) { return next_is_admin.load(); });
  REQUIRE(server.start().isOk());
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int index = 0; index < 4; ++index) {
    held.push_back(std::make_unique<RawConnection>(path));
    REQUIRE(admitted(*held.back()));
  }
  RawConnection refused(path);
  std::string refusal;
  CHECK_FALSE(admitted(refused, &refusal));
  CHECK(contains(refusal, "at most 4 connections at once (2 more are kept for admins)"));
  next_is_admin = true;
  for (int index = 0; index < 2; ++index) {
    held.push_back(std::make_unique<RawConnection>(path));
    REQUIRE(admitted(*held.back()));
  }
  RawConnection over(path);
  CHECK_FALSE(admitted(over, &refusal));
  CHECK(contains(refusal, "at most 6 connections at once"));
}

TEST_CASE("without an admin check, root and seqd's own account take the reserved slots") {
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  RunningServer server(path, echoHandler, "", {}, smallLimits(3, 2, 100));
  REQUIRE(server.start().isOk());
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int index = 0; index < 3; ++index) {  // this process is seqd's own account
    held.push_back(std::make_unique<RawConnection>(path));
    REQUIRE(admitted(*held.back()));
  }
}

TEST_CASE("an idle connection is closed after idle_max; one with a request in the works is not") {
  CHECK(kConnectionIdleMax == std::chrono::seconds(60));
  TempDir dir("seqd-ctl");
  std::string path = dir.file("control.sock");
  DropLog log;
  std::mutex mutex;
  std::vector<ControlSend> slow;
  RunningServer server(
      path,
      [&](ControlRequest request, ControlSend send) {
        if (request.cmd != "slow") return echoHandler(std::move(request), std::move(send));
        std::lock_guard lock(mutex);
        slow.push_back(send);
      },
      "", log.callback(),
      [] {
        ControlLimits limits;
        limits.idle_max = std::chrono::milliseconds(200);
        return limits;
      }());
  REQUIRE(server.start().isOk());
  RawConnection silent(path);     // connects and never sends
  RawConnection half_line(path);  // sends half a request and stops
  REQUIRE(half_line.write(R"({"cmd":"ec)"));
  RawConnection working(path);  // waits on a slow answer longer than idle_max
  REQUIRE(working.write(toFrame(makeRequest(1, "slow", {}))));
  RawConnection chatty(path);  // sends a request every 100 ms
  for (int round = 0; round < 5; ++round) {
    REQUIRE(chatty.write(toFrame(makeRequest(round, "echo", {}))));
    CHECK(chatty.readFrame().at("ok").as_bool());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(silent.readsClosed());
  CHECK(half_line.readsClosed());
  CHECK(log.has("idle for 200 ms"));
  {
    std::lock_guard lock(mutex);
    REQUIRE(slow.size() == 1);
    slow.front()(makeOkReply(1, "late"));
  }
  CHECK(working.readFrame().at("result") == "late");
}
