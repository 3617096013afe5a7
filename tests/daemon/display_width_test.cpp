// Proves seqctl's table widths: ASCII and accented Latin one column a character, CJK and emoji
// two, combining marks, zero-width joiners and variation selectors none, and a byte that is
// not UTF-8 one.
#include "daemon/display_width.hpp"

#include <doctest/doctest.h>

using namespace seqd;

TEST_CASE("latin text is one column a character") {
  CHECK(displayWidth("") == 0);
  CHECK(displayWidth("rita@example.test") == 17);
  CHECK(displayWidth("Ren\xC3\xA9") == 4);                       // René, é precomposed
  CHECK(displayWidth("Rene\xCC\x81") == 4);                      // René, e + combining acute
  CHECK(displayWidth("\xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD") == 4);  // Иван
}

TEST_CASE("CJK and emoji are two columns") {
  CHECK(displayWidth("\xE7\x94\xB0\xE4\xB8\xAD") == 4);              // 田中
  CHECK(displayWidth("\xED\x95\x9C\xEA\xB8\x80") == 4);              // 한글
  CHECK(displayWidth("\xE3\x81\x95\xE3\x81\x8F\xE3\x82\x89") == 6);  // さくら
  CHECK(displayWidth("\xF0\x9F\x9A\x80") == 2);                      // 🚀
  CHECK(displayWidth("ok \xF0\x9F\x91\x8D") == 5);                   // ok 👍
  // 👍🏽: a skin tone modifier joins the emoji before it
  CHECK(displayWidth("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD") == 2);
  // ❤️: a heart with the emoji variation selector
  CHECK(displayWidth("\xE2\x9D\xA4\xEF\xB8\x8F") == 1);
}

TEST_CASE("invalid UTF-8 counts a column a byte") {
  CHECK(displayWidth("a\xFF"
                     "b") == 3);
  CHECK(displayWidth("\xE7\x94") == 2);  // a cut sequence
}
