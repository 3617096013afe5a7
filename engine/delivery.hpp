// Delivery intents and results: what the engine hands to the delivery workers, and what
// comes back.
//
// An intent is produced only after the step's kStepFired record is in the batch; the daemon
// hands intents to the workers only after that batch has committed, so a crash can never
// leave a sent email without its record.
//
// Thread-safety: plain values.
#pragma once

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

enum class DeliveryOutcome : std::uint8_t { kDelivered, kFailedTemporary, kFailedPermanent };

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

// Temporary failures (SMTP 4xx, a Maildir write error) are retried this many times, after
// these delays, before the contact goes `not_sent`.
inline constexpr int kDeliveryRetriesMax = 3;
inline constexpr DurationMs kDeliveryRetryDelaysMs[kDeliveryRetriesMax] = {
    5 * kMinuteMs, 30 * kMinuteMs, 2 * kHourMs};

}  // namespace seqd
