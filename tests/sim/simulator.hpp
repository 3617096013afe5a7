// Simulator: seqd's runtime driven by one seeded scheduler under a simulated clock, in the
// manner of FoundationDB's simulation and TigerBeetle's VOPR, with the rules every run must
// keep checked after every step.
//
// What runs is the product: the Engine, the real LMDB store in a temp dir behind the
// FaultInjectingStore, the control commands through io/command_dispatch (as the runtime's
// engine thread calls them), and restarts through daemon/engine_start (the same start path as
// seqd: open, load, startEngine, then the first commitRound that hands out re-deliveries).
// What is simulated is what lies outside the process: the clock, the SMTP relay and the
// Maildir writer (the delivery workers), the mailboxes' inboxes, the operator, the config files
// a reload reads, and the power switch.
//
// One std::mt19937_64 seeded by the run's seed decides everything, in one thread, in event
// order (ties broken by the order events were scheduled), so a seed replays exactly: the same
// trace, whose FNV-1a hash each run prints. Events:
//   command      an operator command at a random moment (pause, resume, finish, remove,
//                re-add, retry, set-mailbox, add, activate, deactivate, events), by an admin,
//                the sequence's owner or a stranger (who must be refused and change nothing);
//                some are aimed at a contact's next send, to race it
//   answer       the relay's answer to a send: 2xx soon, 2xx late (after the engine moved on),
//                4xx, 5xx, or never (the data went through, no reply: the worker gives up
//                after the SMTP timeout with maybe_delivered); a Maildir write, or its failure
//   inbox        a reply, out-of-office or bounce arriving in the sending mailbox's inbox,
//                some timed to race the contact's next send; read by the next poll, applied,
//                committed, then marked (a crash in between reads it again)
//   reload       the sequences' files replaced by an edited version (steps added, removed,
//                reordered, waits changed) and `seqctl reload` with or without --force
//   crash        the process dies between rounds; or a store fault armed at a coming commit:
//                before it lands, after it landed (nothing acknowledged), or a failed sync;
//                the runtime exits on any such failed commit, and seqd starts again a little
//                later
//   fill, room   the disk (or LMDB's map) fills up, and room comes back minutes or hours
//                later; it stays full across restarts. The runtime's full-store mode runs as
//                seqd's does (daemon/engine_start.hpp: StoreRoom, commitRoundMindingRoom): the
//                round whose commit failed is refused whole, its intents dropped, the engine
//                built again from the store; then no due step, no inbox message applied,
//                nothing released, a write tried with each change and every
//                kStoreFullProbeMs (probe), until one succeeds
//   stop         SIGTERM: the round in flight is drained, no due work is taken any more,
//                each worker finishes the message it is on, every send no worker took comes
//                back not attempted (returned), the last commit; seqd starts again later
//   take         a worker taking a send that waited in the delivery pool's queue (some do,
//                for up to two seconds; those still waiting at a stop are returned)
//   round        the engine's own timer (its next due step)
//   committed    the committer finishing the round in flight (seqd's round end is pipelined
//                one round deep, daemon/engine_start.hpp: RoundPipeline, here over an
//                InlineCommitter): each batch is committed at a seed-chosen point, at once
//                (before the next round's work) or a little later (other events' rounds
//                decided meanwhile: as the runtime's runRound, a round that ends while the
//                commit is in flight is not ended but goes on into the next); then the engine
//                thread wakes, answers it and delivers its sends before it decides the next
//                round. A crash with a commit in flight lands it or not (seed), and answers
//                nothing of it or of the rounds that went on
//
// Invariants (checked at each send the relay or the Maildir sees, after each round, and at
// each start):
//   - no email for a contact after an acknowledged stop: pause, finish, remove, reply,
//     unsubscribe (never again), bounce, a blocked stage, the sequence deactivated; sends
//     released before the stop may still land (SPEC §3: a released send stays out), a stop
//     is lifted only by an acknowledged resume, add or retry naming the contact;
//   - a stopped enrollment is never running (scheduled or active) again by itself;
//   - no (contact, sequence, step) email accepted twice by the relay or landed twice, but
//     after a `retry` that said it may duplicate;
//   - each mailbox's hourly and daily limits, over rolling windows of the send times;
//   - each send inside its sending window, in the contact's zone (the tz database through the
//     date library, checked independently of engine/calendar);
//   - nothing of a round (answers, sends, inbox marks) before its commit returned ok;
//   - nothing acknowledged lost at a start: every step recorded done in a commit is still
//     done, every enrollment acknowledged is there; a refused command changes nothing;
//   - done steps never shrink;
//   - while the store is full: no send released (but a Maildir re-delivery of one released
//     before), no command that changed something answered ok, nothing acknowledged lost when
//     the engine is built again from the store, and once room comes back seqd writes again
//     within kStoreFullProbeMs and sending resumes.
//
// Thread-safety: single-threaded test code.
#pragma once

