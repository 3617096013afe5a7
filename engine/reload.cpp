// Reload with edited sequences: progress is kept by step id, so inserting, removing or
// reordering steps never runs a done step again. Each enrollment's current step is found
// again in the new order (the first step after its last done one); planReload() reports who
// moves where and what needs --force, reconfigure() applies it.
#include <algorithm>
#include <map>
#include <set>

#include "engine/engine.hpp"
#include "engine/render.hpp"

namespace seqd {
namespace {

bool hasStep(const Sequence& sequence, const std::string& step_id) {
  return std::any_of(sequence.steps.begin(), sequence.steps.end(),
                     [&](const Step& step) { return step.id == step_id; });
}

bool sameStepIds(const Sequence* before, const Sequence& after) {
  if (before == nullptr || before->steps.size() != after.steps.size()) return false;
  for (std::size_t i = 0; i < after.steps.size(); ++i) {
    if (before->steps[i].id != after.steps[i].id) return false;
  }
  return true;
}

// The position of a step, or steps.size() when the sequence has no such step.
std::uint32_t stepIndexOf(const Sequence& sequence, const std::string& step_id) {
  for (std::size_t i = 0; i < sequence.steps.size(); ++i) {
    if (sequence.steps[i].id == step_id) return static_cast<std::uint32_t>(i);
  }
  return static_cast<std::uint32_t>(sequence.steps.size());
}

std::string stepIdAt(const Sequence* sequence, std::uint32_t index) {
  if (sequence == nullptr || index >= sequence->steps.size()) return std::string();
  return sequence->steps[index].id;
}

}  // namespace

ReloadPlan Engine::planReload(const EngineSettings& settings) const {
  ReloadPlan plan;
  for (const auto& [sequence_id, ids] : by_sequence_) {
    const Sequence* before = findSequence(sequence_id);
    auto after = settings.sequences.find(sequence_id);
    if (after == settings.sequences.end()) {
      const std::size_t live = std::count_if(
          ids.begin(), ids.end(), [&](EnrollmentId id) { return isLive(enrollments_[id].status); });
      if (before != nullptr && live > 0) {
        plan.needs_force.push_back("sequence '" + sequence_id + "' is removed but " +
                                   std::to_string(live) +
                                   " contacts in it are scheduled, active or paused");
      }
      continue;
    }
    if (sameStepIds(before, after->second)) continue;
    std::map<std::pair<std::string, std::string>, std::size_t> moves;
    std::map<std::string, std::size_t> waiting_on_removed;
    for (EnrollmentId id : ids) {
      const Enrollment& enrollment = enrollments_[id];
      const std::string from = before == nullptr
                                   ? std::string()
                                   : stepIdAt(before, currentStepIndex(*before, enrollment));
      const std::string to = stepIdAt(&after->second, currentStepIndex(after->second, enrollment));
      if (from != to) ++moves[{from, to}];
      if (isLive(enrollment.status) && !from.empty() && !hasStep(after->second, from)) {
        ++waiting_on_removed[from];
      }
    }
    for (const auto& [step, count] : waiting_on_removed) {
      plan.needs_force.push_back("sequence '" + sequence_id + "': step '" + step +
                                 "' is removed but " + std::to_string(count) +
                                 " contacts wait on it");
    }
    for (const auto& [from_to, count] : moves) {
      plan.moves.push_back({sequence_id, from_to.first, from_to.second, count});
    }
  }
  return plan;
}

void Engine::reconfigure(EngineSettings settings, TimeMs now_ms) {
  // Per contact: the step it stands on, and the step the rule gives (the first after its
  // last done one). A contact "moves" when the rule gives another step in the new order.
  std::vector<std::string> standing(enrollments_.size());
  std::vector<std::string> before(enrollments_.size());
  std::set<std::string> unchanged;  // sequences whose steps are the same ids in the same order
  std::set<std::string> returning;  // sequences that were not configured until now
  for (const auto& [id, sequence] : settings.sequences) {
    if (sameStepIds(findSequence(id), sequence)) unchanged.insert(id);
    if (findSequence(id) == nullptr) returning.insert(id);
  }
  // When each contact's current wait started: a scheduled contact's due time less its
  // step's wait (that covers a re-add or a resume), else its last step done or its add.
  std::vector<TimeMs> wait_from(enrollments_.size());
  for (const Enrollment& enrollment : enrollments_) {
    const Sequence* sequence = sequenceOf(enrollment);
    standing[enrollment.id] = stepIdAt(sequence, enrollment.step_index);
    before[enrollment.id] = sequence == nullptr
                                ? std::string()
                                : stepIdAt(sequence, currentStepIndex(*sequence, enrollment));
    const Step* step = currentStep(enrollment);
    wait_from[enrollment.id] = enrollment.status == EnrollmentStatus::kScheduled &&
                                       enrollment.next_at_ms != kNoTime && step != nullptr
                                   ? enrollment.next_at_ms - waitOf(*step)
                                   : enrollment.waits_from_ms;
  }
  settings_ = std::move(settings);
  indexSequences();
  // Intents already out keep the render settings they were decided under.
  render_ = compileRenderSettings(settings_.sequences, settings_.mailboxes, settings_.unsubscribe);
  calendar_ = SendingCalendar(settings_.schedules);
  governor_.configure(settings_.mailboxes);
  logged_sends_.configure(settings_.mailboxes);
  scheduleWorkflows(now_ms);
  for (Enrollment& enrollment : enrollments_) {
    const Sequence* sequence = sequenceOf(enrollment);
    if (sequence == nullptr || unchanged.count(enrollment.sequence_id) > 0) continue;
    const std::uint32_t rule_index = currentStepIndex(*sequence, enrollment);
    const std::string after = stepIdAt(sequence, rule_index);
    // A sequence that comes back resumes where its contacts were, due when they were due.
    if (returning.count(enrollment.sequence_id) > 0) {
      enrollment.step_index = standingIndex(*sequence, enrollment);
      saveSnapshot(enrollment);
      continue;
    }
    if (after == before[enrollment.id]) {
      // Not moved: it stays on its step, wherever that step stands now.
      const std::uint32_t index = stepIndexOf(*sequence, standing[enrollment.id]);
      enrollment.step_index = index < sequence->steps.size() ? index : rule_index;
      saveSnapshot(enrollment);
      continue;
    }
    enrollment.step_index = rule_index;
    saveSnapshot(enrollment);
    // A task for a step that no longer comes next stays as it was; the contact stops
    // waiting on it and goes on to its new current step.
    if (after.empty()) {
      // Every step after the last done one is gone. One still waiting on an open task (of a
      // step before that) keeps waiting; the others have nothing left.
      const bool waits_on_task = enrollment.status == EnrollmentStatus::kActive &&
                                 !enrollment.sending && enrollment.next_at_ms == kNoTime;
      if (waits_on_task) {
        enrollment.step_index = stepIndexOf(*sequence, standing[enrollment.id]);
        continue;
      }
      if (isLive(enrollment.status) && !enrollment.sending) {
        stopEnrollment(enrollment, EnrollmentStatus::kFinished);
        enrollment.finish_reason = "completed";
        enrollment.next_at_ms = kNoTime;
        setResumeAt(enrollment, kNoTime);
      }
      continue;
    }
    const bool waiting_on_task =
        enrollment.status == EnrollmentStatus::kActive && !enrollment.sending;
    // The new step's wait counts from where the old one's did, as if the sequence had
    // always been this way; never before now.
    const TimeMs due_ms =
        stepDueAt(enrollment, sequence->steps[enrollment.step_index], wait_from[enrollment.id]);
    if (enrollment.status == EnrollmentStatus::kScheduled || waiting_on_task) {
      enrollment.status = EnrollmentStatus::kScheduled;
      enrollment.next_at_ms = std::max(due_ms, now_ms);
      if (sequence->steps[enrollment.step_index].type != StepType::kAutoEmail) {
        resumeTask(enrollment, now_ms);
      }
    } else if (enrollment.status == EnrollmentStatus::kPaused && enrollment.next_at_ms != kNoTime) {
      enrollment.next_at_ms = due_ms;  // resuming takes the later of this and then
    }
  }
  // Edited schedules and windows apply at once: every wait is put back on the wheel at the
  // first open instant of its (new) window.
  rearmAndRecountAll();
}

}  // namespace seqd
