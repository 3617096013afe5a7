// Proves the sending calendar opens windows at the instants the zone's clock first reads them,
// across DST changes in both hemispheres and odd offsets (+05:30, +05:45, +12:45, 30-minute
// DST), with several windows per day, windows crossing midnight, holidays as local dates and
// business days; and that nextOpen() agrees with a minute-by-minute reference over random
// zones, schedules and instants. Expected instants are written out by hand (worked out once
// with Python's zoneinfo by scanning UTC minutes), never computed by the code under test.
#include "engine/calendar.hpp"

#include <date/date.h>
#include <date/tz.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/time.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

constexpr int kMinutesPerDay = 24 * 60;
const std::vector<int> kEveryDay = {0, 1, 2, 3, 4, 5, 6};
const std::vector<int> kMonFri = {1, 2, 3, 4, 5};
constexpr int kSun = 0;
constexpr int kWed = 3;
constexpr int kFri = 5;
constexpr int kSat = 6;

TimeMs at(const char* rfc3339) {
  Result<TimeMs> parsed = parseRfc3339(rfc3339);
  REQUIRE_MESSAGE(parsed.isOk(), rfc3339);
  return parsed.value();
}

std::string text(TimeMs t) { return t == kNeverOpen ? "never" : formatRfc3339(t); }

int clockMinutes(const std::string& clock) {
  return std::stoi(clock.substr(0, 2)) * 60 + std::stoi(clock.substr(3, 2));
}

// "09:00-17:00" as config stores it: an end before the start crosses midnight.
LocalWindow window(const std::string& span) {
  LocalWindow result{clockMinutes(span.substr(0, 5)), clockMinutes(span.substr(6, 5))};
  if (result.end_minute < result.start_minute) result.end_minute += kMinutesPerDay;
  return result;
}

struct DayWindows {
  std::vector<int> weekdays;  // 0 = Sunday
  std::vector<std::string> windows;
};

Schedule makeSchedule(const std::string& zone, const std::vector<DayWindows>& days,
                      std::vector<LocalDate> holidays = {}) {
  Schedule schedule;
  schedule.name = "s";
  schedule.timezone = zone;
  for (const DayWindows& day : days) {
    for (int weekday : day.weekdays) {
      for (const std::string& span : day.windows) {
        schedule.windows[static_cast<std::size_t>(weekday)].push_back(window(span));
      }
    }
  }
  for (std::vector<LocalWindow>& windows : schedule.windows) {
    std::sort(windows.begin(), windows.end(), [](const LocalWindow& a, const LocalWindow& b) {
      return a.start_minute < b.start_minute;
    });
  }
  schedule.holidays = std::move(holidays);
  return schedule;
}

// One schedule in a calendar, asked in its own zone or another, with instants as text.
class OneSchedule {
 public:
  explicit OneSchedule(const Schedule& schedule)
      : calendar_(std::map<std::string, Schedule>{{"s", schedule}}),
        schedule_(calendar_.findSchedule("s")),
        zone_(calendar_.scheduleZone(schedule_)) {}

  std::string next(const char* t) { return text(calendar_.nextOpen(schedule_, zone_, at(t))); }
  std::string nextIn(const char* zone, const char* t) {
    ZoneId id = calendar_.findZone(zone);
    REQUIRE(id != kNoZone);
    return text(calendar_.nextOpen(schedule_, id, at(t)));
  }
  std::string addDays(const char* from, std::uint32_t days) {
    return text(calendar_.addBusinessDays(schedule_, zone_, at(from), days));
  }
  SendingCalendar& calendar() { return calendar_; }
  ScheduleId schedule() const { return schedule_; }
  ZoneId zone() const { return zone_; }

 private:
  SendingCalendar calendar_;
  ScheduleId schedule_;
  ZoneId zone_;
};

Schedule businessHours(const std::string& zone, std::vector<LocalDate> holidays = {}) {
  return makeSchedule(zone, {{kMonFri, {"09:00-12:00", "13:00-17:00"}}}, std::move(holidays));
}

}  // namespace

