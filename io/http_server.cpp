#include "io/http_server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <mutex>
#include <unordered_set>

#include "io/server_stop.hpp"

namespace seqd {
namespace {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;
using Tcp = asio::ip::tcp;
using Socket = Tcp::socket::rebind_executor<Strand>::other;
using Acceptor = Tcp::acceptor::rebind_executor<Strand>::other;
using Timer = asio::steady_timer::rebind_executor<Strand>::other;

constexpr std::string_view kHeadEnd = "\r\n\r\n";
constexpr std::string_view kLineEnd = "\r\n";
// Content-Length digits, at most: anything longer is over kHttpBodyBytesMax anyway.
constexpr std::size_t kContentLengthDigitsMax = 18;
// After a failed accept (EMFILE, ENOBUFS) wait before the next one instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// RFC 9110 §5.6.2 tchar: the characters of a method or a header name.
bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), isTokenChar);
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

HttpHead failed(HttpHead head, int status, std::string error) {
  head.error_status = status;
  head.error = std::move(error);
  return head;
}

// "METHOD SP origin-form SP HTTP/1.x"; fills head or returns an error.
HttpHead parseRequestLine(std::string_view line) {
  HttpHead head;
  std::size_t first = line.find(' ');
  std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
    return failed(head, 400, "malformed request line");
  }
  std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  std::string_view version = line.substr(second + 1);
  if (!isToken(method)) return failed(head, 400, "malformed method");
  if (target.empty() || target.front() != '/') {
    return failed(head, 400, "the target must be a path such as /u/TOKEN");
  }
  for (char c : target) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte >= 0x7f) return failed(head, 400, "malformed target");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.starts_with("HTTP/")) return failed(head, 505, "only HTTP/1.0 and 1.1 are served");
    return failed(head, 400, "malformed HTTP version");
  }
  head.method = std::string(method);
  head.target = std::string(target);
  return head;
}

}  // namespace

HttpHead parseHttpHead(std::string_view text) {
  std::size_t line_end = text.find(kLineEnd);
  HttpHead head = parseRequestLine(text.substr(0, line_end));
  if (head.error_status != 0) return head;
  bool has_length = false;
  std::size_t count = 0;
  while (line_end != std::string_view::npos) {
    std::size_t start = line_end + kLineEnd.size();
    line_end = text.find(kLineEnd, start);
    std::string_view line = text.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    if (++count > kHttpHeadersMax) {
      return failed(head, 431, fmt::format("more than {} headers", kHttpHeadersMax));
    }
    std::size_t colon = line.find(':');
    // No whitespace before the colon, no obsolete line folding (RFC 9112 §5.1, §5.2).
    if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
      return failed(head, 400, "malformed header line");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trimBlanks(line.substr(colon + 1));
    if (value.find_first_of("\r\n") != std::string_view::npos) {
      return failed(head, 400, "malformed header line");
    }
    if (equalsIgnoringCase(name, "Transfer-Encoding")) {
      return failed(head, 411, "send the body with a Content-Length");
    }
    if (!equalsIgnoringCase(name, "Content-Length")) continue;
    if (has_length) return failed(head, 400, "Content-Length given twice");
    if (value.empty() || value.size() > kContentLengthDigitsMax ||
        !std::all_of(value.begin(), value.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return failed(head, 400, "malformed Content-Length");
    }
    has_length = true;
    head.content_length = std::stoull(std::string(value));
    if (head.content_length > kHttpBodyBytesMax) {
      return failed(head, 413, fmt::format("a body is at most {} bytes", kHttpBodyBytesMax));
    }
  }
  return head;
}

std::string_view httpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

std::string formatHttpResponse(const HttpResponse& response) {
  std::string text =
      fmt::format("HTTP/1.1 {} {}\r\n", response.status, httpReason(response.status));
  text += "Content-Type: " + response.content_type + "\r\n";
  text += fmt::format("Content-Length: {}\r\n", response.body.size());
  text += "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  for (const auto& [name, value] : response.headers) text += name + ": " + value + "\r\n";
  text += "\r\n";
  text += response.body;
  return text;
}

namespace {

HttpResponse plainResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body) + "\n";
  return response;
}

class Connection;

// State shared by the server object and its pending handlers, so that a handler still queued
// on the io_context after the server was destroyed finds it alive.
struct Shared {
  Shared(asio::io_context& io_context, std::string listen_text, HttpHandler request_handler,
         HttpServerLimits server_limits)
      : io(io_context),
        listen(std::move(listen_text)),
        handler(std::move(request_handler)),
        limits(server_limits),
        acceptor(asio::make_strand(io_context)),
        accept_retry_timer(acceptor.get_executor()) {}

