#include "engine/calendar.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <span>
#include <utility>
#include <vector>

#include "engine/assert.hpp"
#include "engine/text_map.hpp"

namespace seqd {
namespace {

constexpr int kMinutesPerDay = 24 * 60;
constexpr int kDaysPerWeek = 7;

// The calendar computes within the years 0001..9999 (UTC): well inside the date library's
// range (years -32767..32767), so no day or millisecond arithmetic below can overflow.
constexpr TimeMs kCalendarBeginMs = -62135596800000;  // 0001-01-01T00:00:00Z
constexpr TimeMs kCalendarEndMs = 253402300800000;    // 10000-01-01T00:00:00Z
constexpr std::int64_t kCalendarEndDay = kCalendarEndMs / kDayMs;

// Local days cached per (schedule, zone) pair, direct-mapped by day number. 64 consecutive
// days never collide, so a timer wheel asking about the next few weeks always hits.
constexpr std::size_t kDaySlots = 64;
constexpr std::int32_t kNoDay = INT32_MIN;

// A local time is mapped with a cached period's offset only when the instant it gives lies
// this far inside the period: no other period's offset can reach it, since two offsets of a
// zone never differ by two days (Samoa's 24 hours in 2011 is the most there has been).
constexpr DurationMs kPeriodMarginMs = 2 * kDayMs;

constexpr std::array<const char*, 7> kWeekdayNames = {"Sun", "Mon", "Tue", "Wed",
                                                      "Thu", "Fri", "Sat"};

std::int64_t floorDiv(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  return value % divisor < 0 ? quotient - 1 : quotient;
}

// 0 = Sunday .. 6 = Saturday; day 0 (1970-01-01) was a Thursday.
int weekdayOf(std::int64_t day) {
  return static_cast<int>(day + 4 - floorDiv(day + 4, kDaysPerWeek) * kDaysPerWeek);
}

// The date library's period bounds reach year 32767, far below overflow in milliseconds.
TimeMs toMs(date::sys_seconds instant) { return instant.time_since_epoch().count() * kSecondMs; }

DurationMs toMs(std::chrono::seconds offset) { return offset.count() * kSecondMs; }

std::int64_t dayNumber(const LocalDate& local) {
  date::year_month_day ymd{date::year(local.year), date::month(local.month), date::day(local.day)};
  SEQD_ASSERT(ymd.ok());
  return date::sys_days(ymd).time_since_epoch().count();
}

LocalDate localDate(std::int64_t day) {
  date::year_month_day ymd{date::sys_days(date::days(day))};
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day())};
}

// One of a zone's UTC-offset periods: [begin_ms, end_ms) at offset_ms.
struct Period {
  TimeMs begin_ms = 0;
  TimeMs end_ms = 0;
  DurationMs offset_ms = 0;
};

Period periodOf(const date::sys_info& info) {
  return {toMs(info.begin), toMs(info.end), toMs(info.offset)};
}

struct Zone {
  const date::time_zone* tz = nullptr;
  // The two periods used last, the more recent first: around a DST change a timer wheel
  // asks about both sides in turn.
  std::array<Period, 2> periods;
};

// The zone's UTC offset at t.
DurationMs offsetAt(Zone& zone, TimeMs t) {
  if (t >= zone.periods[0].begin_ms && t < zone.periods[0].end_ms) {
    return zone.periods[0].offset_ms;
  }
  if (t >= zone.periods[1].begin_ms && t < zone.periods[1].end_ms) {
    std::swap(zone.periods[0], zone.periods[1]);
    return zone.periods[0].offset_ms;
  }
  zone.periods[1] = zone.periods[0];
  date::sys_seconds second{std::chrono::seconds(floorDiv(t, kSecondMs))};
  zone.periods[0] = periodOf(zone.tz->get_info(second));
  return zone.periods[0].offset_ms;
}

