#include "engine/sha256.hpp"

#include <algorithm>

#include "engine/assert.hpp"

namespace seqd {
namespace {

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the
// first 64 primes.
constexpr std::uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the square roots of the
// first 8 primes.
constexpr std::array<std::uint32_t, 8> kInitialState = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

constexpr std::uint8_t kInnerPad = 0x36;
constexpr std::uint8_t kOuterPad = 0x5c;

std::uint32_t rotateRight(std::uint32_t value, int bits) {
  return (value >> bits) | (value << (32 - bits));
}

std::string_view asText(const Sha256Digest& digest) {
  return std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size());
}

}  // namespace

Sha256::Sha256() : state_(kInitialState) {}

void Sha256::compress(const std::uint8_t* block) {
  std::uint32_t schedule[64];
  for (int i = 0; i < 16; ++i) {
    schedule[i] = static_cast<std::uint32_t>(block[4 * i]) << 24 |
                  static_cast<std::uint32_t>(block[4 * i + 1]) << 16 |
                  static_cast<std::uint32_t>(block[4 * i + 2]) << 8 |
                  static_cast<std::uint32_t>(block[4 * i + 3]);
  }
  for (int i = 16; i < 64; ++i) {
    std::uint32_t s0 = rotateRight(schedule[i - 15], 7) ^ rotateRight(schedule[i - 15], 18) ^
                       (schedule[i - 15] >> 3);
    std::uint32_t s1 = rotateRight(schedule[i - 2], 17) ^ rotateRight(schedule[i - 2], 19) ^
                       (schedule[i - 2] >> 10);
    schedule[i] = schedule[i - 16] + s0 + schedule[i - 7] + s1;
  }
  std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (int i = 0; i < 64; ++i) {
    std::uint32_t sum1 = rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25);
    std::uint32_t choose = (e & f) ^ (~e & g);
    std::uint32_t first = h + sum1 + choose + kRoundConstants[i] + schedule[i];
    std::uint32_t sum0 = rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22);
    std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    std::uint32_t second = sum0 + majority;
    h = g;
    g = f;
    f = e;
    e = d + first;
    d = c;
    c = b;
    b = a;
    a = first + second;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
  state_[5] += f;
  state_[6] += g;
  state_[7] += h;
}

void Sha256::update(std::string_view bytes) {
  SEQD_ASSERT(!finished_);
  length_ += bytes.size();
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t take = std::min(kSha256BlockBytes - buffered_, bytes.size() - at);
    for (std::size_t i = 0; i < take; ++i) {
      buffer_[buffered_ + i] = static_cast<std::uint8_t>(bytes[at + i]);
    }
    buffered_ += take;
    at += take;
    if (buffered_ == kSha256BlockBytes) {
      compress(buffer_.data());
      buffered_ = 0;
    }
  }
}

// FIPS 180-4 §5.1.1: a 1 bit, zeros up to 56 bytes into a block, then the bit length as a
// 64-bit big-endian number.
Sha256Digest Sha256::finish() {
  SEQD_ASSERT(!finished_);
  const std::uint64_t bit_length = length_ * 8;
  buffer_[buffered_++] = 0x80;
  if (buffered_ > kSha256BlockBytes - 8) {
    while (buffered_ < kSha256BlockBytes) buffer_[buffered_++] = 0;
    compress(buffer_.data());
    buffered_ = 0;
  }
  while (buffered_ < kSha256BlockBytes - 8) buffer_[buffered_++] = 0;
  for (int i = 7; i >= 0; --i) {
    buffer_[buffered_++] = static_cast<std::uint8_t>(bit_length >> (8 * i));
  }
  compress(buffer_.data());
  finished_ = true;
  Sha256Digest digest;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    digest[4 * i] = static_cast<std::uint8_t>(state_[i] >> 24);
    digest[4 * i + 1] = static_cast<std::uint8_t>(state_[i] >> 16);
    digest[4 * i + 2] = static_cast<std::uint8_t>(state_[i] >> 8);
    digest[4 * i + 3] = static_cast<std::uint8_t>(state_[i]);
  }
  return digest;
}

Sha256Digest sha256(std::string_view bytes) {
  Sha256 hash;
  hash.update(bytes);
  return hash.finish();
}

HmacSha256::HmacSha256(std::string_view key) {
  std::array<std::uint8_t, kSha256BlockBytes> block{};
  if (key.size() > kSha256BlockBytes) {
    Sha256Digest hashed = sha256(key);
    std::copy(hashed.begin(), hashed.end(), block.begin());
  } else {
    for (std::size_t i = 0; i < key.size(); ++i) block[i] = static_cast<std::uint8_t>(key[i]);
  }
  std::array<char, kSha256BlockBytes> pad;
  for (std::size_t i = 0; i < kSha256BlockBytes; ++i)
    pad[i] = static_cast<char>(block[i] ^ kInnerPad);
  inner_.update(std::string_view(pad.data(), pad.size()));
  for (std::size_t i = 0; i < kSha256BlockBytes; ++i)
    pad[i] = static_cast<char>(block[i] ^ kOuterPad);
  outer_.update(std::string_view(pad.data(), pad.size()));
}

Sha256Digest HmacSha256::finish(Sha256 inner) const {
  Sha256Digest inner_digest = inner.finish();
  Sha256 outer = outer_;
  outer.update(asText(inner_digest));
  return outer.finish();
}

Sha256Digest HmacSha256::sign(std::string_view message) const {
  Sha256 inner = begin();
  inner.update(message);
  return finish(inner);
}

Sha256Digest hmacSha256(std::string_view key, std::string_view message) {
  return HmacSha256(key).sign(message);
}

bool equalConstantTime(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // volatile: keeps the compiler from ending the loop at the first difference.
  volatile std::uint8_t difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    difference = difference | static_cast<std::uint8_t>(a[i] ^ b[i]);
  }
  return difference == 0;
}

}  // namespace seqd
