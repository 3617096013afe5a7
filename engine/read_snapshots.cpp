#include "engine/read_snapshots.hpp"

#include <algorithm>

#include "engine/assert.hpp"
#include "engine/text_prefix.hpp"

namespace seqd {

SequenceReport finishReport(const ReportSnapshot& snapshot) {
  SequenceReport report = snapshot.report;
  const StatusSnapshot& rows = snapshot.rows;
  SEQD_ASSERT(rows.rows.size() <= kReportAttentionMax);
  SendingCalendar calendar(rows.schedules);
  report.attention.reserve(rows.rows.size());
  auto task = snapshot.tasks.begin();
  for (std::size_t index = 0; index < rows.rows.size(); ++index) {
    // Every row is listed: bounced or not sent, else waiting on the task snapshot.tasks names.
    const StatusSnapshotRow& source = rows.rows[index];
    ReportAttentionRow& row = report.attention.emplace_back();
    if (source.status == EnrollmentStatus::kBounced ||
        source.status == EnrollmentStatus::kNotSent) {
      row.reason = rows.texts[source.not_sent_text];
    } else {
      SEQD_ASSERT(task != snapshot.tasks.end() && task->row == index);
      row.reason =
          "task " + std::to_string(task->task_id) + " (" + rows.texts[task->owner_text] + ")";
      ++task;
    }
    const StatusRow status = statusRowAt(rows, index, calendar);
    row.contact = status.contact;
    row.email = status.email;
    row.status = status.status;
    row.step = status.step;
  }
  std::sort(report.attention.begin(), report.attention.end(),
            [](const ReportAttentionRow& a, const ReportAttentionRow& b) {
              return a.contact < b.contact;
            });
  return report;
}

namespace {

bool taskPasses(const TaskFilter& filter, const Task& task, const TaskEnrollment& enrollment) {
  if (!filter.owner.empty() && task.owner != filter.owner) return false;
  if (!filter.sequence_id.empty() && enrollment.sequence != filter.sequence_id) return false;
  if (filter.state && task.state != *filter.state) return false;
  return !filter.due_before_ms || task.due_at_ms < *filter.due_before_ms;
}

TaskRow taskRow(const TasksSnapshot& snapshot, const Task& task, const TaskEnrollment& enrollment) {
  TaskRow row;
  row.id = task.id;
  row.sequence = enrollment.sequence.str();
  row.contact = enrollment.contact_key.str();
  row.owner = task.owner.str();
  row.due_at_ms = task.due_at_ms;
  row.state = taskStateName(task.state);
  row.reason = task.reason.str();
  row.step = task.step_id.str();
  auto step = snapshot.steps.find(StepKey{enrollment.sequence, task.step_id});
  if (step != snapshot.steps.end()) {
    row.type = step->second.type;
    // The note as written when it does not render for the contact (or there is none).
    const CompiledTemplate& note = step->second.note;
    const PackedContact* contact = enrollment.contact.get();
    if (contact != nullptr && note.problem(*contact).empty()) {
      note.renderTo(*contact, row.note);
    } else {
      row.note = note.text();
    }
  }
  return row;
}

}  // namespace

TaskListing::TaskListing(const TasksSnapshot& snapshot) : snapshot_(snapshot) {
  entries_.reserve(snapshot.in_memory.size());
  for (std::size_t index = 0; index < snapshot.in_memory.size(); ++index) {
    const auto& [task, enrollment] = snapshot.in_memory[index];
    if (!taskPasses(snapshot.filter, task, enrollment)) continue;
    entries_.push_back(Entry{task.due_at_ms, task.id, static_cast<std::uint32_t>(index),
                             task.state == TaskState::kOpen, false});
  }
}

void TaskListing::addArchived(const Task& task) {
  if (task.id > snapshot_.task_id_max ||
      std::binary_search(snapshot_.in_memory_ids.begin(), snapshot_.in_memory_ids.end(), task.id)) {
    return;
  }
  auto enrollment = snapshot_.archived_enrollments.find(task.enrollment_id);
  if (enrollment == snapshot_.archived_enrollments.end()) return;
  if (!taskPasses(snapshot_.filter, task, enrollment->second)) return;
  entries_.push_back(Entry{task.due_at_ms, task.id, static_cast<std::uint32_t>(archived_.size()),
                           task.state == TaskState::kOpen, true});
  archived_.push_back(task);
}

void TaskListing::sortEntries() {
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.open != b.open) return a.open;
    if (a.due_at_ms != b.due_at_ms) return a.due_at_ms < b.due_at_ms;
    if (a.archived != b.archived) return !a.archived;
    return a.id < b.id;
  });
}

