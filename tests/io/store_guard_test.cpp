// Proves a record the store cannot hold fails alone, not the batch: refusedRecords finds it
// among a command's records, and commitKeepingHoldable commits the rest of the batch without
// it, except that a refused progress record is never dropped.
#include "io/store_guard.hpp"

#include <doctest/doctest.h>

#include "io/record_codec.hpp"
#include "io/request_checks.hpp"
#include "temp_dir.hpp"

using namespace seqd;

namespace {

using seqd::testing::TempDir;

Contact contactWithKey(std::string key) {
  Contact contact;
  contact.key = std::move(key);
  return contact;
}

}  // namespace

TEST_CASE("refusedRecords names what the store would refuse after the mark") {
  WriteBatch batch;
  batch.contacts.push_back(
      PackedContact::pack(contactWithKey(std::string(kContactKeyBytesMax + 1, 'k'))));
  const BatchMark mark = markOf(batch);
  CHECK(refusedRecords(batch, mark).empty());
  batch.contacts.push_back(PackedContact::pack(contactWithKey("fine")));
  Contact crowded = contactWithKey("crowded");
  for (std::size_t i = 0; i <= kContactExtraFieldsMax; ++i) crowded.extra[std::to_string(i)] = "";
  batch.contacts.push_back(PackedContact::pack(crowded));
  EnrollmentRecord enrollment;
  enrollment.row.sequence_id = "s";
  enrollment.row.contact_key = "fine";
  enrollment.extras.mailboxes =
      SymbolList(std::vector<Symbol>(kEnrollmentMailboxesMax + 1, "a@acme.test"));
  batch.enrollments.push_back(enrollment);
  std::vector<std::string> refused = refusedRecords(batch, mark);
  REQUIRE(refused.size() == 2);
  CHECK(refused[0].starts_with("contacts key 'crowded': contact value: extra count"));
  CHECK(refused[1].starts_with("enrollments id 0 (contact 'fine'): enrollment value: mailboxes"));
  CHECK(refusedRecords(batch).size() == 3);
}

TEST_CASE("commitKeepingHoldable commits the rest of a batch without the refused records") {
  TempDir dir("seqd-guard");
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
  REQUIRE(opened.isOk());
  Store& store = *opened.value();
  WriteBatch batch;
  batch.contacts.push_back(PackedContact::pack(contactWithKey("good")));
  batch.contacts.push_back(
      PackedContact::pack(contactWithKey(std::string(kContactKeyBytesMax + 1, 'k'))));
  ProgressRecord record;
  record.seq = 1;
  batch.progress.push_back(record);
  batch.clock_ms = 42;
  std::vector<std::string> dropped;
  Status committed = commitKeepingHoldable(store, batch, dropped);
  REQUIRE_MESSAGE(committed.isOk(), committed.message());
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].find("is 512 bytes; at most 511") != std::string::npos);
  LoadedState loaded;
  REQUIRE(store.load(loaded).isOk());
  REQUIRE(loaded.contacts.size() == 1);
  CHECK(loaded.contacts[0]->key() == "good");
  CHECK(loaded.progress.size() == 1);
  CHECK(loaded.clock_ms == 42);

  // A progress record the store refuses is never dropped: the log must stay whole.
  WriteBatch bad_log;
  bad_log.contacts.push_back(
      PackedContact::pack(contactWithKey(std::string(kContactKeyBytesMax + 1, 'k'))));
  ProgressRecord long_detail;
  long_detail.seq = 2;
  long_detail.detail.assign(kRecordFieldBytesMax + 1, 'd');
  bad_log.progress.push_back(long_detail);
  dropped.clear();
  CHECK(commitKeepingHoldable(store, bad_log, dropped).code() == StatusCode::kInvalidArgument);
  CHECK(dropped.empty());
  REQUIRE(store.load(loaded).isOk());
  CHECK(loaded.progress.size() == 1);
}
