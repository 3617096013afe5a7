// The IMAP inbox (io/inbox.hpp, openImapInbox): libcurl's IMAP support on one kept easy handle.
// The commands it sends, and why, are in io/imap_inbox.hpp.
#include "io/imap_inbox.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <optional>
#include <system_error>
#include <utility>

#include "io/inbox.hpp"
#include "io/smtp_transport.hpp"

namespace seqd {
namespace imap {
namespace {

// Server text quoted in an error is cut to this size.
constexpr std::size_t kQuotedBytesMax = 200;

void appendPrintable(std::string& target, std::string_view text, std::size_t bytes_max) {
  for (char c : text) {
    if (target.size() >= bytes_max) return;
    target.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
}

std::string quoted(std::string_view text) {
  std::string result;
  appendPrintable(result, text, kQuotedBytesMax);
  return "'" + result + "'";
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Calls visit(line) for each line of text, without its "\r\n" or "\n".
template <typename Visit>
void forEachLine(std::string_view text, Visit visit) {
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    visit(line);
  }
}

template <typename Number>
std::optional<Number> parseDigits(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  Number value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// An IMAP nz-number: a UID or a sequence number.
std::optional<std::uint32_t> parseNonZero(std::string_view text) {
  std::optional<std::uint32_t> value = parseDigits<std::uint32_t>(text);
  if (!value || *value == 0) return std::nullopt;
  return value;
}

// The first word of text, and text after it and the spaces that follow.
std::string_view takeWord(std::string_view& text) {
  std::size_t end = std::min(text.find(' '), text.size());
  std::string_view word = text.substr(0, end);
  text.remove_prefix(end);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return word;
}

// One value of a FETCH attribute list, read from the front of text: a parenthesized list
// (returned without its parentheses), a quoted string (returned unquoted) or an atom.
std::optional<std::string> takeValue(std::string_view& text) {
  if (text.empty() || text.front() == '{') return std::nullopt;  // a literal
  if (text.front() == '"') {
    std::string value;
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        value.push_back(text[++i]);
      } else if (text[i] == '"') {
        text.remove_prefix(i + 1);
        return value;
      } else {
        value.push_back(text[i]);
      }
    }
    return std::nullopt;
  }
  if (text.front() == '(') {
    int depth = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '"' || text[i] == '{') return std::nullopt;  // not in FLAGS or MODSEQ
      if (text[i] == '(') ++depth;
      if (text[i] == ')' && --depth == 0) {
        std::string value(text.substr(1, i - 1));
        text.remove_prefix(i + 1);
        return value;
      }
    }
    return std::nullopt;
  }
  std::size_t end = std::min(text.find_first_of(" ()"), text.size());
  std::string value(text.substr(0, end));
  text.remove_prefix(end);
  return value;
}

bool hasSeenFlag(std::string_view flags) {
  while (!flags.empty()) {
    if (equalsIgnoringCase(takeWord(flags), "\\Seen")) return true;
  }
  return false;
}

// Reads the attribute list of one FETCH answer, text starting after its "(".
bool readAttributes(std::string_view text, FetchedAttributes& attributes) {
  while (true) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    if (text.empty()) return false;
    if (text.front() == ')') return text.find_first_not_of(' ', 1) == std::string_view::npos;
    std::size_t name_end = std::min(text.find_first_of(" ()"), text.size());
    std::string_view name = text.substr(0, name_end);
    text.remove_prefix(name_end);
    if (name.empty() || text.empty() || text.front() != ' ') return false;
    text.remove_prefix(1);
    std::optional<std::string> value = takeValue(text);
    if (!value) return false;
    if (equalsIgnoringCase(name, "UID")) {
      std::optional<std::uint32_t> uid = parseNonZero(*value);
      if (!uid) return false;
      attributes.uid = *uid;
    } else if (equalsIgnoringCase(name, "INTERNALDATE")) {
      Result<TimeMs> received = parseInternalDate(*value);
      if (!received.isOk()) return false;
      attributes.received_ms = received.value();
    } else if (equalsIgnoringCase(name, "RFC822.SIZE")) {
      std::optional<std::uint64_t> size = parseDigits<std::uint64_t>(*value);
      if (!size) return false;
      attributes.size_bytes = *size;
      attributes.has_size = true;
    } else if (equalsIgnoringCase(name, "FLAGS")) {
      attributes.seen = hasSeenFlag(*value);
    }
  }
}

