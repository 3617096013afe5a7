// Proves the operator commands and contact events move enrollments as SPEC §3 says: pause
// stops sending and auto-resumes on time, remove keeps progress for a re-add, finish and
// replies stop for good, retry re-sends the step that failed, and every change survives a
// restart rebuilt from the write batches. A delivery result that comes back after an
// operator stopped the contact never changes its status (engine/engine.hpp's table), and a
// reload keeps progress by step id.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "engine/render.hpp"

using namespace seqd;
using seqd::testing::countProgress;
using seqd::testing::FakeStore;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kAdmin{"root", true};

EngineSettings threeEmails() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "alice";
  sequence.mailboxes = {"a@acme.test", "b@acme.test"};
  sequence.rules.finish_on = {"reply", "meeting_booked", "unsubscribe"};
  sequence.rules.block_stages = {"disqualified"};
  const char* ids[] = {"one", "two", "three"};
  for (int i = 0; i < 3; ++i) {
    Step step;
    step.id = ids[i];
    step.wait_ms = i == 0 ? 0 : kDayMs;
    step.subject = std::string("Step ") + ids[i];
    step.body = "Hi {{first_name|there}}";
    sequence.steps.push_back(step);
  }
  settings.sequences["s"] = sequence;
  for (const char* address : {"a@acme.test", "b@acme.test"}) {
    Mailbox mailbox;
    mailbox.address = address;
    mailbox.name = "Sender";
    mailbox.daily_limit = 1000000;
    mailbox.hourly_limit = 1000000;
    settings.mailboxes.push_back(mailbox);
  }
  settings.ooo_default_pause_ms = 7 * kDayMs;
  return settings;
}

struct Fixture {
  Engine engine{threeEmails(), kStart};
  FakeStore store;

  Fixture() {
    ContactRow first, second;
    first.fields = {{"email", "x@x.test"}, {"first_name", "X"}, {"score", "50"}};
    second.fields = {{"email", "y@x.test"}, {"first_name", "Y"}, {"score", "40"}};
    ImportResult imported = engine.upsertContacts({first, second});
    REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
    REQUIRE(engine.add("s", imported.keys, {}, kAdmin, kStart).isOk());
    commit();
  }

  void commit() { store.commit(engine.takeBatch()); }

  // Advances and releases what fell due, committing its records (the sends are then out,
  // unanswered).
  std::vector<DeliveryIntent> release(TimeMs now_ms) {
    engine.advanceTo(now_ms);
    std::vector<DeliveryIntent> intents = engine.takeIntents();
    commit();
    return intents;
  }

  void answer(const DeliveryIntent& intent, DeliveryOutcome outcome, TimeMs now_ms,
              const std::string& detail = "", bool maybe_delivered = false) {
    engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.send, outcome, detail,
                             intent.transport, maybe_delivered},
                            now_ms);
    commit();
  }

  // Advances and returns the recipients of the emails sent, acknowledging them.
  std::vector<std::string> advance(TimeMs now_ms) {
    std::vector<std::string> recipients;
    for (const DeliveryIntent& intent : release(now_ms)) {
      recipients.push_back(intent.recipient() + ":" + std::to_string(intent.step_index));
      engine.onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
          now_ms);
    }
    commit();
    return recipients;
  }

  ContactsResult operate(OperatorAction action, std::vector<std::string> contacts, TimeMs now_ms,
                         std::optional<TimeMs> at_ms = std::nullopt) {
    OperatorRequest request;
    request.action = action;
    request.contacts = std::move(contacts);
    request.at_ms = at_ms;
    Result<ContactsResult> result = engine.operate("s", request, kAdmin, now_ms);
    REQUIRE(result.isOk());
    commit();
    return result.value();
  }

  const Enrollment& of(const std::string& key) { return *engine.findEnrollment("s", key); }
};

}  // namespace

TEST_CASE("pause stops sending; resume picks up the same step") {
  Fixture f;
  CHECK(f.advance(kStart).size() == 2);
  ContactsResult paused = f.operate(OperatorAction::kPause, {"x@x.test"}, kStart + kHourMs);
  CHECK(paused.done == std::vector<std::string>{"x@x.test"});
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kPaused);
  CHECK(f.of("x@x.test").paused_reason == PauseReason::kManual);
  CHECK(f.advance(kStart + 3 * kDayMs) == std::vector<std::string>{"y@x.test:1"});
  CHECK(f.advance(kStart + 4 * kDayMs) == std::vector<std::string>{"y@x.test:2"});
  ContactsResult resumed = f.operate(OperatorAction::kResume, {"x@x.test"}, kStart + 5 * kDayMs);
  CHECK(resumed.done.size() == 1);
  // Overdue while paused: due now, not in a burst of every missed step.
  CHECK(f.advance(kStart + 5 * kDayMs) == std::vector<std::string>{"x@x.test:1"});
  CHECK(f.advance(kStart + 6 * kDayMs) == std::vector<std::string>{"x@x.test:2"});
}

