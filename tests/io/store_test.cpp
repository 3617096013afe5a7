// Proves the LMDB store keeps every field of every record across commits and reopens, commits
// all or nothing, refuses what it must (a non-increasing progress seq, a second open, a key
// LMDB cannot hold, a full map, another schema version) and reports a damaged state dir
// (emptied, deleted, cut short or overwritten data.mdb, a flipped byte in a value) as
// "state dir DIR is damaged: ..." instead of crashing or loading less than was written.
#include "io/store.hpp"

#include <doctest/doctest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/fake_store.hpp"
#include "io/crc32c.hpp"
#include "io/record_codec.hpp"
#include "io/store_check.hpp"
#include "temp_dir.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

using seqd::testing::recordAt;
using seqd::testing::TempDir;

constexpr std::size_t kFuzzRoundsMax = 3000;

std::unique_ptr<Store> openOrFail(const std::string& dir, StoreOptions options = {}) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir, options);
  REQUIRE_MESSAGE(opened.isOk(), (opened.isOk() ? "" : opened.status().message()));
  return std::move(opened.value());
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

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Contact fullContact(const std::string& key) {
  Contact contact;
  contact.key = key;
  contact.email = key + "@example.com";
  contact.email_status = "verified";
  contact.first_name = "Zoë";
  contact.last_name = "Øster-Müller";
  contact.company = "株式会社テスト";
  contact.title = "VP, \"Sales\"\n(EMEA)";
  contact.phone = "+49 30 1234567";
  contact.timezone = "Europe/Berlin";
  contact.score = 97;
  contact.owner = "ana@seller.example";
  contact.stage = "qualified";
  contact.dnc = true;
  contact.call_opt_out = false;
  contact.email_opt_out = true;
  contact.extra = {
      {"city", "Zürich"}, {"empty", ""}, {"emoji", "🚀"}, {"nul", std::string("a\0b", 3)}};
  return contact;
}

Enrollment fullEnrollment(EnrollmentId id) {
  Enrollment enrollment;
  enrollment.id = id;
  enrollment.sequence_id = "cold-outreach";
  enrollment.contact_key = "zoë@example.com";
  enrollment.status = EnrollmentStatus::kPaused;
  enrollment.step_index = 3;
  enrollment.waits_from_ms = -5;  // before the epoch is still a time
  enrollment.next_at_ms = 1796133600000 + 90 * kMinuteMs;
  enrollment.paused_reason = PauseReason::kOoo;
  enrollment.finish_reason = "manual:asked twice";
  enrollment.not_sent_reason = "smtp_4xx_exhausted";
  enrollment.last_mailbox = "ana@seller.example";
  return enrollment;
}

// fullEnrollment() with every extra beside it.
EnrollmentRecord fullRecord(EnrollmentId id) {
  EnrollmentExtras extras;
  extras.mailboxes = SymbolList{"ana@seller.example", "", "bo@seller.example"};
  extras.unresolved.set(Symbol("intro"), Symbol("interrupted"));
  extras.resume_at_ms = INT64_MAX;
  return EnrollmentRecord(fullEnrollment(id), SendOut(), extras);
}

ProgressRecord progressRecord(std::uint64_t seq) {
  ProgressRecord record;
  record.seq = seq;
  record.enrollment_id = static_cast<EnrollmentId>(seq * 7 + 1);
  record.step_index = static_cast<std::uint32_t>(seq % 5);
  record.kind = static_cast<ProgressKind>(1 + seq % 4);
  record.at_ms = 1796133600000 + static_cast<TimeMs>(seq);
  record.mailbox = "ana@seller.example";
  record.message_id = "<" + std::to_string(seq) + "@seller.example>";
  record.detail = seq % 2 == 0 ? "" : "450 4.2.1 mailbox busy";
  return record;
}

WriteBatch progressBatch(std::uint64_t first_seq, std::size_t count) {
  WriteBatch batch;
  for (std::size_t i = 0; i < count; ++i) batch.progress.push_back(progressRecord(first_seq + i));
  return batch;
}

std::string littleEndian(std::uint64_t value, std::size_t bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

// The checksum io/store.hpp documents: CRC32C of DB name | 0 | u32 LE key size | key | value,
// appended little-endian.
std::string sealed(std::string_view db, std::string_view key, std::string_view value) {
  std::uint32_t crc = crc32c(db);
  crc = crc32c(std::string_view("\0", 1), crc);
  crc = crc32c(littleEndian(key.size(), 4), crc);
  crc = crc32c(key, crc);
  crc = crc32c(value, crc);
  return std::string(value) + littleEndian(crc, 4);
}

enum class Seal {
  kNone,       // the value as given: what schema version 1 wrote
  kValue,      // the value with its checksum
  kAndCounts,  // and the meta counts record made to match, as a real commit would
};

// Rewrites the meta counts record from LMDB's entry counts, keeping the commit count.
void resealCounts(MDB_txn* txn) {
  std::string counts;
  for (const char* name :
       {"contacts", "enrollments", "progress", "sequences", "journal", "tasks", "inbound"}) {
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, name, MDB_CREATE, &dbi) == 0);
    MDB_stat stat{};
    REQUIRE(mdb_stat(txn, dbi, &stat) == 0);
    counts += littleEndian(stat.ms_entries, 8);
  }
  const auto last_key = [txn](const char* name) {
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, name, 0, &dbi) == 0);
    MDB_cursor* cursor = nullptr;
    REQUIRE(mdb_cursor_open(txn, dbi, &cursor) == 0);
    MDB_val key{};
    MDB_val value{};
    std::uint64_t last = 0;
    if (mdb_cursor_get(cursor, &key, &value, MDB_LAST) == 0) {
      last = decodeProgressKey(std::string_view(static_cast<char*>(key.mv_data), 8));
    }
    mdb_cursor_close(cursor);
    return last;
  };
  counts += littleEndian(last_key("progress"), 8) + littleEndian(0, 8) +
            littleEndian(last_key("journal"), 8);
  MDB_dbi meta = 0;
  REQUIRE(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta) == 0);
  const std::string stored = sealed("meta", "counts", counts);
  MDB_val mdb_key{6, const_cast<char*>("counts")};
  MDB_val mdb_value{stored.size(), const_cast<char*>(stored.data())};
  REQUIRE(mdb_put(txn, meta, &mdb_key, &mdb_value, 0) == 0);
}

// Writes one raw key/value into a named DB, bypassing the store's codec.
// REQUIRES: no Store is open on dir (one env per process).
void rawPut(const std::string& dir, const char* db, std::string_view key, std::string_view value,
            Seal seal = Seal::kAndCounts) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0640) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == 0);
  const std::string stored = seal == Seal::kNone ? std::string(value) : sealed(db, key, value);
  MDB_val mdb_key{key.size(), const_cast<char*>(key.data())};
  MDB_val mdb_value{stored.size(), const_cast<char*>(stored.data())};
  REQUIRE(mdb_put(txn, dbi, &mdb_key, &mdb_value, 0) == 0);
  if (seal == Seal::kAndCounts) resealCounts(txn);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

}  // namespace

TEST_CASE("every field of every record round-trips through commit and load") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());

  Contact plain;  // defaults: empty strings, score 0, flags false, no extra
  plain.key = "plain";
  Enrollment unset = fullEnrollment(0);  // id 0 and every time kNoTime
  unset.status = EnrollmentStatus::kRemoved;
  unset.waits_from_ms = kNoTime;
  unset.next_at_ms = kNoTime;
  Enrollment top_row = fullEnrollment(UINT32_MAX);  // with a send out
  top_row.sending = true;
  const EnrollmentRecord top(top_row, SendOut{"intro", "bo@seller.example", -7, true});

  WriteBatch batch;
  batch.contacts = {PackedContact::pack(fullContact("zoë")), PackedContact::pack(plain)};
  batch.enrollments = {fullRecord(42), unset, top};
  batch.progress = {progressRecord(1), progressRecord(2), progressRecord(3)};
  batch.sequences = {{"cold-outreach", true}, {"paused-one", false}};
  batch.clock_ms = -1;  // any instant, including one that looks like a sentinel
  commitOrFail(*store, batch);

  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == 2);
  CHECK(sameContact(state.contacts[0]->unpack(), plain));  // key byte order: "plain" < "zo\xc3\xab"
  CHECK(sameContact(state.contacts[1]->unpack(), fullContact("zoë")));
  CHECK(state.contacts[1]->extra("nul") == std::string("a\0b", 3));
  REQUIRE(state.enrollments.size() == 3);
  CHECK(sameEnrollment(recordAt(state, 0), unset));
  CHECK(sameEnrollment(recordAt(state, 1), fullRecord(42)));
  CHECK(sameEnrollment(recordAt(state, 2), top));
  CHECK(state.enrollments[0].next_at_ms == kNoTime);
  REQUIRE(state.sends_out.size() == 1);
  CHECK(state.sends_out[0].first == UINT32_MAX);
  REQUIRE(state.extras.size() == 1);
  CHECK(state.extras[0].first == 42);
  CHECK(state.extras[0].second == fullRecord(42).extras);
  REQUIRE(state.progress.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(sameProgress(state.progress[i], progressRecord(i + 1)));
  REQUIRE(state.sequences.size() == 2);
  CHECK(state.sequences[0].sequence_id == "cold-outreach");
  CHECK(state.sequences[0].active);
  CHECK(state.sequences[1].sequence_id == "paused-one");
  CHECK_FALSE(state.sequences[1].active);
  REQUIRE(state.clock_ms.has_value());
  CHECK(*state.clock_ms == -1);
  CHECK(store->lastProgressSeq().value() == 3);
}

TEST_CASE("same*() notice a change in any one field") {
  // The round-trip checks above rely on these comparisons seeing every member.
  const Contact contact = fullContact("k");
  std::vector<Contact> contacts(16, contact);
  contacts[0].key += "x";
  contacts[1].email += "x";
  contacts[2].email_status = "unknown";
  contacts[3].first_name += "x";
  contacts[4].last_name += "x";
  contacts[5].company += "x";
  contacts[6].title += "x";
  contacts[7].phone += "x";
  contacts[8].timezone += "x";
  contacts[9].score = 1;
  contacts[10].owner += "x";
  contacts[11].stage += "x";
  contacts[12].dnc = false;
  contacts[13].call_opt_out = true;
  contacts[14].email_opt_out = false;
  contacts[15].extra["city"] = "Basel";
  for (const Contact& changed : contacts) CHECK_FALSE(sameContact(changed, contact));

  const Enrollment enrollment = fullEnrollment(1);
  std::vector<Enrollment> enrollments(14, enrollment);
  enrollments[0].id = 2;
  enrollments[1].sequence_id = enrollments[1].sequence_id + "x";
  enrollments[2].contact_key = enrollments[2].contact_key + "x";
  enrollments[3].status = EnrollmentStatus::kActive;
  enrollments[4].step_index = 4;
  enrollments[5].waits_from_ms = kNoTime;
  enrollments[6].next_at_ms = kNoTime;
  enrollments[7].done_steps = SymbolList{"intro"};
  enrollments[8].paused_reason = PauseReason::kManual;
  enrollments[9].finish_reason = enrollments[9].finish_reason + "x";
  enrollments[10].not_sent_reason = enrollments[10].not_sent_reason + "x";
  enrollments[11].last_mailbox = enrollments[11].last_mailbox + "x";
  enrollments[12].delivery_failures = static_cast<std::uint8_t>(enrollment.delivery_failures + 1);
  enrollments[13].sending = true;
  for (const Enrollment& changed : enrollments) CHECK_FALSE(sameEnrollment(changed, enrollment));
  // And each member of the send out.
  const EnrollmentRecord out(enrollment, SendOut{"intro", "ana@seller.example", 5, true});
  std::vector<EnrollmentRecord> sends(4, out);
  sends[0].send.step = "bump";
  sends[1].send.mailbox = "bo@seller.example";
  sends[2].send.at_ms = 6;
  sends[3].send.released = false;
  for (const EnrollmentRecord& changed : sends) CHECK_FALSE(sameEnrollment(changed, out));
  CHECK(sameEnrollment(out, out));
  // And each of the extras beside the row.
  const EnrollmentRecord full = fullRecord(1);
  std::vector<EnrollmentRecord> extras(3, full);
  extras[0].extras.mailboxes = SymbolList{"ana@seller.example", ""};
  extras[1].extras.unresolved.set(Symbol("intro"), Symbol("bounced"));
  extras[2].extras.resume_at_ms = kNoTime;
  for (const EnrollmentRecord& changed : extras) CHECK_FALSE(sameEnrollment(changed, full));
  CHECK(sameEnrollment(full, full));

  const ProgressRecord record = progressRecord(5);
  std::vector<ProgressRecord> records(8, record);
  records[0].seq = 6;
  records[1].enrollment_id = 0;
  records[2].step_index = 9;
  records[3].kind = ProgressKind::kTaskCreated;
  records[4].at_ms = 0;
  records[5].mailbox = records[5].mailbox.str() + "x";
  records[6].message_id += "x";
  records[7].detail += "x";
  for (const ProgressRecord& changed : records) CHECK_FALSE(sameProgress(changed, record));
}

