// The IMAP inbox (io/inbox.hpp, openImapInbox) reads one IMAP folder through libcurl. This
// header holds the pure pieces of it, the folder URL check and the parsers of the server's
// answers, exposed only so that tests/io/imap_inbox_test.cpp can check them without a server.
// Nothing else should call them: use openImapInbox().
//
// A fetch(max_items) is a few libcurl transfers on one session of its own (a new libcurl
// handle per fetch: a session kept from one poll to the next missed mail delivered since;
// libcurl logs in and SELECTs the folder when it opens one), which the marks after it share:
//   1. `UID FETCH * (UID)`: the last message's sequence number is the folder's message count.
//   2. `UID SEARCH FIRST:LAST UNKEYWORD $SeqdHandled` over windows of at most
//      kSearchWindowMessagesMax sequence numbers, oldest first, until max_items UIDs are known.
//   3. `UID FETCH U1,U2,... (UID INTERNALDATE RFC822.SIZE FLAGS)` for those UIDs.
//   4. For each message no larger than kInboxItemBytesMax, the URL `FOLDER;UID=N`, which
//      libcurl 7.62 and later (Debian 12 ships 7.88.1) sends as `UID FETCH N BODY[]`; then
//      `UID STORE N -FLAGS.SILENT (\Seen)` when the message was unseen before.
// markHandled(uid) is `UID STORE N +FLAGS.SILENT ($SeqdHandled)`.
//
// Trade-offs a reader will wonder about, all forced by libcurl 7.88:
//   - libcurl has no BODY.PEEK[]: its fetch sets \Seen, so step 4 takes the flag back. A person
//     who opens the message in that instant sees it unread again; if the operation stops between
//     the two (a timeout, a crash) the message stays \Seen. A custom `UID FETCH N BODY.PEEK[]`
//     is no way out: libcurl reads a custom command's answer line by line, so a line of the
//     message that starts with "* " or the command's tag would be taken for a response.
//   - libcurl cuts a response line longer than about half its receive buffer, keeping its first
//     40 bytes and its tail, and the transfer still succeeds. One SEARCH over a large folder is
//     one long line, hence the windows of step 2: their longest answer fits in a buffer of
//     kReceiveBufferBytes with room to spare. A note from libcurl that it cut a line fails the
//     transfer anyway.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.hpp"
#include "engine/time.hpp"

namespace seqd::imap {

// Sequence numbers one SEARCH covers. Its answer is at most this many UIDs of up to 10 digits.
inline constexpr std::size_t kSearchWindowMessagesMax = 4096;
// libcurl's receive buffer (CURLOPT_BUFFERSIZE); a response line must fit in half of it.
inline constexpr std::size_t kReceiveBufferBytes = 256 * 1024;
static_assert(kSearchWindowMessagesMax * 11 + 64 < kReceiveBufferBytes / 2,
              "a SEARCH window's answer must fit in one libcurl response line");

// What a message's FETCH answer said. Fields the answer lacked keep their defaults.
struct FetchedAttributes {
  std::uint32_t sequence = 0;  // the message sequence number the answer starts with
  std::uint32_t uid = 0;       // 0: the answer had no UID (an unsolicited flag update)
  TimeMs received_ms = 0;      // INTERNALDATE
  std::uint64_t size_bytes = 0;
  bool has_size = false;  // RFC822.SIZE was there
  bool seen = false;      // FLAGS had \Seen
};

// A folder URL: "imap://" or "imaps://", a host with an optional port, "/", a folder name.
// Refused: credentials in it (they would be logged), and ';', '?', '#' or control characters
// (libcurl would read them as its own parameters).
Status checkFolderUrl(std::string_view url);

// The URL whose transfer fetches one whole message: "FOLDER_URL;UID=N".
std::string messageUrl(std::string_view folder_url, std::uint32_t uid);

// The UIDs of every "* SEARCH" line in an answer, in the order given. Other untagged lines
// are ignored. Corruption if there is no SEARCH line or it holds anything but UIDs (a trailing
// "(MODSEQ n)" is allowed).
Result<std::vector<std::uint32_t>> parseSearchResponse(std::string_view response);

// Every "* N FETCH (...)" line of an answer; other lines are ignored. Corruption if one is
// malformed or holds a literal.
Result<std::vector<FetchedAttributes>> parseFetchResponse(std::string_view response);

// An INTERNALDATE such as "17-Jul-1996 02:44:25 -0700" (the day may be space-padded).
Result<TimeMs> parseInternalDate(std::string_view text);

// The password in a password file's contents: one trailing "\n" or "\r\n" is dropped.
// InvalidArgument if it is empty or still holds a line break or a NUL.
Result<std::string> passwordFromFileContents(std::string contents);

}  // namespace seqd::imap
