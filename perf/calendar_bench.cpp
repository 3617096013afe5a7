// Sending calendar micro benchmark: ns per nextOpen() and per addBusinessDays() call.
//
// Usage: calendar_bench [CONTACTS [RUNS]]   (default 1,000,000 contacts, 5 runs)
//
// CONTACTS contacts, each in one of 50 real IANA zones (whole-hour, half-hour and 45-minute
// offsets, northern and southern DST, 30-minute DST), all on one schedule: Mon-Fri
// 09:00-12:00 and 13:00-17:00 with four holidays. Each contact is asked about an instant
// spread over six weeks from 2026-03-02, a span that holds the US, EU and southern DST
// changes. Phases, each timed on its own in every run, on a calendar built fresh per run
// (so its day caches start empty, as after a start or a reload):
//   next/time order   nextOpen() in time order, zones interleaved, as a timer wheel asks
//   next/random       nextOpen() in random order
//   bd/time order     addBusinessDays(1..3) in time order
//   bd/random         addBusinessDays(1..3) in random order
//   next/random, year nextOpen() at instants over a whole year in random order: most calls
//                     miss the 64-day cache and compute the day's windows (the cost of a miss)
// Reported: the median of RUNS runs, with the fastest and slowest. Times are the thread's CPU
// time. Inputs are drawn before the timed phases.
#include <sys/utsname.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "engine/calendar.hpp"
#include "engine/schedule.hpp"
#include "engine/time.hpp"

namespace {

using seqd::SendingCalendar;
using seqd::TimeMs;
using seqd::ZoneId;

constexpr std::size_t kContactsDefault = 1000000;
constexpr std::size_t kContactsMax = 100000000;
constexpr std::size_t kRunsDefault = 5;
constexpr std::size_t kRunsMax = 101;
constexpr TimeMs kStartMs = 1772409600000;  // 2026-03-02T00:00:00Z, a Monday
constexpr seqd::DurationMs kSpanMs = 42 * seqd::kDayMs;
constexpr seqd::DurationMs kYearMs = 365 * seqd::kDayMs;

const char* const kZones[] = {
    // whole hours, no DST
    "Etc/UTC", "Asia/Tokyo", "Asia/Shanghai", "Asia/Seoul", "Asia/Singapore", "Asia/Jakarta",
    "Asia/Dubai", "Asia/Karachi", "Europe/Moscow", "Africa/Lagos", "Africa/Nairobi",
    "Africa/Johannesburg", "America/Bogota", "America/Lima", "America/Phoenix", "Pacific/Honolulu",
    "America/Mexico_City",
    // half hours and 45 minutes
    "Asia/Kolkata", "Asia/Tehran", "Asia/Kabul", "Asia/Yangon", "Australia/Darwin",
    "Pacific/Marquesas", "Asia/Kathmandu", "Australia/Eucla",
    // northern DST
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Toronto", "America/Havana", "America/St_Johns", "Europe/London", "Europe/Dublin",
    "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Athens", "Europe/Kyiv",
    "Atlantic/Azores", "Asia/Jerusalem", "Africa/Casablanca",
    // southern DST, 30-minute DST, +12:45/+13:45
    "Australia/Sydney", "Australia/Adelaide", "Australia/Hobart", "Australia/Lord_Howe",
    "Pacific/Auckland", "Pacific/Chatham", "America/Santiago", "Pacific/Easter"};
constexpr std::size_t kZoneCount = sizeof kZones / sizeof kZones[0];
static_assert(kZoneCount == 50);

// splitmix64: fast, seeded, the same sequence on every run.
struct Random {
  std::uint64_t state = 0x5eed5eed5eed5eedull;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }
};

double cpuNs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

std::map<std::string, seqd::Schedule> benchSchedules() {
  seqd::Schedule schedule;
  schedule.name = "business-hours";
  schedule.timezone = "America/New_York";
  for (int weekday = 1; weekday <= 5; ++weekday) {
    schedule.windows[static_cast<std::size_t>(weekday)] = {{9 * 60, 12 * 60}, {13 * 60, 17 * 60}};
  }
  schedule.holidays = {{2026, 3, 20}, {2026, 4, 3}, {2026, 4, 6}, {2026, 5, 1}};
  return {{schedule.name, schedule}};
}

struct Query {
  TimeMs at_ms = 0;
  ZoneId zone = 0;
  std::uint32_t days = 0;
};

struct Phase {
  const char* name;
  std::vector<double> ns_per_call;
};

// ns per call of one pass over queries; sums the answers into checksum so none is skipped.
template <typename Call>
double timePass(const std::vector<Query>& queries, Call call, std::uint64_t& checksum) {
  const double start = cpuNs();
  for (const Query& query : queries) checksum += static_cast<std::uint64_t>(call(query));
  return (cpuNs() - start) / static_cast<double>(queries.size());
}

