// Unsubscribe tokens: the signed part of a one-click unsubscribe link (RFC 8058), and the
// settings that say whether emails carry such a link.
//
// A token names a contact and the sequence the email came from, and carries a MAC over both
// made with the operator's secret (seqd.yaml `unsubscribe_secret_file`):
//
//   token   = b64(contact key) "." b64(sequence id) "." b64(mac)
//   mac     = the first kUnsubscribeMacBytes of HMAC-SHA256(secret, kUnsubscribeMacContext +
//             b64(contact key) "." b64(sequence id))
//   b64     = base64url without padding (RFC 4648 §5): A-Z a-z 0-9 - _
//
// Every character is safe in a URL path segment, and '.' never occurs inside a b64 part, so
// the signed text names exactly one (contact, sequence) pair. The server recovers both from
// the token without any lookup table, and nothing is stored per email. Without the secret a
// token cannot be made, nor one changed to name another contact or sequence: 128 bits of MAC.
// The context string keeps these MACs apart from anything else the secret might sign.
//
// The token is a pure function of (secret, contact, sequence), so a redelivered email is
// byte-identical. Trade-offs: a token never expires and cannot be revoked one at a time
// (changing the secret voids every link already sent; the contact's unsubscribe by any other
// way still works); the contact key is readable in the link, which is no more than the email's
// own X-Seqd-Contact header shows.
//
// Thread-safety: pure functions over plain values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "engine/sha256.hpp"

namespace seqd {

// 128 bits of MAC: forging one is a 2^-128 guess per try.
inline constexpr std::size_t kUnsubscribeMacBytes = 16;
// The secret's bytes, at least (RFC 2104 §3: no shorter than the MAC we rely on).
inline constexpr std::size_t kUnsubscribeSecretBytesMin = 16;
inline constexpr std::size_t kUnsubscribeSecretBytesMax = 4096;
// A token longer than this is refused unread (a 511-byte contact key and a 64-byte sequence
// id make 792).
inline constexpr std::size_t kUnsubscribeTokenBytesMax = 1024;
// The URL template (with its "{token}"), at most: with the longest token, the
// `List-Unsubscribe: <URL>,` line stays within RFC 5322's 998 characters.
inline constexpr std::size_t kUnsubscribeUrlBytesMax = 192;
inline constexpr std::string_view kUnsubscribeUrlPlaceholder = "{token}";
inline constexpr std::string_view kUnsubscribeMacContext = "seqd unsubscribe v1:";

// How emails offer unsubscribing; part of EngineSettings, set from seqd.yaml.
struct UnsubscribeLinks {
  // "https://acme.test/u/{token}"; empty: emails carry only the mailto: link and no
  // List-Unsubscribe-Post.
  std::string url_template;
  // The HMAC key; empty: no token is made or accepted. Never logged.
  std::string secret;
};

// What a good token names.
struct UnsubscribeTarget {
  std::string contact_key;
  std::string sequence_id;
};

// REQUIRES: secret is not empty.
// Each call hashes the secret's padded blocks again; a hot path keeps an HmacSha256 made once
// from the secret and calls appendUnsubscribeUrl.
std::string makeUnsubscribeToken(std::string_view secret, std::string_view contact_key,
                                 std::string_view sequence_id);

// The contact and sequence a token names, or nullopt when it is malformed, too long, or its MAC
// is not the secret's for them (compared in constant time). An empty secret accepts nothing.
std::optional<UnsubscribeTarget> readUnsubscribeToken(std::string_view secret,
                                                      std::string_view token);

// The template with "{token}" replaced by token.
// REQUIRES: unsubscribeUrlProblem(url_template) is empty.
std::string unsubscribeUrl(std::string_view url_template, std::string_view token);

// Appends unsubscribeUrl(url_template, makeUnsubscribeToken(secret, contact_key, sequence_id))
// to out, where signer was made from secret, with no temporary strings: what a delivery worker
// does for every email (two SHA-256 blocks fewer per token than hashing the secret each time).
// REQUIRES: unsubscribeUrlProblem(url_template) is empty.
void appendUnsubscribeUrl(std::string& out, std::string_view url_template, const HmacSha256& signer,
                          std::string_view contact_key, std::string_view sequence_id);

// "" when url_template can make unsubscribe links, else what is wrong: it must start with
// "https://" (RFC 8058 §3.1) and a host, hold "{token}" exactly once after the host, be at
// most kUnsubscribeUrlBytesMax bytes, and hold no spaces, control bytes or any of < > " (it
// is written inside <...>).
std::string unsubscribeUrlProblem(std::string_view url_template);

// base64url without padding (RFC 4648 §5). Decoding is strict: only the alphabet, no
// padding, and the unused low bits of the last character must be zero, so each byte string
// has exactly one encoding.
std::string encodeBase64Url(std::string_view bytes);
void appendBase64Url(std::string& out, std::string_view bytes);
std::optional<std::string> decodeBase64Url(std::string_view text);

}  // namespace seqd
