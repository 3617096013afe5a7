#include "daemon/inbox_poller.hpp"

#include <cstdio>

#include "daemon/log.hpp"
#include "engine/contact.hpp"

namespace seqd {

InboxPoller::InboxPoller(const std::vector<InboxSettings>& inboxes) {
  initInboundMailParser();
  for (const InboxSettings& settings : inboxes) {
    sources_.push_back(Source{settings.mailbox, openInboxSource(settings), {}});
  }
}

std::vector<PolledMessage> InboxPoller::readAll() {
  std::vector<PolledMessage> polled;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    Source& source = sources_[i];
    Result<std::vector<InboxItem>> items =
        source.inbox->fetch(kInboxPollItemsMax + source.left_alone.size());
    if (!items.isOk()) {
      logWarning("inbox of " + source.mailbox + " (" + source.inbox->describe() +
                 ") not read: " + items.status().message());
      continue;
    }
    std::size_t taken = 0;
    for (InboxItem& item : items.value()) {
      if (source.left_alone.count(item.id) > 0) continue;
      if (taken++ >= kInboxPollItemsMax) break;
      PolledMessage message;
      message.source = i;
      message.item_id = item.id;
      message.mailbox = source.mailbox;
      message.received_ms = item.received_ms;
      message.mail = classifyInboundMail(item.raw, item.received_ms);
      if (!message.mail.message_id.empty()) {
        message.dedupe_id = message.mail.message_id;
      } else {
        char digest[32];
        std::snprintf(digest, sizeof digest, "%016llx",
                      static_cast<unsigned long long>(fnv1a64(item.raw)));
        message.dedupe_id = std::string("<digest.") + digest + "@seqd.invalid>";
      }
      polled.push_back(std::move(message));
    }
  }
  return polled;
}

void InboxPoller::markHandled(const std::vector<PolledMessage>& messages) {
  for (const PolledMessage& message : messages) {
    Source& source = sources_[message.source];
    if (!message.handled) {
      source.left_alone.insert(message.item_id);
      continue;
    }
    Status marked = source.inbox->markHandled(message.item_id);
    if (!marked.isOk()) {
      // It is read again at the next poll, and the engine knows it was applied.
      logWarning("inbox of " + source.mailbox + ": " + marked.message());
    }
  }
}

std::optional<InboundMessage> inboundMessageOf(const PolledMessage& polled) {
  InboundMessage message;
  message.mailbox = polled.mailbox;
  message.message_id = polled.dedupe_id;
  message.from_address = polled.mail.from_address;
  message.referenced_ids = polled.mail.referenced_ids;
  message.why = polled.mail.why;
  switch (polled.mail.kind) {
    case InboundMail::Kind::kReply:
      message.kind = InboundKind::kReply;
      break;
    case InboundMail::Kind::kAutoReply:
      message.kind = InboundKind::kAutoReply;
      message.return_date = polled.mail.return_date;
      break;
    case InboundMail::Kind::kUnsubscribe:
      message.kind = InboundKind::kUnsubscribe;
      break;
    case InboundMail::Kind::kBounce:
      message.kind = InboundKind::kBounce;
      // The email that bounced, else its recipient.
      message.referenced_ids = polled.mail.original_ids;
      message.from_address = polled.mail.recipient;
      break;
    case InboundMail::Kind::kDelay:
    case InboundMail::Kind::kOther:
      return std::nullopt;
  }
  return message;
}

}  // namespace seqd
