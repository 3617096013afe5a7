// inbound_bench: what an inbound message (a reply, a bounce) costs the engine thread when it
// finds its contact, at CONTACTS contacts (engine only: no inbox, no store).
//
// Usage: inbound_bench [CONTACTS [RUNS]]   (default 1000000, 5)
// Prints: the first message (the indexes by hash are built), then the median of RUNS of each:
// a message found by the Message-ID it answers, one found by its sender, and one found by its
// sender right after another contact was edited (`contact set`).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/message.hpp"
#include "perf/bench_settings.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = kBenchStart;

double msSince(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
      .count();
}

std::string email(std::size_t i) { return "p" + std::to_string(i) + "@example.test"; }

}  // namespace

int main(int argc, char** argv) {
  const std::size_t contacts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  Engine engine(benchSettings(), kStart);
  std::vector<ContactRow> rows(contacts);
  for (std::size_t i = 0; i < contacts; ++i) {
    rows[i].fields = {{"email", email(i)}, {"first_name", "P" + std::to_string(i)}};
  }
  ImportResult imported = engine.upsertContacts(rows);
  rows = std::vector<ContactRow>();
  if (!engine.activate("bench", Caller{"root", true}, kStart).isOk()) return 1;
  engine.add("bench", imported.keys, {}, Caller{"root", true}, kStart);
  std::printf("inbound: %zu contacts, each enrolled; median of %d (engine only)\n", contacts, runs);
  int serial = 0;
  const auto message = [&](std::size_t contact, bool by_id) {
    InboundMessage reply;
    reply.kind = InboundKind::kReply;
    reply.mailbox = "bench@acme.test";
    reply.message_id = "<bench-" + std::to_string(++serial) + "@example.test>";
    if (by_id) {
      reply.from_address = "someone-else@example.test";
      reply.referenced_ids = {makeMessageId("bench", "hello", email(contact), "bench@acme.test")};
    } else {
      reply.from_address = email(contact);
    }
    return reply;
  };
  std::size_t next = 1;
  const auto timed = [&](bool by_id, bool edit_first) {
    std::vector<double> times;
    for (int run = 0; run < runs; ++run) {
      const std::size_t contact = next;
      next += contacts / (static_cast<std::size_t>(runs) * 3 + 2);
      if (edit_first) {
        ContactRow edit;
        edit.fields = {{"first_name", "Edited"}};
        if (!engine.setContactFields(email(contact + 1), edit).isOk()) std::abort();
      }
      const InboundMessage reply = message(contact, by_id);
      const auto started = std::chrono::steady_clock::now();
      Result<InboundResult> applied = engine.applyInbound(reply, kStart + kMinuteMs);
      times.push_back(msSince(started));
      if (!applied.isOk() || applied.value().contact != email(contact)) std::abort();
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  };
  const auto first_started = std::chrono::steady_clock::now();
  Result<InboundResult> first = engine.applyInbound(message(0, true), kStart + kMinuteMs);
  const double first_ms = msSince(first_started);
  if (!first.isOk() || first.value().contact != email(0)) std::abort();
  std::printf("%-40s %10.3f ms\n", "first message (indexes built)", first_ms);
  std::printf("%-40s %10.3f ms\n", "by Message-ID", timed(true, false));
  std::printf("%-40s %10.3f ms\n", "by sender", timed(false, false));
  std::printf("%-40s %10.3f ms\n", "by sender, one contact edited before", timed(false, true));
  return 0;
}
