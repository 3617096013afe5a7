// Proves built messages carry every SPEC §3 rule 9 header, encode non-ASCII text so it decodes
// back (RFC 2047 words, quoted-printable), keep lines short, and strip header injection.
#include "engine/message.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/contact.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

constexpr TimeMs kDecember1st = 1796133600000;  // 2026-12-01T14:00:00Z

struct ParsedMessage {
  std::vector<std::string> raw_lines;  // header lines as written (folded)
  std::vector<std::string> headers;    // unfolded "Name: value"
  std::string body;
};

// Splits at the first empty line and unfolds headers (a line starting with WSP continues).
ParsedMessage parseMessage(const std::string& message, const std::string& eol) {
  ParsedMessage parsed;
  std::size_t start = 0;
  while (start < message.size()) {
    std::size_t end = message.find(eol, start);
    REQUIRE(end != std::string::npos);
    std::string line = message.substr(start, end - start);
    start = end + eol.size();
    if (line.empty()) break;
    parsed.raw_lines.push_back(line);
    if ((line[0] == ' ' || line[0] == '\t') && !parsed.headers.empty()) {
      parsed.headers.back() += line;
    } else {
      parsed.headers.push_back(line);
    }
  }
  parsed.body = message.substr(start);
  return parsed;
}

std::optional<std::string> header(const ParsedMessage& parsed, const std::string& name) {
  for (const std::string& line : parsed.headers) {
    if (line.compare(0, name.size() + 2, name + ": ") == 0) return line.substr(name.size() + 2);
  }
  return std::nullopt;
}

int countHeaders(const ParsedMessage& parsed, const std::string& name) {
  int count = 0;
  for (const std::string& line : parsed.headers) {
    if (line.compare(0, name.size() + 1, name + ":") == 0) ++count;
  }
  return count;
}

std::string decodeBase64(std::string_view text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    if (c == '=') break;
    std::size_t index = kAlphabet.find(c);
    REQUIRE(index != std::string::npos);
    bits = (bits << 6) | static_cast<std::uint32_t>(index);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes += static_cast<char>((bits >> bit_count) & 0xff);
    }
  }
  return bytes;
}

// Decodes RFC 2047 =?UTF-8?B?...?= words; whitespace between two words is dropped.
std::string decodeWords(const std::string& value) {
  std::string decoded;
  std::size_t position = 0;
  bool previous_was_word = false;
  while (position < value.size()) {
    std::size_t open = value.find("=?UTF-8?B?", position);
    if (open == std::string::npos) {
      decoded += value.substr(position);
      break;
    }
    std::string between = value.substr(position, open - position);
    bool only_space = between.find_first_not_of(" \t") == std::string::npos;
    if (!(previous_was_word && only_space)) decoded += between;
    std::size_t close = value.find("?=", open + 10);
    REQUIRE(close != std::string::npos);
    std::string word = value.substr(open, close + 2 - open);
    CHECK(word.size() <= 75);
    decoded += decodeBase64(value.substr(open + 10, close - open - 10));
    position = close + 2;
    previous_was_word = true;
  }
  return decoded;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  FAIL("bad hex digit in quoted-printable: " << c);
  return 0;
}

std::string decodeQuotedPrintable(const std::string& text, const std::string& eol) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      decoded += text[i];
    } else if (text.compare(i + 1, eol.size(), eol) == 0) {
      i += eol.size();  // soft line break
    } else {
      REQUIRE(i + 2 < text.size());
      decoded += static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2]));
      i += 2;
    }
  }
  return decoded;
}

std::vector<std::string> splitOn(const std::string& text, const std::string& eol) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find(eol, start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      return lines;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + eol.size();
  }
}

