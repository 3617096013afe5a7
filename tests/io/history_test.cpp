// History kept as state (engine/records.hpp, "History"; io/store.hpp): the tasks and inbound
// tables, and the progress log truncated to what a restart needs. The store keeps and trims
// what it is told, in bounded chunks; a restart from the truncated store equals the live
// engine and a restart that replays the whole log; the send limits and the inbox dedupe hold
// across a truncation. Randomized cases print their seed; SEQD_SEED replays one.
#include <doctest/doctest.h>
#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "io/record_codec.hpp"
#include "io/store.hpp"
#include "temp_dir.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::putRecord;
using seqd::testing::TempDir;
using seqd::testing::testSeed;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kAdmin{"root", true};

std::unique_ptr<Store> openOrFail(const std::string& dir, StoreOptions options = {}) {
  options.sync_for_durability = false;
  Result<std::unique_ptr<Store>> store = openLmdbStore(dir, options);
  REQUIRE_MESSAGE(store.isOk(), store.status().message());
  return std::move(store.value());
}

void commitOrFail(Store& store, const WriteBatch& batch) {
  Status status = store.commit(batch);
  REQUIRE_MESSAGE(status.isOk(), status.message());
}

LoadedState loadOrFail(Store& store) {
  LoadedState state;
  Status status = store.load(state);
  REQUIRE_MESSAGE(status.isOk(), status.message());
  return state;
}

ProgressRecord record(std::uint64_t seq, TimeMs at_ms,
                      ProgressKind kind = ProgressKind::kDelivered) {
  ProgressRecord result;
  result.seq = seq;
  result.enrollment_id = static_cast<EnrollmentId>(seq % 3);
  result.kind = kind;
  result.at_ms = at_ms;
  result.message_id = "<m" + std::to_string(seq) + "@x>";
  result.step_id = "e1";
  return result;
}

std::vector<std::uint64_t> seqsOf(const std::vector<ProgressRecord>& records) {
  std::vector<std::uint64_t> seqs;
  for (const ProgressRecord& r : records) seqs.push_back(r.seq);
  return seqs;
}

// The values of the progress log as LMDB holds them, the store closed, each as its first seq
// and its count: a load skips the records the send limits' snapshot covers, so it cannot
// tell whether they are still there.
std::vector<std::pair<std::uint64_t, std::uint64_t>> progressValuesOnDisk(const std::string& dir) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "progress", 0, &dbi) == 0);
  MDB_cursor* cursor = nullptr;
  REQUIRE(mdb_cursor_open(txn, dbi, &cursor) == 0);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> values;
  MDB_val key{};
  MDB_val value{};
  for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    // A value's key: its first seq (u64 big-endian), then its count (u32 big-endian).
    REQUIRE(key.mv_size == 12);
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    for (std::size_t i = 0; i < 12; ++i) {
      const auto byte = static_cast<unsigned char>(static_cast<char*>(key.mv_data)[i]);
      (i < 8 ? first : count) = ((i < 8 ? first : count) << 8) | byte;
    }
    values.emplace_back(first, count);
  }
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return values;
}

// The seqs of those values.
std::vector<std::uint64_t> progressSeqsOnDisk(const std::string& dir) {
  std::vector<std::uint64_t> seqs;
  for (const auto& [first, count] : progressValuesOnDisk(dir)) {
    for (std::uint64_t seq = first; seq < first + count; ++seq) seqs.push_back(seq);
  }
  return seqs;
}

std::vector<std::uint64_t> seqRange(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

}  // namespace

