#include "engine/enrollment.hpp"

#include <array>
#include <optional>
#include <string_view>

#include "engine/message.hpp"

namespace seqd {
namespace {

constexpr std::array<const char*, 7> kStatusNames = {"scheduled", "active",   "paused", "finished",
                                                     "bounced",   "not_sent", "removed"};

constexpr std::array<const char*, 3> kPauseReasonNames = {"", "manual", "ooo"};

// The position of name in names; false when it is not there.
template <std::size_t N>
bool findName(const std::array<const char*, N>& names, std::string_view name, std::size_t& at) {
  for (at = 0; at < names.size(); ++at) {
    if (name == names[at]) return true;
  }
  return false;
}

}  // namespace

const char* pauseReasonName(PauseReason reason) {
  return kPauseReasonNames[static_cast<std::size_t>(reason)];
}

bool parsePauseReason(std::string_view name, PauseReason& reason) {
  std::size_t at = 0;
  if (!findName(kPauseReasonNames, name, at)) return false;
  reason = static_cast<PauseReason>(at);
  return true;
}

const char* enrollmentStatusName(EnrollmentStatus status) {
  return kStatusNames[static_cast<std::size_t>(status)];
}

bool parseEnrollmentStatus(const std::string& name, EnrollmentStatus& status) {
  std::size_t at = 0;
  if (!findName(kStatusNames, name, at)) return false;
  status = static_cast<EnrollmentStatus>(at);
  return true;
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

std::string sendingMessageId(const Enrollment& enrollment, const SendOut& send) {
  if (send.step.empty()) return {};
  return makeMessageId(enrollment.sequence_id, send.step, enrollment.contact_key, send.mailbox);
}

}  // namespace seqd
