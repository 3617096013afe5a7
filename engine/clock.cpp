#include "engine/clock.hpp"

#include <chrono>

namespace seqd {

TimeMs SystemClock::now() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool VirtualClock::setTo(TimeMs time_ms) {
  if (time_ms < now()) return false;
  now_ms_.store(time_ms, std::memory_order_release);
  return true;
}

}  // namespace seqd