TEST_CASE("tasks are upserted by id and survive a reopen") {
  TempDir dir("seqd-history-test");
  auto store = openOrFail(dir.path());
  WriteBatch batch;
  for (std::uint64_t id : {7, 3, 12}) {
    Task task;
    task.id = id;
    task.enrollment_id = static_cast<EnrollmentId>(id % 4);
    task.step_index = 1;
    task.step_id = "call";
    task.owner = "bob";
    task.due_at_ms = kStart + static_cast<TimeMs>(id);
    batch.tasks.push_back(task);
  }
  commitOrFail(*store, batch);
  WriteBatch change;
  Task closed = batch.tasks[0];  // id 7
  closed.state = TaskState::kSkipped;
  closed.reason = "removed";
  change.tasks = {closed};
  Task done = closed;
  done.state = TaskState::kCompleted;
  done.reason.clear();
  change.tasks.push_back(done);  // a later change of the same task in one batch wins
  commitOrFail(*store, change);
  store.reset();
  store = openOrFail(dir.path());
  LoadedState state = loadOrFail(*store);
  REQUIRE(state.tasks.size() == 3);
  CHECK(state.tasks[0].id == 3);
  CHECK(state.tasks[1].id == 7);
  CHECK(state.tasks[2].id == 12);
  CHECK(sameTask(state.tasks[1], done));
  CHECK(sameTask(state.tasks[0], batch.tasks[1]));

  // visitTasks gives the same tasks in id order, one at a time, and stops at an error.
  std::vector<Task> visited;
  REQUIRE(store
              ->visitTasks([&visited](const Task& task) {
                visited.push_back(task);
                return Status::ok();
              })
              .isOk());
  REQUIRE(visited.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(sameTask(visited[i], state.tasks[i]));
  std::size_t calls = 0;
  Status stopped = store->visitTasks([&calls](const Task& task) {
    ++calls;
    return task.id == 7 ? Status::invalidArgument("stop at 7") : Status::ok();
  });
  CHECK(stopped.message() == "stop at 7");
  CHECK(calls == 2);
}

// The trim tests up to the one of packed values watch the records one by one: each is a value
// of its own (log_value_bytes 0); a value is deleted whole, so this is the trim's logic at
// its finest.
TEST_CASE("old progress records are deleted oldest first, a bounded number per commit") {
  TempDir dir("seqd-history-test");
  StoreOptions options;
  options.history_trim_per_commit_max = 8;
  options.log_value_bytes = 0;
  auto store = openOrFail(dir.path(), options);
  WriteBatch batch;
  for (std::uint64_t seq = 1; seq <= 40; ++seq) {
    batch.progress.push_back(
        record(seq, static_cast<TimeMs>(seq) * 1000,
               seq % 10 == 0 ? ProgressKind::kInbound : ProgressKind::kDelivered));
  }
  commitOrFail(*store, batch);
  // 5 inbound records went to the inbound table in the same commit.
  CHECK(seqsOf(loadOrFail(*store).inbound) == std::vector<std::uint64_t>{10, 20, 30, 40});

  WriteBatch trim;
  trim.clock_ms = kStart;
  trim.history_keep_from_ms = 30 * 1000;  // records 1..29 may go
  commitOrFail(*store, trim);
  LoadedState state = loadOrFail(*store);
  REQUIRE(!state.progress.empty());
  CHECK(state.progress.front().seq == 9);  // 8 deleted, no more
  CHECK(state.progress.size() == 32);
  for (int i = 0; i < 5; ++i) commitOrFail(*store, trim);
  state = loadOrFail(*store);
  CHECK(state.progress.front().seq == 30);  // stops at the first record to keep
  CHECK(state.inbound.size() == 4);         // the inbound table keeps its own time

  // A record out of at_ms order stops the truncation at it: only a prefix is deleted.
  WriteBatch late;
  late.progress = {record(41, 1000), record(42, 50 * 1000)};
  commitOrFail(*store, late);
  trim.history_keep_from_ms = 60 * 1000;
  for (int i = 0; i < 4; ++i) commitOrFail(*store, trim);
  state = loadOrFail(*store);
  // 30..40 went (at 30..40 s), 41 (at 1 s) too, 42 stays: it is the last record.
  CHECK(seqsOf(state.progress) == std::vector<std::uint64_t>{42});
  Result<std::uint64_t> last = store->lastProgressSeq();
  REQUIRE(last.isOk());
  CHECK(last.value() == 42);

  WriteBatch inbound_trim;
  inbound_trim.clock_ms = kStart;
  inbound_trim.inbound_keep_from_ms = 25 * 1000;
  commitOrFail(*store, inbound_trim);
  // The walk at open checks the counts record against what is there after the deletes.
  store.reset();
  store = openOrFail(dir.path(), options);
  state = loadOrFail(*store);
  CHECK(seqsOf(state.inbound) == std::vector<std::uint64_t>{30, 40});
  CHECK(seqsOf(state.progress) == std::vector<std::uint64_t>{42});
  // Seqs go on above the last one.
  WriteBatch next;
  next.progress = {record(43, 70 * 1000)};
  commitOrFail(*store, next);
  WriteBatch reused;
  reused.progress = {record(42, 70 * 1000)};
  CHECK(!store->commit(reused).isOk());
}

// With the default bound, a commit deletes kTrimPerRecord old records per progress record it
// appends (at least kTrimPerCommitMin, at most history_trim_per_commit_max): a backlog of old
// history (after a day's downtime, say) is cleared by the rounds in proportion to their own
// work, a few hundred deletes with a small round instead of 16,384 (~10 ms) each.
TEST_CASE("old progress records are deleted in steps sized by each commit's own records") {
  TempDir dir("seqd-history-test");
  StoreOptions options;
  options.log_value_bytes = 0;
  auto store = openOrFail(dir.path(), options);
  constexpr std::uint64_t kOld = 20000;
  WriteBatch old;
  for (std::uint64_t seq = 1; seq <= kOld; ++seq) old.progress.push_back(record(seq, 1000));
  commitOrFail(*store, old);
  std::uint64_t seq = kOld;
  std::size_t old_left = kOld;
  std::size_t added = 0;
  for (const std::size_t records : {0, 600, 9000, 10000}) {
    WriteBatch batch;
    batch.clock_ms = kStart;
    batch.history_keep_from_ms = 2000;  // the old records may go, the new ones stay
    for (std::size_t i = 0; i < records; ++i) batch.progress.push_back(record(++seq, 3000));
    const std::size_t bound = historyTrimBound(batch, StoreOptions().history_trim_per_commit_max);
    CHECK(bound == std::clamp(kTrimPerRecord * records, kTrimPerCommitMin, std::size_t{16384}));
    commitOrFail(*store, batch);
    old_left -= std::min(old_left, bound);
    added += records;
    INFO(records, " records appended");
    CHECK(loadOrFail(*store).progress.size() == old_left + added);
    CHECK(store->historyTrimPending() == (old_left > 0));
  }
  CHECK(old_left == 0);  // 20,000 - 1,024 - 1,200 - 16,384 - the rest
}

// A restart reads only the records after the send limits' snapshot, so the log below it is
// deleted however recent, a bounded number per commit as the old ones are; the store learns
// the snapshot from the commit that writes it, or from the load after a reopen.
TEST_CASE("progress records the send limits' snapshot covers are deleted, however recent") {
  TempDir dir("seqd-history-test");
  StoreOptions options;
  options.history_trim_per_commit_max = 8;
  options.log_value_bytes = 0;
  auto store = openOrFail(dir.path(), options);
  WriteBatch batch;
  for (std::uint64_t seq = 1; seq <= 40; ++seq) batch.progress.push_back(record(seq, 100 * 1000));
  commitOrFail(*store, batch);
  WriteBatch trim;
  trim.clock_ms = kStart;
  trim.history_keep_from_ms = 1000;  // every record is newer
  commitOrFail(*store, trim);
  WriteBatch snapshot = trim;
  snapshot.governor = GovernorSnapshot();
  snapshot.governor->through_seq = 20;
  commitOrFail(*store, snapshot);
  store.reset();
  CHECK(progressSeqsOnDisk(dir.path()) == seqRange(9, 40));  // 8, in the snapshot's commit

  store = openOrFail(dir.path(), options);
  commitOrFail(*store, trim);  // not loaded yet: the snapshot is not known, nothing goes
  store.reset();
  CHECK(progressSeqsOnDisk(dir.path()) == seqRange(9, 40));
  store = openOrFail(dir.path(), options);
  CHECK(seqsOf(loadOrFail(*store).progress) == seqRange(21, 40));
  commitOrFail(*store, trim);
  commitOrFail(*store, trim);
  store.reset();
  CHECK(progressSeqsOnDisk(dir.path()) == seqRange(21, 40));  // stops after the snapshot's

  // A snapshot of the last seq: all but the last record go (the log's last seq stays).
  store = openOrFail(dir.path(), options);
  snapshot.governor->through_seq = 40;
  commitOrFail(*store, snapshot);
  commitOrFail(*store, trim);
  commitOrFail(*store, trim);
  CHECK(seqsOf(loadOrFail(*store).progress).empty());
  Result<std::uint64_t> last = store->lastProgressSeq();
  REQUIRE(last.isOk());
  CHECK(last.value() == 40);
  store.reset();
  CHECK(progressSeqsOnDisk(dir.path()) == std::vector<std::uint64_t>{40});
}

// With the store's own packing, a commit's records share values: a value goes only when
// every record in it may (old, or covered by the send limits' snapshot), the value holding
// the last record stays, a load after a snapshot inside a value reads that value's records
// past it, and a seq at or below the log's last is refused even inside a packed value.
TEST_CASE("packed progress values are deleted whole, and the last one stays") {
  TempDir dir("seqd-history-test");
  auto store = openOrFail(dir.path());
  const auto commitRecords = [&](std::uint64_t first, std::uint64_t last, TimeMs at_ms) {
    WriteBatch batch;
    for (std::uint64_t seq = first; seq <= last; ++seq)
      batch.progress.push_back(record(seq, at_ms));
    commitOrFail(*store, batch);
  };
  using Values = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  commitRecords(1, 40, 1000);
  commitRecords(41, 60, 100 * 1000);
  WriteBatch mixed;  // one commit, old records then new ones
  for (std::uint64_t seq = 61; seq <= 70; ++seq) mixed.progress.push_back(record(seq, 10 * 1000));
  for (std::uint64_t seq = 71; seq <= 80; ++seq) mixed.progress.push_back(record(seq, 200 * 1000));
  commitOrFail(*store, mixed);
  commitRecords(81, 90, 300 * 1000);
  store.reset();
  CHECK(progressValuesOnDisk(dir.path()) == Values{{1, 40}, {41, 20}, {61, 20}, {81, 10}});

  store = openOrFail(dir.path());
  WriteBatch trim;
  trim.clock_ms = kStart;
  trim.history_keep_from_ms = 150 * 1000;  // 1..70 may go; 71..90 stay
  commitOrFail(*store, trim);
  store.reset();
  // 61..70 stay with 71..80, in their value.
  CHECK(progressValuesOnDisk(dir.path()) == Values{{61, 20}, {81, 10}});

  store = openOrFail(dir.path());
  WriteBatch snapshot = trim;
  snapshot.governor = GovernorSnapshot();
  snapshot.governor->through_seq = 70;  // inside a value: the load reads it from 71 on
  commitOrFail(*store, snapshot);
  store.reset();
  store = openOrFail(dir.path());
  CHECK(seqsOf(loadOrFail(*store).progress) == seqRange(71, 90));
  snapshot.governor->through_seq = 90;  // covers all: the value holding the last stays
  commitOrFail(*store, snapshot);
  commitOrFail(*store, trim);
  CHECK(seqsOf(loadOrFail(*store).progress).empty());
  Result<std::uint64_t> last = store->lastProgressSeq();
  REQUIRE(last.isOk());
  CHECK(last.value() == 90);
  for (const std::uint64_t seq : {std::uint64_t{61}, std::uint64_t{85}, std::uint64_t{90}}) {
    INFO("seq ", seq);
    WriteBatch reused;
    reused.progress = {record(seq, 400 * 1000)};
    const Status status = store->commit(reused);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(
        status.message().find("is not above the last in the store (90)") != std::string::npos,
        status.message());
  }
  store.reset();
  CHECK(progressValuesOnDisk(dir.path()) == Values{{81, 10}});
  store = openOrFail(dir.path());
  commitRecords(91, 95, 400 * 1000);
  commitOrFail(*store, snapshot);  // the value of 81..90 may go now that it is not the last
  store.reset();
  CHECK(progressValuesOnDisk(dir.path()) == Values{{91, 5}});
}

// ---------------------------------------------------------------------------------------
// The engine over the real store.

namespace {

constexpr int kContacts = 10;
constexpr std::int64_t kDailyLimit = 4;

std::string contactKey(int i) { return "c" + std::to_string(i) + "@example.test"; }

Step emailStep(const std::string& id, DurationMs wait_ms) {
  Step step;
  step.id = id;
  step.type = StepType::kAutoEmail;
  step.wait_ms = wait_ms;
  step.subject = "Step " + id + " for {{first_name}}";
  step.body = "Hello {{first_name}}.";
  return step;
}

EngineSettings historySettings() {
  EngineSettings result;
  Sequence emails;
  emails.id = "emails";
  emails.name = "emails";
  emails.owner = "alice";
  emails.mailboxes = {"alice@acme.test"};
  emails.rules.finish_on = {"reply", "meeting_booked", "unsubscribe"};
  emails.steps = {emailStep("e1", 0), emailStep("e2", kHourMs), emailStep("e3", kDayMs)};
  Sequence calls = emails;
  calls.id = "calls";
  calls.name = "calls";
  Step call;
  call.id = "call";
  call.type = StepType::kCall;
  call.wait_ms = kHourMs;
  call.note = "Call {{first_name}}";
  calls.steps = {emailStep("c1", 0), call, emailStep("c3", kDayMs)};
  result.sequences["emails"] = emails;
  result.sequences["calls"] = calls;
  Mailbox alice;
  alice.address = "alice@acme.test";
  alice.name = "Alice";
  alice.transport = Transport::kMaildir;
  alice.daily_limit = kDailyLimit;
  alice.hourly_limit = 3;
  alice.domain_daily_limit = 3;
  result.mailboxes = {alice};
  result.checkpoint_snapshots_min = 4;
  result.checkpoint_slice_max = 3;
  return result;
}

// A whole log replayed the way a restart did before the tables: tasks folded from it, every
// kInbound record.
LoadedState fromWholeLog(LoadedState state) {
  std::map<std::uint64_t, Task> tasks;
  state.inbound.clear();
  for (const ProgressRecord& r : state.progress) {
    foldTaskRecord(r, tasks);
    if (r.kind == ProgressKind::kInbound) state.inbound.push_back(r);
  }
  state.tasks.clear();
  for (const auto& [id, task] : tasks) state.tasks.push_back(task);
  return state;
}

// What a committed batch adds to a log that is never truncated (the engine tests' FakeStore
// in short: only what fromWholeLog and restore read).
struct WholeLog {
  LoadedState state;
  void commit(const WriteBatch& batch) {
    for (const ContactRef& contact : batch.contacts) {
      auto it = std::find_if(state.contacts.begin(), state.contacts.end(),
                             [&](const ContactRef& c) { return c->key() == contact->key(); });
      if (it != state.contacts.end()) {
        *it = contact;
      } else {
        state.contacts.push_back(contact);
      }
    }
    // The latest snapshot of each: journal appends, then the checkpoint rows taken after them.
    for (const auto* snapshots : {&batch.enrollments, &batch.checkpoint_rows}) {
      for (const EnrollmentRecord& record : *snapshots) putRecord(state, record);
    }
    state.progress.insert(state.progress.end(), batch.progress.begin(), batch.progress.end());
    for (const SequenceState& sequence : batch.sequences) {
      auto it = std::find_if(
          state.sequences.begin(), state.sequences.end(),
          [&](const SequenceState& s) { return s.sequence_id == sequence.sequence_id; });
      if (it != state.sequences.end()) {
        *it = sequence;
      } else {
        state.sequences.push_back(sequence);
      }
    }
    if (batch.clock_ms) state.clock_ms = batch.clock_ms;
  }
};

class Life {
 public:
  Life(const std::string& dir, EngineSettings settings) : dir_(dir), settings_(settings) {
    store_ = openOrFail(dir_);
    engine_ = std::make_unique<Engine>(settings_, now_);
    REQUIRE(engine_->restore(LoadedState(), now_).isOk());
  }

  Engine& engine() { return *engine_; }
  TimeMs now() const { return now_; }
  WholeLog& whole() { return whole_; }
  const std::vector<std::string>& appliedInbound() const { return applied_; }
  // The messages applied since `since_ms`: the ones the store still knows as applied (an
  // applied message is kept EngineSettings::inbound_keep_ms, then may be applied again).
  std::vector<std::string> appliedInboundSince(TimeMs since_ms) const {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < applied_.size(); ++i) {
      if (applied_at_[i] >= since_ms) ids.push_back(applied_[i]);
    }
    return ids;
  }

  void add(const std::string& sequence, int contact) {
    const std::string key = contactKey(contact);
    if (engine_->findContact(key) == nullptr) {
      ContactRow row;
      row.fields = {{"email", key}, {"first_name", "C" + std::to_string(contact)}};
      engine_->upsertContacts({row});
    }
    AddOptions options;
    options.force = true;
    (void)engine_->add(sequence, {key}, options, kAdmin, now_);
  }

  void inbound(const std::string& message_id, int contact, bool reply) {
    InboundMessage message;
    message.kind = reply ? InboundKind::kReply : InboundKind::kAutoReply;
    message.mailbox = "alice@acme.test";
    message.message_id = message_id;
    message.from_address = contactKey(contact);
    Result<InboundResult> applied = engine_->applyInbound(message, now_);
    REQUIRE(applied.isOk());
    if (!applied.value().duplicate && !applied.value().contact.empty()) {
      applied_.push_back(message_id);
      applied_at_.push_back(now_);
    }
  }

  // Advances, delivering every send at once, until nothing is due at now_.
  void advance(DurationMs by_ms) {
    now_ += by_ms;
    for (int i = 0; i < 100; ++i) {
      engine_->advanceTo(now_);
      round();
      if (engine_->queuedIntents() == 0 && engine_->deliveriesInFlight() == 0) {
        std::optional<TimeMs> next = engine_->nextDue();
        if (!next || *next > now_) return;
      }
    }
    FAIL("the engine did not settle");
  }

  void round() {
    std::vector<DeliveryIntent> intents = engine_->takeIntents({16, 16});
    WriteBatch batch = engine_->takeBatch();
    batch.clock_ms = now_;
    commitOrFail(*store_, batch);
    whole_.commit(batch);
    for (const DeliveryIntent& intent : intents) {
      DeliveryResult result;
      result.enrollment_id = intent.enrollment_id;
      result.step_index = intent.step_index;
      result.send = intent.send;
      result.transport = intent.transport;
      result.outcome = DeliveryOutcome::kDelivered;
      engine_->onDeliveryResult(result, now_);
    }
    if (!intents.empty()) round();  // the results
  }

  // One round as a delivery pool with sends out sees it: two slots, so sends decided earlier
  // are released (and counted) now; of the sends out (those released now and those held
  // from earlier rounds), some stay out, some come back not attempted (kReturned: seqd
  // stopping) and the rest are delivered; their results are committed in the next round.
  void roundWithSendsOut(std::mt19937_64& random) {
    std::vector<DeliveryIntent> intents = engine_->takeIntents({2, 2}, now_);
    WriteBatch batch = engine_->takeBatch();
    batch.clock_ms = now_;
    commitOrFail(*store_, batch);
    whole_.commit(batch);
    out_.insert(out_.end(), intents.begin(), intents.end());
    std::vector<DeliveryIntent> still_out;
    for (const DeliveryIntent& intent : out_) {
      const std::uint64_t fate = random() % 4;
      if (fate == 0) {
        still_out.push_back(intent);
        continue;
      }
      DeliveryResult result;
      result.enrollment_id = intent.enrollment_id;
      result.step_index = intent.step_index;
      result.send = intent.send;
      result.transport = intent.transport;
      result.outcome = fate == 1 ? DeliveryOutcome::kReturned : DeliveryOutcome::kDelivered;
      if (fate == 1) ++returned_;
      engine_->onDeliveryResult(result, now_);
    }
    out_ = std::move(still_out);
  }
  // Moves the clock on and lets the engine fire what is due, delivering nothing.
  void moveClock(DurationMs by_ms) {
    now_ += by_ms;
    engine_->advanceTo(now_);
  }
  std::size_t sendsOut() const { return out_.size(); }
  std::size_t returned() const { return returned_; }
  // seqd is down for a while: the clock moves on and nothing happens.
  void passTime(DurationMs by_ms) { now_ += by_ms; }
  // A restart after the last commit: the sends out die with the process (the restarted
  // engine delivers the released ones again), and so does what was not committed.
  void restart(std::unique_ptr<Engine> engine) {
    out_.clear();
    engine_ = std::move(engine);
  }

  // Closes and reopens the store; returns the state it loads.
  LoadedState reopen() {
    store_.reset();
    store_ = openOrFail(dir_);
    return loadOrFail(*store_);
  }

  void replaceEngine(std::unique_ptr<Engine> engine) { engine_ = std::move(engine); }

  // What seqd does at SIGTERM after its last commit; returns the commits it took.
  int shutdownCheckpoint() {
    int commits = 0;
    for (bool done = false; !done;) {
      WriteBatch batch;
      done = engine_->addShutdownCheckpointSlice(batch);
      if (batch.empty()) continue;
      commitOrFail(*store_, batch);
      ++commits;
      REQUIRE(commits < 1000);
    }
    return commits;
  }

  std::unique_ptr<Engine> restored(const LoadedState& state) const {
    auto engine = std::make_unique<Engine>(settings_, now_);
    Status status = engine->restore(state, now_);
    REQUIRE_MESSAGE(status.isOk(), status.message());
    return engine;
  }

 private:
  std::string dir_;
  EngineSettings settings_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Engine> engine_;
  WholeLog whole_;
  TimeMs now_ = kStart;
  std::vector<std::string> applied_;
  std::vector<TimeMs> applied_at_;   // when each of applied_ was applied
  std::vector<DeliveryIntent> out_;  // sends out in roundWithSendsOut()
  std::size_t returned_ = 0;
};

std::string describeTasks(const std::vector<TaskRow>& rows) {
  std::string text;
  for (const TaskRow& row : rows) {
    text += std::to_string(row.id) + ":" + row.contact + "/" + row.step + "/" + row.state + "/" +
            row.reason + "/" + row.owner + "/" + std::to_string(row.due_at_ms) + " ";
  }
  return text;
}

std::string describeTimes(const SendTimesState& times) {
  std::string text = "exact";
  for (TimeMs at : times.exact) text += " " + std::to_string(at);
  text += " from " + std::to_string(times.exact_from_ms) + " minutes";
  for (const auto& minute : times.minutes) {
    text += " " + std::to_string(minute.last_ms) + "x" + std::to_string(minute.count);
  }
  return text;
}

// The send limits' counts whole, for a failing check's message.
std::string describeCounts(const std::vector<MailboxSendState>& mailboxes) {
  std::string text;
  for (const MailboxSendState& mailbox : mailboxes) {
    text += mailbox.mailbox + ": " + describeTimes(mailbox.sends) + "; interval free " +
            std::to_string(mailbox.interval_free_ms) + "; pruned " +
            std::to_string(mailbox.domains_after_prune) + " at " +
            std::to_string(mailbox.pruned_at_ms) + "\n";
    for (const auto& [domain, times] : mailbox.domains) {
      text += "  " + domain + ": " + describeTimes(times) + "\n";
    }
  }
  return text;
}

// What counts limit: per mailbox, the sends in the last hour and day, each of the last 24
// hours, and the next free instant for every domain either side knows and for none.
std::string describeLimits(const EngineSettings& settings,
                           const std::vector<MailboxSendState>& counts, TimeMs now_ms) {
  SendGovernor governor;
  governor.configure(settings.mailboxes);
  governor.restore(counts);
  std::string text;
  for (const Mailbox& mailbox : settings.mailboxes) {
    const std::string& address = mailbox.address;
    text += address + " hour " + std::to_string(governor.sentWithin(address, kHourMs, now_ms)) +
            " day " + std::to_string(governor.sentWithin(address, kDayMs, now_ms)) + " by hour";
    for (std::uint32_t count : governor.sentByHour(address, 24, now_ms)) {
      text += " " + std::to_string(count);
    }
    for (const char* domain : {"", "example.test", "other.test"}) {
      text += std::string(" free ") + domain + " " +
              std::to_string(governor.nextFree(address, domain, now_ms));
    }
    text += "\n";
  }
  return text;
}

std::string describeMailboxes(const Engine& engine, TimeMs now_ms) {
  std::string text;
  for (const MailboxRow& row : engine.mailboxes(now_ms)) {
    text += row.address + " day " + std::to_string(row.sent_last_24h) + " hour " +
            std::to_string(row.sent_last_hour) + " free " + std::to_string(row.next_free_ms);
  }
  return text;
}

// The same tasks and send-limit counts; with `enrollments`, the same enrollments and inbound
// notes (explain shows them). A live engine notes an inbound message on every enrollment it
// changed, a restart only on the one it matched (as before the tables): live and restarted
// engines are compared without them.
void checkSameState(const Engine& expected, const Engine& actual, TimeMs now_ms, bool enrollments) {
  CHECK(describeTasks(actual.tasks({})) == describeTasks(expected.tasks({})));
  CHECK(describeMailboxes(actual, now_ms) == describeMailboxes(expected, now_ms));
  for (const char* sequence : {"emails", "calls"}) {
    for (int i = 0; i < kContacts; ++i) {
      const Enrollment* want = expected.findEnrollment(sequence, contactKey(i));
      const Enrollment* got = actual.findEnrollment(sequence, contactKey(i));
      INFO(sequence, " ", contactKey(i));
      REQUIRE((want == nullptr) == (got == nullptr));
      if (want == nullptr) continue;
      if (!enrollments) continue;
      CHECK(sameEnrollment(expected.recordOf(*want), actual.recordOf(*got)));
      Result<std::string> want_text = expected.explain(sequence, contactKey(i));
      Result<std::string> got_text = actual.explain(sequence, contactKey(i));
      REQUIRE(want_text.isOk());
      REQUIRE(got_text.isOk());
      CHECK(got_text.value() == want_text.value());
    }
  }
}

}  // namespace

