// Sending calendar: when a schedule's windows are open in a given time zone, as instants.
//
// Compiles each Schedule (schedules.yaml) once and answers two questions for a (schedule,
// zone) pair: the first open instant at or after T, and the instant N business days after T.
// Local time comes from the date/tz library over the system tz database; no offset is ever
// written by hand. Each zone keeps its last two UTC-offset periods, and each (schedule, zone)
// pair keeps the open intervals of recently used local days, so the common case costs no tz
// lookup at all.
//
// The rules (README "Decisions"):
//  - A window "HH:MM-HH:MM" of local date D opens when the zone's clock first reads D HH:MM
//    and closes when it first reads the end time. A local time skipped by a DST change maps
//    to the first valid instant after it (the change itself); a repeated local time maps to
//    the earlier instant. So a repeated hour is never a second window, and a window that lies
//    wholly inside a skipped hour does not open that day.
//  - A window whose end is before its start ("22:00-02:00") crosses midnight and belongs to
//    the day it starts; "24:00" ends a window at the next local midnight.
//  - A holiday is a local date in the zone being used: no window starting that day opens.
//  - A business day is a local date whose weekday has windows and that is not a holiday.
//  - `bd` waits: addBusinessDays() goes N business days after the local date of `from`, to
//    the same local time of day when that is inside a window starting that day, else to the
//    next window opening that day after that time, else to that day's first opening.
//  - The calendar computes within the years 0001..9999 (UTC): nothing opens after 9999, and
//    an instant before 0001 is taken as 0001-01-01T00:00:00Z.
//
// Costs: a (schedule, zone) pair caches 64 local days (direct-mapped by day number, so any 64
// consecutive days fit), each with the instants of the windows starting that day; memory is
// 512 bytes + 64 x 16 bytes x (the schedule's most windows on one day) per pair in use, and
// the pairs are bounded by schedules x zones. nextOpen() on cached days reads the zone's two
// cached offset periods and the day slots up to the first open window, with no tz lookup
// (tens of ns; see perf/calendar_bench.cpp). A day slot missed costs up to two tz lookups
// per window (about 150 ns each) when the window is near an offset change or outside the
// zone's two cached periods, else simple arithmetic.
// Known limit of the tz data as read here: the date library reads the compiled system
// database but not its rule for the years after its last transition (2037), so the offset
// in force at the end of 2037 holds forever: New York stays on EST, Lord Howe on +11.
//
// Thread-safety: none (the caches are mutable); owned by the engine thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/schedule.hpp"
#include "engine/time.hpp"

namespace seqd {

using ScheduleId = std::uint32_t;
using ZoneId = std::uint32_t;
inline constexpr ScheduleId kNoSchedule = UINT32_MAX;
inline constexpr ZoneId kNoZone = UINT32_MAX;
// nextOpen() when no window opens within the scan horizon (every day a holiday, or no
// window at all).
inline constexpr TimeMs kNeverOpen = INT64_MAX;

// A local date as YYYY-MM-DD.
std::string formatLocalDate(const LocalDate& date);

// True when the tz database knows the IANA zone name.
bool isKnownTimeZone(std::string_view name);

class SendingCalendar {
 public:
  // A calendar with no schedules.
  SendingCalendar();
  // REQUIRES: each schedule's timezone is a known zone (config/ checks).
  explicit SendingCalendar(const std::map<std::string, Schedule>& schedules);
  ~SendingCalendar();
  SendingCalendar(SendingCalendar&&) noexcept;
  SendingCalendar& operator=(SendingCalendar&&) noexcept;

  // kNoSchedule when there is no schedule of that name.
  ScheduleId findSchedule(std::string_view name) const;
  // The zone of that name, looked up once and then cached (unknown names too); kNoZone when
  // the tz database has no such zone.
  ZoneId findZone(std::string_view name);
  // The schedule's own zone (its `timezone`).
  // REQUIRES: schedule is an id this calendar returned (not kNoSchedule).
  ZoneId scheduleZone(ScheduleId schedule) const;
  // REQUIRES: zone is an id this calendar returned (not kNoZone). The reference stays valid
  // for the calendar's lifetime.
  const std::string& zoneName(ZoneId zone) const;

  // The first instant >= t inside an open window of the schedule in the zone, or
  // kNeverOpen. With kNoSchedule every instant is open (returns t). Here and below, kNoZone
  // means the schedule's own zone (a contact whose zone the tz database does not know).
  TimeMs nextOpen(ScheduleId schedule, ZoneId zone, TimeMs t);
  bool isOpen(ScheduleId schedule, ZoneId zone, TimeMs t) {
    return nextOpen(schedule, zone, t) == t;
  }
  // `days` business days after from (see the rules above); days == 0 is nextOpen(from).
  // kNeverOpen when no business day comes within the scan horizon. With kNoSchedule every
  // local date is a business day: the same local time `days` dates later (whole UTC days
  // when the zone is kNoZone too).
  TimeMs addBusinessDays(ScheduleId schedule, ZoneId zone, TimeMs from, std::uint32_t days);

  // The holiday t falls on, in the zone, when the local date of t is one of the schedule's
  // holidays.
  std::optional<LocalDate> holidayAt(ScheduleId schedule, ZoneId zone, TimeMs t);
  // The first instant of a local date in the zone (midnight, or the first valid instant
  // after it when a DST change skips it); in UTC when zone is kNoZone.
  // REQUIRES: date is a valid date within the years 0001..9999.
  TimeMs startOfDay(ZoneId zone, const LocalDate& date);
  // t as the zone's clock shows it, for people: "Tue 2026-03-10 09:00".
  // REQUIRES: zone is an id this calendar returned (not kNoZone).
  std::string formatLocal(ZoneId zone, TimeMs t);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqd
