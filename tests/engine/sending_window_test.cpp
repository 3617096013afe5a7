// Proves the engine sends only inside sending windows (engine/engine.hpp, "Sending windows"):
// a step goes at the first open instant of its schedule in the zone that counts, whatever
// made it due (its wait, a mailbox's free slot, a resume, an activation); `bd` waits count
// business days; a contact whose zone changes moves to the new window at once; status shows
// the real instant and explain names the gate. Expected instants are written out by hand
// from the tz database (America/New_York is UTC-5 in winter, Asia/Tokyo UTC+9 all year).
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"

using namespace seqd;
using seqd::testing::FakeStore;

namespace {

const Caller kAdmin{"root", true};

TimeMs at(const char* rfc3339) {
  Result<TimeMs> parsed = parseRfc3339(rfc3339);
  REQUIRE(parsed.isOk());
  return parsed.value();
}

// Mon-Fri 09:00-12:00 and 13:00-17:00 in New York, Monday 2026-12-07 a holiday; a sequence of
// two emails, the second `second_wait` after the first (bd when business_days).
EngineSettings businessHours(DurationMs second_wait, bool business_days,
                             std::uint32_t hourly_limit = 1000) {
  EngineSettings settings;
  Schedule schedule;
  schedule.name = "business-hours";
  schedule.timezone = "America/New_York";
  for (int day = 1; day <= 5; ++day) {
    schedule.windows[static_cast<std::size_t>(day)] = {LocalWindow{9 * 60, 12 * 60},
                                                       LocalWindow{13 * 60, 17 * 60}};
  }
  schedule.holidays = {LocalDate{2026, 12, 7}};
  settings.schedules[schedule.name] = schedule;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "alice";
  sequence.schedule = "business-hours";
  sequence.timezone_from_contact = true;
  sequence.mailboxes = {"a@acme.test"};
  for (const char* id : {"one", "two"}) {
    Step step;
    step.id = id;
    step.subject = std::string("Step ") + id;
    step.body = "Hi {{first_name|there}}";
    sequence.steps.push_back(step);
  }
  sequence.steps[1].wait_ms = second_wait;
  sequence.steps[1].wait_business_days = business_days;
  settings.sequences["s"] = sequence;
  Mailbox mailbox;
  mailbox.address = "a@acme.test";
  mailbox.name = "Sender";
  mailbox.daily_limit = 1000;
  mailbox.hourly_limit = hourly_limit;
  settings.mailboxes.push_back(mailbox);
  return settings;
}

struct Fixture {
  Engine engine;
  FakeStore store;

  Fixture(EngineSettings settings, TimeMs start_ms) : engine(std::move(settings), start_ms) {}

  std::vector<std::string> import(
      std::vector<std::vector<std::pair<std::string, std::string>>> contacts) {
    std::vector<ContactRow> rows;
    for (auto& fields : contacts) {
      ContactRow row;
      for (auto& [name, value] : fields) row.fields[name] = value;
      rows.push_back(row);
    }
    ImportResult imported = engine.upsertContacts(rows);
    REQUIRE(imported.errors.empty());
    commit();
    return imported.keys;
  }

  void commit() { store.commit(engine.takeBatch()); }