TEST_CASE("a restart from the truncated store equals the live engine and a whole-log replay") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TempDir dir("seqd-history-test");
  Life life(dir.path(), historySettings());
  for (const char* sequence : {"emails", "calls"}) {
    REQUIRE(life.engine().activate(sequence, kAdmin, life.now()).isOk());
  }
  life.round();
  const DurationMs advances[] = {kMinuteMs,   20 * kMinuteMs, kHourMs,
                                 6 * kHourMs, kDayMs,         2 * kDayMs};
  int messages = 0;
  int restarts = 0;
  for (int op = 0; op < 300; ++op) {
    const std::string sequence = random() % 2 ? "emails" : "calls";
    const int contact = static_cast<int>(random() % kContacts);
    switch (random() % 10) {
      case 0:
      case 1:
        life.add(sequence, contact);
        break;
      case 2: {
        std::vector<TaskRow> open;
        for (const TaskRow& row : life.engine().tasks({})) {
          if (row.state == "open") open.push_back(row);
        }
        if (!open.empty()) {
          const TaskRow& task = open[random() % open.size()];
          REQUIRE(life.engine().finishTask(task.id, random() % 3 == 0, kAdmin, life.now()).isOk());
        }
        break;
      }
      case 3: {
        // A new message, or one read again (a lost mark).
        const bool again = !life.appliedInbound().empty() && random() % 3 == 0;
        const std::string id = again
                                   ? life.appliedInbound()[random() % life.appliedInbound().size()]
                                   : "<in-" + std::to_string(++messages) + "@example.test>";
        life.inbound(id, contact, random() % 4 == 0);
        break;
      }
      case 4: {
        OperatorRequest request;
        const OperatorAction actions[] = {OperatorAction::kPause, OperatorAction::kResume,
                                          OperatorAction::kRemove};
        request.action = actions[random() % 3];
        request.contacts = {contactKey(contact)};
        (void)life.engine().operate(sequence, request, kAdmin, life.now());
        break;
      }
      default:
        life.advance(advances[random() % 6]);
        break;
    }
    life.round();
    if (random() % 8 != 0) continue;
    ++restarts;
    INFO("seed ", seed, " op ", op, " restart ", restarts);
    LoadedState truncated = life.reopen();
    CHECK(truncated.progress.size() <= life.whole().state.progress.size());
    std::unique_ptr<Engine> from_tables = life.restored(truncated);
    std::unique_ptr<Engine> from_log = life.restored(fromWholeLog(life.whole().state));
    checkSameState(*from_log, *from_tables, life.now(), true);
    checkSameState(life.engine(), *from_tables, life.now(), false);
    life.replaceEngine(std::move(from_tables));
    // Every message applied within the keep window (a day's margin for the trim, which runs
    // in rounds) is refused as applied before; runs often span more than the 90 days.
    const TimeMs kept_since = life.now() - EngineSettings().inbound_keep_ms + kDayMs;
    for (const std::string& id : life.appliedInboundSince(kept_since)) {
      InboundMessage message;
      message.kind = InboundKind::kReply;
      message.mailbox = "alice@acme.test";
      message.message_id = id;
      message.from_address = contactKey(0);
      Result<InboundResult> again = life.engine().applyInbound(message, life.now());
      REQUIRE(again.isOk());
      CHECK(again.value().duplicate);
    }
    life.round();
  }
  // The run spans days: the log was truncated, the tables were not.
  LoadedState state = life.reopen();
  INFO("seed ", seed);
  CHECK(restarts > 0);
  CHECK(state.progress.size() < life.whole().state.progress.size());
  CHECK(fromWholeLog(life.whole().state).tasks.size() == state.tasks.size());
}

