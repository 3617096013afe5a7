// Proves that a streamed status answer carries exactly what the engine thread's single reply
// carried: an answer that fits in one frame is that reply byte for byte; a larger one is
// "rows" events and a reply whose rows, appended in order, are the same rows, every frame
// within the chunk size; and that a writer told to stop stops at the next frame. And that the
// long answer of an `add --where`/`--list` or a `retry --all` is "part" events and a reply
// that, merged, are the answer the same command naming its contacts gives in one reply. And that
// the reader keeps a read's buffers for the next while reads come, and frees them after a
// quiet spell.
#include "io/status_stream.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "io/command_dispatch.hpp"
#include "io/store.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;
namespace json = boost::json;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kRoot{"root", true};

EngineSettings settings() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "root";
  sequence.mailboxes = {"a@acme.test"};
  for (const char* id : {"hello", "again"}) {
    Step step;
    step.id = id;
    step.wait_ms = kDayMs;
    step.subject = "Hello";
    step.body = "Hi {{first_name|there}}";
    sequence.steps.push_back(step);
  }
  settings.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "a@acme.test";
  mailbox.name = "Sender";
  mailbox.daily_limit = 1000000;
  mailbox.hourly_limit = 1000000;
  settings.mailboxes.push_back(mailbox);
  return settings;
}

struct Frames {
  std::vector<std::string> texts;
  std::vector<bool> replies;
};

Frames stream(const Engine& engine, const json::object& args, const json::value& id,
              std::size_t chunk_bytes_max) {
  Frames frames;
  Result<StatusSnapshot> snapshot = engine.statusSnapshot("s");
  REQUIRE(snapshot.isOk());
  Result<StatusFilter> filter = statusFilterArg(args);
  REQUIRE(filter.isOk());
  writeStatusFrames(snapshot.value(), filter.value(), id, chunk_bytes_max,
                    [&](std::string text, bool is_reply) {
                      frames.texts.push_back(std::move(text));
                      frames.replies.push_back(is_reply);
                      return true;
                    });
  return frames;
}

// What the engine thread answered before: dispatchCommand's reply, as one frame.
std::string singleReply(Engine& engine, const json::object& args, const json::value& id) {
  DispatchReply reply = dispatchCommand(engine, "status", args, kRoot, kStart);
  REQUIRE(reply.ok);
  return toFrame(makeOkReply(id, reply.result));
}

Engine enrolled(int count, std::uint64_t seed) {
  Engine engine(settings(), kStart);
  std::mt19937_64 random(seed);
  std::vector<ContactRow> rows;
  for (int i = 0; i < count; ++i) {
    ContactRow row;
    row.fields = {{"email", "p" + std::to_string(i) + "@x.test"},
                  {"first_name", "Zoë " + std::to_string(i)},
                  {"company", "Company \"" + std::to_string(random() % 5) + "\""},
                  {"score", std::to_string(random() % 101)}};
    rows.push_back(row);
  }
  ImportResult imported = engine.upsertContacts(rows);
  REQUIRE(engine.add("s", imported.keys, {}, kRoot, kStart).isOk());
  REQUIRE(engine.activate("s", kRoot, kStart).isOk());
  engine.advanceTo(kStart + 1);
  std::vector<DeliveryIntent> intents = engine.takeIntents();
  for (std::size_t i = 0; i < intents.size(); i += 2) {
    const DeliveryIntent& intent = intents[i];
    engine.onDeliveryResult({intent.enrollment_id, intent.step_index, intent.send,
                             DeliveryOutcome::kDelivered, "", intent.transport, false},
                            kStart + 1);
  }
  return engine;
}

}  // namespace

TEST_CASE("an answer that fits in one frame is the old reply, byte for byte") {
  Engine engine = enrolled(40, 7);
  for (const json::value& id : {json::value(7), json::value("req \"x\""), json::value(nullptr)}) {
    for (const json::object& args :
         {json::object{{"sequence", "s"}}, json::object{{"sequence", "s"}, {"limit", 5}},
          json::object{{"sequence", "s"}, {"status", "active"}},
          json::object{{"sequence", "s"}, {"search", "company \"3"}}}) {
      Frames frames = stream(engine, args, id, kFrameBytesMax);
      REQUIRE(frames.texts.size() == 1);
      CHECK(frames.replies[0]);
      CHECK(frames.texts[0] == singleReply(engine, args, id));
    }
  }
}

