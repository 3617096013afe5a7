// Delivery intents and results: what the engine hands to the delivery workers, and what
// comes back.
//
// The engine decides an intent when the step falls due (mailbox, variant, Message-ID, the
// templates checked) and keeps it queued; the worker that takes it renders the message
// (engine/render.hpp: MessageRenderer, renderMessage) from the immutable snapshots it holds.
// takeIntents()
// releases queued intents as delivery has room, appending each one's kStepFired record to
// the batch. The daemon hands intents to the workers only after that batch committed, so a
// crash never leaves a sent email without its record, and a crash never marks a send that
// was still queued (never attempted) as uncertain: only released ones can be.
//
// Thread-safety: plain values, plus shared pointers to immutable snapshots (a contact as it
// was when its step fired, the configuration's compiled templates) that any thread may read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/enrollment.hpp"
#include "engine/mailbox.hpp"
#include "engine/packed_contact.hpp"
#include "engine/time.hpp"

namespace seqd {

struct RenderSettings;
struct RenderSequence;
struct RenderSender;

struct DeliveryIntent {
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  std::string mailbox;  // from address
  Transport transport = Transport::kMaildir;
  std::string recipient;
  std::string message_id;
  // What the message is rendered from: all decided on the engine thread, all immutable.
  TimeMs fired_at_ms = 0;  // the Date header
  int variant = -1;        // the step's A/B variant; -1: its own text
  ContactRef contact;      // as it was when the step fired
  // The configuration the step fired under; kept alive by this intent across a reload.
  std::shared_ptr<const RenderSettings> render;
  const RenderSequence* sequence = nullptr;  // inside *render
  const RenderSender* sender = nullptr;      // inside *render
  // Handed out again by a restart (Engine::restoreSend): released before, so it may have
  // landed already. A kReturned result carries it back (DeliveryResult::redelivery).
  bool redelivery = false;
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
  // kReturned only: the intent returned was a redelivery (DeliveryIntent::redelivery). Its
  // return says nothing of the try before it, which may have landed.
  bool redelivery = false;
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
static_assert(kDeliveryRetriesMax < kDeliveryFailuresMax);

}  // namespace seqd