TEST_CASE("pause --resume-at resumes by itself at that time, also after a restart") {
  Fixture f;
  f.advance(kStart);
  f.operate(OperatorAction::kPause, {"x@x.test"}, kStart, kStart + 3 * kDayMs);
  CHECK(f.engine.resumeAt(f.of("x@x.test")) == kStart + 3 * kDayMs);
  CHECK(f.advance(kStart + 2 * kDayMs) == std::vector<std::string>{"y@x.test:1"});
  Engine restarted(threeEmails(), kStart + 2 * kDayMs);
  REQUIRE(restarted.restore(f.store.state, kStart + 2 * kDayMs).isOk());
  restarted.advanceTo(kStart + 3 * kDayMs - 1000);
  CHECK(restarted.findEnrollment("s", "x@x.test")->status == EnrollmentStatus::kPaused);
  restarted.advanceTo(kStart + 3 * kDayMs);
  restarted.advanceTo(kStart + 3 * kDayMs);
  std::vector<DeliveryIntent> intents = restarted.takeIntents();
  // y's third step (due at 3d) and x's second step, resumed at 3d.
  REQUIRE(intents.size() == 2);
  CHECK(restarted.findEnrollment("s", "x@x.test")->status == EnrollmentStatus::kActive);
  for (const DeliveryIntent& intent : intents) {
    restarted.onDeliveryResult(
        {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
        kStart + 3 * kDayMs);
  }
  CHECK(restarted.findEnrollment("s", "x@x.test")->status == EnrollmentStatus::kScheduled);
  CHECK(restarted.findEnrollment("s", "x@x.test")->step_index == 2);
}

TEST_CASE("resume --at sets an auto-resume date instead of resuming now") {
  Fixture f;
  f.advance(kStart);
  f.operate(OperatorAction::kPause, {"x@x.test"}, kStart);
  f.operate(OperatorAction::kResume, {"x@x.test"}, kStart, kStart + 4 * kDayMs);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kPaused);
  CHECK(f.advance(kStart + 3 * kDayMs) == std::vector<std::string>{"y@x.test:1"});
  // x resumes at 4d and its overdue step goes out in score order with y's step due then.
  CHECK(f.advance(kStart + 4 * kDayMs) == std::vector<std::string>{"x@x.test:1", "y@x.test:2"});
}

TEST_CASE("remove keeps progress; re-adding resumes at the step after the last one done") {
  Fixture f;
  f.advance(kStart);
  f.operate(OperatorAction::kRemove, {"x@x.test"}, kStart + kHourMs);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kRemoved);
  CHECK(f.advance(kStart + 2 * kDayMs) == std::vector<std::string>{"y@x.test:1"});
  Result<AddResult> readded = f.engine.add("s", {"x@x.test"}, {}, kAdmin, kStart + 2 * kDayMs);
  REQUIRE(readded.isOk());
  CHECK(readded.value().added.size() == 1);
  CHECK(f.of("x@x.test").step_index == 1);
  CHECK(f.advance(kStart + 2 * kDayMs).empty());
  std::vector<std::string> sent = f.advance(kStart + 3 * kDayMs);
  CHECK(sent == std::vector<std::string>{"x@x.test:1", "y@x.test:2"});
}

TEST_CASE("finish stops for good with manual reason; unknown contacts are listed") {
  Fixture f;
  f.advance(kStart);
  OperatorRequest request;
  request.action = OperatorAction::kFinish;
  request.contacts = {"x@x.test", "nobody@x.test"};
  request.reason = "talked on the phone";
  Result<ContactsResult> result = f.engine.operate("s", request, kAdmin, kStart);
  REQUIRE(result.isOk());
  CHECK(result.value().done.size() == 1);
  REQUIRE(result.value().skipped.size() == 1);
  CHECK(result.value().skipped[0].reason == "unknown_contact");
  CHECK(f.of("x@x.test").finish_reason == "manual:talked on the phone");
  CHECK(f.advance(kStart + 5 * kDayMs) == std::vector<std::string>{"y@x.test:1"});
  request.contacts = {"nobody@x.test"};
  CHECK(f.engine.operate("s", request, kAdmin, kStart).status().code() == StatusCode::kNotFound);
  request.contacts = {"x@x.test"};
  CHECK(f.engine.operate("s", request, Caller{"mallory", false}, kStart).status().code() ==
        StatusCode::kPermissionDenied);
}

