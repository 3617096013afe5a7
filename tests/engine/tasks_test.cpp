// Proves manual steps create tasks for the contact's owner at creation time, the contact
// waits `active` until the task is completed or skipped, call steps skip Do-Not-Call
// contacts, and tasks survive a restart rebuilt from the progress log. There is one task
// per (enrollment, step) ever: pause keeps it open, resume and re-add wait on it again, and
// finish or remove close it as skipped with a reason.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "engine/fixtures.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

// email -> call (2d) -> email (1d)
EngineSettings callSequence() {
  EngineSettings settings;
  Sequence sequence = sequenceOf("s", "alice", {"a@acme.test"});
  sequence.rules.finish_on = {"reply"};
  sequence.steps = {emailStep("intro", "Hi {{first_name}}", "Hello"),
                    callStep("call", 2 * kDayMs, "Call about {{company}}"),
                    emailStep("bump", "Bump", "Bump", kDayMs)};
  settings.sequences["s"] = sequence;
  settings.mailboxes = {mailboxOf("a@acme.test")};
  return settings;
}

struct Fixture {
  explicit Fixture(EngineSettings settings = callSequence())
      : engine(std::move(settings), kStart) {}

  Engine engine;
  FakeStore store;

  void commit() { store.commit(engine.takeBatch()); }

  // Advances, releases the emails that fell due (committing their records before they go)
  // and delivers them; returns how many went out.
  std::size_t advance(TimeMs now_ms) {
    engine.advanceTo(now_ms);
    std::vector<DeliveryIntent> intents = engine.takeIntents();
    commit();
    for (const DeliveryIntent& intent : intents) {
      engine.onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
          now_ms);
    }
    commit();
    return intents.size();
  }

  void operate(OperatorAction action, const std::string& key, TimeMs now_ms,
               std::optional<TimeMs> at_ms = std::nullopt, const std::string& reason = "") {
    OperatorRequest request;
    request.action = action;
    request.contacts = {key};
    request.at_ms = at_ms;
    request.reason = reason;
    Result<ContactsResult> result = engine.operate("s", request, kAdmin, now_ms);
    REQUIRE(result.isOk());
    REQUIRE(result.value().done.size() == 1);
    commit();
  }

  const Enrollment& of(const std::string& key) { return *engine.findEnrollment("s", key); }

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

  // Activates the sequence, adds `contacts` contacts of bob's (c0@x.test, c1@x.test, ...) and
  // advances past their first email to the call: each then waits on an open task.
  void openCallTasks(int contacts) {
    REQUIRE(engine.activate("s", kAdmin, kStart).isOk());
    for (int i = 0; i < contacts; ++i) addContact("c" + std::to_string(i) + "@x.test", "bob");
    CHECK(advance(kStart) == static_cast<std::size_t>(contacts));
    CHECK(advance(kStart + 2 * kDayMs) == 0);
  }
};

}  // namespace

TEST_CASE("a task's note is rendered for its contact; one that cannot be shows as written") {
  // Each call's note names a field: the company every contact has, a fallback for a column
  // none has, and (no fallback) that column.
  EngineSettings settings = callSequence();
  Sequence& sequence = settings.sequences["s"];
  sequence.steps[1].note = "Call {{ first_name }} about {{company}} ({{score}}, {{dnc}})";
  sequence.steps.insert(sequence.steps.begin() + 2,
                        callStep("again", 0, "Ask about {{region|their region}}"));
  sequence.steps.insert(sequence.steps.begin() + 3, callStep("last", 0, "Ask {{region}}"));
  Fixture f(settings);
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  CHECK(f.advance(kStart) == 1);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
  std::vector<std::string> notes;
  for (int call = 0; call < 3; ++call) {
    const std::vector<TaskRow> rows = f.engine.tasks({});  // the open one first
    REQUIRE(rows.size() == static_cast<std::size_t>(call + 1));
    REQUIRE(rows.front().state == "open");
    notes.push_back(rows.front().note);
    REQUIRE(f.engine.finishTask(rows.front().id, false, kAdmin, kStart + 2 * kDayMs).isOk());
    f.commit();
    f.advance(kStart + 2 * kDayMs);
  }
  CHECK(notes == std::vector<std::string>{"Call F about Initech (10, false)",
                                          "Ask about their region", "Ask {{region}}"});
}