#include <date/tz.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "daemon/engine_start.hpp"
#include "engine/engine.hpp"
#include "engine/message.hpp"
#include "engine/render.hpp"
#include "io/command_dispatch.hpp"
#include "io/fault_injecting_store.hpp"
#include "io/store.hpp"
#include "temp_dir.hpp"

namespace seqd::sim {

namespace json = boost::json;

inline constexpr DurationMs kSmtpTimeoutMs = 60 * 1000;
inline constexpr std::size_t kSmtpWorkers = 2;  // SMTP slots, as the runtime's freeSlots()
inline constexpr std::size_t kIdempotentSlots = 64;
inline constexpr DurationMs kInboxPollMs = 60 * 1000;
inline constexpr DurationMs kTickMs = 100;
// A round that finds the engine due again at once moves the clock by a tick (as the runtime
// sleeps at least 1 ms); this many in a row without an event is a livelock.
inline constexpr int kSpinRoundsMax = 100000;
inline constexpr std::size_t kTraceTailLines = 80;

// What the environment sets for a run (simulation_test.cpp).
struct SimOptions {
  int days = 10;
  bool trace = false;  // print every trace line as it happens
};

struct SimResult {
  std::uint64_t seed = 0;
  std::uint64_t trace_hash = 0;
  std::vector<std::string> violations;
  std::vector<std::string> trace_tail;
  double simulated_days = 0;
  std::size_t rounds = 0;
  std::size_t sends = 0;
  std::size_t crashes = 0;
  std::size_t stops = 0;     // SIGTERM
  std::size_t returned = 0;  // sends returned not attempted at a stop
  std::size_t store_faults = 0;
  std::size_t store_full_periods = 0;  // the disk filled up
  std::size_t full_refusals = 0;       // rounds refused for want of room
  std::size_t full_resumes = 0;        // the runtime wrote again after a full store
  std::size_t sends_after_full = 0;    // sends released after such a resume
  std::size_t reloads = 0;
  std::size_t commands = 0;
  std::size_t inbox_messages = 0;
  std::size_t late_answers = 0;
  std::size_t never_answers = 0;
  DurationMs release_delay_ms_max = 0;  // the longest a decided send waited for a worker
};

// The seeded choice of everything.
class SimRandom {
 public:
  explicit SimRandom(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() { return engine_(); }
  // 0..n-1. REQUIRES: n > 0.
  std::uint64_t below(std::uint64_t n) { return engine_() % n; }
  std::int64_t between(std::int64_t low, std::int64_t high) {
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low + 1)));
  }
  bool percent(int chance) { return below(100) < static_cast<std::uint64_t>(chance); }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  std::mt19937_64 engine_;
};

// ---------------------------------------------------------------------------------------
// The scenario: config, contacts, and the edited versions of the sequences a reload reads.