TEST_CASE("retry re-sends the step that was not sent, only for bounced or not_sent") {
  Fixture f;
  std::vector<DeliveryIntent> intents = f.release(kStart);
  REQUIRE(intents.size() == 2);
  f.answer(intents[0], DeliveryOutcome::kFailedPermanent, kStart, "550");
  f.answer(intents[1], DeliveryOutcome::kDelivered, kStart);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kBounced);
  CHECK(f.of("x@x.test").step_index == 0);
  ContactsResult retried =
      f.operate(OperatorAction::kRetry, {"x@x.test", "y@x.test"}, kStart + kHourMs);
  CHECK(retried.done == std::vector<std::string>{"x@x.test"});
  REQUIRE(retried.skipped.size() == 1);
  CHECK(retried.skipped[0].reason == "not_retryable:scheduled");
  CHECK(retried.may_duplicate.empty());  // a bounce never went out
  CHECK(f.advance(kStart + kHourMs) == std::vector<std::string>{"x@x.test:0"});
}

TEST_CASE("set-mailbox changes the send-from set for the next emails") {
  Fixture f;
  f.advance(kStart);
  OperatorRequest request;
  request.action = OperatorAction::kSetMailbox;
  request.contacts = {"x@x.test", "y@x.test"};
  request.mailboxes = {"b@acme.test"};
  REQUIRE(f.engine.operate("s", request, kAdmin, kStart).isOk());
  f.engine.advanceTo(kStart + kDayMs);
  for (const DeliveryIntent& intent : f.engine.takeIntents())
    CHECK(intent.mailbox() == "b@acme.test");
  request.mailboxes = {"nope@acme.test"};
  CHECK(f.engine.operate("s", request, kAdmin, kStart).status().code() == StatusCode::kNotFound);
}

TEST_CASE("events: reply finishes, unsubscribe also opts out, bounce marks bounced") {
  Fixture f;
  f.advance(kStart);
  ContactEvent reply{EventKind::kReply, "x@x.test", "", std::nullopt, ""};
  Result<EventResult> replied = f.engine.applyEvent(reply, kStart + kHourMs);
  REQUIRE(replied.isOk());
  REQUIRE(replied.value().changed.size() == 1);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kFinished);
  CHECK(f.of("x@x.test").finish_reason == "replied");
  ContactEvent unsubscribe{EventKind::kUnsubscribe, "Y@x.test", "", std::nullopt, ""};
  REQUIRE(f.engine.applyEvent(unsubscribe, kStart + kHourMs).isOk());
  CHECK(f.of("y@x.test").finish_reason == "unsubscribed");
  CHECK(f.engine.findContact("y@x.test")->emailOptOut());
  CHECK(f.advance(kStart + 5 * kDayMs).empty());
  ContactEvent unknown{EventKind::kBounce, "who@x.test", "", std::nullopt, ""};
  CHECK(f.engine.applyEvent(unknown, kStart).status().code() == StatusCode::kNotFound);
}

TEST_CASE("events: ooo pauses until the date or the default; a blocked stage stops emails") {
  Fixture f;
  f.advance(kStart);
  ContactEvent ooo{EventKind::kOoo, "x@x.test", "", std::nullopt, ""};
  REQUIRE(f.engine.applyEvent(ooo, kStart + kHourMs).isOk());
  CHECK(f.of("x@x.test").paused_reason == PauseReason::kOoo);
  CHECK(f.engine.resumeAt(f.of("x@x.test")) == kStart + kHourMs + 7 * kDayMs);
  ContactEvent until{EventKind::kOoo, "x@x.test", "", kStart + 2 * kDayMs, ""};
  REQUIRE(f.engine.applyEvent(until, kStart + kHourMs).isOk());
  CHECK(f.engine.resumeAt(f.of("x@x.test")) == kStart + 2 * kDayMs);
  ContactEvent stage{EventKind::kStage, "y@x.test", "", std::nullopt, "disqualified"};
  REQUIRE(f.engine.applyEvent(stage, kStart + kHourMs).isOk());
  CHECK(f.of("y@x.test").status == EnrollmentStatus::kNotSent);
  CHECK(f.of("y@x.test").not_sent_reason == "stage_blocked");
  CHECK(f.advance(kStart + 2 * kDayMs) == std::vector<std::string>{"x@x.test:1"});
  Result<std::string> explanation = f.engine.explain("s", "y@x.test");
  REQUIRE(explanation.isOk());
  CHECK(explanation.value().find("stage_blocked") != std::string::npos);
}