  // Advances minute by minute to until_ms, delivering every send at once; returns (contact
  // key, step id, send instant) of each.
  struct Sent {
    std::string contact;
    std::string step;
    TimeMs at_ms;
  };
  std::vector<Sent> run(TimeMs from_ms, TimeMs until_ms, DurationMs stride_ms = kMinuteMs) {
    std::vector<Sent> sent;
    for (TimeMs now = from_ms; now <= until_ms; now += stride_ms) {
      engine.advanceTo(now);
      std::vector<DeliveryIntent> intents = engine.takeIntents();
      commit();
      for (const DeliveryIntent& intent : intents) {
        const std::string key =
            store.state.enrollments[intent.enrollment_id].contact_key;  // snapshot committed
        sent.push_back({key, engine.findSequence("s")->steps[intent.step_index].id, now});
        engine.onDeliveryResult(
            {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
            now);
      }
      commit();
    }
    return sent;
  }

  TimeMs nextAt(const std::string& key) {
    Result<std::vector<StatusRow>> rows = engine.status("s", {});
    REQUIRE(rows.isOk());
    for (const StatusRow& row : rows.value()) {
      if (row.contact == key) return row.next_at_ms;
    }
    FAIL("no status row for " << key);
    return kNoTime;
  }
};

const Fixture::Sent* find(const std::vector<Fixture::Sent>& sent, const std::string& contact,
                          const std::string& step) {
  auto it = std::find_if(sent.begin(), sent.end(), [&](const Fixture::Sent& s) {
    return s.contact == contact && s.step == step;
  });
  return it == sent.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("a contact added on a Friday evening gets its email in its own next window") {
  // Friday 2026-12-04 18:00 New York = 23:00Z; Monday 12-07 is a holiday.
  const TimeMs friday_evening = at("2026-12-04T23:00:00Z");
  Fixture f(businessHours(kDayMs, false), friday_evening);
  auto keys = f.import({{{"email", "ny@x.test"}, {"timezone", "America/New_York"}},
                        {{"email", "tokyo@x.test"}, {"timezone", "Asia/Tokyo"}},
                        {{"email", "nozone@x.test"}}});
  REQUIRE(f.engine.activate("s", kAdmin, friday_evening).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, friday_evening).isOk());
  f.commit();
  // New York: Tuesday 12-08 09:00 EST. Tokyo: Friday 23:00Z is Saturday 08:00 JST; Monday
  // 12-07 is a holiday there too (a local date), so Tuesday 09:00 JST = Tuesday 00:00Z. No
  // zone: the schedule's, New York.
  CHECK(f.nextAt("ny@x.test") == at("2026-12-08T14:00:00Z"));
  CHECK(f.nextAt("tokyo@x.test") == at("2026-12-08T00:00:00Z"));
  CHECK(f.nextAt("nozone@x.test") == at("2026-12-08T14:00:00Z"));

  Result<std::string> why = f.engine.explain("s", "ny@x.test");
  REQUIRE(why.isOk());
  CHECK(why.value().find("due at 2026-12-04T23:00:00Z") != std::string::npos);
  CHECK(why.value().find("outside the window: next opens Tue 2026-12-08 09:00 America/New_York "
                         "(2026-12-08T14:00:00Z)") != std::string::npos);

  std::vector<Fixture::Sent> sent =
      f.run(friday_evening, at("2026-12-10T00:00:00Z"), 10 * kMinuteMs);
  REQUIRE(find(sent, "ny@x.test", "one") != nullptr);
  CHECK(find(sent, "ny@x.test", "one")->at_ms == at("2026-12-08T14:00:00Z"));
  CHECK(find(sent, "tokyo@x.test", "one")->at_ms == at("2026-12-08T00:00:00Z"));
  CHECK(find(sent, "nozone@x.test", "one")->at_ms == at("2026-12-08T14:00:00Z"));
  // 1d later: still inside the window on Wednesday.
  CHECK(find(sent, "ny@x.test", "two")->at_ms == at("2026-12-09T14:00:00Z"));
  CHECK(find(sent, "tokyo@x.test", "two")->at_ms == at("2026-12-09T00:00:00Z"));
}

TEST_CASE("a holiday is named by explain") {
  // Monday 2026-12-07 10:00 New York = 15:00Z, the holiday.
  const TimeMs holiday_morning = at("2026-12-07T15:00:00Z");
  Fixture f(businessHours(kDayMs, false), holiday_morning);
  auto keys = f.import({{{"email", "ny@x.test"}, {"timezone", "America/New_York"}}});
  REQUIRE(f.engine.activate("s", kAdmin, holiday_morning).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, holiday_morning).isOk());
  Result<std::string> why = f.engine.explain("s", "ny@x.test");
  REQUIRE(why.isOk());
  CHECK(why.value().find("holiday 2026-12-07 in America/New_York: next opens Tue 2026-12-08 "
                         "09:00") != std::string::npos);
  CHECK(f.nextAt("ny@x.test") == at("2026-12-08T14:00:00Z"));
}

TEST_CASE("a bd wait goes the next business day at the same local time, skipping a holiday") {
  // Friday 2026-12-04 10:30 New York = 15:30Z. 1bd: Monday is a holiday -> Tuesday 10:30.
  const TimeMs friday_morning = at("2026-12-04T15:30:00Z");
  Fixture f(businessHours(1, true), friday_morning);
  auto keys = f.import({{{"email", "ny@x.test"}, {"timezone", "America/New_York"}}});
  REQUIRE(f.engine.activate("s", kAdmin, friday_morning).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, friday_morning).isOk());
  std::vector<Fixture::Sent> sent = f.run(friday_morning, at("2026-12-09T00:00:00Z"));
  REQUIRE(find(sent, "ny@x.test", "one") != nullptr);
  CHECK(find(sent, "ny@x.test", "one")->at_ms == friday_morning);
  REQUIRE(find(sent, "ny@x.test", "two") != nullptr);
  CHECK(find(sent, "ny@x.test", "two")->at_ms == at("2026-12-08T15:30:00Z"));
}

