// Proves mailbox send limits hold over rolling windows, for one mailbox and across a send-from
// set, that a backlog drains at the limits best scores first, and that a restart rebuilt from
// the progress log never lets a limit be exceeded.
#include "engine/governor.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::FakeStore;
using seqd::testing::testSeed;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kAdmin{"root", true};

Mailbox mailbox(const std::string& address, std::int64_t daily, std::int64_t hourly) {
  Mailbox result;
  result.address = address;
  result.name = "Sender";
  result.daily_limit = daily;
  result.hourly_limit = hourly;
  return result;
}

EngineSettings oneEmail(std::vector<Mailbox> mailboxes) {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "root";
  for (const Mailbox& m : mailboxes) sequence.mailboxes.push_back(m.address);
  Step step;
  step.id = "hello";
  step.subject = "Hello";
  step.body = "Hi";
  sequence.steps = {step};
  settings.sequences["s"] = sequence;
  settings.mailboxes = std::move(mailboxes);
  return settings;
}

struct Sent {
  TimeMs at_ms;
  std::string mailbox;
  std::string recipient;
  int score;
};

// Runs the engine the way the runtime's virtual clock does: from due time to due time.
std::vector<Sent> runUntil(Engine& engine, TimeMs& now_ms, TimeMs until_ms,
                           const std::map<std::string, int>& scores, FakeStore* store = nullptr) {
  std::vector<Sent> sent;
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    std::optional<TimeMs> next = engine.nextDue();
    if (!next || *next > until_ms) break;
    now_ms = std::max(now_ms, *next);
    engine.advanceTo(now_ms);
    for (const DeliveryIntent& intent : engine.takeIntents()) {
      sent.push_back({now_ms, intent.mailbox(), intent.recipient(), scores.at(intent.recipient())});
      engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.send,
                               DeliveryOutcome::kDelivered, "", Transport::kMaildir, false},
                              now_ms);
    }
    WriteBatch batch = engine.takeBatch();
    if (store != nullptr) store->commit(std::move(batch));
  }
  now_ms = std::max(now_ms, until_ms);
  return sent;
}

std::map<std::string, int> enroll(Engine& engine, int count, std::mt19937_64& random) {
  std::vector<ContactRow> rows;
  std::map<std::string, int> scores;
  for (int i = 0; i < count; ++i) {
    ContactRow row;
    std::string email = "p" + std::to_string(i) + "@d" + std::to_string(i % 3) + ".test";
    int score = static_cast<int>(random() % 101);
    row.fields = {{"email", email}, {"score", std::to_string(score)}};
    rows.push_back(row);
    scores[email] = score;
  }
  ImportResult imported = engine.upsertContacts(rows);
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  REQUIRE(engine.add("s", imported.keys, {}, kAdmin, kStart).isOk());
  return scores;
}

// The most sends of one mailbox inside any window of window_ms.
std::size_t busiestWindow(const std::vector<Sent>& sent, const std::string& address,
                          DurationMs window_ms) {
  std::vector<TimeMs> times;
  for (const Sent& s : sent) {
    if (s.mailbox == address) times.push_back(s.at_ms);
  }
  std::sort(times.begin(), times.end());
  std::size_t most = 0;
  for (std::size_t begin = 0, end = 0; end < times.size(); ++end) {
    while (times[end] - times[begin] >= window_ms) ++begin;
    most = std::max(most, end - begin + 1);
  }
  return most;
}

}  // namespace

