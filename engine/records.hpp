// Records: what the engine asks the store to write, and what the store hands back at start.
//
// The engine never touches LMDB; every state change comes out of it as a value in a
// WriteBatch, which is committed in ONE write transaction (group commit; on a committer
// thread, daemon/engine_start.hpp) before anything that depends on it is acknowledged or
// delivered. A batch is a value: nothing in it points into the engine's state. A batch is never
// split: the engine bounds a round's work instead, so no crash point can leave a record that names
// something never committed.
//
//  - contacts:    upserts, keyed by contact key (random-key writes; imports are rare).
//  - enrollments: a snapshot of every enrollment changed, in the commit of the change. The
//                 store appends them to a journal (MDB_APPEND: sequential, millions/s) rather
//                 than rewriting each one's row in place (a random 4 KB page per write).
//  - checkpoint:  the journal is folded into the enrollment table a slice per commit; see
//                 "Checkpoints" below.
//  - progress:    the append-only log of fired steps, delivery results and created tasks
//                 (a task's id is the seq of its kTaskCreated record), keyed by a
//                 monotonically increasing u64 `seq` (written with MDB_APPEND: millions/s).
//                 History, not state: the store deletes its oldest records once they are
//                 older than history_keep_from_ms (see "History" below).
//  - tasks:       upserts of every task changed (created, done, skipped, closed, reopened),
//                 in the commit of the change: the task queue as state.
//  - sequences:   which sequences are active.
//  - team:        list owners and members, and sequence shares (engine/team_records.hpp):
//                 upserts and deletes by key.
//  - clock_ms:    the last committed clock reading (virtual time never moves backwards).
//
// Checkpoints. The engine starts one when the journal has grown by enough snapshots
// (checkpoint_start), then writes the current snapshot of every enrollment changed since the
// previous start into the table, a bounded slice per batch in id order (checkpoint_rows), and
// ends it (checkpoint_finish). The store then drops the journal up to where that checkpoint
// started. A restart loads the table, then the journal entries after the last finished
// checkpoint's start, in order: an enrollment changed since then is found in that tail, one
// that was not was written to the table by that checkpoint, as it still is. So the journal
// holds about one checkpoint interval of snapshots, and a restart reads the table plus that.
//
// History. A restart needs three things the log used to be replayed for; each is kept as
// state instead, so the log can be truncated and a restart reads what is live, not all that
// ever happened:
//  - tasks: the tasks table (WriteBatch::tasks), loaded whole.
//  - inbound messages applied (their Message-IDs, never applied twice, and the last one per
//    enrollment that explain shows): the store copies every kInbound progress record into
//    its inbound table in the same commit, and keeps it while it is newer than
//    inbound_keep_from_ms (EngineSettings::inbound_keep_ms, 90 days: an inbox message read
//    again after its mark was lost comes back within minutes; one older than that is no
//    longer recognised as applied).
//  - the send limits' rolling windows (24 h): the kStepFired records of the last day. The
//    store deletes the log's oldest records, a bounded number per commit, while their at_ms
//    is before history_keep_from_ms (EngineSettings::history_keep_ms, 25 h, more than any
//    window). Only a prefix of the log is deleted, stopping at the first record still
//    needed (at_ms is not monotonic in seq: a send's at_ms is when it was decided), and
//    never the last record, so the last seq stays in the log.
//    A restart does not count that whole day again: the engine folds every kStepFired
//    record it appends into a governor of its own (the sends as the log has them), and
//    writes that governor's state (GovernorSnapshot, with the last seq it covers) in the
//    batch of the records it covers, once the log has grown past the last one by
//    kGovernorSnapshotRecordsMin records or by as many as the snapshot holds, whichever is
//    more, and at clean shutdown. A restart restores the snapshot and counts only the
//    records after it (the store does not even read the others), so it reads a bounded
//    number of records, not a day of them (1.2M at 200k contacts x 3 steps in a day). The
//    store then deletes the records the snapshot covers, however recent, as it deletes old
//    ones (a prefix, a bounded number per commit, never the last): the log holds about one
//    snapshot interval, not a day. A store without a snapshot (older, or converted) keeps
//    the day and restarts from it, as it did. (A seqd that did not know the snapshot would
//    count too few sends from such a log; it cannot read the records' formats either, and
//    refuses the store: io/record_codec.hpp.)
// `report` counts history (per-step sent, delivered, bounced, replied, ...) in counters of its
// own, written in the commit of the records that change them (engine/report.hpp): the log
// holds about the last day only.
//
// Thread-safety: plain values.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/contact.hpp"
#include "engine/enrollment.hpp"
#include "engine/enrollment_snapshots.hpp"
#include "engine/governor.hpp"
#include "engine/packed_contact.hpp"
#include "engine/task.hpp"
#include "engine/team_records.hpp"
#include "engine/time.hpp"

