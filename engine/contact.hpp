// Contact: a person the daemon may reach, as imported from CSV or set with seqctl.
//
// The key is the `id` column when the import has one, else the lower-cased email.
// Known fields are typed members; every other column is kept in `extra` and is usable as a
// template variable. field() looks up any of them by the name a template or CSV header uses.
//
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

inline constexpr int kScoreMax = 100;

struct Contact {
  std::string key;
  std::string email;
  std::string email_status = "unknown";  // verified | unverified | unknown
  std::string first_name;
  std::string last_name;
  std::string company;
  std::string title;
  std::string phone;
  std::string timezone;    // IANA name, empty: use the schedule's
  std::uint8_t score = 0;  // prospect score, 0..kScoreMax
  std::string owner;
  std::string stage;
  bool dnc = false;
  bool call_opt_out = false;
  bool email_opt_out = false;
  std::map<std::string, std::string, std::less<>> extra;

  // The value of a field by name ("first_name", "score", or any extra column). An empty
  // string counts as missing.
  std::optional<std::string> field(std::string_view name) const;

  // Sets a field by name from its text form; validates score (0..100; empty is 0), booleans
  // (true/false/yes/no/1/0; empty is false), email_status, and email (one addr-spec or
  // empty: engine/email_address.hpp). Unknown names land in `extra`.
  Status setField(std::string_view name, std::string_view value);

  bool operator==(const Contact&) const = default;
};

// Lower-cases ASCII; contact keys derived from email use it.
std::string toLowerAscii(std::string_view text);

// A contact's `timezone`: empty (the schedule's zone is used) or an IANA name the tz database
// knows. Import and `contact set` refuse anything else, so a typo never silently moves a
// contact to another zone: "unknown time zone 'X' (...)".
Status checkContactTimeZone(std::string_view name);

// The FNV-1a 64-bit hash, used for Message-IDs and deterministic choices.
std::uint64_t fnv1a64(std::string_view text, std::uint64_t seed = 0xcbf29ce484222325ULL);
// fnv1a64(toLowerAscii(text)), without the copy.
std::uint64_t fnv1a64Lower(std::string_view text);

}  // namespace seqd
