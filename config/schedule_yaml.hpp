// Reading schedules.yaml (SPEC §2.2): named sending windows.
//
// Each top-level key is a schedule name; its map holds `timezone` (required, an IANA zone
// the tz database knows), `windows` (day or day range -> list of "HH:MM-HH:MM", at least one
// window in all) and `holidays` (YYYY-MM-DD). Day ranges run forward and may wrap
// ("fri-mon" is fri, sat, sun, mon). A day's windows are stored sorted by start and must not
// overlap; windows that only touch (12:00-13:00, 13:00-17:00) are fine. Holidays are stored
// sorted without repeats.
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