TEST_CASE("a contact whose zone changes moves to the new local window at once") {
  const TimeMs friday_evening = at("2026-12-04T23:00:00Z");
  Fixture f(businessHours(kDayMs, false), friday_evening);
  auto keys = f.import({{{"email", "mover@x.test"}, {"timezone", "America/New_York"}}});
  REQUIRE(f.engine.activate("s", kAdmin, friday_evening).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, friday_evening).isOk());
  CHECK(f.nextAt("mover@x.test") == at("2026-12-08T14:00:00Z"));
  ContactRow zone;
  zone.fields = {{"timezone", "Asia/Tokyo"}};
  REQUIRE(f.engine.setContactFields("mover@x.test", zone).isOk());
  CHECK(f.nextAt("mover@x.test") == at("2026-12-08T00:00:00Z"));
  std::vector<Fixture::Sent> sent = f.run(friday_evening, at("2026-12-08T01:00:00Z"));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].at_ms == at("2026-12-08T00:00:00Z"));

  ContactRow typo;
  typo.fields = {{"timezone", "Asia/Tokio"}};
  Status refused = f.engine.setContactFields("mover@x.test", typo);
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK(refused.message().find("unknown time zone 'Asia/Tokio'") != std::string::npos);
  CHECK(f.engine.findContact("mover@x.test")->timezone() == "Asia/Tokyo");
}

TEST_CASE("import refuses a row with an unknown zone and keeps the good rows") {
  Fixture f(businessHours(kDayMs, false), at("2026-12-04T23:00:00Z"));
  ContactRow good, bad;
  good.line = 2;
  good.fields = {{"email", "good@x.test"}, {"timezone", "Asia/Kolkata"}};
  bad.line = 3;
  bad.fields = {{"email", "bad@x.test"}, {"timezone", "Mars/Olympus_Mons"}};
  ImportResult imported = f.engine.upsertContacts({good, bad});
  CHECK(imported.imported == 1);
  REQUIRE(imported.errors.size() == 1);
  CHECK(imported.errors[0].line == 3);
  CHECK(imported.errors[0].reason.rfind("unknown time zone 'Mars/Olympus_Mons'", 0) == 0);
  CHECK(f.engine.findContact("bad@x.test") == nullptr);
}

