// Proves the request limits are the store's own or under them: the contact key limit is the
// real LMDB store's, and a contact at every limit at once is stored and read back; and that
// each check names the value and the limit it is over.
#include "io/request_checks.hpp"

#include <doctest/doctest.h>

#include "io/store.hpp"
#include "temp_dir.hpp"

using namespace seqd;

namespace {

using seqd::testing::TempDir;

std::unique_ptr<Store> openStore(const TempDir& dir) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
  REQUIRE(opened.isOk());
  return std::move(opened.value());
}

}  // namespace

TEST_CASE("kContactKeyBytesMax is the key size the LMDB store holds") {
  TempDir dir("seqd-limits");
  std::unique_ptr<Store> store = openStore(dir);
  WriteBatch batch;
  Contact contact;
  contact.key = std::string(kContactKeyBytesMax, 'k');
  batch.contacts.push_back(PackedContact::pack(contact));
  CHECK(store->commit(batch).isOk());
  CHECK(checkContactKey(contact.key).isOk());
  contact.key += 'k';
  batch.contacts.front() = PackedContact::pack(contact);
  CHECK(store->commit(batch).code() == StatusCode::kInvalidArgument);
  CHECK(checkContactKey(contact.key).message() ==
        "contact key '" + std::string(80, 'k') + "...' is 512 bytes; at most 511");
}

TEST_CASE("a contact at every limit at once is stored and read back") {
  TempDir dir("seqd-limits");
  std::unique_ptr<Store> store = openStore(dir);
  Contact contact;
  contact.key = std::string(kContactKeyBytesMax, 'k');
  for (std::size_t i = 0; i < kContactCustomFieldsMax; ++i) contact.extra[std::to_string(i)] = "v";
  contact.extra[std::string(kFieldNameBytesMax, 'n')] = std::string(kFieldValueBytesMax, 'v');
  contact.extra.erase("0");
  contact.first_name = std::string(kFieldValueBytesMax, 'f');
  contact.last_name = std::string(kContactBytesMax - kFieldValueBytesMax * 3, 'l');
  REQUIRE_MESSAGE(checkContactSize(contact).isOk(), checkContactSize(contact).message());
  WriteBatch batch;
  batch.contacts.push_back(PackedContact::pack(contact));
  Status committed = store->commit(batch);
  REQUIRE_MESSAGE(committed.isOk(), committed.message());
  LoadedState loaded;
  REQUIRE(store->load(loaded).isOk());
  REQUIRE(loaded.contacts.size() == 1);
  CHECK(loaded.contacts[0]->extraCount() == kContactCustomFieldsMax);
  contact.extra["one more"] = "v";
  CHECK(checkContactSize(contact).message() == "4097 custom fields; at most 4096 per contact");
}

TEST_CASE("each check names the value and the limit") {
  ContactRow row;
  row.fields = {{"notes", std::string(kFieldValueBytesMax + 1, 'v')}};
  CHECK(checkRowFields(row).message() == "field 'notes' is 65537 bytes; at most 65536");
  row.fields = {{"", "v"}};
  CHECK(checkRowFields(row).message() == "a field name is empty");
  Contact big;
  big.key = "k";
  big.extra["notes"] = std::string(kContactBytesMax, 'v');
  CHECK(checkContactSize(big).message() ==
        "all fields together are 1048589 bytes; at most 1048576 per contact");
  CHECK(checkContactList(std::vector<std::string>(kContactsPerRequestMax + 1, "x"))
            .message()
            .starts_with("100001 contacts in one request"));
  CHECK(checkMailboxList({std::string(kMailboxAddressBytesMax + 1, 'm')}).code() ==
        StatusCode::kInvalidArgument);
  CHECK(checkText("--reason", "short", kFinishReasonBytesMax).isOk());
  CHECK(checkSequenceId(std::string(kSequenceIdBytesMax + 1, 's')).code() == StatusCode::kNotFound);
}