// Reads a number of digits_min to digits_max digits from the front of text.
std::optional<int> takeNumber(std::string_view& text, std::size_t digits_min,
                              std::size_t digits_max) {
  std::size_t digits = 0;
  while (digits < digits_max && digits < text.size() && text[digits] >= '0' &&
         text[digits] <= '9') {
    ++digits;
  }
  if (digits < digits_min) return std::nullopt;
  std::optional<int> value = parseDigits<int>(text.substr(0, digits));
  text.remove_prefix(digits);
  return value;
}

bool takeChar(std::string_view& text, char expected) {
  if (text.empty() || text.front() != expected) return false;
  text.remove_prefix(1);
  return true;
}

std::optional<unsigned> takeMonth(std::string_view& text) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (text.size() >= 3 && equalsIgnoringCase(text.substr(0, 3), kMonths[i])) {
      text.remove_prefix(3);
      return static_cast<unsigned>(i + 1);
    }
  }
  return std::nullopt;
}

}  // namespace

Status checkFolderUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("imap://")) {
    rest = url.substr(7);
  } else if (url.starts_with("imaps://")) {
    rest = url.substr(8);
  } else {
    return Status::invalidArgument("expected an imap:// or imaps:// URL");
  }
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return Status::invalidArgument("the URL holds a control character");
  }
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return Status::invalidArgument(
        "credentials do not belong in the URL (they would be logged): use username and "
        "password_file");
  }
  if (authority.empty()) return Status::invalidArgument("the URL names no host");
  if (url.find_first_of(";?#") != std::string_view::npos) {
    return Status::invalidArgument("the URL holds ';', '?' or '#': name only a folder");
  }
  std::string_view folder = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!folder.empty() && folder.back() == '/') folder.remove_suffix(1);
  if (folder.empty()) return Status::invalidArgument("the URL names no folder, as in /INBOX");
  return Status::ok();
}

std::string messageUrl(std::string_view folder_url, std::uint32_t uid) {
  return std::string(folder_url) + ";UID=" + std::to_string(uid);
}

Result<std::vector<std::uint32_t>> parseSearchResponse(std::string_view response) {
  std::vector<std::uint32_t> uids;
  bool found = false;
  Status status;
  forEachLine(response, [&](std::string_view line) {
    if (!status.isOk() || !line.starts_with("* ")) return;
    line.remove_prefix(2);
    if (!equalsIgnoringCase(takeWord(line), "SEARCH")) return;
    found = true;
    while (!line.empty() && line.front() != '(') {
      std::string_view word = takeWord(line);
      std::optional<std::uint32_t> uid = parseNonZero(word);
      if (!uid) {
        status = Status::corruption("unexpected word in a SEARCH answer: " + quoted(word));
        return;
      }
      uids.push_back(*uid);
    }
  });
  if (!status.isOk()) return status;
  if (!found) return Status::corruption("the server's answer has no SEARCH line");
  return uids;
}

Result<std::vector<FetchedAttributes>> parseFetchResponse(std::string_view response) {
  std::vector<FetchedAttributes> answers;
  Status status;
  forEachLine(response, [&](std::string_view line) {
    if (!status.isOk() || !line.starts_with("* ")) return;
    std::string_view rest = line.substr(2);
    std::optional<std::uint32_t> sequence = parseNonZero(takeWord(rest));
    if (!sequence || !equalsIgnoringCase(takeWord(rest), "FETCH") || rest.empty()) return;
    FetchedAttributes attributes;
    attributes.sequence = *sequence;
    if (rest.front() != '(' || !readAttributes(rest.substr(1), attributes)) {
      status = Status::corruption("unexpected FETCH answer: " + quoted(line));
      return;
    }
    answers.push_back(attributes);
  });
  if (!status.isOk()) return status;
  return answers;
}