TEST_CASE("randomized: a large answer in many frames has every row once, in order") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  Engine engine = enrolled(600, seed);
  for (int trial = 0; trial < 8; ++trial) {
    json::object args{{"sequence", "s"}};
    if (random() % 2 == 0) args["limit"] = static_cast<std::int64_t>(1 + random() % 700);
    if (random() % 3 == 0) args["status"] = random() % 2 == 0 ? "active" : "scheduled";
    const std::size_t chunk_bytes_max = 300 + random() % 20000;
    INFO("trial " << trial << " chunk " << chunk_bytes_max << " args " << json::serialize(args));
    Frames frames = stream(engine, args, json::value(trial), chunk_bytes_max);
    json::value expected = json::parse(singleReply(engine, args, json::value(trial)));
    json::array rows;
    for (std::size_t i = 0; i < frames.texts.size(); ++i) {
      const std::string& text = frames.texts[i];
      REQUIRE(text.back() == '\n');
      json::object frame = json::parse(text).as_object();
      CHECK(frame.at("id") == json::value(trial));
      const bool last = i + 1 == frames.texts.size();
      CHECK(frames.replies[i] == last);
      const json::array& part =
          last ? frame.at("result").at("contacts").as_array() : frame.at("rows").as_array();
      // Only a row alone in its frame may take it over the chunk size (a row is ~300 bytes).
      if (part.size() > 1) CHECK(text.size() <= chunk_bytes_max);
      if (!last) {
        CHECK(frame.at("event") == "rows");
        // The answer's other fields come with each event, as the reply will have them.
        CHECK(frame.at("head") == json::object{{"sequence", "s"}});
      }
      for (const json::value& row : part) rows.push_back(row);
      if (last) CHECK(frame.at("result").at("sequence") == "s");
    }
    CHECK(rows == expected.at("result").at("contacts").as_array());
    const std::size_t total = rows.size();
    if (total * 250 > chunk_bytes_max) CHECK(frames.texts.size() > 1);
  }
}

TEST_CASE("a writer that is told to stop sends no further frame") {
  Engine engine = enrolled(300, 11);
  Result<StatusSnapshot> snapshot = engine.statusSnapshot("s");
  REQUIRE(snapshot.isOk());
  int frames = 0;
  const std::size_t written =
      writeStatusFrames(snapshot.value(), {}, json::value(1), 2000, [&](std::string, bool) {
        ++frames;
        return frames < 2;
      });
  CHECK(frames == 2);
  CHECK(written < 300);
}

namespace {

Frames answer(const ReadAnswer& read, std::size_t chunk_bytes_max) {
  Frames frames;
  read(
      [&](std::string text, bool is_reply) {
        frames.texts.push_back(std::move(text));
        frames.replies.push_back(is_reply);
        return true;
      },
      chunk_bytes_max);
  return frames;
}

}  // namespace

