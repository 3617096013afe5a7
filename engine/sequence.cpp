#include "engine/sequence.hpp"

namespace seqd {

const char* stepTypeName(StepType type) {
  switch (type) {
    case StepType::kAutoEmail:
      return "auto_email";
    case StepType::kManualEmail:
      return "manual_email";
    case StepType::kCall:
      return "call";
    case StepType::kLinkedin:
      return "linkedin";
    case StepType::kTask:
      return "task";
  }
  return "unknown";
}

}  // namespace seqd