TEST_CASE(
    "after a truncation the daily limit still counts the last day, and an inbox message "
    "applied before is refused") {
  TempDir dir("seqd-history-test");
  EngineSettings settings = historySettings();
  settings.sequences.erase("calls");
  settings.mailboxes[0].hourly_limit = 100;
  settings.mailboxes[0].domain_daily_limit = 0;
  Life life(dir.path(), settings);
  REQUIRE(life.engine().activate("emails", kAdmin, life.now()).isOk());
  // Day 0: three contacts get their first email, and one replies.
  for (int i = 0; i < 3; ++i) life.add("emails", i);
  life.advance(kMinuteMs);
  life.inbound("<old-reply@example.test>", 0, true);
  life.round();
  // Two days later those records are past the 25 h kept; the second emails of contacts 1 and
  // 2 and two first emails go: the daily limit (4) is used up.
  life.advance(2 * kDayMs);
  for (int i = 3; i < 8; ++i) life.add("emails", i);
  life.advance(kMinuteMs);
  life.advance(kMinuteMs);  // a commit after the sends: the truncation runs
  life.round();
  LoadedState state = life.reopen();
  for (const ProgressRecord& r : state.progress) {
    CHECK(r.at_ms >= life.now() - kHistoryKeepMs);  // day 0 is gone from the log
  }
  REQUIRE(state.inbound.size() == 1);  // but not from the inbound table
  std::size_t fired_today = 0;
  for (const ProgressRecord& r : state.progress) {
    if (r.kind == ProgressKind::kStepFired) ++fired_today;
  }
  CHECK(fired_today == static_cast<std::size_t>(kDailyLimit));
  life.replaceEngine(life.restored(state));
  const std::vector<MailboxRow> rows = life.engine().mailboxes(life.now());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].sent_last_24h == static_cast<std::size_t>(kDailyLimit));
  // Nobody gets another email before the day is over.
  const auto steps_done = [&] {
    std::size_t done = 0;
    for (int i = 0; i < 8; ++i) {
      const Enrollment* enrollment = life.engine().findEnrollment("emails", contactKey(i));
      REQUIRE(enrollment != nullptr);
      done += enrollment->done_steps.size();
    }
    return done;
  };
  const std::size_t done_at_restart = steps_done();
  life.advance(20 * kHourMs);
  CHECK(steps_done() == done_at_restart);
  CHECK(life.engine().mailboxes(life.now())[0].sent_last_24h ==
        static_cast<std::size_t>(kDailyLimit));
  // The day-0 reply, read again, changes nothing.
  InboundMessage message;
  message.kind = InboundKind::kReply;
  message.mailbox = "alice@acme.test";
  message.message_id = "<old-reply@example.test>";
  message.from_address = contactKey(1);
  Result<InboundResult> again = life.engine().applyInbound(message, life.now());
  REQUIRE(again.isOk());
  CHECK(again.value().duplicate);
  const Enrollment* other = life.engine().findEnrollment("emails", contactKey(1));
  REQUIRE(other != nullptr);
  CHECK(other->status != EnrollmentStatus::kFinished);
}