TEST_CASE("zones are looked up by name once, unknown names too") {
  CHECK(isKnownTimeZone("America/New_York"));
  CHECK(isKnownTimeZone("Asia/Kathmandu"));
  CHECK_FALSE(isKnownTimeZone("Mars/Olympus_Mons"));
  CHECK_FALSE(isKnownTimeZone(""));
  SendingCalendar calendar;
  const ZoneId paris = calendar.findZone("Europe/Paris");
  REQUIRE(paris != kNoZone);
  CHECK(calendar.findZone("Europe/Paris") == paris);
  CHECK(calendar.zoneName(paris) == "Europe/Paris");
  CHECK(calendar.findZone("Mars/Olympus_Mons") == kNoZone);
  CHECK(calendar.findZone("Mars/Olympus_Mons") == kNoZone);
  const ZoneId tokyo = calendar.findZone("Asia/Tokyo");
  CHECK(tokyo != paris);
  CHECK(calendar.zoneName(paris) == "Europe/Paris");
  CHECK(calendar.findSchedule("business-hours") == kNoSchedule);
}

TEST_CASE("no schedule is always open") {
  SendingCalendar calendar;
  const ZoneId zone = calendar.findZone("America/New_York");
  const TimeMs t = at("2026-03-08T07:30:00.250Z");
  CHECK(calendar.nextOpen(kNoSchedule, zone, t) == t);
  CHECK(calendar.nextOpen(kNoSchedule, kNoZone, t) == t);
  CHECK(calendar.isOpen(kNoSchedule, zone, t));
  CHECK_FALSE(calendar.holidayAt(kNoSchedule, zone, t).has_value());
  CHECK(calendar.addBusinessDays(kNoSchedule, zone, t, 0) == t);
  // Every local date counts; the same local time a day later is an hour earlier after the
  // spring-forward: Sat 10:30 EST -> Sun 10:30 EDT.
  CHECK(text(calendar.addBusinessDays(kNoSchedule, zone, at("2026-03-07T15:30:00Z"), 1)) ==
        "2026-03-08T14:30:00Z");
  CHECK(text(calendar.addBusinessDays(kNoSchedule, kNoZone, at("2026-03-07T15:30:00Z"), 2)) ==
        "2026-03-09T15:30:00Z");
}

TEST_CASE("New York, spring forward 2026-03-08: skipped local times open at the change") {
  OneSchedule nightly(makeSchedule("America/New_York", {{kEveryDay, {"02:30-04:00"}}}));
  CHECK(nightly.next("2026-03-07T06:00:00Z") == "2026-03-07T07:30:00Z");  // 02:30 EST
  // 02:30 does not exist on 03-08: the window opens at 03:00 EDT, closes at 04:00 EDT.
  CHECK(nightly.next("2026-03-08T05:00:00Z") == "2026-03-08T07:00:00Z");
  CHECK(nightly.next("2026-03-08T07:59:59Z") == "2026-03-08T07:59:59Z");
  CHECK(nightly.next("2026-03-08T08:00:00Z") == "2026-03-09T06:30:00Z");  // 02:30 EDT

  // A window wholly inside the skipped hour does not open that day.
  OneSchedule skipped(makeSchedule("America/New_York", {{kEveryDay, {"02:10-02:50"}}}));
  CHECK(skipped.next("2026-03-07T07:20:00Z") == "2026-03-07T07:20:00Z");
  CHECK(skipped.next("2026-03-08T05:00:00Z") == "2026-03-09T06:10:00Z");

  OneSchedule business(businessHours("America/New_York"));
  CHECK(business.next("2026-03-06T13:59:59Z") == "2026-03-06T14:00:00Z");  // Fri 09:00 EST
  CHECK(business.next("2026-03-07T20:00:00Z") == "2026-03-09T13:00:00Z");  // Mon 09:00 EDT
  CHECK(business.calendar().formatLocal(business.zone(), at("2026-03-10T13:00:00Z")) ==
        "Tue 2026-03-10 09:00");
}

