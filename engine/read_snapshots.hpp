// Read snapshots: what `report`, `tasks` and `contacts` need, copied by the engine thread
// between rounds in compact immutable form, so that a reader thread computes, orders and
// formats the answer while the engine thread goes on sending (as `status` does with
// engine/status_snapshot.hpp). The functions below are the whole of each answer's logic:
// Engine::report(), Engine::tasks() and Engine::searchContacts() give their results through
// them too, so an answer read from a snapshot is the engine's answer at that instant.
//
// What the engine thread pays, and what it does not:
//   report    one pass over the sequence's ids for the rows that may need attention
//             (bounced, not sent, or on a step waiting on a person), and when some may wait
//             on a task, one pass over the open tasks in memory; then a copy (about 56 bytes
//             each) of only the first kReportAttentionMax rows that need attention, and the
//             counters (a few rows per step). The reader orders the contacts listed and
//             builds the reply.
//   tasks     the tasks in memory that pass the filter (open ones, and the latest
//             kDoneTasksInMemoryMax done ones; a Task's bytes and a reference to its
//             contact each), and the sequence and contact of each enrollment with a task only
//             in the store (none for `--state open`). The reader reads the store's tasks one
//             at a time (an LMDB read transaction of its own), keeps about 64 bytes of each it
//             lists, orders them, and renders and streams each row (its note rendered) as it
//             goes.
//   contacts  a reference to every contact (a pointer copy each) and, for each sequence an
//             `in_sequence` comparison names, its enrolled contacts' keys. The reader matches
//             the query, picks the first `limit` by key (a partial sort) and streams them.
//
// Thread-safety: a snapshot is immutable once built; the functions are pure and may run on
// any thread (contacts are immutable shared snapshots; Symbols are readable from any thread).
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/contact_query.hpp"
#include "engine/packed_contact.hpp"
#include "engine/render.hpp"
#include "engine/report.hpp"
#include "engine/sequence.hpp"
#include "engine/status_snapshot.hpp"
#include "engine/symbol.hpp"
#include "engine/task.hpp"

namespace seqd {

// --- report ---
struct ReportSnapshot {
  SequenceReport report;  // everything but the attention rows
  // The first kReportAttentionMax enrollments needing attention, in id order
  // (report.attention_total counts them all).
  StatusSnapshot rows;
  // The rows waiting on an open task, in row order: one for each row neither bounced nor not
  // sent.
  struct WaitingTask {
    std::uint32_t row = 0;         // index in rows.rows
    std::uint32_t owner_text = 0;  // the task's owner, in rows.texts
    std::uint64_t task_id = 0;
  };
  std::vector<WaitingTask> tasks;
};

// The report with its attention rows: the snapshot's rows (bounced and not_sent contacts
// and those waiting on a task, at most kReportAttentionMax, the first in enrollment order),
// ordered by contact key.
SequenceReport finishReport(const ReportSnapshot& snapshot);

// --- tasks ---
// What a task row shows of its step: its type and note (a template rendered for the contact,
// parsed once per snapshot).
struct TaskStepText {
  std::string type;
  CompiledTemplate note;
};
// A step of a sequence: (sequence id, step id).
using StepKey = std::pair<Symbol, Symbol>;
struct StepKeyHash {
  std::size_t operator()(const StepKey& key) const noexcept {
    return SymbolHash()(key.first) ^ (SymbolHash()(key.second) >> 1);
  }
};
// An enrollment a task belongs to, as the task row shows it.
struct TaskEnrollment {
  Symbol sequence;
  Symbol contact_key;
  ContactRef contact;  // null: no such contact
};
struct TasksSnapshot {
  TaskFilter filter;
  std::vector<std::pair<Task, TaskEnrollment>> in_memory;  // those passing the filter
  std::vector<std::uint64_t> in_memory_ids;                // every task the engine holds, ascending
  // Tasks made after the snapshot (a larger id) are not listed, though the store has them.
  std::uint64_t task_id_max = 0;
  // Enrollments whose tasks may be only in the store, when they pass the filter's sequence.
  boost::unordered_flat_map<EnrollmentId, TaskEnrollment> archived_enrollments;
  // Every configured step's text.
  boost::unordered_flat_map<StepKey, TaskStepText, StepKeyHash> steps;

  // Whether a task only in the store can be listed: the filter admits tasks done by a person,
  // and an enrollment it keeps had one dropped from memory. When not, a reader need not read
  // the store's tasks table at all (TaskListing::addArchived would ignore every task of it).
  bool readsArchive() const { return !archived_enrollments.empty(); }
};

// The rows of a `tasks` answer, built in memory that grows with the rows listed by about 64
// bytes each, not with their text: archived tasks (the store's tasks table) are added one at
// a time as the store reads them, and kept as Tasks (their step, owner and reason Symbols);
// each row is built only when it is emitted. Order: every task the filter keeps, the engine's
// and, of the archived ones, those the engine no longer holds: open first, then by due time
// (ties: the engine's before the archived, then by id).
class TaskListing {
 public:
  explicit TaskListing(const TasksSnapshot& snapshot);

  // One task of the store's tasks table; ignored unless the engine no longer holds it and
  // the filter keeps it.
  void addArchived(const Task& task);
  // Calls emit with each row in order until it returns false.
  template <typename Emit>
  void forEachRow(Emit&& emit) {
    sortEntries();
    for (std::size_t at = 0; at < entries_.size(); ++at) {
      prefetchAhead(at);
      if (!emit(rowOf(entries_[at]))) return;
    }
  }

 private:
  struct Entry {
    TimeMs due_at_ms = 0;
    std::uint64_t id = 0;
    std::uint32_t index = 0;  // in snapshot_.in_memory, or in archived_
    bool open = false;
    bool archived = false;
  };
  void sortEntries();
  // Asks the CPU for what the rows after `at` will read: a task's pair in the snapshot, then
  // its contact's block and key. In due-time order they lie anywhere in memory, and waiting
  // on each in turn was most of a row's time (perf/tasks_bench).
  void prefetchAhead(std::size_t at) const;
  TaskRow rowOf(const Entry& entry) const;

  const TasksSnapshot& snapshot_;
  std::vector<Entry> entries_;
  std::vector<Task> archived_;  // those the filter keeps and the engine does not hold
};

// Every row of a TaskListing over `archived`, in its order (Engine::tasks, tests).
std::vector<TaskRow> taskRows(const TasksSnapshot& snapshot, const std::vector<Task>& archived);

// --- contacts ---
struct ContactsSnapshot {
  ContactQuery query;
  std::size_t limit = 0;             // 0: every match
  std::vector<ContactRef> contacts;  // every stored contact, in no order
  // For each sequence `in_sequence` names: its enrollments' contact keys (views of Symbols'
  // strings, which never move), each with whether it is in (not removed).
  std::map<std::string, boost::unordered_flat_map<std::string_view, bool>> enrolled;
};
struct ContactMatches {
  std::vector<ContactRef> contacts;  // in key order, at most limit
  std::size_t matched = 0;           // every match
};

ContactMatches matchContacts(const ContactsSnapshot& snapshot);
// The first `limit` contacts by key (0: all of them, ordered), without ordering the rest.
void orderContacts(std::vector<ContactRef>& contacts, std::size_t limit);

}  // namespace seqd