TEST_CASE(
    "a restart from the send limits' snapshot and the records after it equals the live engine "
    "and a whole-log replay") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TempDir dir("seqd-history-test");
  EngineSettings settings = historySettings();
  settings.governor_snapshot_records_min = 3;
  // Every field of the counts in use: exact times and minutes (the daily limit above the
  // hourly), a domain table, and a min_interval with its jitter.
  settings.mailboxes[0].daily_limit = 12;
  settings.mailboxes[0].hourly_limit = 5;
  settings.mailboxes[0].domain_daily_limit = 9;
  settings.mailboxes[0].min_interval_ms = 2 * kMinuteMs;
  settings.mailboxes[0].jitter_ms = kMinuteMs;
  Life life(dir.path(), settings);
  for (const char* sequence : {"emails", "calls"}) {
    REQUIRE(life.engine().activate(sequence, kAdmin, life.now()).isOk());
  }
  life.round();
  const DurationMs advances[] = {kMinuteMs, 7 * kMinuteMs, 40 * kMinuteMs, 3 * kHourMs, kDayMs};
  int restarts_from_snapshot = 0;
  int compared_whole = 0;
  int messages = 0;
  for (int op = 0; op < 240; ++op) {
    const std::string sequence = random() % 2 ? "emails" : "calls";
    const int contact = static_cast<int>(random() % kContacts);
    switch (random() % 6) {
      case 0:
      case 1:
        life.add(sequence, contact);
        break;
      case 2:
        life.inbound("<g-" + std::to_string(++messages) + "@example.test>", contact,
                     random() % 3 == 0);
        break;
      default:
        life.advance(advances[random() % std::size(advances)]);
        break;
    }
    life.round();
    if (random() % 6 != 0) continue;
    INFO("seed ", seed, " op ", op);
    LoadedState truncated = life.reopen();
    const std::size_t kept = truncated.progress.size();
    bool tail_whole = true;  // no record after the snapshot was trimmed yet
    if (truncated.governor.has_value()) {
      ++restarts_from_snapshot;
      const std::uint64_t through = truncated.governor->through_seq;
      tail_whole = std::count_if(life.whole().state.progress.begin(),
                                 life.whole().state.progress.end(), [&](const ProgressRecord& r) {
                                   return r.seq > through;
                                 }) == static_cast<std::ptrdiff_t>(kept);
      // The store reads only the records after the snapshot.
      for (const ProgressRecord& r : truncated.progress) {
        CHECK(r.seq > truncated.governor->through_seq);
      }
      CHECK(kept < life.whole().state.progress.size());
    }
    std::unique_ptr<Engine> from_snapshot = life.restored(truncated);
    std::unique_ptr<Engine> from_log = life.restored(fromWholeLog(life.whole().state));
    // The counts whole, field by field, as the live engine has them (every send was
    // delivered in the round: none is queued or out), unless the store trimmed records after
    // the snapshot (sends over a day old: the live engine still holds them until its next
    // send drops them, though they limit nothing). In every case they limit the same.
    if (truncated.governor.has_value() && tail_whole) {
      ++compared_whole;
      CHECK(describeCounts(from_snapshot->loggedSendCounts()) ==
            describeCounts(life.engine().loggedSendCounts()));
      CHECK(from_snapshot->loggedSendCounts() == life.engine().loggedSendCounts());
      CHECK(from_snapshot->sendCounts() == from_snapshot->loggedSendCounts());
    }
    CHECK(describeLimits(settings, from_snapshot->sendCounts(), life.now()) ==
          describeLimits(settings, life.engine().sendCounts(), life.now()));
    CHECK(describeLimits(settings, from_snapshot->sendCounts(), life.now()) ==
          describeLimits(settings, from_log->sendCounts(), life.now()));
    checkSameState(*from_log, *from_snapshot, life.now(), true);
    checkSameState(life.engine(), *from_snapshot, life.now(), false);
    life.replaceEngine(std::move(from_snapshot));
    life.round();
  }
  INFO("seed ", seed);
  CHECK(restarts_from_snapshot > 0);
  CHECK(compared_whole > 0);
}