MessageParts sampleParts() {
  MessageParts parts;
  parts.from_name = "Alice Smith";
  parts.from_address = "alice@acme.test";
  parts.to_name = "Bob Jones";
  parts.to_address = "bob@example.test";
  parts.subject = "Quick question, Bob";
  parts.body = "Hi Bob,\n\nShall we talk?\n";
  parts.date_ms = kDecember1st;
  parts.sequence_id = "q4-vp-eng";
  parts.step_id = "intro";
  parts.contact_key = "bob@example.test";
  parts.message_id =
      makeMessageId(parts.sequence_id, parts.step_id, parts.contact_key, parts.from_address);
  parts.list_unsubscribe = "<mailto:unsubscribe@acme.test?subject=unsubscribe>";
  return parts;
}

std::string hashHex(std::string_view key) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(fnv1a64(key)));
  return text;
}

}  // namespace

TEST_CASE("Message-IDs are deterministic and shaped <seq.step.hash@domain>") {
  std::string id = makeMessageId("q4-vp-eng", "intro", "bob@example.test", "alice@acme.test");
  CHECK(id == "<q4-vp-eng.intro." + hashHex("bob@example.test") + "@acme.test>");
  CHECK(id == makeMessageId("q4-vp-eng", "intro", "bob@example.test", "alice@acme.test"));
  CHECK(id != makeMessageId("q4-vp-eng", "intro", "carol@example.test", "alice@acme.test"));
  CHECK(id != makeMessageId("q4-vp-eng", "bump", "bob@example.test", "alice@acme.test"));

  CHECK(makeMessageId("q4 vp/eng", "step.1", "k", "a@Mail.ACME.test") ==
        "<q4-vp-eng.step-1." + hashHex("k") + "@mail.acme.test>");
  CHECK(makeMessageId("s", "t", "k", "no-at-sign") == "<s.t." + hashHex("k") + "@localhost>");
  CHECK(makeMessageId("s", "t", "k", "") == "<s.t." + hashHex("k") + "@localhost>");

  // A very long id keeps a prefix plus a hash, so two long ids stay apart.
  std::string long_a(200, 'a');
  std::string long_b = long_a + "b";
  std::string id_a = makeMessageId(long_a, "t", "k", "a@x.test");
  CHECK(id_a != makeMessageId(long_b, "t", "k", "a@x.test"));
  CHECK(id_a.size() < 64 + 2 + 16 + 20);
}

TEST_CASE("every required header is present, one per line, with CRLF endings") {
  MessageParts parts = sampleParts();
  std::string message = buildMessage(parts, "\r\n");
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') REQUIRE((i > 0 && message[i - 1] == '\r'));
  }
  ParsedMessage parsed = parseMessage(message, "\r\n");
  CHECK(header(parsed, "From") == "Alice Smith <alice@acme.test>");
  CHECK(header(parsed, "To") == "Bob Jones <bob@example.test>");
  CHECK(header(parsed, "Subject") == "Quick question, Bob");
  CHECK(header(parsed, "Date") == "Tue, 01 Dec 2026 14:00:00 +0000");
  CHECK(header(parsed, "Message-ID") == parts.message_id);
  CHECK(header(parsed, "List-Unsubscribe") == parts.list_unsubscribe);
  CHECK_FALSE(header(parsed, "List-Unsubscribe-Post").has_value());  // mailto: only
  CHECK(header(parsed, "MIME-Version") == "1.0");
  CHECK(header(parsed, "Content-Type") == "text/plain; charset=UTF-8");
  CHECK(header(parsed, "Content-Transfer-Encoding") == "7bit");
  CHECK(header(parsed, "X-Seqd-Sequence") == "q4-vp-eng");
  CHECK(header(parsed, "X-Seqd-Step") == "intro");
  CHECK(header(parsed, "X-Seqd-Contact") == "bob@example.test");
  CHECK_FALSE(header(parsed, "X-Seqd-Variant").has_value());  // a step without variants
  CHECK_FALSE(header(parsed, "In-Reply-To").has_value());
  CHECK_FALSE(header(parsed, "References").has_value());
  CHECK(parsed.body == "Hi Bob,\r\n\r\nShall we talk?\r\n");
  for (const std::string& line : parsed.raw_lines) CHECK(line.size() <= 78);

  parts.variant_id = "b";
  CHECK(header(parseMessage(buildMessage(parts, "\r\n"), "\r\n"), "X-Seqd-Variant") == "b");

  parts.to_name.clear();
  parts.list_unsubscribe.clear();
  parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "To") == "bob@example.test");
  CHECK_FALSE(header(parsed, "List-Unsubscribe").has_value());
  CHECK_FALSE(header(parsed, "List-Unsubscribe-Post").has_value());
}