TEST_CASE("New York, fall back 2026-11-01: a repeated hour is not a second window") {
  OneSchedule early(makeSchedule("America/New_York", {{kEveryDay, {"01:00-01:30"}}}));
  CHECK(early.next("2026-11-01T04:00:00Z") == "2026-11-01T05:00:00Z");  // 01:00 EDT
  CHECK(early.next("2026-11-01T05:10:00Z") == "2026-11-01T05:10:00Z");
  CHECK(early.next("2026-11-01T05:30:00Z") == "2026-11-02T06:00:00Z");
  // 06:10Z is 01:10 EST, the second time the clock reads it: closed, next day's 01:00 EST.
  CHECK(early.next("2026-11-01T06:10:00Z") == "2026-11-02T06:00:00Z");

  // A window reaching past the repeated hour closes when the clock first reads 02:00 EST.
  OneSchedule longer(makeSchedule("America/New_York", {{kEveryDay, {"01:15-02:00"}}}));
  CHECK(longer.next("2026-11-01T05:00:00Z") == "2026-11-01T05:15:00Z");
  CHECK(longer.next("2026-11-01T06:30:00Z") == "2026-11-01T06:30:00Z");  // 01:30 EST
  CHECK(longer.next("2026-11-01T07:00:00Z") == "2026-11-02T06:15:00Z");

  // Saturday 22:00 EDT to Sunday's first 02:00, which the clock reads only in EST: 5 hours.
  OneSchedule late(makeSchedule("America/New_York", {{{kSat}, {"22:00-02:00"}}}));
  CHECK(late.next("2026-10-31T12:00:00Z") == "2026-11-01T02:00:00Z");
  CHECK(late.next("2026-11-01T06:59:59Z") == "2026-11-01T06:59:59Z");
  CHECK(late.next("2026-11-01T07:00:00Z") == "2026-11-08T03:00:00Z");  // next Sat 22:00 EST

  OneSchedule business(businessHours("America/New_York"));
  CHECK(business.next("2026-10-30T12:00:00Z") == "2026-10-30T13:00:00Z");  // Fri 09:00 EDT
  CHECK(business.next("2026-10-31T12:00:00Z") == "2026-11-02T14:00:00Z");  // Mon 09:00 EST
}

TEST_CASE("London: spring forward at 01:00 GMT, business hours around it") {
  OneSchedule night(makeSchedule("Europe/London", {{kEveryDay, {"01:30-02:30"}}}));
  // 01:30 is skipped on 03-29: open at the change (01:00Z), close at 02:30 BST (01:30Z).
  CHECK(night.next("2026-03-28T23:00:00Z") == "2026-03-29T01:00:00Z");
  CHECK(night.next("2026-03-29T01:30:00Z") == "2026-03-30T00:30:00Z");
  // Fall back 2026-10-25: 01:30 BST (00:30Z) is the earlier of two.
  CHECK(night.next("2026-10-24T23:00:00Z") == "2026-10-25T00:30:00Z");

  OneSchedule business(businessHours("Europe/London"));
  CHECK(business.next("2026-03-27T08:00:00Z") == "2026-03-27T09:00:00Z");  // Fri 09:00 GMT
  CHECK(business.next("2026-03-28T10:00:00Z") == "2026-03-30T08:00:00Z");  // Mon 09:00 BST
}

TEST_CASE("half-hour and 45-minute offsets: Kolkata +05:30, Kathmandu +05:45") {
  OneSchedule kolkata(businessHours("Asia/Kolkata"));
  CHECK(kolkata.next("2026-03-08T12:00:00Z") == "2026-03-09T03:30:00Z");
  CHECK(kolkata.next("2026-03-09T11:29:00Z") == "2026-03-09T11:29:00Z");  // 16:59 IST
  CHECK(kolkata.next("2026-03-09T11:30:00Z") == "2026-03-10T03:30:00Z");  // 17:00 IST
  OneSchedule kathmandu(businessHours("Asia/Kathmandu"));
  CHECK(kathmandu.next("2026-03-08T12:00:00Z") == "2026-03-09T03:15:00Z");
  CHECK(kathmandu.next("2026-03-09T11:14:59.999Z") == "2026-03-09T11:14:59.999Z");
  CHECK(kathmandu.next("2026-03-09T11:15:00Z") == "2026-03-10T03:15:00Z");
  CHECK(kathmandu.calendar().formatLocal(kathmandu.zone(), at("2026-03-09T03:15:00Z")) ==
        "Mon 2026-03-09 09:00");
}

