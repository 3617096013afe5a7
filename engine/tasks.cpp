// The task queue for manual steps: creating a task when a manual step falls due, skipping
// call steps for Do-Not-Call contacts, completing and skipping tasks, listing them. Every
// change is written to the tasks table in the batch that logs it (engine/records.hpp).
#include <algorithm>

#include "engine/engine.hpp"
#include "engine/permissions.hpp"
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

std::optional<TaskState> parseTaskState(std::string_view name) {
  for (TaskState state : {TaskState::kOpen, TaskState::kCompleted, TaskState::kSkipped}) {
    if (name == taskStateName(state)) return state;
  }
  return std::nullopt;
}

void Engine::fireManual(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                        const PackedContact& contact, TimeMs now_ms) {
  if (step.type == StepType::kCall && (contact.dnc() || contact.callOptOut())) {
    appendProgress(ProgressKind::kStepDone, enrollment.id, enrollment.step_index, now_ms).detail =
        kSkippedDnc;
    countAtStep(enrollment, step.id, ReportCount::kTasksSkipped);
    markStepDone(enrollment, step.id, now_ms);
    completeStep(enrollment, sequence, now_ms);
    return;
  }
  if (resumeTask(enrollment, now_ms)) return;  // one task per step, ever
  ProgressRecord& record =
      appendProgress(ProgressKind::kTaskCreated, enrollment.id, enrollment.step_index, now_ms);
  record.detail = contact.owner().empty() ? sequence.owner : contact.owner();
  trackTask(record);
  wheel_.cancel(enrollment.id);
  enrollment.status = EnrollmentStatus::kActive;
  enrollment.next_at_ms = kNoTime;
  saveSnapshot(enrollment);
}

bool Engine::hasOpenTask(const Enrollment& enrollment, const Step* step) const {
  if (step == nullptr) return false;
  auto found = step_tasks_.find({enrollment.id, step->id});
  if (found == step_tasks_.end()) return false;
  auto task = tasks_.find(found->second);
  return task != tasks_.end() && task->second.state == TaskState::kOpen;
}

bool Engine::resumeTask(Enrollment& enrollment, TimeMs now_ms) {
  const Step* step = currentStep(enrollment);
  if (step == nullptr) return false;
  auto found = step_tasks_.find({enrollment.id, step->id});
  if (found == step_tasks_.end()) return false;
  auto in_memory = tasks_.find(found->second);
  if (in_memory == tasks_.end()) return false;  // archived: a person closed it, the step is done
  Task& task = in_memory->second;
  if (task.state != TaskState::kOpen) {
    if (task.reason.empty()) return false;  // a person closed it: the step is done
    ProgressRecord& record =
        appendProgress(ProgressKind::kTaskReopened, enrollment.id, enrollment.step_index, now_ms);
    record.task_id = task.id;
    trackTask(record);
  }
  wheel_.cancel(enrollment.id);
  enrollment.status = EnrollmentStatus::kActive;
  enrollment.next_at_ms = kNoTime;
  saveSnapshot(enrollment);
  return true;
}

void Engine::closeOpenTasks(Enrollment& enrollment, const std::string& reason, TimeMs now_ms) {
  for (auto it = step_tasks_.lower_bound({enrollment.id, Symbol()});
       it != step_tasks_.end() && it->first.first == enrollment.id; ++it) {
    auto in_memory = tasks_.find(it->second);
    if (in_memory == tasks_.end()) continue;  // archived: done by a person
    const Task& task = in_memory->second;
    if (task.state != TaskState::kOpen) continue;
    ProgressRecord& record =
        appendProgress(ProgressKind::kTaskClosed, enrollment.id, task.step_index, now_ms);
    record.step_id = task.step_id;
    record.task_id = task.id;
    record.detail = reason;
    trackTask(record);
  }
}