Result<TimeMs> parseInternalDate(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::optional<int> day = takeNumber(rest, 1, 2);
  bool dashes = day && takeChar(rest, '-');
  std::optional<unsigned> month = dashes ? takeMonth(rest) : std::nullopt;
  std::optional<int> year = month && takeChar(rest, '-') ? takeNumber(rest, 4, 4) : std::nullopt;
  std::optional<int> hour = year && takeChar(rest, ' ') ? takeNumber(rest, 2, 2) : std::nullopt;
  std::optional<int> minute = hour && takeChar(rest, ':') ? takeNumber(rest, 2, 2) : std::nullopt;
  std::optional<int> second = minute && takeChar(rest, ':') ? takeNumber(rest, 2, 2) : std::nullopt;
  int sign = 0;
  if (second && takeChar(rest, ' ') && !rest.empty()) {
    sign = rest.front() == '+' ? 1 : rest.front() == '-' ? -1 : 0;
    rest.remove_prefix(1);
  }
  std::optional<int> zone_hour = sign != 0 ? takeNumber(rest, 2, 2) : std::nullopt;
  std::optional<int> zone_minute = zone_hour ? takeNumber(rest, 2, 2) : std::nullopt;
  if (!zone_minute || !rest.empty() || *hour > 23 || *minute > 59 || *second > 60 ||
      *zone_minute > 59) {
    return Status::invalidArgument("not an IMAP INTERNALDATE: " + quoted(text));
  }
  std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(*month),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return Status::invalidArgument("not a calendar date: " + quoted(text));
  std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  std::int64_t seconds = days * 86400 + *hour * 3600 + *minute * 60 + std::min(*second, 59) -
                         sign * (*zone_hour * 3600 + *zone_minute * 60);
  return static_cast<TimeMs>(seconds * kSecondMs);
}

Result<std::string> passwordFromFileContents(std::string contents) {
  if (!contents.empty() && contents.back() == '\n') {
    contents.pop_back();
    if (!contents.empty() && contents.back() == '\r') contents.pop_back();
  }
  if (contents.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return Status::invalidArgument("password_file holds more than one line");
  }
  if (contents.empty()) return Status::invalidArgument("password_file is empty");
  return contents;
}

}  // namespace imap

namespace {

// Connecting: TCP, TLS, the greeting and the login.
constexpr DurationMs kConnectTimeoutMs = 10 * kSecondMs;
// One fetch() or markHandled(), all its transfers together.
constexpr DurationMs kOperationTimeoutMs = 60 * kSecondMs;
// The longest the server may stay silent when an answer is due. It also bounds the LOGOUT the
// destructor sends, where no operation timeout applies.
constexpr long kServerSilenceSeconds = 10;
// A password file is read up to this size.
constexpr std::size_t kPasswordFileBytesMax = 4096;
// Reads of the password file interrupted by a signal before giving up.
constexpr int kInterruptedRetriesMax = 100;
// The answer to a command other than a message fetch (SEARCH windows, attribute lists).
constexpr std::size_t kCommandAnswerBytesMax = 4 * 1024 * 1024;
// Messages one fetch() returns at most, whatever max_items says; it bounds the UID list sent.
constexpr std::size_t kFetchItemsMax = 1000;
// The server's latest tagged reply is kept up to this size for error messages.
constexpr std::size_t kServerReplyBytesMax = 200;

using Clock = std::chrono::steady_clock;

// What one transfer learned through libcurl's callbacks.
struct Transfer {
  explicit Transfer(std::size_t bytes_max) : received_bytes_max(bytes_max) {}
  std::string received;  // what the write callback was given
  std::size_t received_bytes_max;
  bool over_limit = false;   // the write callback stopped the transfer at received_bytes_max
  bool line_cut = false;     // libcurl said it cut a response line
  bool logging_out = false;  // LOGOUT was sent: later replies say nothing about the command
  std::string server_reply;  // the server's latest tagged reply, printable
  std::array<char, CURL_ERROR_SIZE> error{};
};

std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t bytes = size * count;
  if (bytes > transfer->received_bytes_max - transfer->received.size()) {
    transfer->over_limit = true;
    return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
  }
  transfer->received.append(data, bytes);
  return bytes;
}