namespace seqd {

enum class ProgressKind : std::uint8_t {
  kStepFired = 1,       // an email was handed to delivery (mailbox, step_id); detail
                        // kRedeliveredDetail: a start handed the send out again, and its
                        // count against the limits moves to this record's at_ms
  kDelivered = 2,       // that email was delivered: the step is done
  kDeliveryFailed = 3,  // delivery failed; detail says why (temporary:, permanent:,
                        // interrupted:, returned:)
  kTaskCreated = 4,     // a manual step's task was created; detail is its owner; seq is its id
  kStepDone = 5,        // a step done without an email: detail task:completed, task:skipped
                        // (task_id set) or skipped:dnc
  kTaskClosed = 6,      // an open task closed by seqd (finish, remove); detail is why
  kTaskReopened = 7,    // a closed task opened again (the contact was added back)
  kInbound = 8,         // a message from a mailbox's inbox was applied to this contact:
                        // message_id is the inbound message's, mailbox its inbox, detail
                        // "<kind>: <what it did>"; never applied again
};

inline constexpr std::string_view kRedeliveredDetail = "redelivered";

struct ProgressRecord {
  std::uint64_t seq = 0;  // > 0, strictly increasing across the log
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  ProgressKind kind = ProgressKind::kStepFired;
  TimeMs at_ms = 0;
  // The ids below are Symbols (engine/symbol.hpp): bounded sets, so a record copies no text
  // and the store's encoder finds each one's code without hashing it.
  Symbol mailbox;
  // kInbound: the inbound message's. The records of a send (kStepFired, kDelivered,
  // kDeliveryFailed) leave it empty: the Message-ID is a pure function of the enrollment's
  // sequence and contact, step_id and mailbox (engine/message.hpp makeMessageId), and it was
  // ~45 of their ~130 bytes in the store. Records written before carry it.
  std::string message_id;
  std::string detail;
  Symbol step_id;             // the step, by id (step_index is where it stood then)
  std::uint64_t task_id = 0;  // kStepDone of a task, kTaskClosed, kTaskReopened
  // kStepFired, kDelivered, kDeliveryFailed: the id of the step's A/B variant the email was
  // rendered with; "" for a step without variants (and in records written before seqd kept it).
  Symbol variant;
};

struct SequenceState {
  std::string sequence_id;
  bool active = false;
};

// The send limits' counts as the log's kStepFired records up to through_seq build them
// (see "History"): a restart counts only the records after through_seq.
struct GovernorSnapshot {
  std::uint64_t through_seq = 0;
  std::vector<MailboxSendState> mailboxes;  // by address
  // The sends out at through_seq (a kStepFired record and no result yet), by enrollment id:
  // when each was counted. A result after through_seq that gives a count back needs it.
  std::vector<std::pair<EnrollmentId, TimeMs>> out;
  bool operator==(const GovernorSnapshot&) const = default;
};

// A per-commit bound on catch-up work (a checkpoint's slice, trims of what is no longer
// needed) sized by the commit's own work: `per` for each of the `appended` records it writes,
// at least `least` (or `most`, when that is smaller) and at most `most`. With per > 1 the
// catch-up outpaces what the commits add, and a small round carries a small share of it.
inline std::size_t boundByWork(std::size_t appended, std::size_t per, std::size_t least,
                               std::size_t most) {
  return std::clamp(per * appended, std::min(least, most), most);
}

struct WriteBatch {
  // As the engine holds them: a ref to the block, not a Contact and its strings (a round of
  // imports gathers tens of thousands).
  std::vector<ContactRef> contacts;
  EnrollmentSnapshots enrollments;       // appended to the journal
  std::vector<ProgressRecord> progress;  // in increasing seq order
  std::vector<SequenceState> sequences;
  std::vector<Task> tasks;  // upserts by id; a later one of the same id wins
  // Lists and shares (engine/team_records.hpp), in order: a later one of the same key wins.
  std::vector<TeamRecord> team;
  std::optional<TimeMs> clock_ms;
  // Progress records older than this may be deleted (the oldest first, a bounded number per
  // commit); inbound records older than inbound_keep_from_ms likewise.
  std::optional<TimeMs> history_keep_from_ms;
  std::optional<TimeMs> inbound_keep_from_ms;
  // A checkpoint starts at the end of this batch's journal appends.
  bool checkpoint_start = false;
  // Snapshots the checkpoint in progress writes into the enrollment table.
  EnrollmentSnapshots checkpoint_rows;
  // The checkpoint in progress is complete once these rows are written.
  bool checkpoint_finish = false;
  // Replaces the store's snapshot of the send limits' counts. REQUIRES: through_seq is at
  // most the last seq committed with this batch.
  std::optional<GovernorSnapshot> governor;