TEST_CASE("List-Unsubscribe-Post goes only beside an HTTPS List-Unsubscribe (RFC 8058 3.1)") {
  MessageParts parts = sampleParts();
  parts.list_unsubscribe_one_click = true;  // asked for, but there is no HTTPS URI
  ParsedMessage parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "List-Unsubscribe") == "<mailto:unsubscribe@acme.test?subject=unsubscribe>");
  CHECK_FALSE(header(parsed, "List-Unsubscribe-Post").has_value());

  parts.list_unsubscribe =
      "<https://acme.test/u/Ym9i.cTQ.AAAAAAAAAAAAAAAAAAAAAA>, "
      "<mailto:unsubscribe@acme.test?subject=unsubscribe>";
  parsed = parseMessage(buildMessage(parts, "\r\n"), "\r\n");
  CHECK(header(parsed, "List-Unsubscribe") == parts.list_unsubscribe);
  CHECK(header(parsed, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");
  for (const std::string& line : parsed.raw_lines) CHECK(line.size() <= 78);

  parts.list_unsubscribe_one_click = false;
  parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "List-Unsubscribe") == parts.list_unsubscribe);
  CHECK_FALSE(header(parsed, "List-Unsubscribe-Post").has_value());
}

TEST_CASE("threaded steps carry In-Reply-To and References") {
  MessageParts parts = sampleParts();
  parts.in_reply_to = "<q4-vp-eng.intro.0123456789abcdef@acme.test>";
  ParsedMessage parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "In-Reply-To") == parts.in_reply_to);
  CHECK(header(parsed, "References") == parts.in_reply_to);

  parts.references = "<a@acme.test> <b@acme.test>";
  parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "References") == "<a@acme.test> <b@acme.test>");
}

TEST_CASE("a non-ASCII subject becomes RFC 2047 words that decode back, in short lines") {
  MessageParts parts = sampleParts();
  parts.subject = "Café für Zoë — 東京 で会いましょう, and a longer tail to force more words";
  ParsedMessage parsed = parseMessage(buildMessage(parts, "\r\n"), "\r\n");
  std::string subject = header(parsed, "Subject").value();
  CHECK(subject.find("=?UTF-8?B?") == 0);
  for (char c : subject) CHECK(static_cast<unsigned char>(c) < 0x80);
  CHECK(decodeWords(subject) == parts.subject);
  CHECK(countHeaders(parsed, "Subject") == 1);
  for (const std::string& line : parsed.raw_lines) CHECK(line.size() <= 78);
}

TEST_CASE("a long ASCII subject is folded at spaces and unfolds to itself") {
  MessageParts parts = sampleParts();
  parts.subject.clear();
  for (int i = 0; i < 30; ++i) parts.subject += "word" + std::to_string(i) + " ";
  parts.subject += "end";
  ParsedMessage parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "Subject") == parts.subject);
  std::size_t subject_lines = 0;
  for (const std::string& line : parsed.raw_lines) {
    CHECK(line.size() <= 78);
    if (line[0] == ' ') ++subject_lines;
  }
  CHECK(subject_lines >= 2);

  // One word too long to fold is encoded instead of overflowing the line.
  parts.subject = std::string(120, 'x');
  parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(decodeWords(header(parsed, "Subject").value()) == parts.subject);
  for (const std::string& line : parsed.raw_lines) CHECK(line.size() <= 78);
}

TEST_CASE("display names: quoted when they hold specials, encoded when not ASCII") {
  MessageParts parts = sampleParts();
  parts.from_name = "Smith, Alice \"Al\"";
  parts.to_name = "Zoë Ünal";
  ParsedMessage parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "From") == "\"Smith, Alice \\\"Al\\\"\" <alice@acme.test>");
  std::string to = header(parsed, "To").value();
  CHECK(to.find("=?UTF-8?B?") == 0);
  const std::string address = " <bob@example.test>";
  REQUIRE(to.size() > address.size());
  CHECK(to.substr(to.size() - address.size()) == address);
  CHECK(decodeWords(to.substr(0, to.size() - address.size())) == "Zoë Ünal");
}