TEST_CASE("governor: rolling hour, rolling day, interval with jitter, domain, closed") {
  Mailbox limited = mailbox("a@acme.test", 5, 3);
  limited.min_interval_ms = kMinuteMs;
  limited.jitter_ms = 30 * kSecondMs;
  limited.domain_daily_limit = 2;
  Mailbox closed = mailbox("closed@acme.test", 0, 10);
  SendGovernor governor;
  governor.configure({limited, closed});
  CHECK(governor.nextFree("closed@acme.test", "x.test", kStart) == SendGovernor::kNoFreeSlot);
  CHECK(governor.nextFree("nobody@acme.test", "x.test", kStart) == SendGovernor::kNoFreeSlot);
  CHECK(governor.nextFree("a@acme.test", "x.test", kStart) == kStart);

  governor.recordSend("a@acme.test", "x.test", kStart, "<m1@acme.test>");
  TimeMs after_first = governor.nextFree("a@acme.test", "y.test", kStart);
  CHECK(after_first >= kStart + kMinuteMs);
  CHECK(after_first <= kStart + kMinuteMs + 30 * kSecondMs);
  governor.recordSend("a@acme.test", "x.test", kStart + 2 * kMinuteMs, "<m2@acme.test>");
  // x.test has had its 2 for the day; y.test may go once the interval has passed.
  CHECK(governor.nextFree("a@acme.test", "x.test", kStart + 4 * kMinuteMs) == kStart + kDayMs);
  CHECK(governor.nextFree("a@acme.test", "y.test", kStart + 4 * kMinuteMs) ==
        kStart + 4 * kMinuteMs);
  governor.recordSend("a@acme.test", "y.test", kStart + 4 * kMinuteMs, "<m3@acme.test>");
  // 3 in the hour: the hour frees when the first send is an hour old.
  CHECK(governor.nextFree("a@acme.test", "z.test", kStart + 10 * kMinuteMs) == kStart + kHourMs);
  governor.recordSend("a@acme.test", "z.test", kStart + kHourMs, "<m4@acme.test>");
  governor.recordSend("a@acme.test", "z.test", kStart + 2 * kHourMs, "<m5@acme.test>");
  // 5 in the day: the day frees when the first send is a day old.
  CHECK(governor.nextFree("a@acme.test", "w.test", kStart + 3 * kHourMs) == kStart + kDayMs);
  CHECK(governor.sentWithin("a@acme.test", kHourMs, kStart + 2 * kHourMs) == 1);
  CHECK(governor.sentWithin("a@acme.test", kDayMs, kStart + 2 * kHourMs) == 5);
}

TEST_CASE("a backlog drains at the hourly limit, best scores first, never in a burst") {
  std::mt19937_64 random(7);
  Engine engine(oneEmail({mailbox("a@acme.test", 1000, 10)}), kStart);
  std::map<std::string, int> scores = enroll(engine, 35, random);
  TimeMs now = kStart;
  std::vector<Sent> sent = runUntil(engine, now, kStart + 5 * kHourMs, scores);
  REQUIRE(sent.size() == 35);
  CHECK(busiestWindow(sent, "a@acme.test", kHourMs) == 10);
  CHECK(sent[10].at_ms == kStart + kHourMs);
  CHECK(sent[34].at_ms == kStart + 3 * kHourMs);
  for (std::size_t i = 1; i < sent.size(); ++i) CHECK(sent[i - 1].score >= sent[i].score);

  Engine waiting(oneEmail({mailbox("a@acme.test", 1000, 10)}), kStart);
  enroll(waiting, 15, random);
  waiting.advanceTo(kStart);
  // The hour's 10 go out and are delivered; the other 5 wait for capacity.
  std::vector<DeliveryIntent> out = waiting.takeIntents();
  CHECK(out.size() == 10);
  for (const DeliveryIntent& intent : out) {
    waiting.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.send,
                              DeliveryOutcome::kDelivered, "", Transport::kMaildir, false},
                             kStart);
  }
  Result<std::vector<StatusRow>> rows = waiting.status("s", {});
  std::size_t active = std::count_if(rows.value().begin(), rows.value().end(),
                                     [](const StatusRow& row) { return row.status == "active"; });
  CHECK(active == 5);  // held back by the limit: `active`, due when capacity returns
  for (const StatusRow& row : rows.value()) {
    if (row.status == "active") CHECK(row.next_at_ms == kStart + kHourMs);
  }
}

