// Proves TextPrefix orders texts as std::string_view does: its prefixes never disagree with
// the texts' order, and comparing the prefixes, then the texts when those are equal (as the
// status and contacts sorts do), is that order whole, for texts alike in up to all of their
// first 16 bytes, shorter and longer than 16, with NULs and bytes over 0x7F.
#include "engine/text_prefix.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

// a < b as the sorts compare them.
bool before(std::string_view a, std::string_view b) {
  const TextPrefix prefix_a(a);
  const TextPrefix prefix_b(b);
  if (prefix_a != prefix_b) return prefix_a < prefix_b;
  return a < b;
}

}  // namespace

TEST_CASE("a text's prefix is its first 16 bytes, big-endian, padded with zeros") {
  const TextPrefix prefix("ab");
  CHECK(prefix.high == 0x6162000000000000ULL);
  CHECK(prefix.low == 0);
  const TextPrefix long_text("0123456789abcdefXYZ");
  CHECK(long_text.high == 0x3031323334353637ULL);
  CHECK(long_text.low == 0x3839616263646566ULL);
  CHECK(TextPrefix("") == TextPrefix());
  CHECK(TextPrefix(std::string_view("ab\0", 3)) == TextPrefix("ab"));  // the texts decide
  CHECK(before("ab", std::string_view("ab\0", 3)));
  CHECK(TextPrefix("\xff") > TextPrefix("a"));  // unsigned, as string_view compares
}

TEST_CASE("randomized: ordering by prefix, then text, is ordering by text") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  // Texts from a few stems, so that many share their first bytes, some all 16.
  const std::vector<std::string> stems = {"", "a", "person", "person12345678@e",
                                          "\xc3\xa9t\xc3\xa9"};
  const std::string alphabet = std::string("ab\0\x7f\x80\xff", 6) + "z09@.";
  const auto text = [&] {
    std::string made = stems[random() % stems.size()];
    const std::size_t more = random() % 24;
    for (std::size_t i = 0; i < more; ++i) made += alphabet[random() % alphabet.size()];
    return made;
  };
  for (int i = 0; i < 200000; ++i) {
    const std::string a = text();
    const std::string b = random() % 4 == 0 ? a.substr(0, random() % (a.size() + 1)) : text();
    INFO("seed " << seed << " a '" << a << "' b '" << b << "'");
    const TextPrefix prefix_a(a);
    const TextPrefix prefix_b(b);
    const bool a_first = std::string_view(a) < std::string_view(b);
    REQUIRE(before(a, b) == a_first);
    REQUIRE(before(b, a) == (std::string_view(b) < std::string_view(a)));
    // The prefixes alone never contradict the texts.
    if (prefix_a < prefix_b) REQUIRE(a_first);
    if (prefix_b < prefix_a) REQUIRE_FALSE(a_first);
  }
}
