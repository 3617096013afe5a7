// Proves manual steps create tasks for the contact's owner at creation time, the contact
// waits `active` until the task is completed or skipped, call steps skip Do-Not-Call
// contacts, and tasks survive a restart rebuilt from the progress log.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"

using namespace seqd;
using seqd::testing::FakeStore;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kAdmin{"root", true};

// email -> call (2d) -> email (1d)
EngineSettings callSequence() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "alice";
  sequence.mailboxes = {"a@acme.test"};
  Step intro;
  intro.id = "intro";
  intro.subject = "Hi {{first_name}}";
  intro.body = "Hello";
  Step call;
  call.id = "call";
  call.type = StepType::kCall;
  call.wait_ms = 2 * kDayMs;
  call.note = "Call about {{company}}";
  Step bump;
  bump.id = "bump";
  bump.wait_ms = kDayMs;
  bump.subject = "Bump";
  bump.body = "Bump";
  sequence.steps = {intro, call, bump};
  settings.sequences["s"] = sequence;
  Mailbox mailbox;
  mailbox.address = "a@acme.test";
  mailbox.name = "A";
  mailbox.daily_limit = 1000000;
  mailbox.hourly_limit = 1000000;
  settings.mailboxes = {mailbox};
  return settings;
}

struct Fixture {
  Engine engine{callSequence(), kStart};
  FakeStore store;

  void commit() {
    store.commit(engine.takeBatch());
    for (const DeliveryIntent& intent : engine.takeIntents()) {
      engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.message_id,
                               DeliveryOutcome::kDelivered, ""},
                              kStart);
    }
    store.commit(engine.takeBatch());
  }

  void addContact(const std::string& email, const std::string& owner, bool dnc = false) {
    ContactRow row;
    row.fields = {{"email", email}, {"first_name", "F"}, {"company", "Initech"}, {"score", "10"}};
    if (!owner.empty()) row.fields["owner"] = owner;
    if (dnc) row.fields["dnc"] = "true";
    ImportResult imported = engine.upsertContacts({row});
    AddOptions force;
    force.force = true;
    REQUIRE(engine.add("s", imported.keys, force, kAdmin, kStart).value().added.size() == 1);
  }
};

}  // namespace

TEST_CASE("a call step creates a task for the contact's owner; completing it moves on") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  f.addContact("y@x.test", "");
  f.engine.advanceTo(kStart);
  f.commit();
  f.engine.advanceTo(kStart + 2 * kDayMs);
  f.commit();
  std::vector<TaskRow> tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].owner == "bob");
  CHECK(tasks[1].owner == "alice");  // no contact owner: the sequence's
  CHECK(tasks[0].type == "call");
  CHECK(tasks[0].note == "Call about Initech");
  CHECK(tasks[0].state == "open");
  CHECK(tasks[0].due_at_ms == kStart + 2 * kDayMs);
  CHECK(f.engine.findEnrollment("s", "x@x.test")->status == EnrollmentStatus::kActive);
  f.engine.advanceTo(kStart + 10 * kDayMs);  // waiting for the task: nothing happens
  CHECK(f.engine.takeIntents().empty());

  CHECK(f.engine.finishTask(tasks[0].id, false, Caller{"mallory", false}, kStart).code() ==
        StatusCode::kPermissionDenied);
  REQUIRE(
      f.engine.finishTask(tasks[0].id, false, Caller{"bob", false}, kStart + 10 * kDayMs).isOk());
  CHECK(f.engine.finishTask(tasks[0].id, false, kAdmin, kStart).code() ==
        StatusCode::kFailedPrecondition);
  const Enrollment* x = f.engine.findEnrollment("s", "x@x.test");
  CHECK(x->status == EnrollmentStatus::kScheduled);
  CHECK(x->step_index == 2);
  CHECK(x->next_at_ms == kStart + 11 * kDayMs);  // the bump's wait counts from completion
  REQUIRE(
      f.engine.finishTask(tasks[1].id, true, Caller{"alice", false}, kStart + 10 * kDayMs).isOk());
  CHECK(f.engine.tasks({})[1].state == "skipped");
  f.engine.advanceTo(kStart + 11 * kDayMs);
  CHECK(f.engine.takeIntents().size() == 2);
}

TEST_CASE("a call step for a Do-Not-Call contact is skipped without a task") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("dnc@x.test", "", true);
  f.engine.advanceTo(kStart);
  f.engine.advanceTo(kStart + 2 * kDayMs);
  CHECK(f.engine.tasks({}).empty());
  const Enrollment* enrollment = f.engine.findEnrollment("s", "dnc@x.test");
  CHECK(enrollment->step_index == 2);
  CHECK(enrollment->next_at_ms == kStart + 3 * kDayMs);
}

TEST_CASE("an owner change sends new tasks to the new owner; old tasks keep theirs") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  f.engine.advanceTo(kStart);
  f.engine.advanceTo(kStart + 2 * kDayMs);
  ContactRow change;
  change.fields = {{"owner", "carol"}};
  REQUIRE(f.engine.setContactFields("x@x.test", change).isOk());
  CHECK(f.engine.tasks({}).at(0).owner == "bob");
  TaskFilter carol;
  carol.owner = "carol";
  CHECK(f.engine.tasks(carol).empty());
}

TEST_CASE("tasks and the waiting contact survive a restart with the same ids") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  f.addContact("y@x.test", "bob");
  f.engine.advanceTo(kStart);
  f.commit();
  f.engine.advanceTo(kStart + 2 * kDayMs);
  f.commit();
  std::vector<TaskRow> before = f.engine.tasks({});
  REQUIRE(before.size() == 2);
  REQUIRE(f.engine.finishTask(before[0].id, false, kAdmin, kStart + 3 * kDayMs).isOk());
  f.commit();

  Engine restarted(callSequence(), kStart + 3 * kDayMs);
  REQUIRE(restarted.restore(f.store.state, kStart + 3 * kDayMs).isOk());
  std::vector<TaskRow> after = restarted.tasks({});
  REQUIRE(after.size() == 2);
  CHECK(after[0].id == before[1].id);  // open tasks list first
  CHECK(after[0].state == "open");
  CHECK(after[1].id == before[0].id);
  CHECK(after[1].state == "completed");
  CHECK(restarted.findEnrollment("s", "y@x.test")->status == EnrollmentStatus::kActive);
  CHECK(restarted.findEnrollment("s", "x@x.test")->next_at_ms == kStart + 4 * kDayMs);
  REQUIRE(restarted.finishTask(before[1].id, false, kAdmin, kStart + 3 * kDayMs).isOk());
  restarted.advanceTo(kStart + 4 * kDayMs);
  CHECK(restarted.takeIntents().size() == 2);
}
