// Records: what the engine asks the store to write, and what the store hands back at start.
//
// The engine never touches LMDB; every state change comes out of it as a value in a
// WriteBatch, which the engine thread commits in one write transaction (group commit)
// before anything that depends on it is acknowledged or delivered.
//
//  - contacts:    upserts, keyed by contact key (random-key writes; imports are rare).
//  - enrollments: snapshots, keyed by EnrollmentId (written when a command changes one).
//  - progress:    the append-only log of fired steps, delivery results and created tasks
//                 (a task's id is the seq of its kTaskCreated record), keyed by a
//                 monotonically increasing u64 `seq` (written with MDB_APPEND: millions/s).
//  - sequences:   which sequences are active.
//  - clock_ms:    the last committed clock reading (virtual time never moves backwards).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/contact.hpp"
#include "engine/enrollment.hpp"
#include "engine/time.hpp"

namespace seqd {

enum class ProgressKind : std::uint8_t {
  kStepFired = 1,       // the step ran (an email handed to delivery, or a task created)
  kDelivered = 2,       // the email was delivered
  kDeliveryFailed = 3,  // delivery failed; detail says why
  kTaskCreated = 4,     // a manual step's task was created; detail is its owner; seq is its id
};

struct ProgressRecord {
  std::uint64_t seq = 0;  // > 0, strictly increasing across the log
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  ProgressKind kind = ProgressKind::kStepFired;
  TimeMs at_ms = 0;
  std::string mailbox;
  std::string message_id;
  std::string detail;
};

struct SequenceState {
  std::string sequence_id;
  bool active = false;
};

struct WriteBatch {
  std::vector<Contact> contacts;
  std::vector<Enrollment> enrollments;
  std::vector<ProgressRecord> progress;  // in increasing seq order
  std::vector<SequenceState> sequences;
  std::optional<TimeMs> clock_ms;

  std::size_t recordCount() const {
    return contacts.size() + enrollments.size() + progress.size() + sequences.size() +
           (clock_ms ? 1 : 0);
  }
  bool empty() const {
    return contacts.empty() && enrollments.empty() && progress.empty() && sequences.empty() &&
           !clock_ms.has_value();
  }
  void clear() { *this = WriteBatch(); }
};

// Splits a batch into batches of at most records_max records each, keeping every list's
// order and putting contacts and sequences before the enrollments that name them, and the
// clock in the last one. A restart after a crash between two of them sees a prefix, which
// replays consistently: each snapshot carries the log position it includes.
// REQUIRES: records_max > 0.
std::vector<WriteBatch> splitBatch(WriteBatch batch, std::size_t records_max);

// Everything a restart needs, as read back from the store.
struct LoadedState {
  std::vector<Contact> contacts;
  std::vector<Enrollment> enrollments;
  std::vector<ProgressRecord> progress;  // the whole log, in seq order
  std::vector<SequenceState> sequences;
  std::optional<TimeMs> clock_ms;
};

}  // namespace seqd