  std::size_t recordCount() const {
    return contacts.size() + enrollments.size() + progress.size() + sequences.size() +
           tasks.size() + team.size() + checkpoint_rows.size() + (clock_ms ? 1 : 0) +
           (governor ? 1 : 0);
  }
  // Nothing to write (the keep-from times alone make a commit only while the store has a
  // truncation pending: Store::historyTrimPending()).
  bool empty() const {
    return contacts.empty() && enrollments.empty() && progress.empty() && sequences.empty() &&
           tasks.empty() && team.empty() && !clock_ms.has_value() && !checkpoint_start &&
           checkpoint_rows.empty() && !checkpoint_finish && !governor.has_value();
  }
  void clear() { *this = WriteBatch(); }
};

// Everything a restart needs, as read back from the store.
struct LoadedState {
  // Packed as the engine keeps them (engine/packed_contact.hpp): the store decodes each
  // record straight into its block, and the engine takes the refs over.
  std::vector<ContactRef> contacts;
  std::vector<Enrollment> enrollments;  // the table with the journal's tail applied, by id
  // The sends those rows have out (the rows with `sending` set), by id ascending.
  std::vector<std::pair<EnrollmentId, SendOut>> sends_out;
  // Those rows' extras (EnrollmentRecord::extras, the ones not empty), by id ascending.
  std::vector<std::pair<EnrollmentId, EnrollmentExtras>> extras;
  // The enrollments with snapshots in the journal after the last finished checkpoint's
  // start: changed since, so the next checkpoint writes them.
  std::vector<EnrollmentId> journal_ids;
  // The log as kept (see "History"), in seq order, from the first
  // record after governor->through_seq when there is a snapshot (a store may hand back more:
  // the engine skips those the snapshot covers). The last seq ever written is its last
  // record's, or through_seq when it is empty.
  std::vector<ProgressRecord> progress;
  std::optional<GovernorSnapshot> governor;  // the last one written, if any
  std::vector<SequenceState> sequences;
  std::vector<Task> tasks;              // by id
  std::vector<ProgressRecord> inbound;  // the kInbound records kept, in seq order
  std::vector<TeamRecord> team;         // lists and shares, in key order
  std::optional<TimeMs> clock_ms;
};

// Applies one progress record to the task it creates or changes (kTaskCreated, kStepDone of a
// task, kTaskClosed, kTaskReopened); returns that task, or null when the record changes none.
// The engine's live path and the store's conversion of an older schema share it.
Task* foldTaskRecord(const ProgressRecord& record, std::map<std::uint64_t, Task>& tasks);

}  // namespace seqd