TEST_CASE("Lord Howe: DST of 30 minutes, +11 to +10:30 on 04-05, back on 10-04") {
  // 2026-04-05 02:00 (+11) becomes 01:30 (+10:30) at 15:00Z. The clock first reads 02:00
  // at 15:30Z, so a 01:30-02:00 window stays open through the repeated half hour.
  OneSchedule repeat(makeSchedule("Australia/Lord_Howe", {{kEveryDay, {"01:30-02:00"}}}));
  CHECK(repeat.next("2026-04-04T14:00:00Z") == "2026-04-04T14:30:00Z");
  CHECK(repeat.next("2026-04-04T15:10:00Z") == "2026-04-04T15:10:00Z");
  CHECK(repeat.next("2026-04-04T15:30:00Z") == "2026-04-05T15:00:00Z");  // 01:30 +10:30
  // 2026-10-04 02:00 (+10:30) becomes 02:30 (+11) at 15:30Z.
  OneSchedule gap(makeSchedule("Australia/Lord_Howe", {{kEveryDay, {"02:00-03:00"}}}));
  CHECK(gap.next("2026-10-03T12:00:00Z") == "2026-10-03T15:30:00Z");
  CHECK(gap.next("2026-10-03T16:00:00Z") == "2026-10-04T15:00:00Z");  // 02:00 +11
  OneSchedule inside(makeSchedule("Australia/Lord_Howe", {{kEveryDay, {"02:10-02:20"}}}));
  CHECK(inside.next("2026-10-03T12:00:00Z") == "2026-10-04T15:10:00Z");

  OneSchedule business(businessHours("Australia/Lord_Howe"));
  CHECK(business.next("2026-04-02T21:00:00Z") == "2026-04-02T22:00:00Z");  // Fri 09:00 +11
  CHECK(business.next("2026-04-03T12:00:00Z") == "2026-04-05T22:30:00Z");  // Mon 09:00 +10:30
  CHECK(business.next("2026-10-01T20:00:00Z") == "2026-10-01T22:30:00Z");  // Fri 09:00 +10:30
  CHECK(business.next("2026-10-02T12:00:00Z") == "2026-10-04T22:00:00Z");  // Mon 09:00 +11
}

TEST_CASE("Chatham: +13:45 to +12:45 on 04-05, back on 09-27") {
  OneSchedule business(businessHours("Pacific/Chatham"));
  CHECK(business.next("2026-04-02T19:00:00Z") == "2026-04-02T19:15:00Z");  // Fri 09:00 +13:45
  CHECK(business.next("2026-04-03T12:00:00Z") == "2026-04-05T20:15:00Z");  // Mon 09:00 +12:45
  CHECK(business.calendar().formatLocal(business.zone(), at("2026-04-04T14:00:00Z")) ==
        "Sun 2026-04-05 02:45");
  // 03:00 on 04-05 is read first at +13:45 (13:15Z); 03:45 only after the change (15:00Z).
  OneSchedule repeat(makeSchedule("Pacific/Chatham", {{kEveryDay, {"03:00-03:45"}}}));
  CHECK(repeat.next("2026-04-04T12:00:00Z") == "2026-04-04T13:15:00Z");
  CHECK(repeat.next("2026-04-04T14:30:00Z") == "2026-04-04T14:30:00Z");
  CHECK(repeat.next("2026-04-04T15:00:00Z") == "2026-04-05T14:15:00Z");  // 03:00 +12:45
  // 02:45 on 09-27 jumps to 03:45 at 14:00Z: 03:00-04:00 opens then, closes at 14:15Z.
  OneSchedule gap(makeSchedule("Pacific/Chatham", {{kEveryDay, {"03:00-04:00"}}}));
  CHECK(gap.next("2026-09-26T12:00:00Z") == "2026-09-26T14:00:00Z");
  CHECK(gap.next("2026-09-26T14:15:00Z") == "2026-09-27T13:15:00Z");  // 03:00 +13:45
}

