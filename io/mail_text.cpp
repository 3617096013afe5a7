#include "io/mail_text.hpp"

#include <array>

namespace seqd {
namespace {

void appendUtf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// The length of the valid, shortest-form UTF-8 sequence at text[at], or 0 when there is none.
// On success code_point holds its value.
std::size_t validSequenceAt(std::string_view text, std::size_t at, char32_t& code_point) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(at);
  std::size_t length = 0;
  char32_t minimum = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    minimum = 0x80;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    minimum = 0x800;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    minimum = 0x10000;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(at + i) & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

// Latin-1 Supplement letters U+00C0..U+00FF without their accents; "" keeps the character.
constexpr std::array<const char*, 64> kLatin1Folded = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};

// What foldForMatching writes for a non-ASCII code point; nullptr keeps it unchanged.
const char* foldedNonAscii(char32_t code_point) {
  if (code_point >= 0xC0 && code_point <= 0xFF) {
    const char* folded = kLatin1Folded[code_point - 0xC0];
    return folded[0] != '\0' ? folded : nullptr;
  }
  switch (code_point) {
    case 0xA0:  // no-break space
    case 0x2007:
    case 0x202F:
      return " ";
    case 0xAA:  // feminine ordinal indicator
      return "a";
    case 0xBA:  // masculine ordinal indicator
    case 0xB0:  // degree sign, written for ordinals
      return "o";
    case 0x152:
    case 0x153:
      return "oe";
    case 0x2018:
    case 0x2019:
    case 0x02BC:
      return "'";
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2015:
    case 0x2212:
      return "-";
    default:
      return nullptr;
  }
}

struct NamedEntity {
  const char* name;
  char32_t code_point;
};

constexpr NamedEntity kNamedEntities[] = {
    {"nbsp", 0xA0},   {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},
    {"apos", '\''},   {"rsquo", 0x2019}, {"lsquo", 0x2018}, {"ndash", 0x2013}, {"mdash", 0x2014},
    {"ordm", 0xBA},   {"ordf", 0xAA},    {"deg", 0xB0},     {"szlig", 0xDF},   {"agrave", 0xE0},
    {"aacute", 0xE1}, {"acirc", 0xE2},   {"atilde", 0xE3},  {"auml", 0xE4},    {"ccedil", 0xE7},
    {"egrave", 0xE8}, {"eacute", 0xE9},  {"ecirc", 0xEA},   {"euml", 0xEB},    {"igrave", 0xEC},
    {"iacute", 0xED}, {"icirc", 0xEE},   {"iuml", 0xEF},    {"ntilde", 0xF1},  {"ograve", 0xF2},
    {"oacute", 0xF3}, {"ocirc", 0xF4},   {"otilde", 0xF5},  {"ouml", 0xF6},    {"ugrave", 0xF9},
    {"uacute", 0xFA}, {"ucirc", 0xFB},   {"uuml", 0xFC},    {"Eacute", 0xC9},  {"Agrave", 0xC0},
    {"Auml", 0xC4},   {"Ouml", 0xD6},    {"Uuml", 0xDC},    {"Ccedil", 0xC7}};

// A character reference is at most this long, "&" and ";" included ("&#x10FFFF;").
constexpr std::size_t kEntityBytesMax = 10;

// Decodes the character reference at html[at] ('&') into out; returns the bytes it took, or 0
// when it is not one (then the '&' is plain text).
std::size_t decodeEntity(std::string_view html, std::size_t at, std::string& out) {
  std::size_t end = html.find(';', at);
  if (end == std::string_view::npos || end - at + 1 > kEntityBytesMax) return 0;
  std::string_view body = html.substr(at + 1, end - at - 1);
  if (body.empty()) return 0;
  char32_t code_point = 0;
  if (body[0] == '#') {
    bool hex = body.size() > 1 && (body[1] == 'x' || body[1] == 'X');
    std::string_view digits = body.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    for (char c : digits) {
      int value = -1;
      if (c >= '0' && c <= '9') value = c - '0';
      if (hex && c >= 'a' && c <= 'f') value = c - 'a' + 10;
      if (hex && c >= 'A' && c <= 'F') value = c - 'A' + 10;
      if (value < 0) return 0;
      code_point = code_point * (hex ? 16 : 10) + static_cast<char32_t>(value);
      if (code_point > 0x10FFFF) return 0;
    }
    if (code_point == 0 || (code_point >= 0xD800 && code_point <= 0xDFFF)) code_point = 0xFFFD;
  } else {
    bool found = false;
    for (const NamedEntity& entity : kNamedEntities) {
      if (body == entity.name) {
        code_point = entity.code_point;
        found = true;
        break;
      }
    }
    if (!found) return 0;
  }
  appendUtf8(out, code_point);
  return end - at + 1;
}

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoringCase(std::string_view left, std::string_view right) {
  if (left.size() != right.size()) return false;
  for (std::size_t i = 0; i < left.size(); ++i) {
    if (lowerAscii(left[i]) != lowerAscii(right[i])) return false;
  }
  return true;
}

bool isTagNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool isBlockTag(std::string_view name) {
  for (std::string_view block : {"br", "p", "div", "tr", "li", "table", "blockquote", "h1", "h2",
                                 "h3", "h4", "h5", "h6", "hr", "ul", "ol"}) {
    if (equalsIgnoringCase(name, block)) return true;
  }
  return false;
}

bool isSkippedElement(std::string_view name) {
  return equalsIgnoringCase(name, "script") || equalsIgnoringCase(name, "style") ||
         equalsIgnoringCase(name, "head") || equalsIgnoringCase(name, "title");
}

// Where the text resumes after the end tag "</name...>" searched from `from`, or npos.
std::size_t afterEndTag(std::string_view html, std::size_t from, std::string_view name) {
  std::size_t at = from;
  while ((at = html.find("</", at)) != std::string_view::npos) {
    std::size_t name_end = at + 2;
    while (name_end < html.size() && isTagNameChar(html[name_end])) ++name_end;
    if (equalsIgnoringCase(html.substr(at + 2, name_end - at - 2), name)) {
      std::size_t close = html.find('>', name_end);
      return close == std::string_view::npos ? close : close + 1;
    }
    at += 2;
  }
  return std::string_view::npos;
}

}  // namespace