namespace {

using Sent = std::vector<std::string>;

// threeEmails() with a step inserted before position `at`.
EngineSettings withStepAt(std::size_t at, const std::string& id, DurationMs wait_ms) {
  EngineSettings settings = threeEmails();
  Step step;
  step.id = id;
  step.wait_ms = wait_ms;
  step.subject = "Step " + id;
  step.body = "Hi {{first_name|there}}";
  std::vector<Step>& steps = settings.sequences["s"].steps;
  steps.insert(steps.begin() + static_cast<long>(at), step);
  return settings;
}

}  // namespace

TEST_CASE("a late 4xx after pause does not reschedule the contact") {
  Fixture f;
  std::vector<DeliveryIntent> out = f.release(kStart);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].recipient() == "x@x.test");
  f.answer(out[1], DeliveryOutcome::kDelivered, kStart);
  f.operate(OperatorAction::kPause, {"x@x.test"}, kStart + kMinuteMs);
  f.answer(out[0], DeliveryOutcome::kFailedTemporary, kStart + 2 * kMinuteMs, "451 try later");
  CHECK(countProgress(f.store.state.progress, ProgressKind::kDeliveryFailed) == 1);  // recorded
  const Enrollment& x = f.of("x@x.test");
  CHECK(x.status == EnrollmentStatus::kPaused);
  CHECK(x.paused_reason == PauseReason::kManual);
  CHECK(x.step_index == 0);
  CHECK(x.done_steps.empty());
  CHECK_FALSE(x.sending);
  CHECK(f.engine.deliveriesInFlight() == 0);
  // Past every retry delay (5m, 30m, 2h): still paused, nothing sent.
  CHECK(f.advance(kStart + 3 * kHourMs).empty());
  CHECK(x.status == EnrollmentStatus::kPaused);
  // The email was not sent: it goes when the contact is resumed.
  f.operate(OperatorAction::kResume, {"x@x.test"}, kStart + 3 * kHourMs);
  CHECK(f.advance(kStart + 3 * kHourMs) == Sent{"x@x.test:0"});
  CHECK(x.status == EnrollmentStatus::kScheduled);
  CHECK(x.step_index == 1);

  // The same for a step with a wait: x's second email (due 1d after the first) is out when x
  // is paused, and its 4xx comes late.
  const TimeMs second_at = kStart + 3 * kHourMs + kDayMs;
  CHECK(f.advance(second_at - kHourMs) == Sent{"y@x.test:1"});
  out = f.release(second_at);
  REQUIRE(out.size() == 1);
  CHECK(out[0].recipient() == "x@x.test");
  f.operate(OperatorAction::kPause, {"x@x.test"}, second_at + kMinuteMs);
  f.answer(out[0], DeliveryOutcome::kFailedTemporary, second_at + 2 * kMinuteMs, "421 busy");
  CHECK(x.status == EnrollmentStatus::kPaused);
  CHECK(f.advance(second_at + 3 * kHourMs).empty());
  f.operate(OperatorAction::kResume, {"x@x.test"}, second_at + 3 * kHourMs);
  CHECK(x.status == EnrollmentStatus::kScheduled);
  CHECK(x.step_index == 1);
  // Regression: the step had fired, so it is due again at once on resume; once its whole 1d
  // wait was counted again from the resume.
  CHECK(x.next_at_ms == second_at + 3 * kHourMs);
}

