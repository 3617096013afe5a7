// Proves the text forms of durations and instants parse and format as SPEC §4 writes them.
#include "engine/time.hpp"

#include <date/date.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

TEST_CASE("durations in every unit") {
  CHECK(parseDuration("90m").value() == 90 * kMinuteMs);
  CHECK(parseDuration("25h").value() == 25 * kHourMs);
  CHECK(parseDuration("8d").value() == 8 * kDayMs);
  CHECK(parseDuration("30s").value() == 30 * kSecondMs);
  CHECK(parseDuration("100ms").value() == 100);
  CHECK(parseDuration("0m").value() == 0);
}

TEST_CASE("bad durations say what is wrong") {
  CHECK_FALSE(parseDuration("").isOk());
  CHECK_FALSE(parseDuration("m").isOk());
  CHECK_FALSE(parseDuration("-5m").isOk());
  CHECK_FALSE(parseDuration("5w").isOk());
  CHECK(parseDuration("5w").status().message().find("unknown unit 'w'") != std::string::npos);
  CHECK_FALSE(parseDuration("99999999999999999999d").isOk());
}

TEST_CASE("RFC 3339 with offsets, Z and fractions") {
  TimeMs utc = parseRfc3339("2026-12-01T14:00:00Z").value();
  CHECK(utc == 1796133600000);
  CHECK(parseRfc3339("2026-12-01T09:00:00-05:00").value() == utc);
  CHECK(parseRfc3339("2026-12-01T15:30:00+01:30").value() == utc);
  CHECK(parseRfc3339("2026-12-01T14:00:00.250Z").value() == utc + 250);
  CHECK_FALSE(parseRfc3339("2026-13-01T14:00:00Z").isOk());
  CHECK_FALSE(parseRfc3339("2026-12-01 14:00").isOk());
  CHECK_FALSE(parseRfc3339("2026-12-01T14:00:00").isOk());
}

TEST_CASE("relative times count from the given now") {
  CHECK(parseTimeArgument("+90m", 1000).value() == 1000 + 90 * kMinuteMs);
  CHECK(parseTimeArgument("2026-12-01T14:00:00Z", 5).value() == 1796133600000);
}

TEST_CASE("formatting round-trips") {
  CHECK(formatRfc3339(1796133600000) == "2026-12-01T14:00:00Z");
  CHECK(formatRfc3339(1796133600123) == "2026-12-01T14:00:00.123Z");
  CHECK(formatRfc5322Date(1796133600000) == "Tue, 01 Dec 2026 14:00:00 +0000");
  CHECK(formatRfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(formatDuration(25 * kHourMs) == "25h");
  CHECK(formatDuration(2 * kDayMs) == "2d");
  CHECK(formatDuration(1500) == "1500ms");
}

TEST_CASE("randomized: RFC 3339 times are written as snprintf wrote them") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  // The formatting before the digits were written by hand: the reference.
  const auto reference = [](TimeMs time_ms) {
    using namespace std::chrono;
    const sys_time<milliseconds> point{milliseconds(time_ms)};
    const auto day = floor<date::days>(point);
    const date::year_month_day ymd(day);
    const std::int64_t ms = (point - day).count();
    char buffer[48];
    int length =
        std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d",
                      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                      static_cast<unsigned>(ymd.day()), static_cast<int>(ms / kHourMs),
                      static_cast<int>(ms / kMinuteMs % 60), static_cast<int>(ms / kSecondMs % 60));
    std::string text(buffer, static_cast<std::size_t>(length));
    if (ms % 1000 != 0) {
      std::snprintf(buffer, sizeof buffer, ".%03d", static_cast<int>(ms % 1000));
      text += buffer;
    }
    return text + "Z";
  };
  for (int i = 0; i < 20000; ++i) {
    TimeMs time_ms =
        kTimeMsMin +
        static_cast<TimeMs>(random() % static_cast<std::uint64_t>(kTimeMsMax - kTimeMsMin + 1));
    if (i % 3 == 0) time_ms -= time_ms % 1000;  // whole seconds: no fraction written
    if (i % 7 == 0) time_ms = 1796133600000 + static_cast<TimeMs>(random() % (400 * kDayMs));
    INFO("seed " << seed << " time_ms " << time_ms);
    REQUIRE(formatRfc3339(time_ms) == reference(time_ms));
  }
  // Past the years RFC 3339 can write, as "%04d" writes the year.
  CHECK(formatRfc3339(kTimeMsMax + 1) == reference(kTimeMsMax + 1));
  CHECK(formatRfc3339(kTimeMsMin - 1) == reference(kTimeMsMin - 1));
}

TEST_CASE("instants stay inside the years RFC 3339 can write: 0000 to 9999") {
  CHECK(parseRfc3339("9999-12-31T23:59:59.999Z").value() == kTimeMsMax);
  CHECK(formatRfc3339(kTimeMsMax) == "9999-12-31T23:59:59.999Z");
  CHECK(parseRfc3339("0000-01-01T00:00:00Z").value() == kTimeMsMin);
  // An offset can push a written instant past the end in UTC.
  Result<TimeMs> past = parseRfc3339("9999-12-31T23:30:00-01:00");
  REQUIRE_FALSE(past.isOk());
  CHECK(past.status().message().find("outside the years 0000 to 9999") != std::string::npos);
  CHECK_FALSE(parseRfc3339("0000-01-01T00:30:00+01:00").isOk());
}

TEST_CASE("now + duration never overflows: past year 9999 is an error") {
  CHECK(addDuration(kTimeMsMax - 10, 10, "x").value() == kTimeMsMax);
  Result<TimeMs> over = addDuration(kTimeMsMax - 10, 11, "time advance 11ms");
  REQUIRE_FALSE(over.isOk());
  CHECK(over.status().message() == "time advance 11ms goes past 9999-12-31T23:59:59.999Z");
  // The largest duration there is, from now: int64 would overflow.
  TimeMs now_ms = parseRfc3339("2026-12-01T14:00:00Z").value();
  Result<TimeMs> huge = parseTimeArgument("+106751991167d", now_ms);
  REQUIRE_FALSE(huge.isOk());
  CHECK(huge.status().message().find("goes past 9999") != std::string::npos);
  CHECK(parseTimeArgument("+1d", now_ms).value() == now_ms + kDayMs);
}
