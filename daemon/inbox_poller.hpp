// Inbox poller: reads every sending mailbox's inbox (io/inbox.hpp), classifies each new
// message (io/inbound_mail.hpp, GMime) off the engine thread, and hands the runtime what it
// found. The runtime applies the messages on the engine thread (Engine::applyInbound),
// commits, and only then are they marked handled in their inbox, so a crash between the two
// reads them again and the engine, which recorded their Message-IDs in that commit, applies
// none of them twice.
//
// On the real clock a thread polls every `inbox_poll`; under --virtual-time nothing runs by
// itself and the runtime polls once at each `time advance`/`time set`, before the clock moves.
//
// Thread-safety: readAll() and markHandled() run on one thread at a time (the poller thread,
// or the engine thread under virtual time).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/commands.hpp"
#include "io/inbound_mail.hpp"
#include "io/inbox.hpp"

namespace seqd {

// Messages read in one poll, at most this many per inbox.
inline constexpr std::size_t kInboxPollItemsMax = 500;

// One message as read and classified.
struct PolledMessage {
  std::size_t source = 0;  // which inbox (index into the poller's sources)
  std::string item_id;     // its name in that inbox
  std::string mailbox;     // the sending mailbox the inbox belongs to
  TimeMs received_ms = 0;
  InboundMail mail;
  // What makes it count once: its Message-ID, or a digest of its bytes when it has none.
  std::string dedupe_id;
  // Set by the runtime once applied: mark it handled in its inbox after the commit.
  bool handled = false;
};

class InboxPoller {
 public:
  explicit InboxPoller(const std::vector<InboxSettings>& inboxes);

  bool empty() const { return sources_.empty(); }
  // Reads and classifies what every inbox holds that was not handled (nor seen by this
  // process and left alone). Errors are logged, per inbox, and that inbox is skipped.
  std::vector<PolledMessage> readAll();
  // Marks the messages with `handled` set in their inboxes; remembers the others so later
  // polls do not read them again.
  void markHandled(const std::vector<PolledMessage>& messages);

 private:
  struct Source {
    std::string mailbox;
    std::unique_ptr<InboxSource> inbox;
    std::set<std::string> left_alone;  // item ids read and left as they are
  };
  std::vector<Source> sources_;
};

// The engine's view of a classified message; nullopt for what seqd leaves alone (a delay,
// a mailing list, anything else).
std::optional<InboundMessage> inboundMessageOf(const PolledMessage& polled);

}  // namespace seqd
