// Operator commands over named contacts of one sequence: remove, pause, resume, finish,
// retry and set-mailbox. Each contact is handled on its own; one that cannot be changed is
// skipped with a reason and the rest go ahead.
#include <algorithm>

#include "engine/assert.hpp"
#include "engine/engine.hpp"
#include "engine/permissions.hpp"

namespace seqd {
namespace {

bool isRunning(EnrollmentStatus status) {
  return status == EnrollmentStatus::kScheduled || status == EnrollmentStatus::kActive;
}

}  // namespace

void Engine::stopEnrollment(Enrollment& enrollment, EnrollmentStatus status) {
  wheel_.cancel(enrollment.id);
  withdrawQueuedSend(enrollment);
  enrollment.status = status;
  // No longer waiting on anything: it stands on the step after its last done one.
  if (const Sequence* sequence = sequenceOf(enrollment)) {
    enrollment.step_index = currentStepIndex(*sequence, enrollment);
  }
}

void Engine::rearm(Enrollment& enrollment, TimeMs now_ms) {
  enrollment.status = EnrollmentStatus::kScheduled;
  enrollment.paused_reason = PauseReason::kNone;
  setResumeAt(enrollment, kNoTime);
  enrollment.not_sent_reason.clear();
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr) return;
  enrollment.step_index = currentStepIndex(*sequence, enrollment);
  // Its email is still out: wait for that result, never a second send. Also when every step
  // after it is done (a reload put it before a task completed since): its result decides.
  if (enrollment.sending) {
    wheel_.cancel(enrollment.id);
    enrollment.status = EnrollmentStatus::kActive;
    enrollment.next_at_ms = kNoTime;
    return;
  }
  if (enrollment.step_index >= sequence->steps.size()) {
    wheel_.cancel(enrollment.id);
    enrollment.status = EnrollmentStatus::kFinished;
    enrollment.finish_reason = "completed";
    enrollment.next_at_ms = kNoTime;
    return;
  }
  if (resumeTask(enrollment, now_ms)) return;
  if (enrollment.next_at_ms == kNoTime) {
    if (isActive(enrollment)) scheduleNextStep(enrollment, now_ms);
    return;
  }
  enrollment.next_at_ms = std::max(enrollment.next_at_ms, now_ms);
  arm(enrollment);
}

Result<ContactsResult> Engine::operate(const std::string& sequence_id,
                                       const OperatorRequest& request, const Caller& caller,
                                       TimeMs now_ms) {
  const Sequence* sequence = findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  Status allowed = checkCanEditSequence(*sequence, caller, shares_);
  if (!allowed.isOk()) return allowed;
  for (const std::string& mailbox : request.mailboxes) {
    if (findMailbox(mailbox) == nullptr) {
      return Status::notFound("unknown mailbox '" + mailbox + "'");
    }
  }
  std::vector<std::string> keys = request.contacts;
  if (request.all) {
    for (EnrollmentId id : by_sequence_[sequence_id]) {
      EnrollmentStatus status = enrollments_[id].status;
      if (status == EnrollmentStatus::kBounced || status == EnrollmentStatus::kNotSent) {
        keys.push_back(enrollments_[id].contact_key);
      }
    }
  }
  ContactsResult result;
  for (const std::string& key : keys) {
    const PackedContact* contact = findContact(key);
    const Enrollment* found = contact == nullptr ? nullptr : findPair(sequence_id, contact->key());
    if (found == nullptr) {
      result.skipped.push_back({key, contact == nullptr ? "unknown_contact" : "not_in_sequence"});
      continue;
    }
    Enrollment& enrollment = enrollments_[found->id];
    // A retried send that may have gone out the first time may now go out twice.
    const Step* current = currentStep(enrollment);
    const bool may_duplicate = request.action == OperatorAction::kRetry && current != nullptr &&
                               extrasOf(enrollment).unresolved.get(current->id) == "interrupted";
    std::string skip = applyOperator(enrollment, request, now_ms);
    if (!skip.empty()) {
      result.skipped.push_back({enrollment.contact_key, skip});
      continue;
    }
    saveSnapshot(enrollment);
    inbound_notes_.erase(enrollment.id);
    result.done.push_back(enrollment.contact_key);
    if (may_duplicate) result.may_duplicate.push_back(enrollment.contact_key);
  }
  if (result.done.empty() && !result.skipped.empty() &&
      std::all_of(result.skipped.begin(), result.skipped.end(), [](const SkippedReason& skip) {
        return skip.reason == "unknown_contact" || skip.reason == "not_in_sequence";
      })) {
    std::string names;
    for (const SkippedReason& skip : result.skipped) {
      names += (names.empty() ? "" : ", ") + skip.contact;
    }
    return Status::notFound("not in sequence '" + sequence_id + "': " + names);
  }
  return result;
}

