#include "io/batch_queue.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_seed.hpp"

using seqd::testing::testSeed;

namespace seqd {
namespace {

using namespace std::chrono_literals;

std::vector<int> range(int from, int to) {
  std::vector<int> values;
  for (int i = from; i < to; ++i) values.push_back(i);
  return values;
}

TEST_CASE("a producer cannot push past the capacity; it is told how many went in") {
  BatchQueue<int> queue(8);
  std::vector<int> batch = range(0, 13);
  CHECK(queue.tryPushBatch(batch) == 8);
  CHECK(queue.size() == 8);
  CHECK(batch == range(8, 13));  // what did not fit stays with the producer, in order
  int one = 99;
  CHECK_FALSE(queue.tryPush(one));
  CHECK(one == 99);
  CHECK(queue.tryPushBatch(batch) == 0);
  CHECK(batch.size() == 5);

  std::vector<int> out;
  CHECK(queue.popUpTo(out, 3) == 3);
  CHECK(out == range(0, 3));
  CHECK(queue.tryPushBatch(batch) == 3);
  CHECK(queue.size() == 8);
  out.clear();
  CHECK(queue.popUpTo(out) == 8);
  CHECK(out == std::vector<int>{3, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("pushBatch waits while the queue is full and finishes once there is room") {
  BatchQueue<int> queue(4);
  std::vector<int> first = range(0, 4);
  REQUIRE(queue.tryPushBatch(first) == 4);
  std::atomic<bool> done{false};
  auto producer = std::async(std::launch::async, [&] {
    std::vector<int> more = range(4, 10);
    bool pushed = queue.pushBatch(more);
    done.store(true);
    return pushed;
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(done.load());
  CHECK(queue.size() == 4);  // never more than the capacity

  std::vector<int> seen;
  while (seen.size() < 10) {
    std::vector<int> out;
    queue.waitPopUpTo(out, 3, 5s);
    REQUIRE_FALSE(out.empty());
    CHECK(queue.size() <= 4);
    seen.insert(seen.end(), out.begin(), out.end());
  }
  REQUIRE(producer.wait_for(5s) == std::future_status::ready);
  CHECK(producer.get());
  CHECK(seen == range(0, 10));
}

TEST_CASE("a batch into an empty queue and everything out are swaps: the vectors' room is reused") {
  BatchQueue<std::string> queue(1024);
  std::vector<std::string> in;
  std::vector<std::string> out;
  in.reserve(100);
  out.reserve(100);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 100; ++i) in.push_back(std::to_string(round * 100 + i));
    const std::string* buffer = in.data();
    REQUIRE(queue.tryPushBatch(in) == 100);
    CHECK(in.empty());
    // The queue's emptied vector came back: after the first round, the room of the vector the
    // consumer emptied, so from then on the two buffers only change hands.
    if (round > 0) CHECK(in.capacity() >= 100);
    out.clear();
    REQUIRE(queue.popUpTo(out) == 100);
    CHECK(out.data() == buffer);  // the same storage went through, nothing was copied
    CHECK(out.front() == std::to_string(round * 100));
    CHECK(out.back() == std::to_string(round * 100 + 99));
  }
}

TEST_CASE("one consumer notification per batch, only when the queue was empty") {
  int notified = 0;
  BatchQueue<int> queue(100, [&] { ++notified; });
  std::vector<int> batch = range(0, 10);
  queue.tryPushBatch(batch);
  CHECK(notified == 1);
  batch = range(10, 20);
  queue.tryPushBatch(batch);  // the consumer has not emptied the queue: no notification
  int one = 20;
  queue.tryPush(one);
  CHECK(notified == 1);
  std::vector<int> out;
  queue.popUpTo(out);
  batch = range(21, 30);
  queue.tryPushBatch(batch);
  CHECK(notified == 2);
  batch = range(0, 200);
  out.clear();
  queue.popUpTo(out);
  queue.tryPushBatch(batch);  // a partial push notifies once too
  CHECK(notified == 3);
}

// N producers push (producer, sequence) pairs in random batch sizes, blocking when full, into
// a small queue; consumers take random amounts. Every item arrives once, each producer's in
// its order, and the bound holds throughout.
TEST_CASE("randomized producers and consumers: nothing lost or duplicated, FIFO per producer") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (int trial = 0; trial < 4; ++trial) {
    const int producers = 1 + static_cast<int>(random() % 6);
    const int consumers = 1 + static_cast<int>(random() % 3);
    const std::size_t capacity = 1 + random() % 64;
    const int per_producer = 20000;
    CAPTURE(trial);
    CAPTURE(producers);
    CAPTURE(consumers);
    CAPTURE(capacity);
    BatchQueue<std::pair<int, int>> queue(capacity);
    std::atomic<bool> over_capacity{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      const std::uint64_t producer_seed = random();
      threads.emplace_back([&, p, producer_seed] {
        std::mt19937_64 local(producer_seed);
        int next = 0;
        std::vector<std::pair<int, int>> batch;
        while (next < per_producer) {
          const int size = 1 + static_cast<int>(local() % 100);
          for (int i = 0; i < size && next < per_producer; ++i) batch.emplace_back(p, next++);
          if (local() % 2 == 0) queue.tryPushBatch(batch);  // what fits, then wait for room
          if (!batch.empty()) CHECK(queue.pushBatch(batch));
          if (queue.size() > capacity) over_capacity.store(true);
        }
      });
    }
    std::vector<std::vector<std::pair<int, int>>> received(static_cast<std::size_t>(consumers));
    std::atomic<int> total{0};
    const int expected = producers * per_producer;
    for (int c = 0; c < consumers; ++c) {
      const std::uint64_t consumer_seed = random();
      threads.emplace_back([&, c, consumer_seed] {
        std::mt19937_64 local(consumer_seed);
        std::vector<std::pair<int, int>> out;
        while (total.load() < expected) {
          out.clear();
          std::size_t got = queue.waitPopUpTo(out, 1 + local() % 80, 20ms);
          if (queue.size() > capacity) over_capacity.store(true);
          total.fetch_add(static_cast<int>(got));
          auto& mine = received[static_cast<std::size_t>(c)];
          mine.insert(mine.end(), out.begin(), out.end());
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    CHECK_FALSE(over_capacity.load());
    CHECK(total.load() == expected);
    // Per producer, each consumer saw its items in increasing order, and the union is all.
    std::vector<std::vector<int>> count(static_cast<std::size_t>(producers),
                                        std::vector<int>(per_producer, 0));
    for (const auto& mine : received) {
      std::vector<int> last(static_cast<std::size_t>(producers), -1);
      for (auto [p, sequence] : mine) {
        CHECK(sequence > last[static_cast<std::size_t>(p)]);
        last[static_cast<std::size_t>(p)] = sequence;
        ++count[static_cast<std::size_t>(p)][static_cast<std::size_t>(sequence)];
      }
    }
    int wrong = 0;
    for (const auto& per : count) {
      for (int seen : per) wrong += seen != 1 ? 1 : 0;
    }
    CHECK(wrong == 0);
  }
}

// Ping-pong: the producer pushes one batch and waits for the consumer to take it, thousands of
// times. The consumer sleeps on a Wakeup with a long timeout: a lost wakeup shows as a timed
// out wait (and a test that takes seconds per loss), so every wait must end notified.
TEST_CASE("the consumer wakes for every batch: no lost wakeup") {
  Wakeup wakeup;
  BatchQueue<int> queue(16, [&] { wakeup.notify(); });
  constexpr int kRounds = 3000;
  std::atomic<int> taken{0};
  std::atomic<int> timed_out{0};
  std::thread consumer([&] {
    std::vector<int> out;
    int expected = 0;
    while (expected < kRounds) {
      out.clear();
      if (queue.popUpTo(out) == 0) {
        if (!wakeup.waitFor(2s)) timed_out.fetch_add(1);
        continue;
      }
      for (int value : out) CHECK(value == expected++);
      taken.store(expected);
    }
  });
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    int value = i;
    REQUIRE(queue.tryPush(value));
    while (taken.load() <= i) {
      std::this_thread::yield();
      REQUIRE(std::chrono::steady_clock::now() - started < 60s);
    }
  }
  consumer.join();
  CHECK(timed_out.load() == 0);
}

TEST_CASE("blocked consumers wake for every batch (waitPopUpTo, several consumers)") {
  BatchQueue<int> queue(4);
  constexpr int kItems = 4000;
  std::atomic<int> taken{0};
  std::atomic<int> timed_out{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.emplace_back([&] {
      std::vector<int> out;
      while (taken.load() < kItems) {
        out.clear();
        if (queue.waitPopUpTo(out, 1, 2s) == 0) {
          if (taken.load() < kItems && !queue.closed()) timed_out.fetch_add(1);
          continue;
        }
        taken.fetch_add(1);
      }
    });
  }
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kItems; ++i) {
    REQUIRE(queue.push(i));
    while (taken.load() <= i) {  // one at a time: each push finds the consumers asleep
      std::this_thread::yield();
      REQUIRE(std::chrono::steady_clock::now() - started < 60s);
    }
  }
  queue.close();
  for (std::thread& consumer : consumers) consumer.join();
  CHECK(timed_out.load() == 0);
}

TEST_CASE("close wakes blocked producers and consumers; pops still drain after it") {
  BatchQueue<int> queue(2);
  std::vector<int> fill = range(0, 2);
  REQUIRE(queue.tryPushBatch(fill) == 2);
  auto producer = std::async(std::launch::async, [&] {
    std::vector<int> more = range(2, 5);
    bool pushed = queue.pushBatch(more);
    return std::make_pair(pushed, more.size());
  });
  BatchQueue<int> empty(2);
  auto consumer = std::async(std::launch::async, [&] {
    std::vector<int> out;
    return empty.waitPopUpTo(out, 10, 60s);
  });
  std::this_thread::sleep_for(100ms);
  CHECK(producer.wait_for(0ms) == std::future_status::timeout);
  CHECK(consumer.wait_for(0ms) == std::future_status::timeout);
  auto closing = std::chrono::steady_clock::now();
  queue.close();
  empty.close();
  REQUIRE(producer.wait_for(5s) == std::future_status::ready);
  REQUIRE(consumer.wait_for(5s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - closing < 5s);
  auto [pushed, left] = producer.get();
  CHECK_FALSE(pushed);
  CHECK(left == 3);
  CHECK(consumer.get() == 0);
  int one = 7;
  CHECK_FALSE(queue.tryPush(one));
  std::vector<int> out;
  CHECK(queue.popUpTo(out) == 2);
  CHECK(out == range(0, 2));
}

}  // namespace
}  // namespace seqd
