// Proves unsubscribe tokens round-trip (contact and sequence recovered), are deterministic,
// fit a URL path segment, and are refused when anything about them is wrong: a flipped byte,
// a contact or sequence swapped for another's, another secret, a malformed or oversized token.
#include "engine/unsubscribe_token.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

const std::string kSecret = "0123456789abcdef-secret";

bool urlSafe(const std::string& token) {
  return std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// The token's three parts.
std::vector<std::string> parts(const std::string& token) {
  std::vector<std::string> result(1);
  for (char c : token) {
    if (c == '.') {
      result.emplace_back();
    } else {
      result.back() += c;
    }
  }
  return result;
}

}  // namespace

TEST_CASE("base64url round-trips every length and refuses other spellings") {
  for (std::size_t length = 0; length < 40; ++length) {
    std::string bytes(length, '\0');
    for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<char>(0xff - i * 13);
    std::string text = encodeBase64Url(bytes);
    CHECK(text.find_first_of("+/=") == std::string::npos);
    REQUIRE(decodeBase64Url(text).has_value());
    CHECK(*decodeBase64Url(text) == bytes);
  }
  CHECK(encodeBase64Url("bob@example.test") == "Ym9iQGV4YW1wbGUudGVzdA");
  CHECK(encodeBase64Url("\xfb\xff") == "-_8");
  CHECK_FALSE(decodeBase64Url("Ym9iQGV4YW1wbGUudGVzdA==").has_value());  // padding
  CHECK_FALSE(decodeBase64Url("Ym9i+GV4").has_value());                  // the + of base64
  CHECK_FALSE(decodeBase64Url("Y").has_value());                         // no byte count
  CHECK_FALSE(decodeBase64Url("Ym9iQGV4YW1wbGUudGVzdB").has_value());    // low bits set
  CHECK(decodeBase64Url("") == std::string());
}

TEST_CASE("a token round-trips to its contact and sequence, deterministically") {
  std::string token = makeUnsubscribeToken(kSecret, "bob@example.test", "q4-vp-eng");
  CHECK(token == makeUnsubscribeToken(kSecret, "bob@example.test", "q4-vp-eng"));
  CHECK(urlSafe(token));
  std::vector<std::string> pieces = parts(token);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0] == encodeBase64Url("bob@example.test"));
  CHECK(pieces[1] == encodeBase64Url("q4-vp-eng"));
  CHECK(decodeBase64Url(pieces[2])->size() == kUnsubscribeMacBytes);

  std::optional<UnsubscribeTarget> target = readUnsubscribeToken(kSecret, token);
  REQUIRE(target.has_value());
  CHECK(target->contact_key == "bob@example.test");
  CHECK(target->sequence_id == "q4-vp-eng");

  // Any bytes in a key, and the longest key and id, still make a URL-safe token.
  std::string odd_key = std::string("a.b/c?d e\0\xff", 12);
  std::optional<UnsubscribeTarget> odd =
      readUnsubscribeToken(kSecret, makeUnsubscribeToken(kSecret, odd_key, "s"));
  REQUIRE(odd.has_value());
  CHECK(odd->contact_key == odd_key);
  std::string longest = makeUnsubscribeToken(kSecret, std::string(511, 'k'), std::string(64, 's'));
  CHECK(longest.size() <= kUnsubscribeTokenBytesMax);
  CHECK(urlSafe(longest));
  CHECK(readUnsubscribeToken(kSecret, longest).has_value());
}

TEST_CASE("a token with any one character changed is refused") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
  std::string token = makeUnsubscribeToken(kSecret, "bob@example.test", "q4-vp-eng");
  for (std::size_t at = 0; at < token.size(); ++at) {
    std::string changed = token;
    do {
      changed[at] = alphabet[random() % alphabet.size()];
    } while (changed[at] == token[at]);
    INFO("changed at " << at << ": " << changed);
    CHECK_FALSE(readUnsubscribeToken(kSecret, changed).has_value());
  }
}

TEST_CASE("contact A's token edited to name contact B, or another sequence, is refused") {
  std::string token_a = makeUnsubscribeToken(kSecret, "alice@example.test", "q4-vp-eng");
  std::vector<std::string> a = parts(token_a);
  std::string edited =
      encodeBase64Url("bob@example.test") + "." + a[1] + "." + a[2];  // A's MAC, B's name
  CHECK_FALSE(readUnsubscribeToken(kSecret, edited).has_value());
  edited = a[0] + "." + encodeBase64Url("nurture") + "." + a[2];
  CHECK_FALSE(readUnsubscribeToken(kSecret, edited).has_value());

  // Moving bytes between the contact and the sequence changes the signed text too.
  std::string token_b = makeUnsubscribeToken(kSecret, "ab", "c");
  std::string moved = encodeBase64Url("a") + "." + encodeBase64Url("bc") + "." + parts(token_b)[2];
  CHECK_FALSE(readUnsubscribeToken(kSecret, moved).has_value());
}