void printMachine(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i == 0 ? "" : " ") + std::string(argv[i]);
  std::printf("command: %s\n", command.c_str());
  utsname name{};
  uname(&name);
  std::string cpu = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::printf("machine: %s %s %s, %s, %u hardware threads; compiler %s\n", name.sysname,
              name.release, name.machine, cpu.c_str(), std::thread::hardware_concurrency(),
              __VERSION__);
}

bool parseArgument(int argc, char** argv, int index, std::size_t max, std::size_t& value) {
  if (argc <= index) return true;
  char* end = nullptr;
  const unsigned long long parsed = std::strtoull(argv[index], &end, 10);
  if (end == argv[index] || *end != '\0' || parsed == 0 || parsed > max) return false;
  value = static_cast<std::size_t>(parsed);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t contacts = kContactsDefault;
  std::size_t runs = kRunsDefault;
  if (argc > 3 || !parseArgument(argc, argv, 1, kContactsMax, contacts) ||
      !parseArgument(argc, argv, 2, kRunsMax, runs)) {
    std::fprintf(stderr, "usage: calendar_bench [CONTACTS [RUNS]]  (default %zu, %zu)\n",
                 kContactsDefault, kRunsDefault);
    return 2;
  }
  printMachine(argc, argv);
  std::printf(
      "calendar: %zu contacts over %zu zones, Mon-Fri 09:00-12:00,13:00-17:00, "
      "4 holidays, instants over 42 days from 2026-03-02, %zu runs\n",
      contacts, kZoneCount, runs);

  // The first zone lookup loads the tz database; time it apart from everything else.
  double start = cpuNs();
  if (!seqd::isKnownTimeZone("Etc/UTC")) return 1;
  std::printf("tz database load (first lookup): %.1f ms\n", (cpuNs() - start) / 1e6);

  Random random;
  std::vector<Query> in_time_order(contacts);
  for (Query& query : in_time_order) {
    query.at_ms = kStartMs + static_cast<TimeMs>(random.below(kSpanMs));
    query.zone = static_cast<ZoneId>(random.below(kZoneCount));
    query.days = 1 + static_cast<std::uint32_t>(random.below(3));
  }
  std::vector<Query> in_random_order = in_time_order;
  std::vector<Query> over_a_year = in_time_order;
  for (Query& query : over_a_year) {
    query.at_ms = kStartMs + static_cast<TimeMs>(random.below(kYearMs));
  }
  std::sort(in_time_order.begin(), in_time_order.end(),
            [](const Query& a, const Query& b) { return a.at_ms < b.at_ms; });

  std::vector<Phase> phases = {{"next/time order", {}},
                               {"next/random", {}},
                               {"bd/time order", {}},
                               {"bd/random", {}},
                               {"next/random, year", {}}};
  std::uint64_t checksum = 0;
  std::size_t open_now = 0;
  for (std::size_t run = 0; run < runs; ++run) {
    start = cpuNs();
    SendingCalendar calendar(benchSchedules());
    const seqd::ScheduleId schedule = calendar.findSchedule("business-hours");
    std::vector<ZoneId> ids(kZoneCount);
    for (std::size_t zone = 0; zone < kZoneCount; ++zone) {
      ids[zone] = calendar.findZone(kZones[zone]);
      if (ids[zone] == seqd::kNoZone) {
        std::fprintf(stderr, "unknown zone %s\n", kZones[zone]);
        return 1;
      }
    }
    if (run == 0) {
      std::printf("calendar build + %zu zone lookups: %.1f us\n", kZoneCount,
                  (cpuNs() - start) / 1e3);
    }
    auto next = [&](const Query& query) {
      return calendar.nextOpen(schedule, ids[query.zone], query.at_ms);
    };
    auto business = [&](const Query& query) {
      return calendar.addBusinessDays(schedule, ids[query.zone], query.at_ms, query.days);
    };
    phases[0].ns_per_call.push_back(timePass(in_time_order, next, checksum));
    phases[1].ns_per_call.push_back(timePass(in_random_order, next, checksum));
    phases[2].ns_per_call.push_back(timePass(in_time_order, business, checksum));
    phases[3].ns_per_call.push_back(timePass(in_random_order, business, checksum));
    phases[4].ns_per_call.push_back(timePass(over_a_year, next, checksum));
    if (run == 0) {
      for (const Query& query : in_random_order) open_now += next(query) == query.at_ms ? 1 : 0;
    }
  }
  std::printf("%-18s %12s %12s %12s\n", "phase", "median ns", "fastest", "slowest");
  for (Phase& phase : phases) {
    std::vector<double>& samples = phase.ns_per_call;
    std::sort(samples.begin(), samples.end());
    std::printf("%-18s %12.1f %12.1f %12.1f\n", phase.name, samples[samples.size() / 2],
                samples.front(), samples.back());
  }
  std::printf("open at the asked instant: %.1f%%; checksum %llx\n",
              100.0 * static_cast<double>(open_now) / static_cast<double>(contacts),
              static_cast<unsigned long long>(checksum));
  return 0;
}
