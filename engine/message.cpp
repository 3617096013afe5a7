#include "engine/message.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/contact.hpp"
#include "engine/utf8.hpp"

namespace seqd {
namespace {

// RFC 5322 asks for lines of at most 78 characters; we keep a little under that.
constexpr std::size_t kHeaderLineMax = 76;
// A longer header value is cut (at a UTF-8 character boundary) before it is written.
constexpr std::size_t kHeaderValueBytesMax = 16 * 1024;
// RFC 2047 §2: an encoded-word is at most 75 characters.
constexpr std::size_t kEncodedWordMax = 75;
constexpr std::string_view kEncodedWordOpen = "=?UTF-8?B?";
constexpr std::string_view kEncodedWordClose = "?=";
// RFC 5322 §2.1.1: a line is at most 998 characters; longer body lines force quoted-printable.
constexpr std::size_t kBodyLineBytesMax = 998;
// RFC 2045 §6.7 rule 5: an encoded line is at most 76 characters.
constexpr std::size_t kQuotedPrintableLineMax = 76;

constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";

bool isBlank(char c) { return c == ' ' || c == '\t'; }

// Eight bytes at a time (SWAR): a scan for the bytes a header or a body must treat specially
// tests a word of plain bytes at once and looks at single bytes only in a word that holds
// one. Each test is exact for its word (no false positive).
constexpr std::uint64_t kEachByte = 0x0101010101010101ULL;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
std::uint64_t wordAt(const char* bytes) {
  std::uint64_t word;
  std::memcpy(&word, bytes, sizeof word);
  return word;
}
// Nonzero when a byte of word is below n (REQUIRES: n <= 128).
constexpr std::uint64_t anyByteBelow(std::uint64_t word, std::uint64_t n) {
  return (word - kEachByte * n) & ~word & kHighBits;
}
// Nonzero when a byte of word is `byte`.
constexpr std::uint64_t anyByteIs(std::uint64_t word, std::uint64_t byte) {
  return anyByteBelow(word ^ (kEachByte * byte), 1);
}
// Nonzero when a byte of word is a control byte (TAB and line breaks too) or DEL.
constexpr std::uint64_t anyControlByte(std::uint64_t word) {
  return anyByteBelow(word, 0x20) | anyByteIs(word, 0x7f);
}

// Appends the value as 16 lower-case hex digits.
void appendHex16(std::string& out, std::uint64_t value) {
  char text[16];
  for (std::size_t i = 0; i < 16; ++i) {
    text[15 - i] = kHexLower[value & 0xf];
    value >>= 4;
  }
  out.append(text, sizeof(text));
}

// The byte length of the UTF-8 character at text[at]; 1 for a byte that does not start a
// valid sequence, so malformed input still makes progress.
std::size_t utf8Length(std::string_view text, std::size_t at) {
  const std::size_t length = decodeUtf8(text, at).length;
  return length == 0 ? 1 : length;
}

// Calls visit(line) for each line of text, split at CRLF, LF or a lone CR. "a\nb\n" visits
// "a", "b", ""; joining them with a line ending restores the text with its breaks rewritten.
template <typename Visit>
void forEachLine(std::string_view text, Visit visit) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r' && text[i] != '\n') continue;
    visit(text.substr(start, i - start));
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  visit(text.substr(start));
}

std::string encodeBase64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 2]);
    text += kAlphabet[(group >> 18) & 0x3f];
    text += kAlphabet[(group >> 12) & 0x3f];
    text += i + 1 < bytes.size() ? kAlphabet[(group >> 6) & 0x3f] : '=';
    text += i + 2 < bytes.size() ? kAlphabet[group & 0x3f] : '=';
  }
  return text;
}

std::size_t encodedWordLength(std::size_t byte_count) {
  return kEncodedWordOpen.size() + (byte_count + 2) / 3 * 4 + kEncodedWordClose.size();
}