TEST_CASE("a late 5xx after remove does not mark it bounced") {
  Fixture f;
  std::vector<DeliveryIntent> out = f.release(kStart);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].recipient() == "x@x.test");
  f.answer(out[1], DeliveryOutcome::kDelivered, kStart);
  f.operate(OperatorAction::kRemove, {"x@x.test"}, kStart + kMinuteMs);
  f.answer(out[0], DeliveryOutcome::kFailedPermanent, kStart + 2 * kMinuteMs, "550 no such user");
  CHECK(countProgress(f.store.state.progress, ProgressKind::kDeliveryFailed) == 1);  // recorded
  const Enrollment& x = f.of("x@x.test");
  CHECK(x.status == EnrollmentStatus::kRemoved);
  CHECK(x.done_steps.empty());
  CHECK(f.advance(kStart + 2 * kDayMs) == Sent{"y@x.test:1"});
  CHECK(x.status == EnrollmentStatus::kRemoved);
  // Added back, it reaches the step whose email bounced: bounced, never a second send by
  // itself; retry sends it again.
  Result<AddResult> readded = f.engine.add("s", {"x@x.test"}, {}, kAdmin, kStart + 2 * kDayMs);
  REQUIRE(readded.isOk());
  CHECK(readded.value().added.size() == 1);
  CHECK(f.advance(kStart + 2 * kDayMs).empty());
  CHECK(x.status == EnrollmentStatus::kBounced);
  CHECK(x.step_index == 0);
  ContactsResult retried = f.operate(OperatorAction::kRetry, {"x@x.test"}, kStart + 2 * kDayMs);
  CHECK(retried.done == Sent{"x@x.test"});
  CHECK(retried.may_duplicate.empty());
  CHECK(f.advance(kStart + 2 * kDayMs) == Sent{"x@x.test:0"});
}

TEST_CASE("a late interrupted result after finish changes nothing") {
  Fixture f;
  std::vector<DeliveryIntent> out = f.release(kStart);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].recipient() == "x@x.test");
  f.answer(out[1], DeliveryOutcome::kDelivered, kStart);
  OperatorRequest finish;
  finish.action = OperatorAction::kFinish;
  finish.contacts = {"x@x.test"};
  finish.reason = "closed won";
  REQUIRE(f.engine.operate("s", finish, kAdmin, kStart + kMinuteMs).isOk());
  f.commit();
  f.answer(out[0], DeliveryOutcome::kFailedTemporary, kStart + 2 * kMinuteMs,
           "connection lost after DATA", true);
  const Enrollment& x = f.of("x@x.test");
  CHECK(x.status == EnrollmentStatus::kFinished);
  CHECK(x.finish_reason == "manual:closed won");
  CHECK(x.not_sent_reason.empty());
  CHECK(x.next_at_ms == kNoTime);
  CHECK(f.engine.deliveriesInFlight() == 0);
  CHECK(f.advance(kStart + 5 * kDayMs) == Sent{"y@x.test:1"});
  CHECK(x.status == EnrollmentStatus::kFinished);
  ContactsResult retried = f.operate(OperatorAction::kRetry, {"x@x.test"}, kStart + 5 * kDayMs);
  REQUIRE(retried.skipped.size() == 1);
  CHECK(retried.skipped[0].reason == "not_retryable:finished");
}

TEST_CASE("a result after reply keeps the contact finished") {
  Fixture f;
  std::vector<DeliveryIntent> out = f.release(kStart);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].recipient() == "x@x.test");
  f.answer(out[1], DeliveryOutcome::kDelivered, kStart);
  ContactEvent reply{EventKind::kReply, "x@x.test", "", std::nullopt, ""};
  REQUIRE(f.engine.applyEvent(reply, kStart + kMinuteMs).isOk());
  f.commit();
  f.answer(out[0], DeliveryOutcome::kDelivered, kStart + 2 * kMinuteMs);
  const Enrollment& x = f.of("x@x.test");
  CHECK(x.status == EnrollmentStatus::kFinished);
  CHECK(x.finish_reason == "replied");
  CHECK(x.done_steps.items() == std::vector<Symbol>{"one"});  // delivered still marks the step done
  CHECK(f.advance(kStart + 5 * kDayMs) == Sent{"y@x.test:1"});
  CHECK(x.status == EnrollmentStatus::kFinished);
  CHECK(x.finish_reason == "replied");
}

TEST_CASE("resume while the send is still out waits on that send (no second intent)") {
  Fixture f;
  std::vector<DeliveryIntent> out = f.release(kStart);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].recipient() == "x@x.test");
  f.answer(out[1], DeliveryOutcome::kDelivered, kStart);
  f.operate(OperatorAction::kPause, {"x@x.test"}, kStart + kMinuteMs);
  f.operate(OperatorAction::kResume, {"x@x.test"}, kStart + 2 * kMinuteMs);
  const Enrollment& x = f.of("x@x.test");
  CHECK(x.status == EnrollmentStatus::kActive);
  const SendOut* send = f.engine.sendOut(x);
  REQUIRE(send != nullptr);
  CHECK(send->step == "one");
  CHECK(sendingMessageId(x, *send) == out[0].messageId());
  CHECK(f.release(kStart + kHourMs).empty());  // no second send of the same step
  CHECK(f.engine.deliveriesInFlight() == 1);
  f.answer(out[0], DeliveryOutcome::kDelivered, kStart + kHourMs);
  CHECK(x.status == EnrollmentStatus::kScheduled);
  CHECK(x.step_index == 1);
  CHECK(x.next_at_ms == kStart + kDayMs);  // counted from when the step fired
  CHECK(f.advance(kStart + kDayMs) == Sent{"x@x.test:1", "y@x.test:1"});
}

