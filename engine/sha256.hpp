// Sha256 and hmacSha256: the hash (FIPS 180-4) and the keyed MAC (RFC 2104) the unsubscribe
// tokens are signed with (engine/unsubscribe_token.hpp).
//
// Why our own and not OpenSSL's libcrypto: the engine renders every message, and so signs
// every token, on the engine thread, and it must stay a pure function with no I/O and no
// hidden state. OpenSSL 3 loads its configuration file and providers on first use (file I/O,
// process-wide state, and errors the engine would have to handle on a hot path), and engine/
// links nothing but the standard library and the date library. SHA-256 is a small, fully
// specified algorithm: tests/engine/sha256_test.cpp checks it against the FIPS 180-4
// examples, the RFC 4231 HMAC vectors and, for every length across the padding boundaries,
// against OpenSSL itself; the integration test recomputes tokens with Python's hmac.
//
// Not for secrets at rest or TLS: only the MAC over (contact, sequence) needs it. Running
// time depends on the input lengths only, never on the key's or the message's bytes.
//
// Thread-safety: a Sha256 is a plain value (one per thread); an HmacSha256 is immutable after
// construction and may be shared; the functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace seqd {

inline constexpr std::size_t kSha256DigestBytes = 32;
inline constexpr std::size_t kSha256BlockBytes = 64;

using Sha256Digest = std::array<std::uint8_t, kSha256DigestBytes>;

// Incremental SHA-256: update() any number of times, then finish() once.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // REQUIRES: called once; the object is spent afterwards.
  Sha256Digest finish();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, kSha256BlockBytes> buffer_{};
  std::size_t buffered_ = 0;  // bytes in buffer_
  std::uint64_t length_ = 0;  // message bytes so far
  bool finished_ = false;
};

Sha256Digest sha256(std::string_view bytes);

// HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once: each MAC then costs
// the message's blocks plus two, not four more. A key longer than a block is hashed first, as
// the RFC says.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  // The hash that will become the inner one: feed it the message, then hand it to finish().
  Sha256 begin() const { return inner_; }
  Sha256Digest finish(Sha256 inner) const;
  Sha256Digest sign(std::string_view message) const;

 private:
  Sha256 inner_;  // after ipad ^ key
  Sha256 outer_;  // after opad ^ key
};

Sha256Digest hmacSha256(std::string_view key, std::string_view message);

// True when a and b hold the same bytes; its time depends on the sizes only, not on where
// they differ.
bool equalConstantTime(std::string_view a, std::string_view b);

}  // namespace seqd
