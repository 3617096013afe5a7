// Proves the operator commands and contact events move enrollments as SPEC §3 says: pause
// stops sending and auto-resumes on time, remove keeps progress for a re-add, finish and
// replies stop for good, retry re-sends the step that failed, and every change survives a
// restart rebuilt from the write batches.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"

using namespace seqd;
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

  // Advances and returns the recipients of the emails sent, acknowledging them.
  std::vector<std::string> advance(TimeMs now_ms) {
    engine.advanceTo(now_ms);
    std::vector<std::string> recipients;
    for (const DeliveryIntent& intent : engine.takeIntents()) {
      recipients.push_back(intent.recipient + ":" + std::to_string(intent.step_index));
      engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.message_id,
                               DeliveryOutcome::kDelivered, ""},
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
  CHECK(f.of("x@x.test").paused_reason == "manual");
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
  CHECK(f.of("x@x.test").resume_at_ms == kStart + 3 * kDayMs);
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
  f.engine.advanceTo(kStart);
  std::vector<DeliveryIntent> intents = f.engine.takeIntents();
  REQUIRE(intents.size() == 2);
  f.engine.onDeliveryResult({intents[0].enrollment_id, intents[0].step_index, intents[0].message_id,
                             DeliveryOutcome::kFailedPermanent, "550"},
                            kStart);
  f.engine.onDeliveryResult({intents[1].enrollment_id, intents[1].step_index, intents[1].message_id,
                             DeliveryOutcome::kDelivered, ""},
                            kStart);
  f.commit();
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kBounced);
  CHECK(f.of("x@x.test").step_index == 0);
  ContactsResult retried =
      f.operate(OperatorAction::kRetry, {"x@x.test", "y@x.test"}, kStart + kHourMs);
  CHECK(retried.done == std::vector<std::string>{"x@x.test"});
  REQUIRE(retried.skipped.size() == 1);
  CHECK(retried.skipped[0].reason == "not_retryable:scheduled");
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
    CHECK(intent.mailbox == "b@acme.test");
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
  CHECK(f.engine.findContact("y@x.test")->email_opt_out);
  CHECK(f.advance(kStart + 5 * kDayMs).empty());
  ContactEvent unknown{EventKind::kBounce, "who@x.test", "", std::nullopt, ""};
  CHECK(f.engine.applyEvent(unknown, kStart).status().code() == StatusCode::kNotFound);
}

TEST_CASE("events: ooo pauses until the date or the default; a blocked stage stops emails") {
  Fixture f;
  f.advance(kStart);
  ContactEvent ooo{EventKind::kOoo, "x@x.test", "", std::nullopt, ""};
  REQUIRE(f.engine.applyEvent(ooo, kStart + kHourMs).isOk());
  CHECK(f.of("x@x.test").paused_reason == "ooo");
  CHECK(f.of("x@x.test").resume_at_ms == kStart + kHourMs + 7 * kDayMs);
  ContactEvent until{EventKind::kOoo, "x@x.test", "", kStart + 2 * kDayMs, ""};
  REQUIRE(f.engine.applyEvent(until, kStart + kHourMs).isOk());
  CHECK(f.of("x@x.test").resume_at_ms == kStart + 2 * kDayMs);
  ContactEvent stage{EventKind::kStage, "y@x.test", "", std::nullopt, "disqualified"};
  REQUIRE(f.engine.applyEvent(stage, kStart + kHourMs).isOk());
  CHECK(f.of("y@x.test").status == EnrollmentStatus::kNotSent);
  CHECK(f.of("y@x.test").not_sent_reason == "stage_blocked");
  CHECK(f.advance(kStart + 2 * kDayMs) == std::vector<std::string>{"x@x.test:1"});
  Result<std::string> explanation = f.engine.explain("s", "y@x.test");
  REQUIRE(explanation.isOk());
  CHECK(explanation.value().find("stage_blocked") != std::string::npos);
}