TEST_CASE("everything survives close and reopen, and many commits accumulate") {
  TempDir dir("seqd-store-test");
  constexpr std::uint64_t kCommits = 50;
  {
    auto store = openOrFail(dir.path());
    for (std::uint64_t i = 1; i <= kCommits; ++i) {
      WriteBatch batch;
      batch.contacts.push_back(PackedContact::pack(fullContact("c" + std::to_string(1000 + i))));
      batch.enrollments.push_back(fullEnrollment(static_cast<EnrollmentId>(i)));
      batch.progress = {progressRecord(2 * i - 1), progressRecord(2 * i)};
      batch.sequences.push_back({"s" + std::to_string(i % 3), i % 2 == 0});
      batch.clock_ms = static_cast<TimeMs>(i * 1000);
      commitOrFail(*store, batch);
    }
  }
  auto store = openOrFail(dir.path());
  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == kCommits);
  REQUIRE(state.enrollments.size() == kCommits);
  REQUIRE(state.progress.size() == 2 * kCommits);
  for (std::uint64_t i = 1; i <= kCommits; ++i) {
    CHECK(
        sameContact(state.contacts[i - 1]->unpack(), fullContact("c" + std::to_string(1000 + i))));
    CHECK(sameEnrollment(state.enrollments[i - 1], fullEnrollment(static_cast<EnrollmentId>(i))));
  }
  for (std::uint64_t seq = 1; seq <= 2 * kCommits; ++seq) {
    CHECK(sameProgress(state.progress[seq - 1], progressRecord(seq)));
  }
  REQUIRE(state.sequences.size() == 3);  // upserted: the last write of each id wins
  CHECK(state.sequences[0].sequence_id == "s0");
  CHECK(state.sequences[0].active == (48 % 2 == 0));
  CHECK(state.sequences[1].sequence_id == "s1");
  CHECK(state.sequences[1].active == (49 % 2 == 0));
  CHECK(state.sequences[2].active == (50 % 2 == 0));
  CHECK(state.clock_ms.value() == static_cast<TimeMs>(kCommits * 1000));
  CHECK(store->lastProgressSeq().value() == 2 * kCommits);
}

// A load interns the contacts' keys, and the rows' contact keys, a batch at a time (256 under
// one lock, io/lmdb_store.cpp): 700 is two whole batches and a part of one.
TEST_CASE("700 contacts and rows load whole across the load's batches, each with its own key") {
  TempDir dir("seqd-store-test");
  constexpr int kContacts = 700;
  const auto keyOf = [](int i) {
    std::string key = "batch-" + std::to_string(100000 + i) + "@example.com";
    return key;
  };
  const auto write = [&](bool with_rows) {
    auto store = openOrFail(dir.path());
    WriteBatch batch;
    for (int i = 0; i < kContacts; ++i) {
      batch.contacts.push_back(PackedContact::pack(fullContact(keyOf(i))));
      if (!with_rows) continue;
      Enrollment enrollment = fullEnrollment(static_cast<EnrollmentId>(i + 1));
      enrollment.contact_key = keyOf(kContacts - 1 - i);
      batch.enrollments.push_back(enrollment);
    }
    commitOrFail(*store, batch);
  };
  SUBCASE("all of them") {
    write(true);
    auto store = openOrFail(dir.path());
    LoadedState state = loadOrFail(*store);
    REQUIRE(state.contacts.size() == kContacts);
    REQUIRE(state.enrollments.size() == kContacts);
    for (int i = 0; i < kContacts; ++i) {
      CHECK(state.contacts[i]->key() == keyOf(i));
      CHECK(sameContact(state.contacts[i]->unpack(), fullContact(keyOf(i))));
      CHECK(state.enrollments[i].contact_key == keyOf(kContacts - 1 - i));
    }
  }
  SUBCASE("one damaged in the second batch is named by its key") {
    write(false);  // rawPut's counts would not match a journal of packed entries
    const std::string bad = keyOf(300);
    rawPut(dir.path(), "contacts", bad, "\x01\xff\xff\xff\xff garbage");
    auto store = openOrFail(dir.path());
    LoadedState state;
    const Status status = store->load(state);
    CHECK(status.code() == StatusCode::kCorruption);
    CHECK_MESSAGE(contains(status.message(), "contacts key '" + bad + "'"), status.message());
    CHECK(state.contacts.empty());
  }
}

// A load looks the table's rows' contact keys up a chunk of 32Ki rows at a time while its
// other thread applies the journal over those rows (then half of each chunk on that thread),
// and interns after each chunk, on one thread, the keys no contact has (io/lmdb_store.cpp,
// internContactKeys). The store is written by a forked child, so that none of its strings is
// interned in this process before the load: a row's key is then found only when the load
// interned it as a contact's. Two chunks' worth and a part of one in the table, one row in
// ten naming a contact (so that the contacts' part of the load is short, and the lookups meet
// the journal's), every row changed twice since by the journal, and rows the table lacks
// added by it.
TEST_CASE("rows' contact keys are found across the lookup's chunks and threads, ghosts too") {
  TempDir dir("seqd-store-test");
  constexpr int kRows = 70000;
  constexpr int kAdded = 300;
  const auto contactKeyOf = [](int i) { return "chunked-" + std::to_string(500000 + i); };
  // Rows naming no contact's key: their keys are interned after the lookup.
  const auto rowKeyOf = [&](int i) {
    return i % 10 == 0 ? contactKeyOf(kRows + kAdded - 1 - i) : "ghost-" + std::to_string(i);
  };
  const auto rowOf = [&](int i, TimeMs next_at_ms) {
    Enrollment enrollment;
    enrollment.id = static_cast<EnrollmentId>(i);
    enrollment.sequence_id = "chunked";
    enrollment.contact_key = rowKeyOf(i);
    enrollment.next_at_ms = next_at_ms;
    return enrollment;
  };
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Result<std::unique_ptr<Store>> store = openLmdbStore(dir.path(), {});
    if (!store.isOk()) ::_exit(2);
    WriteBatch table;
    table.checkpoint_start = true;
    table.checkpoint_finish = true;
    for (int i = 0; i < kRows + kAdded; ++i) {
      if (i % 10 == 0) {
        Contact contact;
        contact.key = contactKeyOf(kRows + kAdded - 1 - i);
        contact.email = contact.key + "@example.com";
        table.contacts.push_back(PackedContact::pack(contact));
      }
      if (i < kRows) table.checkpoint_rows.push_back(rowOf(i, 1000));
    }
    if (!store.value()->commit(table).isOk()) ::_exit(3);
    for (TimeMs at_ms : {2000, 3000}) {
      WriteBatch journal;
      for (int i = 0; i < kRows + kAdded; ++i) journal.enrollments.push_back(rowOf(i, at_ms + i));
      if (!store.value()->commit(journal).isOk()) ::_exit(1);
    }
    ::_exit(0);
  }
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  REQUIRE(WIFEXITED(wait_status));
  REQUIRE(WEXITSTATUS(wait_status) == 0);
  REQUIRE_FALSE(Symbol::find(rowKeyOf(0)).has_value());
  REQUIRE_FALSE(Symbol::find(rowKeyOf(1)).has_value());

  auto store = openOrFail(dir.path());
  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == (kRows + kAdded) / 10);
  REQUIRE(state.enrollments.size() == kRows + kAdded);
  int wrong = 0;
  int named = 0;
  for (int i = 0; i < kRows + kAdded; ++i) {
    const Enrollment& row = state.enrollments[i];
    if (row.id != static_cast<EnrollmentId>(i) || row.contact_key != rowKeyOf(i) ||
        row.next_at_ms != 3000 + i) {
      if (++wrong <= 5) {
        FAIL_CHECK("row " << i << " names '" << row.contact_key << "', next at " << row.next_at_ms);
      }
    }
    if (row.contact_key.starts_with("chunked-")) ++named;
  }
  CHECK(wrong == 0);
  CHECK(named == (kRows + kAdded) / 10);
}

TEST_CASE("progress loads in seq order, enrollments in id order (big-endian keys)") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  // Little-endian keys would sort 256 before 255 and 65536 before 256.
  const std::vector<std::uint64_t> seqs = {1,     2,     255,        256,
                                           65535, 65536, 1ULL << 32, (1ULL << 40) + 1};
  for (std::uint64_t seq : seqs) {
    WriteBatch batch;
    batch.progress.push_back(progressRecord(seq));
    commitOrFail(*store, batch);
  }
  WriteBatch enrollments;
  for (EnrollmentId id : {65536U, 256U, 1U, 255U}) {
    enrollments.enrollments.push_back(fullEnrollment(id));
  }
  commitOrFail(*store, enrollments);

  LoadedState state = loadOrFail(*store);
  REQUIRE(state.progress.size() == seqs.size());
  for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(state.progress[i].seq == seqs[i]);
  REQUIRE(state.enrollments.size() == 4);
  CHECK(state.enrollments[0].id == 1);
  CHECK(state.enrollments[1].id == 255);
  CHECK(state.enrollments[2].id == 256);
  CHECK(state.enrollments[3].id == 65536);
  CHECK(store->lastProgressSeq().value() == (1ULL << 40) + 1);
}

TEST_CASE("an empty store loads empty and its last progress seq is 0") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  CHECK(store->lastProgressSeq().value() == 0);
  commitOrFail(*store, WriteBatch());
  LoadedState state;
  state.contacts.push_back(
      PackedContact::pack(fullContact("stale")));  // load replaces what was there
  REQUIRE(store->load(state).isOk());
  CHECK(state.contacts.empty());
  CHECK(state.enrollments.empty());
  CHECK(state.progress.empty());
  CHECK(state.sequences.empty());
  CHECK_FALSE(state.clock_ms.has_value());
}

TEST_CASE("a non-increasing progress seq is refused and the whole batch is rolled back") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  commitOrFail(*store, progressBatch(1, 3));

  auto expectRefused = [&](std::vector<std::uint64_t> seqs, const std::string& why) {
    WriteBatch batch;
    batch.contacts.push_back(PackedContact::pack(fullContact("must-not-appear")));
    batch.enrollments.push_back(fullEnrollment(9));
    batch.sequences.push_back({"must-not-appear", true});
    batch.clock_ms = 123;
    for (std::uint64_t seq : seqs) batch.progress.push_back(progressRecord(seq));
    Status status = store->commit(batch);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(status.message(), why), status.message());
    LoadedState state = loadOrFail(*store);
    CHECK(state.contacts.empty());
    CHECK(state.enrollments.empty());
    CHECK(state.sequences.empty());
    CHECK_FALSE(state.clock_ms.has_value());
    REQUIRE(state.progress.size() == 3);
    CHECK(sameProgress(state.progress[2], progressRecord(3)));
    CHECK(store->lastProgressSeq().value() == 3);
  };
  SUBCASE("equal to the last in the store") { expectRefused({3}, "last in the store (3)"); }
  SUBCASE("below the last in the store") { expectRefused({2}, "last in the store (3)"); }
  SUBCASE("good records first, then a repeat") { expectRefused({4, 5, 5}, "in the batch (5)"); }
  SUBCASE("decreasing inside the batch") { expectRefused({7, 6}, "in the batch (7)"); }
  SUBCASE("seq 0") { expectRefused({0}, "progress seq 0"); }

  commitOrFail(*store, progressBatch(4, 1));  // the store still takes the next seq
  CHECK(store->lastProgressSeq().value() == 4);
}

TEST_CASE("upserting a contact replaces the whole record") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  WriteBatch first;
  first.contacts.push_back(PackedContact::pack(fullContact("k")));
  commitOrFail(*store, first);

  Contact replacement;
  replacement.key = "k";
  replacement.email = "new@example.com";
  replacement.extra = {{"only", "this"}};
  WriteBatch second;
  second.contacts.push_back(PackedContact::pack(replacement));
  commitOrFail(*store, second);

  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == 1);
  CHECK(sameContact(state.contacts[0]->unpack(), replacement));
  CHECK(!state.contacts[0]->extra("city"));
}