// The first instant at which the zone's clock reads local_ms or later: the instant itself
// when the local time occurs once, the DST change when it is skipped, the earlier instant
// when it is repeated.
TimeMs firstReading(const Zone& zone, TimeMs local_ms) {
  for (const Period& period : zone.periods) {
    TimeMs t = local_ms - period.offset_ms;
    if (t >= period.begin_ms + kPeriodMarginMs && t < period.end_ms - kPeriodMarginMs) return t;
  }
  date::local_seconds second{std::chrono::seconds(floorDiv(local_ms, kSecondMs))};
  date::local_info info = zone.tz->get_info(second);
  if (info.result == date::local_info::nonexistent) return toMs(info.first.end);
  return local_ms - toMs(info.first.offset);  // unique, or the earlier of two
}

// A window as instants: [open_ms, close_ms), open_ms < close_ms.
struct Interval {
  TimeMs open_ms = 0;
  TimeMs close_ms = 0;
};

struct DaySlot {
  std::int32_t day = kNoDay;
  std::uint32_t count = 0;
};

// The open intervals of recently used local days for one (schedule, zone) pair.
struct DayCache {
  std::array<DaySlot, kDaySlots> slots;
  // Slot i's intervals are intervals[i * stride, i * stride + count), sorted by open.
  std::vector<Interval> intervals;
  std::size_t stride = 0;
};

struct CompiledSchedule {
  ZoneId zone = kNoZone;
  std::array<std::vector<LocalWindow>, 7> windows;
  std::vector<std::int64_t> holidays;  // local day numbers, sorted, unique
  unsigned weekday_mask = 0;           // bit w set when weekday w has windows
  std::size_t windows_per_day_max = 0;
  bool crosses_midnight = false;             // some window ends after 24:00
  std::int64_t horizon_days = 0;             // how far nextOpen() looks before answering kNeverOpen
  std::vector<std::uint32_t> cache_by_zone;  // ZoneId -> 1 + index into caches, 0 = none
};

// Windows come from config/ (schedule_yaml.cpp), which sorts and checks them.
void checkWindows(const std::vector<LocalWindow>& windows) {
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const LocalWindow& window = windows[i];
    SEQD_ASSERT(window.start_minute >= 0);
    SEQD_ASSERT(window.start_minute < kMinutesPerDay);
    SEQD_ASSERT(window.start_minute < window.end_minute);
    SEQD_ASSERT(window.end_minute <= window.start_minute + kMinutesPerDay);
    if (i > 0) SEQD_ASSERT(windows[i - 1].end_minute <= window.start_minute);
  }
}

CompiledSchedule compile(const Schedule& schedule, ZoneId zone) {
  CompiledSchedule compiled;
  compiled.zone = zone;
  compiled.windows = schedule.windows;
  for (int weekday = 0; weekday < kDaysPerWeek; ++weekday) {
    const std::vector<LocalWindow>& windows = compiled.windows[static_cast<std::size_t>(weekday)];
    checkWindows(windows);
    if (!windows.empty()) compiled.weekday_mask |= 1u << weekday;
    compiled.windows_per_day_max = std::max(compiled.windows_per_day_max, windows.size());
    for (const LocalWindow& window : windows) {
      compiled.crosses_midnight = compiled.crosses_midnight || window.end_minute > kMinutesPerDay;
    }
  }
  for (const LocalDate& holiday : schedule.holidays) {
    compiled.holidays.push_back(dayNumber(holiday));
  }
  std::sort(compiled.holidays.begin(), compiled.holidays.end());
  compiled.holidays.erase(std::unique(compiled.holidays.begin(), compiled.holidays.end()),
                          compiled.holidays.end());
  // Each holiday can close at most one window day; two spare weeks cover windows that a DST
  // change removes.
  compiled.horizon_days = kDaysPerWeek * (static_cast<std::int64_t>(compiled.holidays.size()) + 2);
  return compiled;
}

bool isHoliday(const CompiledSchedule& schedule, std::int64_t day) {
  return std::binary_search(schedule.holidays.begin(), schedule.holidays.end(), day);
}

