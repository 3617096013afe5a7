// Proves the LMDB store keeps every field of every record across commits and reopens, commits
// all or nothing, refuses what it must (a non-increasing progress seq, a second open, a key
// LMDB cannot hold, a full map) and reports damaged values as Corruption instead of crashing.
#include "io/store.hpp"

#include <doctest/doctest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "io/record_codec.hpp"
#include "temp_dir.hpp"

using namespace seqd;

namespace {

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
  enrollment.added_at_ms = 1796133600000;
  enrollment.next_at_ms = 1796133600000 + 90 * kMinuteMs;
  enrollment.last_done_at_ms = -5;  // before the epoch is still a time
  enrollment.paused_reason = "ooo";
  enrollment.resume_at_ms = INT64_MAX;
  enrollment.finish_reason = "manual:asked twice";
  enrollment.not_sent_reason = "smtp_4xx_exhausted";
  enrollment.mailboxes = {"ana@seller.example", "", "bo@seller.example"};
  enrollment.last_mailbox = "ana@seller.example";
  enrollment.last_message_id = "<1234.abcd@seller.example>";
  enrollment.progress_seq = (std::uint64_t{1} << 63) + 7;
  return enrollment;
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

// Writes one raw key/value into a named DB, bypassing the store's codec.
// REQUIRES: no Store is open on dir (one env per process).
void rawPut(const std::string& dir, const char* db, std::string_view key, std::string_view value) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0640) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == 0);
  MDB_val mdb_key{key.size(), const_cast<char*>(key.data())};
  MDB_val mdb_value{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, dbi, &mdb_key, &mdb_value, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

std::uint64_t testSeed() {
  if (const char* text = std::getenv("SEQD_SEED")) return std::strtoull(text, nullptr, 10);
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

TEST_CASE("every field of every record round-trips through commit and load") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());

  Contact plain;  // defaults: empty strings, score 0, flags false, no extra
  plain.key = "plain";
  Enrollment unset = fullEnrollment(0);  // id 0 and every time kNoTime
  unset.status = EnrollmentStatus::kRemoved;
  unset.added_at_ms = kNoTime;
  unset.next_at_ms = kNoTime;
  unset.last_done_at_ms = kNoTime;
  unset.resume_at_ms = kNoTime;
  unset.mailboxes.clear();
  unset.progress_seq = 0;
  Enrollment top = fullEnrollment(UINT32_MAX);

  WriteBatch batch;
  batch.contacts = {fullContact("zoë"), plain};
  batch.enrollments = {fullEnrollment(42), unset, top};
  batch.progress = {progressRecord(1), progressRecord(2), progressRecord(3)};
  batch.sequences = {{"cold-outreach", true}, {"paused-one", false}};
  batch.clock_ms = -1;  // any instant, including one that looks like a sentinel
  commitOrFail(*store, batch);

  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == 2);
  CHECK(sameContact(state.contacts[0], plain));  // key byte order: "plain" < "zo\xc3\xab"
  CHECK(sameContact(state.contacts[1], fullContact("zoë")));
  CHECK(state.contacts[1].extra.at("nul") == std::string("a\0b", 3));
  REQUIRE(state.enrollments.size() == 3);
  CHECK(sameEnrollment(state.enrollments[0], unset));
  CHECK(sameEnrollment(state.enrollments[1], fullEnrollment(42)));
  CHECK(sameEnrollment(state.enrollments[2], top));
  CHECK(state.enrollments[0].next_at_ms == kNoTime);
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
  std::vector<Enrollment> enrollments(16, enrollment);
  enrollments[0].id = 2;
  enrollments[1].sequence_id += "x";
  enrollments[2].contact_key += "x";
  enrollments[3].status = EnrollmentStatus::kActive;
  enrollments[4].step_index = 4;
  enrollments[5].added_at_ms = kNoTime;
  enrollments[6].next_at_ms = kNoTime;
  enrollments[7].last_done_at_ms = kNoTime;
  enrollments[8].paused_reason += "x";
  enrollments[9].resume_at_ms = kNoTime;
  enrollments[10].finish_reason += "x";
  enrollments[11].not_sent_reason += "x";
  enrollments[12].mailboxes.pop_back();
  enrollments[13].last_mailbox += "x";
  enrollments[14].last_message_id += "x";
  enrollments[15].progress_seq = 1;
  for (const Enrollment& changed : enrollments) CHECK_FALSE(sameEnrollment(changed, enrollment));

  const ProgressRecord record = progressRecord(5);
  std::vector<ProgressRecord> records(8, record);
  records[0].seq = 6;
  records[1].enrollment_id = 0;
  records[2].step_index = 9;
  records[3].kind = ProgressKind::kTaskCreated;
  records[4].at_ms = 0;
  records[5].mailbox += "x";
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
      batch.contacts.push_back(fullContact("c" + std::to_string(1000 + i)));
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
    CHECK(sameContact(state.contacts[i - 1], fullContact("c" + std::to_string(1000 + i))));
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
  state.contacts.push_back(fullContact("stale"));  // load replaces what was there
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
    batch.contacts.push_back(fullContact("must-not-appear"));
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
  first.contacts.push_back(fullContact("k"));
  commitOrFail(*store, first);

  Contact replacement;
  replacement.key = "k";
  replacement.email = "new@example.com";
  replacement.extra = {{"only", "this"}};
  WriteBatch second;
  second.contacts.push_back(replacement);
  commitOrFail(*store, second);

  LoadedState state = loadOrFail(*store);
  REQUIRE(state.contacts.size() == 1);
  CHECK(sameContact(state.contacts[0], replacement));
  CHECK(state.contacts[0].extra.count("city") == 0);
}