TEST_CASE("a backlog that outlasts the window moves to the next opening, best scores first") {
  // Tuesday 2026-12-01 16:00 New York = 21:00Z: one hour of window left, 3 sends an hour.
  const TimeMs late_afternoon = at("2026-12-01T21:00:00Z");
  Fixture f(businessHours(kDayMs, false, 3), late_afternoon);
  std::vector<std::vector<std::pair<std::string, std::string>>> contacts;
  for (int score = 10; score <= 90; score += 10) {
    contacts.push_back({{"email", "p" + std::to_string(score) + "@x.test"},
                        {"score", std::to_string(score)},
                        {"timezone", "America/New_York"}});
  }
  auto keys = f.import(contacts);
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, late_afternoon).isOk());
  // Activated at 16:00 with nine due: three go now, the rest wait for Wednesday 09:00 (the
  // mailbox frees up at 17:00, when the window has closed), then three an hour.
  REQUIRE(f.engine.activate("s", kAdmin, late_afternoon).isOk());
  std::vector<Fixture::Sent> sent = f.run(late_afternoon, at("2026-12-02T18:00:00Z"));
  std::vector<Fixture::Sent> first;
  std::copy_if(sent.begin(), sent.end(), std::back_inserter(first),
               [](const Fixture::Sent& s) { return s.step == "one"; });
  REQUIRE(first.size() == 9);
  for (std::size_t i = 0; i < first.size(); ++i) {
    CAPTURE(i);
    CHECK(first[i].contact == "p" + std::to_string(90 - 10 * static_cast<int>(i)) + "@x.test");
  }
  CHECK(first[2].at_ms == late_afternoon);
  CHECK(first[3].at_ms == at("2026-12-02T14:00:00Z"));  // Wednesday 09:00 EST
  for (const Fixture::Sent& s : sent) {
    // Every send inside 09:00-12:00 or 13:00-17:00 New York (UTC-5 in December).
    const TimeMs local_minute = ((s.at_ms - 5 * kHourMs) % kDayMs) / kMinuteMs;
    CAPTURE(s.contact);
    CHECK(((local_minute >= 9 * 60 && local_minute < 12 * 60) ||
           (local_minute >= 13 * 60 && local_minute < 17 * 60)));
  }
}

TEST_CASE("a paused contact with an auto-resume keeps it when its score changes") {
  const TimeMs tuesday_morning = at("2026-12-01T14:00:00Z");
  Fixture f(businessHours(kDayMs, false), tuesday_morning);
  auto keys = f.import({{{"email", "p@x.test"}, {"score", "10"}}});
  REQUIRE(f.engine.activate("s", kAdmin, tuesday_morning).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, tuesday_morning).isOk());
  OperatorRequest pause;
  pause.action = OperatorAction::kPause;
  pause.contacts = {"p@x.test"};
  pause.at_ms = tuesday_morning + 2 * kHourMs;
  REQUIRE(f.engine.operate("s", pause, kAdmin, tuesday_morning).isOk());
  ContactRow score;
  score.fields = {{"score", "90"}};
  REQUIRE(f.engine.setContactFields("p@x.test", score).isOk());
  std::vector<Fixture::Sent> sent = f.run(tuesday_morning, tuesday_morning + 3 * kHourMs);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].at_ms == tuesday_morning + 2 * kHourMs);
  CHECK(f.engine.findEnrollment("s", "p@x.test")->done_steps.items() == std::vector<Symbol>{"one"});
}

TEST_CASE("a sequence activated at night sends nothing until its window opens") {
  // Tuesday 2026-12-01 23:00 New York = 12-02 04:00Z.
  const TimeMs night = at("2026-12-02T04:00:00Z");
  Fixture f(businessHours(kDayMs, false), night);
  auto keys = f.import({{{"email", "p@x.test"}}});
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, night).isOk());
  REQUIRE(f.engine.activate("s", kAdmin, night).isOk());
  CHECK(f.nextAt("p@x.test") == at("2026-12-02T14:00:00Z"));
  std::vector<Fixture::Sent> sent = f.run(night, at("2026-12-02T14:30:00Z"));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].at_ms == at("2026-12-02T14:00:00Z"));
}