TEST_CASE("pause withdraws a queued unreleased send") {
  Fixture f;
  f.engine.advanceTo(kStart);
  CHECK(f.engine.queuedIntents() == 2);
  f.operate(OperatorAction::kPause, {"x@x.test"}, kStart);
  // Regression: the withdrawn send's queue entry was once still counted.
  CHECK(f.engine.queuedIntents() == 1);
  std::vector<DeliveryIntent> out = f.engine.takeIntents();
  f.commit();
  REQUIRE(out.size() == 1);
  CHECK(out[0].recipient() == "y@x.test");
  CHECK(countProgress(f.store.state.progress, ProgressKind::kStepFired) == 1);  // y's only
  const Enrollment& x = f.of("x@x.test");
  CHECK(x.status == EnrollmentStatus::kPaused);
  CHECK_FALSE(x.sending);
  CHECK(x.done_steps.empty());
  CHECK(f.engine.deliveriesInFlight() == 1);
  f.answer(out[0], DeliveryOutcome::kDelivered, kStart);
  // Resumed, the withdrawn step goes out (once).
  f.operate(OperatorAction::kResume, {"x@x.test"}, kStart + kHourMs);
  CHECK(f.advance(kStart + kHourMs) == Sent{"x@x.test:0"});
  CHECK(x.next_at_ms == kStart + kHourMs + kDayMs);

  // The same for a later step: y's second email is withdrawn at 1d and, resumed an hour later,
  // is back on its step, which was already due: it goes at once, not a whole wait later.
  f.engine.advanceTo(kStart + kDayMs);
  CHECK(f.engine.queuedIntents() == 1);
  f.operate(OperatorAction::kPause, {"y@x.test"}, kStart + kDayMs);
  CHECK(f.engine.takeIntents().empty());
  f.commit();
  CHECK(countProgress(f.store.state.progress, ProgressKind::kStepFired) == 2);
  f.operate(OperatorAction::kResume, {"y@x.test"}, kStart + kDayMs + kHourMs);
  const Enrollment& y = f.of("y@x.test");
  CHECK(y.status == EnrollmentStatus::kScheduled);
  CHECK(y.step_index == 1);
  // Regression: a withdrawn send's step is due from when it fell due (once its whole 1d
  // wait was counted again from the resume), like a contact paused just before it fired.
  CHECK(y.next_at_ms == kStart + kDayMs + kHourMs);
  Sent later;
  for (TimeMs now = kStart + kDayMs + kHourMs; now <= kStart + 4 * kDayMs; now += kHourMs) {
    Sent sent = f.advance(now);
    later.insert(later.end(), sent.begin(), sent.end());
  }
  CHECK(std::count(later.begin(), later.end(), "y@x.test:1") == 1);  // once, withdrawn or not
  CHECK(std::count(later.begin(), later.end(), "x@x.test:0") == 0);
}

// Found by the simulation (tests/sim, seed 1542): a send decided before `sequence deactivate`
// and still queued for a free worker went out after the deactivation was acknowledged.
TEST_CASE("deactivate withdraws a queued unreleased send; activation sends it once") {
  Fixture f;
  f.engine.advanceTo(kStart);
  REQUIRE(f.engine.queuedIntents() == 2);
  std::vector<DeliveryIntent> first = f.engine.takeIntents({SIZE_MAX, 1}, kStart);  // y waits
  f.commit();
  REQUIRE(first.size() == 1);
  REQUIRE(f.engine.deactivate("s", kAdmin).isOk());
  f.commit();
  CHECK(f.engine.queuedIntents() == 0);
  CHECK(f.engine.takeIntents({}, kStart).empty());
  f.commit();
  CHECK(countProgress(f.store.state.progress, ProgressKind::kStepFired) == 1);
  const std::string held = first[0].recipient() == "x@x.test" ? "y@x.test" : "x@x.test";
  CHECK(f.of(held).status == EnrollmentStatus::kScheduled);
  CHECK_FALSE(f.of(held).sending);
  f.answer(first[0], DeliveryOutcome::kDelivered, kStart + kMinuteMs);
  REQUIRE(f.engine.activate("s", kAdmin, kStart + kHourMs).isOk());
  f.commit();
  CHECK(f.advance(kStart + kHourMs) == Sent{held + ":0"});
}