TEST_CASE("records the store cannot hold are refused with the batch rolled back") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  WriteBatch batch;
  batch.contacts.push_back(fullContact("fine"));
  std::string expected;
  SUBCASE("contact key longer than LMDB keys") {
    batch.contacts.push_back(fullContact(std::string(600, 'k')));
    expected = "600 bytes";
  }
  SUBCASE("empty contact key") {
    batch.contacts.push_back(fullContact(""));
    expected = "empty key";
  }
  SUBCASE("score above the maximum") {
    Contact contact = fullContact("high");
    contact.score = kScoreMax + 1;
    batch.contacts.push_back(contact);
    expected = "score";
  }
  SUBCASE("a field over the byte maximum") {
    Contact contact = fullContact("big");
    contact.title.assign(kRecordFieldBytesMax + 1, 't');
    batch.contacts.push_back(contact);
    expected = "title";
  }
  SUBCASE("too many mailboxes") {
    Enrollment enrollment = fullEnrollment(1);
    enrollment.mailboxes.assign(kEnrollmentMailboxesMax + 1, "m@example.com");
    batch.enrollments.push_back(enrollment);
    expected = "mailboxes";
  }
  SUBCASE("empty sequence id") {
    batch.sequences.push_back({"", true});
    expected = "empty key";
  }
  SUBCASE("a batch over the record maximum") {
    batch.progress.resize(kStoreBatchRecordsMax);
    expected = "at most";
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
    batch.contacts.push_back(fullContact("good"));
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
  MESSAGE("seed ", seed, " (replay with SEQD_SEED=", seed, ")");
  std::mt19937_64 random(seed);
  std::string contact_bytes;
  std::string enrollment_bytes;
  std::string progress_bytes;
  encodeContact(fullContact("k"), contact_bytes);
  encodeEnrollment(fullEnrollment(1), enrollment_bytes);
  encodeProgress(progressRecord(3), progress_bytes);

  Contact contact;
  Enrollment enrollment;
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
    big.contacts.push_back(contact);
  }
  {
    auto store = openOrFail(dir.path(), StoreOptions{1 << 20});
    Status status = store->commit(big);
    CHECK(status.code() == StatusCode::kIOError);
    CHECK_MESSAGE(contains(status.message(), "store is full"), status.message());
    CHECK(loadOrFail(*store).contacts.empty());
    WriteBatch small;
    small.contacts.push_back(fullContact("small"));
    commitOrFail(*store, small);
  }
  auto store = openOrFail(dir.path(), StoreOptions{64 << 20});  // reopening larger grows it
  commitOrFail(*store, big);
  CHECK(loadOrFail(*store).contacts.size() == 201);
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
    rawPut(dir.path(), "meta", "schema_version", std::string("\x02\x00\x00\x00", 4));
    Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
    REQUIRE_FALSE(opened.isOk());
    CHECK(opened.status().code() == StatusCode::kFailedPrecondition);
    CHECK(contains(opened.status().message(), "schema version 2"));
  }
}

TEST_CASE("a forked child cannot use the parent's store") {
  TempDir dir("seqd-store-test");
  auto store = openOrFail(dir.path());
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    WriteBatch batch;
    batch.contacts.push_back(fullContact("from-child"));
    Status status = store->commit(batch);
    ::_exit(status.code() == StatusCode::kFailedPrecondition ? 0 : 1);
  }
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  CHECK(WIFEXITED(wait_status));
  CHECK(WEXITSTATUS(wait_status) == 0);
  CHECK(loadOrFail(*store).contacts.empty());
}
