// Enrollment: one contact in one sequence, and where it stands.
//
// The engine owns every Enrollment; the store keeps a snapshot of each (written when a
// command changes it) plus an append-only progress log of fired steps. The snapshot records
// the last log sequence number it already includes (`progress_seq`), so a restart loads the
// snapshot and replays only the log records after it.
//
// Invariants: step_index <= steps in the sequence; a `finished` enrollment with reason
// `completed` has step_index == steps; status kScheduled with a sequence that is active has
// next_at_ms set and sits on the timer wheel.
//
// Thread-safety: plain value, owned by the engine thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/time.hpp"

namespace seqd {

using EnrollmentId = std::uint32_t;
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

const char* enrollmentStatusName(EnrollmentStatus status);
// Returns false when name is not a status name.
bool parseEnrollmentStatus(const std::string& name, EnrollmentStatus& status);

struct Enrollment {
  EnrollmentId id = 0;
  std::string sequence_id;
  std::string contact_key;
  EnrollmentStatus status = EnrollmentStatus::kScheduled;
  std::uint32_t step_index = 0;  // the next step to run (== steps when all are done)
  TimeMs added_at_ms = kNoTime;
  TimeMs next_at_ms = kNoTime;       // when the next step is due; kNoTime: not yet known
  TimeMs last_done_at_ms = kNoTime;  // when the previous step was done
  std::string paused_reason;         // manual | ooo
  TimeMs resume_at_ms = kNoTime;
  std::string finish_reason;  // completed | replied | ... | manual:<text>
  std::string not_sent_reason;
  std::vector<std::string> mailboxes;  // send-from set; empty: the sequence's
  std::string last_mailbox;            // mailbox of the last email sent
  std::string last_message_id;         // Message-ID of the last email sent (for threading)
  std::uint64_t progress_seq = 0;      // the last progress-log record this snapshot includes
};

}  // namespace seqd
