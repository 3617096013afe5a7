// Proves ContactHashIndex (engine/contact_hash_index.hpp) against a plain model: random
// inserts, erases (also of entries whose text changed since) and lookups, with hashes made to
// collide and to crowd a few slots so that probes run long, wrap around the table's end, and
// erases shift runs back. Every lookup is checked against the model, after every step.
#include "engine/contact_hash_index.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "engine/contact.hpp"
#include "test_seed.hpp"

using seqd::testing::testSeed;

namespace seqd {
namespace {

TEST_CASE("a contact hash index finds what a model finds, through collisions and erases") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  // The "text" of each index: the hash it is under now. Few distinct hashes, most of them
  // with high bits alike (one home slot), so runs are long and cross the table's end.
  std::map<std::uint32_t, std::uint64_t> hash_now;
  const auto hash_of = [&](std::uint32_t index) { return hash_now.at(index); };
  const auto random_hash = [&] {
    const std::uint64_t pick = random() % 12;
    return pick < 8 ? ~std::uint64_t{0} - pick : pick * 0x0123456789ABCDEFULL;
  };
  ContactHashIndex index;
  std::map<std::uint32_t, std::uint64_t> model;  // what is in the index, under which hash
  for (int step = 0; step < 20000; ++step) {
    const std::uint32_t which = 1 + static_cast<std::uint32_t>(random() % 300);
    const int roll = static_cast<int>(random() % 10);
    if (roll < 5 && model.count(which) == 0) {
      hash_now[which] = random_hash();
      index.insert(which, hash_now[which], hash_of);
      model[which] = hash_now[which];
    } else if (roll < 8 && model.count(which) == 1) {
      // Its text changes first, now and then: erased under the hash it was put in under.
      if (random() % 2 == 0) hash_now[which] = random_hash();
      index.erase(which, model[which], hash_of);
      model.erase(which);
    } else if (roll == 8 && model.count(which) == 0) {
      index.erase(which, random_hash(), hash_of);  // not there: a no-op
    }
    REQUIRE(index.size() == model.size());
    REQUIRE(4 * index.size() <= 3 * index.slotCount());
    std::set<std::uint64_t> hashes;
    for (const auto& [at, hash] : model) hashes.insert(hash);
    hashes.insert(random_hash());
    for (std::uint64_t hash : hashes) {
      std::vector<std::uint32_t> want;
      for (const auto& [at, held] : model) {
        if (held == hash) want.push_back(at);
      }
      REQUIRE_MESSAGE(index.find(hash, hash_of) == want, "step ", step, " hash ", hash);
    }
  }
}

TEST_CASE("an index reserved for many takes them without growing, and finds each") {
  std::vector<std::uint64_t> hashes(1, 0);
  for (std::uint32_t i = 1; i <= 5000; ++i) hashes.push_back(fnv1a64("c" + std::to_string(i)));
  const auto hash_of = [&](std::uint32_t index) { return hashes[index]; };
  ContactHashIndex index;
  index.reserve(5000, hash_of);
  const std::size_t slots = index.slotCount();
  CHECK(slots == 8192);
  for (std::uint32_t i = 1; i <= 5000; ++i) index.insert(i, hashes[i], hash_of);
  CHECK(index.slotCount() == slots);
  for (std::uint32_t i = 1; i <= 5000; ++i) {
    CHECK(index.find(hashes[i], hash_of) == std::vector<std::uint32_t>{i});
  }
  CHECK(index.find(fnv1a64("c5001"), hash_of).empty());
}

TEST_CASE("fnv1a64Lower is fnv1a64 of the lower-cased text") {
  for (const char* text : {"", "Ann@Example.TEST", "already@lower.test", "ÄÖ@x.TEST", "[Z]@A"}) {
    CHECK(fnv1a64Lower(text) == fnv1a64(toLowerAscii(text)));
  }
}

}  // namespace
}  // namespace seqd
