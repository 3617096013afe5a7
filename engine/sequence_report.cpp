// `seqctl report SEQ`: the counters of engine/report.hpp gathered by step, variant and mailbox,
// the sequence's mailboxes' last day of sends, and the contacts that need a person. Also the
// keys the engine counts under as it writes the records that change a count.
#include <algorithm>

#include "engine/engine.hpp"

namespace seqd {

std::string Engine::variantFor(const Enrollment& enrollment, const std::string& step_id) const {
  const Sequence* sequence = findSequence(enrollment.sequence_id);
  const RenderSequence* compiled = render_->findSequence(enrollment.sequence_id);
  if (sequence == nullptr || compiled == nullptr) return std::string();
  for (std::size_t i = 0; i < sequence->steps.size() && i < compiled->steps.size(); ++i) {
    if (sequence->steps[i].id != step_id) continue;
    const RenderStep& step = compiled->steps[i];
    const int variant = pickVariant(step, enrollment.contact_key.str());
    return variant >= 0 ? step.variants[variant].id : std::string();
  }
  return std::string();
}

ReportKey Engine::sendingKey(const Enrollment& enrollment) const {
  ReportKey key{enrollment.sequence_id.str(), enrollment.sending_step.str(), "",
                enrollment.sending_mailbox.str()};
  if (auto variant = sending_variants_.find(enrollment.id); variant != sending_variants_.end()) {
    key.variant = variant->second;
  }
  return key;
}

ReportKey Engine::creditedKey(const Enrollment& enrollment) const {
  ReportKey key{enrollment.sequence_id.str(), "", "", ""};
  const Sequence* sequence = findSequence(enrollment.sequence_id);
  if (sequence == nullptr) return key;
  for (auto done = enrollment.done_steps.rbegin(); done != enrollment.done_steps.rend(); ++done) {
    auto step = std::find_if(sequence->steps.begin(), sequence->steps.end(),
                             [&](const Step& candidate) { return candidate.id == done->str(); });
    if (step == sequence->steps.end() || step->type != StepType::kAutoEmail) continue;
    key.step = step->id;
    key.variant = variantFor(enrollment, step->id);
    key.mailbox = enrollment.last_mailbox.str();
    return key;
  }
  if (const Step* step = currentStep(enrollment)) {
    key.step = step->id;
  } else if (!enrollment.done_steps.empty()) {
    key.step = enrollment.done_steps.back().str();
  }
  return key;
}

void Engine::countAtStep(const Enrollment& enrollment, const std::string& step_id,
                         ReportCount count) {
  report_counters_.add(ReportKey{enrollment.sequence_id.str(), step_id, "", ""}, count);
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

}  // namespace

Result<SequenceReport> Engine::report(const std::string& sequence_id, TimeMs now_ms) const {
  Result<ReportSnapshot> snapshot = reportSnapshot(sequence_id, now_ms);
  if (!snapshot.isOk()) return snapshot.status();
  return finishReport(snapshot.value());
}

Result<ReportSnapshot> Engine::reportSnapshot(const std::string& sequence_id, TimeMs now_ms,
                                              std::vector<StatusSnapshotRow> spare) const {
  Result<StatusSnapshot> rows = statusSnapshot(sequence_id, std::move(spare));
  if (!rows.isOk()) return rows.status();
  ReportSnapshot snapshot;
  snapshot.rows = std::move(rows.value());
  SequenceReport& report = snapshot.report;
  report.sequence = sequence_id;
  report.generated_at_ms = now_ms;
  if (const Sequence* sequence = findSequence(sequence_id)) {
    report.name = sequence->name;
    for (const Step& step : sequence->steps) {
      ReportStepRow& row = stepRow(report, step.id);
      row.type = stepTypeName(step.type);
      for (const Variant& variant : step.variants) variantRow(row, variant.id);
    }
    for (const std::string& mailbox : sequence->mailboxes) mailboxRow(report, mailbox);
  }
  for (const auto& [key, counts] : report_counters_.ofSequence(sequence_id)) {
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
  // The contacts waiting on an open task, by their row (the snapshot's rows are in the order
  // of the sequence's ids).
  auto enrolled = by_sequence_.find(sequence_id);
  if (enrolled == by_sequence_.end()) return snapshot;
  SEQD_ASSERT(enrolled->second.size() == snapshot.rows.rows.size());
  for (std::size_t index = 0; index < enrolled->second.size(); ++index) {
    const Enrollment& enrollment = enrollments_[enrolled->second[index]];
    if (enrollment.status != EnrollmentStatus::kActive || !enrollment.sending_step.empty() ||
        enrollment.next_at_ms != kNoTime) {
      continue;
    }
    const Step* step = currentStep(enrollment);
    if (step == nullptr) continue;
    auto task = step_tasks_.find({enrollment.id, step->id});
    if (task == step_tasks_.end()) continue;
    auto found = tasks_.find(task->second);
    if (found == tasks_.end() || found->second.state != TaskState::kOpen) continue;
    snapshot.tasks.emplace_back(
        index, "task " + std::to_string(found->first) + " (" + found->second.owner + ")");
  }
  return snapshot;
}

}  // namespace seqd