TEST_CASE("several windows a day, day ranges, 24:00 and windows crossing midnight") {
  OneSchedule business(businessHours("America/New_York"));
  CHECK(business.next("2026-12-01T17:30:00Z") == "2026-12-01T18:00:00Z");  // 12:30 -> 13:00
  CHECK(business.next("2026-12-01T16:59:59Z") == "2026-12-01T16:59:59Z");
  CHECK(business.next("2026-12-01T22:00:00Z") == "2026-12-02T14:00:00Z");  // 17:00 -> 09:00
  CHECK(business.next("2026-12-05T15:00:00Z") == "2026-12-07T14:00:00Z");  // Sat -> Mon
  CHECK(
      business.calendar().isOpen(business.schedule(), business.zone(), at("2026-12-01T14:00:00Z")));
  CHECK_FALSE(
      business.calendar().isOpen(business.schedule(), business.zone(), at("2026-12-01T13:59:59Z")));

  OneSchedule weekend(
      makeSchedule("America/New_York", {{kMonFri, {"09:00-17:00"}}, {{kSat}, {"10:00-24:00"}}}));
  CHECK(weekend.next("2026-12-06T04:59:59Z") == "2026-12-06T04:59:59Z");  // Sat 23:59:59
  CHECK(weekend.next("2026-12-06T05:00:00Z") == "2026-12-07T14:00:00Z");  // Sun 00:00 -> Mon

  OneSchedule late(makeSchedule("America/New_York", {{{kFri}, {"22:00-02:00"}}}));
  CHECK(late.next("2026-12-04T12:00:00Z") == "2026-12-05T03:00:00Z");  // Fri 22:00 EST
  CHECK(late.next("2026-12-05T06:00:00Z") == "2026-12-05T06:00:00Z");  // Sat 01:00: open
  CHECK(late.next("2026-12-05T07:00:00Z") == "2026-12-12T03:00:00Z");  // Sat 02:00: closed
  CHECK(late.next("2026-12-05T08:00:00Z") == "2026-12-12T03:00:00Z");  // Sat 03:00
}

TEST_CASE("holidays are local dates in the zone being used") {
  OneSchedule business(businessHours("America/New_York", {{2026, 12, 7}}));
  // Friday evening before a Monday holiday: Tuesday 09:00.
  CHECK(business.next("2026-12-04T23:00:00Z") == "2026-12-08T14:00:00Z");
  // 2026-12-07T20:00Z is Mon 15:00 in New York (the holiday) but Tue 09:45 in Chatham.
  CHECK(business.next("2026-12-07T20:00:00Z") == "2026-12-08T14:00:00Z");
  CHECK(business.nextIn("Pacific/Chatham", "2026-12-07T20:00:00Z") == "2026-12-07T20:00:00Z");
  // Chatham's Monday 2026-12-07 runs 2026-12-06T10:15Z..2026-12-07T10:15Z.
  CHECK(business.nextIn("Pacific/Chatham", "2026-12-06T12:00:00Z") == "2026-12-07T19:15:00Z");
  SendingCalendar& calendar = business.calendar();
  const ZoneId chatham = calendar.findZone("Pacific/Chatham");
  const ScheduleId id = business.schedule();
  CHECK(calendar.holidayAt(id, business.zone(), at("2026-12-07T20:00:00Z")) ==
        LocalDate{2026, 12, 7});
  CHECK_FALSE(calendar.holidayAt(id, chatham, at("2026-12-07T20:00:00Z")).has_value());
  CHECK(calendar.holidayAt(id, chatham, at("2026-12-07T00:00:00Z")) == LocalDate{2026, 12, 7});
  CHECK_FALSE(calendar.holidayAt(id, business.zone(), at("2026-12-07T00:00:00Z")).has_value());
  // kNoZone asks in the schedule's own zone.
  CHECK(text(calendar.nextOpen(id, kNoZone, at("2026-12-07T20:00:00Z"))) == "2026-12-08T14:00:00Z");
}

TEST_CASE("a weekday that is a holiday for weeks on end still finds the week after") {
  std::vector<LocalDate> wednesdays = {{2026, 12, 2},  {2026, 12, 9},  {2026, 12, 16},
                                       {2026, 12, 23}, {2026, 12, 30}, {2027, 1, 6},
                                       {2027, 1, 13},  {2027, 1, 20}};
  OneSchedule only(makeSchedule("America/New_York", {{{kWed}, {"09:00-17:00"}}}, wednesdays));
  CHECK(only.next("2026-12-01T00:00:00Z") == "2027-01-27T14:00:00Z");
  CHECK(only.addDays("2026-12-01T15:00:00Z", 1) == "2027-01-27T15:00:00Z");

  // Sundays only, in the hour skipped on 03-08, three of the others holidays: the spare
  // weeks of the scan horizon still reach 03-29.
  OneSchedule sundays(makeSchedule("America/New_York", {{{kSun}, {"02:10-02:50"}}},
                                   {{2026, 3, 1}, {2026, 3, 15}, {2026, 3, 22}}));
  CHECK(sundays.next("2026-02-25T00:00:00Z") == "2026-03-29T06:10:00Z");

  Schedule closed = makeSchedule("America/New_York", {});
  OneSchedule never(closed);
  CHECK(never.next("2026-12-01T00:00:00Z") == "never");
  CHECK(never.addDays("2026-12-01T00:00:00Z", 1) == "never");
  OneSchedule business(businessHours("America/New_York"));
  CHECK(business.next("9999-12-31T23:00:00Z") == "never");
  CHECK(business.calendar().nextOpen(business.schedule(), business.zone(), kNeverOpen) ==
        kNeverOpen);
}

