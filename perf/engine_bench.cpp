// engine_bench: steps per second through the Engine (the decisions, the templates checked,
// the progress records), alone and with every batch committed to a real LMDB store. Rendering
// the message is the delivery workers' work and is not in this figure: render_bench measures
// it.
//
// Usage: engine_bench [CONTACTS]   (default 100000)
// A three-email sequence (waits 0m, 1h, 1h) over CONTACTS contacts with random scores; the
// clock advances one minute per round; every intent is acknowledged as delivered. Each run
// goes twice: with no sending schedule, and with a schedule open all week in the contacts'
// own zones (50 of them), so the figure shows what computing the windows costs. "census" is
// one Engine::census() at the end, as the metrics and STATUS= ask once a second on the engine
// thread: counters kept as enrollments change (engine/census.hpp), so its cost does not grow
// with the enrollments; keeping them is inside the steps/s figure.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/engine.hpp"
#include "io/store.hpp"
#include "perf/bench_settings.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z

// Real zones of every kind: whole-hour, half-hour, 45-minute, with and without DST, both
// hemispheres.
const char* const kZones[] = {
    "America/New_York",    "America/Chicago",  "America/Denver",
    "America/Los_Angeles", "America/Phoenix",  "America/Anchorage",
    "Pacific/Honolulu",    "America/Toronto",  "America/Vancouver",
    "America/Mexico_City", "America/Bogota",   "America/Lima",
    "America/Sao_Paulo",   "America/Santiago", "America/Argentina/Buenos_Aires",
    "America/St_Johns",    "America/Halifax",  "Atlantic/Azores",
    "Europe/London",       "Europe/Dublin",    "Europe/Lisbon",
    "Europe/Paris",        "Europe/Berlin",    "Europe/Madrid",
    "Europe/Rome",         "Europe/Amsterdam", "Europe/Stockholm",
    "Europe/Warsaw",       "Europe/Athens",    "Europe/Helsinki",
    "Europe/Istanbul",     "Europe/Moscow",    "Africa/Cairo",
    "Africa/Johannesburg", "Africa/Lagos",     "Asia/Dubai",
    "Asia/Tehran",         "Asia/Karachi",     "Asia/Kolkata",
    "Asia/Kathmandu",      "Asia/Dhaka",       "Asia/Bangkok",
    "Asia/Singapore",      "Asia/Shanghai",    "Asia/Tokyo",
    "Australia/Adelaide",  "Australia/Sydney", "Australia/Lord_Howe",
    "Pacific/Auckland",    "Pacific/Chatham"};

EngineSettings benchSettings(bool windows) {
  EngineSettings settings;
  if (windows) {
    Schedule always;
    always.name = "always";
    always.timezone = "America/New_York";
    for (auto& day : always.windows) day = {LocalWindow{0, 1440}};
    always.holidays = {LocalDate{2027, 1, 1}};
    settings.schedules[always.name] = always;
  }
  Sequence sequence;
  sequence.id = "bench";
  sequence.schedule = windows ? "always" : "";
  sequence.owner = "root";
  sequence.mailboxes = {"bench@acme.test"};
  const char* ids[] = {"intro", "bump", "breakup"};
  for (int i = 0; i < 3; ++i) {
    Step step;
    step.id = ids[i];
    step.wait_ms = i == 0 ? 0 : kHourMs;
    step.subject = "Quick question, {{first_name}}";
    step.body = "Hi {{first_name|there}}, teams like {{company|yours}} ...\nAlice\n";
    sequence.steps.push_back(step);
  }
  settings.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "bench@acme.test";
  mailbox.name = "Bench";
  mailbox.daily_limit = 1000000000;  // measures the engine, not the limits
  mailbox.hourly_limit = 1000000000;
  mailbox.transport = Transport::kDiscard;
  settings.mailboxes = {mailbox};
  return settings;
}

struct RunResult {
  std::size_t steps = 0;
  double seconds = 0;
  double census_ms = 0;  // one Engine::census(), as the metrics ask once a second, at the end
};

RunResult run(std::size_t contacts, Store* store, bool windows) {
  Engine engine(benchSettings(windows), kStart);
  std::vector<ContactRow> rows = benchContactRows(contacts);
  for (std::size_t i = 0; i < contacts; ++i)
    rows[i].fields["timezone"] = kZones[i % std::size(kZones)];
  ImportResult imported = engine.upsertContacts(rows);
  Caller admin{"root", true};
  engine.add("bench", imported.keys, {}, admin, kStart);
  engine.activate("bench", admin, kStart);
  auto commit = [&] {
    WriteBatch batch = engine.takeBatch();
    if (store == nullptr) return;
    Status status = store->commit(batch);
    if (!status.isOk()) {
      std::fprintf(stderr, "commit failed: %s\n", status.message().c_str());
      std::exit(1);
    }
  };
  commit();
  RunResult result;
  auto started = std::chrono::steady_clock::now();
  for (TimeMs now = kStart; now <= kStart + 3 * kHourMs; now += kMinuteMs) {
    // The engine takes at most kQueuedIntentsMax due steps at a time: go round until none
    // is due at `now`.
    for (;;) {
      engine.advanceTo(now);
      std::vector<DeliveryIntent> intents = engine.takeIntents();
      if (intents.empty()) break;
      result.steps += intents.size();
      commit();
      for (const DeliveryIntent& intent : intents) {
        engine.onDeliveryResult(
            {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
            now);
      }
      commit();
    }
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  constexpr int kCensusRuns = 10;
  std::size_t counted = 0;
  started = std::chrono::steady_clock::now();
  for (int i = 0; i < kCensusRuns; ++i) counted += engine.census(kStart).by_status[0];
  result.census_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
          .count() /
      kCensusRuns;
  if (counted == static_cast<std::size_t>(-1)) std::printf("\n");  // keeps the calls
  return result;
}

void report(const char* label, const RunResult& result) {
  std::printf("%-26s %9zu steps %8.3f s %10.0f steps/s  census %.4f ms\n", label, result.steps,
              result.seconds, static_cast<double>(result.steps) / result.seconds, result.census_ms);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t contacts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  std::printf("engine: %zu contacts x 3 auto_email steps, 1-minute rounds\n", contacts);
  report("engine only", run(contacts, nullptr, false));
  report("engine only, windows", run(contacts, nullptr, true));
  std::string dir = std::filesystem::temp_directory_path() / "seqd-engine-bench";
  std::filesystem::remove_all(dir);
  Result<std::unique_ptr<Store>> store = openLmdbStore(dir);
  if (!store.isOk()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  report("engine + LMDB group commit", run(contacts, store.value().get(), false));
  store.value().reset();
  std::filesystem::remove_all(dir);
  return 0;
}
