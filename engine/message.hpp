// Message: builds an RFC 5322 email (SPEC §3 rule 9) from already-rendered parts.
//
// The Message-ID is deterministic, `<seq.step.contacthash@host>`, so a repeated delivery of
// the same step to the same contact is recognisably the same message.
//
// What buildMessage guarantees, whatever the parts hold:
//  - no header value contains CR or LF (runs of them become one space; other control bytes
//    are dropped), so a subject or name cannot inject headers;
//  - header lines are folded to stay under 78 characters where RFC 5322 allows it; a
//    non-ASCII subject, name or X-Seqd value is written as RFC 2047 `=?UTF-8?B?...?=` words
//    (each whole UTF-8 characters, each at most 75 characters);
//  - List-Unsubscribe-Post is written only beside a List-Unsubscribe with an HTTPS URI;
//  - the body is UTF-8 text/plain, 7bit when it is ASCII with lines of at most 998 bytes, else
//    quoted-printable (RFC 2045 §6.7); its line endings are all `line_ending`, and it ends
//    with one.
//
// buildMessage is also offered in pieces (appendHeader, ...) for the delivery workers'
// renderer (engine/render.hpp), which keeps the header lines that do not change between
// messages and assembles the same bytes; each piece appends exactly what buildMessage writes.
// The common case (a short, clean ASCII value) is appended without a temporary string.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "engine/time.hpp"

namespace seqd {

// Each of the sequence and step ids is cut to this many characters in a Message-ID (a longer
// one keeps a prefix and a hash of the whole id).
inline constexpr std::size_t kMessageIdPartBytesMax = 64;

struct MessageParts {
  std::string from_name;
  std::string from_address;
  std::string to_name;  // may be empty
  std::string to_address;
  std::string subject;  // UTF-8; encoded as RFC 2047 when not ASCII
  std::string body;     // UTF-8 text/plain; quoted-printable when needed
  TimeMs date_ms = 0;
  std::string message_id;        // with angle brackets; empty: makeMessageId() of the parts
  std::string in_reply_to;       // with angle brackets; empty: not threaded
  std::string references;        // empty while in_reply_to is set: References = in_reply_to
  std::string list_unsubscribe;  // the URI(s), e.g. "<mailto:unsubscribe@acme.test?subject=...>"
  // Adds `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), but only when
  // list_unsubscribe holds an "<https://" URI: §3.1 requires one beside that header.
  bool list_unsubscribe_one_click = false;
  std::string sequence_id;
  std::string step_id;
  std::string variant_id;  // the step's A/B variant; empty: none (no X-Seqd-Variant header)
  std::string contact_key;
};

// `<sequence.step.contacthash@host>`; host is the from address's domain (after the last '@',
// lower-cased; "localhost" when there is none). contacthash is 16 lower-case hex digits of
// fnv1a64(contact_key). Characters outside [A-Za-z0-9-_] in the ids become '-'.
std::string makeMessageId(std::string_view sequence_id, std::string_view step_id,
                          std::string_view contact_key, std::string_view from_address);
// The same appended to `out` (a caller's reused buffer).
void appendMessageId(std::string& out, std::string_view sequence_id, std::string_view step_id,
                     std::string_view contact_key, std::string_view from_address);

// The whole message; line_ending is "\n" for Maildir and "\r\n" for SMTP.
std::string buildMessage(const MessageParts& parts, std::string_view line_ending);

// Rewrites every line break in text (CRLF, LF or a lone CR) as line_ending.
std::string normalizeLineEndings(std::string_view text, std::string_view line_ending);

// Quoted-printable (RFC 2045 §6.7) of UTF-8 text: line breaks become line_ending (hard
// breaks), '=', control and non-ASCII bytes and whitespace at a line's end are =XX, and soft
// breaks ("=" + line_ending) keep every encoded line at most 76 characters.
std::string encodeQuotedPrintable(std::string_view text, std::string_view line_ending);

// --- buildMessage in pieces: each appends whole header lines to out ---

// "Name: value": the value cleaned (CR/LF runs become a space, control bytes go) and folded.
// Date, Message-ID, In-Reply-To, References and List-Unsubscribe are written so.
void appendHeader(std::string& out, std::string_view name, std::string_view value,
                  std::string_view line_ending);
// An unstructured header (Subject, X-Seqd-*): RFC 2047 encoded-words when not printable ASCII.
void appendUnstructuredHeader(std::string& out, std::string_view name, std::string_view value,
                              std::string_view line_ending);
// From and To: a display name (may be empty) and an address.
void appendMailboxHeader(std::string& out, std::string_view name, std::string_view display_name,
                         std::string_view address, std::string_view line_ending);
// Whether the body is sent quoted-printable: non-ASCII or control bytes, or a line over 998
// bytes.
bool needsQuotedPrintable(std::string_view body);
// The body after the blank line: quoted-printable or as it is, its line breaks rewritten as
// line_ending, ending with one when it is not empty.
void appendMessageBody(std::string& out, std::string_view body, bool quoted_printable,
                       std::string_view line_ending);

}  // namespace seqd
