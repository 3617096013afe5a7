// Proves SymbolIndex (engine/symbol_index.hpp) against a plain model: random inserts and
// lookups, with hashes made to collide and to crowd a few buckets so that inserts go on past
// full buckets, wrap around the table's end, and the table grows and is reserved meanwhile.
// Every lookup is checked against the model, after every step.
#include "engine/symbol_index.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "test_seed.hpp"

using seqd::testing::testSeed;

namespace seqd {
namespace {

TEST_CASE("a symbol index finds what a model finds, through crowded buckets and growth") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  // Each "string" is a number; its hash is drawn from a few values, most of them with the same
  // high bits (one home bucket, near the end, so that runs wrap) and some with the same tag.
  std::vector<std::uint64_t> hash_of_string;
  const auto random_hash = [&] {
    const std::uint64_t pick = random() % 16;
    if (pick < 10) return ~std::uint64_t{0} - pick * 0x100;  // one home, tags alike
    return random();
  };
  for (std::uint32_t i = 0; i < 3000; ++i) hash_of_string.push_back(random_hash());
  const auto hash_of = [&](std::uint32_t index) { return hash_of_string.at(index); };

  SymbolIndex index;
  std::map<std::uint32_t, bool> model;  // the strings put in
  for (int step = 0; step < 20000; ++step) {
    const std::uint32_t which = static_cast<std::uint32_t>(random() % hash_of_string.size());
    const std::uint64_t hash = hash_of_string[which];
    const auto equal = [&](std::uint32_t candidate) { return candidate == which; };
    const std::uint32_t found = index.find(hash, equal);
    if (model.count(which) != 0) {
      REQUIRE(found == which);
    } else {
      REQUIRE(found == SymbolIndex::kNone);
      if (random() % 3 != 0) {
        index.insert(which, hash, hash_of);
        model[which] = true;
      }
    }
    if (random() % 500 == 0) index.reserve(index.size() + random() % 400, hash_of);
    REQUIRE(index.size() == model.size());
    REQUIRE(index.size() <= index.capacity());
    // The first candidate is one put in, or there is none.
    const std::uint32_t candidate = index.firstCandidate(hash);
    if (candidate != SymbolIndex::kNone) REQUIRE(model.count(candidate) == 1);
  }
  // Everything put in is found, and nothing else, after all the growing.
  for (std::uint32_t which = 0; which < hash_of_string.size(); ++which) {
    const std::uint32_t found = index.find(
        hash_of_string[which], [&](std::uint32_t candidate) { return candidate == which; });
    REQUIRE(found == (model.count(which) != 0 ? which : SymbolIndex::kNone));
  }
}

TEST_CASE("a symbol index's buckets fill to the load, then it grows; reserve() sizes it once") {
  std::vector<std::uint64_t> hashes;
  std::mt19937_64 random(7);
  const auto hash_of = [&](std::uint32_t index) { return hashes.at(index); };
  SymbolIndex index;
  CHECK(index.capacity() == 0);
  CHECK(index.find(1, [](std::uint32_t) { return true; }) == SymbolIndex::kNone);
  index.reserve(100000, hash_of);
  const std::size_t buckets = index.bucketCount();
  CHECK(index.capacity() >= 100000);
  // Not rounded up to a power of two: within a bucket of what the load asks.
  CHECK(buckets * SymbolIndex::kSlots * SymbolIndex::kLoadPercent / 100 < 100000 + 2 * 12);
  for (std::uint32_t i = 0; i < 100000; ++i) {
    hashes.push_back(SymbolIndex::mix(random()));
    index.insert(i, hashes.back(), hash_of);
  }
  CHECK(index.bucketCount() == buckets);  // reserved: no growth
  std::uint32_t next = 100000;
  const auto add = [&] {
    hashes.push_back(SymbolIndex::mix(random()));
    index.insert(next++, hashes.back(), hash_of);
  };
  while (index.size() < index.capacity()) add();
  CHECK(index.bucketCount() == buckets);  // full to the load, not past it
  add();
  CHECK(index.bucketCount() == 2 * buckets);  // past the load: doubled
  for (std::uint32_t i = 0; i < index.size(); ++i) {
    REQUIRE(index.find(hashes[i], [&](std::uint32_t candidate) { return candidate == i; }) == i);
  }
}

}  // namespace
}  // namespace seqd