TEST_CASE("a call step creates a task for the contact's owner; completing it moves on") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  f.addContact("y@x.test", "");
  CHECK(f.advance(kStart) == 2);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
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
  CHECK(f.advance(kStart) == 1);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
  CHECK(f.engine.tasks({}).empty());
  const Enrollment* enrollment = f.engine.findEnrollment("s", "dnc@x.test");
  CHECK(enrollment->step_index == 2);
  CHECK(enrollment->next_at_ms == kStart + 3 * kDayMs);
}

TEST_CASE("an owner change sends new tasks to the new owner; old tasks keep theirs") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  CHECK(f.advance(kStart) == 1);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
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
  CHECK(f.advance(kStart) == 2);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
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

TEST_CASE("pause + resume of a contact waiting on a task creates no second open task") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  CHECK(f.advance(kStart) == 1);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
  std::vector<TaskRow> tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 1);
  const std::uint64_t id = tasks[0].id;
  CHECK(tasks[0].state == "open");

  f.operate(OperatorAction::kPause, "x@x.test", kStart + 2 * kDayMs + kHourMs);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kPaused);
  tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].state == "open");  // pause keeps it open
  f.operate(OperatorAction::kResume, "x@x.test", kStart + 2 * kDayMs + 2 * kHourMs);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kActive);
  CHECK(f.of("x@x.test").step_index == 1);
  // Again, resumed by itself this time (pause --resume-at).
  f.operate(OperatorAction::kPause, "x@x.test", kStart + 2 * kDayMs + 3 * kHourMs,
            kStart + 3 * kDayMs);
  CHECK(f.advance(kStart + 3 * kDayMs) == 0);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kActive);
  tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].id == id);
  CHECK(tasks[0].state == "open");
  CHECK(countProgress(f.store.state.progress, ProgressKind::kTaskCreated) == 1);
  CHECK(countProgress(f.store.state.progress, ProgressKind::kTaskClosed) == 0);

  REQUIRE(f.engine.finishTask(id, false, Caller{"bob", false}, kStart + 4 * kDayMs).isOk());
  f.commit();
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kScheduled);
  CHECK(f.of("x@x.test").step_index == 2);
  CHECK(f.of("x@x.test").next_at_ms == kStart + 5 * kDayMs);
  CHECK(f.advance(kStart + 5 * kDayMs) == 1);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kFinished);
  CHECK(f.engine.tasks({}).size() == 1);
}

TEST_CASE("remove + re-add reopens the same task id, and completing it moves the contact on") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  CHECK(f.advance(kStart) == 1);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
  std::vector<TaskRow> tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 1);
  const std::uint64_t id = tasks[0].id;

  f.operate(OperatorAction::kRemove, "x@x.test", kStart + 2 * kDayMs + kHourMs);
  tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].state == "skipped");
  CHECK(tasks[0].reason == "removed");
  CHECK(f.of("x@x.test").done_steps.items() == std::vector<Symbol>{"intro"});  // call not done

  AddOptions force;
  force.force = true;
  Result<AddResult> readded = f.engine.add("s", {"x@x.test"}, force, kAdmin, kStart + 3 * kDayMs);
  REQUIRE(readded.isOk());
  CHECK(readded.value().added.size() == 1);
  f.commit();
  tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].id == id);
  CHECK(tasks[0].state == "open");
  CHECK(tasks[0].reason.empty());
  CHECK(tasks[0].owner == "bob");
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kActive);
  CHECK(f.of("x@x.test").step_index == 1);
  CHECK(countProgress(f.store.state.progress, ProgressKind::kTaskCreated) == 1);
  CHECK(countProgress(f.store.state.progress, ProgressKind::kTaskClosed) == 1);
  CHECK(countProgress(f.store.state.progress, ProgressKind::kTaskReopened) == 1);

  // A restart rebuilds the reopened task from the log.
  Engine restarted(callSequence(), kStart + 3 * kDayMs);
  REQUIRE(restarted.restore(f.store.state, kStart + 3 * kDayMs).isOk());
  REQUIRE(restarted.tasks({}).size() == 1);
  CHECK(restarted.tasks({})[0].id == id);
  CHECK(restarted.tasks({})[0].state == "open");
  CHECK(restarted.findEnrollment("s", "x@x.test")->status == EnrollmentStatus::kActive);

  REQUIRE(f.engine.finishTask(id, false, Caller{"bob", false}, kStart + 4 * kDayMs).isOk());
  f.commit();
  CHECK(f.engine.tasks({})[0].state == "completed");
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kScheduled);
  CHECK(f.of("x@x.test").step_index == 2);
  CHECK(f.of("x@x.test").next_at_ms == kStart + 5 * kDayMs);
  CHECK(f.advance(kStart + 5 * kDayMs) == 1);
  CHECK(f.of("x@x.test").status == EnrollmentStatus::kFinished);
  CHECK(f.of("x@x.test").finish_reason == "completed");
}