TEST_CASE("rotation sends from whichever mailbox of the set has capacity") {
  std::mt19937_64 random(11);
  Engine engine(oneEmail({mailbox("a@acme.test", 1000, 2), mailbox("b@acme.test", 1000, 5)}),
                kStart);
  std::map<std::string, int> scores = enroll(engine, 7, random);
  TimeMs now = kStart;
  std::vector<Sent> sent = runUntil(engine, now, kStart + 10 * kMinuteMs, scores);
  REQUIRE(sent.size() == 7);
  CHECK(std::count_if(sent.begin(), sent.end(),
                      [](const Sent& s) { return s.mailbox == "a@acme.test"; }) == 2);
  CHECK(std::count_if(sent.begin(), sent.end(),
                      [](const Sent& s) { return s.mailbox == "b@acme.test"; }) == 5);
}

TEST_CASE("randomized: limits hold in every rolling window, also across restarts") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  std::vector<Mailbox> mailboxes;
  for (const char* address : {"a@acme.test", "b@acme.test"}) {
    Mailbox m = mailbox(address, 5 + static_cast<std::int64_t>(random() % 30),
                        1 + static_cast<std::int64_t>(random() % 8));
    m.min_interval_ms = static_cast<DurationMs>(random() % 3) * kMinuteMs;
    m.jitter_ms = static_cast<DurationMs>(random() % 2) * 30 * kSecondMs;
    m.domain_daily_limit = static_cast<std::int64_t>(random() % 4);
    mailboxes.push_back(m);
  }
  FakeStore store;
  auto engine = std::make_unique<Engine>(oneEmail(mailboxes), kStart);
  std::map<std::string, int> scores = enroll(*engine, 120, random);
  store.commit(engine->takeBatch());
  TimeMs now = kStart;
  std::vector<Sent> sent;
  for (int life = 0; life < 4; ++life) {
    TimeMs until = now + static_cast<TimeMs>(random() % (20 * kHourMs));
    std::vector<Sent> more = runUntil(*engine, now, until, scores, &store);
    sent.insert(sent.end(), more.begin(), more.end());
    engine = std::make_unique<Engine>(oneEmail(mailboxes), now);  // crash and restart
    REQUIRE(engine->restore(store.state, now).isOk());
  }
  std::vector<Sent> rest = runUntil(*engine, now, now + 60 * kDayMs, scores, &store);
  sent.insert(sent.end(), rest.begin(), rest.end());
  for (const Mailbox& m : mailboxes) {
    CAPTURE(m.address);
    CHECK(busiestWindow(sent, m.address, kHourMs) <= static_cast<std::size_t>(m.hourly_limit));
    CHECK(busiestWindow(sent, m.address, kDayMs) <= static_cast<std::size_t>(m.daily_limit));
  }
  std::set<std::string> recipients;
  for (const Sent& s : sent) CHECK(recipients.insert(s.recipient).second);  // once each
}

TEST_CASE("the per-domain table is pruned with time: a day-old domain is forgotten") {
  // Regression: every recipient domain ever sent to stayed in memory.
  Mailbox busy = mailbox("a@acme.test", 1000000, 1000000);
  busy.domain_daily_limit = 1;
  SendGovernor governor;
  governor.configure({busy});
  const std::size_t domains = 10000;
  for (std::size_t i = 0; i < domains; ++i) {
    TimeMs at = kStart + static_cast<TimeMs>(i) * kSecondMs;
    governor.recordSend("a@acme.test", "d" + std::to_string(i) + ".test", at, "<m>");
  }
  // All within a day: every one still limits its domain, so none may go.
  CHECK(governor.domainsTracked("a@acme.test") == domains);
  CHECK(governor.nextFree("a@acme.test", "d0.test", kStart + kHourMs) == kStart + kDayMs);
  // Two days on, fresh domains: the table sheds the old ones as it grows.
  const TimeMs later = kStart + 2 * kDayMs;
  for (std::size_t i = 0; i < 3 * SendGovernor::kDomainsPruneSlack; ++i) {
    governor.recordSend("a@acme.test", "n" + std::to_string(i) + ".test",
                        later + static_cast<TimeMs>(i), "<m>");
  }
  CHECK(governor.domainsTracked("a@acme.test") <= 3 * SendGovernor::kDomainsPruneSlack);
  // A pruned domain is free again, as it was before pruning.
  CHECK(governor.nextFree("a@acme.test", "d0.test", later + kHourMs) == later + kHourMs);
  // Domains inside the day are never pruned: n0 still has its one send.
  CHECK(governor.nextFree("a@acme.test", "n0.test", later + kHourMs) == later + kDayMs);
}

