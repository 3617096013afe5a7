// Enrollment: one contact in one sequence, and where it stands.
//
// The engine owns every Enrollment; the store keeps a snapshot of each, written in the same
// commit as every change to it, so a restart loads the snapshots as they are. The progress
// log beside them is history (its last day: the sends for the rolling limits), not replayed
// into the snapshots; tasks and applied inbox messages have tables of their own
// (engine/records.hpp, "History").
//
// Progress is kept by step id (`done_steps`), never by position: editing a sequence and
// reloading cannot make a done step run again. `step_index` is the position of the current
// step in the sequence as loaded now, recomputed when the sequence changes.
//
// At most one email per enrollment is out at a time (`sending`, its SendOut). While it is out
// the enrollment waits for its result (status active) unless an operator stopped it; the
// result changes the enrollment only while it still waits on that very send
// (engine/engine.hpp has the whole state table). A few thousand of ten million rows have one
// out at any time, so the row holds only the bit: the engine keeps each SendOut in a side
// table by enrollment id, and the store writes the two together (EnrollmentRecord). What
// few rows have besides (EnrollmentExtras) lives beside the row the same way.
//
// Invariants: step_index <= steps in the sequence; a `finished` enrollment with reason
// `completed` has every step done; status kScheduled with a sequence that is active has
// next_at_ms set and sits on the timer wheel; `sending` is set exactly when the engine holds
// a SendOut for the row.
//
// Thread-safety: plain value, owned by the engine thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/symbol.hpp"
#include "engine/symbol_list.hpp"
#include "engine/time.hpp"

namespace seqd {

using EnrollmentId = std::uint32_t;
inline constexpr EnrollmentId kNoEnrollment = UINT32_MAX;  // no such enrollment: a list's end
inline constexpr TimeMs kNoTime = INT64_MIN;

enum class EnrollmentStatus : std::uint8_t {
  kScheduled = 0,
  kActive = 1,
  kPaused = 2,
  kFinished = 3,
  kBounced = 4,
  kNotSent = 5,
  kRemoved = 6,
};
inline constexpr std::size_t kEnrollmentStatusCount = 7;

const char* enrollmentStatusName(EnrollmentStatus status);
// Returns false when name is not a status name.
bool parseEnrollmentStatus(const std::string& name, EnrollmentStatus& status);

// Why a paused enrollment is paused: an operator's `pause` or an out-of-office reply. Held in
// a byte; its SPEC name ("manual", "ooo") is pauseReasonName()'s.
enum class PauseReason : std::uint8_t { kNone = 0, kManual = 1, kOoo = 2 };

// "" for kNone.
const char* pauseReasonName(PauseReason reason);
// Returns false when name is not "", "manual" or "ooo".
bool parsePauseReason(std::string_view name, PauseReason& reason);

// The most consecutive temporary failures delivery_failures counts (engine/delivery.hpp's
// kDeliveryRetriesMax is checked against it).
inline constexpr int kDeliveryFailuresMax = 127;

struct Enrollment {
  EnrollmentId id = 0;
  EnrollmentStatus status = EnrollmentStatus::kScheduled;
  PauseReason paused_reason = PauseReason::kNone;
  std::uint8_t delivery_failures : 7 = 0;  // consecutive temporary failures of the current step
  bool sending : 1 = false;                // an email is out for delivery: see SendOut
  // The next step to run (== steps when all are done): a byte, as a sequence has at most
  // kSequenceStepsMax steps (engine/sequence.hpp).
  std::uint8_t step_index = 0;
  // Strings drawn from bounded sets are Symbols (engine/symbol.hpp): 4 bytes each here.
  Symbol sequence_id;
  Symbol contact_key;
  Symbol finish_reason;    // completed | replied | ... | manual:<text>
  Symbol not_sent_reason;  // also why a `bounced` one bounced (smtp_5NN, bounce_event, ...)
  Symbol last_mailbox;     // mailbox of the last email sent
  // Lists drawn from bounded sets are interned too (engine/symbol_list.hpp): 4 bytes each.
  SymbolList done_steps;  // ids of the steps done, in the order done
  // When the wait before the next step starts: when the last step was done (the latest of
  // them), or, while no step is done, when the enrollment was added. One time for the two,
  // since the add's time is read only until a step is done (lastDoneAt() tells them apart).
  TimeMs waits_from_ms = kNoTime;
  TimeMs next_at_ms = kNoTime;  // when the next step is due; kNoTime: not yet known
  // What few rows have (their own send-from mailboxes, steps left unresolved, an auto-resume
  // time) is kept beside the row: EnrollmentExtras.
};

// The row is fixed-width and holds no heap block: millions are kept in one vector, copied by
// value into store batches and status snapshots. Every byte counts ten million times: a
// member only some rows need belongs in a side table, and the small counts are bytes.
static_assert(std::is_trivially_copyable_v<Enrollment>);
static_assert(sizeof(Enrollment) <= 48);

// The members of an enrollment that few rows need, kept beside the row: the engine holds them
// in a side table by enrollment id, only for rows that have any, and the store writes them
// with the row (EnrollmentRecord). Each is kept as the row's until changed, whatever its
// status (a removed contact added again resumes paused, with its mailboxes).
struct EnrollmentExtras {
  SymbolList mailboxes;  // send-from set; empty (usual): the sequence's
  // Steps whose send bounced or may have gone out: reaching such a step again (resume,
  // remove + add, a reload) stops at `bounced` or `not_sent: interrupted` instead of
  // sending. A `retry` on that step clears it.
  SymbolMap unresolved;  // step id -> bounced | interrupted
  // When a paused enrollment resumes by itself (`seqctl pause --until`, an out-of-office
  // reply); kNoTime: not by itself. Read only while the row is paused.
  TimeMs resume_at_ms = kNoTime;

