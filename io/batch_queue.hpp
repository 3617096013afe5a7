// BatchQueue: a bounded queue that moves values between threads by batch, plus Wakeup, the
// one place a thread sleeps until one of several queues has work.
//
// Values cross by value in std::vectors: a producer hands a whole vector in (pushBatch) and a
// consumer takes everything queued in one call (popUpTo). Both are swaps whenever they can be:
// pushing into an empty queue swaps the producer's vector in, and popping everything into an
// empty vector swaps the queue's vector out, so the room of both vectors is reused and nothing
// is allocated per item once they have grown. Otherwise items are moved one by one under the
// same single lock acquisition.
//
// Bound: at most capacity() items are queued, ever. tryPushBatch() takes what fits and says
// how many; pushBatch() takes what fits and waits for room for the rest (for producers that
// may block; an event-loop thread must use tryPushBatch() and stop reading instead). close()
// wakes every blocked producer and consumer; pushes after it fail, pops still drain.
//
// Wakeups: one per batch, and only when the consumer may be sleeping. A push that makes the
// queue non-empty calls on_nonempty (for a consumer that sleeps on a Wakeup shared by several
// queues) and wakes one consumer blocked in waitPopUpTo(); a push into a non-empty queue
// notifies nobody, since its consumer has not emptied the queue yet and will see the items
// when it does. A consumer that leaves items behind wakes the next blocked consumer, and one
// that makes room wakes the blocked producers. No method spins.
//
// Thread-safety: every method may be called from any thread. on_nonempty runs on the
// pushing thread, after the queue's lock is released.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

namespace seqd {

// A flag with a condition variable for ONE waiting thread. Producers notify after pushing;
// the waiter clears the flag as it wakes and then drains its queues, so a push made after
// the clear is seen by that drain or wakes the next wait: no wakeup is lost. A notify while
// one is already pending costs one atomic exchange and takes no lock.
class Wakeup {
 public:
  void notify() {
    if (pending_.exchange(true, std::memory_order_acq_rel)) return;
    // Taking the mutex orders this notify after the waiter's check of the flag: either the
    // waiter saw the flag set, or it is already waiting and gets the notification.
    { std::lock_guard<std::mutex> lock(mutex_); }
    condition_.notify_one();
  }
  // Returns true when notified (or already notified since the last wait), false after
  // timeout. Either way the flag is clear afterwards.
  bool waitFor(std::chrono::microseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    bool notified = condition_.wait_for(
        lock, timeout, [this] { return pending_.load(std::memory_order_acquire); });
    pending_.store(false, std::memory_order_release);
    return notified;
  }

 private:
  std::mutex mutex_;
  std::condition_variable condition_;
  std::atomic<bool> pending_{false};
};

template <typename T>
class BatchQueue {
 public:
  // REQUIRES: capacity > 0.
  explicit BatchQueue(std::size_t capacity, std::function<void()> on_nonempty = {})
      : capacity_(capacity), on_nonempty_(std::move(on_nonempty)) {}
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  std::size_t capacity() const { return capacity_; }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queued();
  }
  bool closed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

