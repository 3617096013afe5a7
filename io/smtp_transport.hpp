// SmtpTransport: hands one rendered RFC 5322 message to an SMTP relay with libcurl and says
// what became of it. libcurl does the protocol, TLS, STARTTLS, AUTH and dot-stuffing; this
// class builds the envelope, converts '\n' line endings to CRLF, and sorts the outcome:
//
//   the relay answered 2xx to the end of data       kDelivered
//   a 4xx reply, or no reply before the data phase   kFailedTemporary  (refused, DNS, timeout)
//   a 5xx reply                                      kFailedPermanent  (a bounce)
//   no final reply after the whole body went out     kFailedTemporary, maybe_delivered = true
//
// The last row is RFC 1047's window: the relay may have queued the message and lost only its
// "250". Such a send must never be retried automatically (SPEC §3 rule 10: it becomes
// `not_sent: interrupted`), so callers check maybe_delivered before the outcome. The phase is
// known from two facts: whether libcurl had read the whole body from us, and whether the last
// reply it parsed is still DATA's "354" (a final reply replaces it).
//
// Settings (config/config.hpp SmtpSettings): starttls off|optional|required maps to
// CURLUSESSL_NONE|TRY|ALL. With a username, the password is the first line of password_file
// (a trailing '\r' dropped), read at construction and again at each send until it has been
// read once. libcurl logs in only when the relay offers AUTH, and with starttls "optional" a
// relay without STARTTLS gets the credentials in clear: use "required" for remote relays.
// timeout_ms bounds connecting, and separately the whole transaction including the upload of
// the body; every reply is also awaited at most timeout_ms rounded up to whole seconds, which
// bounds the QUIT the destructor sends on an open connection. EHLO names the machine's host
// name. Details never carry credentials: only command names and the relay's replies.
//
// Thread-safety: one SmtpTransport per thread. It owns one libcurl easy handle, reused across
// sends so that consecutive messages share a connection (libcurl closes it after a failed
// transaction, and drops it when idle for longer than its connection age limit). Call
// smtpGlobalInit() once in main() before starting threads; the constructor calls it too, which
// is safe but too late to protect other threads that already use libcurl.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "engine/delivery.hpp"
#include "engine/status.hpp"

namespace seqd {

// A bigger message is refused as kFailedPermanent rather than sent.
inline constexpr std::size_t kSmtpMessageBytesMax = 64 * 1024 * 1024;
// Longest envelope address (RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its <>).
inline constexpr std::size_t kSmtpAddressBytesMax = 254;
// SmtpSendResult::detail is cut to this length.
inline constexpr std::size_t kSmtpDetailBytesMax = 512;

struct SmtpSendResult {
  DeliveryOutcome outcome = DeliveryOutcome::kFailedTemporary;
  int reply_code = 0;  // the relay's last reply code; 0 when it never answered
  std::string detail;  // the relay's reply text when there is one, else why it failed
  // The whole message went out but no final reply came back: it may have been delivered.
  // Never retry such a send automatically. outcome is kFailedTemporary when this is set.
  bool maybe_delivered = false;
};

// Initializes libcurl once per process (std::call_once); returns the result of that one call.
// Call it from main() before any thread starts.
Status smtpGlobalInit();

class SmtpTransport {
 public:
  explicit SmtpTransport(SmtpSettings settings);
  ~SmtpTransport();
  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;

  // Sends message (line endings '\n' or "\r\n") from from_address to recipient and returns
  // once the relay has answered the end of data, or the transaction failed. Addresses are
  // bare (alice@acme.test); one with control characters, spaces or <> is refused as
  // kFailedPermanent without connecting, as are a message over kSmtpMessageBytesMax and a
  // password_file that cannot be read.
  SmtpSendResult send(std::string_view from_address, std::string_view recipient,
                      std::string_view message);

 private:
  Status loadPassword();

  SmtpSettings settings_;
  std::string url_;
  std::string password_;
  bool password_loaded_ = false;
  void* curl_ = nullptr;  // CURL*; kept opaque so that users need not include curl.h
};

}  // namespace seqd