TEST_CASE("contacts and report answers: the old reply when it fits, the same rows when streamed") {
  Engine engine = enrolled(400, 5);
  for (const json::object& args : {json::object{}, json::object{{"limit", 7}},
                                   json::object{{"where", "company~'\"3' or score>90"}}}) {
    INFO(json::serialize(args));
    Result<ContactsArgs> parsed = contactsArgs(args);
    REQUIRE(parsed.isOk());
    Result<ContactsSnapshot> snapshot =
        engine.contactsSnapshot(parsed.value().query, parsed.value().limit);
    REQUIRE(snapshot.isOk());
    const ReadAnswer read =
        contactsAnswer(std::make_shared<const ContactsSnapshot>(snapshot.value()), 9);
    DispatchReply single = dispatchCommand(engine, "contacts", args, kRoot, kStart);
    REQUIRE(single.ok);
    Frames whole = answer(read, kFrameBytesMax);
    REQUIRE(whole.texts.size() == 1);
    CHECK(whole.replies[0]);
    CHECK(whole.texts[0] == toFrame(makeOkReply(9, single.result)));
    // In frames of 2 KiB: rows events, then the reply with the count and the last rows.
    Frames streamed = answer(read, 2048);
    json::array rows;
    for (std::size_t i = 0; i < streamed.texts.size(); ++i) {
      CHECK(streamed.texts[i].size() <= 2048);
      json::object frame = json::parse(streamed.texts[i]).as_object();
      const bool last = i + 1 == streamed.texts.size();
      CHECK(streamed.replies[i] == last);
      const json::array& part =
          last ? frame.at("result").at("contacts").as_array() : frame.at("rows").as_array();
      for (const json::value& row : part) rows.push_back(row);
      if (last) CHECK(frame.at("result").at("matched") == single.result.at("matched"));
      if (!last) {
        CHECK(frame.at("head") == json::object{{"matched", single.result.at("matched")}});
      }
    }
    CHECK(rows == single.result.at("contacts").as_array());
    if (rows.size() > 20) CHECK(streamed.texts.size() > 2);
  }
  Result<ReportSnapshot> report = engine.reportSnapshot("s", kStart);
  REQUIRE(report.isOk());
  Frames reported = answer(reportAnswer(std::make_shared<ReportSnapshot>(report.value()), 3), 2048);
  DispatchReply single = dispatchCommand(engine, "report", {{"sequence", "s"}}, kRoot, kStart);
  REQUIRE(single.ok);
  REQUIRE(reported.texts.size() == 1);  // bounded: always one reply
  CHECK(reported.texts[0] == toFrame(makeOkReply(3, single.result)));
}

namespace {

// An engine holding `count` contacts with keys of about 40 bytes, none in a sequence.
Engine withContacts(int count) {
  Engine engine(settings(), kStart);
  std::vector<ContactRow> rows;
  for (int i = 0; i < count; ++i) {
    ContactRow row;
    row.fields = {{"email", "a-rather-long-address-" + std::to_string(i) + "@example.test"},
                  {"company", i % 3 == 0 ? "Acme" : "Other"}};
    rows.push_back(row);
  }
  engine.upsertContacts(rows);
  return engine;
}

// The answer a client puts together: the parts' and the reply's arrays concatenated, their
// objects' members together, the reply's other fields.
json::object merged(const Frames& frames) {
  json::object whole;
  for (std::size_t i = 0; i < frames.texts.size(); ++i) {
    CHECK(frames.replies[i] == (i + 1 == frames.texts.size()));
    json::object frame = json::parse(frames.texts[i]).as_object();
    if (!frames.replies[i]) CHECK(frame.at("event") == "part");
    for (const auto& field : frame.at("result").as_object()) {
      json::value& into = whole[field.key()];
      if (field.value().is_array()) {
        if (!into.is_array()) into = json::array();
        for (const json::value& item : field.value().as_array()) into.as_array().push_back(item);
      } else if (field.value().is_object()) {
        if (!into.is_object()) into = json::object();
        for (const auto& member : field.value().as_object()) {
          into.as_object()[member.key()] = member.value();
        }
      } else {
        into = field.value();
      }
    }
  }
  return whole;
}

}  // namespace

