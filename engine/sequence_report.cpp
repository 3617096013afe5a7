// `seqctl report SEQ`: the counters of engine/report.hpp gathered by step, variant and mailbox,
// the sequence's mailboxes' last day of sends, and the contacts that need a person. Also the
// keys the engine counts under as it writes the records that change a count.
#include <algorithm>
#include <cstddef>

#include "engine/engine.hpp"

namespace seqd {

std::string Engine::variantFor(const Enrollment& enrollment, std::string_view step_id) const {
  const Sequence* sequence = sequenceOf(enrollment);
  const RenderSequence* compiled = render_->findSequence(enrollment.sequence_id);
  if (sequence == nullptr || compiled == nullptr) return std::string();
  for (std::size_t i = 0; i < sequence->steps.size() && i < compiled->steps.size(); ++i) {
    if (sequence->steps[i].id != step_id) continue;
    const RenderStep& step = compiled->steps[i];
    const int variant = pickVariant(step, enrollment.contact_key.view());
    return variant >= 0 ? step.variants[variant].id : std::string();
  }
  return std::string();
}

ReportKey Engine::sendingKey(const Enrollment& enrollment) const {
  if (!enrollment.sending) return ReportKey{enrollment.sequence_id, {}, {}, {}};
  const SendingOut& out = sendingOut(enrollment);
  return ReportKey{enrollment.sequence_id, out.send.step, out.variant, out.send.mailbox};
}

ReportKey Engine::creditedKey(const Enrollment& enrollment) const {
  ReportKey key{enrollment.sequence_id, {}, {}, {}};
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr) return key;
  for (std::size_t done = enrollment.done_steps.size(); done-- > 0;) {
    const std::string& done_id = enrollment.done_steps[done];
    auto step = std::find_if(sequence->steps.begin(), sequence->steps.end(),
                             [&](const Step& candidate) { return candidate.id == done_id; });
    if (step == sequence->steps.end() || step->type != StepType::kAutoEmail) continue;
    key.step = step->id;
    key.variant = variantFor(enrollment, step->id);
    key.mailbox = enrollment.last_mailbox;
    return key;
  }
  if (const Step* step = currentStep(enrollment)) {
    key.step = step->id;
  } else if (!enrollment.done_steps.empty()) {
    key.step = enrollment.done_steps.back();
  }
  return key;
}

void Engine::countAtStep(const Enrollment& enrollment, Symbol step_id, ReportCount count) {
  report_counters_.add(ReportKey{enrollment.sequence_id, step_id, {}, {}}, count);
}

namespace {

ReportStepRow& stepRow(SequenceReport& report, const std::string& step_id) {
  for (ReportStepRow& row : report.steps) {
    if (row.step == step_id) return row;
  }
  ReportStepRow& row = report.steps.emplace_back();
  row.step = step_id;
  row.step_index = static_cast<std::uint32_t>(report.steps.size() - 1);
  return row;
}

ReportVariantRow& variantRow(ReportStepRow& step, const std::string& variant) {
  for (ReportVariantRow& row : step.variants) {
    if (row.variant == variant) return row;
  }
  ReportVariantRow& row = step.variants.emplace_back();
  row.variant = variant;
  return row;
}

ReportMailboxRow& mailboxRow(SequenceReport& report, const std::string& mailbox) {
  for (ReportMailboxRow& row : report.mailboxes) {
    if (row.mailbox == mailbox) return row;
  }
  ReportMailboxRow& row = report.mailboxes.emplace_back();
  row.mailbox = mailbox;
  return row;
}

// A row the report may list as needing a person: bounced or not sent, or on a step that
// waits on one (active, nothing out, no due time: a task of its step may be open).
bool mayNeedAttention(const Enrollment& enrollment) {
  return enrollment.status == EnrollmentStatus::kBounced ||
         enrollment.status == EnrollmentStatus::kNotSent ||
         (enrollment.status == EnrollmentStatus::kActive && !enrollment.sending &&
          enrollment.next_at_ms == kNoTime);
}

}  // namespace

Result<SequenceReport> Engine::report(const std::string& sequence_id, TimeMs now_ms) const {
  Result<ReportSnapshot> snapshot = reportSnapshot(sequence_id, now_ms);
  if (!snapshot.isOk()) return snapshot.status();
  return finishReport(snapshot.value());
}

