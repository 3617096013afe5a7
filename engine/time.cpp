#include "engine/time.hpp"

#include <date/date.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>

namespace seqd {
namespace {

// Parses the unsigned decimal at the front of text; returns false on no digits or overflow.
bool parseLeadingInt(std::string_view text, std::int64_t& value, std::size_t& digits) {
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr == text.data() || value < 0) return false;
  digits = static_cast<std::size_t>(ptr - text.data());
  return true;
}

bool parseFixedDigits(std::string_view text, std::size_t pos, std::size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

}  // namespace

Result<DurationMs> parseDuration(std::string_view text) {
  std::int64_t amount = 0;
  std::size_t digits = 0;
  if (!parseLeadingInt(text, amount, digits)) {
    return Status::invalidArgument("bad duration '" + std::string(text) +
                                   "' (expected an integer and a unit: ms, s, m, h, d)");
  }
  std::string_view unit = text.substr(digits);
  DurationMs scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = kSecondMs;
  else if (unit == "m")
    scale = kMinuteMs;
  else if (unit == "h")
    scale = kHourMs;
  else if (unit == "d")
    scale = kDayMs;
  else {
    return Status::invalidArgument("bad duration '" + std::string(text) + "': unknown unit '" +
                                   std::string(unit) + "' (expected ms, s, m, h or d)");
  }
  if (amount > std::numeric_limits<DurationMs>::max() / scale) {
    return Status::invalidArgument("duration '" + std::string(text) + "' is too large");
  }
  return amount * scale;
}

Result<TimeMs> parseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)
  auto bad = [&] {
    return Status::invalidArgument(
        "bad time '" + std::string(text) +
        "' (expected RFC 3339, e.g. 2026-12-01T09:00:00-05:00, or +90m)");
  };
  int year, month, day, hour, minute, second;
  if (text.size() < 20 || !parseFixedDigits(text, 0, 4, year) || text[4] != '-' ||
      !parseFixedDigits(text, 5, 2, month) || text[7] != '-' ||
      !parseFixedDigits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
      !parseFixedDigits(text, 11, 2, hour) || text[13] != ':' ||
      !parseFixedDigits(text, 14, 2, minute) || text[16] != ':' ||
      !parseFixedDigits(text, 17, 2, second)) {
    return bad();
  }
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100;
    std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  if (pos >= text.size()) return bad();
  std::int64_t offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    if (pos + 1 != text.size()) return bad();
  } else if (text[pos] == '+' || text[pos] == '-') {
    int offset_hours, offset_mins;
    if (pos + 6 != text.size() || !parseFixedDigits(text, pos + 1, 2, offset_hours) ||
        text[pos + 3] != ':' || !parseFixedDigits(text, pos + 4, 2, offset_mins)) {
      return bad();
    }
    offset_minutes = offset_hours * 60 + offset_mins;
    if (text[pos] == '-') offset_minutes = -offset_minutes;
  } else {
    return bad();
  }
  date::year_month_day ymd{date::year(year), date::month(static_cast<unsigned>(month)),
                           date::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return bad();
  std::int64_t days = date::sys_days(ymd).time_since_epoch().count();
  TimeMs local_ms =
      days * kDayMs + hour * kHourMs + minute * kMinuteMs + second * kSecondMs + millis;
  TimeMs time_ms = local_ms - offset_minutes * kMinuteMs;
  if (time_ms < kTimeMsMin || time_ms > kTimeMsMax) {
    return Status::invalidArgument("time '" + std::string(text) +
                                   "' is outside the years 0000 to 9999 in UTC");
  }
  return time_ms;
}

Result<TimeMs> addDuration(TimeMs time_ms, DurationMs duration_ms, std::string_view what) {
  if (duration_ms > kTimeMsMax - time_ms) {
    return Status::invalidArgument(std::string(what) + " goes past 9999-12-31T23:59:59.999Z");
  }
  return time_ms + duration_ms;
}

