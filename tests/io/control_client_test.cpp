// Proves the control client reads while it sends: a server that answers earlier requests
// with more than the socket holds, and reads nothing more until those answers are read
// (io/control_server.hpp's back-pressure), must not deadlock a client sending a large
// request (seqctl add --csv pipelines up to kUploadInFlightMax requests). Real Unix sockets;
// the server gives up after a few seconds, so a client that does not read fails the test
// instead of hanging it.
#include "io/control_client.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "temp_dir.hpp"

using namespace seqd;

namespace {

constexpr int kServerPatienceS = 5;

int listenAt(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof address.sun_path);
  std::memcpy(address.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  return fd;
}

// Writes all of `bytes`; false when the peer took nothing for kServerPatienceS.
bool writeAll(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t written = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (written <= 0) return false;
    done += static_cast<std::size_t>(written);
  }
  return true;
}

// Reads until a '\n'; false on a timeout or a closed peer.
bool readLine(int fd, std::string& line) {
  char chunk[64 * 1024];
  while (line.find('\n') == std::string::npos) {
    ssize_t received = ::recv(fd, chunk, sizeof chunk, 0);
    if (received <= 0) return false;
    line.append(chunk, static_cast<std::size_t>(received));
  }
  return true;
}

}  // namespace

TEST_CASE("a client sending a large request reads the replies the server must write first") {
  testing::TempDir dir("seqd-client");
  const std::string path = dir.file("control.sock");
  int listener = listenAt(path);
  // Answers to requests "already sent": far more than the socket buffers hold.
  const std::string early_reply =
      R"({"id":1,"ok":true,"result":{"pad":")" + std::string(4 * 1024 * 1024, 'r') + "\"}}\n";
  bool server_wrote = false;
  bool server_read = false;
  std::string request;
  std::thread server([&] {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    timeval patience{kServerPatienceS, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    // Like the daemon's back-pressure: nothing is read until the pending answers went out.
    server_wrote = writeAll(fd, early_reply);
    server_read = server_wrote && readLine(fd, request);
    if (server_read) writeAll(fd, "{\"id\":2,\"ok\":true,\"result\":{}}\n");
    ::close(fd);
  });

  Result<ControlClient> client = ControlClient::connect(path);
  REQUIRE(client.isOk());
  // Just under kFrameBytesMax: several times what the socket holds.
  const std::string args = R"({"pad":")" + std::string(kFrameBytesMax - 200, 'q') + "\"}";
  Result<std::uint64_t> sent = client.value().sendRequest("ping", args);
  CHECK(sent.isOk());
  Result<boost::json::object> first =
      sent.isOk() ? client.value().receiveReply() : Result<boost::json::object>(sent.status());
  Result<boost::json::object> second =
      first.isOk() ? client.value().receiveReply() : Result<boost::json::object>(first.status());
  server.join();
  ::close(listener);
  CHECK(server_wrote);
  CHECK(server_read);
  CHECK(request.size() > args.size() + 2);
  CHECK(request.compare(request.size() - args.size() - 2, std::string::npos, args + "}\n") == 0);
  REQUIRE(first.isOk());
  CHECK(first.value().at("id").as_int64() == 1);
  CHECK(first.value().at("result").as_object().at("pad").as_string().size() == 4 * 1024 * 1024);
  REQUIRE(second.isOk());
  CHECK(second.value().at("id").as_int64() == 2);
}