TEST_CASE("records the store cannot hold are refused with the batch rolled back") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  WriteBatch batch;
  batch.contacts.push_back(PackedContact::pack(fullContact("fine")));
  std::string expected;
  SUBCASE("contact key longer than LMDB keys") {
    batch.contacts.push_back(PackedContact::pack(fullContact(std::string(600, 'k'))));
    expected = "600 bytes";
  }
  SUBCASE("empty contact key") {
    batch.contacts.push_back(PackedContact::pack(fullContact("")));
    expected = "empty key";
  }
  SUBCASE("score above the maximum") {
    Contact contact = fullContact("high");
    contact.score = kScoreMax + 1;
    batch.contacts.push_back(PackedContact::pack(contact));
    expected = "score";
  }
  SUBCASE("a field over the byte maximum") {
    Contact contact = fullContact("big");
    contact.title.assign(kRecordFieldBytesMax + 1, 't');
    batch.contacts.push_back(PackedContact::pack(contact));
    expected = "title";
  }
  SUBCASE("too many mailboxes") {
    EnrollmentRecord enrollment = fullRecord(1);
    enrollment.extras.mailboxes =
        SymbolList(std::vector<Symbol>(kEnrollmentMailboxesMax + 1, "m@example.com"));
    batch.enrollments.push_back(enrollment);
    expected = "mailboxes";
  }
  SUBCASE("empty sequence id") {
    batch.sequences.push_back({"", true});
    expected = "empty key";
  }
  Status status = store->commit(batch);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(contains(status.message(), expected), status.message());
  CHECK(loadOrFail(*store).contacts.empty());
}

TEST_CASE("a damaged value loads as Corruption naming the DB and key") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    WriteBatch batch;
    batch.contacts.push_back(PackedContact::pack(fullContact("good")));
    batch.enrollments.push_back(fullEnrollment(5));
    commitOrFail(*store, batch);
  }
  std::string encoded;
  std::string db = "contacts";
  std::string key_text;
  SUBCASE("garbage in contacts") {
    rawPut(dir.path(), "contacts", "bad-key", "\x01\xff\xff\xff\xff garbage");
    key_text = "bad-key";
  }
  SUBCASE("a contact value cut short") {
    encodeContact(fullContact("cut"), encoded);
    rawPut(dir.path(), "contacts", "cut", std::string_view(encoded).substr(0, encoded.size() - 3));
    key_text = "cut";
  }
  SUBCASE("an unknown format version") {
    encodeContact(fullContact("future"), encoded);
    encoded[0] = 9;
    rawPut(dir.path(), "contacts", "future", encoded);
    key_text = "future";
  }
  SUBCASE("an enrollment key of the wrong width") {
    encodeEnrollment(fullEnrollment(6), encoded);
    rawPut(dir.path(), "enrollments", "abc", encoded);
    db = "enrollments";
    key_text = "abc";
  }
  SUBCASE("a sequence flag that is not 0 or 1") {
    rawPut(dir.path(), "sequences", "seq", "\x02");
    db = "sequences";
    key_text = "seq";
  }
  SUBCASE("an empty progress value") {
    rawPut(dir.path(), "progress", encodeProgressKey(77), "");
    db = "progress";
    key_text = "\\x00\\x00\\x00\\x00\\x00\\x00\\x00M";
  }
  auto store = openOrFail(dir.path());
  LoadedState state;
  Status status = store->load(state);
  CHECK(status.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(status.message(), db + " key '" + key_text + "'"), status.message());
  CHECK(state.contacts.empty());  // nothing half-loaded
}

TEST_CASE("every truncation and random damage of a record decodes to Corruption or a value") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  std::string contact_bytes;
  std::string enrollment_bytes;
  std::string progress_bytes;
  encodeContact(fullContact("k"), contact_bytes);
  encodeEnrollment(fullEnrollment(1), enrollment_bytes);
  encodeProgress(progressRecord(3), progress_bytes);

  Contact contact;
  EnrollmentRecord enrollment;
  ProgressRecord record;
  for (std::size_t size = 0; size < contact_bytes.size(); ++size) {
    CHECK(decodeContact("k", contact_bytes.substr(0, size), contact).code() ==
          StatusCode::kCorruption);
  }
  for (std::size_t size = 0; size < enrollment_bytes.size(); ++size) {
    CHECK(decodeEnrollment(1, enrollment_bytes.substr(0, size), enrollment).code() ==
          StatusCode::kCorruption);
  }
  for (std::size_t size = 0; size < progress_bytes.size(); ++size) {
    CHECK(decodeProgress(3, progress_bytes.substr(0, size), record).code() ==
          StatusCode::kCorruption);
  }
  CHECK(decodeContact("k", contact_bytes + "x", contact).code() == StatusCode::kCorruption);

  // Damaged copies live in exactly-sized heap buffers, so a read past the end is visible to
  // ASan; here we check that decoding only ever returns ok or Corruption.
  for (std::size_t round = 0; round < kFuzzRoundsMax; ++round) {
    const std::string* source = round % 3 == 0   ? &contact_bytes
                                : round % 3 == 1 ? &enrollment_bytes
                                                 : &progress_bytes;
    std::string damaged = *source;
    const std::size_t flips = 1 + random() % 4;
    for (std::size_t i = 0; i < flips; ++i) {
      damaged[random() % damaged.size()] = static_cast<char>(random() & 0xff);
    }
    damaged.resize(random() % (damaged.size() + 1));
    const std::vector<char> exact(damaged.begin(), damaged.end());
    const std::string_view bytes(exact.data(), exact.size());
    Status status = round % 3 == 0   ? decodeContact("k", bytes, contact)
                    : round % 3 == 1 ? decodeEnrollment(1, bytes, enrollment)
                                     : decodeProgress(3, bytes, record);
    CHECK((status.isOk() || status.code() == StatusCode::kCorruption));
  }
}

TEST_CASE("a full map is refused as IOError and the store stays usable") {
  TempDir dir("seqd-store-test");
  WriteBatch big;
  for (int i = 0; i < 200; ++i) {
    Contact contact = fullContact("big" + std::to_string(i));
    contact.title.assign(20000, 't');
    big.contacts.push_back(PackedContact::pack(contact));
  }
  {
    auto store = openOrFail(dir.path(), StoreOptions{1 << 20});
    Status status = store->commit(big);
    CHECK(status.code() == StatusCode::kIOError);
    CHECK_MESSAGE(status.message().starts_with("store is full"), status.message());
    CHECK(isOutOfRoom(status));
    CHECK(loadOrFail(*store).contacts.empty());
    CHECK(store->probeWrite().isOk());  // a small write still fits
    WriteBatch small;
    small.contacts.push_back(PackedContact::pack(fullContact("small")));
    commitOrFail(*store, small);
  }
  auto store = openOrFail(dir.path(), StoreOptions{64 << 20});  // reopening larger grows it
  commitOrFail(*store, big);
  CHECK(loadOrFail(*store).contacts.size() == 201);
}

TEST_CASE("out of room: only a full disk or a full map, by the message's start") {
  CHECK(isOutOfRoom(Status::ioError("no space left on device: state dir /x: commit failed")));
  CHECK(isOutOfRoom(Status::ioError("store is full: /x: commit: MDB_MAP_FULL")));
  CHECK_FALSE(isOutOfRoom(Status::ioError("store /x: commit: Input/output error")));
  CHECK_FALSE(isOutOfRoom(Status::corruption("no space left on device")));
}

// `sequence activate` of a sequence with 10M enrollments commits ~20M records at once; a cap
// of 4Mi records (1 << 22) once refused it after the engine had applied it, and seqd exited.
TEST_CASE("one commit takes more than 4Mi records") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  constexpr std::size_t kRecords = (std::size_t{1} << 22) + 1;
  WriteBatch batch;
  batch.sequences.reserve(kRecords);
  for (std::size_t i = 0; i < kRecords; ++i) {
    batch.sequences.push_back({"s" + std::to_string(i), i % 2 == 0});
  }
  commitOrFail(*store, batch);
  const LoadedState state = loadOrFail(*store);
  REQUIRE(state.sequences.size() == kRecords);
  CHECK(state.sequences.front().sequence_id == "s0");  // key order: "s0" < "s1" < "s10" ...
  CHECK(state.sequences.back().sequence_id == "s999999");
}

TEST_CASE("100k progress records in batches of 10k") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  constexpr std::size_t kBatches = 10;
  constexpr std::size_t kPerBatch = 10000;
  for (std::size_t i = 0; i < kBatches; ++i) {
    commitOrFail(*store, progressBatch(1 + i * kPerBatch, kPerBatch));
  }
  CHECK(store->lastProgressSeq().value() == kBatches * kPerBatch);
  LoadedState state = loadOrFail(*store);
  REQUIRE(state.progress.size() == kBatches * kPerBatch);
  bool all_in_order = true;
  for (std::size_t i = 0; i < state.progress.size(); ++i) {
    all_in_order = all_in_order && state.progress[i].seq == i + 1;
  }
  CHECK(all_in_order);
  CHECK(sameProgress(state.progress.back(), progressRecord(kBatches * kPerBatch)));
}

TEST_CASE("a second open of the same directory is refused until the first closes") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  Result<std::unique_ptr<Store>> second = openLmdbStore(dir.path());
  REQUIRE_FALSE(second.isOk());
  CHECK(second.status().code() == StatusCode::kFailedPrecondition);
  CHECK(contains(second.status().message(), "already open"));
  store.reset();
  CHECK(openLmdbStore(dir.path()).isOk());
}

TEST_CASE("a missing directory is created with mode 0750, parents included") {
  TempDir dir("seqd-store-test");
  const std::string nested = dir.path() + "/var/lib/seqd";
  const mode_t mask = ::umask(0);
  ::umask(mask);
  { auto store = openOrFail(nested); }
  for (const std::string& path : {dir.path() + "/var", nested}) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == (0750 & ~mask));
  }
  CHECK(std::filesystem::exists(nested + "/data.mdb"));
}

TEST_CASE("a path that is a file, and a newer schema, are refused") {
  TempDir dir("seqd-store-test");
  SUBCASE("file") {
    const std::string file = dir.path() + "/plain";
    std::FILE* handle = std::fopen(file.c_str(), "w");
    REQUIRE(handle != nullptr);
    std::fclose(handle);
    Result<std::unique_ptr<Store>> opened = openLmdbStore(file);
    REQUIRE_FALSE(opened.isOk());
    CHECK(contains(opened.status().message(), "not a directory"));
  }
  SUBCASE("schema") {
    { auto store = openOrFail(dir.path()); }
    rawPut(dir.path(), "meta", "schema_version", littleEndian(kStoreSchemaVersion + 1, 4));
    Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
    REQUIRE_FALSE(opened.isOk());
    // Not FailedPrecondition: seqd reports that as "another seqd is already running".
    CHECK(opened.status().code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(opened.status().message(),
                           "schema version " + std::to_string(kStoreSchemaVersion + 1)),
                  opened.status().message());
  }
}

TEST_CASE("a forked child cannot use the parent's store") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    WriteBatch batch;
    batch.contacts.push_back(PackedContact::pack(fullContact("from-child")));
    Status status = store->commit(batch);
    ::_exit(status.code() == StatusCode::kFailedPrecondition ? 0 : 1);
  }
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  CHECK(WIFEXITED(wait_status));
  CHECK(WEXITSTATUS(wait_status) == 0);
  CHECK(loadOrFail(*store).contacts.empty());
}

// ---------------------------------------------------------------------------------------
// A damaged state dir

namespace {

constexpr std::size_t kDamageRounds = 50;
constexpr std::size_t kDamageBytes = 2000;
constexpr const char* kLoadedExactly = "loaded exactly what was written";

bool sameState(const LoadedState& left, const LoadedState& right) {
  if (left.contacts.size() != right.contacts.size() ||
      left.enrollments.size() != right.enrollments.size() ||
      left.progress.size() != right.progress.size() ||
      left.sequences.size() != right.sequences.size() || left.clock_ms != right.clock_ms) {
    return false;
  }
  for (std::size_t i = 0; i < left.contacts.size(); ++i) {
    if (!sameContact(left.contacts[i]->unpack(), right.contacts[i]->unpack())) return false;
  }
  for (std::size_t i = 0; i < left.enrollments.size(); ++i) {
    if (!sameEnrollment(left.enrollments[i], right.enrollments[i])) return false;
  }
  for (std::size_t i = 0; i < left.progress.size(); ++i) {
    if (!sameProgress(left.progress[i], right.progress[i])) return false;
  }
  for (std::size_t i = 0; i < left.sequences.size(); ++i) {
    if (left.sequences[i].sequence_id != right.sequences[i].sequence_id ||
        left.sequences[i].active != right.sequences[i].active) {
      return false;
    }
  }
  return true;
}

// A store whose records fill some 60 pages, written in four commits; returns what it loads.
LoadedState writeSample(const std::string& dir) {
  auto store = openOrFail(dir);
  for (std::uint64_t commit = 0; commit < 4; ++commit) {
    WriteBatch batch;
    for (std::uint64_t i = commit * 60; i < (commit + 1) * 60; ++i) {
      batch.contacts.push_back(PackedContact::pack(fullContact("contact-" + std::to_string(i))));
      batch.enrollments.push_back(fullEnrollment(static_cast<EnrollmentId>(i + 1)));
    }
    for (std::uint64_t seq = commit * 300 + 1; seq <= (commit + 1) * 300; ++seq) {
      batch.progress.push_back(progressRecord(seq));
    }
    batch.sequences.push_back({"sequence-" + std::to_string(commit), commit % 2 == 0});
    batch.clock_ms = static_cast<TimeMs>(1796133600000 + commit);
    commitOrFail(*store, batch);
  }
  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == 240);
  return state;
}