std::string repairUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t at = 0;
  while (at < bytes.size()) {
    char32_t code_point = 0;
    std::size_t length = validSequenceAt(bytes, at, code_point);
    if (length == 0) {
      appendUtf8(out, static_cast<unsigned char>(bytes[at]));
      ++at;
      continue;
    }
    if (code_point == 0) {
      out += ' ';
    } else {
      out.append(bytes.substr(at, length));
    }
    at += length;
  }
  return out;
}

std::string foldForMatching(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  while (at < text.size()) {
    char32_t code_point = 0;
    std::size_t length = validSequenceAt(text, at, code_point);
    if (length == 0) {
      out += text[at];
      ++at;
      continue;
    }
    if (code_point < 0x80) {
      char c = static_cast<char>(code_point);
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    } else if (const char* folded = foldedNonAscii(code_point)) {
      out += folded;
    } else {
      out.append(text.substr(at, length));
    }
    at += length;
  }
  return out;
}

std::string htmlToText(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  std::size_t at = 0;
  while (at < html.size()) {
    char c = html[at];
    if (c == '&') {
      std::size_t taken = decodeEntity(html, at, out);
      if (taken == 0) {
        out += '&';
        taken = 1;
      }
      at += taken;
      continue;
    }
    if (c != '<') {
      out += c;
      ++at;
      continue;
    }
    if (html.substr(at, 4) == "<!--") {
      std::size_t end = html.find("-->", at + 4);
      if (end == std::string_view::npos) break;
      at = end + 3;
      continue;
    }
    std::size_t name_start = at + 1;
    if (name_start < html.size() && html[name_start] == '/') ++name_start;
    std::size_t name_end = name_start;
    while (name_end < html.size() && isTagNameChar(html[name_end])) ++name_end;
    std::string_view name = html.substr(name_start, name_end - name_start);
    std::size_t close = html.find('>', name_end);
    if (close == std::string_view::npos) break;
    at = close + 1;
    if (isBlockTag(name)) out += '\n';
    if (html[name_start - 1] != '/' && isSkippedElement(name)) {
      at = afterEndTag(html, at, name);
      if (at == std::string_view::npos) break;
    }
  }
  return out;
}

}  // namespace seqd