TEST_CASE("instants and counts at the ends of their range") {
  OneSchedule business(businessHours("America/New_York"));
  SendingCalendar& calendar = business.calendar();
  const ScheduleId id = business.schedule();
  const ZoneId zone = business.zone();
  // Before 0001 counts as 0001-01-01T00:00Z, a Monday; New York's clock was local mean time.
  CHECK(text(calendar.nextOpen(id, zone, INT64_MIN)) == "0001-01-01T13:56:02Z");
  CHECK(calendar.nextOpen(id, zone, INT64_MAX) == kNeverOpen);
  CHECK(calendar.addBusinessDays(id, zone, at("2026-12-01T15:30:00Z"), UINT32_MAX) == kNeverOpen);
  CHECK(calendar.addBusinessDays(id, zone, INT64_MAX, 1) == kNeverOpen);
  CHECK(calendar.addBusinessDays(kNoSchedule, zone, at("2026-12-01T15:30:00Z"), UINT32_MAX) ==
        kNeverOpen);
  CHECK_FALSE(calendar.holidayAt(id, zone, INT64_MIN).has_value());
  CHECK_FALSE(calendar.holidayAt(id, zone, INT64_MAX).has_value());
  CHECK(calendar.formatLocal(zone, INT64_MIN) == "Sun 0000-12-31 19:03");
  CHECK(calendar.formatLocal(zone, INT64_MAX) == "Fri 9999-12-31 18:59");
}

TEST_CASE("business days keep the local time of day, or take the day's next opening") {
  OneSchedule business(businessHours("America/New_York", {{2026, 12, 14}}));
  CHECK(business.addDays("2026-12-04T15:30:00Z", 1) == "2026-12-07T15:30:00Z");  // Fri -> Mon
  CHECK(business.addDays("2026-12-03T15:30:00Z", 2) == "2026-12-07T15:30:00Z");  // Thu -> Mon
  CHECK(business.addDays("2026-12-05T15:30:00Z", 1) == "2026-12-07T15:30:00Z");  // Sat -> Mon
  // Over the weekend and the Monday holiday: Tuesday.
  CHECK(business.addDays("2026-12-11T15:30:00Z", 1) == "2026-12-15T15:30:00Z");
  CHECK(business.addDays("2026-12-01T12:00:00Z", 1) == "2026-12-02T14:00:00Z");  // 07:00
  CHECK(business.addDays("2026-12-01T17:30:00Z", 1) == "2026-12-02T18:00:00Z");  // 12:30
  CHECK(business.addDays("2026-12-01T23:00:00Z", 1) == "2026-12-02T14:00:00Z");  // 18:00
  CHECK(business.addDays("2026-12-01T16:59:59.500Z", 1) == "2026-12-02T16:59:59.500Z");
  // 0 business days is nextOpen.
  CHECK(business.addDays("2026-12-05T15:30:00Z", 0) == "2026-12-07T14:00:00Z");
  CHECK(business.addDays("2026-12-01T15:30:00Z", 0) == "2026-12-01T15:30:00Z");
  // Over the spring-forward: Fri 10:30 EST -> Mon 10:30 EDT.
  CHECK(business.addDays("2026-03-06T15:30:00Z", 1) == "2026-03-09T14:30:00Z");
  // Over the fall-back: Fri 10:30 EDT -> Mon 10:30 EST.
  CHECK(business.addDays("2026-10-30T14:30:00Z", 1) == "2026-11-02T15:30:00Z");

  // The local time falls in the skipped hour: the change itself, inside the window.
  OneSchedule always(makeSchedule("America/New_York", {{kEveryDay, {"00:00-24:00"}}}));
  CHECK(always.addDays("2026-03-07T07:30:00Z", 1) == "2026-03-08T07:00:00Z");
  // The target day's only window lies in the skipped hour: the next opening after that day.
  OneSchedule skipped(makeSchedule("America/New_York", {{kEveryDay, {"02:10-02:50"}}}));
  CHECK(skipped.addDays("2026-03-07T07:20:00Z", 1) == "2026-03-09T06:10:00Z");
  // A window crossing midnight belongs to the day it starts: Sat 01:00 -> Fri 22:00.
  OneSchedule late(makeSchedule("America/New_York", {{{kFri}, {"22:00-02:00"}}}));
  CHECK(late.addDays("2026-12-05T06:00:00Z", 1) == "2026-12-12T03:00:00Z");
  CHECK(late.addDays("2026-12-05T04:00:00Z", 1) == "2026-12-12T04:00:00Z");  // Fri 23:00
}

