// Proves the HTTP listener over real loopback sockets: a request reaches the handler with its
// method, target and body (also when the body comes in a later packet), the answer goes back
// with Content-Length and Connection: close, and every bound holds: oversized heads and
// bodies, chunked bodies, bad request lines, slow senders, a handler that never answers, and
// one connection too many are each answered or closed without reaching the handler.
#include "io/http_server.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace seqd;

namespace {

// A failure shows as a timeout instead of a hung test run.
constexpr int kReadTimeoutMs = 5000;

// An HttpServer on loopback port 0, on its own io_context thread, as the daemon runs it.
class RunningServer {
 public:
  explicit RunningServer(HttpHandler handler, HttpServerLimits limits = HttpServerLimits())
      : work_(boost::asio::make_work_guard(io_)),
        server_(io_, "127.0.0.1:0", std::move(handler), limits),
        thread_([this] { io_.run(); }) {
    Status started = server_.start();
    REQUIRE_MESSAGE(started.isOk(), started.message());
    REQUIRE(server_.port() != 0);
  }
  ~RunningServer() {
    server_.stop();
    work_.reset();
    thread_.join();
  }
  std::uint16_t port() const { return server_.port(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  HttpServer server_;
  std::thread thread_;
};

// A plain TCP client for sending what no well-behaved client would.
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (written <= 0) return;  // the server closed early: what it answered is still readable
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  // Everything until the server closes (or the timeout: then "TIMEOUT" is appended).
  std::string readAll(int timeout_ms = kReadTimeoutMs) {
    std::string data;
    char buffer[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd entry{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&entry, 1, static_cast<int>(left.count())) <= 0) {
        return data + "TIMEOUT";
      }
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) return data;
      data.append(buffer, static_cast<std::size_t>(got));
    }
  }

 private:
  int fd_ = -1;
};

std::string roundTrip(std::uint16_t port, std::string_view request) {
  Client client(port);
  client.send(request);
  return client.readAll();
}

std::string statusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string bodyOf(const std::string& response) {
  std::size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// Records what reached it and answers 200 with "METHOD TARGET BODY".
struct EchoHandler {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  HttpHandler handler() {
    return [calls = calls](HttpRequest request, HttpRespond respond) {
      ++*calls;
      HttpResponse response;
      response.body = request.method + " " + request.target + " " + request.body;
      response.headers.emplace_back("X-Test", "yes");
      respond(response);
      respond(HttpResponse{500, "text/plain", {}, "second answer ignored"});
    };
  }
};

}  // namespace