TEST_CASE("CR and LF in header values cannot inject headers") {
  MessageParts parts = sampleParts();
  parts.subject = "Hello\r\nBcc: victim@evil.test";
  parts.from_name = "Eve\nX-Evil: 1";
  parts.to_address = "bob@example.test\r\nBcc: other@evil.test";
  parts.list_unsubscribe = "<mailto:u@acme.test>\r\n\r\nbody takeover";
  parts.contact_key = "bob\rCc: c@evil.test";
  for (const std::string eol : {"\r\n", "\n"}) {
    std::string message = buildMessage(parts, eol);
    ParsedMessage parsed = parseMessage(message, eol);
    CHECK(countHeaders(parsed, "Bcc") == 0);
    CHECK(countHeaders(parsed, "Cc") == 0);
    CHECK(countHeaders(parsed, "X-Evil") == 0);
    CHECK(header(parsed, "Subject") == "Hello Bcc: victim@evil.test");
    CHECK(header(parsed, "Content-Type") == "text/plain; charset=UTF-8");
    CHECK(parsed.body == "Hi Bob," + eol + eol + "Shall we talk?" + eol);
    for (const std::string& line : parsed.raw_lines) {
      CHECK(line.find('\r') == std::string::npos);
      CHECK(line.find('\n') == std::string::npos);
    }
  }
}

TEST_CASE("quoted-printable known vectors") {
  CHECK(encodeQuotedPrintable("Café", "\n") == "Caf=C3=A9");
  CHECK(encodeQuotedPrintable("1+1=2", "\n") == "1+1=3D2");
  CHECK(encodeQuotedPrintable("trailing space \nand tab\t", "\n") ==
        "trailing space=20\nand tab=09");
  CHECK(encodeQuotedPrintable("a\r\nb\rc", "\r\n") == "a\r\nb\r\nc");
  CHECK(encodeQuotedPrintable("nul\x01", "\n") == "nul=01");

  std::string long_line(200, 'a');
  std::string encoded = encodeQuotedPrintable(long_line, "\n");
  std::vector<std::string> lines = splitOn(encoded, "\n");
  CHECK(lines.size() == 3);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i].size() <= 76);
    if (i + 1 < lines.size()) CHECK(lines[i].back() == '=');
  }
  CHECK(decodeQuotedPrintable(encoded, "\n") == long_line);
}

TEST_CASE("bodies switch to quoted-printable for non-ASCII or over-long lines") {
  MessageParts parts = sampleParts();
  parts.body = "Grüße aus München,\r\nZoë\n";
  ParsedMessage parsed = parseMessage(buildMessage(parts, "\r\n"), "\r\n");
  CHECK(header(parsed, "Content-Transfer-Encoding") == "quoted-printable");
  CHECK(parsed.body.find("M=C3=BCnchen") != std::string::npos);
  CHECK(decodeQuotedPrintable(parsed.body, "\r\n") == "Grüße aus München,\r\nZoë\r\n");

  parts.body = std::string(1200, 'x');
  parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "Content-Transfer-Encoding") == "quoted-printable");
  CHECK(decodeQuotedPrintable(parsed.body, "\n") == parts.body + "\n");

  parts.body = std::string(998, 'x');
  parsed = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(header(parsed, "Content-Transfer-Encoding") == "7bit");
}

TEST_CASE("body line endings are normalised to the requested one") {
  MessageParts parts = sampleParts();
  parts.body = "one\r\ntwo\nthree\rfour";
  ParsedMessage crlf = parseMessage(buildMessage(parts, "\r\n"), "\r\n");
  CHECK(crlf.body == "one\r\ntwo\r\nthree\r\nfour\r\n");
  ParsedMessage lf = parseMessage(buildMessage(parts, "\n"), "\n");
  CHECK(lf.body == "one\ntwo\nthree\nfour\n");
  CHECK(normalizeLineEndings("a\r\n\r\nb\n", "\r\n") == "a\r\n\r\nb\r\n");
}