std::string openAndLoad(const std::string& dir, const LoadedState& expected) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir);
  if (!opened.isOk()) return "error: " + opened.status().message();
  LoadedState state;
  Status status = opened.value()->load(state);
  if (!status.isOk()) return "error: " + status.message();
  return sameState(state, expected) ? kLoadedExactly : "loaded different data";
}

// Opens and loads dir in a child process, so that a crash fails the check that called this
// instead of ending the test run. Returns kLoadedExactly, "error: <message>", "loaded
// different data" or "crashed with signal N".
std::string openAndLoadIsolated(const std::string& dir, const LoadedState& expected) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    const std::string outcome = openAndLoad(dir, expected);
    const ssize_t wrote = ::write(fds[1], outcome.data(), outcome.size());
    ::_exit(wrote == static_cast<ssize_t>(outcome.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string outcome;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::read(fds[0], buffer, sizeof buffer)) > 0) {
    outcome.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  if (WIFSIGNALED(wait_status)) {
    return "crashed with signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
           strsignal(WTERMSIG(wait_status)) + ")";
  }
  return outcome;
}

bool isDamagedMessage(const std::string& outcome, const std::string& dir) {
  const std::string head = "error: state dir " + dir + " is damaged: ";
  const std::string tail = "; restore from backup or move it away";
  return outcome.size() > head.size() + tail.size() && outcome.compare(0, head.size(), head) == 0 &&
         outcome.compare(outcome.size() - tail.size(), tail.size(), tail) == 0;
}

std::string dataFile(const std::string& dir) { return dir + "/data.mdb"; }

std::string readFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  REQUIRE(file != nullptr);
  std::string bytes;
  char buffer[65536];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) bytes.append(buffer, got);
  std::fclose(file);
  return bytes;
}

void writeFile(const std::string& path, std::string_view bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  REQUIRE(std::fclose(file) == 0);
}

}  // namespace

TEST_CASE("a fresh, never-used directory opens empty, and is marked as used from then on") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    LoadedState state = loadOrFail(*store);
    CHECK(state.contacts.empty());
    CHECK(state.progress.empty());
    CHECK_FALSE(state.clock_ms.has_value());
  }
  CHECK(std::filesystem::exists(dir.file("seqd.state")));
  { auto store = openOrFail(dir.path()); }  // and reopens fine
}

TEST_CASE("a state dir whose data.mdb was emptied, deleted or cut short is refused as damaged") {
  TempDir dir("seqd-store-test");
  const LoadedState expected = writeSample(dir.path());
  const auto file_bytes = std::filesystem::file_size(dataFile(dir.path()));
  std::string what;
  SUBCASE("truncated to 0 bytes") {
    std::filesystem::resize_file(dataFile(dir.path()), 0);
    what = "data.mdb is empty";
  }
  SUBCASE("deleted") {
    std::filesystem::remove(dataFile(dir.path()));
    what = "data.mdb is missing";
  }
  SUBCASE("cut to half its size") {
    std::filesystem::resize_file(dataFile(dir.path()), file_bytes / 2);
    what = "cut short";
  }
  SUBCASE("cut by one page") {
    std::filesystem::resize_file(dataFile(dir.path()), file_bytes - 4096);
    what = "cut short";
  }
  const std::string outcome = openAndLoadIsolated(dir.path(), expected);
  CHECK_MESSAGE(isDamagedMessage(outcome, dir.path()), outcome);
  CHECK_MESSAGE(contains(outcome, what), outcome);
}

TEST_CASE("2,000 random bytes past the meta pages: the data written, or the damaged message") {
  const std::uint64_t seed = testSeed();
  MESSAGE("its rounds' seeds: ", seed, "..", seed + kDamageRounds - 1);
  TempDir pristine("seqd-store-test");
  const LoadedState expected = writeSample(pristine.path());
  const std::string original = readFile(dataFile(pristine.path()));
  const std::size_t meta_bytes = 2 * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  REQUIRE(original.size() > meta_bytes + kDamageBytes);
  std::size_t intact = 0;
  std::size_t refused = 0;
  for (std::size_t round = 0; round < kDamageRounds; ++round) {
    const std::uint64_t round_seed = seed + round;
    std::mt19937_64 random(round_seed);
    std::string damaged = original;
    const std::size_t offset =
        meta_bytes + random() % (original.size() - meta_bytes - kDamageBytes + 1);
    for (std::size_t i = 0; i < kDamageBytes; ++i) {
      damaged[offset + i] = static_cast<char>(random() & 0xff);
    }
    TempDir dir("seqd-store-test");
    writeFile(dataFile(dir.path()), damaged);
    std::filesystem::copy_file(pristine.file("seqd.state"), dir.file("seqd.state"));
    const std::string outcome = openAndLoadIsolated(dir.path(), expected);
    if (outcome == kLoadedExactly) {
      ++intact;
      continue;
    }
    ++refused;
    CHECK_MESSAGE(isDamagedMessage(outcome, dir.path()), "seed ", round_seed, " (offset ", offset,
                  "): ", outcome);
  }
  MESSAGE(intact, " rounds loaded the data intact, ", refused, " were refused");
}

TEST_CASE("one flipped byte inside a value is a checksum mismatch naming the DB and key") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    WriteBatch batch;
    batch.contacts = {PackedContact::pack(fullContact("before")),
                      PackedContact::pack(fullContact("flip-me")),
                      PackedContact::pack(fullContact("zafter"))};
    commitOrFail(*store, batch);
  }
  std::string bytes = readFile(dataFile(dir.path()));
  const std::string email = "flip-me@example.com";
  std::size_t flipped = 0;
  for (std::size_t at = bytes.find(email); at != std::string::npos; at = bytes.find(email, at)) {
    bytes[at + 7] = '#';  // '@' -> '#': still a string the codec decodes
    ++flipped;
  }
  REQUIRE(flipped >= 1);
  writeFile(dataFile(dir.path()), bytes);
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
  REQUIRE_FALSE(opened.isOk());
  CHECK(opened.status().code() == StatusCode::kCorruption);
  CHECK_MESSAGE(isDamagedMessage("error: " + opened.status().message(), dir.path()),
                opened.status().message());
  CHECK_MESSAGE(
      contains(opened.status().message(), "checksum mismatch in DB 'contacts' key 'flip-me'"),
      opened.status().message());
}

namespace {

// Flips the byte after each `marker` in bytes to '#'.
void flipAfter(std::string& bytes, const std::string& marker) {
  std::size_t flipped = 0;
  for (std::size_t at = bytes.find(marker); at != std::string::npos;
       at = bytes.find(marker, at + 1)) {
    bytes[at + marker.size()] = '#';
    ++flipped;
  }
  REQUIRE(flipped >= 1);
}

}  // namespace

// The walk at open reads the DB with the most pages on a second thread: what it reports is
// still what one walk in DB order would, the damage of the first DB in that order.
TEST_CASE("damage in two DBs, one walked on each thread, names the first DB in DB order") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    WriteBatch batch = progressBatch(1, 3000);  // progress: by far the most pages
    batch.contacts = {PackedContact::pack(fullContact("before")),
                      PackedContact::pack(fullContact("flip-me")),
                      PackedContact::pack(fullContact("zafter"))};
    batch.sequences = {{"aaa-sequence", true}, {"seqflip@x", true}};
    commitOrFail(*store, batch);
  }
  const std::string clean = readFile(dataFile(dir.path()));
  struct Case {
    std::vector<std::string> markers;
    std::string named;
  };
  // contacts (0) is walked on this thread, progress (2) on the other, sequences (3) here.
  const Case cases[] = {
      {{"flip-me", "<1500"}, "checksum mismatch in DB 'contacts' key 'flip-me'"},
      {{"<1500", "seqflip"}, "checksum mismatch in DB 'progress'"},
      {{"seqflip"}, "checksum mismatch in DB 'sequences'"},
      {{"<1500"}, "checksum mismatch in DB 'progress'"},
  };
  for (const Case& damage : cases) {
    std::string bytes = clean;
    for (const std::string& marker : damage.markers) flipAfter(bytes, marker);
    writeFile(dataFile(dir.path()), bytes);
    Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
    REQUIRE_FALSE(opened.isOk());
    CHECK(opened.status().code() == StatusCode::kCorruption);
    CHECK_MESSAGE(contains(opened.status().message(), damage.named), opened.status().message());
  }
  writeFile(dataFile(dir.path()), clean);
  CHECK(openLmdbStore(dir.path()).isOk());
}

TEST_CASE("an entry removed behind the store's back does not load as less data") {
  TempDir dir("seqd-store-test");
  const LoadedState expected = writeSample(dir.path());
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
  REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0640) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "contacts", 0, &dbi) == 0);
  MDB_val key{9, const_cast<char*>("contact-7")};
  REQUIRE(mdb_del(txn, dbi, &key, nullptr) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
  const std::string outcome = openAndLoadIsolated(dir.path(), expected);
  CHECK_MESSAGE(isDamagedMessage(outcome, dir.path()), outcome);
  CHECK_MESSAGE(
      contains(outcome, "DB 'contacts' holds 239 entries; the meta counts record says 240"),
      outcome);
}

TEST_CASE("the marker: another store's data.mdb, a garbled marker and a lost marker") {
  TempDir dir("seqd-store-test");
  const LoadedState expected = writeSample(dir.path());
  SUBCASE("data.mdb of another store") {
    TempDir other("seqd-store-test");
    writeSample(other.path());
    std::filesystem::copy_file(dataFile(other.path()), dataFile(dir.path()),
                               std::filesystem::copy_options::overwrite_existing);
    const std::string outcome = openAndLoadIsolated(dir.path(), expected);
    CHECK_MESSAGE(isDamagedMessage(outcome, dir.path()), outcome);
    CHECK_MESSAGE(contains(outcome, "seqd.state names store"), outcome);
  }
  SUBCASE("a garbled marker") {
    std::string marker = readFile(dir.file("seqd.state"));
    marker[marker.find("schema ") + 7] = '7';
    writeFile(dir.file("seqd.state"), marker);
    const std::string outcome = openAndLoadIsolated(dir.path(), expected);
    CHECK_MESSAGE(isDamagedMessage(outcome, dir.path()), outcome);
    CHECK_MESSAGE(contains(outcome, "seqd.state is unreadable"), outcome);
  }
  SUBCASE("a lost marker is written again when the store is whole") {
    const std::string marker = readFile(dir.file("seqd.state"));
    std::filesystem::remove(dir.file("seqd.state"));
    CHECK(openAndLoadIsolated(dir.path(), expected) == kLoadedExactly);
    CHECK(readFile(dir.file("seqd.state")) == marker);
  }
}

