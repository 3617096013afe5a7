#include "engine/email_address.hpp"

#include <cstddef>

namespace seqd {
namespace {

constexpr std::size_t kLocalPartBytesMax = 64;
constexpr std::size_t kAddressBytesMax = 254;

bool isAtext(unsigned char c) {
  if (c >= 0x80) return true;  // UTF-8 (RFC 6532)
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

bool isDotAtom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '.') {
      if (text[i + 1] == '.') return false;  // i + 1 < size: the last byte is not '.'
      continue;
    }
    if (!isAtext(c)) return false;
  }
  return true;
}

bool isQuotedString(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      if (i + 2 >= text.size()) return false;  // escapes the closing quote
      const unsigned char next = static_cast<unsigned char>(text[++i]);
      if (!(next == ' ' || next == '\t' || (next >= 0x21 && next <= 0x7e) || next >= 0x80)) {
        return false;
      }
      continue;
    }
    const bool qtext = c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) || c >= 0x80;
    if (!qtext && c != ' ') return false;
  }
  return true;
}

bool isDomainLiteral(std::string_view text) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return false;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126))) return false;
  }
  return true;
}

}  // namespace

bool isValidAddrSpec(std::string_view address) {
  if (address.size() > kAddressBytesMax) return false;
  // The last "@" splits: a quoted local part may hold "@" itself.
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  const std::string_view local = address.substr(0, at);
  const std::string_view domain = address.substr(at + 1);
  if (local.empty() || local.size() > kLocalPartBytesMax || domain.empty()) return false;
  if (!isDotAtom(local) && !isQuotedString(local)) return false;
  return isDotAtom(domain) || isDomainLiteral(domain);
}

}  // namespace seqd
