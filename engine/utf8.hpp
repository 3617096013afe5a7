// UTF-8 decoding, strict (RFC 3629): the one place seqd reads code points out of bytes. The CSV
// reader checks fields with it, seqctl escapes and measures terminal text with it, and the
// message builder cuts headers at character boundaries with it.
//
// A valid sequence is the shortest encoding of a code point up to U+10FFFF that is not a
// surrogate; anything else (a stray continuation byte, an overlong form, a truncated tail) is
// invalid. Callers that must make progress over invalid bytes take them one at a time.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace seqd {

struct Utf8Char {
  char32_t code = 0;       // the code point; the lead byte when invalid
  std::size_t length = 0;  // bytes taken; 0 when the bytes at the position are not valid UTF-8
};

// Decodes the character at text[at] (at < text.size()). ASCII is length 1.
constexpr Utf8Char decodeUtf8(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) return {lead, 1};
  std::size_t length = 0;
  char32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return {lead, 0};
  }
  if (at + length > text.size()) return {lead, 0};
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[at + k]);
    if ((next & 0xC0) != 0x80) return {lead, 0};
    code = (code << 6) | (next & 0x3F);
  }
  if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) || code > 0x10FFFF ||
      (code >= 0xD800 && code <= 0xDFFF)) {
    return {lead, 0};
  }
  return {code, length};
}

// Whether all of text is valid UTF-8.
constexpr bool isUtf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = decodeUtf8(text, at).length;
    if (length == 0) return false;
    at += length;
  }
  return true;
}

}  // namespace seqd
