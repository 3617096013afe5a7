// TextPrefix: the first 16 bytes of a text as two integers, for sorting many texts by their
// bytes without reading each text at every comparison.
//
// A read that orders a million rows by contact key (`status`, `contacts`) compared the keys as
// string_views: each comparison read two texts from wherever the Symbol table holds them, a
// cache miss apiece, and most of the sort's time was those misses and memcmp. Sorting by
// (TextPrefix, text) compares two 16-byte integers first; only texts alike in their first 16
// bytes are read (most keys differ there: an email's local part).
//
// Order: the bytes, unsigned, big-endian, a text shorter than 16 bytes padded with zeros, so
// TextPrefix(a) < TextPrefix(b) implies a < b as std::string_view compares them, and equal
// prefixes leave it to the texts ("ab" and "ab\0" have one prefix): a sort compares the
// prefixes, and the texts when those are equal.
//
// Thread-safety: a value type.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace seqd {

struct TextPrefix {
  std::uint64_t high = 0;  // bytes 0-7
  std::uint64_t low = 0;   // bytes 8-15

  TextPrefix() = default;
  explicit TextPrefix(std::string_view text) {
    for (std::size_t i = 0; i < 16; ++i) {
      const std::uint64_t byte = i < text.size() ? static_cast<unsigned char>(text[i]) : 0;
      std::uint64_t& half = i < 8 ? high : low;
      half = (half << 8) | byte;
    }
  }

  friend auto operator<=>(const TextPrefix&, const TextPrefix&) = default;
};

}  // namespace seqd
