#include "engine/contact.hpp"

#include <charconv>

#include "engine/calendar.hpp"
#include "engine/email_address.hpp"

namespace seqd {
namespace {

Result<bool> parseBool(std::string_view name, std::string_view value) {
  std::string lower = toLowerAscii(value);
  if (lower == "true" || lower == "yes" || lower == "1" || lower == "y") return true;
  if (lower == "false" || lower == "no" || lower == "0" || lower == "n" || lower.empty()) {
    return false;
  }
  return Status::invalidArgument(std::string(name) + ": '" + std::string(value) +
                                 "' is not a boolean (expected true/false, yes/no, 1/0)");
}

}  // namespace

Status checkContactTimeZone(std::string_view name) {
  if (name.empty() || isKnownTimeZone(name)) return Status::ok();
  return Status::invalidArgument("unknown time zone '" + std::string(name) +
                                 "' (expected an IANA name such as America/New_York)");
}

std::string toLowerAscii(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::uint64_t fnv1a64(std::string_view text, std::uint64_t seed) {
  std::uint64_t hash = seed;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t fnv1a64Lower(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::optional<std::string> Contact::field(std::string_view name) const {
  auto present = [](const std::string& value) -> std::optional<std::string> {
    if (value.empty()) return std::nullopt;
    return value;
  };
  if (name == "email") return present(email);
  if (name == "email_status") return present(email_status);
  if (name == "first_name") return present(first_name);
  if (name == "last_name") return present(last_name);
  if (name == "company") return present(company);
  if (name == "title") return present(title);
  if (name == "phone") return present(phone);
  if (name == "timezone") return present(timezone);
  if (name == "owner") return present(owner);
  if (name == "stage") return present(stage);
  if (name == "id" || name == "key") return present(key);
  if (name == "score") return std::to_string(score);
  if (name == "dnc") return std::string(dnc ? "true" : "false");
  if (name == "call_opt_out") return std::string(call_opt_out ? "true" : "false");
  if (name == "email_opt_out") return std::string(email_opt_out ? "true" : "false");
  auto it = extra.find(name);
  if (it == extra.end()) return std::nullopt;
  return present(it->second);
}

Status Contact::setField(std::string_view name, std::string_view value) {
  auto setBool = [&](bool& target) {
    Result<bool> parsed = parseBool(name, value);
    if (!parsed.isOk()) return parsed.status();
    target = parsed.value();
    return Status::ok();
  };
  if (name == "email") {
    if (!value.empty()) {
      Status address = checkContactEmail(value);
      if (!address.isOk()) {
        return Status::invalidArgument("email '" + std::string(value) +
                                       "' is not one address: " + address.message());
      }
    }
    email = std::string(value);
  } else if (name == "email_status") {
    std::string lower = toLowerAscii(value);
    if (lower.empty()) lower = "unknown";
    if (lower != "verified" && lower != "unverified" && lower != "unknown") {
      return Status::invalidArgument("email_status: '" + std::string(value) +
                                     "' (expected verified, unverified or unknown)");
    }
    email_status = lower;
  } else if (name == "first_name")
    first_name = std::string(value);
  else if (name == "last_name")
    last_name = std::string(value);
  else if (name == "company")
    company = std::string(value);
  else if (name == "title")
    title = std::string(value);
  else if (name == "phone")
    phone = std::string(value);
  else if (name == "timezone")
    timezone = std::string(value);
  else if (name == "owner")
    owner = std::string(value);
  else if (name == "stage")
    stage = std::string(value);
  else if (name == "id" || name == "key")
    key = std::string(value);
  else if (name == "score" && value.empty()) {
    score = 0;  // no score: what a contact imported without the column has
  } else if (name == "score") {
    int parsed = 0;
    auto [ptr, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || ptr != value.data() + value.size() || parsed < 0 ||
        parsed > kScoreMax) {
      return Status::invalidArgument("score: '" + std::string(value) +
                                     "' is not an integer from 0 to 100");
    }
    score = static_cast<std::uint8_t>(parsed);
  } else if (name == "dnc")
    return setBool(dnc);
  else if (name == "call_opt_out")
    return setBool(call_opt_out);
  else if (name == "email_opt_out")
    return setBool(email_opt_out);
  else
    extra[std::string(name)] = std::string(value);
  return Status::ok();
}

}  // namespace seqd
