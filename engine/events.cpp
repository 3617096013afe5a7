// Contact events (SPEC §3 rule 7): what a reply, a booked meeting, an unsubscribe, a bounce,
// an out-of-office reply or a stage change does to the contact's enrollments.
//
// Also explain(): the one-paragraph account of where an enrollment stands; and
// unsubscribeByToken(), the unsubscribe event of a one-click link, which reaches every
// sequence (SPEC §3 rule 7), not only the one the email with the link came from.
#include <algorithm>

#include "engine/engine.hpp"

namespace seqd {
namespace {

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// The finish_on name of an event and the finish_reason it gives.
std::pair<std::string, std::string> finishingEvent(EventKind kind) {
  switch (kind) {
    case EventKind::kReply:
      return {"reply", "replied"};
    case EventKind::kMeetingBooked:
      return {"meeting_booked", "meeting_booked"};
    case EventKind::kUnsubscribe:
      return {"unsubscribe", "unsubscribed"};
    default:
      return {"", ""};
  }
}

// The report count of a finishing event.
ReportCount eventCount(EventKind kind) {
  switch (kind) {
    case EventKind::kMeetingBooked:
      return ReportCount::kMeetings;
    case EventKind::kUnsubscribe:
      return ReportCount::kUnsubscribed;
    default:
      return ReportCount::kReplied;
  }
}

}  // namespace

void Engine::pauseForOoo(Enrollment& enrollment, const ContactEvent& event, TimeMs now_ms) {
  stopEnrollment(enrollment, EnrollmentStatus::kPaused);
  enrollment.paused_reason = PauseReason::kOoo;
  const TimeMs resume_at_ms = event.until_ms.value_or(now_ms + settings_.ooo_default_pause_ms);
  setResumeAt(enrollment, resume_at_ms);
  if (isActive(enrollment)) wheel_.schedule(enrollment.id, resume_at_ms, scoreOf(enrollment));
}

Result<EventResult> Engine::applyEvent(const ContactEvent& event, TimeMs now_ms) {
  const PackedContact* found = findContact(event.contact);
  if (found == nullptr) return Status::notFound("unknown contact '" + event.contact + "'");
  if (!event.sequence_id.empty() && findSequence(event.sequence_id) == nullptr) {
    return Status::notFound("unknown sequence '" + event.sequence_id + "'");
  }
  std::string key(found->key());
  if (event.kind == EventKind::kUnsubscribe || event.kind == EventKind::kStage) {
    Contact contact = found->unpack();
    if (event.kind == EventKind::kUnsubscribe) contact.email_opt_out = true;
    if (event.kind == EventKind::kStage) contact.stage = event.stage;
    putContact(contact);
  }
  EventResult result{key, {}};
  for (EnrollmentId id : contactEnrollments(key)) {
    Enrollment& enrollment = enrollments_[id];
    if (!eventChanges(enrollment, event)) continue;  // see engine/event_scope.cpp
    const Sequence* sequence = sequenceOf(enrollment);
    if (sequence == nullptr || !isLive(enrollment.status)) continue;
    if (!event.sequence_id.empty() && enrollment.sequence_id != event.sequence_id) continue;
    auto [finish_name, finish_reason] = finishingEvent(event.kind);
    if (!finish_name.empty()) {
      if (!contains(sequence->rules.finish_on, finish_name)) continue;
      report_counters_.add(creditedKey(enrollment), eventCount(event.kind));
      stopEnrollment(enrollment, EnrollmentStatus::kFinished);
      enrollment.finish_reason = finish_reason;
      enrollment.next_at_ms = kNoTime;
      setResumeAt(enrollment, kNoTime);
      closeOpenTasks(enrollment, "finished: " + finish_reason, now_ms);
    } else if (event.kind == EventKind::kBounce) {
      report_counters_.add(creditedKey(enrollment), ReportCount::kBounced);
      stopEnrollment(enrollment, EnrollmentStatus::kBounced);
      enrollment.not_sent_reason = "bounce_event";  // applyInbound() names a notice its own
      setResumeAt(enrollment, kNoTime);
    } else if (event.kind == EventKind::kOoo) {
      if (!sequence->rules.pause_on_ooo) continue;
      pauseForOoo(enrollment, event, now_ms);
    } else if (event.kind == EventKind::kStage) {
      if (!contains(sequence->rules.block_stages, event.stage)) continue;
      stopEnrollment(enrollment, EnrollmentStatus::kNotSent);
      enrollment.not_sent_reason = "stage_blocked";
      const Step* step = currentStep(enrollment);
      countAtStep(enrollment, step != nullptr ? step->id : Symbol(), ReportCount::kNotSent);
      setResumeAt(enrollment, kNoTime);
    }
    saveSnapshot(enrollment);
    inbound_notes_.erase(enrollment.id);  // applyInbound() notes its own afterwards
    result.changed.emplace_back(enrollment.sequence_id, enrollmentStatusName(enrollment.status));
  }
  return result;
}

// ", by message <id> at T (reply: finished: replied)" when an inbound message changed the
// enrollment last; "" otherwise.
std::string Engine::inboundNote(EnrollmentId id) const {
  auto note = inbound_notes_.find(id);
  if (note == inbound_notes_.end()) return std::string();
  // Only while the enrollment still is what that message made it.
  const Enrollment& enrollment = enrollments_[id];
  const std::string& detail = note->second.detail;
  const bool current =
      (enrollment.status == EnrollmentStatus::kFinished &&
       detail.find("finished: " + enrollment.finish_reason) != std::string::npos) ||
      (enrollment.status == EnrollmentStatus::kPaused &&
       enrollment.paused_reason == PauseReason::kOoo &&
       detail.find("paused: ") != std::string::npos) ||
      (enrollment.status == EnrollmentStatus::kBounced &&
       detail.find("bounced") != std::string::npos);
  if (!current) return std::string();
  return "; message " + note->second.message_id + " at " + formatRfc3339(note->second.at_ms) +
         " (" + note->second.detail + ")";
}

Result<UnsubscribeTarget> Engine::checkUnsubscribeToken(std::string_view token) const {
  std::optional<UnsubscribeTarget> target =
      readUnsubscribeToken(settings_.unsubscribe.secret, token);
  if (!target || findContact(target->contact_key) == nullptr) {
    return Status::notFound("not a valid unsubscribe link");
  }
  return std::move(*target);
}

Result<EventResult> Engine::unsubscribeByToken(std::string_view token, TimeMs now_ms) {
  Result<UnsubscribeTarget> target = checkUnsubscribeToken(token);
  if (!target.isOk()) return target.status();
  ContactEvent event;
  event.kind = EventKind::kUnsubscribe;
  event.contact = target.value().contact_key;
  return applyEvent(event, now_ms);
}

Result<std::string> Engine::explain(const std::string& sequence_id,
                                    const std::string& contact_key) const {
  const Sequence* sequence = findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  const Enrollment* enrollment = findEnrollment(sequence_id, contact_key);
  if (enrollment == nullptr) {
    return Status::notFound("contact '" + contact_key + "' is not in sequence '" + sequence_id +
                            "'");
  }
  const std::size_t steps = sequence->steps.size();
  std::string text = enrollment->contact_key + " in " + sequence_id + ": " +
                     enrollmentStatusName(enrollment->status) + ". ";
  std::string done = std::to_string(enrollment->done_steps.size()) + " of " +
                     std::to_string(steps) + " steps done";
  if (lastDoneAt(*enrollment) != kNoTime) {
    done += ", the last at " + formatRfc3339(lastDoneAt(*enrollment));
    if (!enrollment->last_mailbox.empty()) done += " from " + enrollment->last_mailbox;
  }
  text += done + ". ";
  std::string next_step;
  if (enrollment->step_index < steps) {
    const Step& step = sequence->steps[enrollment->step_index];
    // Numbered from 0, as `status` shows step_index.
    next_step = "step '" + step.id + "' (step_index " + std::to_string(enrollment->step_index) +
                ", " + stepTypeName(step.type) + ")";
  }
  switch (enrollment->status) {
    case EnrollmentStatus::kScheduled:
      if (!isActive(sequence_id)) {
        text += "The sequence is not active: " + next_step + " runs after it is activated.";
      } else if (enrollment->next_at_ms != kNoTime) {
        text += "Next: " + next_step + " due at " + formatRfc3339(enrollment->next_at_ms);
        const std::string gate = windowGate(*enrollment, enrollment->next_at_ms);
        text += gate.empty() ? "." : "; " + gate + ".";
      }
      break;
    case EnrollmentStatus::kActive:
      if (const SendOut* send = sendOut(*enrollment); send != nullptr) {
        text += "Its email for step '" + send->step + "' (" + sendingMessageId(*enrollment, *send) +
                ") is " + (send->released ? "out for delivery" : "queued for delivery") +
                "; the next step waits for the result.";
      } else if (enrollment->next_at_ms != kNoTime) {
        text += next_step + " is due and waits for mailbox capacity until " +
                formatRfc3339(enrollment->next_at_ms);
        const std::string gate = windowGate(*enrollment, enrollment->next_at_ms);
        text += gate.empty() ? "." : "; then " + gate + ".";
      } else {
        text += next_step + " is due and waits for its task to be completed or skipped.";
      }
      break;
    case EnrollmentStatus::kPaused:
      text += std::string("Paused (") + pauseReasonName(enrollment->paused_reason) +
              inboundNote(enrollment->id) + ")";
      text +=
          resumeAt(*enrollment) != kNoTime
              ? "; resumes at " + formatRfc3339(resumeAt(*enrollment)) + " with " + next_step + "."
              : " until resumed; then " + next_step + " runs.";
      break;
    case EnrollmentStatus::kFinished:
      text += "Finished: " + enrollment->finish_reason + inboundNote(enrollment->id) +
              ". Nothing more is sent.";
      break;
    case EnrollmentStatus::kBounced:
      text += "An email bounced" + inboundNote(enrollment->id) + ". `seqctl retry` sends " +
              next_step + " again.";
      break;
    case EnrollmentStatus::kNotSent:
      text += next_step + " was not sent: " + enrollment->not_sent_reason +
              ". Fix the cause, then `seqctl retry`.";
      break;
    case EnrollmentStatus::kRemoved:
      text += "Removed; adding it again resumes at " +
              (next_step.empty() ? std::string("the end (nothing left)") : next_step) + ".";
      break;
  }
  return text;
}

}  // namespace seqd
