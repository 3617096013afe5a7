// StatusSnapshot: one sequence's enrollments as they stood at one instant, in a compact
// immutable form that another thread filters, orders and formats (`seqctl status`).
//
// Why a snapshot: a status of a million enrollments builds, sorts and formats a million rows
// (seconds); done on the engine thread it stalls sending for all of that. The engine thread
// only copies what the rows need, between rounds (Engine::statusSnapshot), and a reader
// thread does the rest from the copy. The alternative, an LMDB read transaction on the control
// side, would need a by-sequence index the store does not keep, a merge of the journal's tail
// into the table on every read, and the sending-window arithmetic the engine does; the copy
// costs the engine thread a pass over the sequence's ids (perf/status_bench: "snapshot").
//
// What a row holds: the contact as its immutable snapshot (a ContactRef: the
// engine replaces a contact when it changes, never edits it, so the reader sees the contact
// of that instant), the status, the index of the step shown, the raw next_at and resume_at,
// and its reason and mailbox strings interned into `texts` (a few distinct values across a
// sequence; index 0 is ""). A row is about 56 bytes. The sending window is applied by the
// reader: next_at shown is the first open instant at or after the raw one, as the engine's
// wheel holds it, computed by a SendingCalendar built from the same schedules.
//
// selectStatusRows() and statusRowAt() give exactly what Engine::status() gives for the same
// filter (tests/engine/status_snapshot_test.cpp checks it on random filters).
//
// Thread-safety: a snapshot is immutable once built; share it freely. statusRowAt() needs a
// calendar of the caller's own (SendingCalendar is not thread-safe).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/calendar.hpp"
#include "engine/commands.hpp"
#include "engine/enrollment.hpp"
#include "engine/packed_contact.hpp"
#include "engine/render.hpp"
#include "engine/schedule.hpp"

namespace seqd {

struct StatusSnapshotRow {
  ContactRef contact;           // null: no such contact (key_text has the key)
  TimeMs next_at_ms = kNoTime;  // raw: before the sending window is applied
  TimeMs resume_at_ms = kNoTime;
  std::uint32_t step_index = 0;  // the step shown
  std::uint32_t key_text = 0;    // the enrollment's contact key when it is not contact->key
  std::uint32_t paused_text = 0;
  std::uint32_t finish_text = 0;
  std::uint32_t not_sent_text = 0;  // not_sent: its reason; bounced: why it bounced
  std::uint32_t mailbox_text = 0;
  EnrollmentStatus status = EnrollmentStatus::kScheduled;
};

struct StatusSnapshot {
  std::string sequence_id;
  bool sequence_known = false;        // configured now (else: enrollments of a removed one)
  std::vector<std::string> step_ids;  // the sequence's steps, in order
  std::string schedule;               // the sequence's schedule name ("" : always open)
  bool timezone_from_contact = true;
  std::map<std::string, Schedule> schedules;  // every schedule, as the engine's calendar has
  std::vector<std::string> texts;             // interned strings; texts[0] == ""
  // The sequence's compiled steps, for each row's A/B variant (pickVariant); null when the
  // sequence is not configured now. `render` keeps them alive.
  std::shared_ptr<const RenderSettings> render;
  const RenderSequence* render_sequence = nullptr;
  std::vector<StatusSnapshotRow> rows;  // in the sequence's enrollment order

  std::string_view contactKey(const StatusSnapshotRow& row) const {
    return row.key_text != 0 || row.contact == nullptr ? std::string_view(texts[row.key_text])
                                                       : row.contact->key();
  }
};

// Interns strings while a snapshot is built: each distinct text is stored once.
class TextInterner {
 public:
  explicit TextInterner(std::vector<std::string>& texts);
  // The index of text in texts, adding it when new; 0 for "".
  std::uint32_t intern(std::string_view text);

 private:
  std::vector<std::string>& texts_;
  std::map<std::string, std::uint32_t, std::less<>> index_;
  // The last few texts looked up: most rows repeat their neighbour's mailbox and reasons.
  std::uint32_t recent_ = 0;
};

// The rows the filter keeps, in the order `status` shows them (score high to low, then
// contact key), at most filter.limit of them when it is set: indexes into snapshot.rows.
// With a limit, a partial sort picks the first `limit` without sorting the rest.
std::vector<std::size_t> selectStatusRows(const StatusSnapshot& snapshot,
                                          const StatusFilter& filter);

// One row as Engine::status() shows it. `calendar` must be built from snapshot.schedules.
StatusRow statusRowAt(const StatusSnapshot& snapshot, std::size_t index, SendingCalendar& calendar);

}  // namespace seqd
