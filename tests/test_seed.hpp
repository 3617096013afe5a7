// testSeed(): the seed of a randomized test case, printed.
//
// SEQD_SEED, when set, replays a seed a run printed. Otherwise the seed is `fallback`: a fixed
// one, for a case that runs the same inputs every time, or (testSeed()) a fresh one from the
// OS, for a case that tries new inputs on every run. Either way the seed is printed as a
// doctest message, so every run's log says how to replay it.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <random>

namespace seqd::testing {

inline std::uint64_t testSeed(std::uint64_t fallback) {
  const char* fixed = std::getenv("SEQD_SEED");
  const std::uint64_t seed = fixed != nullptr ? std::strtoull(fixed, nullptr, 10) : fallback;
  MESSAGE("seed " << seed << " (SEQD_SEED=" << seed << " replays it)");
  return seed;
}

inline std::uint64_t testSeed() {
  std::random_device device;
  return testSeed((static_cast<std::uint64_t>(device()) << 32) ^ device());
}

}  // namespace seqd::testing
