#include "config/schedule_yaml.hpp"

#include <date/date.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "engine/calendar.hpp"

namespace seqd {
namespace {

constexpr std::string_view kScheduleKeys[] = {"timezone", "windows", "holidays"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};
constexpr std::size_t kWindowsPerDayMax = 48;
constexpr std::size_t kHolidaysMax = 1000;
constexpr int kMinutesPerDay = 24 * 60;

// A window as read, with its node kept so an overlap can be reported where it is written.
struct ReadWindow {
  LocalWindow window;
  YAML::Node node;
};

using WeekWindows = std::array<std::vector<ReadWindow>, 7>;

int dayIndex(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (kDayNames[i] == lower) return static_cast<int>(i);
  }
  return -1;
}

// "mon", "mon-fri", "fri-mon" (wraps) -> day indexes in order; empty when malformed.
std::vector<int> parseDays(std::string_view key) {
  std::size_t dash = key.find('-');
  int first = dayIndex(key.substr(0, dash));
  int last = dash == std::string_view::npos ? first : dayIndex(key.substr(dash + 1));
  if (first < 0 || last < 0) return {};
  std::vector<int> days;
  for (int day = first, count = 0; count < 7; day = (day + 1) % 7, ++count) {
    days.push_back(day);
    if (day == last) break;
  }
  return days;
}

bool parseTwoDigits(std::string_view text, int& value) {
  if (text.size() != 2 || !std::isdigit(static_cast<unsigned char>(text[0])) ||
      !std::isdigit(static_cast<unsigned char>(text[1]))) {
    return false;
  }
  value = (text[0] - '0') * 10 + (text[1] - '0');
  return true;
}

// "HH:MM" -> minutes after midnight; 24:00 gives 1440 (the caller allows it only as an end).
bool parseClock(std::string_view text, int& minutes) {
  int hour = 0;
  int minute = 0;
  if (text.size() != 5 || text[2] != ':' || !parseTwoDigits(text.substr(0, 2), hour) ||
      !parseTwoDigits(text.substr(3, 2), minute) || minute > 59 || hour > 24 ||
      (hour == 24 && minute != 0)) {
    return false;
  }
  minutes = hour * 60 + minute;
  return true;
}

// "" when fine, else what is wrong with the window text.
std::string parseWindow(std::string_view text, LocalWindow& window) {
  std::size_t dash = text.find('-');
  if (dash == std::string_view::npos || !parseClock(text.substr(0, dash), window.start_minute) ||
      !parseClock(text.substr(dash + 1), window.end_minute)) {
    return "bad window " + quoteForMessage(text) + " (expected HH:MM-HH:MM, e.g. 09:00-17:00)";
  }
  if (window.start_minute >= kMinutesPerDay) {
    return "bad window " + quoteForMessage(text) + ": 24:00 can only end a window";
  }
  if (window.start_minute == window.end_minute) {
    return "bad window " + quoteForMessage(text) +
           ": the start equals the end (use 00:00-24:00 for a whole day)";
  }
  // An end before the start crosses midnight; "24:00" ends after any start, so a window
  // that crosses midnight ends before 24:00 of the next day.
  if (window.end_minute < window.start_minute) window.end_minute += kMinutesPerDay;
  return "";
}

// Minutes after the start day's midnight -> "HH:MM"; an end after 24:00 shows the next day's
// clock ("02:00" for 1560).
std::string formatClock(int minutes) {
  if (minutes > kMinutesPerDay) minutes -= kMinutesPerDay;
  std::string text = "00:00";
  text[0] = static_cast<char>('0' + minutes / 600);
  text[1] = static_cast<char>('0' + minutes / 60 % 10);
  text[3] = static_cast<char>('0' + minutes % 60 / 10);
  text[4] = static_cast<char>('0' + minutes % 10);
  return text;
}

bool parseDate(std::string_view text, LocalDate& date) {
  int year = 0;
  int month = 0;
  int day = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3}) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    year = year * 10 + (text[i] - '0');
  }
  if (!parseTwoDigits(text.substr(5, 2), month) || !parseTwoDigits(text.substr(8, 2), day)) {
    return false;
  }
  date::year_month_day ymd{date::year(year), date::month(static_cast<unsigned>(month)),
                           date::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return false;
  date = LocalDate{year, static_cast<unsigned>(month), static_cast<unsigned>(day)};
  return true;
}

void readWindowList(YamlReader& reader, const YamlEntry& entry, const std::string& label,
                    WeekWindows& week) {
  std::vector<int> days = parseDays(entry.key);
  if (days.empty()) {
    reader.fail(entry.key_node, label + ": bad day " + quoteForMessage(entry.key) +
                                    " (expected sun, mon, tue, wed, thu, fri, sat or a range "
                                    "such as mon-fri)");
    return;
  }
  for (const YamlText& item : reader.texts(entry, label + ": windows", kWindowsPerDayMax)) {
    LocalWindow window;
    std::string problem = parseWindow(item.text, window);
    if (!problem.empty()) {
      reader.fail(item.node, label + ": " + problem);
      return;
    }
    for (int day : days) week[static_cast<std::size_t>(day)].push_back({window, item.node});
  }
}