// ---- Randomized cross-check against a minute-by-minute reference ----

namespace {

std::int64_t floorDiv(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  return value % divisor < 0 ? quotient - 1 : quotient;
}

// The zone's clock at u, as ms since the local epoch (date's to_local).
TimeMs clockAt(const date::time_zone& zone, TimeMs u) {
  date::sys_time<std::chrono::milliseconds> instant{std::chrono::milliseconds(u)};
  return zone.to_local(instant).time_since_epoch().count();
}

// Open when the highest reading the clock has shown so far lies inside a window of its
// local day or, for windows crossing midnight, of the day before. The highest reading, not
// the current one: a window opens when the clock first reads its start and closes when it
// first reads its end, so a repeated hour reopens nothing.
bool openAtReading(const Schedule& schedule, const std::set<std::int64_t>& holidays,
                   TimeMs reading) {
  const std::int64_t today = floorDiv(reading, kDayMs);
  for (std::int64_t day = today - 1; day <= today; ++day) {
    if (holidays.count(day) != 0) continue;
    const auto weekday = static_cast<std::size_t>(day + 4 - floorDiv(day + 4, 7) * 7);
    for (const LocalWindow& window : schedule.windows[weekday]) {
      if (reading >= day * kDayMs + window.start_minute * kMinuteMs &&
          reading < day * kDayMs + window.end_minute * kMinuteMs) {
        return true;
      }
    }
  }
  return false;
}

// Steps over UTC minutes from t until the schedule is open, or kNeverOpen past limit.
// REQUIRES: the zone's offsets and changes fall on whole minutes (true since 1980).
TimeMs referenceNextOpen(const Schedule& schedule, const date::time_zone& zone, TimeMs t,
                         TimeMs limit) {
  std::set<std::int64_t> holidays;
  for (const LocalDate& holiday : schedule.holidays) {
    date::year_month_day ymd{date::year(holiday.year), date::month(holiday.month),
                             date::day(holiday.day)};
    holidays.insert(date::sys_days(ymd).time_since_epoch().count());
  }
  const TimeMs minute = floorDiv(t, kMinuteMs) * kMinuteMs;
  TimeMs highest = clockAt(zone, t);
  for (TimeMs u = minute - 3 * kHourMs; u < t; u += kMinuteMs) {
    highest = std::max(highest, clockAt(zone, u));
  }
  if (openAtReading(schedule, holidays, highest)) return t;
  for (TimeMs u = minute + kMinuteMs; u <= limit; u += kMinuteMs) {
    highest = std::max(highest, clockAt(zone, u));
    if (openAtReading(schedule, holidays, highest)) return u;
  }
  return kNeverOpen;
}

// 1-3 windows on some weekdays, at random minutes, sometimes ending at 24:00 or crossing
// midnight, sorted and not overlapping, as config would store them.
Schedule randomSchedule(std::mt19937_64& random, const std::string& zone, TimeMs around) {
  Schedule schedule;
  schedule.name = "random";
  schedule.timezone = zone;
  for (std::vector<LocalWindow>& windows : schedule.windows) {
    if (random() % 10 < 4) continue;
    for (;;) {
      const std::size_t count = 1 + random() % 3;
      std::set<int> points;
      while (points.size() < 2 * count) {
        int point = static_cast<int>(random() % (kMinutesPerDay + 720));
        // Often near midnight, where most zones change offset (00:00-04:00, 22:00-02:00).
        if (random() % 3 == 0) point = static_cast<int>(random() % 240);
        if (random() % 3 == 0) point = kMinutesPerDay - 120 + static_cast<int>(random() % 240);
        if (random() % 8 == 0) point = point / 60 * 60;  // whole hours, 24:00 among them
        points.insert(point);
      }
      std::vector<int> sorted(points.begin(), points.end());
      windows.clear();
      bool valid = true;
      for (std::size_t i = 0; i < count; ++i) {
        LocalWindow window{sorted[2 * i], sorted[2 * i + 1]};
        const int length = window.end_minute - window.start_minute;
        valid = valid && window.start_minute < kMinutesPerDay && length <= kMinutesPerDay &&
                !(window.end_minute > kMinutesPerDay && length == kMinutesPerDay);
        windows.push_back(window);
      }
      if (valid) break;
    }
  }
  const std::int64_t day = floorDiv(around, kDayMs);
  for (std::size_t i = random() % 6; i > 0; --i) {
    date::year_month_day ymd{date::sys_days(date::days(day - 3 + static_cast<int>(random() % 14)))};
    schedule.holidays.push_back({static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                                 static_cast<unsigned>(ymd.day())});
  }
  return schedule;
}

// A random instant in 2010..2036, half of them within three days of a change of offset.
TimeMs randomInstant(std::mt19937_64& random, const date::time_zone& zone) {
  const TimeMs begin = 1262304000000;  // 2010-01-01T00:00:00Z
  const TimeMs end = 2114380800000;    // 2037-01-01T00:00:00Z
  TimeMs t = begin + static_cast<TimeMs>(random() % static_cast<std::uint64_t>(end - begin));
  if (random() % 2 == 0) {
    date::sys_seconds second{std::chrono::seconds(t / kSecondMs)};
    date::sys_info info = zone.get_info(second);
    const TimeMs change = info.begin.time_since_epoch().count() * kSecondMs;
    if (change > begin) t = change - 3 * kDayMs + static_cast<TimeMs>(random() % (6 * kDayMs));
  }
  if (random() % 4 == 0) t = t / kMinuteMs * kMinuteMs;  // on a minute, as windows open
  return t;
}

}  // namespace