Task* foldTaskRecord(const ProgressRecord& record, std::map<std::uint64_t, Task>& tasks) {
  if (record.kind == ProgressKind::kTaskCreated) {
    Task& task = tasks[record.seq];
    task = Task();
    task.id = record.seq;
    task.enrollment_id = record.enrollment_id;
    task.step_index = record.step_index;
    task.step_id = record.step_id;
    task.owner = record.detail;
    task.due_at_ms = record.at_ms;
    return &task;
  }
  if (record.task_id == 0) return nullptr;
  auto found = tasks.find(record.task_id);
  if (found == tasks.end()) return nullptr;
  Task& task = found->second;
  switch (record.kind) {
    case ProgressKind::kStepDone:
      task.state = record.detail == kTaskSkipped ? TaskState::kSkipped : TaskState::kCompleted;
      task.reason.clear();
      return &task;
    case ProgressKind::kTaskClosed:
      task.state = TaskState::kSkipped;
      task.reason = record.detail;
      return &task;
    case ProgressKind::kTaskReopened:
      task.state = TaskState::kOpen;
      task.reason.clear();
      return &task;
    default:
      return nullptr;
  }
}

// Keeps tasks_ in step with one progress record, and writes the task changed in the same
// batch (the tasks table is what a restart reads).
void Engine::trackTask(const ProgressRecord& record) {
  const Task* task = foldTaskRecord(record, tasks_);
  if (task == nullptr) return;
  if (record.kind == ProgressKind::kTaskCreated) {
    step_tasks_[{task->enrollment_id, task->step_id}] = task->id;
  }
  batch_.tasks.push_back(*task);
  noteTaskState(*task);  // may drop it from memory: the batch holds it for the store
}

void Engine::noteTaskState(const Task& task) {
  const bool final = task.state != TaskState::kOpen && task.reason.empty();
  if (!final) {
    done_tasks_.erase(task.id);
    return;
  }
  done_tasks_.insert(task.id);
  while (done_tasks_.size() > settings_.done_tasks_in_memory_max) {
    auto dropped = tasks_.find(*done_tasks_.begin());
    SEQD_ASSERT(dropped != tasks_.end());
    archived_task_enrollments_.insert(dropped->second.enrollment_id);
    // Its step is done (done steps say so): nothing looks the task up by step any more.
    auto by_step = step_tasks_.find({dropped->second.enrollment_id, dropped->second.step_id});
    if (by_step != step_tasks_.end() && by_step->second == dropped->first) {
      step_tasks_.erase(by_step);
    }
    tasks_.erase(dropped);
    done_tasks_.erase(done_tasks_.begin());
  }
}

Status Engine::finishTask(std::uint64_t task_id, bool skip, const Caller& caller, TimeMs now_ms) {
  auto found = tasks_.find(task_id);
  if (found == tasks_.end()) {
    return Status::notFound("unknown task " + std::to_string(task_id) +
                            " (or one done long ago, archived: seqctl tasks lists it)");
  }
  Task& task = found->second;
  Enrollment& enrollment = enrollments_[task.enrollment_id];
  const Sequence* sequence = sequenceOf(enrollment);
  if (!caller.admin && caller.user != task.owner &&
      (sequence == nullptr || !canEditSequence(*sequence, caller, shares_))) {
    return Status::permissionDenied("permission denied: task " + std::to_string(task_id) +
                                    " belongs to '" + task.owner + "'");
  }
  if (task.state != TaskState::kOpen) {
    return Status::failedPrecondition("task " + std::to_string(task_id) + " is already " +
                                      taskStateName(task.state));
  }
  ProgressRecord& record =
      appendProgress(ProgressKind::kStepDone, enrollment.id, task.step_index, now_ms);
  record.step_id = task.step_id;
  record.task_id = task.id;
  record.detail = skip ? kTaskSkipped : kTaskCompleted;
  const Symbol step_id = task.step_id;  // trackTask may drop `task` from memory
  trackTask(record);
  countAtStep(enrollment, step_id, skip ? ReportCount::kTasksSkipped : ReportCount::kTasksDone);
  const Step* waited_on = currentStep(enrollment);
  const bool waiting = enrollment.status == EnrollmentStatus::kActive && !enrollment.sending &&
                       waited_on != nullptr && waited_on->id == step_id;
  markStepDone(enrollment, step_id, now_ms);
  if (sequence == nullptr) return Status::ok();
  if (waiting) {
    completeStep(enrollment, *sequence, now_ms);
  } else if (enrollment.status != EnrollmentStatus::kActive) {
    enrollment.step_index = currentStepIndex(*sequence, enrollment);  // resuming goes on after it
    if (enrollment.status == EnrollmentStatus::kPaused) {
      // Its next step's wait counts from now, as if the contact had been waiting on the task.
      const Step* next = currentStep(enrollment);
      enrollment.next_at_ms = next != nullptr ? stepDueAt(enrollment, *next, now_ms) : kNoTime;
    }
  }
  // A contact waiting on another task or send stays on it: an old task done late does not
  // take it away from what it waits on.
  return Status::ok();
}

