#include "io/crc32c.hpp"

#include <array>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define SEQD_CRC32C_SSE42 1
#endif

namespace seqd {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78;  // reflected Castagnoli
constexpr std::size_t kSlices = 8;

using Tables = std::array<std::array<std::uint32_t, 256>, kSlices>;

// tables[0] is the byte-at-a-time table; tables[k][b] is the CRC of byte b followed by k
// zero bytes, which lets the loop fold 8 input bytes per step.
constexpr Tables makeTables() {
  Tables tables{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1U) != 0 ? kPolynomial : 0U);
    tables[0][byte] = crc;
  }
  for (std::size_t slice = 1; slice < kSlices; ++slice) {
    for (std::uint32_t byte = 0; byte < 256; ++byte) {
      const std::uint32_t previous = tables[slice - 1][byte];
      tables[slice][byte] = (previous >> 8) ^ tables[0][previous & 0xff];
    }
  }
  return tables;
}

constexpr Tables kTables = makeTables();

std::uint32_t loadLittleEndian32(const unsigned char* bytes) {
  return static_cast<std::uint32_t>(bytes[0]) | (static_cast<std::uint32_t>(bytes[1]) << 8) |
         (static_cast<std::uint32_t>(bytes[2]) << 16) |
         (static_cast<std::uint32_t>(bytes[3]) << 24);
}

#ifdef SEQD_CRC32C_SSE42
__attribute__((target("sse4.2"))) std::uint32_t crc32cHardware(std::string_view bytes,
                                                               std::uint32_t crc) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t left = bytes.size();
  std::uint64_t state = ~crc;
  while (left >= 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, data, 8);
    state = _mm_crc32_u64(state, word);
    data += 8;
    left -= 8;
  }
  auto narrow = static_cast<std::uint32_t>(state);
  for (; left > 0; --left) narrow = _mm_crc32_u8(narrow, *data++);
  return ~narrow;
}

bool hasSse42() {
  static const bool supported = __builtin_cpu_supports("sse4.2");
  return supported;
}
#endif

}  // namespace

std::uint32_t crc32cPortable(std::string_view bytes, std::uint32_t crc) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t left = bytes.size();
  std::uint32_t state = ~crc;
  while (left >= kSlices) {
    const std::uint32_t low = loadLittleEndian32(data) ^ state;
    const std::uint32_t high = loadLittleEndian32(data + 4);
    state = kTables[7][low & 0xff] ^ kTables[6][(low >> 8) & 0xff] ^
            kTables[5][(low >> 16) & 0xff] ^ kTables[4][low >> 24] ^ kTables[3][high & 0xff] ^
            kTables[2][(high >> 8) & 0xff] ^ kTables[1][(high >> 16) & 0xff] ^
            kTables[0][high >> 24];
    data += kSlices;
    left -= kSlices;
  }
  for (; left > 0; --left) state = (state >> 8) ^ kTables[0][(state ^ *data++) & 0xff];
  return ~state;
}

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) {
#ifdef SEQD_CRC32C_SSE42
  if (hasSse42()) return crc32cHardware(bytes, crc);
#endif
  return crc32cPortable(bytes, crc);
}

}  // namespace seqd
