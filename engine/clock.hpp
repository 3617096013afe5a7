// Clock: where the daemon gets "now" from.
//
// The engine never reads a clock itself; it is handed a Clock and told tick(now). The
// daemon uses SystemClock in production and VirtualClock under --virtual-time, where time
// stands still and moves only when told (seqctl time advance/set). VirtualClock never moves
// backwards: setTo() an earlier time is refused. The one exception is rewindTo(), for the
// daemon going back to its last committed state after a commit failed.
//
// Thread-safety: now() may be called from any thread; advance/set only from the engine thread.
#pragma once

#include <atomic>

#include "engine/time.hpp"

namespace seqd {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs now() const = 0;
  virtual bool isVirtual() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimeMs now() const override;
  bool isVirtual() const override { return false; }
};

class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(TimeMs start_ms) : now_ms_(start_ms) {}
  TimeMs now() const override { return now_ms_.load(std::memory_order_acquire); }
  bool isVirtual() const override { return true; }
  // Returns false (and leaves the clock) when time_ms is earlier than now().
  bool setTo(TimeMs time_ms);
  // Goes back to a reading that was committed, when what came after it was not.
  void rewindTo(TimeMs time_ms) { now_ms_.store(time_ms, std::memory_order_release); }

 private:
  std::atomic<TimeMs> now_ms_;
};

}  // namespace seqd
