// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum the store appends to
// every value it writes (io/store.hpp) and the state-dir marker carries.
//
// crc32c("123456789") == 0xE3069283. On x86-64 CPUs with SSE4.2 the crc32 instruction does
// 8 bytes per step (several GB/s); elsewhere a slice-by-8 table version runs (~1 GB/s), so
// a store written on one machine verifies on any other. Both give the same values.
//
// Thread-safety: pure functions; the tables are constants built at compile time.
#pragma once

#include <cstdint>
#include <string_view>

namespace seqd {

// The CRC32C of `bytes` appended to data whose CRC32C was `crc` (0 for none), so
// crc32c(b, crc32c(a)) == crc32c(a + b).
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

// The table version that crc32c() falls back to, exposed so tests compare the two.
std::uint32_t crc32cPortable(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace seqd