  asio::io_context& io;
  const std::string listen;
  const HttpHandler handler;
  const HttpServerLimits limits;
  Acceptor acceptor;
  Timer accept_retry_timer;  // on the acceptor's strand
  std::atomic<std::uint16_t> port{0};

  // Everything below is guarded by mutex.
  std::mutex mutex;
  bool started = false;
  bool stopped = false;
  std::unordered_set<std::shared_ptr<Connection>> connections;
};

// One request and its answer. Stages move forward only: reading -> waiting (on the handler)
// -> writing -> closed; every handler and timer checks the stage it expects.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Socket socket, std::weak_ptr<Shared> server, HttpHandler handler,
             HttpServerLimits limits)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        server_(std::move(server)),
        handler_(std::move(handler)),
        limits_(limits) {}

  // REQUIRES: on the connection's strand.
  void start() {
    armTimer(limits_.read_timeout_ms);
    asio::async_read_until(
        socket_, asio::dynamic_buffer(buffer_, kHttpHeadBytesMax), kHeadEnd,
        [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
          self->onHead(ec, bytes);
        });
  }

  Socket::executor_type strand() { return socket_.get_executor(); }

  // Any thread.
  void postClose() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  enum class Stage { kReading, kWaiting, kWriting, kClosed };

  void onHead(boost::system::error_code ec, std::size_t bytes) {
    if (stage_ != Stage::kReading) return;
    if (ec == asio::error::not_found) {
      return answer(plainResponse(
          431,
          fmt::format("The request line and headers are at most {} bytes.", kHttpHeadBytesMax)));
    }
    if (ec) return close();
    HttpHead head = parseHttpHead(std::string_view(buffer_).substr(0, bytes - kHeadEnd.size()));
    if (head.error_status != 0) return answer(plainResponse(head.error_status, head.error));
    buffer_.erase(0, bytes);
    request_.method = std::move(head.method);
    request_.target = std::move(head.target);
    if (buffer_.size() >= head.content_length) {
      buffer_.resize(head.content_length);  // one request per connection: the rest is ignored
      return dispatch();
    }
    asio::async_read(socket_, asio::dynamic_buffer(buffer_, kHttpBodyBytesMax),
                     asio::transfer_exactly(head.content_length - buffer_.size()),
                     [self = shared_from_this()](boost::system::error_code read_error,
                                                 std::size_t) { self->onBody(read_error); });
  }

  void onBody(boost::system::error_code ec) {
    if (stage_ != Stage::kReading) return;
    if (ec) return close();
    dispatch();
  }

  void dispatch() {
    stage_ = Stage::kWaiting;
    request_.body = std::move(buffer_);
    armTimer(limits_.answer_timeout_ms);
    try {
      handler_(std::move(request_), makeRespond());
    } catch (const std::exception& error) {
      // The handler's exception must not take down the io_context thread.
      answer(plainResponse(500, "Internal error."));
    }
  }

  HttpRespond makeRespond() {
    std::weak_ptr<Connection> weak = shared_from_this();
    return [weak](HttpResponse response) {
      std::shared_ptr<Connection> self = weak.lock();
      if (!self) return;
      asio::post(self->socket_.get_executor(), [self, response = std::move(response)]() mutable {
        if (self->stage_ == Stage::kWaiting) self->answer(std::move(response));
      });
    };
  }

  // REQUIRES: stage_ is kReading or kWaiting.
  void answer(HttpResponse response) {
    stage_ = Stage::kWriting;
    armTimer(limits_.read_timeout_ms);  // a peer that does not read cannot hold us either
    reply_ = formatHttpResponse(response);
    asio::async_write(
        socket_, asio::buffer(reply_),
        [self = shared_from_this()](boost::system::error_code, std::size_t) { self->close(); });
  }

  void armTimer(int timeout_ms) {
    std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
      if (ec || generation != self->timer_generation_) return;
      self->onTimeout();
    });
  }

  void onTimeout() {
    if (stage_ == Stage::kWaiting) {
      return answer(plainResponse(503, "The unsubscribe service is busy; please try again."));
    }
    close();
  }

  void close() {
    if (stage_ == Stage::kClosed) return;
    stage_ = Stage::kClosed;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    if (std::shared_ptr<Shared> server = server_.lock()) {
      std::lock_guard lock(server->mutex);
      server->connections.erase(shared_from_this());
    }
  }

  Socket socket_;
  Timer timer_;
  const std::weak_ptr<Shared> server_;
  const HttpHandler handler_;
  const HttpServerLimits limits_;

  // Everything below is used on the connection's strand only.
  Stage stage_ = Stage::kReading;
  std::uint64_t timer_generation_ = 0;
  std::string buffer_;  // the head, then the body
  HttpRequest request_;
  std::string reply_;
};

