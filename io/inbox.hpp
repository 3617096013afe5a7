// Inboxes: where a sending mailbox's incoming mail (replies, auto-replies, bounces) is read
// from, as configured by its `inbox:` (config/config.hpp, InboxSettings): a Maildir the
// local MTA delivers to, or an IMAP folder read through libcurl.
//
// A source lists the messages seqd has not handled yet and marks one once its outcome is
// committed; a message is never deleted. Marking is a convenience (so a poll does not read
// the same message again): what makes a message count once is the engine's record of its
// Message-ID, committed with the change it made.
//   - Maildir: reads `new/`; handling moves a message to `cur/` as `NAME:2,` (no flags: a
//     person reading that Maildir still sees it unread). A message that needs no action is
//     left in `new/` untouched.
//   - IMAP: `UID SEARCH UNKEYWORD $SeqdHandled`, `UID FETCH`, and handling sets the keyword
//     `$SeqdHandled` (never \Seen).
//
// Thread-safety: a source is used by one thread at a time (the inbox poller).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/status.hpp"
#include "engine/time.hpp"

namespace seqd {

// A message as read from an inbox.
struct InboxItem {
  std::string id;      // the source's name for it: a Maildir file name, an IMAP UID
  std::string raw;     // the RFC 5322 bytes
  TimeMs received_ms;  // when it arrived (file mtime, IMAP INTERNALDATE), or 0 if unknown
};

inline constexpr std::size_t kInboxItemBytesMax = 10 * 1024 * 1024;

class InboxSource {
 public:
  virtual ~InboxSource() = default;
  // Up to max_items messages not handled yet, oldest first. Messages over
  // kInboxItemBytesMax come with raw empty (the classifier leaves them alone).
  virtual Result<std::vector<InboxItem>> fetch(std::size_t max_items) = 0;
  // Marks a message handled: fetch() does not return it again.
  virtual Status markHandled(const std::string& id) = 0;
  // Where it reads, for logs: "maildir /var/mail/alice", "imap imaps://host/INBOX".
  virtual std::string describe() const = 0;
};

// The source for a mailbox's inbox settings.
std::unique_ptr<InboxSource> openInboxSource(const InboxSettings& settings);
std::unique_ptr<InboxSource> openMaildirInbox(const std::string& dir);
std::unique_ptr<InboxSource> openImapInbox(const InboxSettings& settings);

}  // namespace seqd
