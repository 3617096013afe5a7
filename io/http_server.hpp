// HttpServer: a small HTTP/1.1 responder on TCP (seqd.yaml `http_listen`), for the one-click
// unsubscribe links. It is meant to sit behind the operator's TLS reverse proxy on loopback,
// not to face the internet alone: no TLS, no keep-alive, no chunked bodies.
//
// One request per connection: it reads the request line and headers, then a Content-Length
// body, hands the request to the handler, writes the handler's response with
// `Connection: close` and closes. It answers by itself, without calling the handler:
//
//   what                                                  answer
//   request line + headers over kHttpHeadBytesMax         431, closed
//   a malformed request line or header, a bad or          400
//   repeated Content-Length, an absolute-form target
//   a Transfer-Encoding header (chunked bodies)           411 Length Required
//   Content-Length over kHttpBodyBytesMax                 413
//   a version other than HTTP/1.0 or HTTP/1.1             505
//   nothing whole within read_timeout_ms                  closed without an answer
//   no answer from the handler within answer_timeout_ms   503 (the handler may still act)
//   over connections_max connections open                 503 with Retry-After: 1, closed
//
// `Expect: 100-continue` gets no interim answer: such clients (curl, for bodies over 1 KiB)
// send the body after their own short wait. Every limit is named below; the timeouts and the
// connection cap can be lowered for tests. The read timeout runs from the accept to the last body
// byte, so a slow sender cannot hold a connection longer than that (slowloris).
//
// Thread-safety: the server runs on whatever threads run the io_context (the daemon runs one,
// shared with the control socket). Each connection has its own strand; the handler is called
// on it and must not block: it hands the request on and answers through `respond`, which may
// be called from any thread, once (later calls and calls after the connection closed are
// no-ops). start() and stop() may be called from any thread, one at a time; the io_context
// must outlive the server and every HttpRespond it handed out.
#pragma once

#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kHttpHeadBytesMax = 8 * 1024;  // request line + headers
inline constexpr std::size_t kHttpBodyBytesMax = 4 * 1024;
inline constexpr std::size_t kHttpHeadersMax = 100;
inline constexpr std::size_t kHttpConnectionsMax = 64;
inline constexpr int kHttpReadTimeoutMs = 10 * 1000;
inline constexpr int kHttpAnswerTimeoutMs = 30 * 1000;

struct HttpRequest {
  std::string method;  // as sent; methods are case-sensitive (RFC 9110 §9.1)
  std::string target;  // origin-form: "/u/TOKEN?query"
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the ones always written
  std::string body;
};

using HttpRespond = std::function<void(HttpResponse response)>;
using HttpHandler = std::function<void(HttpRequest request, HttpRespond respond)>;

struct HttpServerLimits {
  int read_timeout_ms = kHttpReadTimeoutMs;
  int answer_timeout_ms = kHttpAnswerTimeoutMs;
  std::size_t connections_max = kHttpConnectionsMax;
};

// The request line and headers, parsed (the text up to, not including, the blank line).
struct HttpHead {
  std::string method;
  std::string target;
  std::size_t content_length = 0;
  int error_status = 0;  // 0: well formed; else the status to answer with
  std::string error;     // what is wrong, for the answer's body
};
HttpHead parseHttpHead(std::string_view head);

// The response's bytes: status line, Content-Type, Content-Length, Connection: close,
// Cache-Control: no-store, X-Content-Type-Options: nosniff, the extra headers, then the body.
std::string formatHttpResponse(const HttpResponse& response);

// The reason phrase of the statuses seqd answers with ("Not Found"); "" for others.
std::string_view httpReason(int status);

class HttpServer {
 public:
  // listen: "HOST:PORT" as config checks it (a host name, an IPv4 address, or [IPv6]).
  HttpServer(boost::asio::io_context& io, std::string listen, HttpHandler handler,
             HttpServerLimits limits = HttpServerLimits());
  // Calls stop().
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Resolves HOST, binds the first address it gives, and listens. Errors: kInvalidArgument
  // (not HOST:PORT, unknown host), kIOError (cannot bind: in use, not a local address, ...),
  // kFailedPrecondition (already started or stopped).
  // REQUIRES: called at most once.
  Status start();
  // The port bound (useful with port 0); 0 before start().
  std::uint16_t port() const;
  // Stops accepting and closes every connection, on the io_context's threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqd
