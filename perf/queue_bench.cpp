// queue_bench: items/s and ns per item through the queues between seqd's threads, the way the
// daemon uses them: producers push, one consumer sleeps on a Wakeup and drains.
//
// Usage: queue_bench [ITEMS [RUNS]]   (default 2,000,000 items per run, 3 runs; the median is
// printed with the fastest and slowest)
//
// Two queues carry the same items (a DeliveryResult-sized value: ids, a Message-ID string and
// an empty detail, moved, never copied):
//   channel, per item   the Channel that was used until 2026-12-02, kept here as the reference:
//                       Boost.Lockfree queue of heap cells, push spins when its node pool is
//                       exhausted, and Wakeup::notify (a mutex and a notify) after every item
//   batch B             io/batch_queue.hpp, bounded at 4096: each producer pushes B items at
//                       a time (pushBatch, waiting when full), the consumer takes everything
//                       queued in one popUpTo; one wakeup per batch that finds the queue empty
// with 1 producer and with 4 producers (one consumer: the engine thread). Also printed: how
// often the consumer went to sleep (each time, a producer paid for waking it), per 1000 items.
// The machine has few cores, so with 4 producers the threads share them: it measures
// contention, not parallelism.
#include <algorithm>
#include <atomic>
#include <boost/lockfree/queue.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/batch_queue.hpp"

using namespace seqd;

namespace {

struct Item {
  std::uint64_t enrollment_id = 0;
  std::uint32_t step_index = 0;
  std::uint32_t producer = 0;
  std::string message_id;
  std::string detail;
};

// The previous io/channel.hpp, verbatim in behaviour.
class OldWakeup {
 public:
  void notify() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_ = true;
    }
    condition_.notify_all();
  }
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
class OldChannel {
 public:
  OldChannel() : queue_(1024) {}
  ~OldChannel() {
    T* cell = nullptr;
    while (queue_.pop(cell)) delete cell;
  }
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
  boost::lockfree::queue<T*> queue_;
};

Item makeItem(std::uint32_t producer, std::uint64_t sequence) {
  Item item;
  item.enrollment_id = sequence;
  item.producer = producer;
  // Longer than the small-string buffer, as real Message-IDs are: one allocation per item,
  // made by the producer in both runs.
  item.message_id = "<seqd." + std::to_string(sequence) + ".bench@acme.test>";
  return item;
}

// Times the consumer went to sleep, over all runs of the current row.
std::atomic<std::size_t> consumer_waits{0};

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Returns seconds; checks every item arrived.
double runOld(std::size_t items, int producers) {
  OldChannel<Item> channel;
  OldWakeup wakeup;
  std::atomic<std::size_t> received{0};
  const std::size_t per_producer = items / static_cast<std::size_t>(producers);
  const std::size_t total = per_producer * static_cast<std::size_t>(producers);
  auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    Item item;
    std::size_t count = 0;
    std::uint64_t checksum = 0;
    while (count < total) {
      while (channel.tryPop(item)) {
        ++count;
        checksum += item.enrollment_id;
      }
      if (count < total) {
        consumer_waits.fetch_add(1);
        wakeup.waitFor(std::chrono::milliseconds(50));
      }
    }
    received.store(count + (checksum == 0 ? 1 : 0));
  });
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (std::size_t i = 1; i <= per_producer; ++i) {
        channel.push(makeItem(static_cast<std::uint32_t>(p), i));
        wakeup.notify();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  consumer.join();
  double seconds = secondsSince(start);
  if (received.load() != total) {
    std::fprintf(stderr, "old channel lost items\n");
    std::exit(1);
  }
  return seconds;
}

double runBatch(std::size_t items, int producers, std::size_t batch) {
  Wakeup wakeup;
  BatchQueue<Item> queue(4096, [&] { wakeup.notify(); });
  std::atomic<std::size_t> received{0};
  const std::size_t per_producer = items / static_cast<std::size_t>(producers);
  const std::size_t total = per_producer * static_cast<std::size_t>(producers);
  auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    std::vector<Item> out;
    std::size_t count = 0;
    std::uint64_t checksum = 0;
    while (count < total) {
      out.clear();
      if (queue.popUpTo(out) == 0) {
        consumer_waits.fetch_add(1);
        wakeup.waitFor(std::chrono::milliseconds(50));
        continue;
      }
      count += out.size();
      for (const Item& item : out) checksum += item.enrollment_id;
    }
    received.store(count + (checksum == 0 ? 1 : 0));
  });
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::vector<Item> pending;
      pending.reserve(batch);
      for (std::size_t i = 1; i <= per_producer; ++i) {
        pending.push_back(makeItem(static_cast<std::uint32_t>(p), i));
        if (pending.size() == batch || i == per_producer) queue.pushBatch(pending);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  consumer.join();
  double seconds = secondsSince(start);
  if (received.load() != total) {
    std::fprintf(stderr, "batch queue lost items\n");
    std::exit(1);
  }
  return seconds;
}

template <typename Run>
void report(const char* name, int producers, std::size_t items, int runs, Run run) {
  std::vector<double> seconds;
  consumer_waits.store(0);
  for (int r = 0; r < runs; ++r) seconds.push_back(run());
  std::sort(seconds.begin(), seconds.end());
  const std::size_t total =
      items / static_cast<std::size_t>(producers) * static_cast<std::size_t>(producers);
  double median = seconds[seconds.size() / 2];
  std::printf(
      "%-18s %d producer(s) %10.0f items/s %7.1f ns/item (fastest %.1f, slowest %.1f) "
      "%6.1f consumer sleeps/1000 items\n",
      name, producers, static_cast<double>(total) / median,
      median * 1e9 / static_cast<double>(total), seconds.front() * 1e9 / static_cast<double>(total),
      seconds.back() * 1e9 / static_cast<double>(total),
      static_cast<double>(consumer_waits.load()) * 1000 /
          (static_cast<double>(total) * static_cast<double>(runs)));
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t items = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  std::printf("queue_bench: %zu items per run, %d runs, %u hardware threads\n", items, runs,
              std::thread::hardware_concurrency());
  for (int producers : {1, 4}) {
    report("channel, per item", producers, items, runs, [&] { return runOld(items, producers); });
    for (std::size_t batch : {std::size_t{1}, std::size_t{16}, std::size_t{256}}) {
      std::string name = "batch " + std::to_string(batch);
      report(name.c_str(), producers, items, runs,
             [&] { return runBatch(items, producers, batch); });
    }
  }
  return 0;
}