TEST_CASE("a request reaches the handler and its answer comes back, then the connection closes") {
  EchoHandler echo;
  RunningServer server(echo.handler());
  std::string response = roundTrip(
      server.port(),
      "POST /u/abc?x=1 HTTP/1.1\r\nHost: acme.test\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\nList-Unsubscribe=One-Click");
  CHECK(statusLine(response) == "HTTP/1.1 200 OK");
  CHECK(response.find("\r\nContent-Length: 42\r\n") != std::string::npos);
  CHECK(response.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(response.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
  CHECK(response.find("\r\nX-Test: yes\r\n") != std::string::npos);
  CHECK(bodyOf(response) == "POST /u/abc?x=1 List-Unsubscribe=One-Click");

  response = roundTrip(server.port(), "GET /u/abc HTTP/1.0\r\n\r\n");
  CHECK(statusLine(response) == "HTTP/1.1 200 OK");
  CHECK(bodyOf(response) == "GET /u/abc ");
  CHECK(*echo.calls == 2);
}

TEST_CASE("a body sent in a later packet is waited for") {
  EchoHandler echo;
  RunningServer server(echo.handler());
  Client client(server.port());
  client.send("POST /u/t HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  client.send("cde");
  std::string response = client.readAll();
  CHECK(bodyOf(response) == "POST /u/t abcde");
}

TEST_CASE("requests over a bound or malformed are answered without the handler") {
  EchoHandler echo;
  RunningServer server(echo.handler());
  const std::uint16_t port = server.port();
  std::string big_header = "GET / HTTP/1.1\r\nX-Big: " + std::string(kHttpHeadBytesMax, 'x');
  CHECK(statusLine(roundTrip(port, big_header + "\r\n\r\n")) ==
        "HTTP/1.1 431 Request Header Fields Too Large");
  std::string many_headers = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= kHttpHeadersMax; ++i) many_headers += "X-A: b\r\n";
  CHECK(statusLine(roundTrip(port, many_headers + "\r\n")) ==
        "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(statusLine(roundTrip(port, "POST /u/t HTTP/1.1\r\nContent-Length: 4097\r\n\r\n")) ==
        "HTTP/1.1 413 Content Too Large");
  CHECK(statusLine(
            roundTrip(port, "POST /u/t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) ==
        "HTTP/1.1 411 Length Required");
  for (const char* bad : {
           "GET\r\n\r\n",
           "GET /u/t\r\n\r\n",
           "GET  /u/t HTTP/1.1\r\n\r\n",
           "GET http://acme.test/u/t HTTP/1.1\r\n\r\n",
           "G(T /u/t HTTP/1.1\r\n\r\n",
           "GET /u/t HTTP/1.1\r\nNo colon here\r\n\r\n",
           "GET /u/t HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET /u/t HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
           "POST /u/t HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
           "POST /u/t HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "POST /u/t HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
       }) {
    CAPTURE(bad);
    CHECK(statusLine(roundTrip(port, bad)) == "HTTP/1.1 400 Bad Request");
  }
  CHECK(statusLine(roundTrip(port, "GET /u/t HTTP/2.0\r\n\r\n")) ==
        "HTTP/1.1 505 HTTP Version Not Supported");
  CHECK(*echo.calls == 0);
}

TEST_CASE("a slow sender is cut off at the read timeout") {
  EchoHandler echo;
  HttpServerLimits limits;
  limits.read_timeout_ms = 200;
  RunningServer server(echo.handler(), limits);
  Client client(server.port());
  client.send("POST /u/t HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");  // 7 bytes never come
  auto started = std::chrono::steady_clock::now();
  CHECK(client.readAll() == "");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
  CHECK(*echo.calls == 0);
}

TEST_CASE("a handler that never answers gets 503 at the answer timeout") {
  std::vector<HttpRespond> kept;  // never called
  std::mutex mutex;
  HttpServerLimits limits;
  limits.answer_timeout_ms = 200;
  RunningServer server(
      [&](HttpRequest, HttpRespond respond) {
        std::lock_guard lock(mutex);
        kept.push_back(std::move(respond));
      },
      limits);
  std::string response = roundTrip(server.port(), "GET /u/t HTTP/1.1\r\n\r\n");
  CHECK(statusLine(response) == "HTTP/1.1 503 Service Unavailable");
  std::lock_guard lock(mutex);
  REQUIRE(kept.size() == 1);
  kept[0](HttpResponse{});  // after the connection closed: a no-op
}

TEST_CASE("one connection over connections_max is answered 503 busy and closed") {
  EchoHandler echo;
  HttpServerLimits limits;
  limits.connections_max = 2;
  RunningServer server(echo.handler(), limits);
  Client first(server.port());
  Client second(server.port());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both accepted
  std::string refused = roundTrip(server.port(), "GET /u/t HTTP/1.1\r\n\r\n");
  CHECK(statusLine(refused) == "HTTP/1.1 503 Service Unavailable");
  CHECK(refused.find("\r\nRetry-After: 1\r\n") != std::string::npos);
  first.send("GET /u/t HTTP/1.1\r\n\r\n");
  CHECK(statusLine(first.readAll()) == "HTTP/1.1 200 OK");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // its slot is free again
  CHECK(statusLine(roundTrip(server.port(), "GET /u/t HTTP/1.1\r\n\r\n")) == "HTTP/1.1 200 OK");
}

TEST_CASE("start refuses a bad listen address or a port in use") {
  boost::asio::io_context io;
  HttpServer no_port(io, "127.0.0.1", [](HttpRequest, HttpRespond) {});
  CHECK(no_port.start().code() == StatusCode::kInvalidArgument);
  HttpServer first(io, "127.0.0.1:0", [](HttpRequest, HttpRespond) {});
  REQUIRE(first.start().isOk());
  HttpServer second(io, "127.0.0.1:" + std::to_string(first.port()),
                    [](HttpRequest, HttpRespond) {});
  Status taken = second.start();
  CHECK(taken.code() == StatusCode::kIOError);
  CHECK(taken.message().find("cannot listen") != std::string::npos);
}

TEST_CASE("parseHttpHead reads the method, the target and Content-Length") {
  HttpHead head = parseHttpHead("POST /u/x HTTP/1.1\r\nHost: a\r\ncontent-length:  12 ");
  CHECK(head.error_status == 0);
  CHECK(head.method == "POST");
  CHECK(head.target == "/u/x");
  CHECK(head.content_length == 12);
  head = parseHttpHead("GET / HTTP/1.1");
  CHECK(head.error_status == 0);
  CHECK(head.content_length == 0);
}
