#include "engine/utf8.hpp"

#include <doctest/doctest.h>

#include <string>

namespace seqd {

TEST_CASE("decodeUtf8 reads each encoding length and its code point") {
  CHECK(decodeUtf8("A", 0).code == U'A');
  CHECK(decodeUtf8("A", 0).length == 1);
  CHECK(decodeUtf8("\xC3\xA9", 0).code == U'\u00E9');
  CHECK(decodeUtf8("\xC3\xA9", 0).length == 2);
  CHECK(decodeUtf8("\xE6\x97\xA5", 0).code == U'\u65E5');
  CHECK(decodeUtf8("\xE6\x97\xA5", 0).length == 3);
  CHECK(decodeUtf8("\xF0\x9F\x98\x80", 0).code == U'\U0001F600');
  CHECK(decodeUtf8("\xF4\x8F\xBF\xBF", 0).length == 4);  // U+10FFFF, the last one
  CHECK(decodeUtf8("x\xC3\xA9", 1).length == 2);
}

TEST_CASE("decodeUtf8 refuses what RFC 3629 forbids") {
  CHECK(decodeUtf8("\x80", 0).length == 0);              // a stray continuation byte
  CHECK(decodeUtf8("\xC0\xAF", 0).length == 0);          // overlong '/'
  CHECK(decodeUtf8("\xE0\x80\xAF", 0).length == 0);      // overlong, three bytes
  CHECK(decodeUtf8("\xF0\x80\x80\xAF", 0).length == 0);  // overlong, four bytes
  CHECK(decodeUtf8("\xED\xA0\x80", 0).length == 0);      // U+D800, a surrogate
  CHECK(decodeUtf8("\xF4\x90\x80\x80", 0).length == 0);  // past U+10FFFF
  CHECK(decodeUtf8("\xE6\x97", 0).length == 0);          // cut short
  CHECK(decodeUtf8("\xC3(", 0).length == 0);             // a continuation that is not one
  CHECK(decodeUtf8("\xFF", 0).code == 0xFF);             // the lead byte when invalid
}

TEST_CASE("isUtf8 holds for whole texts only") {
  CHECK(isUtf8(""));
  CHECK(isUtf8("Zoë, 日本, \xF0\x9F\x98\x80"));
  CHECK_FALSE(isUtf8("ok then \xE6\x97"));
  CHECK_FALSE(isUtf8(std::string("caf\xE9")));  // Latin-1
}

}  // namespace seqd