TEST_CASE("a version 1 store (no checksums, no marker) is refused naming its version") {
  TempDir dir("seqd-store-test");
  for (const char* db : {"contacts", "enrollments", "progress", "sequences"}) {
    rawPut(dir.path(), db, "k", "v", Seal::kNone);
  }
  rawPut(dir.path(), "meta", "schema_version", littleEndian(1, 4), Seal::kNone);
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
  REQUIRE_FALSE(opened.isOk());
  CHECK(opened.status().code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(contains(opened.status().message(),
                         "holds store schema version 1; this seqd reads "
                         "schema version 4"),
                opened.status().message());
  CHECK_FALSE(std::filesystem::exists(dir.file("seqd.state")));
}

namespace {

// The checkpoints a committer runs beside the journal (engine/records.hpp), for tests that
// commit random batches: a checkpoint starts now and then, covering the enrollments with
// snapshots since the last one started, and writes their latest rows a slice a batch, in id
// order. finishedAt() says how many snapshots the last finished checkpoint covers: a restart
// reads the journal from there.
class CheckpointModel {
 public:
  // A batch's snapshot of `id`, in seq order.
  void appended(EnrollmentId id) {
    ++appended_;
    journaled_.insert(id);
  }
  // Starts a checkpoint now and then, and puts 1 to slice_max rows of the one going on into
  // `batch`, each id's latest from latest(id). Returns the ids it put.
  template <typename Latest>
  std::vector<EnrollmentId> checkpointInto(WriteBatch& batch, std::mt19937_64& random,
                                           std::size_t slice_max, const Latest& latest) {
    if (checkpoint_.empty() && !journaled_.empty() && random() % 8 == 0) {
      batch.checkpoint_start = true;
      started_at_ = appended_;
      checkpoint_.assign(journaled_.begin(), journaled_.end());
      journaled_.clear();
      written_ = 0;
    }
    std::vector<EnrollmentId> put;
    if (checkpoint_.empty() || (!batch.checkpoint_start && random() % 2 != 0)) return put;
    const std::size_t end = std::min(checkpoint_.size(), written_ + 1 + random() % slice_max);
    for (; written_ < end; ++written_) {
      batch.checkpoint_rows.push_back(latest(checkpoint_[written_]));
      put.push_back(checkpoint_[written_]);
    }
    if (written_ == checkpoint_.size()) {
      batch.checkpoint_finish = true;
      checkpoint_.clear();
      finished_at_ = started_at_;
    }
    return put;
  }
  std::size_t appendedCount() const { return appended_; }
  std::size_t finishedAt() const { return finished_at_; }

 private:
  std::set<EnrollmentId> journaled_;      // since the last checkpoint started
  std::vector<EnrollmentId> checkpoint_;  // the one going on, ascending
  std::size_t written_ = 0;
  std::size_t appended_ = 0;     // snapshots in all
  std::size_t started_at_ = 0;   // appended_ when the checkpoint going on started
  std::size_t finished_at_ = 0;  // ... when the last finished one started
};

}  // namespace

// The journal and checkpoint protocol of engine/records.hpp, driven the way the engine drives
// it, with the store closed and opened again at random points (a restart may fall inside a
// checkpoint): every load must give each enrollment its latest snapshot, and the journal
// tail read at a restart stays within what the last finished checkpoint did not cover.
TEST_CASE("a restart gives every enrollment its latest snapshot, inside checkpoints too") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  constexpr EnrollmentId kIds = 40;
  std::map<EnrollmentId, Enrollment> latest;
  CheckpointModel checkpoints;
  TimeMs version = 0;
  for (int round = 0; round < 400; ++round) {
    WriteBatch batch;
    const int changes = static_cast<int>(random() % 6);
    for (int i = 0; i < changes; ++i) {
      const EnrollmentId id = static_cast<EnrollmentId>(random() % kIds);
      Enrollment enrollment = fullEnrollment(id);
      enrollment.next_at_ms = ++version;
      latest[id] = enrollment;
      batch.enrollments.push_back(enrollment);
      checkpoints.appended(id);
    }
    checkpoints.checkpointInto(batch, random, 4, [&](EnrollmentId id) { return latest[id]; });
    commitOrFail(*store, batch);
    if (random() % 10 != 0) continue;
    store.reset();
    store = openOrFail(dir.path());
    LoadedState state = loadOrFail(*store);
    REQUIRE(state.enrollments.size() == latest.size());
    for (const Enrollment& enrollment : state.enrollments) {
      INFO("round ", round, " id ", enrollment.id);
      REQUIRE(latest.count(enrollment.id) == 1);
      CHECK(sameEnrollment(enrollment, latest[enrollment.id]));
    }
    // The tail read: every snapshot after the last finished checkpoint's start, no more.
    CHECK(state.journal_ids.size() == checkpoints.appendedCount() - checkpoints.finishedAt());
    for (const EnrollmentId id : state.journal_ids) CHECK(latest.count(id) == 1);
  }
}

namespace {

std::uint64_t bigEndianOf(std::string_view bytes) {
  std::uint64_t value = 0;
  for (const char c : bytes) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

// One journal value as its key names it, read here by the layout io/store.hpp documents (not
// by the store's own reader): 12-byte keys are the first seq and the entry count.
struct JournalValue {
  std::uint64_t first_seq = 0;
  std::uint64_t count = 0;
  std::size_t bytes = 0;  // the value's, with its checksum
  std::uint64_t lastSeq() const { return first_seq + count - 1; }
};

// The journal's values, read straight from the closed store's LMDB file.
std::vector<JournalValue> journalValues(const std::string& dir) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 12) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0640) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "journal", 0, &dbi) == 0);
  MDB_cursor* cursor = nullptr;
  REQUIRE(mdb_cursor_open(txn, dbi, &cursor) == 0);
  std::vector<JournalValue> out;
  MDB_val key{};
  MDB_val value{};
  while (mdb_cursor_get(cursor, &key, &value, out.empty() ? MDB_FIRST : MDB_NEXT) == 0) {
    const std::string_view bytes(static_cast<const char*>(key.mv_data), key.mv_size);
    REQUIRE(bytes.size() == 12);
    out.push_back(
        JournalValue{bigEndianOf(bytes.substr(0, 8)), bigEndianOf(bytes.substr(8)), value.mv_size});
  }
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return out;
}

std::size_t journalEntries(const std::vector<JournalValue>& values) {
  std::size_t entries = 0;
  for (const JournalValue& value : values) entries += value.count;
  return entries;
}

// Values wholly at or before `through`.
std::size_t valuesThrough(const std::vector<JournalValue>& values, std::uint64_t through) {
  return static_cast<std::size_t>(std::count_if(
      values.begin(), values.end(), [&](const JournalValue& v) { return v.lastSeq() <= through; }));
}

WriteBatch snapshotsOf(EnrollmentId first, std::size_t count) {
  WriteBatch batch;
  for (std::size_t i = 0; i < count; ++i) {
    batch.enrollments.push_back(fullEnrollment(first + static_cast<EnrollmentId>(i)));
  }
  return batch;
}

}  // namespace

// After a checkpoint finishes, the journal values it covers are deleted over the next commits,
// each deleting as many as it is large (kTrimPerRecord per snapshot and checkpoint row
// it writes, within kTrimPerCommitMin..Max): a small round is not made to carry the
// whole clean-up, a large one keeps ahead of the journal's growth. A value is deleted whole,
// only once every entry in it is covered.
TEST_CASE("a finished checkpoint's journal is deleted in steps sized by each commit") {
  TempDir dir("seqd-store-test");
  constexpr std::size_t kBacklog = 120000;
  auto store = openOrFail(dir.path());
  commitOrFail(*store, snapshotsOf(0, kBacklog));
  WriteBatch start;  // a checkpoint starts after the backlog
  start.checkpoint_start = true;
  commitOrFail(*store, start);
  // Three snapshots after its start, in a commit of their own: in no value with covered ones.
  commitOrFail(*store, snapshotsOf(kBacklog, 3));
  store.reset();
  std::vector<JournalValue> values = journalValues(dir.path());
  REQUIRE(journalEntries(values) == kBacklog + 3);
  std::uint64_t next_seq = 1;
  for (const JournalValue& value : values) {  // the seqs one after another, values bounded
    CHECK(value.first_seq == next_seq);
    CHECK(value.bytes <= 1904);
    next_seq = value.lastSeq() + 1;
  }
  std::size_t covered = valuesThrough(values, kBacklog);  // left of those it will cover
  REQUIRE(covered == values.size() - 1);
  REQUIRE(covered > kTrimPerCommitMin + 1200 + 1);

  store = openOrFail(dir.path());
  WriteBatch finish;  // covers the backlog, not the three
  finish.checkpoint_finish = true;
  for (EnrollmentId id = 0; id < 100; ++id) finish.checkpoint_rows.push_back(fullEnrollment(id));
  CHECK(journalTrimBound(finish) == kTrimPerCommitMin);  // 200 rows' worth is less
  commitOrFail(*store, finish);
  covered -= kTrimPerCommitMin;
  store.reset();
  values = journalValues(dir.path());
  CHECK(valuesThrough(values, kBacklog) == covered);
  CHECK(values.back().count == 3);  // the three are still there

  std::size_t appended = 0;  // since the checkpoint: not covered, never deleted
  for (const std::size_t snapshots : {600, 10000}) {
    store = openOrFail(dir.path());
    const WriteBatch batch =
        snapshotsOf(kBacklog + 3 + static_cast<EnrollmentId>(appended), snapshots);
    const std::size_t bound = journalTrimBound(batch);
    CHECK(bound == std::min(kTrimPerRecord * snapshots, kJournalTrimPerCommitMax));
    commitOrFail(*store, batch);
    appended += snapshots;
    covered -= std::min(covered, bound);
    store.reset();
    INFO(snapshots, " snapshots");
    values = journalValues(dir.path());
    CHECK(valuesThrough(values, kBacklog) == covered);
  }
  CHECK(covered == 0);
  CHECK(journalEntries(values) == 3 + appended);  // nothing covered is left, nothing else gone
}

// A restart applies the journal over the table's rows in place: the rows of ids the table
// holds are replaced, ids the journal added since the last checkpoint are merged in. Ids
// sparse and spread (some never written, some far past the others), rows folded into the
// table by checkpoints now and then: each load is in strictly ascending id order, every id
// once, each with its latest snapshot.
TEST_CASE("a table growing through the journal loads in id order, each id its latest row") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  const auto randomId = [&]() -> EnrollmentId {
    const std::uint64_t pick = random() % 100;
    if (pick < 5) return static_cast<EnrollmentId>((1U << 20) + random() % 5);
    return static_cast<EnrollmentId>(3 * (random() % 60) + random() % 2);  // gaps
  };
  std::map<EnrollmentId, Enrollment> latest;
  TimeMs version = 0;
  for (int round = 0; round < 150; ++round) {
    WriteBatch batch;
    for (int i = static_cast<int>(random() % 5); i > 0; --i) {
      const EnrollmentId id = randomId();
      Enrollment enrollment = fullEnrollment(id);
      enrollment.next_at_ms = ++version;
      enrollment.sequence_id = random() % 3 == 0 ? "seq-b" : "seq-a";
      enrollment.done_steps = random() % 2 == 0 ? SymbolList{"s1"} : SymbolList{"s1", "s2"};
      enrollment.contact_key = "c" + std::to_string(id) + "@example.test";  // never changes
      latest[id] = enrollment;
      batch.enrollments.push_back(enrollment);
    }
    // A whole checkpoint in one commit now and then: the table holds every id written so far.
    if (random() % 6 == 0) {
      batch.checkpoint_start = true;
      batch.checkpoint_finish = true;
      for (const auto& [id, enrollment] : latest) batch.checkpoint_rows.push_back(enrollment);
    }
    commitOrFail(*store, batch);
    if (random() % 4 != 0) continue;
    store.reset();
    store = openOrFail(dir.path());
    LoadedState state = loadOrFail(*store);
    REQUIRE(state.enrollments.size() == latest.size());
    auto expected = latest.begin();
    for (const Enrollment& enrollment : state.enrollments) {
      INFO("round ", round, " id ", enrollment.id);
      REQUIRE(enrollment.id == expected->first);
      CHECK(sameEnrollment(enrollment, expected->second));
      ++expected;
    }
  }
}

TEST_CASE("team records (lists, shares) survive a reopen, and deletes remove them") {
  TempDir dir("seqd-store-test");
  {
    std::unique_ptr<Store> store = openOrFail(dir.path());
    WriteBatch batch;
    batch.team.push_back(TeamRecord{listOwnerKey("inbound"), "alice", false});
    batch.team.push_back(
        TeamRecord{listMemberKey("inbound", "ada@example.test"), "ada@example.test", false});
    batch.team.push_back(
        TeamRecord{listMemberKey("inbound", "bob@example.test"), "bob@example.test", false});
    batch.team.push_back(TeamRecord{shareKey("q4", "bob"), "", false});
    commitOrFail(*store, batch);
    WriteBatch erase;
    erase.team.push_back(TeamRecord{listMemberKey("inbound", "bob@example.test"), "", true});
    commitOrFail(*store, erase);
  }
  std::unique_ptr<Store> store = openOrFail(dir.path());
  const LoadedState state = loadOrFail(*store);
  REQUIRE(state.team.size() == 3);
  std::map<std::string, std::string> by_key;
  for (const TeamRecord& record : state.team) by_key[record.key] = record.value;
  CHECK(by_key.at(listOwnerKey("inbound")) == "alice");
  CHECK(by_key.at(listMemberKey("inbound", "ada@example.test")) == "ada@example.test");
  CHECK(by_key.count(listMemberKey("inbound", "bob@example.test")) == 0);
  CHECK(by_key.count(shareKey("q4", "bob")) == 1);
}

TEST_CASE("a schema 4 store made before the teams table opens, the table created empty") {
  TempDir dir("seqd-store-test");
  const LoadedState expected = writeSample(dir.path());
  {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 12) == 0);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0640) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, "teams", 0, &dbi) == 0);
    REQUIRE(mdb_drop(txn, dbi, 1) == 0);  // deletes the DB itself, as before it existed
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  std::unique_ptr<Store> store = openOrFail(dir.path());
  LoadedState state = loadOrFail(*store);
  CHECK(state.contacts.size() == expected.contacts.size());
  CHECK(state.enrollments.size() == expected.enrollments.size());
  CHECK(state.team.empty());
  WriteBatch batch;
  batch.team.push_back(TeamRecord{shareKey("q4", "bob"), "", false});
  commitOrFail(*store, batch);
  state = loadOrFail(*store);
  CHECK(state.team.size() == 1);
}

