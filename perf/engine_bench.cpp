// engine_bench: steps per second through the Engine (render + RFC 5322 build + progress
// records), alone and with every batch committed to a real LMDB store.
//
// Usage: engine_bench [CONTACTS]   (default 100000)
// A three-email sequence (waits 0m, 1h, 1h) over CONTACTS contacts with random scores; the
// clock advances one minute per round; every intent is acknowledged as delivered.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "engine/engine.hpp"
#include "io/store.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z

EngineSettings benchSettings() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "bench";
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
};

RunResult run(std::size_t contacts, Store* store) {
  Engine engine(benchSettings(), kStart);
  std::mt19937_64 random(42);
  std::vector<ContactRow> rows;
  rows.reserve(contacts);
  for (std::size_t i = 0; i < contacts; ++i) {
    ContactRow row;
    row.fields = {{"email", "p" + std::to_string(i) + "@example.test"},
                  {"first_name", "P" + std::to_string(i)},
                  {"company", "Company " + std::to_string(i % 997)},
                  {"score", std::to_string(random() % 101)}};
    rows.push_back(std::move(row));
  }
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
        engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.message_id,
                                 DeliveryOutcome::kDelivered, ""},
                                now);
      }
      commit();
    }
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

void report(const char* label, const RunResult& result) {
  std::printf("%-26s %9zu steps %8.3f s %10.0f steps/s\n", label, result.steps, result.seconds,
              static_cast<double>(result.steps) / result.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t contacts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  std::printf("engine: %zu contacts x 3 auto_email steps, 1-minute rounds\n", contacts);
  report("engine only", run(contacts, nullptr));
  std::string dir = std::filesystem::temp_directory_path() / "seqd-engine-bench";
  std::filesystem::remove_all(dir);
  Result<std::unique_ptr<Store>> store = openLmdbStore(dir);
  if (!store.isOk()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  report("engine + LMDB group commit", run(contacts, store.value().get()));
  store.value().reset();
  std::filesystem::remove_all(dir);
  return 0;
}