TEST_CASE("a schedule edited by a reload applies to waiting contacts at once") {
  const TimeMs friday_evening = at("2026-12-04T23:00:00Z");
  Fixture f(businessHours(kDayMs, false), friday_evening);
  auto keys = f.import({{{"email", "p@x.test"}, {"timezone", "America/New_York"}}});
  REQUIRE(f.engine.activate("s", kAdmin, friday_evening).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, friday_evening).isOk());
  CHECK(f.nextAt("p@x.test") == at("2026-12-08T14:00:00Z"));
  EngineSettings edited = businessHours(kDayMs, false);
  edited.schedules["business-hours"].windows[6] = {LocalWindow{10 * 60, 11 * 60}};  // Saturday
  f.engine.reconfigure(edited, friday_evening);
  CHECK(f.nextAt("p@x.test") == at("2026-12-05T15:00:00Z"));
}

TEST_CASE("a stored zone the tz database does not know falls back to the schedule's") {
  // Import refuses such a zone; one can still come from a store written before that rule,
  // or from a tz database that dropped a name.
  const TimeMs friday_evening = at("2026-12-04T23:00:00Z");
  FakeStore store;
  {
    Fixture f(businessHours(kDayMs, false), friday_evening);
    auto keys = f.import({{{"email", "lost@x.test"}, {"timezone", "Asia/Tokyo"}}});
    REQUIRE(f.engine.activate("s", kAdmin, friday_evening).isOk());
    REQUIRE(f.engine.add("s", keys, {}, kAdmin, friday_evening).isOk());
    f.commit();
    store = f.store;
  }
  REQUIRE(store.state.contacts.size() == 1);
  Contact lost = store.state.contacts[0]->unpack();
  lost.timezone = "Mars/Olympus_Mons";
  store.state.contacts[0] = PackedContact::pack(lost);
  Fixture f(businessHours(kDayMs, false), friday_evening);
  REQUIRE(f.engine.restore(store.state, friday_evening).isOk());
  CHECK(f.nextAt("lost@x.test") == at("2026-12-08T14:00:00Z"));  // New York's Tuesday 09:00
}

// A Maildir send released in its window whose result a crash lost, at a restart after the
// window closed: it may never have landed (a crash between the commit that released it and
// its hand-off), so it is delivered again when the window opens, not at once.
struct HeldRedelivery {
  EngineSettings settings = businessHours(kDayMs, false);
  FakeStore store;
  // Friday 2026-12-04 16:59 New York; the restart at 17:30, after the window closed. Monday
  // 12-07 is a holiday: it opens again on Tuesday 09:00.
  const TimeMs fired = at("2026-12-04T21:59:00Z");
  const TimeMs restart = at("2026-12-04T22:30:00Z");
  const TimeMs opens = at("2026-12-08T14:00:00Z");
  std::string message_id;

  HeldRedelivery() {
    Engine first(settings, fired);
    ContactRow row;
    row.fields = {{"email", "ny@x.test"}, {"timezone", "America/New_York"}};
    ImportResult imported = first.upsertContacts({row});
    REQUIRE(first.activate("s", kAdmin, fired).isOk());
    REQUIRE(first.add("s", imported.keys, {}, kAdmin, fired).isOk());
    first.advanceTo(fired);
    std::vector<DeliveryIntent> released = first.takeIntents();
    REQUIRE(released.size() == 1);
    message_id = released[0].messageId();
    store.commit(first.takeBatch());  // released; then the crash
  }
};

TEST_CASE("a Maildir send a crash left without a result goes again when its window opens") {
  HeldRedelivery held;
  Engine second(held.settings, held.restart);
  REQUIRE(second.restore(held.store.state, held.restart).isOk());
  CHECK(second.takeIntents().empty());
  CHECK(second.deliveriesInFlight() == 0);  // a stop does not wait for it
  REQUIRE(second.nextDue().has_value());
  CHECK(*second.nextDue() == held.opens);
  second.advanceTo(held.opens - kMinuteMs);
  CHECK(second.takeIntents().empty());
  held.store.commit(second.takeBatch());

  second.advanceTo(held.opens);
  std::vector<DeliveryIntent> again = second.takeIntents();
  REQUIRE(again.size() == 1);
  CHECK(again[0].messageId() == held.message_id);
  CHECK(again[0].redelivery);
  CHECK(second.deliveriesInFlight() == 1);
  // Counted from when it is written again, in the log too.
  WriteBatch batch = second.takeBatch();
  REQUIRE(testing::countRedelivered(batch.progress) == 1);
  CHECK(batch.progress.front().at_ms == held.opens);
}