TEST_CASE("randomized: nextOpen agrees with a minute-by-minute reference") {
  const std::uint64_t seed = testSeed(20261210);
  std::mt19937_64 random(seed);
  const std::vector<std::string> zones = {
      "America/New_York",  "Europe/London",    "Australia/Lord_Howe", "Pacific/Chatham",
      "Asia/Kathmandu",    "Asia/Kolkata",     "America/Santiago",    "America/Havana",
      "Africa/Casablanca", "Antarctica/Troll", "Pacific/Apia",        "America/St_Johns",
      "Europe/Dublin",     "Australia/Sydney", "Asia/Tehran",         "America/Sao_Paulo"};
  constexpr int kSchedulesPerZone = 8;
  constexpr int kInstantsPerSchedule = 16;
  constexpr DurationMs kReferenceSpanMs = 21 * kDayMs;
  for (const std::string& zone_name : zones) {
    const date::time_zone& zone = *date::locate_zone(zone_name);
    for (int s = 0; s < kSchedulesPerZone; ++s) {
      const TimeMs around = randomInstant(random, zone);
      const Schedule schedule = randomSchedule(random, zone_name, around);
      SendingCalendar calendar(std::map<std::string, Schedule>{{"random", schedule}});
      const ScheduleId id = calendar.findSchedule("random");
      for (int i = 0; i < kInstantsPerSchedule; ++i) {
        const TimeMs t = around - 2 * kDayMs +
                         static_cast<TimeMs>(random() % static_cast<std::uint64_t>(5 * kDayMs));
        const TimeMs expected = referenceNextOpen(schedule, zone, t, t + kReferenceSpanMs);
        const TimeMs actual = calendar.nextOpen(id, calendar.scheduleZone(id), t);
        INFO("seed " << seed << " zone " << zone_name << " schedule " << s << " t " << text(t));
        if (expected == kNeverOpen) {
          CHECK(actual > t + kReferenceSpanMs);
        } else {
          CHECK(text(actual) == text(expected));
        }
      }
    }
  }
}