TEST_CASE("finish closes open tasks as skipped with the reason") {
  Fixture f;
  REQUIRE(f.engine.activate("s", kAdmin, kStart).isOk());
  f.addContact("x@x.test", "bob");
  f.addContact("y@x.test", "bob");
  CHECK(f.advance(kStart) == 2);
  CHECK(f.advance(kStart + 2 * kDayMs) == 0);
  std::vector<TaskRow> tasks = f.engine.tasks({});
  REQUIRE(tasks.size() == 2);
  REQUIRE(tasks[0].contact == "x@x.test");
  const std::uint64_t x_task = tasks[0].id;
  const std::uint64_t y_task = tasks[1].id;

  f.operate(OperatorAction::kFinish, "x@x.test", kStart + 2 * kDayMs + kHourMs, std::nullopt,
            "called back");
  ContactEvent reply{EventKind::kReply, "y@x.test", "", std::nullopt, ""};
  REQUIRE(f.engine.applyEvent(reply, kStart + 2 * kDayMs + kHourMs).isOk());
  f.commit();
  auto check = [&](const std::vector<TaskRow>& rows) {
    REQUIRE(rows.size() == 2);
    for (const TaskRow& row : rows) {
      CAPTURE(row.contact);
      CHECK(row.state == "skipped");
      CHECK(row.reason ==
            (row.id == x_task ? "finished: manual:called back" : "finished: replied"));
    }
  };
  check(f.engine.tasks({}));
  CHECK(f.of("x@x.test").finish_reason == "manual:called back");
  CHECK(f.of("x@x.test").done_steps.items() == std::vector<Symbol>{"intro"});  // the call not done
  CHECK(f.of("y@x.test").finish_reason == "replied");
  CHECK(countProgress(f.store.state.progress, ProgressKind::kTaskClosed) == 2);
  CHECK(f.engine.finishTask(y_task, false, kAdmin, kStart + 3 * kDayMs).code() ==
        StatusCode::kFailedPrecondition);
  CHECK(f.advance(kStart + 10 * kDayMs) == 0);

  Engine restarted(callSequence(), kStart + 10 * kDayMs);
  REQUIRE(restarted.restore(f.store.state, kStart + 10 * kDayMs).isOk());
  check(restarted.tasks({}));
}

