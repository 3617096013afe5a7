// Which sequences a contact event changes, worked out before it is applied: an event needs
// edit rights on each sequence it changes, and a refused event changes nothing (SPEC §3
// rule 11), so the caller's rights are checked on this list first.
//
// eventChanges() is the one test of "does this event change this enrollment": applyEvent
// (engine/events.cpp) skips every enrollment it says no to, so applyEvent never changes a
// sequence that sequencesChangedBy() left out.
#include <algorithm>

#include "engine/engine.hpp"

namespace seqd {
namespace {

bool listed(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

bool Engine::eventChanges(const Enrollment& enrollment, const ContactEvent& event) const {
  const EnrollmentStatus status = enrollment.status;
  if (status != EnrollmentStatus::kScheduled && status != EnrollmentStatus::kActive &&
      status != EnrollmentStatus::kPaused) {
    return false;
  }
  if (!event.sequence_id.empty() && enrollment.sequence_id != event.sequence_id) return false;
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr) return false;
  switch (event.kind) {
    case EventKind::kReply:
      return listed(sequence->rules.finish_on, "reply");
    case EventKind::kMeetingBooked:
      return listed(sequence->rules.finish_on, "meeting_booked");
    case EventKind::kUnsubscribe:
      return listed(sequence->rules.finish_on, "unsubscribe");
    case EventKind::kBounce:
      return true;
    case EventKind::kOoo:
      // A pause by hand stays one: an out-of-office never sets it to resume by itself (an
      // out-of-office pause takes the new return date).
      return sequence->rules.pause_on_ooo &&
             (status != EnrollmentStatus::kPaused || enrollment.paused_reason == PauseReason::kOoo);
    case EventKind::kStage:
      return listed(sequence->rules.block_stages, event.stage);
  }
  return true;  // an event kind added later: ask for rights on every sequence
}

std::vector<std::string> Engine::sequencesChangedBy(const ContactEvent& event) const {
  std::vector<std::string> sequence_ids;
  const PackedContact* contact = findContact(event.contact);
  if (contact == nullptr) return sequence_ids;
  for (EnrollmentId id : contactEnrollments(contact->key())) {
    const Enrollment& enrollment = enrollments_[id];
    if (eventChanges(enrollment, event) && !listed(sequence_ids, enrollment.sequence_id)) {
      sequence_ids.push_back(enrollment.sequence_id);
    }
  }
  return sequence_ids;
}

}  // namespace seqd