TEST_CASE("a snapshot of the send limits is written at shutdown: the next start reads no record") {
  TempDir dir("seqd-history-test");
  Life life(dir.path(), historySettings());
  REQUIRE(life.engine().activate("emails", kAdmin, life.now()).isOk());
  for (int i = 0; i < 3; ++i) life.add("emails", i);
  life.advance(kMinuteMs);
  LoadedState before = life.reopen();
  CHECK(!before.governor.has_value());  // fewer records than the default bound
  CHECK(!before.progress.empty());
  const std::vector<MailboxSendState> live = life.engine().loggedSendCounts();
  REQUIRE(!live.empty());
  CHECK(!live[0].sends.exact.empty());
  CHECK(life.shutdownCheckpoint() > 0);
  LoadedState after = life.reopen();
  REQUIRE(after.governor.has_value());
  CHECK(after.progress.empty());
  CHECK(after.governor->through_seq == before.progress.back().seq);
  CHECK(after.governor->mailboxes == live);
  std::unique_ptr<Engine> restarted = life.restored(after);
  CHECK(restarted->sendCounts() == live);
  checkSameState(life.engine(), *restarted, life.now(), true);
}

TEST_CASE("the checkpoint at shutdown leaves no journal tail to read at the next start") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TempDir dir("seqd-history-test");
  Life life(dir.path(), historySettings());
  REQUIRE(life.engine().activate("emails", kAdmin, life.now()).isOk());
  for (int op = 0; op < 60; ++op) {
    life.add("emails", static_cast<int>(random() % kContacts));
    life.advance(kMinuteMs * static_cast<DurationMs>(1 + random() % 90));
  }
  INFO("seed ", seed);
  // Until a crash would read a journal tail (a checkpoint may just have covered everything).
  for (int op = 0; life.reopen().journal_ids.empty(); ++op) {
    REQUIRE(op < 100);
    life.add("emails", 100 + op);  // a new contact: a new snapshot in the journal
    life.round();
  }
  CHECK(life.shutdownCheckpoint() > 0);
  LoadedState state = life.reopen();
  CHECK(state.journal_ids.empty());
  std::unique_ptr<Engine> restarted = life.restored(state);
  checkSameState(life.engine(), *restarted, life.now(), true);
  // Nothing journaled since: a second shutdown has nothing to write.
  life.replaceEngine(std::move(restarted));
  CHECK(life.shutdownCheckpoint() == 0);
}