  // Moves as many items as fit, from the front of `items`, and erases them from it; never
  // blocks. Returns how many went in: 0 when full or closed.
  std::size_t tryPushBatch(std::vector<T>& items) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) return 0;
    return pushLocked(items, lock);
  }
  // One item: moved from only when it went in.
  bool tryPush(T& item) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_ || queued() >= capacity_) return false;
    const bool was_empty = queued() == 0;
    compactLocked();
    items_.push_back(std::move(item));
    afterPush(was_empty, lock);
    return true;
  }
  // Moves every item in, in order, waiting for room while the queue is full. Returns false
  // when the queue closed first; the items not taken are left in `items`.
  bool pushBatch(std::vector<T>& items) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!items.empty()) {
      if (closed_) return false;
      if (queued() >= capacity_) {
        ++producers_waiting_;
        not_full_.wait(lock, [this] { return closed_ || queued() < capacity_; });
        --producers_waiting_;
        continue;
      }
      pushLocked(items, lock);
      lock.lock();  // pushLocked released it to notify
    }
    return true;
  }
  bool push(T item) {
    std::vector<T> one;
    one.push_back(std::move(item));
    return pushBatch(one);
  }

  // Moves up to `max` items, oldest first, onto the end of `out`; never blocks. When `out`
  // is empty and everything fits, the two vectors are swapped. Returns how many.
  std::size_t popUpTo(std::vector<T>& out, std::size_t max = SIZE_MAX) {
    std::unique_lock<std::mutex> lock(mutex_);
    return popLocked(out, max, lock);
  }
  // popUpTo(), first waiting up to `timeout` for an item or close(). Returns 0 on timeout
  // or when closed and drained.
  std::size_t waitPopUpTo(std::vector<T>& out, std::size_t max, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (queued() == 0 && !closed_) {
      ++consumers_waiting_;
      not_empty_.wait_for(lock, timeout, [this] { return closed_ || queued() > 0; });
      --consumers_waiting_;
    }
    return popLocked(out, max, lock);
  }

  // waitPopUpTo() taking a fair share for one of `parts` consumers: ceil(size / parts) items,
  // at least one, at most `max`. Workers that each take their share leave work for the
  // others instead of one taking everything.
  std::size_t waitPopShare(std::vector<T>& out, std::size_t parts, std::size_t max,
                           std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (queued() == 0 && !closed_) {
      ++consumers_waiting_;
      not_empty_.wait_for(lock, timeout, [this] { return closed_ || queued() > 0; });
      --consumers_waiting_;
    }
    parts = std::max<std::size_t>(parts, 1);
    const std::size_t share = (queued() + parts - 1) / parts;
    return popLocked(out, std::min(max, std::max<std::size_t>(share, 1)), lock);
  }

  // Refuses further pushes and wakes every blocked producer and consumer. Idempotent.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  // REQUIRES: lock held, not closed. Returns with the lock released.
  std::size_t pushLocked(std::vector<T>& items, std::unique_lock<std::mutex>& lock) {
    const std::size_t room = capacity_ - std::min(capacity_, queued());
    const std::size_t count = std::min(room, items.size());
    if (count == 0) {
      lock.unlock();
      return 0;
    }
    const bool was_empty = queued() == 0;
    compactLocked();
    if (was_empty && count == items.size()) {
      items_.swap(items);  // items gets the queue's emptied vector back, with its room
    } else {
      items_.insert(items_.end(), std::make_move_iterator(items.begin()),
                    std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(count)));
      items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(count));
    }
    afterPush(was_empty, lock);
    return count;
  }

  void afterPush(bool was_empty, std::unique_lock<std::mutex>& lock) {
    const bool wake_consumer = was_empty && consumers_waiting_ > 0;
    lock.unlock();
    if (!was_empty) return;
    if (wake_consumer) not_empty_.notify_one();
    if (on_nonempty_) on_nonempty_();
  }

  std::size_t popLocked(std::vector<T>& out, std::size_t max, std::unique_lock<std::mutex>& lock) {
    const std::size_t count = std::min(max, queued());
    if (count == 0) return 0;
    if (out.empty() && head_ == 0 && count == items_.size()) {
      out.swap(items_);  // the queue keeps the room of the consumer's emptied vector
    } else {
      // A loop, not insert() of move iterators: for a trivially copyable T, g++ 12 at -O3
      // warns of a memmove bound it cannot prove (-Wstringop-overflow false positive).
      out.reserve(out.size() + count);
      for (std::size_t i = 0; i < count; ++i) out.push_back(std::move(items_[head_ + i]));
      head_ += count;
      if (head_ == items_.size()) {
        items_.clear();
        head_ = 0;
      }
    }
    const bool wake_producers = producers_waiting_ > 0;
    const bool wake_consumer = queued() > 0 && consumers_waiting_ > 0;
    lock.unlock();
    if (wake_producers) not_full_.notify_all();
    if (wake_consumer) not_empty_.notify_one();
    return count;
  }

  const std::size_t capacity_;
  const std::function<void()> on_nonempty_;
  mutable std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  // REQUIRES: lock held. Items queued.
  std::size_t queued() const { return items_.size() - head_; }
  // REQUIRES: lock held. Drops the items popped already from the vector's front, before a
  // push: a pop takes its items from the front without moving the rest (workers that each
  // take a share of a 4,096-intent push moved the rest at every pop, ~10% of their time).
  void compactLocked() {
    if (head_ == 0) return;
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }

  std::vector<T> items_;  // oldest first, from head_ (those before it were popped)
  std::size_t head_ = 0;
  std::size_t producers_waiting_ = 0;
  std::size_t consumers_waiting_ = 0;
  bool closed_ = false;
};

}  // namespace seqd