TEST_CASE("a mailbox remembers at most a day of sends, compactly, however high its limits") {
  // Regression: with limits above its sends, a mailbox kept the time of every send it ever
  // made (8 bytes each, forever: 60 sends a second grew 1.7 MB an hour).
  Mailbox unlimited = mailbox("a@acme.test", 1000000000, 1000000000);
  SendGovernor governor;
  governor.configure({unlimited});
  // One send a second for three days; the bound: the exact times plus a day of minutes.
  const std::size_t bound = SendGovernor::kExactSendsMax + 24 * 60 + 1;
  std::size_t most = 0;
  TimeMs at = kStart;
  for (std::int64_t i = 0; i < 3 * kDayMs / kSecondMs; ++i) {
    at = kStart + i * kSecondMs;
    governor.recordSend("a@acme.test", "x.test", at, "<m>");
    most = std::max(most, governor.timesRemembered("a@acme.test"));
  }
  CHECK(most <= bound);
  CHECK(most >= SendGovernor::kExactSendsMax);  // the bound is reached, not just kept under
  // What `mailboxes` shows still counts them: exact for the hour (inside the exact times),
  // to the minute for the day; the report's hours to the minute.
  CHECK(governor.sentWithin("a@acme.test", kHourMs, at) == 3600);
  const std::size_t day = governor.sentWithin("a@acme.test", kDayMs, at);
  CHECK(day >= 86400);
  CHECK(day < 86400 + 60);
  std::vector<std::uint32_t> hours = governor.sentByHour("a@acme.test", 24, at);
  CHECK(hours.back() >= 3600);
  CHECK(hours.back() <= 3600 + 60);  // at most the sends of one minute more
  CHECK(hours[12] >= 3600);
  CHECK(hours[12] <= 3600 + 60);
}

TEST_CASE("a daily limit above the exact times is never exceeded and frees within a minute") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (std::int64_t limit : {SendGovernor::kExactSendsMax, SendGovernor::kExactSendsMax + 1,
                             SendGovernor::kExactSendsMax + 2345}) {
    CAPTURE(limit);
    SendGovernor governor;
    governor.configure({mailbox("a@acme.test", limit, 1000000000)});
    std::vector<TimeMs> sent;
    TimeMs now = kStart;
    std::size_t waits = 0;
    while (now < kStart + 3 * kDayMs) {
      TimeMs free_ms = governor.nextFree("a@acme.test", "x.test", now);
      // The exact answer: the limit-th most recent send plus a day.
      TimeMs exact = now;
      if (static_cast<std::int64_t>(sent.size()) >= limit) {
        exact = std::max(now, sent[sent.size() - static_cast<std::size_t>(limit)] + kDayMs);
      }
      CHECK(free_ms >= exact);
      if (limit <= SendGovernor::kExactSendsMax) {
        CHECK(free_ms == exact);
      } else {
        CHECK(free_ms <= exact + kMinuteMs);
      }
      if (free_ms > now) ++waits;
      now = free_ms;
      governor.recordSend("a@acme.test", "x.test", now, "<m>");
      sent.push_back(now);
      now += static_cast<TimeMs>(random() % (10 * kSecondMs));
    }
    CHECK(waits > 0);  // the limit was reached, more than once a day
    std::size_t most = 0;
    for (std::size_t begin = 0, end = 0; end < sent.size(); ++end) {
      while (sent[end] - sent[begin] >= kDayMs) ++begin;
      most = std::max(most, end - begin + 1);
    }
    CHECK(most == static_cast<std::size_t>(limit));
  }
}
