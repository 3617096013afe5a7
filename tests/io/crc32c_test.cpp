// Proves crc32c() gives the published CRC32C values, extends across pieces, and that the
// hardware and table versions agree on every length and alignment.
#include "io/crc32c.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

using namespace seqd;

TEST_CASE("known CRC32C values") {
  CHECK(crc32c("") == 0);
  CHECK(crc32c("123456789") == 0xE3069283U);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAU);  // RFC 3720 B.4
  CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43U);
  CHECK(crc32cPortable("123456789") == 0xE3069283U);
}

TEST_CASE("a CRC extends over pieces as over the whole") {
  const std::string text = "The quick brown fox jumps over the lazy dog";
  for (std::size_t split = 0; split <= text.size(); ++split) {
    const std::string_view whole(text);
    CHECK(crc32c(whole.substr(split), crc32c(whole.substr(0, split))) == crc32c(whole));
  }
}

TEST_CASE("hardware and table versions agree on every length and alignment") {
  std::mt19937_64 random(20261202);  // fixed: the inputs, not the code under test, vary
  std::string bytes(300, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random() & 0xff);
  bool all_agree = true;
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t size = 0; size + offset <= bytes.size(); ++size) {
      const std::string_view piece = std::string_view(bytes).substr(offset, size);
      all_agree = all_agree && crc32c(piece, 7) == crc32cPortable(piece, 7);
    }
  }
  CHECK(all_agree);
}