bool isBusinessDay(const CompiledSchedule& schedule, std::int64_t day) {
  return (schedule.weekday_mask >> weekdayOf(day) & 1u) != 0 && !isHoliday(schedule, day);
}

}  // namespace

bool isKnownTimeZone(std::string_view name) {
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {  // std::runtime_error for an unknown name
    return false;
  }
}

struct SendingCalendar::Impl {
  std::vector<CompiledSchedule> schedules;
  TextHashMap<ScheduleId> schedule_ids;
  std::vector<Zone> zones;
  std::deque<std::string> zone_names;  // a deque keeps zoneName()'s references valid
  TextHashMap<ZoneId> zone_ids;        // unknown names too, as kNoZone
  std::vector<DayCache> caches;

  ZoneId findZone(std::string_view name);
  CompiledSchedule& scheduleAt(ScheduleId schedule);
  Zone& zoneAt(ZoneId zone);
  DayCache& cacheFor(CompiledSchedule& schedule, ZoneId zone);
  std::span<const Interval> dayIntervals(const CompiledSchedule& schedule, DayCache& cache,
                                         const Zone& zone, std::int64_t day);
  TimeMs nextOpen(ScheduleId schedule_id, ZoneId zone_id, TimeMs t);
  TimeMs addBusinessDays(ScheduleId schedule_id, ZoneId zone_id, TimeMs from, std::uint32_t days);
};

ZoneId SendingCalendar::Impl::findZone(std::string_view name) {
  auto found = zone_ids.find(name);
  if (found != zone_ids.end()) return found->second;
  ZoneId id = kNoZone;
  const date::time_zone* tz = nullptr;
  try {
    tz = date::locate_zone(name);
  } catch (const std::exception&) {  // std::runtime_error for an unknown name
    tz = nullptr;
  }
  if (tz != nullptr) {
    id = static_cast<ZoneId>(zones.size());
    Zone zone;
    zone.tz = tz;
    zones.push_back(zone);
    zone_names.emplace_back(name);
  }
  zone_ids.emplace(std::string(name), id);
  return id;
}

CompiledSchedule& SendingCalendar::Impl::scheduleAt(ScheduleId schedule) {
  SEQD_ASSERT(schedule < schedules.size());
  return schedules[schedule];
}

Zone& SendingCalendar::Impl::zoneAt(ZoneId zone) {
  SEQD_ASSERT(zone < zones.size());
  return zones[zone];
}

DayCache& SendingCalendar::Impl::cacheFor(CompiledSchedule& schedule, ZoneId zone) {
  if (zone >= schedule.cache_by_zone.size()) schedule.cache_by_zone.resize(zones.size(), 0);
  std::uint32_t& index = schedule.cache_by_zone[zone];
  if (index == 0) {
    DayCache& cache = caches.emplace_back();
    cache.stride = std::max<std::size_t>(schedule.windows_per_day_max, 1);
    cache.intervals.resize(kDaySlots * cache.stride);
    index = static_cast<std::uint32_t>(caches.size());
  }
  return caches[index - 1];
}

// The instants of the windows that start on local day `day`, from the cache or computed.
// A window whose open and close meet or cross after the DST mapping is left out.
std::span<const Interval> SendingCalendar::Impl::dayIntervals(const CompiledSchedule& schedule,
                                                              DayCache& cache, const Zone& zone,
                                                              std::int64_t day) {
  const std::size_t index = static_cast<std::size_t>(day) & (kDaySlots - 1);
  DaySlot& slot = cache.slots[index];
  Interval* first = cache.intervals.data() + index * cache.stride;
  if (slot.day == day) return {first, slot.count};
  slot.day = static_cast<std::int32_t>(day);
  slot.count = 0;
  if (!isBusinessDay(schedule, day)) return {first, 0};
  const TimeMs midnight = day * kDayMs;
  for (const LocalWindow& window : schedule.windows[static_cast<std::size_t>(weekdayOf(day))]) {
    const TimeMs open_ms = firstReading(zone, midnight + window.start_minute * kMinuteMs);
    const TimeMs close_ms = firstReading(zone, midnight + window.end_minute * kMinuteMs);
    if (open_ms < close_ms) first[slot.count++] = {open_ms, close_ms};
  }
  return {first, slot.count};
}

