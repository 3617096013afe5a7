#include "io/smtp_transport.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <utility>

namespace seqd {
namespace {

// A password file is read up to this size; only its first line is used.
constexpr std::size_t kPasswordFileBytesMax = 4096;
// Reads of the password file interrupted by a signal before giving up.
constexpr int kInterruptedRetriesMax = 100;
// Host names longer than this are not used as the EHLO argument.
constexpr std::size_t kHeloNameBytesMax = 253;
// SMTP commands whose name may appear in a detail. Anything else the client sends (AUTH
// continuation lines carry encoded credentials) is never recorded.
constexpr std::array<std::string_view, 10> kCommandNames = {
    "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL FROM", "RCPT TO", "DATA", "RSET", "NOOP", "QUIT"};
// DATA's intermediate reply; while it is the last reply, no final reply to the data came.
constexpr long kStartMailInputCode = 354;

// What one transfer learned through libcurl's callbacks.
struct TransferState {
  std::string_view body;  // CRLF line endings
  std::size_t body_offset = 0;
  bool body_handed_over = false;  // libcurl has read every byte of body
  std::string reply;              // the relay's latest reply, lines joined by a space
  bool reply_complete = true;     // the latest reply's last line has been seen
  std::string_view command;       // name of the latest command sent, from kCommandNames
  bool quitting = false;          // QUIT was sent: its reply says nothing about the message
  std::array<char, CURL_ERROR_SIZE> error{};
};

// Keeps printable ASCII; anything else becomes '?', so details are safe in logs and JSON.
void appendPrintable(std::string& target, std::string_view text, std::size_t bytes_max) {
  for (char c : text) {
    if (target.size() >= bytes_max) return;
    bool printable = c >= 0x20 && c < 0x7f;
    target.push_back(printable ? c : '?');
  }
}

// Cuts text to kSmtpDetailBytesMax without leaving half a UTF-8 sequence at the end.
std::string capped(std::string text) {
  if (text.size() <= kSmtpDetailBytesMax) return text;
  text.resize(kSmtpDetailBytesMax);
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) {
    text.pop_back();
  }
  if (!text.empty() && (static_cast<unsigned char>(text.back()) & 0x80) != 0) text.pop_back();
  return text;
}

std::size_t readBody(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  std::size_t room = size * count;
  std::size_t length = std::min(room, state->body.size() - state->body_offset);
  std::memcpy(buffer, state->body.data() + state->body_offset, length);
  state->body_offset += length;
  if (state->body_offset == state->body.size()) state->body_handed_over = true;
  return length;
}

// Reply lines look like "250-first" ... "250 last"; a line whose fourth byte is not '-' ends
// the reply.
void recordReplyLines(TransferState& state, std::string_view data) {
  if (state.quitting) return;
  for (std::size_t line = 0; line < kSmtpDetailBytesMax && !data.empty(); ++line) {
    std::size_t end = data.find('\n');
    std::string_view text = data.substr(0, end);
    data = end == std::string_view::npos ? std::string_view() : data.substr(end + 1);
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
    if (state.reply_complete) state.reply.clear();
    if (!state.reply.empty()) appendPrintable(state.reply, " ", kSmtpDetailBytesMax);
    appendPrintable(state.reply, text, kSmtpDetailBytesMax);
    state.reply_complete = text.size() < 4 || text[3] != '-';
  }
}

// libcurl sends command names in upper case, followed by ' ', ':' or the line end; requiring
// that keeps an encoded AUTH continuation line from passing for a command.
void recordCommand(TransferState& state, std::string_view data) {
  for (std::string_view name : kCommandNames) {
    if (!data.starts_with(name)) continue;
    std::string_view rest = data.substr(name.size());
    if (!rest.empty() && rest[0] != ' ' && rest[0] != ':' && rest[0] != '\r') continue;
    // libcurl closes the connection after a failure within the same transfer.
    if (name == "QUIT") {
      state.quitting = true;
    } else {
      state.command = name;
    }
    return;
  }
}

int onDebug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  auto* state = static_cast<TransferState*>(user);
  if (state == nullptr) return 0;  // the QUIT sent when the handle is cleaned up
  if (type == CURLINFO_HEADER_IN) recordReplyLines(*state, std::string_view(data, size));
  if (type == CURLINFO_HEADER_OUT) recordCommand(*state, std::string_view(data, size));
  return 0;
}