// Found by the simulation (seed 29): sends decided at once but released as workers freed up
// were counted from the decision, so the relay saw more than hourly_limit in a rolling hour.
TEST_CASE("a send that waited for a worker counts against the limits from its release") {
  EngineSettings settings = threeEmails();
  for (Mailbox& mailbox : settings.mailboxes) mailbox.hourly_limit = 1;
  settings.sequences["s"].mailboxes = {"a@acme.test"};
  Engine engine(settings, kStart);
  FakeStore store;
  ContactRow row;
  row.fields = {{"email", "x@x.test"}, {"first_name", "X"}};
  ImportResult imported = engine.upsertContacts({row});
  REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
  REQUIRE(engine.add("s", imported.keys, {}, kAdmin, kStart).isOk());
  engine.advanceTo(kStart);
  REQUIRE(engine.queuedIntents() == 1);
  // No worker free for 10 minutes; then it leaves.
  CHECK(engine.takeIntents({0, 0}, kStart).empty());
  const TimeMs released_ms = kStart + 10 * kMinuteMs;
  std::vector<DeliveryIntent> out = engine.takeIntents({}, released_ms);
  REQUIRE(out.size() == 1);
  store.commit(engine.takeBatch());
  CHECK(out[0].fired_at_ms == kStart);
  // Counted from the release: the mailbox is free an hour after it, not after the decision.
  std::vector<MailboxRow> rows = engine.mailboxes(kStart + kHourMs + kMinuteMs);
  REQUIRE(!rows.empty());
  CHECK(rows[0].address == "a@acme.test");
  CHECK(rows[0].sent_last_hour == 1);
  CHECK(rows[0].next_free_ms == released_ms + kHourMs);
  // And from the log at a restart.
  bool found = false;
  for (const ProgressRecord& record : store.state.progress) {
    if (record.kind == ProgressKind::kStepFired) {
      CHECK(record.at_ms == released_ms);
      found = true;
    }
  }
  CHECK(found);
}

TEST_CASE("reload inserting a step before a sent step does not resend it and sends the new step") {
  Fixture f;
  CHECK(f.advance(kStart) == Sent{"x@x.test:0", "y@x.test:0"});
  ContactRow z_row;
  z_row.fields = {{"email", "z@x.test"}, {"first_name", "Z"}, {"score", "30"}};
  ImportResult z = f.engine.upsertContacts({z_row});
  REQUIRE(f.engine.add("s", z.keys, {}, kAdmin, kStart + 12 * kHourMs).isOk());
  CHECK(f.advance(kStart + 12 * kHourMs) == Sent{"z@x.test:0"});
  CHECK(f.advance(kStart + kDayMs) == Sent{"x@x.test:1", "y@x.test:1"});
  // x and y have sent one and two; z only one. Insert "new" before two.
  const TimeMs reload = kStart + kDayMs + kHourMs;
  EngineSettings edited = withStepAt(1, "new", kDayMs);
  ReloadPlan plan = f.engine.planReload(edited);
  CHECK(plan.needs_force.empty());
  REQUIRE(plan.moves.size() == 1);
  CHECK(plan.moves[0].sequence == "s");
  CHECK(plan.moves[0].from_step == "two");
  CHECK(plan.moves[0].to_step == "new");
  CHECK(plan.moves[0].contacts == 1);
  f.engine.reconfigure(edited, reload);
  f.commit();
  for (const char* key : {"x@x.test", "y@x.test"}) {
    CAPTURE(key);
    CHECK(f.of(key).status == EnrollmentStatus::kScheduled);
    CHECK(f.of(key).step_index == 3);  // three: the first step after the last one done
    CHECK(f.of(key).next_at_ms == kStart + 2 * kDayMs);
  }
  CHECK(f.of("z@x.test").step_index == 1);  // new, its wait counted from one
  CHECK(f.of("z@x.test").next_at_ms == kStart + 12 * kHourMs + kDayMs);
  Sent sent;
  std::string new_subject;
  for (TimeMs now = reload; now <= kStart + 10 * kDayMs; now += kHourMs) {
    f.engine.advanceTo(now);
    std::vector<DeliveryIntent> intents = f.engine.takeIntents();
    f.commit();
    for (const DeliveryIntent& intent : intents) {
      sent.push_back(intent.recipient() + ":" + std::to_string(intent.step_index));
      const std::string message = renderMessage(intent, "\n");
      if (message.find("X-Seqd-Step: new") != std::string::npos) {
        new_subject = message.substr(message.find("Subject: "), 17);
      }
      f.answer(intent, DeliveryOutcome::kDelivered, now);
    }
  }
  CHECK(sent == Sent{"z@x.test:1", "x@x.test:3", "y@x.test:3", "z@x.test:2", "z@x.test:3"});
  CHECK(new_subject == "Subject: Step new");
  for (const char* key : {"x@x.test", "y@x.test", "z@x.test"}) {
    CAPTURE(key);
    CHECK(f.of(key).status == EnrollmentStatus::kFinished);
    CHECK(f.of(key).finish_reason == "completed");
  }
  CHECK(f.of("x@x.test").done_steps.items() == std::vector<Symbol>{"one", "two", "three"});
  CHECK(f.of("z@x.test").done_steps.items() == std::vector<Symbol>{"one", "new", "two", "three"});
}

