// The task queue for manual steps: creating a task when a manual step falls due, skipping
// call steps for Do-Not-Call contacts, completing and skipping tasks, listing them, and
// rebuilding them from the progress log at restart.
#include <algorithm>

#include "engine/engine.hpp"
#include "engine/template.hpp"

namespace seqd {
namespace {

constexpr const char* kTaskCompleted = "task:completed";
constexpr const char* kTaskSkipped = "task:skipped";
constexpr const char* kSkippedDnc = "skipped:dnc";

}  // namespace

const char* taskStateName(TaskState state) {
  switch (state) {
    case TaskState::kOpen:
      return "open";
    case TaskState::kCompleted:
      return "completed";
    case TaskState::kSkipped:
      return "skipped";
  }
  return "unknown";
}

void Engine::fireManual(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                        const Contact& contact, TimeMs now_ms) {
  if (step.type == StepType::kCall && (contact.dnc || contact.call_opt_out)) {
    appendProgress(ProgressKind::kStepFired, enrollment.id, enrollment.step_index, now_ms).detail =
        kSkippedDnc;
    completeStep(enrollment, sequence, now_ms);
    return;
  }
  ProgressRecord& record =
      appendProgress(ProgressKind::kTaskCreated, enrollment.id, enrollment.step_index, now_ms);
  record.detail = contact.owner.empty() ? sequence.owner : contact.owner;
  trackTask(record);
  wheel_.cancel(enrollment.id);
  enrollment.status = EnrollmentStatus::kActive;
  enrollment.next_at_ms = kNoTime;
}

// Keeps tasks_ in step with one progress record (live and at replay).
void Engine::trackTask(const ProgressRecord& record) {
  auto step_key = std::make_pair(record.enrollment_id, record.step_index);
  if (record.kind == ProgressKind::kTaskCreated) {
    Task task;
    task.id = record.seq;
    task.enrollment_id = record.enrollment_id;
    task.step_index = record.step_index;
    task.owner = record.detail;
    task.due_at_ms = record.at_ms;
    tasks_[task.id] = task;
    open_tasks_[step_key] = task.id;
    return;
  }
  if (record.kind != ProgressKind::kStepFired) return;
  auto open = open_tasks_.find(step_key);
  if (open == open_tasks_.end()) return;
  tasks_[open->second].state =
      record.detail == kTaskSkipped ? TaskState::kSkipped : TaskState::kCompleted;
  open_tasks_.erase(open);
}

Status Engine::finishTask(std::uint64_t task_id, bool skip, const Caller& caller, TimeMs now_ms) {
  auto found = tasks_.find(task_id);
  if (found == tasks_.end()) return Status::notFound("unknown task " + std::to_string(task_id));
  Task& task = found->second;
  Enrollment& enrollment = enrollments_[task.enrollment_id];
  const Sequence* sequence = findSequence(enrollment.sequence_id);
  if (!caller.admin && caller.user != task.owner &&
      (sequence == nullptr || caller.user != sequence->owner)) {
    return Status::permissionDenied("permission denied: task " + std::to_string(task_id) +
                                    " belongs to '" + task.owner + "'");
  }
  if (task.state != TaskState::kOpen) {
    return Status::failedPrecondition("task " + std::to_string(task_id) + " is already " +
                                      taskStateName(task.state));
  }
  ProgressRecord& record =
      appendProgress(ProgressKind::kStepFired, enrollment.id, task.step_index, now_ms);
  record.detail = skip ? kTaskSkipped : kTaskCompleted;
  trackTask(record);
  if (enrollment.step_index != task.step_index) return Status::ok();
  enrollment.last_done_at_ms = now_ms;
  if (enrollment.status == EnrollmentStatus::kActive && sequence != nullptr) {
    enrollment.step_index = task.step_index;
    completeStep(enrollment, *sequence, now_ms);
  } else {
    ++enrollment.step_index;  // done while paused: resuming continues after it
  }
  return Status::ok();
}

std::vector<TaskRow> Engine::tasks(const TaskFilter& filter) const {
  std::vector<TaskRow> rows;
  for (const auto& [id, task] : tasks_) {
    const Enrollment& enrollment = enrollments_[task.enrollment_id];
    if (!filter.owner.empty() && task.owner != filter.owner) continue;
    if (!filter.sequence_id.empty() && enrollment.sequence_id != filter.sequence_id) continue;
    if (filter.due_before_ms && task.due_at_ms >= *filter.due_before_ms) continue;
    TaskRow row;
    row.id = id;
    row.sequence = enrollment.sequence_id;
    row.contact = enrollment.contact_key;
    row.owner = task.owner;
    row.due_at_ms = task.due_at_ms;
    row.state = taskStateName(task.state);
    const Sequence* sequence = findSequence(enrollment.sequence_id);
    const Contact* contact = findContact(enrollment.contact_key);
    if (sequence != nullptr && task.step_index < sequence->steps.size()) {
      const Step& step = sequence->steps[task.step_index];
      row.step = step.id;
      row.type = stepTypeName(step.type);
      row.note = step.note.empty() ? step.subject : step.note;
      if (contact != nullptr) {
        RenderResult rendered = renderTemplate(
            row.note, [contact](std::string_view name) { return contact->field(name); });
        if (rendered.ok) row.note = rendered.text;
      }
    }
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const TaskRow& a, const TaskRow& b) {
    if ((a.state == "open") != (b.state == "open")) return a.state == "open";
    return a.due_at_ms < b.due_at_ms;
  });
  return rows;
}

}  // namespace seqd