Result<TimeMs> parseTimeArgument(std::string_view text, TimeMs now_ms) {
  if (!text.empty() && text[0] == '+') {
    Result<DurationMs> duration = parseDuration(text.substr(1));
    if (!duration.isOk()) return duration.status();
    return addDuration(now_ms, duration.value(), "time '" + std::string(text) + "'");
  }
  return parseRfc3339(text);
}

namespace {

struct CivilTime {
  date::year_month_day ymd;
  date::weekday weekday;
  int hour, minute, second, millis;
};

CivilTime toCivil(TimeMs time_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> tp{milliseconds(time_ms)};
  auto day_point = floor<date::days>(tp);
  auto since_midnight = tp - day_point;
  CivilTime civil{date::year_month_day(day_point), date::weekday(day_point), 0, 0, 0, 0};
  std::int64_t ms = since_midnight.count();
  civil.hour = static_cast<int>(ms / kHourMs);
  civil.minute = static_cast<int>(ms / kMinuteMs % 60);
  civil.second = static_cast<int>(ms / kSecondMs % 60);
  civil.millis = static_cast<int>(ms % 1000);
  return civil;
}

}  // namespace

// The digits are written here, not by snprintf: at a million rows, snprintf was most of the
// time a `status` or `tasks` answer spent on its times (perf/tasks_bench).
std::string formatRfc3339(TimeMs time_ms) {
  const CivilTime civil = toCivil(time_ms);
  const int year = static_cast<int>(civil.ymd.year());
  if (year < 0 || year > 9999) {  // outside kTimeMsMin..kTimeMsMax: as "%04d" writes it
    char buffer[48];
    const int length = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d", year,
                                     static_cast<unsigned>(civil.ymd.month()),
                                     static_cast<unsigned>(civil.ymd.day()), civil.hour,
                                     civil.minute, civil.second);
    std::string text(buffer, static_cast<std::size_t>(length));
    if (civil.millis != 0) {
      std::snprintf(buffer, sizeof buffer, ".%03d", civil.millis);
      text += buffer;
    }
    return text + "Z";
  }
  char text[24];  // "YYYY-MM-DDTHH:MM:SS.mmmZ"
  const auto digits = [&text](std::size_t at, int value, std::size_t width) {
    for (std::size_t i = width; i > 0; --i) {
      text[at + i - 1] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  digits(0, year, 4);
  text[4] = '-';
  digits(5, static_cast<int>(static_cast<unsigned>(civil.ymd.month())), 2);
  text[7] = '-';
  digits(8, static_cast<int>(static_cast<unsigned>(civil.ymd.day())), 2);
  text[10] = 'T';
  digits(11, civil.hour, 2);
  text[13] = ':';
  digits(14, civil.minute, 2);
  text[16] = ':';
  digits(17, civil.second, 2);
  std::size_t length = 19;
  if (civil.millis != 0) {
    text[length] = '.';
    digits(length + 1, civil.millis, 3);
    length += 4;
  }
  text[length++] = 'Z';
  return std::string(text, length);
}

std::string formatRfc5322Date(TimeMs time_ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  CivilTime civil = toCivil(time_ms);
  char buffer[48];
  int length =
      std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04d %02d:%02d:%02d +0000",
                    kDays[civil.weekday.c_encoding()], static_cast<unsigned>(civil.ymd.day()),
                    kMonths[static_cast<unsigned>(civil.ymd.month()) - 1],
                    static_cast<int>(civil.ymd.year()), civil.hour, civil.minute, civil.second);
  return std::string(buffer, static_cast<std::size_t>(length));
}

std::string formatDuration(DurationMs duration_ms) {
  if (duration_ms != 0 && duration_ms % kDayMs == 0)
    return std::to_string(duration_ms / kDayMs) + "d";
  if (duration_ms != 0 && duration_ms % kHourMs == 0)
    return std::to_string(duration_ms / kHourMs) + "h";
  if (duration_ms != 0 && duration_ms % kMinuteMs == 0)
    return std::to_string(duration_ms / kMinuteMs) + "m";
  if (duration_ms % kSecondMs == 0) return std::to_string(duration_ms / kSecondMs) + "s";
  return std::to_string(duration_ms) + "ms";
}

}  // namespace seqd