// Inserts '\r' before every '\n' that lacks one; libcurl dot-stuffs but expects CRLF.
std::string withCrlf(std::string_view message) {
  std::size_t bare = 0;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) ++bare;
  }
  std::string body;
  body.reserve(message.size() + bare);
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) body.push_back('\r');
    body.push_back(message[i]);
  }
  return body;
}

// Bare envelope addresses only: no controls, spaces or angle brackets, which would let an
// address inject SMTP commands or break the <path>. Non-ASCII bytes (SMTPUTF8) pass.
bool isEnvelopeAddress(std::string_view address) {
  if (address.empty() || address.size() > kSmtpAddressBytesMax) return false;
  return std::none_of(address.begin(), address.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f || c == '<' || c == '>';
  });
}

long useSslFor(const std::string& starttls) {
  if (starttls == "off") return CURLUSESSL_NONE;
  if (starttls == "optional") return CURLUSESSL_TRY;
  return CURLUSESSL_ALL;  // "required", and anything unknown fails safe
}

// The machine's name as the EHLO argument when it is a plain host name; otherwise libcurl's
// default.
std::string heloPath() {
  std::array<char, kHeloNameBytesMax + 2> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "";
  std::string_view text(name.data());
  bool plain = !text.empty() && text.size() <= kHeloNameBytesMax &&
               std::all_of(text.begin(), text.end(), [](char c) {
                 return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.';
               });
  if (!plain) return "";
  std::string path = "/";
  path += text;
  return path;
}

// <address>, as MAIL FROM and RCPT TO want it.
std::string angleAddress(std::string_view address) {
  std::string bracketed = "<";
  bracketed += address;
  bracketed += '>';
  return bracketed;
}

std::string urlFor(const SmtpSettings& settings) {
  bool ipv6_literal = settings.host.find(':') != std::string::npos && settings.host[0] != '[';
  // Appended in order: g++ 12 at -O3 misreads `"literal" + temporary` as an overlapping
  // memcpy (-Wrestrict, GCC bug 105329); angleAddress below has the same reason.
  std::string url = "smtp://";
  if (ipv6_literal) url += '[';
  url += settings.host;
  if (ipv6_literal) url += ']';
  url += ':';
  url += std::to_string(settings.port);
  url += heloPath();
  return url;
}

Result<std::string> readFirstLine(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::ioError("smtp: cannot read password_file " + path + ": " +
                           std::error_code(errno, std::generic_category()).message());
  }
  std::string contents(kPasswordFileBytesMax, '\0');
  std::size_t filled = 0;
  int error = 0;
  for (int attempt = 0; attempt < kInterruptedRetriesMax && filled < contents.size();) {
    ssize_t got = ::read(fd, contents.data() + filled, contents.size() - filled);
    if (got > 0) {
      filled += static_cast<std::size_t>(got);
      continue;
    }
    if (got == 0) break;
    error = errno;
    if (error != EINTR) break;
    error = 0;
    ++attempt;
  }
  ::close(fd);
  if (error != 0) {
    return Status::ioError("smtp: cannot read password_file " + path + ": " +
                           std::error_code(error, std::generic_category()).message());
  }
  contents.resize(filled);
  contents.resize(std::min(contents.find('\n'), contents.size()));
  if (!contents.empty() && contents.back() == '\r') contents.pop_back();
  return contents;
}

SmtpSendResult refused(std::string detail) {
  SmtpSendResult result;
  result.outcome = DeliveryOutcome::kFailedPermanent;
  result.detail = capped(std::move(detail));
  return result;
}