// Sorts each day's windows and stores them; fails on an overlap, at the later window.
void storeWindows(YamlReader& reader, const std::string& label, WeekWindows& week,
                  Schedule& schedule) {
  for (std::size_t day = 0; day < week.size(); ++day) {
    std::vector<ReadWindow>& windows = week[day];
    std::stable_sort(windows.begin(), windows.end(), [](const ReadWindow& a, const ReadWindow& b) {
      return a.window.start_minute < b.window.start_minute;
    });
    for (std::size_t i = 0; i < windows.size(); ++i) {
      if (i > 0 && windows[i].window.start_minute < windows[i - 1].window.end_minute) {
        const LocalWindow& earlier = windows[i - 1].window;
        const LocalWindow& later = windows[i].window;
        reader.fail(windows[i].node, label + ": windows overlap on " + std::string(kDayNames[day]) +
                                         " (" + formatClock(earlier.start_minute) + "-" +
                                         formatClock(earlier.end_minute) + " and " +
                                         formatClock(later.start_minute) + "-" +
                                         formatClock(later.end_minute) + ")");
        return;
      }
      schedule.windows[day].push_back(windows[i].window);
    }
  }
}

void readWindows(YamlReader& reader, const YamlEntry& entry, const std::string& label,
                 Schedule& schedule) {
  WeekWindows week;
  for (const YamlEntry& day_entry : reader.entries(entry.value, label + ": windows")) {
    readWindowList(reader, day_entry, label, week);
  }
  storeWindows(reader, label, week, schedule);
  bool any_window = false;
  for (const std::vector<LocalWindow>& windows : schedule.windows) {
    any_window = any_window || !windows.empty();
  }
  if (!reader.failed() && !any_window) {
    reader.fail(entry.key_node, label + ": windows: no open window on any day");
  }
}

void readHolidays(YamlReader& reader, const YamlEntry& entry, const std::string& label,
                  Schedule& schedule) {
  for (const YamlText& item : reader.texts(entry, label + ": holidays", kHolidaysMax)) {
    LocalDate date;
    if (!parseDate(item.text, date)) {
      reader.fail(item.node,
                  label + ": bad holiday " + quoteForMessage(item.text) + " (expected YYYY-MM-DD)");
      return;
    }
    schedule.holidays.push_back(date);
  }
  auto before = [](const LocalDate& a, const LocalDate& b) {
    if (a.year != b.year) return a.year < b.year;
    if (a.month != b.month) return a.month < b.month;
    return a.day < b.day;
  };
  std::sort(schedule.holidays.begin(), schedule.holidays.end(), before);
  schedule.holidays.erase(std::unique(schedule.holidays.begin(), schedule.holidays.end()),
                          schedule.holidays.end());
}

Schedule readSchedule(YamlReader& reader, const YamlEntry& entry) {
  Schedule schedule;
  schedule.name = entry.key;
  std::string label = "schedule " + quoteForMessage(entry.key);
  if (entry.key.empty()) reader.fail(entry.key_node, "a schedule name must not be empty");
  if (entry.value.IsNull()) reader.fail(entry.key_node, label + ": expected a map, got nothing");
  std::vector<YamlEntry> entries = reader.entries(entry.value, kScheduleKeys, label);
  for (const YamlEntry& field : entries) {
    if (field.key == "timezone") {
      schedule.timezone = reader.nonEmptyText(field, label);
      if (!reader.failed() && !isKnownTimeZone(schedule.timezone)) {
        reader.failValue(field, label,
                         "unknown time zone " + quoteForMessage(schedule.timezone) +
                             " (expected an IANA name such as America/New_York)");
      }
    } else if (field.key == "windows") {
      readWindows(reader, field, label, schedule);
    } else if (field.key == "holidays") {
      readHolidays(reader, field, label, schedule);
    }
  }
  for (std::string_view required : {"timezone", "windows"}) {
    if (!reader.failed() && findEntry(entries, required) == nullptr) {
      reader.fail(entry.key_node, label + ": missing required key '" + std::string(required) + "'");
    }
  }
  return schedule;
}

}  // namespace

Result<std::map<std::string, Schedule>> readSchedules(const YamlFile& file) {
  YamlReader reader(file.path);
  std::map<std::string, Schedule> schedules;
  std::vector<YamlEntry> entries = reader.entries(file.root, "");
  if (entries.size() > kSchedulesMax) {
    reader.fail(entries[kSchedulesMax].key_node,
                "more than " + std::to_string(kSchedulesMax) + " schedules");
  }
  for (const YamlEntry& entry : entries) {
    Schedule schedule = readSchedule(reader, entry);
    if (reader.failed()) return reader.status();
    schedules.emplace(entry.key, std::move(schedule));
  }
  if (reader.failed()) return reader.status();
  return schedules;
}

}  // namespace seqd
