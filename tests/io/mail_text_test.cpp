// Proves the mail text helpers turn any bytes into valid UTF-8, fold accents and case for
// matching, and read the words out of HTML.
#include "io/mail_text.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace seqd;

TEST_CASE("repairUtf8 keeps valid UTF-8 and reads stray bytes as Latin-1") {
  CHECK(repairUtf8("Grüße – 東京") == "Grüße – 東京");
  CHECK(repairUtf8("caf\xe9") == "café");
  CHECK(repairUtf8("\xc3") == "Ã");                      // a lone lead byte
  CHECK(repairUtf8("\xc0\xaf") == "À¯");                 // an overlong form
  CHECK(repairUtf8("\xed\xa0\x80") == "í\u00a0\u0080");  // a surrogate
  CHECK(repairUtf8(std::string("a\0b", 3)) == "a b");
}

TEST_CASE("foldForMatching drops accents and case, and evens out punctuation") {
  CHECK(foldForMatching("Réponse AUTOMATIQUE") == "reponse automatique");
  CHECK(foldForMatching("Straße Œuvre") == "strasse oeuvre");
  CHECK(foldForMatching("jusqu’au 1º – 2\u00a0x") == "jusqu'au 1o - 2 x");
  CHECK(foldForMatching("東京") == "東京");
  CHECK(foldForMatching("\xff") == "\xff");
}

TEST_CASE("htmlToText drops tags, scripts and styles and decodes references") {
  CHECK(htmlToText("<p>back on <b>January&nbsp;5</b></p>") == "\nback on January\u00a05\n");
  CHECK(htmlToText("<style>p{}</style>x<script>y</script>z") == "xz");
  CHECK(htmlToText("a &amp; b &#233; &#xE9; &eacute; &bogus; &") == "a & b é é é &bogus; &");
  CHECK(htmlToText("a<!-- hidden -->b") == "ab");
  CHECK(htmlToText("unclosed <b") == "unclosed ");
  CHECK(htmlToText("<STYLE>never closed") == "");
  CHECK(htmlToText("&#0; &#xD800; &#99999999;") == "\uFFFD \uFFFD &#99999999;");
}