void TaskListing::prefetchAhead(std::size_t at) const {
  // Each read is asked for a few rows before it is needed, the pair first: the contact's
  // pointer and key are read from it.
  constexpr std::size_t kPairAhead = 16;
  constexpr std::size_t kContactAhead = 8;
  constexpr std::size_t kKeyTextAhead = 4;
  const auto inMemory = [this](std::size_t index) -> const std::pair<Task, TaskEnrollment>* {
    if (index >= entries_.size() || entries_[index].archived) return nullptr;
    return &snapshot_.in_memory[entries_[index].index];
  };
  if (const auto* pair = inMemory(at + kPairAhead)) __builtin_prefetch(pair);
  if (const auto* pair = inMemory(at + kContactAhead)) {
    __builtin_prefetch(pair->second.contact.get());
    pair->second.contact_key.prefetchEntry();
  }
  if (const auto* pair = inMemory(at + kKeyTextAhead)) pair->second.contact_key.prefetchText();
}

TaskRow TaskListing::rowOf(const Entry& entry) const {
  if (!entry.archived) {
    const auto& [task, enrollment] = snapshot_.in_memory[entry.index];
    return taskRow(snapshot_, task, enrollment);
  }
  const Task& task = archived_[entry.index];
  return taskRow(snapshot_, task, snapshot_.archived_enrollments.at(task.enrollment_id));
}

std::vector<TaskRow> taskRows(const TasksSnapshot& snapshot, const std::vector<Task>& archived) {
  TaskListing listing(snapshot);
  for (const Task& task : archived) listing.addArchived(task);
  std::vector<TaskRow> rows;
  listing.forEachRow([&rows](TaskRow row) {
    rows.push_back(std::move(row));
    return true;
  });
  return rows;
}

void orderContacts(std::vector<ContactRef>& contacts, std::size_t limit) {
  // Sorted by key prefix (engine/text_prefix.hpp), then key: each key is read once here, and
  // again only to break a tie of prefixes.
  struct Keyed {
    TextPrefix prefix;
    std::uint32_t at = 0;  // in contacts
  };
  SEQD_ASSERT(contacts.size() <= UINT32_MAX);
  std::vector<Keyed> keyed;
  keyed.reserve(contacts.size());
  for (std::size_t at = 0; at < contacts.size(); ++at) {
    keyed.push_back(Keyed{TextPrefix(contacts[at]->key()), static_cast<std::uint32_t>(at)});
  }
  const auto before = [&contacts](const Keyed& a, const Keyed& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return contacts[a.at]->key() < contacts[b.at]->key();
  };
  std::size_t shown = keyed.size();
  if (limit > 0 && limit < keyed.size()) {
    shown = limit;
    std::partial_sort(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(shown),
                      keyed.end(), before);
  } else {
    std::sort(keyed.begin(), keyed.end(), before);
  }
  std::vector<ContactRef> ordered;
  ordered.reserve(shown);
  for (std::size_t i = 0; i < shown; ++i) ordered.push_back(std::move(contacts[keyed[i].at]));
  contacts = std::move(ordered);
}

ContactMatches matchContacts(const ContactsSnapshot& snapshot) {
  const ContactQuery::InSequence in_sequence = [&snapshot](const PackedContact& contact,
                                                           const std::string& sequence_id) {
    auto enrolled = snapshot.enrolled.find(sequence_id);
    if (enrolled == snapshot.enrolled.end()) return false;
    // As Engine::findEnrollment: the exact key first, then its lower case.
    auto found = enrolled->second.find(contact.key());
    if (found == enrolled->second.end()) found = enrolled->second.find(toLowerAscii(contact.key()));
    return found != enrolled->second.end() && found->second;
  };
  ContactMatches matches;
  for (const ContactRef& contact : snapshot.contacts) {
    if (snapshot.query.matches(*contact, in_sequence)) matches.contacts.push_back(contact);
  }
  matches.matched = matches.contacts.size();
  orderContacts(matches.contacts, snapshot.limit);
  return matches;
}

}  // namespace seqd
