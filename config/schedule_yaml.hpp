// Reading schedules.yaml (SPEC §2.2): named sending windows.
//
// Each top-level key is a schedule name; its map holds `timezone` (required, an IANA zone
// the tz database knows), `windows` (day or day range -> list of "HH:MM-HH:MM", at least one
// window in all) and `holidays` (YYYY-MM-DD). Day ranges run forward and may wrap
// ("fri-mon" is fri, sat, sun, mon). "24:00" may only end a window. A window whose end is
// before its start crosses midnight and belongs to the day it starts: "22:00-02:00" is
// stored with end_minute 1560 (02:00 the next day). A start equal to the end is an error
// (a whole day is 00:00-24:00). A day's windows are stored sorted by start and must not
// overlap, a crossing window's end included; windows that only touch (12:00-13:00,
// 13:00-17:00) are fine. A crossing window may overlap the next day's early windows: both
// open the same instants. Holidays are stored sorted without repeats.
//
// Thread-safety: reentrant.
#pragma once

#include <map>
#include <string>

#include "config/yaml_walk.hpp"
#include "engine/schedule.hpp"
#include "engine/status.hpp"

namespace seqd {

// Interprets a parsed schedules.yaml. An empty file defines no schedules.
Result<std::map<std::string, Schedule>> readSchedules(const YamlFile& file);

}  // namespace seqd
