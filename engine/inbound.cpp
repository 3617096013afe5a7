// Messages from the sending mailboxes' inboxes, classified by io/ (engine/commands.hpp,
// InboundMessage): which contact and sequence each one is about, and the event it means.
//
// A reply, auto-reply or unsubscribe names the email it answers in In-Reply-To/References,
// and seqd's Message-IDs are a function of (sequence, step, contact, mailbox), so the
// contact and sequence follow from it; otherwise the sender's address is looked up among the
// contacts with a live enrollment that sends from that mailbox. A bounce names the original
// email the same way (or its failed recipient). Each message is applied once: its
// Message-ID is recorded (a kInbound progress record, in the same commit as the change it
// made), so a crash or a second poll never applies it again.
#include <algorithm>
#include <array>

#include "engine/engine.hpp"
#include "engine/message.hpp"

namespace seqd {
namespace {

const char* inboundKindName(InboundKind kind) {
  switch (kind) {
    case InboundKind::kReply:
      return "reply";
    case InboundKind::kAutoReply:
      return "auto_reply";
    case InboundKind::kBounce:
      return "bounce";
    case InboundKind::kUnsubscribe:
      return "unsubscribe";
  }
  return "reply";
}

// "<seq.step.0123456789abcdef@domain>" -> the contact-key hash and the domain; false when
// the id is not of that shape.
bool splitSentMessageId(const std::string& id, std::uint64_t& hash, std::string& domain) {
  if (id.size() < 20 || id.front() != '<' || id.back() != '>') return false;
  const std::size_t at = id.rfind('@');
  if (at == std::string::npos || at < 17) return false;
  const std::string hex = id.substr(at - 16, 16);
  if (id[at - 17] != '.') return false;
  hash = 0;
  for (char c : hex) {
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return false;
    hash = hash * 16 + static_cast<std::uint64_t>(digit);
  }
  domain = id.substr(at + 1, id.size() - at - 2);
  return !domain.empty();
}

}  // namespace

std::uint64_t Engine::keyHashOf(std::uint32_t index) const {
  return fnv1a64(contacts_[index]->key());
}

std::uint64_t Engine::emailHashOf(std::uint32_t index) const {
  return fnv1a64Lower(contacts_[index]->email());
}

// Once, at the first inbound message: every contact in both indexes. Kept up to date after
// (reindexContactForInbound). The contacts are hashed kBuildAhead ahead of their inserts and
// the slots those probe first prefetched: each is a cache miss in a table of tens of MB, and
// they overlap instead of coming one after another.
void Engine::indexContactsForInbound() const {
  if (inbound_index_built_) return;
  const auto key_hash = [this](std::uint32_t index) { return keyHashOf(index); };
  const auto email_hash = [this](std::uint32_t index) { return emailHashOf(index); };
  contacts_by_key_hash_.reserve(contact_count_, key_hash);
  contacts_by_email_.reserve(contact_count_, email_hash);
  struct Hashed {
    std::uint32_t index;
    bool has_email;
    std::uint64_t key;
    std::uint64_t email;
  };
  constexpr std::size_t kBuildAhead = 16;
  std::array<Hashed, kBuildAhead> ahead{};
  std::size_t first = 0;
  std::size_t waiting = 0;
  const auto insertFirst = [&] {
    const Hashed& hashed = ahead[first];
    contacts_by_key_hash_.insert(hashed.index, hashed.key, key_hash);
    if (hashed.has_email) contacts_by_email_.insert(hashed.index, hashed.email, email_hash);
    first = (first + 1) % kBuildAhead;
    --waiting;
  };
  for (std::uint32_t index = 0; index < contacts_.size(); ++index) {
    const PackedContact* contact = contacts_[index].get();
    if (contact == nullptr) continue;
    const bool has_email = !contact->email().empty();
    const Hashed hashed{index, has_email, keyHashOf(index), has_email ? emailHashOf(index) : 0};
    contacts_by_key_hash_.prefetch(hashed.key);
    if (has_email) contacts_by_email_.prefetch(hashed.email);
    if (waiting == kBuildAhead) insertFirst();
    ahead[(first + waiting) % kBuildAhead] = hashed;
    ++waiting;
  }
  while (waiting > 0) insertFirst();
  inbound_index_built_ = true;
}

// A contact's key never changes (another key is another contact): it is indexed once. Its
// email may: indexed again under the new one's hash.
void Engine::reindexContactForInbound(std::uint32_t index, const PackedContact* before) {
  const auto key_hash = [this](std::uint32_t at) { return keyHashOf(at); };
  const auto email_hash = [this](std::uint32_t at) { return emailHashOf(at); };
  if (before == nullptr) contacts_by_key_hash_.insert(index, keyHashOf(index), key_hash);
  const std::string_view email = contacts_[index]->email();
  const bool had_email = before != nullptr && !before->email().empty();
  const std::uint64_t old_hash = had_email ? fnv1a64Lower(before->email()) : 0;
  const std::uint64_t new_hash = email.empty() ? 0 : emailHashOf(index);
  if (had_email && !email.empty() && old_hash == new_hash) return;
  if (had_email) contacts_by_email_.erase(index, old_hash, email_hash);
  if (!email.empty()) contacts_by_email_.insert(index, new_hash, email_hash);
}

// The enrollment whose email has this Message-ID: its contact's hash, then its sequence and
// step recomputed exactly.
const Enrollment* Engine::findSentMessage(const std::string& message_id) const {
  std::uint64_t hash = 0;
  std::string domain;
  if (!splitSentMessageId(message_id, hash, domain)) return nullptr;
  indexContactsForInbound();
  const std::string any_address = "x@" + domain;
  // The email's step may have been removed by a reload since: the Message-ID's first part
  // still names its sequence, and the contact's enrollment there is the one it answers. The
  // first such enrollment is remembered on the way; an exact step match anywhere wins over it.
  const std::string_view sequence_part =
      std::string_view(message_id).substr(0, message_id.find('.') + 1);
  const Enrollment* same_sequence = nullptr;
  for (std::uint32_t index :
       contacts_by_key_hash_.find(hash, [this](std::uint32_t at) { return keyHashOf(at); })) {
    const Symbol contact_key = contacts_[index]->keySymbol();
    const std::string_view key = contact_key.view();
    for (EnrollmentId id : contactEnrollmentsBySymbol(contact_key)) {
      const Sequence* sequence = sequenceOf(enrollments_[id]);
      if (sequence == nullptr) continue;
      for (const Step& step : sequence->steps) {
        if (makeMessageId(sequence->id, step.id, key, any_address) == message_id) {
          return &enrollments_[id];
        }
      }
      if (same_sequence == nullptr &&
          makeMessageId(sequence->id, "-", key, any_address).starts_with(sequence_part)) {
        same_sequence = &enrollments_[id];
      }
    }
  }
  return same_sequence;
}

// The contact a message from `address` to `mailbox` is about: one with that email and a
// live enrollment sending from that mailbox, else one with that email that was ever sent
// from it.
const Enrollment* Engine::findBySender(const std::string& address,
                                       const std::string& mailbox) const {
  indexContactsForInbound();
  const std::string lower_address = toLowerAscii(address);
  const Enrollment* fallback = nullptr;
  for (std::uint32_t index : contacts_by_email_.find(
           fnv1a64(lower_address), [this](std::uint32_t at) { return emailHashOf(at); })) {
    const PackedContact* contact = contacts_[index].get();
    const Symbol key = contact->keySymbol();
    if (toLowerAscii(contact->email()) != lower_address) continue;
    for (EnrollmentId id : contactEnrollments(key)) {
      const Enrollment& enrollment = enrollments_[id];
      const Sequence* sequence = sequenceOf(enrollment);
      bool from_mailbox = enrollment.last_mailbox == mailbox;
      const SymbolList& own = extrasOf(enrollment).mailboxes;
      if (!own.empty() || sequence == nullptr) {
        std::optional<Symbol> symbol = Symbol::find(mailbox);
        from_mailbox = from_mailbox || (symbol && own.contains(*symbol));
      } else {
        from_mailbox = from_mailbox ||
                       std::find(sequence->mailboxes.begin(), sequence->mailboxes.end(), mailbox) !=
                           sequence->mailboxes.end();
      }
      if (!from_mailbox) continue;
      if (isLive(enrollment.status)) return &enrollment;
      if (fallback == nullptr) fallback = &enrollment;
    }
  }
  return fallback;
}

Result<InboundResult> Engine::applyInbound(const InboundMessage& message, TimeMs now_ms) {
  InboundResult result;
  if (!message.message_id.empty() && inbound_applied_.count(message.message_id) > 0) {
    result.duplicate = true;
    result.action = "applied before";
    return result;
  }
  const Enrollment* answered = nullptr;
  for (const std::string& id : message.referenced_ids) {
    answered = findSentMessage(id);
    if (answered != nullptr) break;
  }
  if (answered == nullptr && !message.from_address.empty()) {
    answered = findBySender(message.from_address, message.mailbox);
  }
  if (answered == nullptr) {
    result.action = "no contact";
    return result;
  }
  const EnrollmentId matched = answered->id;
  const std::string contact_key = answered->contact_key;
  result.contact = contact_key;
  result.sequence = answered->sequence_id;

  ContactEvent event;
  event.contact = contact_key;
  std::string verb;
  switch (message.kind) {
    case InboundKind::kReply:
      event.kind = EventKind::kReply;
      verb = "finished: replied";
      break;
    case InboundKind::kAutoReply: {
      event.kind = EventKind::kOoo;
      if (message.return_date) {
        const PackedContact* contact = findContact(contact_key);
        const ZoneId zone = contact == nullptr || contact->timezone().empty()
                                ? kNoZone
                                : calendar_.findZone(contact->timezone());
        event.until_ms = calendar_.startOfDay(zone, *message.return_date);
        verb = "paused: out of office until " + formatLocalDate(*message.return_date);
      } else {
        verb = "paused: out of office, no return date";
      }
      break;
    }
    case InboundKind::kBounce:
      event.kind = EventKind::kBounce;
      event.sequence_id = answered->sequence_id;  // the sequence whose email bounced
      verb = "bounced";
      break;
    case InboundKind::kUnsubscribe:
      event.kind = EventKind::kUnsubscribe;
      verb = "finished: unsubscribed";
      break;
  }
  Result<EventResult> applied = applyEvent(event, now_ms);
  if (!applied.isOk()) return applied.status();
  result.changed = applied.value().changed;
  result.action = result.changed.empty() ? "no change" : verb;

  const std::string detail = std::string(inboundKindName(message.kind)) + ": " + result.action;
  ProgressRecord& record =
      appendProgress(ProgressKind::kInbound, matched, enrollments_[matched].step_index, now_ms);
  record.mailbox = message.mailbox;
  record.message_id = message.message_id;
  record.detail = detail;
  noteInbound(record);
  for (const auto& [sequence_id, status] : result.changed) {
    if (const Enrollment* changed = findPair(sequence_id, contact_key)) {
      inbound_notes_[changed->id] = {message.message_id, now_ms, detail};
      if (changed->status == EnrollmentStatus::kBounced) {
        enrollments_[changed->id].not_sent_reason = "bounce_notice";  // saved by applyEvent
      }
    }
  }
  return result;
}

// Remembers an applied inbound message (live, and from the log at a restart).
void Engine::noteInbound(const ProgressRecord& record) {
  if (record.kind != ProgressKind::kInbound) return;
  if (!record.message_id.empty()) {
    auto [applied, inserted] = inbound_applied_.insert(record.message_id);
    if (inserted) inbound_applied_order_.emplace_back(record.at_ms, &*applied);
  }
  inbound_notes_[record.enrollment_id] = {record.message_id, record.at_ms, record.detail};
  const TimeMs keep_from_ms = record.at_ms - settings_.inbound_keep_ms;
  while (!inbound_applied_order_.empty() && inbound_applied_order_.front().first < keep_from_ms) {
    inbound_applied_.erase(inbound_applied_.find(*inbound_applied_order_.front().second));
    inbound_applied_order_.pop_front();
  }
}

}  // namespace seqd