struct SimScenario {
  TimeMs start_ms = 0;
  Schedule schedule;
  std::vector<Mailbox> mailboxes;
  std::vector<std::vector<Sequence>> versions;  // versions[v] = every sequence in version v
  std::vector<std::string> sequence_ids;
  std::vector<std::string> contacts;           // keys
  std::map<std::string, std::string> zone_of;  // contact -> IANA zone ("" : the schedule's)
  std::map<std::string, json::object> row_of;  // contact -> import row fields
  std::set<std::string> blocked_stages = {"disqualified"};

  EngineSettings settings(std::size_t version) const {
    EngineSettings result;
    for (const Sequence& sequence : versions[version]) result.sequences[sequence.id] = sequence;
    result.schedules[schedule.name] = schedule;
    result.mailboxes = mailboxes;
    result.tick_ms = kTickMs;
    result.ooo_default_pause_ms = 3 * kDayMs;
    // Tiny checkpoints, so crashes fall before, inside and after them and starts read the
    // table and the journal's tail.
    result.checkpoint_snapshots_min = 8;
    result.checkpoint_slice_max = 4;
    return result;
  }
  const Sequence& sequence(std::size_t version, const std::string& id) const {
    for (const Sequence& sequence : versions[version]) {
      if (sequence.id == id) return sequence;
    }
    FAIL("no sequence " << id);
    return versions[0][0];
  }
};

inline Step simStep(const std::string& id, DurationMs wait_ms, bool business_days) {
  Step step;
  step.id = id;
  step.type = StepType::kAutoEmail;
  step.wait_business_days = business_days;
  step.wait_ms = wait_ms;
  step.subject = "About " + id + ", {{first_name|there}}";
  step.body = "Hello {{first_name}}, step " + id + ".";
  return step;
}

inline DurationMs simWait(SimRandom& random, bool& business_days) {
  static const std::vector<DurationMs> kWaits = {0,      10 * kMinuteMs, 2 * kHourMs,
                                                 kDayMs, 2 * kDayMs,     3 * kDayMs};
  business_days = random.percent(15);
  if (business_days) return random.between(1, 2);
  return random.pick(kWaits);
}

// An edited copy: steps reordered, removed, added, waits changed.
inline Sequence editSequence(const Sequence& base, SimRandom& random, int version) {
  Sequence edited = base;
  std::vector<Step>& steps = edited.steps;
  const int edits = static_cast<int>(random.between(1, 3));
  for (int i = 0; i < edits; ++i) {
    switch (random.below(4)) {
      case 0:
        if (steps.size() > 1) {
          std::swap(steps[random.below(steps.size())], steps[random.below(steps.size())]);
        }
        break;
      case 1:
        if (steps.size() > 1) steps.erase(steps.begin() + random.below(steps.size()));
        break;
      case 2: {
        bool business_days = false;
        const DurationMs wait_ms = simWait(random, business_days);
        steps.insert(steps.begin() + random.below(steps.size() + 1),
                     simStep("v" + std::to_string(version) + "-" + std::to_string(i), wait_ms,
                             business_days));
        break;
      }
      default: {
        Step& step = steps[random.below(steps.size())];
        bool business_days = false;
        step.wait_ms = simWait(random, business_days);
        step.wait_business_days = business_days;
      }
    }
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    steps[i].thread_previous = i > 0 && steps[i].thread_previous;
  }
  return edited;
}

