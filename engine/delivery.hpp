// Delivery intents and results: what the engine hands to the delivery workers, and what
// comes back.
//
// The engine decides an intent when the step falls due (mailbox, variant, the templates
// checked) and keeps it queued; the worker that takes it renders the message
// (engine/render.hpp: MessageRenderer, renderMessage) from the immutable snapshots it holds.
// An intent is a small fixed-size value with no text of its own: the sender's address, the
// recipient and the Message-ID are read from (or, for the Message-ID, built from) the
// snapshots it points to, by the worker, off the engine thread.
//
// takeIntents() releases queued intents as delivery has room, appending each one's kStepFired
// record to the batch. The daemon hands intents to the workers only after that batch
// committed, so a crash never leaves a sent email without its record, and a crash never marks
// a send that was still queued (never attempted) as uncertain: only released ones can be.
//
// Thread-safety: plain values, plus shared pointers to immutable snapshots (a contact as it
// was when its step fired, the configuration's compiled templates) that any thread may read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/enrollment.hpp"
#include "engine/mailbox.hpp"
#include "engine/packed_contact.hpp"
#include "engine/symbol.hpp"
#include "engine/time.hpp"

namespace seqd {

struct RenderSettings;
struct RenderSequence;
struct RenderSender;

// Which of an enrollment's sends an intent is, as its result names it: the step and the
// mailbox it goes from (with the enrollment, what its Message-ID is a function of). The engine
// takes a result only for the send its enrollment has out; anything else is a stray. Symbols,
// so an engine built again from the store in the same process (after a refused commit) takes
// the late results of the sends it restored.
struct SendKey {
  Symbol step;
  Symbol mailbox;
  bool operator==(const SendKey&) const = default;
};

inline SendKey sendKeyOf(const SendOut& send) { return SendKey{send.step, send.mailbox}; }

struct DeliveryIntent {
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  SendKey send;
  Transport transport = Transport::kMaildir;
  // Handed out again by a restart (Engine::restoreSend): released before, so it may have
  // landed already. A kReturned result carries it back (DeliveryResult::redelivery).
  bool redelivery = false;
  int variant = -1;        // the step's A/B variant; -1: its own text
  TimeMs fired_at_ms = 0;  // the Date header
  // What the message is rendered from: all decided on the engine thread, all immutable.
  ContactRef contact;  // as it was when the step fired
  // The configuration the step fired under; kept alive by this intent across a reload.
  std::shared_ptr<const RenderSettings> render;
  const RenderSequence* sequence = nullptr;  // inside *render
  const RenderSender* sender = nullptr;      // inside *render

  // REQUIRES (the three): the intent came from the engine (contact, sequence and sender set).
  const std::string& mailbox() const;  // the from address
  std::string recipient() const;       // the contact's email (read on the SMTP path only)
  // The Message-ID: makeMessageId() of (sequence, step, contact key, from address).
  std::string messageId() const;
  // The same into `out` (cleared first): a worker's reused buffer.
  void messageIdTo(std::string& out) const;
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
  SendKey send;  // the intent's
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