TEST_CASE("random text round-trips through quoted-printable with short lines") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  const std::vector<std::string> alphabet = {"a",  "Z",    " ", "\t",   "=",    "é", "東",
                                             "\n", "\r\n", ".", "\x01", "\xff", "~"};
  constexpr int kRoundsMax = 300;
  for (int round = 0; round < kRoundsMax; ++round) {
    std::string text;
    std::size_t length = random() % 300;
    for (std::size_t i = 0; i < length; ++i) text += alphabet[random() % alphabet.size()];
    for (const std::string eol : {"\n", "\r\n"}) {
      std::string encoded = encodeQuotedPrintable(text, eol);
      INFO("seed " << seed << " round " << round);
      CHECK(decodeQuotedPrintable(encoded, eol) == normalizeLineEndings(text, eol));
      for (const std::string& line : splitOn(encoded, eol)) {
        CHECK(line.size() <= 76);
        if (!line.empty()) CHECK((line.back() != ' ' && line.back() != '\t'));
        bool ascii = true;
        for (char c : line) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
        CHECK(ascii);
      }
    }
  }
}

// The rule needsQuotedPrintable() keeps, a byte at a time (it tests eight at once).
bool needsQuotedPrintableByBytes(std::string_view body) {
  std::size_t line_bytes = 0;
  for (char ch : body) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n') {
      line_bytes = 0;
      continue;
    }
    if (c >= 0x7f || (c < 0x20 && c != '\t')) return true;
    if (++line_bytes > 998) return true;
  }
  return false;
}

TEST_CASE("the quoted-printable decision sees every byte and line length, at any offset") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  // Mostly plain bytes; now and then one that breaks a line, or one that forces the encoding.
  const std::string plain = "abcXYZ019 .,=~!\t";
  const std::string rare = {'\n', '\r', '\x01', '\x1f', '\x7f', '\x80', '\xc3', '\xff', '\0'};
  constexpr int kRounds = 4000;
  int encoded = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::string body;
    const std::size_t length = random() % 2100;
    const std::size_t rare_one_in = 1 + random() % 1200;
    for (std::size_t i = 0; i < length; ++i) {
      body += random() % rare_one_in == 0 ? rare[random() % rare.size()]
                                          : plain[random() % plain.size()];
    }
    INFO("seed " << seed << " round " << round);
    const bool expected = needsQuotedPrintableByBytes(body);
    CHECK(needsQuotedPrintable(body) == expected);
    encoded += expected ? 1 : 0;
  }
  // Both answers came up often enough to mean something.
  CHECK(encoded > kRounds / 10);
  CHECK(encoded < kRounds * 9 / 10);
  // At the limit, at every offset of the eight-byte words: 998 plain bytes are fine, 999 not.
  for (std::size_t before = 0; before < 16; ++before) {
    const std::string head = std::string(before, 'h') + "\n";
    CHECK_FALSE(needsQuotedPrintable(head + std::string(998, 'x')));
    CHECK(needsQuotedPrintable(head + std::string(999, 'x')));
    CHECK(needsQuotedPrintable(head + std::string(998, 'x') + "\x7f"));
  }
}

TEST_CASE("a control byte anywhere in a long header value is removed") {
  const std::string clean = "Quarterly planning for the platform team, and what comes next";
  std::string written_clean;
  appendUnstructuredHeader(written_clean, "Subject", clean, "\r\n");
  for (const char control : {'\x01', '\x1b', '\x7f', '\0'}) {
    for (std::size_t at = 1; at < clean.size(); ++at) {
      std::string value = clean;
      value.insert(at, 1, control);
      std::string written;
      appendUnstructuredHeader(written, "Subject", value, "\r\n");
      INFO("control byte " << static_cast<int>(control) << " at " << at);
      CHECK(written == written_clean);
    }
  }
}
