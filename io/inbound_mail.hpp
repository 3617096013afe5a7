// Inbound mail: what a message that arrived in a sending mailbox's inbox is, as far as seqd
// cares (a reply, an out-of-office, a bounce, a delay, an unsubscribe, or nothing). Raw bytes
// in, an InboundMail value out; which contact or send it belongs to is the caller's business
// (message ids and addresses are handed back for that).
//
// The bytes are hostile: any of them may come from anyone on the Internet. They are parsed
// with GMime 3 (an implementation detail of inbound_mail.cpp), bounded as listed below, and
// nothing in them can make classifyInboundMail throw, abort or read out of bounds; at worst
// the message is kOther.
//
// Decisions, in this order (the first that applies wins; `why` names it):
//  1. Bounce or delay. An RFC 3464 report (multipart/report; report-type=delivery-status, or
//     any message/delivery-status or message/global-delivery-status part): the first
//     per-recipient block with "Action: failed" is a kBounce (whatever its status class: a
//     failed 4.x.x, such as 4.4.7 after the queue lifetime, was given up on all the same);
//     else one with "Action: delayed" or a 4.x.x status is a kDelay; a report of only
//     delivered / relayed / expanded recipients is kOther. The original Message-ID comes from
//     the message/rfc822 (or message/global) part, else the text/rfc822-headers or
//     message/global-headers part, else from the text. Then the non-standard forms (Postfix's
//     and qmail's plain text, Exim, Exchange/Outlook NDRs, Gmail's plain text): a message from
//     MAILER-DAEMON / postmaster / mailer-daemon@..., or whose subject or text carries a known
//     bounce phrase, is read for the original's Message-ID (an attached message/rfc822, else a
//     "Message-ID:" line after the marker where the copy of the original begins, anywhere in
//     the text when there is no marker), an enhanced status (5.x.x / 4.x.x; a bare SMTP 5yz /
//     4yz code is reported as RFC 3463's "5.0.0" / "4.0.0") and the failed recipient
//     (X-Failed-Recipients, else the text). A delay phrase or a 4.x.x status without a failure
//     phrase makes it a kDelay. A daemon's message with neither a failure phrase nor a status
//     but with a quoted Message-ID is still a kBounce, with status "".
//  2. Unsubscribe: the subject, trimmed, is "unsubscribe" in any case (what our
//     List-Unsubscribe mailto asks for).
//  3. Auto-reply: Auto-Submitted other than "no", X-Autoreply, X-Autorespond, Precedence:
//     auto_reply, or an out-of-office subject in English, German, French, Spanish, Italian,
//     Portuguese or Dutch (see kAutoReplySubjects in the .cpp; accents and case do not
//     matter, "Re:" / "AW:" / "[tag]" prefixes are stripped). X-Auto-Response-Suppress alone
//     is not enough: Outlook writes it on ordinary mail. The return date is read by
//     findReturnDate (io/return_date.hpp) from the text/plain parts that are not attachments
//     (the text/html ones with their tags dropped when there are none); the arrival day is
//     received_ms's UTC date.
//  4. kOther: mailing lists and bulk mail (List-Id, Precedence: bulk / list / junk), and
//     anything else from MAILER-DAEMON / postmaster.
//  5. kReply when it has In-Reply-To / References or a From (or Sender) address; else kOther.
//
// Limits: over kInboundMailBytesMax the message is not parsed ("too big"). MIME parts nested
// deeper than kInboundMailDepthMax, parts after the first kInboundMailPartsMax, and text past
// kInboundMailTextBytesMax per part are not read. message/rfc822 parts are not descended
// into (only their Message-ID is read). At most kInboundMailReferencesMax referenced ids
// are kept (In-Reply-To's first, then the newest References; 16 KiB of each header is read).
// A message that writes "boundary" more than kInboundMailBoundariesMax times is read from its
// headers alone ("; body not read" in why): GMime's parser slows down quadratically with
// nesting (150,000 nested multiparts: about 4 s). NUL bytes are read as spaces;
// text in an unknown or lying charset is read as Latin-1 where it is not valid UTF-8.
//
// Thread-safety: after initInboundMailParser() has returned, classifyInboundMail may run on
// several threads at once: each call builds its own parser, stream and options, and GMime
// locks its shared iconv and charset caches. The test runs four threads over the corpus and
// compares with one (under ASan in CI; no race detector runs it).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/schedule.hpp"
#include "engine/time.hpp"

namespace seqd {

inline constexpr std::size_t kInboundMailBytesMax = 10 * 1024 * 1024;
inline constexpr int kInboundMailDepthMax = 8;
inline constexpr std::size_t kInboundMailPartsMax = 128;
inline constexpr std::size_t kInboundMailTextBytesMax = 256 * 1024;
inline constexpr std::size_t kInboundMailReferencesMax = 64;
// A message declaring more MIME boundaries than this is classified from its headers alone.
inline constexpr std::size_t kInboundMailBoundariesMax = 100;

// What a message that arrived in a sending mailbox's inbox is, as far as seqd cares.
struct InboundMail {
  enum class Kind { kReply, kAutoReply, kBounce, kDelay, kUnsubscribe, kOther };
  Kind kind = Kind::kOther;
  std::string message_id;                   // its own Message-ID, "<...>" form, "" if none
  std::string from_address;                 // lower-cased addr-spec of From (or Sender)
  std::string subject;                      // decoded (RFC 2047), UTF-8
  std::vector<std::string> referenced_ids;  // In-Reply-To then References, "<...>", no repeats
  std::vector<std::string> original_ids;  // bounces/delays: Message-IDs of the original message(s)
  std::string status;                     // bounces/delays: "5.1.1" / "4.4.7" when known
  std::string recipient;  // bounces/delays: the failed recipient addr-spec (lower-cased), if known
  std::optional<LocalDate> return_date;  // auto-replies: the return date read from the text
  std::string why;  // a few words on what decided the kind, for logs ("DSN Action: failed 5.1.1")
};

// "reply", "auto_reply", "bounce", "delay", "unsubscribe", "other".
const char* inboundKindName(InboundMail::Kind kind);

// Starts GMime. Call once at start-up before classifying; calling it again does nothing.
void initInboundMailParser();

// Classifies raw RFC 5322 bytes (LF or CRLF line ends). received_ms: when it arrived; its UTC
// day is the arrival day for return dates. Never throws: should anything inside throw (memory
// running out), the result is kOther with why "not classified: ...".
// REQUIRES: initInboundMailParser() has returned.
InboundMail classifyInboundMail(std::string_view raw, TimeMs received_ms);

}  // namespace seqd
