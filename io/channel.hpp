// Channel: a multi-producer, multi-consumer queue between threads (Boost.Lockfree), plus
// Wakeup, the one place a thread sleeps until there is work.
//
// Values are moved into heap cells so any movable T can cross; the queue itself is
// lock-free. Wakeup is a flag under a mutex with a condition variable: producers set it
// after pushing, the consumer clears it before draining, so no wakeup is lost.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <boost/lockfree/queue.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace seqd {

class Wakeup {
 public:
  void notify() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_ = true;
    }
    condition_.notify_all();
  }
  // Returns when notified (or already notified since the last wait), or after timeout.
  void waitFor(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    condition_.wait_for(lock, timeout, [this] { return pending_; });
    pending_ = false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable condition_;
  bool pending_ = false;
};

template <typename T>
class Channel {
 public:
  Channel() : queue_(kInitialNodes) {}
  ~Channel() {
    T* cell = nullptr;
    while (queue_.pop(cell)) delete cell;
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  void push(T value) {
    T* cell = new T(std::move(value));
    while (!queue_.push(cell)) {
    }
  }
  bool tryPop(T& out) {
    T* cell = nullptr;
    if (!queue_.pop(cell)) return false;
    std::unique_ptr<T> owned(cell);
    out = std::move(*owned);
    return true;
  }

 private:
  static constexpr std::size_t kInitialNodes = 1024;
  boost::lockfree::queue<T*> queue_;
};

}  // namespace seqd