inline SimScenario makeScenario(SimRandom& random) {
  SimScenario scenario;
  // December (no DST change in the northern zones, Sydney on summer time), and the weeks of
  // the US and EU spring-forward and the EU fall-back.
  static const std::vector<TimeMs> kStarts = {
      1796133600000,  // 2026-12-01T14:00:00Z
      1804651200000,  // 2027-03-10T02:00:00Z
      1806120000000,  // 2027-03-27T02:00:00Z
      1824616800000,  // 2027-10-28T02:00:00Z
  };
  scenario.start_ms = random.pick(kStarts) + random.between(0, 23) * kHourMs;
  static const std::vector<std::string> kZones = {
      "America/New_York", "Europe/Berlin",  "Asia/Tokyo",   "Australia/Sydney",
      "Asia/Kolkata",     "America/Denver", "Pacific/Apia", "Europe/London"};
  Schedule& schedule = scenario.schedule;
  schedule.name = "hours";
  schedule.timezone = random.pick(kZones);
  auto windows = [&](int first_day, int last_day, std::vector<LocalWindow> list) {
    for (int day = first_day; day <= last_day; ++day) schedule.windows[day] = list;
  };
  switch (random.below(5)) {
    case 0:  // business hours with lunch
      windows(1, 5, {{9 * 60, 12 * 60}, {13 * 60, 17 * 60}});
      break;
    case 1:  // every day, long
      windows(0, 6, {{8 * 60, 20 * 60}});
      break;
    case 2:  // crossing midnight on weekdays
      windows(1, 5, {{22 * 60, 26 * 60}});
      break;
    case 3:  // until 24:00, weekends too
      windows(0, 6, {{18 * 60, 24 * 60}});
      break;
    default:  // a short window, weekdays
      windows(1, 5, {{10 * 60, 11 * 60 + 30}});
  }
  if (random.percent(40)) {
    // A holiday a few days in, as a local date in whichever zone counts.
    const auto day = date::floor<date::days>(
        date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(scenario.start_ms)));
    const date::year_month_day ymd{day + date::days(random.between(1, 5))};
    schedule.holidays.push_back({static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                                 static_cast<unsigned>(ymd.day())});
  }

  Mailbox smtp1;
  smtp1.address = "sales1@acme.test";
  smtp1.name = "Sales One";
  smtp1.owner = "alice";
  smtp1.transport = Transport::kSmtp;
  smtp1.hourly_limit = random.between(2, 6);
  smtp1.daily_limit = random.between(smtp1.hourly_limit, 20);
  if (random.percent(30)) {
    smtp1.min_interval_ms = random.between(1, 10) * kMinuteMs;
    smtp1.jitter_ms = random.between(0, 5) * kMinuteMs;
  }
  Mailbox smtp2 = smtp1;
  smtp2.address = "sales2@acme.test";
  smtp2.name = "Sales Two";
  smtp2.hourly_limit = random.between(1, 8);
  smtp2.daily_limit = random.between(smtp2.hourly_limit, 30);
  if (random.percent(30)) smtp2.domain_daily_limit = random.between(2, 6);
  Mailbox maildir = smtp1;
  maildir.address = "notes@acme.test";
  maildir.name = "Notes";
  maildir.transport = Transport::kMaildir;
  maildir.hourly_limit = random.between(3, 12);
  maildir.daily_limit = random.between(maildir.hourly_limit, 40);
  scenario.mailboxes = {smtp1, smtp2, maildir};

  std::vector<Sequence> base;
  const std::vector<std::vector<std::string>> kSenders = {{"sales1@acme.test"},
                                                          {"sales1@acme.test", "sales2@acme.test"},
                                                          {"notes@acme.test"},
                                                          {"sales2@acme.test", "notes@acme.test"}};
  for (const char* id : {"alpha", "beta"}) {
    Sequence sequence;
    sequence.id = id;
    sequence.name = id;
    sequence.owner = "alice";
    sequence.schedule = schedule.name;
    sequence.timezone_from_contact = random.percent(70);
    sequence.mailboxes = random.pick(kSenders);
    sequence.rules.finish_on = {"reply", "meeting_booked", "unsubscribe"};
    sequence.rules.block_stages = {"disqualified"};
    sequence.rules.pause_on_ooo = true;
    const int steps = static_cast<int>(random.between(2, 4));
    for (int i = 0; i < steps; ++i) {
      bool business_days = false;
      DurationMs wait_ms = i == 0 ? 0 : simWait(random, business_days);
      Step step = simStep(std::string(id) + "-" + std::to_string(i + 1), wait_ms, business_days);
      step.thread_previous = i > 0 && random.percent(30);
      sequence.steps.push_back(step);
    }
    scenario.sequence_ids.push_back(id);
    base.push_back(sequence);
  }
  scenario.versions.push_back(base);
  for (int version = 1; version <= 3; ++version) {
    std::vector<Sequence> edited;
    for (const Sequence& sequence : base) edited.push_back(editSequence(sequence, random, version));
    scenario.versions.push_back(edited);
  }

  const int contacts = static_cast<int>(random.between(5, 10));
  for (int i = 0; i < contacts; ++i) {
    const std::string key = "c" + std::to_string(i) + "@example" + std::to_string(i % 3) + ".test";
    scenario.contacts.push_back(key);
    const std::string zone = random.percent(20) ? "" : random.pick(kZones);
    scenario.zone_of[key] = zone;
    json::object fields{{"email", key}, {"score", std::to_string(random.between(0, 100))}};
    if (!random.percent(10)) fields["first_name"] = "C" + std::to_string(i);  // else not_sent
    if (!zone.empty()) fields["timezone"] = zone;
    fields["owner"] = random.percent(80) ? "alice" : "bob";
    scenario.row_of[key] = std::move(fields);
  }
  return scenario;
}