// RFC 2047 B-encoded words separated by single spaces; each word holds whole characters and
// fits first_budget (the first) or kEncodedWordMax (the others) columns.
std::string encodeWords(std::string_view text, std::size_t first_budget) {
  std::string words;
  std::size_t budget = std::min(first_budget, kEncodedWordMax);
  std::size_t position = 0;
  while (position < text.size()) {
    std::size_t take = 0;
    while (position + take < text.size()) {
      std::size_t next = take + utf8Length(text, position + take);
      if (encodedWordLength(next) > budget) break;
      take = next;
    }
    // A budget too small for even one character still writes it, over long, to make progress.
    if (take == 0) take = utf8Length(text, position);
    if (!words.empty()) words += ' ';
    words += kEncodedWordOpen;
    words += encodeBase64(text.substr(position, take));
    words += kEncodedWordClose;
    position += take;
    budget = kEncodedWordMax;
  }
  return words;
}

bool isHeaderControl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

bool hasHeaderControl(std::string_view value) {
  std::size_t at = 0;
  for (; at + 8 <= value.size(); at += 8) {
    if (anyControlByte(wordAt(value.data() + at)) == 0) continue;
    for (std::size_t i = at; i < at + 8; ++i) {
      if (isHeaderControl(static_cast<unsigned char>(value[i]))) return true;
    }
  }
  return std::any_of(value.begin() + static_cast<std::ptrdiff_t>(at), value.end(),
                     [](char c) { return isHeaderControl(static_cast<unsigned char>(c)); });
}

// Removes what could break out of a header: runs of CR/LF become one space, other control
// bytes go; the result is trimmed and cut to kHeaderValueBytesMax at a character boundary.
// A value with nothing to remove comes back as it is; else the result is built in scratch.
std::string_view cleanHeaderValue(std::string_view value, std::string& scratch) {
  const bool clean_already =
      value.size() <= kHeaderValueBytesMax &&
      (value.empty() || (!isBlank(value.front()) && !isBlank(value.back()))) &&
      !hasHeaderControl(value);
  if (clean_already) return value;
  std::string& clean = scratch;
  clean.clear();
  bool in_break = false;
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n') {
      if (!in_break) clean += ' ';
      in_break = true;
      continue;
    }
    in_break = false;
    if (isHeaderControl(c)) continue;
    clean += ch;
  }
  std::size_t first = clean.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  std::string_view trimmed(clean);
  trimmed = trimmed.substr(first, clean.find_last_not_of(" \t") - first + 1);
  if (trimmed.size() > kHeaderValueBytesMax) {
    std::size_t cut = kHeaderValueBytesMax;
    while (cut > 0 && (static_cast<unsigned char>(trimmed[cut]) & 0xc0) == 0x80) --cut;
    trimmed = trimmed.substr(0, cut);
  }
  return trimmed;
}

std::string cleanHeaderValue(std::string_view value) {
  std::string scratch;
  return std::string(cleanHeaderValue(value, scratch));
}

// An address keeps no whitespace, control bytes or the characters that would end it or start
// another one (a "<", ">", ",", ";", quote, parenthesis or backslash).
void appendCleanAddress(std::string& out, std::string_view address) {
  std::string scratch;
  for (char ch : cleanHeaderValue(address, scratch)) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) continue;
    if (std::string_view("<>(),;\"\\").find(ch) != std::string_view::npos) continue;
    out += ch;
  }
}

std::string cleanAddress(std::string_view address) {
  std::string clean;
  appendCleanAddress(clean, address);
  return clean;
}

bool isPrintableAscii(std::string_view text) {
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c >= 0x7f) return false;
  }
  return true;
}

// A break may go before whitespace that is followed by something other than whitespace.
bool isFoldPoint(const std::string& line, std::size_t at) {
  return isBlank(line[at]) && at + 1 < line.size() && !isBlank(line[at + 1]);
}

