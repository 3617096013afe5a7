#include "engine/symbol.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_seed.hpp"

using seqd::testing::testSeed;

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
  // Each thread interns its own strings (past an entry chunk's 16,384 entries and several of
  // the arena's 256 KiB chunks, so chunks are added while others read) and reads back every
  // Symbol it made.
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

TEST_CASE("a SymbolBatch interns as Symbol() does, one index a string") {
  const Symbol before = "symbol-test-batch-before";
  std::vector<Symbol> made;
  {
    const SymbolBatch batch;
    made.push_back(batch("symbol-test-batch-new"));
    made.push_back(batch("symbol-test-batch-before"));
    made.push_back(batch("symbol-test-batch-new"));
    made.push_back(batch(""));
  }
  CHECK(made[0] == Symbol("symbol-test-batch-new"));
  CHECK(made[0].str() == "symbol-test-batch-new");
  CHECK(made[1].index() == before.index());
  CHECK(made[2].index() == made[0].index());
  CHECK(made[3].empty());
  CHECK(Symbol::find("symbol-test-batch-new") == made[0]);
}

TEST_CASE("threads intern by batch and one at a time at once") {
  // One thread interns batches of 256 (as a load does), the other the same strings one at a
  // time with Symbol(), in the opposite order: each string gets one index, read back whole.
  constexpr int kStrings = 20000;
  const auto text = [](int i) { return "symbol-test-both-" + std::to_string(i); };
  std::vector<Symbol> batched(kStrings);
  std::vector<Symbol> single(kStrings);
  std::thread batches([&] {
    for (int start = 0; start < kStrings; start += 256) {
      const SymbolBatch batch;
      for (int i = start; i < std::min(kStrings, start + 256); ++i) batched[i] = batch(text(i));
    }
  });
  for (int i = kStrings - 1; i >= 0; --i) single[i] = Symbol(text(i));
  batches.join();
  int wrong = 0;
  for (int i = 0; i < kStrings; ++i) {
    if (batched[i] != single[i] || batched[i].str() != text(i)) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE("two threads find() under one SymbolBatch: the interned found, the rest not interned") {
  // What a restart does with its rows' contact keys: one batch holds the table's lock, two
  // threads look strings up at once through it, and the ones not found are interned after.
  constexpr int kStrings = 40000;
  const auto text = [](int i) { return "symbol-test-find-" + std::to_string(i); };
  std::vector<Symbol> made;
  for (int i = 0; i < kStrings; i += 2) made.push_back(Symbol(text(i)));  // the even ones
  const std::size_t count = symbolCount();
  std::vector<std::optional<Symbol>> found(kStrings);
  {
    const SymbolBatch batch;
    const auto look_up = [&](int from, int to) {
      for (int i = from; i < to; ++i) found[i] = batch.find(text(i));
    };
    std::thread second([&] { look_up(kStrings / 2, kStrings); });
    look_up(0, kStrings / 2);
    second.join();
    CHECK(batch.find("")->empty());
  }
  CHECK(symbolCount() == count);
  int wrong = 0;
  for (int i = 0; i < kStrings; ++i) {
    const bool right =
        i % 2 == 0 ? found[i].has_value() && *found[i] == made[i / 2] : !found[i].has_value();
    if (!right) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE("text with NUL bytes, text past an arena chunk, c_str() and views that stay put") {
  const std::string with_nul("symbol-test-\0-nul", 17);
  Symbol nul = with_nul;
  CHECK(nul.size() == 17);
  CHECK(nul.view() == with_nul);
  CHECK(nul != "symbol-test-");
  const std::string huge(300 * 1024, 'h');  // over the arena's 256 KiB chunk: a chunk of its own
  Symbol big = huge;
  CHECK(big.view() == huge);
  CHECK(std::strlen(big.c_str()) == huge.size());
  Symbol small = "symbol-test-after-huge";
  CHECK(std::strcmp(small.c_str(), "symbol-test-after-huge") == 0);
  // Views handed out earlier point at the same bytes after the table grew by many chunks.
  const char* before = small.view().data();
  for (int i = 0; i < 40000; ++i) Symbol("symbol-test-growth-" + std::to_string(i));
  CHECK(small.view().data() == before);
  CHECK(small == "symbol-test-after-huge");
  CHECK(Symbol(huge) == big);
  CHECK(Symbol(with_nul) == nul);
}

// An entry holds a text's length up to 65,534 bytes; from 65,535 on the length is stored
// before the bytes instead. Each side of that edge reads back whole, and finds itself.
TEST_CASE("texts either side of the length an entry holds read back exactly") {
  for (const std::size_t length : {65533u, 65534u, 65535u, 65536u, 70000u}) {
    std::string text(length, 'e');
    text.front() = 'L';
    text.back() = static_cast<char>('a' + length % 26);
    const Symbol symbol = text;
    CHECK_MESSAGE(symbol.size() == length, length);
    CHECK_MESSAGE(symbol.view() == text, length);
    CHECK_MESSAGE(std::strlen(symbol.c_str()) == length, length);
    CHECK_MESSAGE(Symbol::find(text) == symbol, length);
    CHECK_MESSAGE(Symbol(text).index() == symbol.index(), length);
  }
}

TEST_CASE("find() looks a string up without interning it") {
  CHECK_FALSE(Symbol::find("symbol-test-never-interned").has_value());
  const std::size_t count = symbolCount();
  CHECK_FALSE(Symbol::find("symbol-test-never-interned-2").has_value());
  CHECK(symbolCount() == count);
  Symbol made = "symbol-test-found";
  REQUIRE(Symbol::find("symbol-test-found").has_value());
  CHECK(Symbol::find("symbol-test-found")->index() == made.index());
  CHECK(Symbol::find("")->index() == 0);
}

TEST_CASE("a SymbolBatch's many-string forms give what the one-string forms give") {
  // Batches of random sizes (across the window of strings whose lines are asked for ahead),
  // of strings some interned already, some repeated within the batch, some empty.
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  const auto text = [&] {
    const std::uint64_t pick = random() % 20;
    return pick == 0 ? std::string() : "symbol-test-many-" + std::to_string(random() % 3000);
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> texts(1 + random() % 300);
    for (std::string& each : texts) each = text();
    const std::vector<std::string_view> views(texts.begin(), texts.end());
    // What the one-string find says before any is interned, then the many-string find.
    std::vector<std::optional<Symbol>> found(texts.size());
    std::vector<std::optional<Symbol>> found_one(texts.size());
    {
      const SymbolBatch batch;
      for (std::size_t i = 0; i < texts.size(); ++i) found_one[i] = batch.find(views[i]);
      batch.find(views, found);
    }
    for (std::size_t i = 0; i < texts.size(); ++i) {
      REQUIRE(found[i].has_value() == found_one[i].has_value());
      if (found[i]) REQUIRE(found[i]->index() == found_one[i]->index());
    }
    std::vector<Symbol> interned(texts.size());
    {
      const SymbolBatch batch;
      batch(views, interned);
    }
    for (std::size_t i = 0; i < texts.size(); ++i) {
      REQUIRE(interned[i].view() == texts[i]);
      REQUIRE(interned[i] == Symbol(texts[i]));
      if (found[i]) REQUIRE(interned[i].index() == found[i]->index());
    }
  }
}

TEST_CASE("random strings intern to one index each and read back exactly") {
  const unsigned seed = std::random_device()();
  INFO("seed " << seed);
  MESSAGE("symbol random strings seed " << seed);
  std::mt19937 random(seed);
  std::map<std::string, std::uint32_t> indexes;
  std::vector<std::pair<Symbol, std::string>> made;
  for (int i = 0; i < 20000; ++i) {
    // Short strings over a small alphabet repeat often; a few are long or binary.
    std::string text = "symbol-test-random-";
    const std::size_t length = random() % 8 == 0 ? random() % 600 : random() % 6;
    for (std::size_t c = 0; c < length; ++c) {
      text += random() % 16 == 0 ? static_cast<char>(random() % 256)
                                 : static_cast<char>('a' + random() % 3);
    }
    Symbol symbol = text;
    auto at = indexes.emplace(text, symbol.index()).first;
    CHECK(at->second == symbol.index());
    made.emplace_back(symbol, text);
  }
  for (const auto& [symbol, text] : made) {
    CHECK(symbol.view() == text);
    CHECK(Symbol::find(text)->index() == symbol.index());
  }
}

TEST_CASE("reserve() sizes the table once: interning that many strings then does not grow it") {
  constexpr std::size_t kStrings = 50000;
  Symbol::reserve(kStrings);
  const std::size_t capacity = symbolCapacity();
  CHECK(capacity >= symbolCount() + kStrings);
  std::vector<Symbol> interned;
  for (std::size_t i = 0; i < kStrings; ++i) {
    interned.push_back(Symbol("symbol-test-reserved-" + std::to_string(i)));
  }
  CHECK(symbolCapacity() == capacity);
  // Every string still finds its one index after the table was sized ahead.
  for (std::size_t i = 0; i < kStrings; i += 997) {
    const std::string text = "symbol-test-reserved-" + std::to_string(i);
    REQUIRE(Symbol::find(text).has_value());
    CHECK(*Symbol::find(text) == interned[i]);
    CHECK(interned[i].view() == text);
  }
}

}  // namespace
}  // namespace seqd