// Answers a connection that will not be served with 503, then closes it.
void refuse(Socket socket) {
  HttpResponse response = plainResponse(503, "Too many connections; please try again.");
  response.headers.emplace_back("Retry-After", "1");
  auto refused = std::make_shared<Socket>(std::move(socket));
  auto text = std::make_shared<std::string>(formatHttpResponse(response));
  asio::async_write(*refused, asio::buffer(*text),
                    [refused, text](boost::system::error_code, std::size_t) {
                      boost::system::error_code ignored;
                      refused->shutdown(asio::socket_base::shutdown_both, ignored);
                      refused->close(ignored);
                    });
}

void acceptNext(const std::shared_ptr<Shared>& shared);

// On the acceptor's strand.
void onAccepted(const std::shared_ptr<Shared>& shared, boost::system::error_code ec,
                Socket socket) {
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped || ec == asio::error::operation_aborted) return;
    if (!ec && shared->connections.size() < shared->limits.connections_max) {
      connection =
          std::make_shared<Connection>(std::move(socket), shared, shared->handler, shared->limits);
      shared->connections.insert(connection);
    }
  }
  if (ec) {
    shared->accept_retry_timer.expires_after(kAcceptRetryDelay);
    shared->accept_retry_timer.async_wait([shared](boost::system::error_code wait_error) {
      if (!wait_error) acceptNext(shared);
    });
    return;
  }
  if (connection) {
    asio::dispatch(connection->strand(), [connection] { connection->start(); });
  } else {
    refuse(std::move(socket));
  }
  acceptNext(shared);
}

void acceptNext(const std::shared_ptr<Shared>& shared) {
  shared->acceptor.async_accept(asio::make_strand(shared->io),
                                [shared](boost::system::error_code ec, Socket socket) {
                                  onAccepted(shared, ec, std::move(socket));
                                });
}

Result<Tcp::endpoint> resolveListen(asio::io_context& io, const std::string& listen) {
  std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Status::invalidArgument("http_listen: expected HOST:PORT, got '" + listen + "'");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  Tcp::resolver resolver(io);
  auto results = resolver.resolve(host, listen.substr(colon + 1),
                                  Tcp::resolver::numeric_service | Tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Status::invalidArgument(fmt::format("http_listen {}: cannot resolve '{}': {}", listen,
                                               host,
                                               ec ? ec.message() : std::string("no address")));
  }
  return results.begin()->endpoint();
}

Status bindAndListen(Shared& shared, const Tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  shared.acceptor.open(endpoint.protocol(), ec);
  if (!ec) shared.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) shared.acceptor.bind(endpoint, ec);
  if (!ec) shared.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::ioError(
        fmt::format("http_listen {}: cannot listen: {}", shared.listen, ec.message()));
  }
  shared.port = shared.acceptor.local_endpoint(ec).port();
  return Status::ok();
}

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<Shared> shared;
};

HttpServer::HttpServer(asio::io_context& io, std::string listen, HttpHandler handler,
                       HttpServerLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared = std::make_shared<Shared>(io, std::move(listen), std::move(handler), limits);
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  std::shared_ptr<Shared> shared = impl_->shared;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return Status::failedPrecondition("the HTTP server was stopped");
    if (shared->started) return Status::failedPrecondition("the HTTP server already started");
    shared->started = true;
  }
  Result<Tcp::endpoint> endpoint = resolveListen(shared->io, shared->listen);
  if (!endpoint.isOk()) return endpoint.status();
  Status status = bindAndListen(*shared, endpoint.value());
  if (!status.isOk()) {
    boost::system::error_code ignored;
    shared->acceptor.close(ignored);
    return status;
  }
  asio::post(shared->acceptor.get_executor(), [shared] { acceptNext(shared); });
  return Status::ok();
}

std::uint16_t HttpServer::port() const { return impl_->shared->port.load(); }

void HttpServer::stop() {
  stopServer(impl_->shared, [] {});
}

}  // namespace seqd