// Returns "" when done, else why this enrollment was skipped.
std::string Engine::applyOperator(Enrollment& enrollment, const OperatorRequest& request,
                                  TimeMs now_ms) {
  const EnrollmentStatus status = enrollment.status;
  switch (request.action) {
    case OperatorAction::kRemove:
      if (status == EnrollmentStatus::kRemoved) return "already_removed";
      stopEnrollment(enrollment, EnrollmentStatus::kRemoved);
      closeOpenTasks(enrollment, "removed", now_ms);
      return "";
    case OperatorAction::kPause:
      if (status != EnrollmentStatus::kPaused && !isRunning(status)) {
        return std::string("not_running:") + enrollmentStatusName(status);
      }
      stopEnrollment(enrollment, EnrollmentStatus::kPaused);
      enrollment.paused_reason = PauseReason::kManual;
      setResumeAt(enrollment, request.at_ms.value_or(kNoTime));
      if (request.at_ms) wheel_.schedule(enrollment.id, *request.at_ms, scoreOf(enrollment));
      return "";
    case OperatorAction::kResume:
      if (status != EnrollmentStatus::kPaused) return "not_paused";
      if (request.at_ms && *request.at_ms > now_ms) {
        setResumeAt(enrollment, *request.at_ms);
        wheel_.schedule(enrollment.id, *request.at_ms, scoreOf(enrollment));
        return "";
      }
      rearm(enrollment, now_ms);
      return "";
    case OperatorAction::kFinish:
      if (status == EnrollmentStatus::kFinished) return "already_finished";
      if (status == EnrollmentStatus::kRemoved) return "removed";
      stopEnrollment(enrollment, EnrollmentStatus::kFinished);
      enrollment.finish_reason = request.reason.empty() ? "manual" : "manual:" + request.reason;
      enrollment.next_at_ms = kNoTime;
      setResumeAt(enrollment, kNoTime);
      closeOpenTasks(enrollment, "finished: " + enrollment.finish_reason, now_ms);
      return "";
    case OperatorAction::kRetry:
      if (status != EnrollmentStatus::kBounced && status != EnrollmentStatus::kNotSent) {
        return std::string("not_retryable:") + enrollmentStatusName(status);
      }
      enrollment.delivery_failures = 0;
      // The operator accepts a second send of the current step only: a step a reload moved
      // elsewhere stays marked until a retry reaches it.
      if (const Step* step = currentStep(enrollment)) {
        changeExtras(enrollment, [&](EnrollmentExtras& x) { x.unresolved.erase(step->id); });
      }
      enrollment.next_at_ms = now_ms;
      rearm(enrollment, now_ms);
      return "";
    case OperatorAction::kSetMailbox:
      if (status == EnrollmentStatus::kRemoved) return "removed";
      changeExtras(enrollment,
                   [&](EnrollmentExtras& x) { x.mailboxes = SymbolList(request.mailboxes); });
      return "";
  }
  SEQD_ASSERT(false && "every OperatorAction is handled");
  return "";
}

}  // namespace seqd
