#include "engine/enrollment.hpp"

#include <algorithm>
#include <array>

namespace seqd {
namespace {

constexpr std::array<const char*, 7> kStatusNames = {"scheduled", "active",   "paused", "finished",
                                                     "bounced",   "not_sent", "removed"};

}  // namespace

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
  return std::find(enrollment.done_steps.begin(), enrollment.done_steps.end(), step_id) !=
         enrollment.done_steps.end();
}

}  // namespace seqd