TEST_CASE("a sequence removed by reload and restored fires its due contacts without a restart") {
  Fixture f;
  CHECK(f.advance(kStart) == Sent{"x@x.test:0", "y@x.test:0"});
  EngineSettings without = threeEmails();
  without.sequences.clear();
  ReloadPlan plan = f.engine.planReload(without);
  REQUIRE(plan.needs_force.size() == 1);
  CHECK(plan.needs_force[0].find("'s'") != std::string::npos);
  f.engine.reconfigure(without, kStart + kHourMs);
  f.commit();
  CHECK_FALSE(f.engine.nextDue().has_value());
  CHECK(f.advance(kStart + 2 * kDayMs).empty());  // two was due at 1d: kept, idle
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kScheduled);
  CHECK(f.of("x@x.test").done_steps.items() == std::vector<Symbol>{"one"});
  f.engine.reconfigure(threeEmails(), kStart + 2 * kDayMs);
  f.commit();
  CHECK(f.advance(kStart + 2 * kDayMs) == Sent{"x@x.test:1", "y@x.test:1"});
  CHECK(f.advance(kStart + 3 * kDayMs) == Sent{"x@x.test:2", "y@x.test:2"});
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kFinished);
  CHECK(f.of("y@x.test").status == EnrollmentStatus::kFinished);
}

TEST_CASE("retry of interrupted reports may_duplicate") {
  Fixture f;
  std::vector<DeliveryIntent> out = f.release(kStart);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].recipient() == "x@x.test");
  // x waits on its send: the interrupted result makes it not_sent interrupted.
  f.answer(out[0], DeliveryOutcome::kFailedTemporary, kStart, "connection lost after DATA", true);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kNotSent);
  CHECK(f.of("x@x.test").not_sent_reason == "interrupted");
  // y was paused meanwhile: its step is marked unresolved and reaching it again after the
  // resume gives not_sent interrupted, never a second send by itself.
  f.operate(OperatorAction::kPause, {"y@x.test"}, kStart + kMinuteMs);
  f.answer(out[1], DeliveryOutcome::kFailedTemporary, kStart + 2 * kMinuteMs, "timeout", true);
  CHECK(f.of("y@x.test").status == EnrollmentStatus::kPaused);
  f.operate(OperatorAction::kResume, {"y@x.test"}, kStart + kHourMs);
  CHECK(f.advance(kStart + kHourMs).empty());
  CHECK(f.of("y@x.test").status == EnrollmentStatus::kNotSent);
  CHECK(f.of("y@x.test").not_sent_reason == "interrupted");
  OperatorRequest retry;
  retry.action = OperatorAction::kRetry;
  retry.all = true;
  Result<ContactsResult> retried = f.engine.operate("s", retry, kAdmin, kStart + 2 * kHourMs);
  REQUIRE(retried.isOk());
  f.commit();
  std::vector<std::string> done = retried.value().done;
  std::vector<std::string> may_duplicate = retried.value().may_duplicate;
  std::sort(done.begin(), done.end());
  std::sort(may_duplicate.begin(), may_duplicate.end());
  CHECK(done == Sent{"x@x.test", "y@x.test"});
  CHECK(may_duplicate == Sent{"x@x.test", "y@x.test"});
  CHECK(f.advance(kStart + 2 * kHourMs) == Sent{"x@x.test:0", "y@x.test:0"});
}