TEST_CASE(
    "an add by --where or --list longer than a frame is answered in parts that make the reply") {
  const int count = 45000;  // a third of them: about 1.5 MB of lists
  // The first round adds by --where, the second by --list; the second finds them all added.
  const json::object by_where{{"sequence", "s"}, {"where", "company='acme'"}};
  const json::object by_list{{"sequence", "s"}, {"lists", json::array{"acme"}}};
  Engine streamed_engine = withContacts(count);
  Engine named_engine = withContacts(count);
  REQUIRE(streamed_engine.activate("s", kRoot, kStart).isOk());
  REQUIRE(named_engine.activate("s", kRoot, kStart).isOk());
  // The same add naming its contacts: one reply, as always.
  json::array keys;
  for (int i = 0; i < count; i += 3) {
    keys.push_back(json::value("a-rather-long-address-" + std::to_string(i) + "@example.test"));
  }
  std::sort(keys.begin(), keys.end(), [](const json::value& a, const json::value& b) {
    return a.as_string() < b.as_string();
  });
  REQUIRE(dispatchCommand(streamed_engine, "list_add", {{"list", "acme"}, {"contacts", keys}},
                          kRoot, kStart)
              .ok);
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    DispatchReply single = dispatchCommand(named_engine, "add",
                                           {{"sequence", "s"}, {"contacts", keys}}, kRoot, kStart);
    REQUIRE(single.ok);
    REQUIRE(single.streamed == nullptr);
    DispatchReply reply =
        dispatchCommand(streamed_engine, "add", round == 0 ? by_where : by_list, kRoot, kStart);
    REQUIRE(reply.ok);
    REQUIRE(reply.streamed != nullptr);
    const std::size_t chunk = 64 * 1024;
    Frames frames = answer(streamedAnswer(reply.streamed, 4), chunk);
    CHECK(frames.texts.size() > 10);
    for (const std::string& text : frames.texts) CHECK(text.size() <= chunk);
    const json::object whole = merged(frames);
    CHECK(whole == single.result.as_object());
    CHECK(whole.at(round == 0 ? "added" : "skipped").as_array().size() == keys.size());
    CHECK(json::parse(frames.texts.back()).at("id") == 4);
  }
}

TEST_CASE("an add of a few contacts by --where is one reply") {
  Engine engine = withContacts(30);
  DispatchReply reply = dispatchCommand(
      engine, "add", {{"sequence", "s"}, {"where", "company='acme'"}}, kRoot, kStart);
  REQUIRE(reply.ok);
  CHECK(reply.streamed == nullptr);
  CHECK(reply.result.at("added").as_array().size() == 10);
}

namespace {

// withContacts(count) with the "Other" two thirds added to s, each first email bounced.
Engine bouncedEngine(int count) {
  Engine engine = withContacts(count);
  REQUIRE(dispatchCommand(engine, "add", {{"sequence", "s"}, {"where", "company='other'"}}, kRoot,
                          kStart)
              .ok);
  REQUIRE(engine.activate("s", kRoot, kStart).isOk());
  // The first step waits a day; the engine queues at most kQueuedIntentsMax at once.
  for (;;) {
    engine.advanceTo(kStart + kDayMs);
    const std::vector<DeliveryIntent> intents = engine.takeIntents();
    if (intents.empty()) break;
    for (const DeliveryIntent& intent : intents) {
      engine.onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kFailedPermanent,
           "550 no such user", intent.transport, false},
          kStart + kDayMs);
    }
  }
  return engine;
}

}  // namespace

TEST_CASE("a retry --all of many contacts is answered in parts that make the reply") {
  const int count = 45000;  // 30,000 to retry: about 1.3 MB of keys in "done"
  Engine engine = bouncedEngine(count);
  DispatchReply reply =
      dispatchCommand(engine, "retry", {{"sequence", "s"}, {"all", true}}, kRoot, kStart + kDayMs);
  REQUIRE(reply.ok);
  REQUIRE(reply.streamed != nullptr);
  Frames frames = answer(streamedAnswer(reply.streamed, "r"), 64 * 1024);
  CHECK(frames.texts.size() > 10);
  const json::object whole = merged(frames);
  CHECK(whole.at("sequence") == "s");
  CHECK(whole.at("done").as_array().size() == 30000);
  CHECK(whole.at("skipped").as_array().empty());
  CHECK(whole.at("may_duplicate").as_array().empty());
  // The same contacts named, on an engine where they bounced as well: the same answer, in
  // one reply.
  Engine twin = bouncedEngine(count);
  DispatchReply single = dispatchCommand(
      twin, "retry", {{"sequence", "s"}, {"contacts", whole.at("done")}}, kRoot, kStart + kDayMs);
  REQUIRE(single.ok);
  REQUIRE(single.streamed == nullptr);
  CHECK(whole == single.result.as_object());
  // A retry --all of a few is one reply.
  Engine few = bouncedEngine(30);
  DispatchReply short_answer =
      dispatchCommand(few, "retry", {{"sequence", "s"}, {"all", true}}, kRoot, kStart + kDayMs);
  REQUIRE(short_answer.ok);
  CHECK(short_answer.streamed == nullptr);
  CHECK(short_answer.result.at("done").as_array().size() == 20);
}

