#include "engine/enrollment.hpp"

#include <array>
#include <optional>

#include "engine/message.hpp"

namespace seqd {
namespace {

constexpr std::array<const char*, 7> kStatusNames = {"scheduled", "active",   "paused", "finished",
                                                     "bounced",   "not_sent", "removed"};

constexpr std::array<const char*, 3> kPauseReasonNames = {"", "manual", "ooo"};

}  // namespace

const char* pauseReasonName(PauseReason reason) {
  return kPauseReasonNames[static_cast<std::size_t>(reason)];
}

bool parsePauseReason(std::string_view name, PauseReason& reason) {
  for (std::size_t i = 0; i < kPauseReasonNames.size(); ++i) {
    if (name == kPauseReasonNames[i]) {
      reason = static_cast<PauseReason>(i);
      return true;
    }
  }
  return false;
}

const char* enrollmentStatusName(EnrollmentStatus status) {
  return kStatusNames[static_cast<std::size_t>(status)];
}

bool parseEnrollmentStatus(const std::string& name, EnrollmentStatus& status) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (name == kStatusNames[i]) {
      status = static_cast<EnrollmentStatus>(i);
      return true;
    }
  }
  return false;
}

bool isLive(EnrollmentStatus status) {
  return status == EnrollmentStatus::kScheduled || status == EnrollmentStatus::kActive ||
         status == EnrollmentStatus::kPaused;
}

bool isStepDone(const Enrollment& enrollment, const std::string& step_id) {
  std::optional<Symbol> step = Symbol::find(step_id);
  return step && enrollment.done_steps.contains(*step);
}

bool isStepDone(const Enrollment& enrollment, Symbol step_id) {
  return enrollment.done_steps.contains(step_id);
}

std::string sendingMessageId(const Enrollment& enrollment) {
  if (enrollment.sending_step.empty()) return {};
  return makeMessageId(enrollment.sequence_id, enrollment.sending_step, enrollment.contact_key,
                       enrollment.sending_mailbox);
}

}  // namespace seqd