namespace {

// One seeded life of the test below.
void checkSnapshotWithSendsOut(std::uint64_t seed) {
  std::printf("history_test: sends-out seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  TempDir dir("seqd-history-test");
  EngineSettings settings = historySettings();
  settings.governor_snapshot_records_min = 3;
  settings.mailboxes[0].daily_limit = 12;
  settings.mailboxes[0].hourly_limit = 5;
  settings.mailboxes[0].domain_daily_limit = 9;
  settings.mailboxes[0].min_interval_ms = 2 * kMinuteMs;
  settings.mailboxes[0].jitter_ms = kMinuteMs;
  // The log is never trimmed here, so every restart reads the whole tail after its snapshot
  // (a restart that finds records after the snapshot trimmed lacks sends over a day old,
  // which limit nothing: the test above covers that case).
  settings.history_keep_ms = 1000 * kDayMs;
  Life life(dir.path(), settings);
  for (const char* sequence : {"emails", "calls"}) {
    REQUIRE(life.engine().activate(sequence, kAdmin, life.now()).isOk());
  }
  life.roundWithSendsOut(random);
  const DurationMs advances[] = {kMinuteMs, 7 * kMinuteMs, 40 * kMinuteMs, 3 * kHourMs, kDayMs};
  int compared = 0;                 // restarts from a snapshot
  int compared_with_sends_out = 0;  // ... with sends out to deliver again
  int restarts = 0;
  for (int op = 0; op < 800; ++op) {
    const std::string sequence = random() % 2 ? "emails" : "calls";
    switch (random() % 5) {
      case 0:
      case 1:
        life.add(sequence, static_cast<int>(random() % kContacts));
        break;
      default:
        life.moveClock(advances[random() % std::size(advances)]);
        break;
    }
    life.roundWithSendsOut(random);
    if (random() % 5 != 0) continue;
    INFO("seed ", seed, " op ", op);
    // Restart from what is committed (the results of this round's sends are not, yet),
    // mostly some minutes later: the sends delivered again are counted at the restart.
    LoadedState truncated = life.reopen();
    life.passTime(static_cast<DurationMs>(random() % 3) * 5 * kMinuteMs);
    std::unique_ptr<Engine> from_snapshot = life.restored(truncated);
    std::unique_ptr<Engine> from_log = life.restored(fromWholeLog(life.whole().state));
    if (truncated.governor.has_value()) {
      // The store read only the records after the snapshot, and all of them.
      const std::uint64_t through = truncated.governor->through_seq;
      CHECK(std::count_if(life.whole().state.progress.begin(), life.whole().state.progress.end(),
                          [&](const ProgressRecord& r) { return r.seq > through; }) ==
            static_cast<std::ptrdiff_t>(truncated.progress.size()));
      ++compared;
      if (from_snapshot->deliveriesInFlight() > 0) ++compared_with_sends_out;
    }
    // The counts as the log builds them, and as the restarted engine applies them (the
    // re-delivered sends moved to now), field by field.
    CHECK(describeCounts(from_snapshot->loggedSendCounts()) ==
          describeCounts(from_log->loggedSendCounts()));
    CHECK(from_snapshot->loggedSendCounts() == from_log->loggedSendCounts());
    CHECK(from_snapshot->sendCounts() == from_log->sendCounts());
    CHECK(describeLimits(settings, from_snapshot->sendCounts(), life.now()) ==
          describeLimits(settings, from_log->sendCounts(), life.now()));
    ++restarts;
    life.restart(std::move(from_snapshot));
    life.roundWithSendsOut(random);
  }
  INFO("seed ", seed);
  std::printf(
      "history_test: sends-out seed %llu: %d restarts, %d from a snapshot (%d with sends out), "
      "%zu sends returned\n",
      static_cast<unsigned long long>(seed), restarts, compared, compared_with_sends_out,
      life.returned());
  CHECK(compared > 0);
  CHECK(compared_with_sends_out > 0);
  CHECK(life.returned() > 0);
}

}  // namespace

TEST_CASE(
    "a restart from the send limits' snapshot and its tail equals a whole-log replay with sends "
    "out, returned and delivered again") {
  // Several lives: a difference in one field of the counts may take a while to show.
  const std::uint64_t seed = testSeed();
  const int lives = std::getenv("SEQD_SEED") != nullptr ? 1 : 4;
  for (int life = 0; life < lives; ++life) checkSnapshotWithSendsOut(seed + life);
}