namespace {

// A store that holds only tasks, and counts the reads of them.
class TasksOnlyStore final : public Store {
 public:
  explicit TasksOnlyStore(std::vector<Task> tasks) : tasks_(std::move(tasks)) {}
  Status commit(const WriteBatch&) override { return Status::ok(); }
  Status load(LoadedState&) override { return Status::ok(); }
  Result<std::uint64_t> lastProgressSeq() override { return std::uint64_t{0}; }
  Status readTasks(std::vector<Task>& out) override {
    ++reads;
    out = tasks_;
    return Status::ok();
  }
  int reads = 0;

 private:
  std::vector<Task> tasks_;
};

// The ids of the tasks a one-frame `tasks` answer lists, in order.
std::vector<std::uint64_t> listedTaskIds(const ReadAnswer& read) {
  Frames frames = answer(read, kFrameBytesMax);
  REQUIRE(frames.texts.size() == 1);
  const json::value reply = json::parse(frames.texts[0]);
  std::vector<std::uint64_t> ids;
  for (const json::value& row : reply.at("result").at("tasks").as_array()) {
    ids.push_back(json::value_to<std::uint64_t>(row.at("id")));
  }
  return ids;
}

}  // namespace

TEST_CASE("a tasks answer reads the store's tasks only when one of them can be listed") {
  Task open;
  open.id = 5;
  open.enrollment_id = 1;
  open.step_id = "hello";
  open.owner = "bob";
  open.due_at_ms = kStart;
  Task done = open;  // done by a person and dropped from memory: only in the store
  done.id = 3;
  done.enrollment_id = 2;
  done.state = TaskState::kCompleted;
  TasksOnlyStore store({done, open});
  auto snapshot = std::make_shared<TasksSnapshot>();
  snapshot->in_memory.emplace_back(open, TaskEnrollment{"s", "c1@x.test", nullptr});
  snapshot->in_memory_ids = {5};
  snapshot->task_id_max = 5;
  // No enrollment had a task dropped: the store is not read, its copy of the open task is
  // not listed twice, and its done task belongs to no enrollment the snapshot keeps.
  CHECK_FALSE(snapshot->readsArchive());
  // An answer hands its snapshot's buffers back: each gets a copy.
  const auto copied = [&snapshot] { return std::make_shared<TasksSnapshot>(*snapshot); };
  CHECK(listedTaskIds(tasksAnswer(copied(), &store, 1)) == std::vector<std::uint64_t>{5});
  CHECK(store.reads == 0);
  // Enrollment 2's task was dropped from memory: the store is read and lists it.
  snapshot->archived_enrollments.emplace(2, TaskEnrollment{"s", "c2@x.test", nullptr});
  CHECK(snapshot->readsArchive());
  CHECK(listedTaskIds(tasksAnswer(copied(), &store, 1)) == std::vector<std::uint64_t>{5, 3});
  CHECK(store.reads == 1);
}

TEST_CASE("a tasks answer hands its snapshot's buffers back emptied, their room kept") {
  Engine engine = enrolled(3, 1);
  TasksOnlyStore store({});
  auto snapshot = std::make_shared<TasksSnapshot>();
  constexpr std::size_t kRoom = 500;
  snapshot->in_memory.reserve(kRoom);
  snapshot->in_memory_ids.reserve(kRoom);
  for (std::uint64_t id = 1; id <= 3; ++id) {
    Task task;
    task.id = id;
    task.enrollment_id = static_cast<EnrollmentId>(id - 1);
    task.step_id = "hello";
    task.owner = "bob";
    const std::string key = "p" + std::to_string(id - 1) + "@x.test";
    const PackedContact* contact = engine.findContact(key);
    REQUIRE(contact != nullptr);
    snapshot->in_memory.emplace_back(task, TaskEnrollment{"s", key, ContactRef(contact)});
    snapshot->in_memory_ids.push_back(id);
  }
  snapshot->task_id_max = 3;
  const ReadAnswer read = tasksAnswer(snapshot, &store, 1);
  ReadBuffers done = read([](std::string, bool) { return true; }, kFrameBytesMax);
  CHECK(done.tasks.in_memory.empty());
  CHECK(done.tasks.in_memory.capacity() >= kRoom);
  CHECK(done.tasks.in_memory_ids.empty());
  CHECK(done.tasks.in_memory_ids.capacity() >= kRoom);
  CHECK(done.rows.empty());
  // The snapshot no longer holds them, nor its contacts' references.
  CHECK(snapshot->in_memory.capacity() == 0);
  CHECK(snapshot->in_memory_ids.capacity() == 0);
}