// Appends "Name: value" + line_ending, folded before whitespace so each line stays within
// kHeaderLineMax where a break point allows it. Never breaks right after the colon.
void appendFolded(std::string& folded, std::string_view name, std::string_view value,
                  std::string_view line_ending) {
  if (name.size() + 1 + (value.empty() ? 0 : 1 + value.size()) <= kHeaderLineMax) {
    folded += name;  // one line: nothing to fold
    folded += value.empty() ? ":" : ": ";
    folded += value;
    folded += line_ending;
    return;
  }
  std::string line;
  line.reserve(name.size() + 2 + value.size());
  line += name;
  line += ':';
  if (!value.empty()) {
    line += ' ';
    line += value;
  }
  std::size_t start = 0;
  std::size_t first_break_min = name.size() + 2;
  for (std::size_t fold = 0; fold < kHeaderValueBytesMax; ++fold) {
    if (line.size() - start <= kHeaderLineMax) break;
    std::size_t best = std::string::npos;
    for (std::size_t at = std::max(start + 1, first_break_min); at < line.size(); ++at) {
      if (!isFoldPoint(line, at)) continue;
      if (at - start > kHeaderLineMax && best != std::string::npos) break;
      best = at;
      if (at - start > kHeaderLineMax) break;
    }
    if (best == std::string::npos) break;
    folded.append(line, start, best - start);
    folded += line_ending;
    start = best;
  }
  folded.append(line, start);
  folded += line_ending;
}

std::string foldHeader(std::string_view name, std::string_view value,
                       std::string_view line_ending) {
  std::string folded;
  appendFolded(folded, name, value, line_ending);
  return folded;
}

bool allLinesFit(std::string_view folded, std::string_view line_ending) {
  std::size_t start = 0;
  for (std::size_t guard = 0; guard <= folded.size() && start < folded.size(); ++guard) {
    std::size_t end = folded.find(line_ending, start);
    if (end == std::string_view::npos) end = folded.size();
    if (end - start > kHeaderLineMax) return false;
    start = end + line_ending.size();
  }
  return true;
}

// An unstructured header (Subject, X-Seqd-*): as it is when printable ASCII that folds to
// short lines, else RFC 2047 encoded-words.
void appendUnstructured(std::string& out, std::string_view name, std::string_view raw_value,
                        std::string_view line_ending) {
  std::string scratch;
  std::string_view value = cleanHeaderValue(raw_value, scratch);
  if (isPrintableAscii(value) && value.find("=?") == std::string_view::npos) {
    if (name.size() + 2 + value.size() <= kHeaderLineMax) {
      return appendFolded(out, name, value, line_ending);  // one line
    }
    std::string folded = foldHeader(name, value, line_ending);
    if (allLinesFit(folded, line_ending)) {
      out += folded;
      return;
    }
  }
  std::size_t prefix = name.size() + 2;
  std::size_t first_budget = kHeaderLineMax > prefix ? kHeaderLineMax - prefix : 0;
  appendFolded(out, name, encodeWords(value, first_budget), line_ending);
}

// A display name as an RFC 5322 phrase: an atom sequence, a quoted string when it holds
// specials, or encoded-words when it is not printable ASCII.
std::string encodePhrase(std::string_view raw_name, std::size_t prefix) {
  std::string scratch;
  std::string_view name = cleanHeaderValue(raw_name, scratch);
  if (!isPrintableAscii(name) || name.find("=?") != std::string_view::npos) {
    return encodeWords(name, kHeaderLineMax > prefix ? kHeaderLineMax - prefix : 0);
  }
  if (name.find_first_of("()<>[]:;@\\,.\"") == std::string_view::npos) return std::string(name);
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

void appendMailbox(std::string& out, std::string_view name, std::string_view display_name,
                   std::string_view address, std::string_view line_ending) {
  std::string value = encodePhrase(display_name, name.size() + 2);
  if (value.empty()) {
    appendCleanAddress(value, address);
  } else {
    value.reserve(value.size() + address.size() + 3);
    value += " <";
    appendCleanAddress(value, address);
    value += '>';
  }
  appendFolded(out, name, value, line_ending);
}

void encodeQuotedPrintableLine(std::string_view line, std::string_view line_ending,
                               std::string& encoded) {
  std::size_t column = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    bool last = i + 1 == line.size();
    bool literal = (c >= 33 && c <= 126 && c != '=') || (isBlank(line[i]) && !last);
    char token[3] = {static_cast<char>(c), 0, 0};
    std::size_t token_size = 1;
    if (!literal) {
      token[0] = '=';
      token[1] = kHexUpper[c >> 4];
      token[2] = kHexUpper[c & 0xf];
      token_size = 3;
    }
    // A token that is not the line's last must leave a column for a later soft break's '='.
    std::size_t limit = last ? kQuotedPrintableLineMax : kQuotedPrintableLineMax - 1;
    if (column + token_size > limit) {
      encoded += '=';
      encoded += line_ending;
      column = 0;
    }
    encoded.append(token, token_size);
    column += token_size;
  }
}