// Sorts a finished transfer; see the table in the header.
SmtpSendResult classify(CURLcode code, long reply_code, const TransferState& state,
                        const std::string& where) {
  SmtpSendResult result;
  result.reply_code = static_cast<int>(reply_code);
  if (code == CURLE_OK) {
    result.outcome = DeliveryOutcome::kDelivered;
    result.detail = capped(state.reply);
    return result;
  }
  std::string reason = state.error[0] != '\0' ? state.error.data() : curl_easy_strerror(code);
  if (reply_code >= 400 && reply_code < 600) {
    result.outcome =
        reply_code < 500 ? DeliveryOutcome::kFailedTemporary : DeliveryOutcome::kFailedPermanent;
    // Before any command, the reply being answered is the greeting.
    std::string_view command = state.body_handed_over  ? "end of data"
                               : state.command.empty() ? "greeting"
                                                       : state.command;
    std::string reply = state.reply.empty() ? reason : state.reply;
    result.detail = capped(std::string(command) + ": " + reply);
    return result;
  }
  result.outcome = DeliveryOutcome::kFailedTemporary;
  if (state.body_handed_over && reply_code == kStartMailInputCode) {
    result.maybe_delivered = true;
    result.detail = capped("smtp " + where + ": no reply to the end of data, the message " +
                           "may have been delivered: " + reason);
    return result;
  }
  std::string during = state.command.empty() ? "" : " (after " + std::string(state.command) + ")";
  result.detail = capped("smtp " + where + ": " + reason + during);
  return result;
}

}  // namespace

Status smtpGlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return Status::failedPrecondition(std::string("smtp: curl_global_init failed: ") +
                                      curl_easy_strerror(code));
  }
  return Status::ok();
}

SmtpTransport::SmtpTransport(SmtpSettings settings)
    : settings_(std::move(settings)), url_(urlFor(settings_)) {
  if (!smtpGlobalInit().isOk()) return;
  CURL* curl = curl_easy_init();
  curl_ = curl;
  if (curl == nullptr) return;
  long timeout_ms = static_cast<long>(std::max<DurationMs>(settings_.timeout_ms, 1));
  long timeout_seconds = std::max(1L, (timeout_ms + 999) / 1000);
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_USE_SSL, useSslFor(settings_.starttls));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  // Also bounds the QUIT exchange when the handle is cleaned up, where TIMEOUT_MS is ignored.
  curl_easy_setopt(curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, readBody);
  // The debug callback sees the relay's replies and the commands sent; VERBOSE enables it.
  curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, onDebug);
  curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
  if (!settings_.username.empty()) (void)loadPassword();
}

SmtpTransport::~SmtpTransport() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Status SmtpTransport::loadPassword() {
  if (password_loaded_) return Status::ok();
  if (settings_.password_file.empty()) {
    return Status::failedPrecondition("smtp: username is set but password_file is empty");
  }
  Result<std::string> line = readFirstLine(settings_.password_file);
  if (!line.isOk()) return line.status();
  password_ = std::move(line.value());
  password_loaded_ = true;
  return Status::ok();
}

SmtpSendResult SmtpTransport::send(std::string_view from_address, std::string_view recipient,
                                   std::string_view message) {
  if (!isEnvelopeAddress(from_address)) return refused("smtp: invalid sender address");
  if (!isEnvelopeAddress(recipient)) return refused("smtp: invalid recipient address");
  if (message.size() > kSmtpMessageBytesMax) return refused("smtp: message too large");
  if (!settings_.username.empty()) {
    Status password = loadPassword();
    if (!password.isOk()) return refused(password.message());
  }
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    SmtpSendResult result;
    result.detail = "smtp: libcurl could not be initialized";
    return result;
  }
  std::string from = angleAddress(from_address);
  curl_slist* recipients = curl_slist_append(nullptr, angleAddress(recipient).c_str());
  if (recipients == nullptr) {
    SmtpSendResult result;
    result.detail = "smtp: out of memory";
    return result;
  }
  std::string body = withCrlf(message);
  TransferState state;
  state.body = body;
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_READDATA, &state);
  curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &state);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, state.error.data());
  if (!settings_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, password_.c_str());
  }
  CURLcode code = curl_easy_perform(curl);
  long reply_code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply_code);
  // Nothing below outlives this call, so the handle must not keep pointers to it.
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, nullptr);
  curl_easy_setopt(curl, CURLOPT_READDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_DEBUGDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(recipients);
  return classify(code, reply_code, state, settings_.host + ":" + std::to_string(settings_.port));
}

}  // namespace seqd