namespace {

// A status read of `engine`'s sequence whose snapshot fills `buffer`, for a client gone (the
// reader answers it and hands the buffer back all the same).
StatusRead statusReadInto(const Engine& engine, std::vector<StatusSnapshotRow> buffer) {
  Result<StatusSnapshot> snapshot = engine.statusSnapshot("s", std::move(buffer));
  REQUIRE(snapshot.isOk());
  Result<StatusFilter> filter = statusFilterArg(json::object());
  REQUIRE(filter.isOk());
  StatusRead read;
  read.snapshot = std::make_unique<StatusSnapshot>(std::move(snapshot.value()));
  read.filter = std::move(filter.value());
  read.what = "status of sequence 's'";
  read.id = 1;
  return read;
}

// Polls until the reader keeps a spare of at least `bytes`, for up to 10 s.
bool waitForSpare(StatusReader& reader, std::size_t bytes) {
  for (int i = 0; i < 10000 && reader.spareBytes() < bytes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return reader.spareBytes() >= bytes;
}

}  // namespace

TEST_CASE("the reader keeps a read's buffers for the next while reads come, then frees them") {
  Engine engine = enrolled(3, 1);
  constexpr std::size_t kRoom = 1000;
  constexpr std::size_t kRoomBytes = kRoom * sizeof(StatusSnapshotRow);
  StatusStreamLimits limits;
  limits.spare_keep = std::chrono::milliseconds(400);
  StatusReader reader(limits);
  CHECK(reader.spareBytes() == 0);

  std::vector<StatusSnapshotRow> buffer;
  buffer.reserve(kRoom);
  REQUIRE(reader.submit(statusReadInto(engine, std::move(buffer))));
  REQUIRE(waitForSpare(reader, kRoomBytes));

  // A read every 100 ms for a second, each filling the buffer the one before handed back:
  // the buffer stays, though the first read was answered longer ago than spare_keep.
  for (int i = 0; i < 10; ++i) {
    std::vector<StatusSnapshotRow> spare = reader.takeSpareRows();
    REQUIRE(spare.capacity() >= kRoom);
    CHECK(spare.empty());
    REQUIRE(reader.submit(statusReadInto(engine, std::move(spare))));
    REQUIRE(waitForSpare(reader, kRoomBytes));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(reader.spareBytes() >= kRoomBytes);

  // No read for well over spare_keep: the buffer is freed.
  std::size_t spare_bytes = reader.spareBytes();
  for (int i = 0; i < 100 && spare_bytes > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spare_bytes = reader.spareBytes();
  }
  CHECK(spare_bytes == 0);
  CHECK(reader.takeSpareRows().capacity() == 0);

  // A tasks read's buffers go the same way.
  TasksOnlyStore store({});
  auto tasks = std::make_shared<TasksSnapshot>();
  tasks->in_memory.reserve(kRoom);
  tasks->in_memory_ids.reserve(kRoom);
  StatusRead read;
  read.answer = tasksAnswer(tasks, &store, 2);
  read.what = "tasks";
  read.id = 2;
  tasks.reset();
  REQUIRE(reader.submit(std::move(read)));
  REQUIRE(waitForSpare(reader, kRoom * sizeof(std::uint64_t)));
  spare_bytes = reader.spareBytes();
  for (int i = 0; i < 100 && spare_bytes > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spare_bytes = reader.spareBytes();
  }
  CHECK(spare_bytes == 0);
  CHECK(reader.takeSpareTasks().in_memory.capacity() == 0);
}