// Scans local days from the one before t's (its windows may cross midnight). A later
// window starts later on the local clock, and a later local time never maps to an earlier
// instant, so the first interval still open after t is the answer.
TimeMs SendingCalendar::Impl::nextOpen(ScheduleId schedule_id, ZoneId zone_id, TimeMs t) {
  CompiledSchedule& schedule = scheduleAt(schedule_id);
  if (zone_id == kNoZone) zone_id = schedule.zone;
  Zone& zone = zoneAt(zone_id);
  if (t >= kCalendarEndMs || schedule.weekday_mask == 0) return kNeverOpen;
  t = std::max(t, kCalendarBeginMs);
  DayCache& cache = cacheFor(schedule, zone_id);
  const std::int64_t today = floorDiv(t + offsetAt(zone, t), kDayMs);
  const std::int64_t last_day = std::min(today + schedule.horizon_days, kCalendarEndDay);
  for (std::int64_t day = schedule.crosses_midnight ? today - 1 : today; day <= last_day; ++day) {
    for (const Interval& interval : dayIntervals(schedule, cache, zone, day)) {
      if (interval.close_ms <= t) continue;
      const TimeMs open_ms = std::max(interval.open_ms, t);
      return open_ms >= kCalendarEndMs ? kNeverOpen : open_ms;
    }
  }
  return kNeverOpen;
}

TimeMs SendingCalendar::Impl::addBusinessDays(ScheduleId schedule_id, ZoneId zone_id, TimeMs from,
                                              std::uint32_t days) {
  if (days == 0) return schedule_id == kNoSchedule ? from : nextOpen(schedule_id, zone_id, from);
  if (from >= kCalendarEndMs) return kNeverOpen;
  from = std::max(from, kCalendarBeginMs);
  CompiledSchedule* schedule = schedule_id == kNoSchedule ? nullptr : &scheduleAt(schedule_id);
  if (zone_id == kNoZone && schedule != nullptr) zone_id = schedule->zone;
  if (zone_id == kNoZone) return from + days * kDayMs;
  Zone& zone = zoneAt(zone_id);
  const TimeMs local_ms = from + offsetAt(zone, from);
  const std::int64_t start_day = floorDiv(local_ms, kDayMs);
  const DurationMs time_of_day_ms = local_ms - start_day * kDayMs;
  if (days >= kCalendarEndDay - start_day) return kNeverOpen;
  if (schedule == nullptr) return firstReading(zone, (start_day + days) * kDayMs + time_of_day_ms);
  if (schedule->weekday_mask == 0) return kNeverOpen;
  // Bounded by the calendar's end: at most one business day per local day.
  std::int64_t day = start_day;
  for (std::uint32_t remaining = days; remaining > 0;) {
    if (++day >= kCalendarEndDay) return kNeverOpen;
    if (isBusinessDay(*schedule, day)) --remaining;
  }
  const TimeMs wanted_ms = firstReading(zone, day * kDayMs + time_of_day_ms);
  std::span<const Interval> intervals =
      dayIntervals(*schedule, cacheFor(*schedule, zone_id), zone, day);
  if (intervals.empty()) return nextOpen(schedule_id, zone_id, firstReading(zone, day * kDayMs));
  for (const Interval& interval : intervals) {
    if (interval.close_ms > wanted_ms) return std::max(interval.open_ms, wanted_ms);
  }
  return intervals.front().open_ms;
}

SendingCalendar::SendingCalendar() : impl_(std::make_unique<Impl>()) {}