TEST_CASE("a token made with another secret is refused, and an empty secret accepts nothing") {
  std::string token = makeUnsubscribeToken(kSecret, "bob@example.test", "q4-vp-eng");
  CHECK_FALSE(readUnsubscribeToken("another-secret-of-16+", token).has_value());
  CHECK_FALSE(readUnsubscribeToken(kSecret + "x", token).has_value());
  CHECK_FALSE(readUnsubscribeToken("", token).has_value());
  CHECK(makeUnsubscribeToken("another-secret-of-16+", "bob@example.test", "q4-vp-eng") != token);
}

TEST_CASE("malformed tokens are refused") {
  std::string token = makeUnsubscribeToken(kSecret, "bob@example.test", "q4-vp-eng");
  std::vector<std::string> p = parts(token);
  for (const std::string& bad : std::vector<std::string>{
           "",
           ".",
           "..",
           "...",
           p[0],
           p[0] + "." + p[1],
           p[0] + "." + p[1] + "." + p[2] + ".",
           p[0] + "." + p[1] + "." + p[2] + "." + p[2],
           p[0] + "." + p[1] + "." + p[2].substr(0, p[2].size() - 1),  // short MAC
           p[0] + "." + p[1] + "." + p[2] + "AA",                      // long MAC
           p[0] + "=." + p[1] + "." + p[2],
           p[0] + "." + p[1] + "." + p[2] + "%",
           token + std::string(kUnsubscribeTokenBytesMax, 'A'),
       }) {
    INFO("token: " << bad);
    CHECK_FALSE(readUnsubscribeToken(kSecret, bad).has_value());
  }
  // An empty contact is refused even when signed.
  CHECK_FALSE(readUnsubscribeToken(kSecret, makeUnsubscribeToken(kSecret, "", "s")).has_value());
}

TEST_CASE("appendUnsubscribeUrl with a signer made once equals the URL of a fresh token") {
  const std::string secret = "0123456789abcdef0123456789abcdef";
  const HmacSha256 signer(secret);
  const std::string url_template = "https://acme.test/u/{token}?src=mail";
  std::string out = "List-Unsubscribe: <";
  std::string expected = out;
  for (const auto& [contact, sequence] :
       std::vector<std::pair<std::string, std::string>>{{"bob@example.test", "q4"},
                                                        {"a", "b"},
                                                        {std::string(511, 'k'), "seq-x"},
                                                        {"o'neil+x@example.test", "q4"}}) {
    appendUnsubscribeUrl(out, url_template, signer, contact, sequence);
    expected += unsubscribeUrl(url_template, makeUnsubscribeToken(secret, contact, sequence));
    CHECK(out == expected);
    const std::size_t start = out.rfind("/u/") + 3;
    const std::string token = out.substr(start, out.find('?', start) - start);
    const std::optional<UnsubscribeTarget> target = readUnsubscribeToken(secret, token);
    REQUIRE(target.has_value());
    CHECK(target->contact_key == contact);
    CHECK(target->sequence_id == sequence);
  }
}

TEST_CASE("the URL template takes the token in place of {token}") {
  CHECK(unsubscribeUrl("https://acme.test/u/{token}", "T.O.K") == "https://acme.test/u/T.O.K");
  CHECK(unsubscribeUrl("https://acme.test/u/{token}?src=mail", "X") ==
        "https://acme.test/u/X?src=mail");
  CHECK(unsubscribeUrlProblem("https://acme.test/u/{token}").empty());
  CHECK(unsubscribeUrlProblem("https://acme.test:8443/unsubscribe?t={token}").empty());
  CHECK_FALSE(unsubscribeUrlProblem("http://acme.test/u/{token}").empty());
  CHECK_FALSE(unsubscribeUrlProblem("HTTPS://acme.test/u/{token}").empty());
  CHECK_FALSE(unsubscribeUrlProblem("https://").empty());
  CHECK_FALSE(unsubscribeUrlProblem("https:///u/{token}").empty());
  CHECK_FALSE(unsubscribeUrlProblem("https://acme.test/u/").empty());
  CHECK_FALSE(unsubscribeUrlProblem("https://acme.test/{token}{token}").empty());
  CHECK_FALSE(unsubscribeUrlProblem("https://acme.test/<{token}>").empty());
  CHECK_FALSE(unsubscribeUrlProblem("https://acme.test/u/{token}\r\nBcc: x").empty());
  CHECK_FALSE(
      unsubscribeUrlProblem("https://acme.test/" + std::string(200, 'u') + "/{token}").empty());
}
