// Schedule: a named sending window (schedules.yaml): a time zone, open windows per weekday
// in local minutes, and holidays as local dates.
//
// Thread-safety: plain value.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace seqd {

struct LocalWindow {
  int start_minute = 0;  // minutes after local midnight, inclusive; < 1440
  // Exclusive, counted from the same midnight: 1440 means 24:00, and a window that crosses
  // midnight ("22:00-02:00") ends after 1440 (1560). Always after start_minute.
  int end_minute = 0;
};

struct LocalDate {
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  bool operator==(const LocalDate&) const = default;
};

struct Schedule {
  std::string name;
  std::string timezone;                             // IANA name
  std::array<std::vector<LocalWindow>, 7> windows;  // index 0 = Sunday .. 6 = Saturday
  std::vector<LocalDate> holidays;
};

}  // namespace seqd
