#include "engine/symbol.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

namespace seqd {
namespace {

TEST_CASE("equal strings intern to one index, and a Symbol reads back its string") {
  const std::string text = "symbol-test-step";
  Symbol a = text;
  Symbol b = std::string_view("symbol-test-step");
  Symbol c = "symbol-test-other";
  CHECK(a == b);
  CHECK(a.index() == b.index());
  CHECK(a != c);
  CHECK(a.str() == text);
  CHECK(a == text);
  CHECK(text == a);
  CHECK(a == "symbol-test-step");
  CHECK(a.size() == text.size());
  CHECK(a.starts_with("symbol-test-"));
  CHECK("manual:" + a == "manual:symbol-test-step");
}

TEST_CASE("the empty Symbol is index 0 and equals the empty string") {
  Symbol empty;
  CHECK(empty.empty());
  CHECK(empty.index() == 0);
  CHECK(empty == "");
  CHECK(Symbol(std::string()) == empty);
  Symbol named = "symbol-test-named";
  CHECK_FALSE(named.empty());
  named.clear();
  CHECK(named == empty);
}

TEST_CASE("Symbols order by their strings, not by when they were interned") {
  // Interned in reverse order: a map keyed by Symbol must still iterate alphabetically.
  Symbol zebra = "symbol-test-order-zebra";
  Symbol apple = "symbol-test-order-apple";
  CHECK(zebra.index() < apple.index());
  CHECK(apple < zebra);
  std::map<Symbol, int> ordered = {{zebra, 2}, {apple, 1}};
  CHECK(ordered.begin()->first == apple);
}

TEST_CASE("threads intern and read Symbols at once") {
  // Each thread interns its own strings (past a chunk's 4,096 entries, so chunks are added
  // while others read) and reads back every Symbol it made.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  std::vector<int> wrong(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &wrong] {
      std::vector<Symbol> made;
      for (int i = 0; i < kPerThread; ++i) {
        made.push_back(Symbol("symbol-test-thread-" + std::to_string(t) + "-" + std::to_string(i)));
      }
      for (int i = 0; i < kPerThread; ++i) {
        if (made[i].str() != "symbol-test-thread-" + std::to_string(t) + "-" + std::to_string(i)) {
          ++wrong[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) CHECK(wrong[t] == 0);
  CHECK(Symbol("symbol-test-thread-3-4999") == "symbol-test-thread-3-4999");
  CHECK(symbolCount() >= kThreads * kPerThread);
}

}  // namespace
}  // namespace seqd