// Appends the id with characters outside [A-Za-z0-9-_] as '-' ("-" for an empty id); an id
// over kMessageIdPartBytesMax is cut and ends in '-' and the hash of the whole.
void appendIdPart(std::string& out, std::string_view id) {
  if (id.empty()) {
    out.push_back('-');
    return;
  }
  const bool cut = id.size() > kMessageIdPartBytesMax;
  for (char c : cut ? id.substr(0, kMessageIdPartBytesMax - 17) : id) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
    out.push_back(keep ? c : '-');
  }
  if (cut) {
    out.push_back('-');
    appendHex16(out, fnv1a64(id));
  }
}

// Appends the from address's domain (after the last '@'), lower-cased, characters outside
// [a-z0-9-.] as '-'; "localhost" when there is none.
void appendMessageIdDomain(std::string& out, std::string_view from_address) {
  const std::size_t at = from_address.rfind('@');
  const std::string_view domain = at == std::string_view::npos
                                      ? std::string_view()
                                      : from_address.substr(at + 1, kMessageIdPartBytesMax * 4);
  if (domain.empty()) {
    out += "localhost";
    return;
  }
  for (char c : domain) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    out.push_back(keep ? c : '-');
  }
}

}  // namespace

void appendMessageId(std::string& out, std::string_view sequence_id, std::string_view step_id,
                     std::string_view contact_key, std::string_view from_address) {
  out.push_back('<');
  appendIdPart(out, sequence_id);
  out.push_back('.');
  appendIdPart(out, step_id);
  out.push_back('.');
  appendHex16(out, fnv1a64(contact_key));
  out.push_back('@');
  appendMessageIdDomain(out, from_address);
  out.push_back('>');
}

std::string makeMessageId(std::string_view sequence_id, std::string_view step_id,
                          std::string_view contact_key, std::string_view from_address) {
  std::string message_id;
  message_id.reserve(64);
  appendMessageId(message_id, sequence_id, step_id, contact_key, from_address);
  return message_id;
}

std::string normalizeLineEndings(std::string_view text, std::string_view line_ending) {
  std::string normalized;
  normalized.reserve(text.size());
  bool first = true;
  forEachLine(text, [&](std::string_view line) {
    if (!first) normalized += line_ending;
    first = false;
    normalized += line;
  });
  return normalized;
}

std::string encodeQuotedPrintable(std::string_view text, std::string_view line_ending) {
  std::string encoded;
  encoded.reserve(text.size() + text.size() / 8);
  bool first = true;
  forEachLine(text, [&](std::string_view line) {
    if (!first) encoded += line_ending;
    first = false;
    encodeQuotedPrintableLine(line, line_ending, encoded);
  });
  return encoded;
}

void appendHeader(std::string& out, std::string_view name, std::string_view value,
                  std::string_view line_ending) {
  std::string scratch;
  appendFolded(out, name, cleanHeaderValue(value, scratch), line_ending);
}

void appendUnstructuredHeader(std::string& out, std::string_view name, std::string_view value,
                              std::string_view line_ending) {
  appendUnstructured(out, name, value, line_ending);
}

void appendMailboxHeader(std::string& out, std::string_view name, std::string_view display_name,
                         std::string_view address, std::string_view line_ending) {
  appendMailbox(out, name, display_name, address, line_ending);
}