namespace {

// Opens dir's environment raw (the store closed), for a test to look behind the store.
class RawEnv {
 public:
  explicit RawEnv(const std::string& dir) {
    REQUIRE(mdb_env_create(&env_) == 0);
    REQUIRE(mdb_env_set_maxdbs(env_, 12) == 0);
    REQUIRE(mdb_env_open(env_, dir.c_str(), 0, 0640) == 0);
    REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn_) == 0);
  }
  ~RawEnv() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    mdb_env_close(env_);
  }
  MDB_dbi db(const char* name) {
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn_, name, 0, &dbi) == 0);
    return dbi;
  }
  std::size_t entries(const char* name) {
    MDB_stat stat{};
    REQUIRE(mdb_stat(txn_, db(name), &stat) == 0);
    return stat.ms_entries;
  }
  // Each value of the DB, without its checksum.
  std::vector<std::pair<std::string, std::string>> values(const char* name) {
    std::vector<std::pair<std::string, std::string>> out;
    MDB_cursor* cursor = nullptr;
    REQUIRE(mdb_cursor_open(txn_, db(name), &cursor) == 0);
    MDB_val key{};
    MDB_val value{};
    while (mdb_cursor_get(cursor, &key, &value, out.empty() ? MDB_FIRST : MDB_NEXT) == 0) {
      out.emplace_back(std::string(static_cast<const char*>(key.mv_data), key.mv_size),
                       std::string(static_cast<const char*>(value.mv_data), value.mv_size - 4));
    }
    mdb_cursor_close(cursor);
    return out;
  }
  void put(const char* name, const std::string& key, std::string value) {
    appendStoreChecksum(name, key, value);
    MDB_val mdb_key{key.size(), const_cast<char*>(key.data())};
    MDB_val mdb_value{value.size(), value.data()};
    REQUIRE(mdb_put(txn_, db(name), &mdb_key, &mdb_value, 0) == 0);
  }
  void del(const char* name, const std::string& key) {
    MDB_val mdb_key{key.size(), const_cast<char*>(key.data())};
    REQUIRE(mdb_del(txn_, db(name), &mdb_key, nullptr) == 0);
  }
  void drop(const char* name) { REQUIRE(mdb_drop(txn_, db(name), 1) == 0); }
  void commit() { REQUIRE(mdb_txn_commit(std::exchange(txn_, nullptr)) == 0); }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
};

// One entry of a journal value: its enrollment id and record.
struct JournalEntry {
  std::uint32_t id = 0;
  std::string record;
};

// A packed log value's entries (without its checksum), read by the layout io/store.hpp
// documents: varint length | bytes, one after another.
std::vector<std::string> unpackLogValue(std::string_view value) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < value.size()) {
    std::size_t length = 0;
    for (int shift = 0;; shift += 7) {
      REQUIRE(at < value.size());
      const auto byte = static_cast<unsigned char>(value[at++]);
      length |= static_cast<std::size_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    REQUIRE(length <= value.size() - at);
    out.emplace_back(value.substr(at, length));
    at += length;
  }
  return out;
}

// A packed journal value's entries: each a u32 LE id then the record.
std::vector<JournalEntry> unpackJournalValue(std::string_view value) {
  std::vector<JournalEntry> out;
  for (const std::string& bytes : unpackLogValue(value)) {
    REQUIRE(bytes.size() >= 4);
    JournalEntry entry;
    for (std::size_t i = 0; i < 4; ++i) {
      entry.id |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    }
    entry.record = bytes.substr(4);
    out.push_back(std::move(entry));
  }
  return out;
}

std::string packLogValue(const std::vector<std::string>& entries) {
  std::string out;
  for (const std::string& entry : entries) {
    std::size_t length = entry.size();
    for (; length >= 0x80; length >>= 7) out += static_cast<char>((length & 0x7f) | 0x80);
    out += static_cast<char>(length);
    out += entry;
  }
  return out;
}

std::string packJournalValue(const std::vector<JournalEntry>& entries) {
  std::vector<std::string> bytes;
  for (const JournalEntry& entry : entries) {
    std::string id(4, '\0');
    for (std::size_t i = 0; i < 4; ++i) id[i] = static_cast<char>((entry.id >> (8 * i)) & 0xff);
    bytes.push_back(id + entry.record);
  }
  return packLogValue(bytes);
}

// Every entry of the journal's values, in seq order; each value's key names its count.
std::vector<JournalEntry> journalEntriesIn(
    const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<JournalEntry> out;
  for (const auto& [key, value] : values) {
    REQUIRE(key.size() == 12);
    const std::vector<JournalEntry> entries = unpackJournalValue(value);
    CHECK(entries.size() == bigEndianOf(std::string_view(key).substr(8)));
    out.insert(out.end(), entries.begin(), entries.end());
  }
  return out;
}

std::vector<Enrollment> sortedById(std::vector<Enrollment> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const Enrollment& a, const Enrollment& b) { return a.id < b.id; });
  return rows;
}

void checkSameRows(const std::vector<Enrollment>& loaded, const std::vector<Enrollment>& expected) {
  REQUIRE(loaded.size() == expected.size());
  const std::vector<Enrollment> left = sortedById(loaded);
  const std::vector<Enrollment> right = sortedById(expected);
  for (std::size_t i = 0; i < left.size(); ++i) {
    CHECK_MESSAGE(sameEnrollment(left[i], right[i]), "enrollment ", right[i].id);
  }
}

}  // namespace

// The rows the store writes name their strings by code (format 4). A code is committed with
// the first rows that use it; one handed out in a commit that failed is written by the next
// commit, so a later row naming it loads; a commit before any load hands out no code the
// store holds.
TEST_CASE("enrollment rows name their strings by code, kept whole across failed commits") {
  TempDir dir("seqd-store-test");
  std::vector<Enrollment> expected;
  const auto row = [&](EnrollmentId id, const char* sequence) {
    EnrollmentRecord enrollment = fullRecord(id);
    enrollment.row.sequence_id = sequence;
    return enrollment;
  };
  {
    auto store = openOrFail(dir.path());
    WriteBatch first;
    first.enrollments.push_back(fullRecord(1));
    commitOrFail(*store, first);
    expected.push_back(fullEnrollment(1));

    WriteBatch failing;  // its rows are encoded, then a progress seq out of order refuses it
    failing.enrollments.push_back(row(2, "only-in-a-failed-commit"));
    failing.progress.push_back(progressRecord(5));
    failing.progress.push_back(progressRecord(5));
    CHECK(store->commit(failing).code() == StatusCode::kInvalidArgument);

    WriteBatch next;
    next.enrollments.push_back(row(3, "after-the-failure"));
    commitOrFail(*store, next);
    expected.push_back(row(3, "after-the-failure").row);
    WriteBatch again;
    again.enrollments.push_back(row(2, "only-in-a-failed-commit"));
    commitOrFail(*store, again);
    expected.push_back(row(2, "only-in-a-failed-commit").row);
  }
  {
    auto store = openOrFail(dir.path());  // no load before this commit
    WriteBatch batch;
    batch.enrollments.push_back(row(4, "new-before-any-load"));
    commitOrFail(*store, batch);
    expected.push_back(row(4, "new-before-any-load").row);
  }
  auto store = openOrFail(dir.path());
  const LoadedState loaded = loadOrFail(*store);
  checkSameRows(loaded.enrollments, expected);
  REQUIRE(loaded.extras.size() == 4);
  for (const auto& [id, extras] : loaded.extras) CHECK(extras == fullRecord(id).extras);
  store.reset();

  RawEnv raw(dir.path());
  // cold-outreach, ooo, manual:asked twice, smtp_4xx_exhausted, the two mailboxes, intro,
  // interrupted, and the three sequences named above: each once.
  CHECK(raw.entries("symbols") == 11);
  const std::vector<JournalEntry> journal = journalEntriesIn(raw.values("journal"));
  REQUIRE(journal.size() == 4);
  for (const JournalEntry& entry : journal) {
    CHECK(static_cast<std::uint8_t>(entry.record[0]) == kEnrollmentCodedFormatVersion);
    // The strings are not in the row, the contact key is.
    CHECK(entry.record.find("cold-outreach") == std::string::npos);
    CHECK(entry.record.find("ana@seller.example") == std::string::npos);
    CHECK(entry.record.find("zoë@example.com") != std::string::npos);
  }
}

// An enrollment's contact never changes, so its journal entries after the first leave the
// key out (format 5): the load takes it from the row or the entry before. An entry in a
// commit that failed does not count as the first; after a load, every row loaded does.
TEST_CASE("journal entries after an enrollment's first leave its contact key out") {
  TempDir dir("seqd-store-test");
  const auto row = [](EnrollmentId id, TimeMs next_at_ms) {
    Enrollment enrollment = fullEnrollment(id);
    enrollment.contact_key = "c" + std::to_string(id) + "@example.test";
    enrollment.next_at_ms = next_at_ms;
    return enrollment;
  };
  {
    auto store = openOrFail(dir.path());
    WriteBatch first;  // 1's first entry, and another in the same commit
    first.enrollments = {row(1, 10), row(1, 11)};
    commitOrFail(*store, first);
    WriteBatch failing;  // 2's first entry, in a commit a progress seq out of order refuses
    failing.enrollments = {row(2, 20)};
    failing.progress = {progressRecord(5), progressRecord(5)};
    CHECK(store->commit(failing).code() == StatusCode::kInvalidArgument);
    WriteBatch next;
    next.enrollments = {row(2, 21), row(1, 12)};
    commitOrFail(*store, next);
  }
  {
    auto store = openOrFail(dir.path());
    checkSameRows(loadOrFail(*store).enrollments, {row(1, 12), row(2, 21)});
    WriteBatch after;
    after.enrollments = {row(2, 22), row(3, 30)};
    commitOrFail(*store, after);
  }
  {
    auto store = openOrFail(dir.path());
    checkSameRows(loadOrFail(*store).enrollments, {row(1, 12), row(2, 22), row(3, 30)});
  }
  std::vector<std::pair<std::string, std::string>> values;
  {
    RawEnv raw(dir.path());
    values = raw.values("journal");
  }
  const std::vector<JournalEntry> journal = journalEntriesIn(values);
  std::vector<int> versions;
  for (const JournalEntry& entry : journal) {
    versions.push_back(static_cast<std::uint8_t>(entry.record[0]));
  }
  CHECK(versions == std::vector<int>{4, 5, 4, 5, 5, 4});
  CHECK(journal[0].record.find("c1@example.test") != std::string::npos);
  CHECK(journal[1].record.find("c1@example.test") == std::string::npos);

  // An entry that names no contact for an enrollment nothing before it names: refused.
  {
    RawEnv raw(dir.path());
    std::vector<JournalEntry> first = unpackJournalValue(values[0].second);
    REQUIRE(first.size() == 2);  // 1's two entries of the first commit
    first[0].record = first[1].record;
    raw.put("journal", values[0].first, packJournalValue(first));
    raw.commit();
  }
  auto store = openOrFail(dir.path());
  LoadedState state;
  const Status status = store->load(state);
  CHECK(status.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(status.message(), "enrollment 1 names no contact"), status.message());
}

// A state dir written before the symbols table: its rows are format 3 and it has no
// `symbols` DB. It opens (the table created empty), loads as it was, and what is written
// after is format 4 beside the older rows.
TEST_CASE("a store of format 3 rows, made before the symbols table, loads and is written on") {
  TempDir dir("seqd-store-test");
  const LoadedState expected = writeSample(dir.path());
  {
    RawEnv raw(dir.path());
    for (const auto& [key, value] : raw.values("journal")) {
      std::vector<JournalEntry> entries = unpackJournalValue(value);
      for (JournalEntry& entry : entries) {
        Enrollment row;
        for (const Enrollment& enrollment : expected.enrollments) {
          if (enrollment.id == entry.id) row = enrollment;
        }
        REQUIRE(row.id == entry.id);
        REQUIRE(encodeEnrollment(row, entry.record).isOk());  // format 3
      }
      raw.put("journal", key, packJournalValue(entries));
    }
    raw.drop("symbols");  // deletes the DB itself, as before it existed
    raw.commit();
  }
  {
    RawEnv raw(dir.path());
    for (const JournalEntry& entry : journalEntriesIn(raw.values("journal"))) {
      REQUIRE(static_cast<std::uint8_t>(entry.record[0]) == kEnrollmentFormatVersion);
    }
  }
  auto store = openOrFail(dir.path());
  LoadedState state = loadOrFail(*store);
  checkSameRows(state.enrollments, expected.enrollments);
  std::vector<Enrollment> rows = expected.enrollments;
  WriteBatch batch;
  rows[0].sequence_id = "written-after";
  rows[0].last_mailbox = "ana@seller.example";
  batch.enrollments.push_back(rows[0]);
  commitOrFail(*store, batch);
  store.reset();
  store = openOrFail(dir.path());
  checkSameRows(loadOrFail(*store).enrollments, rows);
}

namespace {

std::string bigEndianKey(std::uint64_t value, std::size_t bytes) {
  std::string key(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) key[bytes - 1 - i] = static_cast<char>(value >> (8 * i));
  return key;
}

std::string logKey(std::uint64_t first_seq, std::uint64_t count) {
  return bigEndianKey(first_seq, 8) + bigEndianKey(count, 4);
}

std::string recordOf(const Enrollment& row) {
  std::string record;
  REQUIRE(encodeEnrollment(row, record).isOk());
  return record;
}

// The message of opening and loading dir, or "" when both succeed.
std::string openAndLoadError(const std::string& dir) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir);
  if (!opened.isOk()) return opened.status().message();
  LoadedState state;
  const Status status = opened.value()->load(state);
  return status.isOk() ? "" : status.message();
}

