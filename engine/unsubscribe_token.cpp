#include "engine/unsubscribe_token.hpp"

#include <array>

#include "engine/assert.hpp"
#include "engine/sha256.hpp"

namespace seqd {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kSeparator = '.';
constexpr std::string_view kHttpsScheme = "https://";

// The 6-bit value of a base64url character, or -1.
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

Sha256Digest macOf(const HmacSha256& signer, std::string_view payload) {
  Sha256 inner = signer.begin();
  inner.update(kUnsubscribeMacContext);
  inner.update(payload);
  return signer.finish(inner);
}

std::string_view macBytes(const Sha256Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), kUnsubscribeMacBytes};
}

// Appends b64(contact key) "." b64(sequence id) "." b64(mac).
void appendToken(std::string& out, const HmacSha256& signer, std::string_view contact_key,
                 std::string_view sequence_id) {
  const std::size_t payload_at = out.size();
  appendBase64Url(out, contact_key);
  out += kSeparator;
  appendBase64Url(out, sequence_id);
  const Sha256Digest mac = macOf(signer, std::string_view(out).substr(payload_at));
  out += kSeparator;
  appendBase64Url(out, macBytes(mac));
}

}  // namespace

std::string encodeBase64Url(std::string_view bytes) {
  std::string text;
  appendBase64Url(text, bytes);
  return text;
}

void appendBase64Url(std::string& text, std::string_view bytes) {
  text.reserve(text.size() + (bytes.size() * 4 + 2) / 3);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t group = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 2]);
    text += kAlphabet[(group >> 18) & 0x3f];
    text += kAlphabet[(group >> 12) & 0x3f];
    if (i + 1 < bytes.size()) text += kAlphabet[(group >> 6) & 0x3f];
    if (i + 2 < bytes.size()) text += kAlphabet[group & 0x3f];
  }
}

std::optional<std::string> decodeBase64Url(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no byte count encodes to this length
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    int value = sextet(c);
    if (value < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes += static_cast<char>((bits >> bit_count) & 0xff);
    }
  }
  // Leftover bits (2 or 4) must be zero: otherwise a second spelling would decode the same.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return bytes;
}

std::string makeUnsubscribeToken(std::string_view secret, std::string_view contact_key,
                                 std::string_view sequence_id) {
  SEQD_ASSERT(!secret.empty());
  std::string token;
  appendToken(token, HmacSha256(secret), contact_key, sequence_id);
  return token;
}

std::optional<UnsubscribeTarget> readUnsubscribeToken(std::string_view secret,
                                                      std::string_view token) {
  if (secret.empty() || token.size() > kUnsubscribeTokenBytesMax) return std::nullopt;
  std::size_t first = token.find(kSeparator);
  if (first == std::string_view::npos) return std::nullopt;
  std::size_t second = token.find(kSeparator, first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (token.find(kSeparator, second + 1) != std::string_view::npos) return std::nullopt;
  std::optional<std::string> mac = decodeBase64Url(token.substr(second + 1));
  if (!mac || mac->size() != kUnsubscribeMacBytes) return std::nullopt;
  std::string_view payload = token.substr(0, second);
  if (!equalConstantTime(*mac, macBytes(macOf(HmacSha256(secret), payload)))) return std::nullopt;
  // Signed by us, so these decode; checked anyway, as a token is outside input.
  std::optional<std::string> contact_key = decodeBase64Url(token.substr(0, first));
  std::optional<std::string> sequence_id =
      decodeBase64Url(token.substr(first + 1, second - first - 1));
  if (!contact_key || !sequence_id || contact_key->empty()) return std::nullopt;
  return UnsubscribeTarget{std::move(*contact_key), std::move(*sequence_id)};
}

std::string unsubscribeUrl(std::string_view url_template, std::string_view token) {
  std::size_t at = url_template.find(kUnsubscribeUrlPlaceholder);
  SEQD_ASSERT(at != std::string_view::npos);
  std::string url(url_template.substr(0, at));
  url += token;
  url += url_template.substr(at + kUnsubscribeUrlPlaceholder.size());
  return url;
}

void appendUnsubscribeUrl(std::string& out, std::string_view url_template, const HmacSha256& signer,
                          std::string_view contact_key, std::string_view sequence_id) {
  std::size_t at = url_template.find(kUnsubscribeUrlPlaceholder);
  SEQD_ASSERT(at != std::string_view::npos);
  out += url_template.substr(0, at);
  appendToken(out, signer, contact_key, sequence_id);
  out += url_template.substr(at + kUnsubscribeUrlPlaceholder.size());
}

std::string unsubscribeUrlProblem(std::string_view url_template) {
  if (!url_template.starts_with(kHttpsScheme) || url_template.size() == kHttpsScheme.size()) {
    return "must be an https:// URL (RFC 8058 one-click unsubscribe needs HTTPS)";
  }
  std::size_t at = url_template.find(kUnsubscribeUrlPlaceholder);
  if (at == std::string_view::npos) return "must contain {token} once, where the token goes";
  if (url_template.find(kUnsubscribeUrlPlaceholder, at + 1) != std::string_view::npos) {
    return "must contain {token} exactly once";
  }
  std::size_t path = url_template.find('/', kHttpsScheme.size());
  if (path == kHttpsScheme.size() || path == std::string_view::npos || path > at) {
    return "must name a host, then a path holding {token} (https://HOST/u/{token})";
  }
  if (url_template.size() > kUnsubscribeUrlBytesMax) {
    return "is " + std::to_string(url_template.size()) + " bytes; at most " +
           std::to_string(kUnsubscribeUrlBytesMax) + " are allowed";
  }
  for (char c : url_template) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte >= 0x7f || c == '<' || c == '>' || c == '"') {
      return "must be printable ASCII without spaces, < > or \"";
    }
  }
  return "";
}

}  // namespace seqd