std::vector<TaskRow> Engine::tasks(const TaskFilter& filter,
                                   const std::vector<Task>& archived) const {
  return taskRows(tasksSnapshot(filter), archived);
}

TasksSnapshot Engine::tasksSnapshot(const TaskFilter& filter, TasksSnapshot spare) const {
  TasksSnapshot snapshot;
  snapshot.filter = filter;
  snapshot.in_memory = std::move(spare.in_memory);
  snapshot.in_memory.clear();
  snapshot.in_memory_ids = std::move(spare.in_memory_ids);
  snapshot.in_memory_ids.clear();
  snapshot.task_id_max = progress_seq_;
  const auto enrollmentOf = [this](EnrollmentId id) {
    const Enrollment& enrollment = enrollments_[id];
    const ContactRef* contact = contactSlot(enrollment);
    return TaskEnrollment{enrollment.sequence_id, enrollment.contact_key,
                          contact == nullptr ? nullptr : *contact};
  };
  // The filter's owner and sequence as Symbols: one that was never interned matches no task
  // (nullopt), and the others compare by index.
  const auto symbolOf = [](const std::string& text) -> std::optional<Symbol> {
    return text.empty() ? Symbol() : Symbol::find(text);
  };
  const std::optional<Symbol> owner = symbolOf(filter.owner);
  const std::optional<Symbol> sequence_id = symbolOf(filter.sequence_id);
  const auto inSequence = [&sequence_id, this](EnrollmentId id) {
    return sequence_id && (sequence_id->empty() || enrollments_[id].sequence_id == *sequence_id);
  };
  snapshot.in_memory_ids.reserve(tasks_.size());
  // Room for every task at once, whatever the filter keeps: a vector grown by doubling copied
  // and faulted in about twice its bytes (1M open tasks: 56 MB, the engine thread held
  // 172-190 ms instead of 86-100), and the pages of the room a filter leaves unused are
  // never touched.
  snapshot.in_memory.reserve(tasks_.size());
  // What the filter asks of the task itself; the enrollment is read only for those it keeps.
  const auto keeps = [&](const Task& task) {
    return owner && (owner->empty() || task.owner == *owner) &&
           (!filter.due_before_ms || task.due_at_ms < *filter.due_before_ms) &&
           (!filter.state || task.state == *filter.state);
  };
  forEachTaskAhead(keeps, [&](const Task& task) {
    snapshot.in_memory_ids.push_back(task.id);  // ascending: tasks_ is ordered by id
    if (!keeps(task) || !inSequence(task.enrollment_id)) return;
    const Enrollment& enrollment = enrollments_[task.enrollment_id];
    snapshot.in_memory.emplace_back(
        task, TaskEnrollment{enrollment.sequence_id, enrollment.contact_key, nullptr});
  });
  setContactRefs(
      snapshot.in_memory, [](const auto& entry) { return entry.second.contact_key; },
      [](auto& entry, const ContactRef* slot) {
        if (slot != nullptr) entry.second.contact = *slot;
      });
  for (EnrollmentId id : archived_task_enrollments_) {
    if (!filter.admitsArchived()) break;
    if (id < enrollments_.size() && inSequence(id)) {
      snapshot.archived_enrollments.emplace(id, enrollmentOf(id));
    }
  }
  for (const auto& [sequence_id, sequence] : settings_.sequences) {
    for (const Step& step : sequence.steps) {
      snapshot.steps.emplace(
          StepKey{Symbol(sequence_id), step.id},
          TaskStepText{stepTypeName(step.type),
                       CompiledTemplate(step.note.empty() ? step.subject : step.note)});
    }
  }
  return snapshot;
}

}  // namespace seqd