Enrollment keyedRow(EnrollmentId id, TimeMs next_at_ms) {
  Enrollment enrollment = fullEnrollment(id);
  enrollment.contact_key = "c" + std::to_string(id) + "@example.test";
  enrollment.next_at_ms = next_at_ms;
  return enrollment;
}

}  // namespace

// A state dir written before log values were packed holds one entry a value under 8-byte
// keys, in the journal and the progress log. It opens and loads as it was, packed values are
// appended after, and a checkpoint deletes both kinds from the journal.
TEST_CASE("logs of one entry a value, as written before packing, load and are written on") {
  TempDir dir("seqd-store-test");
  const LoadedState expected = writeSample(dir.path());
  std::uint64_t seq = 0;
  std::uint64_t records = 0;
  {
    RawEnv raw(dir.path());
    for (const auto& [key, value] : raw.values("progress")) {
      REQUIRE(key.size() == 12);
      raw.del("progress", key);
      std::uint64_t record_seq = bigEndianOf(std::string_view(key).substr(0, 8));
      for (const std::string& record : unpackLogValue(value)) {
        raw.put("progress", bigEndianKey(record_seq++, 8), record);
        ++records;
      }
    }
    for (const auto& [key, value] : raw.values("journal")) {
      raw.del("journal", key);
      for (const JournalEntry& entry : unpackJournalValue(value)) {
        std::string id_le = bigEndianKey(entry.id, 4);  // u32 LE: the big-endian reversed
        std::reverse(id_le.begin(), id_le.end());
        raw.put("journal", bigEndianKey(++seq, 8), id_le + entry.record);
      }
    }
    // The counts record's progress and journal entries (its third and fifth u64) as LMDB now
    // counts them.
    std::string counts;
    for (const auto& [key, value] : raw.values("meta")) {
      if (key == "counts") counts = value;
    }
    REQUIRE(counts.size() == 80);
    for (std::size_t i = 0; i < 8; ++i) {
      counts[2 * 8 + i] = static_cast<char>(records >> (8 * i));
      counts[4 * 8 + i] = static_cast<char>(seq >> (8 * i));
    }
    raw.put("meta", "counts", counts);
    raw.commit();
  }
  REQUIRE(seq == expected.enrollments.size());
  REQUIRE(records == expected.progress.size());
  auto store = openOrFail(dir.path());
  LoadedState state = loadOrFail(*store);
  CHECK(sameState(state, expected));
  CHECK(state.journal_ids.size() == seq);
  std::vector<Enrollment> rows = expected.enrollments;
  rows[0].step_index = 9;
  rows[1].step_index = 8;
  WriteBatch batch;
  batch.enrollments = {rows[0], rows[1]};
  std::vector<ProgressRecord> progress = expected.progress;
  progress.push_back(progressRecord(records + 1));
  progress.push_back(progressRecord(records + 2));
  batch.progress = {progress[records], progress[records + 1]};
  commitOrFail(*store, batch);
  store.reset();
  {
    RawEnv raw(dir.path());
    const auto values = raw.values("journal");
    REQUIRE(values.size() == seq + 1);
    CHECK(values.back().first == logKey(seq + 1, 2));
    const auto log = raw.values("progress");
    REQUIRE(log.size() == records + 1);
    CHECK(log.back().first == logKey(records + 1, 2));
  }
  store = openOrFail(dir.path());
  state = loadOrFail(*store);
  checkSameRows(state.enrollments, rows);
  REQUIRE(state.progress.size() == progress.size());
  for (std::size_t i = 0; i < progress.size(); ++i) {
    CHECK(sameProgress(state.progress[i], progress[i]));
  }
  CHECK(state.journal_ids.size() == seq + 2);
  WriteBatch checkpoint;
  checkpoint.checkpoint_start = true;
  checkpoint.checkpoint_finish = true;
  checkpoint.checkpoint_rows.assign(rows.begin(), rows.end());
  commitOrFail(*store, checkpoint);
  store.reset();
  {
    RawEnv raw(dir.path());
    CHECK(raw.entries("journal") == 0);
  }
  store = openOrFail(dir.path());
  state = loadOrFail(*store);
  checkSameRows(state.enrollments, rows);
  CHECK(state.journal_ids.empty());
}

// The sends out beside the rows: the table's, then each journal entry's over its row's. An
// entry without one takes its row's send away; a row added by the journal brings its own.
TEST_CASE("a row's send out loads as its last snapshot left it: the table's, then the journal's") {
  TempDir dir("seqd-store-test");
  const auto sending = [](EnrollmentId id, const char* step, TimeMs at_ms) {
    Enrollment row = keyedRow(id, kNoTime);
    row.status = EnrollmentStatus::kActive;
    row.sending = true;
    return EnrollmentRecord(row, SendOut{step, "ana@seller.example", at_ms, at_ms > 100});
  };
  {
    auto store = openOrFail(dir.path());
    WriteBatch checkpoint;
    checkpoint.checkpoint_start = true;
    checkpoint.checkpoint_finish = true;
    checkpoint.checkpoint_rows = {sending(1, "intro", 10), keyedRow(2, 20), sending(3, "bump", 30)};
    commitOrFail(*store, checkpoint);
    WriteBatch later;
    later.enrollments = {keyedRow(1, 11), sending(2, "intro", 210), sending(4, "intro", 40)};
    commitOrFail(*store, later);
    WriteBatch last;
    last.enrollments = {sending(1, "bump", 120)};
    commitOrFail(*store, last);
  }
  auto store = openOrFail(dir.path());
  const LoadedState state = loadOrFail(*store);
  REQUIRE(state.enrollments.size() == 4);
  CHECK(sameEnrollment(recordAt(state, 0), sending(1, "bump", 120)));
  CHECK(sameEnrollment(recordAt(state, 1), sending(2, "intro", 210)));
  CHECK(sameEnrollment(recordAt(state, 2), sending(3, "bump", 30)));
  CHECK(sameEnrollment(recordAt(state, 3), sending(4, "intro", 40)));
  REQUIRE(state.sends_out.size() == 4);
  for (std::size_t i = 0; i < state.sends_out.size(); ++i) {
    CHECK(state.sends_out[i].first == i + 1);  // by id
  }

  WriteBatch settled;  // two results in: no send out on 1 and 3
  settled.enrollments = {keyedRow(3, 33), keyedRow(1, 13)};
  commitOrFail(*store, settled);
  store.reset();
  store = openOrFail(dir.path());
  const LoadedState after = loadOrFail(*store);
  CHECK(sameEnrollment(recordAt(after, 0), keyedRow(1, 13)));
  CHECK(sameEnrollment(recordAt(after, 2), keyedRow(3, 33)));
  REQUIRE(after.sends_out.size() == 2);
  CHECK(after.sends_out[0].first == 2);
  CHECK(after.sends_out[1].first == 4);
}

// A checkpoint starts at a commit's end, so a value is wholly before or after it. A value a
// finished checkpoint covers in part (made by hand here) is still read from the entry after
// it: the covered entries are skipped, the later ones applied.
TEST_CASE("a journal value a finished checkpoint covers in part: only its later entries apply") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    WriteBatch first;  // seqs 1 and 2
    first.enrollments = {keyedRow(1, 10), keyedRow(2, 20)};
    commitOrFail(*store, first);
    WriteBatch checkpoint;  // covers them, and deletes their value
    checkpoint.checkpoint_start = true;
    checkpoint.checkpoint_finish = true;
    checkpoint.checkpoint_rows = {keyedRow(1, 10), keyedRow(2, 20)};
    commitOrFail(*store, checkpoint);
    WriteBatch later;  // seq 3
    later.enrollments = {keyedRow(1, 11)};
    commitOrFail(*store, later);
  }
  {
    RawEnv raw(dir.path());
    const auto values = raw.values("journal");
    REQUIRE(values.size() == 1);
    REQUIRE(values[0].first == logKey(3, 1));
    // Seqs 1-3 in one value: the first two stale, and covered by the checkpoint.
    std::vector<JournalEntry> entries = {{1, recordOf(keyedRow(1, 5))},
                                         {2, recordOf(keyedRow(2, 5))}};
    entries.push_back(unpackJournalValue(values[0].second).at(0));
    raw.del("journal", values[0].first);
    raw.put("journal", logKey(1, 3), packJournalValue(entries));
    raw.commit();
  }
  auto store = openOrFail(dir.path());
  const LoadedState state = loadOrFail(*store);
  checkSameRows(state.enrollments, {keyedRow(1, 11), keyedRow(2, 20)});
  CHECK(state.journal_ids == std::vector<EnrollmentId>{1});
}

// A journal entry that names its contact (format 3 or 4, as written before the keyless
// format 5) over a table row: the load looks the table's keys up on one thread while the
// other applies the journal, which keeps the keys its entries change aside and applies them
// after (io/lmdb_store.cpp, RowsLoad::rekeyed). The last entry to name a key wins, also when
// it names the table's key again after another. Made by hand: a store never changes an
// enrollment's contact.
TEST_CASE("journal entries naming another contact key than the table's row: the last one wins") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    WriteBatch checkpoint;
    checkpoint.checkpoint_start = true;
    checkpoint.checkpoint_finish = true;
    checkpoint.checkpoint_rows = {keyedRow(1, 10), keyedRow(2, 20), keyedRow(3, 30)};
    commitOrFail(*store, checkpoint);
    // Two values of two entries each, after the checkpoint: their entries replaced below.
    WriteBatch later;
    later.enrollments = {keyedRow(1, 11), keyedRow(2, 21)};
    commitOrFail(*store, later);
    later.enrollments = {keyedRow(3, 31), keyedRow(1, 12)};
    commitOrFail(*store, later);
  }
  Enrollment one_away = keyedRow(1, 11);
  one_away.contact_key = "rekeyed-away@example.test";
  Enrollment two_away = keyedRow(2, 21);
  two_away.contact_key = "rekeyed-two@example.test";
  {
    RawEnv raw(dir.path());
    const auto values = raw.values("journal");
    REQUIRE(values.size() == 2);
    // Row 1 named away, then by the table's key again; row 2 away; row 3 as the table.
    raw.put("journal", values[0].first,
            packJournalValue({{1, recordOf(one_away)}, {1, recordOf(keyedRow(1, 12))}}));
    raw.put("journal", values[1].first,
            packJournalValue({{2, recordOf(two_away)}, {3, recordOf(keyedRow(3, 31))}}));
    raw.commit();
  }
  auto store = openOrFail(dir.path());
  const LoadedState state = loadOrFail(*store);
  checkSameRows(state.enrollments, {keyedRow(1, 12), two_away, keyedRow(3, 31)});
}