// A tagged reply starts with libcurl's tag: a letter and digits ("A004 NO ...").
bool isTaggedReply(std::string_view line) {
  std::size_t digits = line.size() > 1 ? line.find_first_not_of("0123456789", 1) : 0;
  return line.size() > 1 && std::isalpha(static_cast<unsigned char>(line[0])) && digits > 1 &&
         digits != std::string_view::npos && line[digits] == ' ';
}

// Sees the server's lines and libcurl's notes; what is sent (it carries the credentials) is
// only checked for LOGOUT, never kept.
int onDebug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer == nullptr) return 0;  // the LOGOUT sent when the handle is cleaned up
  std::string_view text(data, size);
  if (type == CURLINFO_TEXT && text.find("Excessive server response line") != text.npos) {
    transfer->line_cut = true;
  }
  if (type == CURLINFO_HEADER_OUT && text.find(" LOGOUT") != text.npos) {
    transfer->logging_out = true;
  }
  if (type == CURLINFO_HEADER_IN && !transfer->logging_out && isTaggedReply(text)) {
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
    transfer->server_reply.clear();
    imap::appendPrintable(transfer->server_reply, text, kServerReplyBytesMax);
  }
  return 0;
}

std::string systemError(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// The bytes of a password file. Errors start with where, the inbox's description.
Result<std::string> readPasswordFile(const std::string& where, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::ioError(where + ": cannot read password_file " + path + ": " +
                           systemError(errno));
  }
  std::string contents(kPasswordFileBytesMax + 1, '\0');
  std::size_t filled = 0;
  int error = 0;
  for (int interrupted = 0; filled < contents.size() && interrupted < kInterruptedRetriesMax;) {
    ssize_t got = ::read(fd, contents.data() + filled, contents.size() - filled);
    if (got > 0) {
      filled += static_cast<std::size_t>(got);
    } else if (got == 0) {
      break;
    } else if (errno == EINTR) {
      ++interrupted;
    } else {
      error = errno;
      break;
    }
  }
  ::close(fd);
  if (error != 0) {
    return Status::ioError(where + ": cannot read password_file " + path + ": " +
                           systemError(error));
  }
  if (filled > kPasswordFileBytesMax) {
    return Status::invalidArgument(where + ": password_file " + path + " is over " +
                                   std::to_string(kPasswordFileBytesMax) + " bytes");
  }
  contents.resize(filled);
  return contents;
}

// The URL as it may appear in logs: with any user information replaced.
std::string urlForLogs(const std::string& url) {
  std::size_t start = url.find("://");
  if (start == std::string::npos) return url;
  start += 3;
  std::size_t end = std::min(url.find('/', start), url.size());
  std::size_t at = url.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < start) return url;
  return url.substr(0, start) + "(credentials removed)" + url.substr(at);
}

class ImapInbox : public InboxSource {
 public:
  explicit ImapInbox(InboxSettings settings)
      : settings_(std::move(settings)),
        log_url_(urlForLogs(settings_.imap_url)),
        url_status_(imap::checkFolderUrl(settings_.imap_url)) {
    if (!smtpGlobalInit().isOk()) return;
    openHandle();
  }