TEST_CASE("done tasks past done_tasks_in_memory_max leave memory; the store's copy lists them") {
  CHECK(kDoneTasksInMemoryMax == 10000);
  EngineSettings settings = callSequence();
  settings.done_tasks_in_memory_max = 3;
  Fixture f(settings);
  f.openCallTasks(6);
  std::vector<TaskRow> open = f.engine.tasks({});
  REQUIRE(open.size() == 6);
  TaskFilter only_open;
  only_open.state = TaskState::kOpen;
  CHECK(f.engine.tasks(only_open).size() == 6);
  std::vector<std::uint64_t> ids;
  for (const TaskRow& row : open) ids.push_back(row.id);
  std::sort(ids.begin(), ids.end());
  for (std::size_t done = 1; done <= ids.size(); ++done) {
    REQUIRE(f.engine.finishTask(ids[done - 1], done % 2 == 0, kAdmin, kStart + 3 * kDayMs).isOk());
    f.commit();
    CAPTURE(done);
    CHECK(f.engine.doneTasksInMemory() == std::min<std::size_t>(done, 3));
  }
  // The oldest three left memory, with their (enrollment, step) links; the newest three stayed.
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(f.engine.isTaskInMemory(ids[i]) == (i >= 3));
  CHECK(f.engine.taskStepLinks() == 3);
  CHECK(f.engine.tasks({}).size() == 3);
  // --state: open ones never look at the archive; done ones list it.
  CHECK(f.engine.tasks(only_open, f.store.state.tasks).empty());
  CHECK(f.engine.tasksSnapshot(only_open).archived_enrollments.empty());
  TaskFilter completed;
  completed.state = TaskState::kCompleted;
  std::vector<TaskRow> completed_rows = f.engine.tasks(completed, f.store.state.tasks);
  REQUIRE(completed_rows.size() == 3);
  for (const TaskRow& row : completed_rows) CHECK(row.state == "completed");
  // Done tasks of one due time: the engine's first, then the archived ones, each by id.
  std::vector<Task> tied = f.store.state.tasks;
  for (Task& task : tied) task.due_at_ms = kStart;
  TasksSnapshot snapshot = f.engine.tasksSnapshot({});
  for (auto& [task, enrollment] : snapshot.in_memory) task.due_at_ms = kStart;
  std::vector<TaskRow> tied_rows = taskRows(snapshot, tied);
  REQUIRE(tied_rows.size() == 6);
  std::vector<std::uint64_t> in_memory_first(ids.begin() + 3, ids.end());
  in_memory_first.insert(in_memory_first.end(), ids.begin(), ids.begin() + 3);
  for (std::size_t i = 0; i < tied_rows.size(); ++i) CHECK(tied_rows[i].id == in_memory_first[i]);
  CHECK(parseTaskState("skipped") == TaskState::kSkipped);
  CHECK_FALSE(parseTaskState("done").has_value());
  std::vector<TaskRow> all = f.engine.tasks({}, f.store.state.tasks);
  REQUIRE(all.size() == 6);
  for (const TaskRow& row : all) {
    CAPTURE(row.id);
    CHECK(row.state ==
          (row.id == ids[1] || row.id == ids[3] || row.id == ids[5] ? "skipped" : "completed"));
    CHECK(row.type == "call");
    CHECK(row.note == "Call about Initech");
  }
  CHECK(f.engine.finishTask(ids[0], false, kAdmin, kStart + 3 * kDayMs).code() ==
        StatusCode::kNotFound);
  // Every contact moved on past its call, archived task or not.
  CHECK(f.advance(kStart + 4 * kDayMs) == 6);

  Engine restarted(settings, kStart + 4 * kDayMs);
  REQUIRE(restarted.restore(f.store.state, kStart + 4 * kDayMs).isOk());
  CHECK(restarted.doneTasksInMemory() == 3);
  CHECK(restarted.taskStepLinks() == 3);
  CHECK(restarted.tasks({}, f.store.state.tasks).size() == 6);
  TaskFilter bob;
  bob.owner = "bob";
  CHECK(restarted.tasks(bob, f.store.state.tasks).size() == 6);
}