// A restart reads the journal's tail in two shares, each taken by the first of the two load
// threads free for it (one thread may take both), each applying the entries of its own runs
// of 64 enrollment ids and keeping aside what they change beside the rows (sends out set
// and taken away, extras, rows the table does not hold yet), merged once both are done
// (io/lmdb_store.cpp, JournalShare). Ids are handed out in order, as the engine does, so the
// table holds ids 0, 1, ... and the rows added since a checkpoint started come after them:
// the two-share read. (A table with a hole in its ids is read by one thread: "a restart
// gives every enrollment its latest snapshot, inside checkpoints too" makes those.)
// Random commits over ids in seven runs, checkpoints going on: every restart gives each
// enrollment its latest record, whole, and names each snapshot after the last finished
// checkpoint's start once.
TEST_CASE("the journal's tail read in two shares: each enrollment its latest record, whole") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  constexpr EnrollmentId kIds = 64 * 6 + 5;
  const auto shareOf = [](EnrollmentId id) { return id / 64 % 2; };
  const auto recordOf = [&](EnrollmentId id) {
    Enrollment row = keyedRow(id, static_cast<TimeMs>(random() % 1000000));
    SendOut send;
    EnrollmentExtras extras;
    if (random() % 3 == 0) {
      row.status = EnrollmentStatus::kActive;
      row.sending = true;
      const TimeMs at_ms = static_cast<TimeMs>(random() % 1000);
      send = SendOut{random() % 2 == 0 ? "intro" : "bump", "ana@seller.example", at_ms,
                     random() % 2 == 0};
    }
    if (random() % 3 == 0) extras.resume_at_ms = static_cast<TimeMs>(1 + random() % 1000);
    if (random() % 4 == 0) extras.mailboxes = SymbolList{"bo@seller.example"};
    return EnrollmentRecord(row, send, extras);
  };
  std::map<EnrollmentId, EnrollmentRecord> latest;
  std::set<EnrollmentId> in_table;     // ids a checkpoint has written
  std::vector<EnrollmentId> appended;  // every snapshot's id, in seq order
  CheckpointModel checkpoints;
  int split_loads = 0;  // loads with rows added, and tail entries, in both shares
  for (int round = 0; round < 400; ++round) {
    WriteBatch batch;
    const int changes = static_cast<int>(random() % 8);
    for (int i = 0; i < changes; ++i) {
      const bool add = latest.size() < kIds && (latest.empty() || random() % 3 == 0);
      const EnrollmentId id = add ? static_cast<EnrollmentId>(latest.size())
                                  : static_cast<EnrollmentId>(random() % latest.size());
      latest[id] = recordOf(id);
      batch.enrollments.push_back(latest[id]);
      appended.push_back(id);
      checkpoints.appended(id);
    }
    for (const EnrollmentId id : checkpoints.checkpointInto(
             batch, random, 16, [&](EnrollmentId id) { return latest[id]; })) {
      in_table.insert(id);
    }
    commitOrFail(*store, batch);
    if (random() % 8 != 0) continue;
    store.reset();
    store = openOrFail(dir.path());
    const LoadedState state = loadOrFail(*store);
    REQUIRE(state.enrollments.size() == latest.size());
    for (std::size_t at = 0; at < state.enrollments.size(); ++at) {
      const EnrollmentId id = state.enrollments[at].id;
      INFO("round ", round, " id ", id);
      REQUIRE(latest.count(id) == 1);
      CHECK(sameEnrollment(recordAt(state, at), latest[id]));
    }
    std::size_t sending = 0;
    std::size_t with_extras = 0;
    for (const auto& [id, record] : latest) {
      sending += record.row.sending ? 1 : 0;
      with_extras += record.extras.empty() ? 0 : 1;
    }
    CHECK(state.sends_out.size() == sending);
    CHECK(state.extras.size() == with_extras);
    std::vector<EnrollmentId> tail(
        appended.begin() + static_cast<std::ptrdiff_t>(checkpoints.finishedAt()), appended.end());
    std::vector<EnrollmentId> named = state.journal_ids;
    std::sort(tail.begin(), tail.end());
    std::sort(named.begin(), named.end());
    CHECK(named == tail);
    std::set<std::size_t> tail_shares;
    std::set<std::size_t> added_shares;
    for (const EnrollmentId id : tail) tail_shares.insert(shareOf(id));
    for (const auto& [id, record] : latest) {
      if (in_table.count(id) == 0) added_shares.insert(shareOf(id));
    }
    REQUIRE(in_table.size() == (in_table.empty() ? 0 : *in_table.rbegin() + 1));  // no hole
    if (tail_shares.size() == 2 && added_shares.size() == 2) ++split_loads;
  }
  MESSAGE(split_loads, " loads with rows added and entries in both shares");
  CHECK(split_loads > 0);
}

// Each thread stops at the first damaged entry of its own share; the load reports the one a
// reader in seq order meets first, whichever share holds it.
TEST_CASE("damaged journal entries in both shares: the earlier in seq order is reported") {
  for (const bool first_in_second_share : {true, false}) {
    INFO("the earlier damage in the second share: ", first_in_second_share);
    const EnrollmentId earlier = first_in_second_share ? 65 : 1;
    const EnrollmentId later = first_in_second_share ? 1 : 65;
    TempDir dir("seqd-store-test");
    {
      auto store = openOrFail(dir.path());
      for (const EnrollmentId id : {earlier, later}) {
        WriteBatch batch;  // two entries: the first names the contact, the second does not
        batch.enrollments = {keyedRow(id, 10), keyedRow(id, 11)};
        commitOrFail(*store, batch);
      }
    }
    {
      RawEnv raw(dir.path());
      const auto values = raw.values("journal");
      REQUIRE(values.size() == 2);
      for (const auto& [key, value] : values) {
        std::vector<JournalEntry> entries = unpackJournalValue(value);
        REQUIRE(entries.size() == 2);
        entries[0].record = entries[1].record;  // now nothing names the contact
        raw.put("journal", key, packJournalValue(entries));
      }
      raw.commit();
    }
    auto store = openOrFail(dir.path());
    LoadedState state;
    const Status status = store->load(state);
    CHECK(status.code() == StatusCode::kCorruption);
    CHECK_MESSAGE(
        contains(status.message(), "enrollment " + std::to_string(earlier) + " names no contact"),
        status.message());
  }
}

// An entry longer than a value's bound (a long contact key, the only text an entry holds
// itself) goes in a value of its own; the entries before and after it in the commit go in
// others.
TEST_CASE("a journal entry longer than a value's bound is a value of its own") {
  TempDir dir("seqd-store-test");
  std::vector<Enrollment> rows = {keyedRow(1, 10), keyedRow(2, 20), keyedRow(3, 30)};
  rows[1].contact_key = std::string(3000, 'x') + "@example.test";
  {
    auto store = openOrFail(dir.path());
    WriteBatch batch;
    batch.enrollments.assign(rows.begin(), rows.end());
    commitOrFail(*store, batch);
  }
  {
    RawEnv raw(dir.path());
    std::vector<std::string> keys;
    for (const auto& [key, value] : raw.values("journal")) keys.push_back(key);
    CHECK(keys == std::vector<std::string>{logKey(1, 1), logKey(2, 1), logKey(3, 1)});
  }
  auto store = openOrFail(dir.path());
  checkSameRows(loadOrFail(*store).enrollments, rows);
}

// A journal or progress log value whose entries do not match what its key names is refused at
// open or load, naming the DB and the key; the value put back, the store loads again.
TEST_CASE("a log value whose entries disagree with its key is refused, naming the key") {
  TempDir dir("seqd-store-test");
  {
    auto store = openOrFail(dir.path());
    WriteBatch batch;
    batch.enrollments = {keyedRow(1, 10), keyedRow(2, 20)};
    batch.progress = {progressRecord(1), progressRecord(2)};
    commitOrFail(*store, batch);
  }
  for (const char* db : {"journal", "progress"}) {
    INFO(db);
    std::string key;
    std::string value;
    {
      RawEnv raw(dir.path());
      const auto values = raw.values(db);
      REQUIRE(values.size() == 1);
      key = values[0].first;
      value = values[0].second;
    }
    REQUIRE(key == logKey(1, 2));
    const std::vector<std::string> entries = unpackLogValue(value);
    REQUIRE(entries.size() == 2);
    std::string overrun = packLogValue({entries[0]});
    overrun += std::string("\x7f") + "short";  // says 127 bytes, holds 5
    const std::vector<std::pair<std::string, std::string>> damages = {
        {"one entry of two", packLogValue({entries[0]})},
        {"a byte after the two", value + "!"},
        {"a length past the value", overrun},
        {"an entry cut short", packLogValue({entries[0], entries[1].substr(0, 5)})},
    };
    for (const auto& [what, damaged] : damages) {
      INFO(what);
      {
        RawEnv raw(dir.path());
        raw.put(db, key, damaged);
        raw.commit();
      }
      const std::string message = openAndLoadError(dir.path());
      CHECK_MESSAGE(contains(message, std::string(db) + " key '\\x00"), message);
    }
    {
      RawEnv raw(dir.path());
      raw.put(db, key, value);
      raw.commit();
    }
    CHECK(openAndLoadError(dir.path()).empty());
  }
}

namespace {

// Bytes of `path`'s mappings resident in this process, from /proc/self/smaps.
std::size_t residentBytesOf(const std::string& path) {
  std::FILE* smaps = std::fopen("/proc/self/smaps", "re");
  REQUIRE(smaps != nullptr);
  std::size_t total = 0;
  bool inside = false;
  char line[4096];
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    std::string text(line);
    unsigned long kib = 0;
    if (std::sscanf(line, "Rss: %lu kB", &kib) == 1) {
      if (inside) total += kib * 1024;
    } else if (text.find('-') < text.find(' ') && text.find(':') != std::string::npos &&
               std::isxdigit(static_cast<unsigned char>(text[0]))) {
      // A mapping's first line: "begin-end perms offset dev inode [path]".
      inside = text.find(" " + path + "\n") != std::string::npos;
    }
  }
  std::fclose(smaps);
  return total;
}

WriteBatch contactsBatch(int from, int count) {
  WriteBatch batch;
  for (int i = from; i < from + count; ++i) {
    batch.contacts.push_back(PackedContact::pack(fullContact("c" + std::to_string(i))));
  }
  return batch;
}

TEST_CASE("the store's pages leave the resident set after a release, an import and an advance") {
  TempDir dir("seqd-store-test");
  const std::string data_mdb = std::filesystem::canonical(dir.path()).string() + "/data.mdb";
  StoreOptions options;
  options.release_map_interval_ms = 0;  // the next test takes the interval
  auto store = openOrFail(dir.path(), options);
  commitOrFail(*store, contactsBatch(0, 12000));
  const LoadedState before = loadOrFail(*store);  // reads every page through the map
  const std::size_t file_bytes = std::filesystem::file_size(data_mdb);
  REQUIRE(file_bytes > (std::size_t{2} << 20));
  CHECK(residentBytesOf(data_mdb) > file_bytes / 2);

  store->releaseMappedPages();
  const std::size_t released = residentBytesOf(data_mdb);
  MESSAGE("data.mdb ", file_bytes, " bytes, resident after the release ", released);
  CHECK(released < file_bytes / 10);
  // The pages fault back with the same bytes.
  CHECK(sameState(loadOrFail(*store), before));

  // Commits that wrote 10k contacts since the last such release drop them too (here after
  // the load made them resident again): an import arrives a few thousand rows a commit.
  CHECK(residentBytesOf(data_mdb) > file_bytes / 2);
  commitOrFail(*store, contactsBatch(6000, 4000));
  commitOrFail(*store, contactsBatch(10000, 4000));
  CHECK(residentBytesOf(data_mdb) > file_bytes / 2);  // 8,000 since: not yet
  commitOrFail(*store, contactsBatch(14000, 4000));
  const std::size_t after_import = residentBytesOf(data_mdb);
  MESSAGE("resident after three commits of 4,000 contacts ", after_import);
  CHECK(after_import < std::filesystem::file_size(data_mdb) / 10);

  // Commits of other records do the same once they have written 100k: an advance appends
  // progress and journal records and no contact.
  loadOrFail(*store);
  const std::size_t loaded = residentBytesOf(data_mdb);
  REQUIRE(loaded > file_bytes / 2);
  for (std::uint64_t seq = 1; seq <= 90000; seq += 30000) {
    commitOrFail(*store, progressBatch(seq, 30000));
  }
  CHECK(residentBytesOf(data_mdb) >= loaded);  // 90,000 since: not yet
  commitOrFail(*store, progressBatch(90001, 10000));
  const std::size_t after_advance = residentBytesOf(data_mdb);
  MESSAGE("resident after 100,000 progress records ", after_advance, " of ", loaded);
  CHECK(after_advance < loaded / 10);
}

TEST_CASE(
    "an advance's commits keep the pages mapped until the interval passed or the store is idle") {
  TempDir dir("seqd-store-test");
  const std::string data_mdb = std::filesystem::canonical(dir.path()).string() + "/data.mdb";
  StoreOptions options;
  options.release_map_interval_ms = 60 * 60 * 1000;
  auto store = openOrFail(dir.path(), options);
  commitOrFail(*store, contactsBatch(0, 12000));  // 10k contacts: released at once all the same
  const std::size_t file_bytes = std::filesystem::file_size(data_mdb);
  REQUIRE(file_bytes > (std::size_t{2} << 20));
  CHECK(residentBytesOf(data_mdb) < file_bytes / 10);

  loadOrFail(*store);
  const std::size_t loaded = residentBytesOf(data_mdb);
  REQUIRE(loaded > file_bytes / 2);
  for (std::uint64_t seq = 1; seq <= 150000; seq += 30000) {
    commitOrFail(*store, progressBatch(seq, 30000));
  }
  const std::size_t after_advance = residentBytesOf(data_mdb);
  MESSAGE("resident after 150,000 progress records within the hour ", after_advance, " of ",
          loaded);
  CHECK(after_advance >= loaded);  // 150,000 since, but not an hour

  store->idle();
  const std::size_t after_idle = residentBytesOf(data_mdb);
  MESSAGE("resident once idle ", after_idle);
  CHECK(after_idle < loaded / 10);

  // With the interval passed, the count alone decides, as in the test before.
  options.release_map_interval_ms = 100;
  store.reset();
  store = openOrFail(dir.path(), options);
  loadOrFail(*store);
  const std::size_t reloaded = residentBytesOf(data_mdb);
  REQUIRE(reloaded > file_bytes / 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  for (std::uint64_t seq = 150001; seq <= 240000; seq += 30000) {
    commitOrFail(*store, progressBatch(seq, 30000));
  }
  CHECK(residentBytesOf(data_mdb) >= reloaded);  // 90,000 since: not yet
  commitOrFail(*store, progressBatch(240001, 10000));
  CHECK(residentBytesOf(data_mdb) < reloaded / 10);
}

}  // namespace