TEST_CASE("a held Maildir send of a contact finished before its window opens is not sent") {
  HeldRedelivery held;
  Engine second(held.settings, held.restart);
  REQUIRE(second.restore(held.store.state, held.restart).isOk());
  OperatorRequest finish;
  finish.action = OperatorAction::kFinish;
  finish.contacts = {"ny@x.test"};
  REQUIRE(second.operate("s", finish, kAdmin, held.restart).isOk());
  second.advanceTo(held.opens);
  CHECK(second.takeIntents().empty());
  CHECK(second.deliveriesInFlight() == 0);
  const Enrollment* finished = second.findEnrollment("s", "ny@x.test");
  CHECK(finished->status == EnrollmentStatus::kFinished);
  CHECK_FALSE(finished->sending);
  CHECK(second.extrasOf(*finished).unresolved.get(Symbol("one")) ==
        "interrupted");  // it may have landed
}

TEST_CASE("a held Maildir send whose mailbox or step a reload removed is not sent: interrupted") {
  HeldRedelivery held;
  Engine second(held.settings, held.restart);
  REQUIRE(second.restore(held.store.state, held.restart).isOk());
  EngineSettings edited = held.settings;
  SUBCASE("the mailbox") {
    Mailbox other = edited.mailboxes[0];
    other.address = "b@acme.test";
    edited.mailboxes = {other};
    edited.sequences["s"].mailboxes = {"b@acme.test"};
  }
  SUBCASE("the step") {
    std::vector<Step>& steps = edited.sequences["s"].steps;
    steps.erase(steps.begin());  // "one", the step it was sending
  }
  second.reconfigure(edited, held.restart);
  second.advanceTo(held.opens);
  for (const DeliveryIntent& intent : second.takeIntents()) {
    CHECK(intent.messageId() != held.message_id);  // never the held one, from any mailbox
    CHECK_FALSE(intent.redelivery);
  }
  const Enrollment* enrollment = second.findEnrollment("s", "ny@x.test");
  REQUIRE(enrollment != nullptr);
  CHECK_FALSE(enrollment->sending);
  CHECK(second.extrasOf(*enrollment).unresolved.get(Symbol("one")) ==
        "interrupted");  // it may have landed
  WriteBatch batch = second.takeBatch();
  CHECK(testing::countRedelivered(batch.progress) == 0);
}

TEST_CASE("a send that waits for a worker past its window's close is decided again when it opens") {
  // Friday 2026-12-04 16:59 New York; every worker busy until 17:01, after the window closed.
  const TimeMs fired = at("2026-12-04T21:59:00Z");
  const TimeMs closed = at("2026-12-04T22:01:00Z");
  const TimeMs opens = at("2026-12-08T14:00:00Z");
  Fixture f(businessHours(kDayMs, false), fired);
  auto keys = f.import({{{"email", "ny@x.test"}, {"timezone", "America/New_York"}}});
  REQUIRE(f.engine.activate("s", kAdmin, fired).isOk());
  REQUIRE(f.engine.add("s", keys, {}, kAdmin, fired).isOk());
  f.engine.advanceTo(fired);
  CHECK(f.engine.takeIntents(DeliverySlots{0, 0}, fired).empty());  // no worker has room
  CHECK(f.engine.queuedIntents() == 1);
  CHECK(f.engine.takeIntents(DeliverySlots{}, closed).empty());
  CHECK(f.engine.queuedIntents() == 0);
  CHECK(f.engine.deliveriesInFlight() == 0);
  f.commit();
  CHECK(testing::countProgress(f.store.state.progress, ProgressKind::kStepFired) == 0);
  CHECK(f.nextAt("ny@x.test") == opens);
  f.engine.advanceTo(opens);
  std::vector<DeliveryIntent> sent = f.engine.takeIntents(DeliverySlots{}, opens);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].fired_at_ms == opens);  // decided again: its Date is the window's opening
}