Result<ReportSnapshot> Engine::reportSnapshot(const std::string& sequence_id, TimeMs now_ms,
                                              std::vector<StatusSnapshotRow> spare) const {
  const Sequence* sequence = findSequence(sequence_id);
  auto enrolled = by_sequence_.find(sequence_id);
  // The rows that may need a person, then those that do: bounced, not sent, or waiting on an
  // open task of their step. Only the first kReportAttentionMax are copied (finishReport()
  // looks at no other): copying every row of the sequence held the engine thread 48-75 ms
  // for 1M scheduled rows, none of them listed (perf/reads_e2e.py --call-wait 3d).
  std::vector<EnrollmentId> candidates;
  bool may_wait = false;
  if (enrolled != by_sequence_.end()) {
    for (EnrollmentId id : enrolled->second) {
      const Enrollment& enrollment = enrollments_[id];
      if (!mayNeedAttention(enrollment)) continue;
      candidates.push_back(id);
      may_wait = may_wait || enrollment.status == EnrollmentStatus::kActive;
    }
  }
  const std::vector<bool> waiting =
      may_wait && sequence != nullptr ? enrollmentsWaitingOnTasks(*sequence) : std::vector<bool>();
  std::vector<EnrollmentId> listed;
  std::vector<const Task*> listed_tasks;  // by listed row; null: bounced or not sent
  std::uint64_t attention_total = 0;
  for (EnrollmentId id : candidates) {
    const bool has_task = id < waiting.size() && waiting[id];
    const Enrollment& enrollment = enrollments_[id];
    if (!has_task && enrollment.status != EnrollmentStatus::kBounced &&
        enrollment.status != EnrollmentStatus::kNotSent) {
      continue;
    }
    ++attention_total;
    if (listed.size() >= kReportAttentionMax) continue;
    const Task* task = has_task ? taskWaitedOn(enrollment, *sequence) : nullptr;
    SEQD_ASSERT(task != nullptr || !has_task);  // the pass and the lookup agree
    listed.push_back(id);
    listed_tasks.push_back(task);
  }
  Result<StatusSnapshot> status = statusSnapshotOf(sequence_id, std::move(spare), &listed);
  if (!status.isOk()) return status.status();
  ReportSnapshot snapshot;
  snapshot.rows = std::move(status.value());
  TextInterner texts(snapshot.rows.texts);
  for (std::size_t row = 0; row < listed_tasks.size(); ++row) {
    if (const Task* waits = listed_tasks[row]) {
      snapshot.tasks.push_back(ReportSnapshot::WaitingTask{static_cast<std::uint32_t>(row),
                                                           texts.intern(waits->owner), waits->id});
    }
  }
  SequenceReport& report = snapshot.report;
  report.sequence = sequence_id;
  report.generated_at_ms = now_ms;
  report.attention_total = attention_total;
  if (sequence != nullptr) {
    report.name = sequence->name;
    for (const Step& step : sequence->steps) {
      ReportStepRow& row = stepRow(report, step.id);
      row.type = stepTypeName(step.type);
      for (const Variant& variant : step.variants) variantRow(row, variant.id);
    }
    for (const std::string& mailbox : sequence->mailboxes) mailboxRow(report, mailbox);
  }
  const std::optional<Symbol> counted = Symbol::find(sequence_id);
  for (const auto& [key, counts] : counted ? report_counters_.ofSequence(*counted)
                                           : std::vector<std::pair<ReportKey, ReportCounts>>()) {
    ReportStepRow& step = stepRow(report, key.step);
    addCounts(step.counts, counts);
    addCounts(report.totals, counts);
    if (!key.variant.empty()) addCounts(variantRow(step, key.variant).counts, counts);
    if (!key.mailbox.empty()) {
      ReportMailboxRow& mailbox = mailboxRow(report, key.mailbox);
      mailbox.sent += counts[static_cast<std::size_t>(ReportCount::kSent)];
      mailbox.bounced += counts[static_cast<std::size_t>(ReportCount::kBounced)];
    }
  }
  for (ReportMailboxRow& row : report.mailboxes) {
    if (const Mailbox* mailbox = findMailbox(row.mailbox)) {
      row.daily_limit = mailbox->daily_limit;
      row.hourly_limit = mailbox->hourly_limit;
    }
    row.sent_by_hour = governor_.sentByHour(row.mailbox, kReportHours, now_ms);
  }
  return snapshot;
}

// One pass over the tasks in memory (in id order, their nodes mostly in that order too), not
// a lookup per waiting contact: at 200k contacts waiting on a call the lookups held the
// engine thread about a second (perf/RESULTS.md). The answer is a bit an enrollment, so the
// report reads it in its rows' order whatever order the tasks came in: found by a search
// among the rows instead, tasks out of the rows' order (contacts with a score reach a manual
// step best score first) had to be sorted back, 1M of them ~230 ms.
std::vector<bool> Engine::enrollmentsWaitingOnTasks(const Sequence& sequence) const {
  const Symbol sequence_id = sequence.id;
  std::vector<bool> waiting(enrollments_.size());
  const auto isOpen = [](const Task& task) { return task.state == TaskState::kOpen; };
  forEachTaskAhead(isOpen, [&](const Task& task) {
    if (!isOpen(task)) return;
    const Enrollment& enrollment = enrollments_[task.enrollment_id];
    if (enrollment.sequence_id != sequence_id) return;
    if (enrollment.status != EnrollmentStatus::kActive || enrollment.sending ||
        enrollment.next_at_ms != kNoTime) {
      return;
    }
    // Its one task of its current step (step_tasks_ holds one per step ever).
    if (enrollment.step_index >= sequence.steps.size() ||
        sequence.steps[enrollment.step_index].id != task.step_id) {
      return;
    }
    waiting[task.enrollment_id] = true;
  });
  return waiting;
}

const Task* Engine::taskWaitedOn(const Enrollment& enrollment, const Sequence& sequence) const {
  if (enrollment.step_index >= sequence.steps.size()) return nullptr;
  auto found = step_tasks_.find({enrollment.id, sequence.steps[enrollment.step_index].id});
  if (found == step_tasks_.end()) return nullptr;
  auto task = tasks_.find(found->second);
  return task != tasks_.end() && task->second.state == TaskState::kOpen ? &task->second : nullptr;
}

}  // namespace seqd