  bool empty() const { return mailboxes.empty() && unresolved.empty() && resume_at_ms == kNoTime; }
  bool operator==(const EnrollmentExtras&) const = default;
};

// The email an enrollment has out for delivery: its step, mailbox and when it was fired (its
// Message-ID is sendingMessageId()). `released` is set once the send was handed to delivery
// (its kStepFired record committed); before that it is only queued inside the engine and a
// crash simply queues it again. An empty step: none out.
struct SendOut {
  Symbol step;
  Symbol mailbox;
  TimeMs at_ms = kNoTime;
  bool released = false;

  bool operator==(const SendOut&) const = default;
};

// An enrollment as the store writes and reads it: the row, the send it has out (`send`
// empty exactly when `row.sending` is not set; the encoder refuses a record where they
// disagree) and its extras.
struct EnrollmentRecord {
  EnrollmentRecord() = default;
  // A row with no send out and no extras, as most are.
  EnrollmentRecord(const Enrollment& row) : row(row) {}  // NOLINT: implicit by design
  EnrollmentRecord(const Enrollment& row, const SendOut& send,
                   const EnrollmentExtras& extras = EnrollmentExtras())
      : row(row), send(send), extras(extras) {}

  Enrollment row;
  SendOut send;
  EnrollmentExtras extras;
};

// When the enrollment's last step was done; kNoTime while none is.
inline TimeMs lastDoneAt(const Enrollment& enrollment) {
  return enrollment.done_steps.empty() ? kNoTime : enrollment.waits_from_ms;
}

// The Message-ID of the email `send` (the enrollment's, out for delivery; "" when its step is
// empty): a pure function of (sequence, step, contact, mailbox), engine/message.hpp's
// makeMessageId.
std::string sendingMessageId(const Enrollment& enrollment, const SendOut& send);

// True for scheduled, active and paused: an enrollment that has not stopped for good.
bool isLive(EnrollmentStatus status);

// True when the step id is among the enrollment's done steps.
bool isStepDone(const Enrollment& enrollment, const std::string& step_id);
// The same for a step id already interned (a Step's id): no lookup in the Symbol table.
bool isStepDone(const Enrollment& enrollment, Symbol step_id);

}  // namespace seqd
