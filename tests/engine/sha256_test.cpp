// Proves engine/sha256 computes SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): the FIPS
// examples, every RFC 4231 test case, and agreement with OpenSSL for every message length
// across the padding boundaries and for random keys of every size class.
#include "engine/sha256.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

std::string hexOf(const Sha256Digest& digest, std::size_t bytes = kSha256DigestBytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < bytes; ++i) {
    text += kHex[digest[i] >> 4];
    text += kHex[digest[i] & 0xf];
  }
  return text;
}

std::string fromHex(std::string_view hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return bytes;
}

Sha256Digest opensslSha256(std::string_view bytes) {
  Sha256Digest digest{};
  unsigned int length = 0;
  REQUIRE(EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) ==
          1);
  REQUIRE(length == kSha256DigestBytes);
  return digest;
}

Sha256Digest opensslHmac(std::string_view key, std::string_view message) {
  Sha256Digest digest{};
  unsigned int length = 0;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(message.data()), message.size(),
               digest.data(), &length) != nullptr);
  REQUIRE(length == kSha256DigestBytes);
  return digest;
}

std::string randomBytes(std::mt19937_64& random, std::size_t size) {
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random() & 0xff);
  return bytes;
}

}  // namespace

TEST_CASE("SHA-256 of the FIPS 180-4 examples") {
  CHECK(hexOf(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hexOf(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hexOf(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  for (int i = 0; i < 1000; ++i) million.update(std::string(1000, 'a'));
  CHECK(hexOf(million.finish()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 fed in pieces equals SHA-256 in one piece") {
  std::string text(300, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7 + 3);
  for (std::size_t cut : {0, 1, 55, 56, 63, 64, 65, 128, 299, 300}) {
    Sha256 pieces;
    pieces.update(std::string_view(text).substr(0, cut));
    pieces.update(std::string_view(text).substr(cut));
    CHECK(pieces.finish() == sha256(text));
  }
}

// RFC 4231 §4.2-4.8 (case 5's MAC is truncated to 128 bits there).
TEST_CASE("HMAC-SHA256 of the RFC 4231 test cases") {
  CHECK(hexOf(hmacSha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hexOf(hmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hexOf(hmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  CHECK(hexOf(hmacSha256(fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                         std::string(50, '\xcd'))) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  CHECK(hexOf(hmacSha256(std::string(20, '\x0c'), "Test With Truncation"), 16) ==
        "a3b6167473100ee06e0c796c2955552b");
  CHECK(hexOf(hmacSha256(std::string(131, '\xaa'),
                         "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hexOf(hmacSha256(std::string(131, '\xaa'),
                         "This is a test using a larger than block-size key and a larger than "
                         "block-size data. The key needs to be hashed before being used by the "
                         "HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("SHA-256 and HMAC-SHA256 agree with OpenSSL for every length up to 300 bytes") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (std::size_t length = 0; length <= 300; ++length) {
    std::string message = randomBytes(random, length);
    REQUIRE(sha256(message) == opensslSha256(message));
    // Keys shorter than, equal to and longer than a block.
    for (std::size_t key_length : {std::size_t{0}, std::size_t{16}, std::size_t{63},
                                   std::size_t{64}, std::size_t{65}, length}) {
      std::string key = randomBytes(random, key_length);
      REQUIRE(hmacSha256(key, message) == opensslHmac(key, message));
    }
  }
}

TEST_CASE("one HmacSha256 signs many messages, each as OpenSSL does, and in pieces") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (std::size_t key_length :
       {std::size_t{1}, std::size_t{32}, std::size_t{64}, std::size_t{100}}) {
    const std::string key = randomBytes(random, key_length);
    const HmacSha256 signer(key);
    for (std::size_t round = 0; round < 50; ++round) {
      const std::string message = randomBytes(random, random() % 200);
      REQUIRE(signer.sign(message) == opensslHmac(key, message));
      const std::size_t cut = message.empty() ? 0 : random() % message.size();
      Sha256 inner = signer.begin();
      inner.update(std::string_view(message).substr(0, cut));
      inner.update(std::string_view(message).substr(cut));
      REQUIRE(signer.finish(inner) == opensslHmac(key, message));
    }
  }
}

TEST_CASE("equalConstantTime compares bytes and sizes") {
  CHECK(equalConstantTime("", ""));
  CHECK(equalConstantTime("abc", "abc"));
  CHECK_FALSE(equalConstantTime("abc", "abd"));
  CHECK_FALSE(equalConstantTime("abc", "xbc"));
  CHECK_FALSE(equalConstantTime("abc", "abcd"));
  CHECK_FALSE(equalConstantTime(std::string("a\0b", 3), std::string("a\0c", 3)));
}