// ---------------------------------------------------------------------------------------
// Independent checks of the sending window (the date library over the system tz database).

class WindowChecker {
 public:
  explicit WindowChecker(const Schedule& schedule) : schedule_(schedule) {}

  // True when at_ms lies inside a window of `zone` (empty: the schedule's). A window belongs
  // to the local day it starts; one that crosses midnight reaches into the next day.
  bool open(const std::string& zone, TimeMs at_ms) {
    const std::string& name = zone.empty() ? schedule_.timezone : zone;
    const TimeMs minute = at_ms / kMinuteMs;
    auto cached = cache_.find({name, minute});
    if (cached != cache_.end()) return cached->second;
    const date::time_zone* tz = date::locate_zone(name);
    const auto local =
        tz->to_local(date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(at_ms)));
    const auto day = date::floor<date::days>(local);
    const int minute_of_day =
        static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(local - day).count());
    bool result = false;
    for (int back = 0; back <= 1 && !result; ++back) {
      const auto window_day = day - date::days(back);
      const date::year_month_day ymd{window_day};
      const LocalDate local_date{static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                                 static_cast<unsigned>(ymd.day())};
      if (std::find(schedule_.holidays.begin(), schedule_.holidays.end(), local_date) !=
          schedule_.holidays.end()) {
        continue;
      }
      const unsigned weekday = date::weekday(window_day).c_encoding();
      const int at = minute_of_day + back * 24 * 60;
      for (const LocalWindow& window : schedule_.windows[weekday]) {
        if (window.start_minute <= at && at < window.end_minute) result = true;
      }
    }
    cache_.emplace(std::make_pair(name, minute), result);
    return result;
  }

 private:
  const Schedule& schedule_;
  std::map<std::pair<std::string, TimeMs>, bool> cache_;
};

// ---------------------------------------------------------------------------------------
// The simulation.

class Simulation {
 public:
  Simulation(std::uint64_t seed, SimOptions options)
      : seed_(seed),
        options_(options),
        random_(seed),
        scenario_(makeScenario(random_)),
        windows_(scenario_.schedule),
        dir_("seqd-sim") {
    result_.seed = seed;
    now_ = scenario_.start_ms;
    end_ms_ = now_ + options_.days * kDayMs;
  }

  SimResult run();