  // A new libcurl handle (and so a new session) for each poll: a handle kept from one poll to
  // the next did not see mail Dovecot took into its Maildir since (found by the daemon-level
  // test in tests/integration/imap_inbox_test.py). Fetching and marking within a poll share it.
  void openHandle() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
    curl_ = curl_easy_init();
    if (curl_ == nullptr) return;
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "imap,imaps");
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(kConnectTimeoutMs));
    curl_easy_setopt(curl_, CURLOPT_SERVER_RESPONSE_TIMEOUT, kServerSilenceSeconds);
    curl_easy_setopt(curl_, CURLOPT_BUFFERSIZE, static_cast<long>(imap::kReceiveBufferBytes));
    // imaps:// always verifies the server's certificate and name; there is no option to stop it.
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, onWrite);
    // The debug callback sees the server's replies; VERBOSE enables it.
    curl_easy_setopt(curl_, CURLOPT_DEBUGFUNCTION, onDebug);
    curl_easy_setopt(curl_, CURLOPT_VERBOSE, 1L);
  }

  ~ImapInbox() override {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }

  ImapInbox(const ImapInbox&) = delete;
  ImapInbox& operator=(const ImapInbox&) = delete;

  Result<std::vector<InboxItem>> fetch(std::size_t max_items) override {
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kOperationTimeoutMs);
    Status ready = prepare();
    if (!ready.isOk()) return ready;
    if (max_items == 0) return std::vector<InboxItem>();
    openHandle();
    ready = prepare();
    if (!ready.isOk()) return ready;
    Result<std::uint32_t> count = countMessages(deadline);
    if (!count.isOk()) return count.status();
    Result<std::vector<std::uint32_t>> uids =
        searchUnhandled(deadline, count.value(), std::min(max_items, kFetchItemsMax));
    if (!uids.isOk()) return uids.status();
    if (uids.value().empty()) return std::vector<InboxItem>();
    Result<std::vector<imap::FetchedAttributes>> attributes =
        fetchAttributes(deadline, uids.value());
    if (!attributes.isOk()) return attributes.status();
    std::vector<InboxItem> items;
    for (const imap::FetchedAttributes& message : attributes.value()) {
      Status status = fetchMessage(deadline, message, items);
      if (status.isOk()) continue;
      // Out of time after some messages: those are the oldest; the rest come next time.
      if (!items.empty() && Clock::now() >= deadline) return items;
      return status;
    }
    return items;
  }

  Status markHandled(const std::string& id) override {
    Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kOperationTimeoutMs);
    std::optional<std::uint32_t> uid = imap::parseNonZero(id);
    if (!uid) return Status::invalidArgument(describe() + ": not an IMAP UID: " + imap::quoted(id));
    Status ready = prepare();
    if (!ready.isOk()) return ready;
    return store(deadline, *uid, "+FLAGS.SILENT ($SeqdHandled)");
  }

  std::string describe() const override { return "imap " + log_url_; }

 private:
  // Checks the settings and reads the password file again, so a changed password is used.
  Status prepare() {
    if (!url_status_.isOk())
      return Status::invalidArgument(describe() + ": " + url_status_.message());
    if (curl_ == nullptr) {
      return Status::failedPrecondition(describe() + ": libcurl could not be initialized");
    }
    if (settings_.imap_username.empty()) return Status::ok();  // the server must PREAUTH
    if (settings_.imap_password_file.empty()) {
      return Status::failedPrecondition(describe() + ": username is set but password_file is not");
    }
    Result<std::string> contents = readPasswordFile(describe(), settings_.imap_password_file);
    if (!contents.isOk()) return contents.status();
    Result<std::string> password = imap::passwordFromFileContents(std::move(contents.value()));
    if (!password.isOk()) {
      return Status::invalidArgument(describe() + ": " + password.status().message() + " (" +
                                     settings_.imap_password_file + ")");
    }
    // libcurl keeps its own copies of both.
    curl_easy_setopt(curl_, CURLOPT_USERNAME, settings_.imap_username.c_str());
    curl_easy_setopt(curl_, CURLOPT_PASSWORD, password.value().c_str());
    return Status::ok();
  }

  // One transfer: a custom command on the folder URL, or (command empty) the URL's own fetch.
  CURLcode run(Clock::time_point deadline, const std::string& url, const std::string& command,
               Transfer& transfer) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) return CURLE_OPERATION_TIMEDOUT;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, command.empty() ? nullptr : command.c_str());
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining.count()));
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl_, CURLOPT_DEBUGDATA, &transfer);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, transfer.error.data());
    CURLcode code = curl_easy_perform(curl_);
    // Nothing below outlives this call, so the handle must not keep pointers to it.
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, nullptr);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(curl_, CURLOPT_DEBUGDATA, nullptr);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, nullptr);
    if (code == CURLE_OK && transfer.line_cut) return CURLE_WEIRD_SERVER_REPLY;
    return code;
  }

  // A failed transfer as an IOError: where, which command, libcurl's reason and the server's.
  Status failure(std::string_view command, CURLcode code, const Transfer& transfer) const {
    std::string reason =
        transfer.error[0] != '\0' ? transfer.error.data() : curl_easy_strerror(code);
    std::string_view error_text = transfer.error.data();
    if (transfer.line_cut) {
      reason = "libcurl cut a response line longer than its buffer";
    } else if (transfer.over_limit) {
      reason = "the answer is over " + std::to_string(transfer.received_bytes_max) + " bytes";
    } else if (code == CURLE_LOGIN_DENIED && error_text.find("Select") != error_text.npos) {
      reason = "cannot open the folder (" + reason + ")";  // libcurl 7.88 reports it so
    } else if (code == CURLE_LOGIN_DENIED) {
      reason = "authentication failed for user " + imap::quoted(settings_.imap_username) + " (" +
               reason + ")";
    } else if (code == CURLE_QUOTE_ERROR) {
      reason = "the server refused it";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      // libcurl words it by which of its clocks ran out first; callers get one word for all.
      reason = "timed out (" + reason + ")";
    }
    if (!transfer.server_reply.empty() && code != CURLE_OPERATION_TIMEDOUT) {
      reason += "; server: " + transfer.server_reply;
    }
    return Status::ioError(describe() + ": " + std::string(command) + ": " + reason);
  }

  Result<std::string> runCommand(Clock::time_point deadline, const std::string& text) {
    Transfer transfer(kCommandAnswerBytesMax);
    CURLcode code = run(deadline, settings_.imap_url, text, transfer);
    if (code != CURLE_OK) return failure(text, code, transfer);
    return std::move(transfer.received);
  }

  // The folder's message count: the sequence number of its last message.
  Result<std::uint32_t> countMessages(Clock::time_point deadline) {
    const std::string text = "UID FETCH * (UID)";
    Result<std::string> answer = runCommand(deadline, text);
    if (!answer.isOk()) return answer.status();
    Result<std::vector<imap::FetchedAttributes>> lines = imap::parseFetchResponse(answer.value());
    if (!lines.isOk())
      return Status::corruption(describe() + ": " + text + ": " + lines.status().message());
    std::uint32_t count = 0;
    for (const imap::FetchedAttributes& line : lines.value())
      count = std::max(count, line.sequence);
    return count;
  }

  // The smallest UIDs not marked handled, ascending, at most max_items of them.
  Result<std::vector<std::uint32_t>> searchUnhandled(Clock::time_point deadline,
                                                     std::uint32_t count, std::size_t max_items) {
    std::vector<std::uint32_t> uids;
    for (std::uint64_t first = 1; first <= count && uids.size() < max_items;
         first += imap::kSearchWindowMessagesMax) {
      std::uint64_t last =
          std::min<std::uint64_t>(count, first + imap::kSearchWindowMessagesMax - 1);
      const std::string text = "UID SEARCH " + std::to_string(first) + ":" + std::to_string(last) +
                               " UNKEYWORD $SeqdHandled";
      Result<std::string> answer = runCommand(deadline, text);
      if (!answer.isOk()) return answer.status();
      Result<std::vector<std::uint32_t>> found = imap::parseSearchResponse(answer.value());
      if (!found.isOk())
        return Status::corruption(describe() + ": " + text + ": " + found.status().message());
      uids.insert(uids.end(), found.value().begin(), found.value().end());
    }
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    if (uids.size() > max_items) uids.resize(max_items);
    return uids;
  }

  // Arrival time, size and \Seen of each UID, ascending; UIDs gone meanwhile are left out.
  Result<std::vector<imap::FetchedAttributes>> fetchAttributes(
      Clock::time_point deadline, const std::vector<std::uint32_t>& uids) {
    std::string set;
    for (std::uint32_t uid : uids) {
      if (!set.empty()) set += ',';
      set += std::to_string(uid);
    }
    // Appended, not `"UID FETCH " + set + ...`: g++ 12 at -O3 misreads prepending a literal
    // to a temporary as an overlapping memcpy (-Wrestrict, GCC bug 105329).
    std::string text = "UID FETCH ";
    text += set;
    text += " (UID INTERNALDATE RFC822.SIZE FLAGS)";
    Result<std::string> answer = runCommand(deadline, text);
    if (!answer.isOk()) return answer.status();
    Result<std::vector<imap::FetchedAttributes>> lines = imap::parseFetchResponse(answer.value());
    if (!lines.isOk()) {
      return Status::corruption(describe() +
                                ": UID FETCH (attributes): " + lines.status().message());
    }
    std::vector<imap::FetchedAttributes> messages;
    for (const imap::FetchedAttributes& line : lines.value()) {
      if (line.uid == 0 || !line.has_size) continue;  // an unsolicited flag update
      if (!std::binary_search(uids.begin(), uids.end(), line.uid)) continue;
      messages.push_back(line);
    }
    std::sort(messages.begin(), messages.end(),
              [](const auto& a, const auto& b) { return a.uid < b.uid; });
    messages.erase(std::unique(messages.begin(), messages.end(),
                               [](const auto& a, const auto& b) { return a.uid == b.uid; }),
                   messages.end());
    return messages;
  }

  // Appends one message to items: its bytes, or none when it is over kInboxItemBytesMax.
  Status fetchMessage(Clock::time_point deadline, const imap::FetchedAttributes& message,
                      std::vector<InboxItem>& items) {
    InboxItem item{std::to_string(message.uid), std::string(), message.received_ms};
    if (message.size_bytes > kInboxItemBytesMax) {
      items.push_back(std::move(item));  // never downloaded: \Seen stays as it was
      return Status::ok();
    }
    Transfer transfer(kInboxItemBytesMax);
    transfer.received.reserve(static_cast<std::size_t>(message.size_bytes));
    CURLcode code = run(deadline, imap::messageUrl(settings_.imap_url, message.uid), "", transfer);
    bool gone = code == CURLE_REMOTE_FILE_NOT_FOUND;  // expunged since the search
    bool too_large = code == CURLE_WRITE_ERROR && transfer.over_limit;
    Status result;
    if (code == CURLE_OK || too_large) {
      if (too_large) transfer.received.clear();
      item.raw = std::move(transfer.received);
      items.push_back(std::move(item));
    } else if (!gone) {
      result = failure("UID FETCH " + item.id + " BODY[]", code, transfer);
    }
    if (!message.seen && !gone) {
      Status unseen = store(deadline, message.uid, "-FLAGS.SILENT (\\Seen)");
      if (result.isOk()) result = unseen;
    }
    return result;
  }

  Status store(Clock::time_point deadline, std::uint32_t uid, std::string_view change) {
    Result<std::string> answer =
        runCommand(deadline, "UID STORE " + std::to_string(uid) + " " + std::string(change));
    return answer.isOk() ? Status::ok() : answer.status();
  }

  InboxSettings settings_;
  std::string log_url_;
  Status url_status_;
  CURL* curl_ = nullptr;
};

}  // namespace

std::unique_ptr<InboxSource> openImapInbox(const InboxSettings& settings) {
  return std::make_unique<ImapInbox>(settings);
}

}  // namespace seqd
