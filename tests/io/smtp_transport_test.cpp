// Proves SmtpTransport delivers a message intact to a real relay on loopback, sorts 2xx, 4xx,
// 5xx, refused connections and timeouts into the outcomes SPEC §3 rule 10 needs, and flags a
// send that lost only its final reply as maybe delivered.
#include "io/smtp_transport.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

extern char** environ;

using namespace seqd;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using seqd::testing::TempDir;

constexpr char kPythonPath[] = "/usr/bin/python3";
constexpr char kSmtpSinkPath[] = "/usr/sbin/smtp-sink";
// How long a test server may take to start listening, and how often that is checked.
constexpr int kReadyWaitMs = 10000;
constexpr int kReadyPollMs = 20;
constexpr std::size_t kArgumentsMax = 32;

std::int64_t millisecondsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A socket bound to 127.0.0.1 on a port the kernel picked; listening if asked.
class BoundSocket {
 public:
  explicit BoundSocket(bool listening) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address = loopback(0);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    if (listening) REQUIRE(::listen(fd_, 8) == 0);
  }
  ~BoundSocket() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port that was free a moment ago (the socket that held it is closed again).
int freePort() { return BoundSocket(false).port(); }

bool acceptsConnections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address = loopback(port);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// A child process with stdout sent to /dev/null; SIGTERMed and reaped on destruction.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& arguments) {
    REQUIRE(arguments.size() < kArgumentsMax);
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
      argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    int error = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE_MESSAGE(error == 0, "cannot start " << arguments[0]);
  }
  ~ChildProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  bool running() const {
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

void waitUntilListening(const ChildProcess& child, int port) {
  for (int waited_ms = 0; waited_ms < kReadyWaitMs; waited_ms += kReadyPollMs) {
    if (acceptsConnections(port)) return;
    REQUIRE_MESSAGE(child.running(), "the test server exited before listening");
    std::this_thread::sleep_for(std::chrono::milliseconds(kReadyPollMs));
  }
  FAIL("the test server did not listen on port " << port);
}

std::string readFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

void writeFile(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file << contents;
}

// tests/io/smtp_server.py (aiosmtpd) on a free port, writing what it accepts to a temp dir.
// options are the script's: "--auth", "user:password", "--idle-timeout", "0.3".
class Relay {
 public:
  explicit Relay(const std::vector<std::string>& options = {})
      : port_(freePort()), child_(arguments(port_, out_.path(), options)) {
    waitUntilListening(child_, port_);
  }
  int port() const { return port_; }
  // "000001", "000002", ...: the messages accepted so far, in order.
  std::vector<std::string> messages() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(out_.path())) {
      if (entry.path().extension() == ".eml") names.push_back(entry.path().stem().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string content(const std::string& name) const {
    return readFile(out_.path() + "/" + name + ".eml");
  }
  std::string envelope(const std::string& name) const {
    return readFile(out_.path() + "/" + name + ".env");
  }

 private:
  static std::vector<std::string> arguments(int port, const std::string& out,
                                            const std::vector<std::string>& options) {
    std::string script = (fs::path(__FILE__).parent_path() / "smtp_server.py").string();
    std::vector<std::string> result = {kPythonPath,          script,  "--port",
                                       std::to_string(port), "--out", out};
    result.insert(result.end(), options.begin(), options.end());
    return result;
  }

  TempDir out_{"seqd-smtp-test"};
  int port_;
  ChildProcess child_;
};

// Postfix's smtp-sink on a free port with the given fault options (see smtp-sink(1)).
class Sink {
 public:
  explicit Sink(const std::vector<std::string>& options)
      : port_(freePort()), child_(arguments(port_, options)) {
    waitUntilListening(child_, port_);
  }
  int port() const { return port_; }

 private:
  static std::vector<std::string> arguments(int port, const std::vector<std::string>& options) {
    std::vector<std::string> result = {kSmtpSinkPath};
    if (::geteuid() == 0) {  // smtp-sink refuses to keep root privileges
      result.push_back("-u");
      result.push_back("nobody");
    }
    result.insert(result.end(), options.begin(), options.end());
    result.push_back("127.0.0.1:" + std::to_string(port));
    result.push_back("10");
    return result;
  }

  int port_;
  ChildProcess child_;
};

SmtpSettings settingsFor(int port, DurationMs timeout_ms = 5000) {
  SmtpSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.starttls = "off";
  settings.timeout_ms = timeout_ms;
  return settings;
}

std::string withCrlf(const std::string& text) {
  std::string result;
  for (char c : text) {
    if (c == '\n') result.push_back('\r');
    result.push_back(c);
  }
  return result;
}

std::string lastLine(const std::string& text) {
  std::string trimmed = text.substr(0, text.find_last_not_of('\n') + 1);
  return trimmed.substr(trimmed.find_last_of('\n') + 1);
}

constexpr char kFrom[] = "alice@acme.test";
constexpr char kTo[] = "bob@example.test";
const std::string kMessage =
    "From: Alice Smith <alice@acme.test>\n"
    "To: bob@example.test\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n"
    "Message-ID: <q4.intro.1@acme.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Grüße, Bob — ça va?\n"
    ".a line that starts with a dot\n"
    ".\n"
    "..\n"
    "the end\n";

}  // namespace

TEST_CASE("a message reaches the relay byte for byte, with CRLF endings and dots intact") {
  Relay relay;
  SmtpTransport transport(settingsFor(relay.port()));
  SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
  CHECK(result.outcome == DeliveryOutcome::kDelivered);
  CHECK(result.reply_code == 250);
  CHECK_FALSE(result.maybe_delivered);
  CHECK(result.detail.find("250") != std::string::npos);
  REQUIRE(relay.messages() == std::vector<std::string>{"000001"});
  CHECK(relay.content("000001") == withCrlf(kMessage));
  CHECK(relay.envelope("000001") == "alice@acme.test\nbob@example.test\nconnection 1\n");
}

TEST_CASE("CRLF input is sent unchanged and the next message reuses the connection") {
  Relay relay;
  SmtpTransport transport(settingsFor(relay.port()));
  std::string crlf_message = withCrlf(kMessage);
  REQUIRE(transport.send(kFrom, kTo, crlf_message).outcome == DeliveryOutcome::kDelivered);
  REQUIRE(transport.send(kFrom, "carol@example.test", "Subject: b\n\nsecond\n").outcome ==
          DeliveryOutcome::kDelivered);
  REQUIRE(relay.messages().size() == 2);
  CHECK(relay.content("000001") == crlf_message);
  CHECK(relay.content("000002") == "Subject: b\r\n\r\nsecond\r\n");
  CHECK(lastLine(relay.envelope("000001")) == "connection 1");
  CHECK(lastLine(relay.envelope("000002")) == "connection 1");
}

TEST_CASE("a connection the relay closed while idle is replaced, not reported as a failure") {
  Relay relay({"--idle-timeout", "0.3"});
  SmtpTransport transport(settingsFor(relay.port()));
  REQUIRE(transport.send(kFrom, kTo, kMessage).outcome == DeliveryOutcome::kDelivered);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the relay hangs up meanwhile
  SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
  INFO("detail: " << result.detail);
  CHECK(result.outcome == DeliveryOutcome::kDelivered);
  REQUIRE(relay.messages().size() == 2);
  CHECK(lastLine(relay.envelope("000002")) == "connection 2");
}

TEST_CASE("a recipient rejected with 550 bounces with the relay's text; the next send works") {
  Relay relay;
  SmtpTransport transport(settingsFor(relay.port()));
  SmtpSendResult rejected = transport.send(kFrom, "unknown@example.test", kMessage);
  CHECK(rejected.outcome == DeliveryOutcome::kFailedPermanent);
  CHECK(rejected.reply_code == 550);
  CHECK_FALSE(rejected.maybe_delivered);
  CHECK(rejected.detail == "RCPT TO: 550 5.1.1 user unknown");
  SmtpSendResult accepted = transport.send(kFrom, kTo, kMessage);
  CHECK(accepted.outcome == DeliveryOutcome::kDelivered);
  CHECK(relay.messages() == std::vector<std::string>{"000001"});
}

TEST_CASE("AUTH: the first line of password_file logs in; wrong or missing credentials fail") {
  TempDir files("seqd-smtp-test");
  Relay relay({"--auth", "mailer:s3cret pass"});
  SmtpSettings settings = settingsFor(relay.port());
  settings.username = "mailer";
  settings.password_file = files.path() + "/password";
  writeFile(settings.password_file, "s3cret pass\r\nsecond line is ignored\n");
  SmtpTransport right(settings);
  CHECK(right.send(kFrom, kTo, kMessage).outcome == DeliveryOutcome::kDelivered);
  CHECK(relay.messages().size() == 1);

  writeFile(settings.password_file, "wrong\n");
  SmtpTransport wrong(settings);
  SmtpSendResult denied = wrong.send(kFrom, kTo, kMessage);
  CHECK(denied.outcome == DeliveryOutcome::kFailedPermanent);
  CHECK(denied.reply_code == 535);
  CHECK(denied.detail.find("wrong") == std::string::npos);  // no credentials in details

  SmtpTransport anonymous(settingsFor(relay.port()));
  SmtpSendResult refused = anonymous.send(kFrom, kTo, kMessage);
  CHECK(refused.outcome == DeliveryOutcome::kFailedPermanent);
  CHECK(refused.reply_code == 530);

  settings.password_file = files.path() + "/missing";
  SmtpTransport missing(settings);
  SmtpSendResult unreadable = missing.send(kFrom, kTo, kMessage);
  CHECK(unreadable.outcome == DeliveryOutcome::kFailedPermanent);
  CHECK(unreadable.reply_code == 0);
  CHECK(unreadable.detail.find(settings.password_file) != std::string::npos);
  CHECK(relay.messages().size() == 1);
}

TEST_CASE("starttls required refuses a relay without STARTTLS; optional sends in clear") {
  Relay relay;
  SmtpSettings settings = settingsFor(relay.port());
  settings.starttls = "required";
  SmtpTransport required(settings);
  SmtpSendResult result = required.send(kFrom, kTo, kMessage);
  CHECK(result.outcome == DeliveryOutcome::kFailedTemporary);
  CHECK_FALSE(result.maybe_delivered);
  CHECK(relay.messages().empty());
  settings.starttls = "optional";
  SmtpTransport optional(settings);
  CHECK(optional.send(kFrom, kTo, kMessage).outcome == DeliveryOutcome::kDelivered);
  CHECK(relay.messages().size() == 1);
}

TEST_CASE("relay replies and disconnects sort into outcomes by SMTP phase") {
  struct Case {
    std::vector<std::string> sink_options;
    DeliveryOutcome outcome;
    int reply_code;
    bool maybe_delivered;
  };
  const std::vector<Case> cases = {
      {{}, DeliveryOutcome::kDelivered, 250, false},
      {{"-r", "RCPT"}, DeliveryOutcome::kFailedTemporary, 450, false},
      {{"-f", "CONNECT"}, DeliveryOutcome::kFailedPermanent, 500, false},
      {{"-r", "MAIL"}, DeliveryOutcome::kFailedTemporary, 450, false},
      {{"-f", "RCPT"}, DeliveryOutcome::kFailedPermanent, 500, false},
      {{"-f", "DATA"}, DeliveryOutcome::kFailedPermanent, 500, false},
      {{"-f", "."}, DeliveryOutcome::kFailedPermanent, 500, false},
      {{"-Q", "."}, DeliveryOutcome::kFailedTemporary, 421, false},
      // Hang up without a reply: before the body nothing was sent, after it anything may be.
      {{"-q", "DATA"}, DeliveryOutcome::kFailedTemporary, 250, false},
      {{"-q", "."}, DeliveryOutcome::kFailedTemporary, 354, true},
  };
  for (const Case& test : cases) {
    std::string options;
    for (const std::string& option : test.sink_options) options += option + " ";
    INFO("smtp-sink " << options);
    Sink sink(test.sink_options);
    SmtpTransport transport(settingsFor(sink.port()));
    SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
    INFO("detail: " << result.detail);
    CHECK(result.outcome == test.outcome);
    CHECK(result.reply_code == test.reply_code);
    CHECK(result.maybe_delivered == test.maybe_delivered);
  }
}

TEST_CASE("no final reply within timeout_ms after the body is a maybe-delivered send") {
  Sink sink({"-W", ".:5"});
  SmtpTransport transport(settingsFor(sink.port(), 500));
  Clock::time_point start = Clock::now();
  SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
  std::int64_t elapsed_ms = millisecondsSince(start);
  INFO("detail: " << result.detail);
  CHECK(result.outcome == DeliveryOutcome::kFailedTemporary);
  CHECK(result.maybe_delivered);
  CHECK(result.detail.find("may have been delivered") != std::string::npos);
  CHECK(elapsed_ms >= 400);
  CHECK(elapsed_ms < 2000);
}

TEST_CASE("nothing listening is a quick temporary failure that was never sent") {
  SmtpTransport transport(settingsFor(freePort(), 5000));
  Clock::time_point start = Clock::now();
  SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
  CHECK(millisecondsSince(start) < 1000);
  CHECK(result.outcome == DeliveryOutcome::kFailedTemporary);
  CHECK(result.reply_code == 0);
  CHECK_FALSE(result.maybe_delivered);
  CHECK(result.detail.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("a relay that accepts TCP but never greets times out as temporary, not sent") {
  BoundSocket silent(true);  // the kernel completes handshakes; nobody ever accepts
  SmtpTransport transport(settingsFor(silent.port(), 500));
  Clock::time_point start = Clock::now();
  SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
  std::int64_t elapsed_ms = millisecondsSince(start);
  INFO("detail: " << result.detail);
  CHECK(elapsed_ms >= 400);
  CHECK(elapsed_ms < 2000);
  CHECK(result.outcome == DeliveryOutcome::kFailedTemporary);
  CHECK(result.reply_code == 0);
  CHECK_FALSE(result.maybe_delivered);
}

TEST_CASE("an unresolvable host is a temporary failure") {
  SmtpSettings settings = settingsFor(25, 1000);
  settings.host = "no-such-host.invalid";
  SmtpTransport transport(settings);
  SmtpSendResult result = transport.send(kFrom, kTo, kMessage);
  CHECK(result.outcome == DeliveryOutcome::kFailedTemporary);
  CHECK_FALSE(result.maybe_delivered);
}

TEST_CASE("addresses that could inject SMTP commands are refused without connecting") {
  // Nothing listens, so a connection attempt would come back as a temporary failure.
  SmtpTransport transport(settingsFor(freePort()));
  const std::vector<std::pair<std::string, std::string>> envelopes = {
      {kFrom, "bob@example.test>\r\nRSET"},
      {kFrom, "bob@example.test> NOTIFY=NEVER"},
      {kFrom, ""},
      {"alice@acme.test\nQUIT", kTo},
      {"", kTo},
  };
  for (const auto& [from, to] : envelopes) {
    INFO("from " << from << " to " << to);
    SmtpSendResult result = transport.send(from, to, kMessage);
    CHECK(result.outcome == DeliveryOutcome::kFailedPermanent);
    CHECK(result.detail.find("invalid") != std::string::npos);
  }
}