 private:
  enum class EventKind {
    kCommand,
    kAnswer,
    kInbox,
    kPoll,
    kReload,
    kCrash,
    kFault,
    kStart,
    kFill,
    kRoom,
    kProbe,
    kCommitted,
    kStop,
    kTake
  };
  struct Answer {
    std::uint64_t life = 0;
    DeliveryResult result;
    std::string message_id;  // the intent's, which the result does not carry
  };
  struct Event {
    TimeMs at_ms = 0;
    std::uint64_t order = 0;
    EventKind kind = EventKind::kCommand;
    Answer answer;           // kAnswer
    InboundMessage message;  // kInbox
    std::string contact;     // kCommand aimed at a contact (racing its send)
    std::string cmd;         // kCommand given in full (the set-up); empty: random
    json::object args;
    std::uint64_t life = 0;  // kTake: the life whose pool holds message_id
    std::string message_id;  // kTake
    bool operator>(const Event& other) const {
      return at_ms != other.at_ms ? at_ms > other.at_ms : order > other.order;
    }
  };
  // A send released to the delivery pool that no worker has taken yet.
  struct Waiting {
    DeliveryIntent intent;
    bool redelivery = false;
    TimeMs released_at_ms = 0;
  };
  // One process life: what a crash drops.
  struct Life {
    std::uint64_t number = 0;
    std::unique_ptr<FaultInjectingStore> store;
    std::unique_ptr<Engine> engine;
    std::size_t smtp_outstanding = 0;
    std::size_t idempotent_outstanding = 0;
    TimeMs started_ms = 0;
    StoreRoom room;  // the runtime's full-store mode
    std::unique_ptr<InlineCommitter> committer;
    std::unique_ptr<RoundPipeline> pipeline;
    // The round in flight was committed early (commitEarly) with the disk full or not.
    std::optional<bool> full_at_early_commit;
    bool stopping = false;  // SIGTERM came: no due work taken, nothing new to workers
    std::map<std::string, Waiting> pool_queue;  // by Message-ID
    std::map<std::string, Answer> answers_due;  // sends a worker is on, by Message-ID
  };
  using Pair = std::pair<std::string, std::string>;  // sequence, contact
  // What a round's callers learn once its end is known, in round order.
  struct RoundHooks {
    std::function<void(bool full_at_commit)> acknowledge;  // committed (or nothing to write)
    std::function<void()> unanswered;                      // failed, or seqd died with it
    std::function<void()> refused;                         // refused for want of room
  };
  // An enrollment as a round's batch holds it.
  struct PairState {
    EnrollmentStatus status = EnrollmentStatus::kScheduled;
    std::set<std::string> done;  // the steps done
  };
  using Snapshot = std::map<Pair, PairState>;  // no entry: no such enrollment
  struct Awaiting {
    std::uint64_t number = 0;
    RoundHooks hooks;
    Snapshot state;          // what its batch commits: checked once it is answered
    TimeMs taken_at_ms = 0;  // when the engine took its batch (and released its sends)
  };

  // --- the scheduler ---
  void schedule(Event event) {
    event.order = ++order_;
    events_.push(std::move(event));
  }
  void scheduleKind(EventKind kind, TimeMs at_ms) {
    Event event;
    event.kind = kind;
    event.at_ms = at_ms;
    schedule(std::move(event));
  }
  void trace(const std::string& line);
  std::string clock() const { return modelClock(now_); }
  std::string modelClock(TimeMs at_ms) const;

  // --- the process ---
  void start();
  void die(const std::string& why);
  void stop();  // SIGTERM, as the runtime's shutDown()
  void round(RoundHooks hooks = {}, bool first = false);
  // Answers the rounds that ended, oldest first; false when seqd died.
  // `early`: the first of them was committed early (commitEarly), with the disk full or not.
  bool finishRounds(std::vector<FinishedRound>& ended, std::optional<bool> early);
  void commitEarly();
  static RoundHooks mergedHooks(std::vector<RoundHooks> all);
  Snapshot snapshot() const;
  void recoverFromFullStore(const Status& error);
  void scheduleProbe();
  void checkResumes();
  void planWorld();
  void planFill(TimeMs fill_at);
  DeliverySlots freeSlots() const;

