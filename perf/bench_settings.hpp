// What the engine-only benches share: the engine settings (one sequence "bench" of one email
// step from one mailbox, bench@acme.test, on the discard transport, owned by "root"), their
// contacts enrolled, and the median of timed runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace seqd {

inline constexpr TimeMs kBenchStart = 1796133600000;  // 2026-12-01T14:00:00Z

inline EngineSettings benchSettings() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "bench";
  sequence.owner = "root";
  sequence.mailboxes = {"bench@acme.test"};
  Step step;
  step.id = "hello";
  step.subject = "Hello {{first_name}}";
  step.body = "Hi {{first_name|there}}";
  sequence.steps = {step};
  settings.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "bench@acme.test";
  mailbox.name = "Bench";
  mailbox.transport = Transport::kDiscard;
  settings.mailboxes = {mailbox};
  return settings;
}

// `count` contacts p0@example.test, p1@... with a first name, one of 997 companies and a
// score drawn from a generator seeded with 42 (the same contacts every run).
inline std::vector<ContactRow> benchContactRows(std::size_t count) {
  std::mt19937_64 random(42);
  std::vector<ContactRow> rows;
  rows.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    ContactRow row;
    row.fields = {{"email", "p" + std::to_string(i) + "@example.test"},
                  {"first_name", "P" + std::to_string(i)},
                  {"company", "Company " + std::to_string(i % 997)},
                  {"score", std::to_string(random() % 101)}};
    rows.push_back(std::move(row));
  }
  return rows;
}

// Imports benchContactRows(count) into `engine` and adds them all to "bench" as root.
inline void enrollBenchContacts(Engine& engine, std::size_t count) {
  std::vector<ContactRow> rows = benchContactRows(count);
  const ImportResult imported = engine.upsertContacts(rows);
  rows = {};
  engine.add("bench", imported.keys, {}, Caller{"root", true}, kBenchStart);
}

// The median of `runs` timings of body(), in ms; after() runs after each, untimed.
template <typename Body, typename After>
double medianMs(int runs, const Body& body, const After& after) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto started = std::chrono::steady_clock::now();
    body();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count());
    after();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

template <typename Body>
double medianMs(int runs, const Body& body) {
  return medianMs(runs, body, [] {});
}

}  // namespace seqd