SendingCalendar::SendingCalendar(const std::map<std::string, Schedule>& schedules)
    : impl_(std::make_unique<Impl>()) {
  for (const auto& [name, schedule] : schedules) {
    const ZoneId zone = impl_->findZone(schedule.timezone);
    SEQD_ASSERT(zone != kNoZone);
    impl_->schedule_ids.emplace(name, static_cast<ScheduleId>(impl_->schedules.size()));
    impl_->schedules.push_back(compile(schedule, zone));
  }
}

SendingCalendar::~SendingCalendar() = default;
SendingCalendar::SendingCalendar(SendingCalendar&&) noexcept = default;
SendingCalendar& SendingCalendar::operator=(SendingCalendar&&) noexcept = default;

ScheduleId SendingCalendar::findSchedule(std::string_view name) const {
  auto found = impl_->schedule_ids.find(name);
  return found == impl_->schedule_ids.end() ? kNoSchedule : found->second;
}

ZoneId SendingCalendar::findZone(std::string_view name) { return impl_->findZone(name); }

ZoneId SendingCalendar::scheduleZone(ScheduleId schedule) const {
  SEQD_ASSERT(schedule < impl_->schedules.size());
  return impl_->schedules[schedule].zone;
}

const std::string& SendingCalendar::zoneName(ZoneId zone) const {
  SEQD_ASSERT(zone < impl_->zone_names.size());
  return impl_->zone_names[zone];
}

TimeMs SendingCalendar::nextOpen(ScheduleId schedule, ZoneId zone, TimeMs t) {
  if (schedule == kNoSchedule) return t;
  return impl_->nextOpen(schedule, zone, t);
}

TimeMs SendingCalendar::addBusinessDays(ScheduleId schedule, ZoneId zone, TimeMs from,
                                        std::uint32_t days) {
  return impl_->addBusinessDays(schedule, zone, from, days);
}

std::optional<LocalDate> SendingCalendar::holidayAt(ScheduleId schedule_id, ZoneId zone_id,
                                                    TimeMs t) {
  if (schedule_id == kNoSchedule || t >= kCalendarEndMs) return std::nullopt;
  const CompiledSchedule& schedule = impl_->scheduleAt(schedule_id);
  Zone& zone = impl_->zoneAt(zone_id == kNoZone ? schedule.zone : zone_id);
  t = std::max(t, kCalendarBeginMs);
  const std::int64_t day = floorDiv(t + offsetAt(zone, t), kDayMs);
  if (!isHoliday(schedule, day)) return std::nullopt;
  return localDate(day);
}

std::string formatLocalDate(const LocalDate& date) {
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", date.year, date.month, date.day);
  return text;
}

TimeMs SendingCalendar::startOfDay(ZoneId zone_id, const LocalDate& date) {
  const TimeMs local_ms = dayNumber(date) * kDayMs;
  if (zone_id == kNoZone) return local_ms;
  Zone& zone = impl_->zoneAt(zone_id);
  offsetAt(zone, local_ms);  // caches the period around that day for firstReading
  return firstReading(zone, local_ms);
}

std::string SendingCalendar::formatLocal(ZoneId zone_id, TimeMs t) {
  Zone& zone = impl_->zoneAt(zone_id);
  t = std::clamp(t, kCalendarBeginMs, kCalendarEndMs - 1);
  const TimeMs local_ms = t + offsetAt(zone, t);
  const std::int64_t day = floorDiv(local_ms, kDayMs);
  const std::int64_t minute = (local_ms - day * kDayMs) / kMinuteMs;
  const LocalDate date = localDate(day);
  char text[32];
  std::snprintf(text, sizeof text, "%s %04d-%02u-%02u %02d:%02d",
                kWeekdayNames[static_cast<std::size_t>(weekdayOf(day))], date.year, date.month,
                date.day, static_cast<int>(minute / 60), static_cast<int>(minute % 60));
  return text;
}

}  // namespace seqd