bool needsQuotedPrintable(std::string_view body) {
  std::size_t line_bytes = 0;
  // False when the byte makes the body quoted-printable.
  const auto plain = [&](unsigned char c) {
    if (c == '\r' || c == '\n') {
      line_bytes = 0;
      return true;
    }
    if (c >= 0x7f || (c < 0x20 && c != '\t')) return false;
    return ++line_bytes <= kBodyLineBytesMax;
  };
  std::size_t at = 0;
  for (; at + 8 <= body.size(); at += 8) {
    const std::uint64_t word = wordAt(body.data() + at);
    if ((anyControlByte(word) | (word & kHighBits)) == 0) {
      line_bytes += 8;  // eight printable ASCII bytes, none a line break
      if (line_bytes > kBodyLineBytesMax) return true;
      continue;
    }
    for (std::size_t i = at; i < at + 8; ++i) {
      if (!plain(static_cast<unsigned char>(body[i]))) return true;
    }
  }
  for (; at < body.size(); ++at) {
    if (!plain(static_cast<unsigned char>(body[at]))) return true;
  }
  return false;
}

void appendMessageBody(std::string& out, std::string_view body, bool quoted_printable,
                       std::string_view line_ending) {
  const std::size_t start = out.size();
  if (quoted_printable) {
    bool first = true;
    forEachLine(body, [&](std::string_view line) {
      if (!first) out += line_ending;
      first = false;
      encodeQuotedPrintableLine(line, line_ending, out);
    });
  } else if (line_ending == "\n" && body.find('\r') == std::string_view::npos) {
    out += body;  // already in '\n' lines
  } else {
    bool first = true;
    forEachLine(body, [&](std::string_view line) {
      if (!first) out += line_ending;
      first = false;
      out += line;
    });
  }
  const std::string_view written = std::string_view(out).substr(start);
  const bool ends_with_break = written.size() >= line_ending.size() &&
                               written.substr(written.size() - line_ending.size()) == line_ending;
  if (!written.empty() && !ends_with_break) out += line_ending;
}

std::string buildMessage(const MessageParts& parts, std::string_view line_ending) {
  std::string message;
  appendMailbox(message, "From", parts.from_name, parts.from_address, line_ending);
  appendMailbox(message, "To", parts.to_name, parts.to_address, line_ending);
  appendUnstructured(message, "Subject", parts.subject, line_ending);
  appendFolded(message, "Date", formatRfc5322Date(parts.date_ms), line_ending);
  std::string message_id = cleanHeaderValue(parts.message_id);
  if (message_id.empty()) {
    message_id = makeMessageId(parts.sequence_id, parts.step_id, parts.contact_key,
                               cleanAddress(parts.from_address));
  }
  appendFolded(message, "Message-ID", message_id, line_ending);
  std::string in_reply_to = cleanHeaderValue(parts.in_reply_to);
  std::string references = cleanHeaderValue(parts.references);
  if (references.empty()) references = in_reply_to;
  if (!in_reply_to.empty()) appendFolded(message, "In-Reply-To", in_reply_to, line_ending);
  if (!references.empty()) appendFolded(message, "References", references, line_ending);
  std::string unsubscribe = cleanHeaderValue(parts.list_unsubscribe);
  if (!unsubscribe.empty()) {
    appendFolded(message, "List-Unsubscribe", unsubscribe, line_ending);
    if (parts.list_unsubscribe_one_click && unsubscribe.find("<https://") != std::string::npos) {
      appendFolded(message, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click", line_ending);
    }
  }
  bool quoted_printable = needsQuotedPrintable(parts.body);
  appendFolded(message, "MIME-Version", "1.0", line_ending);
  appendFolded(message, "Content-Type", "text/plain; charset=UTF-8", line_ending);
  appendFolded(message, "Content-Transfer-Encoding", quoted_printable ? "quoted-printable" : "7bit",
               line_ending);
  appendUnstructured(message, "X-Seqd-Sequence", parts.sequence_id, line_ending);
  appendUnstructured(message, "X-Seqd-Step", parts.step_id, line_ending);
  if (!parts.variant_id.empty()) {
    appendUnstructured(message, "X-Seqd-Variant", parts.variant_id, line_ending);
  }
  appendUnstructured(message, "X-Seqd-Contact", parts.contact_key, line_ending);
  message += line_ending;
  appendMessageBody(message, parts.body, quoted_printable, line_ending);
  return message;
}

}  // namespace seqd
