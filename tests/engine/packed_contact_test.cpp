// PackedContact holds exactly the Contact it was packed from: every field reads the same,
// field() answers as Contact::field(), unpack() gives the Contact back, and a ref read on other
// threads keeps its block alive after the engine dropped it; with a contact text arena installed
// the texts go there, read the same, and go back to it with the block.
#include "engine/packed_contact.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/contact_text_arena.hpp"
#include "test_seed.hpp"

using seqd::testing::testSeed;

namespace seqd {
namespace {

const char* const kFieldNames[] = {
    "email",        "email_status",  "first_name", "last_name", "company", "title", "phone",
    "timezone",     "owner",         "stage",      "id",        "key",     "score", "dnc",
    "call_opt_out", "email_opt_out", "industry",   "region",    "absent",  "",      "zz"};

std::string randomText(std::mt19937_64& random, std::size_t size_max) {
  static const std::string kAlphabet = "abcXYZ019 @.-_\xc3\xa9\xe2\x82\xac";  // é, €
  std::string text(random() % (size_max + 1), ' ');
  for (char& c : text) c = kAlphabet[random() % kAlphabet.size()];
  return text;
}

Contact randomContact(std::mt19937_64& random, std::size_t round) {
  Contact contact;
  contact.key = "key-" + std::to_string(round) + randomText(random, 20);
  // Some texts long enough that a contact's texts pass 65,535 bytes: 4-byte ends.
  const std::size_t size_max = round % 17 == 0 ? 40000 : 24;
  contact.email = randomText(random, size_max);
  const char* const statuses[] = {"", "verified", "unknown"};
  contact.email_status = statuses[random() % 3];
  contact.first_name = randomText(random, size_max);
  contact.last_name = randomText(random, size_max);
  contact.company = randomText(random, 24);
  contact.title = randomText(random, 24);
  contact.phone = randomText(random, 12);
  contact.timezone = random() % 2 == 0 ? "" : "Europe/Paris";
  contact.score = static_cast<std::uint8_t>(random() % (kScoreMax + 1));
  contact.owner = random() % 2 == 0 ? "" : "alice";
  contact.stage = random() % 2 == 0 ? "" : "stage-" + std::to_string(random() % 4);
  contact.dnc = random() % 2 == 0;
  contact.call_opt_out = random() % 2 == 0;
  contact.email_opt_out = random() % 2 == 0;
  const std::size_t extras = random() % 5;
  for (std::size_t i = 0; i < extras; ++i) {
    const char* names[] = {"industry", "region", "a", "zz", "Region", "notes"};
    contact.extra[names[random() % 6]] = random() % 4 == 0 ? "" : randomText(random, size_max);
  }
  return contact;
}

void checkSame(const Contact& expected, const PackedContact& packed) {
  CHECK(packed.key() == expected.key);
  CHECK(packed.keySymbol() == Symbol(expected.key));
  CHECK(packed.email() == expected.email);
  CHECK(packed.emailStatus() == expected.email_status);
  CHECK(packed.firstName() == expected.first_name);
  CHECK(packed.lastName() == expected.last_name);
  CHECK(packed.company() == expected.company);
  CHECK(packed.title() == expected.title);
  CHECK(packed.phone() == expected.phone);
  CHECK(packed.timezone() == expected.timezone);
  CHECK(packed.score() == expected.score);
  CHECK(packed.owner() == expected.owner);
  CHECK(packed.stage() == expected.stage);
  CHECK(packed.dnc() == expected.dnc);
  CHECK(packed.callOptOut() == expected.call_opt_out);
  CHECK(packed.emailOptOut() == expected.email_opt_out);
  REQUIRE(packed.extraCount() == expected.extra.size());
  std::size_t index = 0;
  for (const auto& [name, value] : expected.extra) {
    CHECK(packed.extraName(index) == name);
    CHECK(packed.extraValue(index) == value);
    REQUIRE(packed.extra(name).has_value());
    CHECK(*packed.extra(name) == value);
    ++index;
  }
  for (const char* name : kFieldNames) {
    CAPTURE(name);
    CHECK(packed.field(name) == expected.field(name));
  }
}

TEST_CASE("a packed contact reads as the Contact it was packed from, and unpacks to it") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (std::size_t round = 0; round < 300; ++round) {
    CAPTURE(round);
    const Contact contact = randomContact(random, round);
    const ContactRef packed = PackedContact::pack(contact);
    checkSame(contact, *packed);
    const Contact unpacked = packed->unpack();
    checkSame(unpacked, *packed);
    CHECK(unpacked.extra == contact.extra);
    CHECK(packed->extra("no-such-column") == std::nullopt);
  }
}

TEST_CASE("an empty custom column is kept, and is missing to field() as an empty field is") {
  Contact contact;
  contact.key = "k@x.test";
  contact.extra["notes"] = "";
  const ContactRef packed = PackedContact::pack(contact);
  REQUIRE(packed->extra("notes").has_value());
  CHECK(packed->extra("notes")->empty());
  CHECK(packed->field("notes") == std::nullopt);
  CHECK(packed->unpack().extra.count("notes") == 1);
}

// The memory bench's contacts: a 17-byte key and email, short names and company.
Contact shortContact() {
  Contact contact;
  contact.key = "c0000123@x.test.e";
  contact.email = "c0000123@x.test.e";
  contact.first_name = "First123";
  contact.last_name = "Last123";
  contact.company = "Company 12";
  contact.score = 42;
  return contact;
}

TEST_CASE("a short contact is one small block") {
  Contact contact = shortContact();
  const ContactRef packed = PackedContact::pack(contact);
  // 16 header + 6 one-byte ends + 25 bytes of text: the email is the key's text, not stored
  // again, and no field Symbol is set.
  CHECK(packed->blockBytes() == 16 + 6 + 25);
  CHECK(packed->email() == "c0000123@x.test.e");
  CHECK(packed->text(PackedContact::Text::kEmail) == "c0000123@x.test.e");
  CHECK(packed->field("email") == "c0000123@x.test.e");
  CHECK(packed->unpack().email == "c0000123@x.test.e");
  contact.extra["industry"] = "software";
  CHECK(PackedContact::pack(contact)->blockBytes() == 16 + 4 + 7 + 33);
  contact.timezone = "Europe/Paris";
  contact.stage = "lead";
  CHECK(PackedContact::pack(contact)->blockBytes() == 16 + 2 * 4 + 4 + 7 + 33);
}

TEST_CASE("an email other than the key's text is stored, and an empty one stays empty") {
  Contact contact;
  contact.key = "c0000123@x.test.e";
  contact.email = "C0000123@x.test.e";  // the key is the lower-cased email
  contact.first_name = "First123";
  ContactRef packed = PackedContact::pack(contact);
  CHECK(packed->blockBytes() == 16 + 6 + 17 + 8);
  CHECK(packed->email() == "C0000123@x.test.e");
  CHECK(packed->unpack().email == "C0000123@x.test.e");
  contact.key = "crm-123";  // an `id` column
  contact.email = "crm-123@x.test";
  packed = PackedContact::pack(contact);
  CHECK(packed->email() == "crm-123@x.test");
  CHECK(packed->key() == "crm-123");
  contact.email = "";
  packed = PackedContact::pack(contact);
  CHECK(packed->email().empty());
  CHECK_FALSE(packed->field("email").has_value());
  CHECK(packed->unpack().email.empty());
  // The key as the email, and the email then changed: each pack reads its own.
  contact.email = "crm-123";
  packed = PackedContact::pack(contact);
  CHECK(packed->email() == "crm-123");
  CHECK(packed->blockBytes() == 16 + 6 + 8);
}

TEST_CASE("each of the field Symbols is held only when set, and reads back in any mix") {
  for (unsigned mix = 0; mix < 16; ++mix) {
    CAPTURE(mix);
    Contact contact;
    contact.key = "mix-" + std::to_string(mix);
    contact.first_name = "Ana";
    if ((mix & 1) != 0) contact.email_status = "verified";
    if ((mix & 2) != 0) contact.timezone = "Asia/Tokyo";
    if ((mix & 4) != 0) contact.owner = "bob";
    if ((mix & 8) != 0) contact.stage = "customer";
    contact.extra["region"] = "EMEA";
    const ContactRef packed = PackedContact::pack(contact);
    checkSame(contact, *packed);
    CHECK(packed->timezoneSymbol() == Symbol(contact.timezone));
    const std::size_t held = static_cast<std::size_t>(std::popcount(mix));
    CHECK(packed->blockBytes() == 16 + 4 * held + 4 + 7 + 3 + 4);
  }
}

TEST_CASE("ends take 1, 2 or 4 bytes, as the texts' total needs") {
  struct Case {
    std::size_t text_bytes;
    std::size_t end_bytes;
  };
  for (const Case& c : {Case{255, 1}, Case{256, 2}, Case{65535, 2}, Case{65536, 4}}) {
    CAPTURE(c.text_bytes);
    Contact contact;
    contact.key = "ends";
    contact.first_name = "A";
    contact.phone = std::string(c.text_bytes - 2, 'x');
    contact.extra["notes"] = "B";
    const ContactRef packed = PackedContact::pack(contact);
    checkSame(contact, *packed);
    CHECK(packed->blockBytes() == 16 + 4 + c.end_bytes * 7 + c.text_bytes);
  }
}

// An arena in the heap that counts what it hands out and takes back, and can be told to
// have nothing to give. Installed for one test's scope; the test drops its blocks first.
class CountingArena final : public ContactTextArena {
 public:
  CountingArena() { installContactTextArena(this); }
  ~CountingArena() override {
    installContactTextArena(nullptr);
    CHECK(out_.empty());
  }
  char* allocate(std::size_t bytes) noexcept override {
    std::lock_guard lock(mutex_);
    if (empty_) return nullptr;
    char* text = static_cast<char*>(std::malloc(bytes));
    out_[text] = bytes;
    ++allocated_;
    return text;
  }
  void release(char* text, std::size_t bytes) noexcept override {
    std::lock_guard lock(mutex_);
    auto found = out_.find(text);
    REQUIRE(found != out_.end());
    CHECK(found->second == bytes);  // given back with the size it was taken with
    out_.erase(found);
    std::free(text);
  }
  void setEmpty(bool empty) { empty_ = empty; }
  std::size_t outstanding() {
    std::lock_guard lock(mutex_);
    return out_.size();
  }
  std::size_t allocated() const { return allocated_; }
  bool owns(const char* text) {
    std::lock_guard lock(mutex_);
    for (const auto& [begin, bytes] : out_) {
      if (text >= begin && text < begin + bytes) return true;
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::map<char*, std::size_t> out_;
  std::size_t allocated_ = 0;
  bool empty_ = false;
};

TEST_CASE("with an arena installed, the texts go there and the block keeps a pointer") {
  CountingArena arena;
  Contact contact = shortContact();
  {
    const ContactRef packed = PackedContact::pack(contact);
    CHECK(packed->textsInArena());
    // 16 header + the 8-byte pointer; the 6 ends and 25 bytes of text are in the arena.
    CHECK(packed->blockBytes() == 16 + 8);
    CHECK(arena.outstanding() == 1);
    CHECK(arena.owns(packed->firstName().data()));
    CHECK(arena.owns(packed->company().data()));
    checkSame(contact, *packed);
    contact.extra["industry"] = "software";
    contact.extra["region"] = "";
    contact.stage = "lead";
    const ContactRef with_columns = PackedContact::pack(contact);
    CHECK(with_columns->blockBytes() == 16 + 4 + 2 * 4 + 8);
    checkSame(contact, *with_columns);
    CHECK(with_columns->unpack().extra == contact.extra);
    CHECK(arena.outstanding() == 2);
  }
  CHECK(arena.outstanding() == 0);  // each block gave its texts back when freed
}

TEST_CASE("texts of 8 bytes or less stay in the block; so do all when the arena has no room") {
  CountingArena arena;
  Contact tiny;
  tiny.key = "k@x.test";
  tiny.email = "k@x.test";
  tiny.first_name = "Al";  // 6 ends + 2 bytes: no smaller than the pointer
  const ContactRef kept = PackedContact::pack(tiny);
  CHECK_FALSE(kept->textsInArena());
  CHECK(kept->blockBytes() == 16 + 6 + 2);
  CHECK(kept->firstName() == "Al");
  CHECK(arena.allocated() == 0);

  arena.setEmpty(true);
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (std::size_t round = 0; round < 50; ++round) {
    CAPTURE(round);
    const Contact contact = randomContact(random, round);
    const ContactRef packed = PackedContact::pack(contact);
    CHECK_FALSE(packed->textsInArena());
    checkSame(contact, *packed);
  }
  CHECK(arena.outstanding() == 0);
}

TEST_CASE("random contacts read and unpack the same with their texts in an arena") {
  CountingArena arena;
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  std::vector<ContactRef> held;
  for (std::size_t round = 0; round < 300; ++round) {
    CAPTURE(round);
    const Contact contact = randomContact(random, round);
    ContactRef packed = PackedContact::pack(contact);
    checkSame(contact, *packed);
    const Contact unpacked = packed->unpack();
    checkSame(unpacked, *packed);
    CHECK(unpacked.extra == contact.extra);
    if (packed->textsInArena()) {
      const std::size_t field_symbols =
          (contact.email_status != "unknown" ? 1 : 0) + (contact.timezone.empty() ? 0 : 1) +
          (contact.owner.empty() ? 0 : 1) + (contact.stage.empty() ? 0 : 1);
      CHECK(packed->blockBytes() == 16 + 4 * (field_symbols + contact.extra.size()) + 8);
    }
    if (round % 3 == 0) held.push_back(std::move(packed));
  }
  CHECK(arena.allocated() > 250);  // most random contacts have over 8 bytes of text
  CHECK(arena.outstanding() == held.size());
  held.clear();
  CHECK(arena.outstanding() == 0);
}

TEST_CASE("a ref read on other threads outlives the engine's") {
  // Run under the sanitizers: a block freed while a reader still holds it is a use after free.
  Contact contact;
  contact.key = "shared@x.test";
  contact.first_name = std::string(100, 'a');
  ContactRef held = PackedContact::pack(contact);
  std::vector<std::thread> readers;
  std::vector<std::size_t> lengths(4);
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    readers.emplace_back([copy = held, &lengths, i] {
      std::size_t total = 0;
      for (int round = 0; round < 1000; ++round) {
        ContactRef another = copy;
        total += another->firstName().size();
      }
      lengths[i] = total;
    });
  }
  held.reset();  // the engine replaced the contact
  for (std::thread& reader : readers) reader.join();
  for (std::size_t length : lengths) CHECK(length == 100 * 1000);
}

}  // namespace
}  // namespace seqd