TEST_CASE("a task done when it is the oldest done one leaves memory at once, counted at its step") {
  // Done newest first: past the bound, each task done is the oldest done one, so recording it
  // drops it from memory straight away. finishTask must not read the task after that (under
  // AddressSanitizer, reading its step from the dropped task was a use after free).
  EngineSettings settings = callSequence();
  settings.done_tasks_in_memory_max = 2;
  Fixture f(settings);
  f.openCallTasks(5);
  std::vector<std::uint64_t> ids;
  for (const TaskRow& row : f.engine.tasks({})) ids.push_back(row.id);
  REQUIRE(ids.size() == 5);
  std::sort(ids.rbegin(), ids.rend());
  for (std::size_t done = 1; done <= ids.size(); ++done) {
    CAPTURE(done);
    REQUIRE(f.engine.finishTask(ids[done - 1], done == 5, kAdmin, kStart + 3 * kDayMs).isOk());
    f.commit();
    CHECK(f.engine.isTaskInMemory(ids[done - 1]) == (done <= 2));
    CHECK(f.engine.doneTasksInMemory() == std::min<std::size_t>(done, 2));
  }
  const SequenceReport report = f.engine.report("s", kStart + 3 * kDayMs).value();
  const auto call = std::find_if(report.steps.begin(), report.steps.end(),
                                 [](const ReportStepRow& row) { return row.step == "call"; });
  REQUIRE(call != report.steps.end());
  CHECK(call->counts[static_cast<std::size_t>(ReportCount::kTasksDone)] == 4);
  CHECK(call->counts[static_cast<std::size_t>(ReportCount::kTasksSkipped)] == 1);
  for (const ReportStepRow& row : report.steps) {
    if (row.step == "call") continue;
    CHECK(row.counts[static_cast<std::size_t>(ReportCount::kTasksDone)] == 0);
  }
  // Filters by an owner or a sequence no task has (never interned) list none.
  TaskFilter bob;
  bob.owner = "bob";
  CHECK(f.engine.tasks(bob, f.store.state.tasks).size() == 5);
  TaskFilter stranger;
  stranger.owner = "no-such-user-ever";
  CHECK(f.engine.tasks(stranger, f.store.state.tasks).empty());
  TaskFilter no_sequence;
  no_sequence.sequence_id = "no-such-sequence-ever";
  CHECK(f.engine.tasks(no_sequence, f.store.state.tasks).empty());
  CHECK(f.engine.tasksSnapshot(no_sequence).archived_enrollments.empty());
  // Each contact moved on to its next email.
  CHECK(f.advance(kStart + 4 * kDayMs) == 5);
}

TEST_CASE("a tasks snapshot fills the buffers of an earlier one, emptied first") {
  Fixture f;
  constexpr int kTasks = 40;  // more than the rows setContactRefs fetches ahead
  f.openCallTasks(kTasks);
  const TasksSnapshot fresh = f.engine.tasksSnapshot({});
  REQUIRE(fresh.in_memory.size() == kTasks);
  // An earlier snapshot's buffers, with more room than this one needs and a task left in.
  constexpr std::size_t kRoom = 300;
  TasksSnapshot spare = f.engine.tasksSnapshot({});
  spare.in_memory.reserve(kRoom);
  spare.in_memory_ids.reserve(kRoom);
  spare.in_memory_ids.push_back(999);
  const TasksSnapshot reused = f.engine.tasksSnapshot({}, std::move(spare));
  CHECK(reused.in_memory.capacity() >= kRoom);
  CHECK(reused.in_memory_ids.capacity() >= kRoom);
  CHECK(reused.in_memory_ids == fresh.in_memory_ids);
  REQUIRE(reused.in_memory.size() == fresh.in_memory.size());
  for (std::size_t i = 0; i < fresh.in_memory.size(); ++i) {
    CAPTURE(i);
    CHECK(reused.in_memory[i].first.id == fresh.in_memory[i].first.id);
    CHECK(reused.in_memory[i].second.contact_key == fresh.in_memory[i].second.contact_key);
    CHECK(reused.in_memory[i].second.contact.get() ==
          f.engine.findContact(reused.in_memory[i].second.contact_key.str()));
    CHECK(reused.in_memory[i].second.contact != nullptr);
  }
  const std::vector<TaskRow> rows = taskRows(reused, {});
  REQUIRE(rows.size() == kTasks);
  for (const TaskRow& row : rows) CHECK(row.note == "Call about Initech");
}
