#include "engine/email_address.hpp"

#include <string>

namespace seqd {
namespace {

bool isAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 atext, plus UTF-8 bytes (RFC 6532).
bool isAtext(unsigned char c) {
  if (isAlnum(c) || c >= 0x80) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

Status dotAtom(std::string_view text, std::string_view what) {
  if (text.empty()) return Status::invalidArgument(std::string(what) + " is empty");
  if (text.front() == '.' || text.back() == '.' || text.find("..") != std::string_view::npos) {
    return Status::invalidArgument(std::string(what) + " starts or ends with '.' or has '..'");
  }
  for (unsigned char c : text) {
    if (c == '.' || isAtext(c)) continue;
    return Status::invalidArgument(std::string(what) + " has a character an address cannot " +
                                   "have unquoted ('" + std::string(1, static_cast<char>(c)) +
                                   "'); write the address alone, without a name or a list");
  }
  return Status::ok();
}

// "..." with printable ASCII, spaces, tabs and \-escapes of the same.
Status quotedString(std::string_view text) {
  if (text.size() < 2 || text.back() != '"') {
    return Status::invalidArgument("the quoted local part is not closed");
  }
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      ++i;
      if (i + 1 >= text.size()) return Status::invalidArgument("a '\\' ends the quoted part");
      c = static_cast<unsigned char>(text[i]);
      if (c < 0x20 && c != '\t') return Status::invalidArgument("a control character");
      continue;
    }
    if (c == '"') return Status::invalidArgument("a '\"' inside the quoted local part");
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      return Status::invalidArgument("a control character in the local part");
    }
  }
  return Status::ok();
}

Status domainName(std::string_view domain) {
  if (domain.empty()) return Status::invalidArgument("the domain is empty");
  if (domain.front() == '[') {
    if (domain.back() != ']') return Status::invalidArgument("the domain literal is not closed");
    for (unsigned char c : domain.substr(1, domain.size() - 2)) {
      if (!(isAlnum(c) || c == '.' || c == ':')) {
        return Status::invalidArgument("the domain literal may hold only an IP address");
      }
    }
    return Status::ok();
  }
  std::size_t start = 0;
  for (;;) {  // one label per pass
    std::size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return Status::invalidArgument("the domain has an empty label");
    if (label.size() > kEmailLabelBytesMax) {
      return Status::invalidArgument("a domain label is over " +
                                     std::to_string(kEmailLabelBytesMax) + " bytes");
    }
    if (label.front() == '-' || label.back() == '-') {
      return Status::invalidArgument("a domain label starts or ends with '-'");
    }
    for (unsigned char c : label) {
      if (!(isAlnum(c) || c == '-' || c >= 0x80)) {
        return Status::invalidArgument("the domain has a character a host name cannot have ('" +
                                       std::string(1, static_cast<char>(c)) +
                                       "'); write the address alone, without a name or a list");
      }
    }
    if (dot == std::string_view::npos) return Status::ok();
    start = dot + 1;
  }
}

}  // namespace

Status checkEmailAddress(std::string_view address) {
  if (address.size() > kEmailAddressBytesMax) {
    return Status::invalidArgument("an address is at most " +
                                   std::to_string(kEmailAddressBytesMax) + " bytes");
  }
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) return Status::invalidArgument("no '@'");
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  if (local.size() > kEmailLocalPartBytesMax) {
    return Status::invalidArgument("the local part is over " +
                                   std::to_string(kEmailLocalPartBytesMax) + " bytes");
  }
  Status checked = !local.empty() && local.front() == '"' ? quotedString(local)
                                                          : dotAtom(local, "the local part");
  if (!checked.isOk()) return checked;
  return domainName(domain);
}

Status checkContactEmail(std::string_view address) {
  Status strict = checkEmailAddress(address);
  if (strict.isOk()) return strict;
  for (char c : address) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == ' ' || c == '<' || c == '>' || c == ',' || c == ';' ||
        c == ':' || c == '(' || c == ')') {
      return strict;
    }
  }
  // One recipient still needs the shape local@domain.
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return strict;
  return Status::ok();
}

}  // namespace seqd
