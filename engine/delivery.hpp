// Delivery intents and results: what the engine hands to the delivery workers, and what
// comes back.
//
// The engine renders an intent when the step falls due and keeps it queued; takeIntents()
// releases queued intents as delivery has room, appending each one's kStepFired record to
// the batch. The daemon hands intents to the workers only after that batch committed, so a
// crash never leaves a sent email without its record, and a crash never marks a send that
// was still queued (never attempted) as uncertain: only released ones can be.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>

#include "engine/enrollment.hpp"
#include "engine/mailbox.hpp"
#include "engine/time.hpp"

namespace seqd {

struct DeliveryIntent {
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  std::string mailbox;  // from address
  Transport transport = Transport::kMaildir;
  std::string recipient;
  std::string message_id;
  std::string message;  // the whole RFC 5322 message, '\n' line endings
};

// kReturned: the intent was never attempted (seqd was stopping) and goes back to the engine.
enum class DeliveryOutcome : std::uint8_t {
  kDelivered,
  kFailedTemporary,
  kFailedPermanent,
  kReturned
};

struct DeliveryResult {
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  std::string message_id;
  DeliveryOutcome outcome = DeliveryOutcome::kDelivered;
  std::string detail;  // why it failed
  Transport transport = Transport::kMaildir;
  // The whole message went out but no final reply came (SMTP, RFC 1047): it may have been
  // delivered, so it is never retried automatically. outcome is kFailedTemporary then.
  bool maybe_delivered = false;
};

// How many intents delivery can take now, by kind of transport. SMTP sends are not
// idempotent: keeping at most about one per worker released means a crash leaves at most
// that many uncertain. Maildir and discard deliveries are idempotent and may queue deeper.
struct DeliverySlots {
  std::size_t smtp = SIZE_MAX;
  std::size_t idempotent = SIZE_MAX;
};

inline bool isIdempotent(Transport transport) { return transport != Transport::kSmtp; }

// Temporary failures (SMTP 4xx, a Maildir write error) are retried this many times, after
// these delays, before the contact goes `not_sent`.
inline constexpr int kDeliveryRetriesMax = 3;
inline constexpr DurationMs kDeliveryRetryDelaysMs[kDeliveryRetriesMax] = {
    5 * kMinuteMs, 30 * kMinuteMs, 2 * kHourMs};

}  // namespace seqd