  // --- the outside world ---
  void handOver(const DeliveryIntent& intent, bool redelivery, bool full_at_commit);
  void workerTakes(const DeliveryIntent& intent, bool redelivery);
  void returnQueued();  // every send no worker took, back to the engine as not attempted
  void deliverAnswer(const Answer& answer);
  void arriveInInbox(const InboundMessage& message);
  void poll();
  void reload();
  void command(const Event& event);
  void unanswered(const std::string& cmd, const json::object& args);
  void handle(const Event& event);
  void armFault();

  // --- the oracle ---
  void acknowledge(const std::string& cmd, const json::object& args, const DispatchReply& reply);
  void checkSend(const DeliveryIntent& intent, const Pair& pair, bool redelivery);
  void checkState();  // the engine as it is (nothing decided and not answered)
  void checkState(const Snapshot& state);
  void checkStart();
  void checkCommitted();
  void noteCommitted(const Snapshot& state);
  void violation(const std::string& what);
  bool isStopped(const Pair& pair) const;

  Pair pairOf(const DeliveryIntent& intent) const;

  std::uint64_t seed_;
  SimOptions options_;
  SimRandom random_;
  SimScenario scenario_;
  WindowChecker windows_;
  seqd::testing::TempDir dir_;
  SimResult result_;
  TimeMs now_ = 0;
  TimeMs end_ms_ = 0;
  std::uint64_t order_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::unique_ptr<Life> life_;
  std::uint64_t lives_ = 0;
  std::size_t config_version_ = 0;    // the sequences' files on disk
  std::size_t accepted_version_ = 0;  // the config seqd took (at start, or reload)
  std::size_t running_version_ = 0;   // what the running engine has
  std::uint64_t builds_ = 0;          // engines built: each start and each full-store recovery
  std::deque<std::string> trace_tail_;
  std::uint64_t trace_hash_ = 0xcbf29ce484222325ULL;
  TimeMs advanced_at_ = INT64_MIN;  // when the engine last ran advanceTo

  // The inbox of each sending mailbox: what arrived, what was marked handled.
  std::vector<std::pair<TimeMs, InboundMessage>> inbox_;
  std::set<std::string> inbox_marked_;
  bool poll_scheduled_ = false;
  bool probe_scheduled_ = false;
  std::deque<Awaiting> awaiting_;  // rounds whose end is not known yet (at most two)
  // Rounds not ended while a commit was in flight: they go on into the next round to end.
  std::vector<RoundHooks> unended_;
  TimeMs released_at_ms_ = 0;  // when the sends being handed over were released

  // The disk: full (what ran out) across lives, until room comes back.
  std::optional<OutOfRoom> disk_full_;
  TimeMs room_back_at_ = INT64_MIN;
  bool resumed_once_ = false;  // the runtime wrote again after a full store
  std::uint64_t inbox_numbers_ = 0;

  // The relay's and the Maildir's side, across lives.
  std::map<std::string, int> delivered_;                // message id -> accepted or landed
  std::map<std::string, Pair> message_pair_;            // message id -> whose
  std::set<std::string> maildir_unanswered_;            // handed over, answer not yet taken
  std::map<std::string, std::uint64_t> handed_build_;   // message id -> engine build it left
  std::map<std::string, std::vector<TimeMs>> sends_;    // mailbox -> release times
  std::map<std::string, std::vector<TimeMs>> decided_;  // mailbox -> decision times
  std::map<std::string, std::map<std::string, std::vector<TimeMs>>> domain_sends_;

  // What the operator was told (acknowledged), across lives.
  std::map<Pair, bool> stopped_;
  std::set<std::string> opted_out_;
  std::set<std::string> blocked_;   // contacts in a blocked stage
  std::set<std::string> inactive_;  // sequences deactivated (or never activated)
  std::map<Pair, int> duplicate_allowance_;
  std::set<Pair> enrolled_;  // acknowledged added
  std::map<Pair, std::set<std::string>> committed_done_;
  std::map<Pair, std::set<std::string>> seen_done_;
};

}  // namespace seqd::sim
