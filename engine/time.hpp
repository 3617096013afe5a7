// Instants and durations, as the whole daemon keeps them.
//
// An instant is int64 milliseconds since the Unix epoch (UTC); a duration is int64
// milliseconds. Local time exists only inside schedule computations. This header owns the
// text forms: DURATION ("90m", "25h", "8d", "30s", "100ms") and RFC 3339 instants
// ("2026-12-01T09:00:00-05:00", "...Z", fractional seconds allowed).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

using TimeMs = std::int64_t;
using DurationMs = std::int64_t;

inline constexpr DurationMs kSecondMs = 1000;
inline constexpr DurationMs kMinuteMs = 60 * kSecondMs;
inline constexpr DurationMs kHourMs = 60 * kMinuteMs;
inline constexpr DurationMs kDayMs = 24 * kHourMs;
// The instants RFC 3339 can write (four-digit years): 0000-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999Z. Every instant a user gives is held to them.
inline constexpr TimeMs kTimeMsMin = -62167219200000;
inline constexpr TimeMs kTimeMsMax = 253402300799999;

// Parses "<integer><unit>" with unit ms, s, m, h or d. Rejects negatives and overflow.
Result<DurationMs> parseDuration(std::string_view text);

// Parses an RFC 3339 instant with a 'Z' or +hh:mm/-hh:mm offset, within kTimeMsMin..kTimeMsMax.
Result<TimeMs> parseRfc3339(std::string_view text);

// time_ms + duration_ms, refused (kInvalidArgument naming `what`) past kTimeMsMax.
// REQUIRES: kTimeMsMin <= time_ms <= kTimeMsMax, duration_ms >= 0.
Result<TimeMs> addDuration(TimeMs time_ms, DurationMs duration_ms, std::string_view what);

// Parses an RFC 3339 instant, or a time relative to now_ms: "+90m", "+2d"; never past
// kTimeMsMax.
Result<TimeMs> parseTimeArgument(std::string_view text, TimeMs now_ms);

// Formats as RFC 3339 in UTC, e.g. "2026-12-01T14:00:00Z" (".123" added when ms != 0).
std::string formatRfc3339(TimeMs time_ms);

// Formats as an RFC 5322 Date header value in UTC, e.g. "Tue, 01 Dec 2026 14:00:00 +0000".
std::string formatRfc5322Date(TimeMs time_ms);

// Formats a duration the way it is written in config: "25h", "90m", "1500ms".
std::string formatDuration(DurationMs duration_ms);

}  // namespace seqd
