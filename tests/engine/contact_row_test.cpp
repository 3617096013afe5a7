// rowLeavesAsIs says a row leaves a stored contact as it is only when working the row out in
// full (contactAfterRow on the unpacked contact) succeeds and gives the same contact: checked
// on random contacts and rows, values written as the contact has them or as setField would
// read them the same (TRUE, yes, 070, VERIFIED), changed, invalid or missing.
#include "engine/contact_row.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "test_seed.hpp"

using seqd::testing::testSeed;

namespace seqd {
namespace {

template <typename T>
const T& pick(std::mt19937_64& random, const std::vector<T>& values) {
  return values[random() % values.size()];
}

Contact randomContact(std::mt19937_64& random) {
  Contact contact;
  contact.key = "k" + std::to_string(random() % 1000) + "@x.test";
  contact.email = pick<std::string>(random, {"", "ada@x.test", "Ada@X.test"});
  contact.email_status = pick<std::string>(random, {"unknown", "verified", "unverified"});
  contact.first_name = pick<std::string>(random, {"", "Ada", "ada"});
  contact.company = pick<std::string>(random, {"", "Acme"});
  contact.timezone = pick<std::string>(random, {"", "Europe/Paris"});
  contact.owner = pick<std::string>(random, {"", "alice"});
  contact.stage = pick<std::string>(random, {"", "new", "disqualified"});
  contact.score = static_cast<std::uint8_t>(pick<int>(random, {0, 7, 70, 100}));
  contact.dnc = random() % 2 == 0;
  contact.email_opt_out = random() % 2 == 0;
  if (random() % 2 == 0) contact.extra["region"] = pick<std::string>(random, {"", "emea"});
  return contact;
}

// A value for the field: the contact's own, one setField reads the same, or another.
std::string randomValue(std::mt19937_64& random, const Contact& contact, const std::string& name) {
  const std::optional<std::string> own = contact.field(name);
  switch (random() % 4) {
    case 0:
    case 1:
      return own.value_or("");
    case 2:
      if (name == "score") return "0" + std::to_string(contact.score);
      if (name == "dnc") return contact.dnc ? "YES" : "no";
      if (name == "email_opt_out") return contact.email_opt_out ? "TRUE" : "";
      if (name == "email_status") return contact.email_status == "unknown" ? "" : "VERIFIED";
      return own.value_or("") + " ";
    default:
      return pick<std::string>(random, {"", "x", "bad..dots@x.test", "101", "maybe", "emea",
                                        "Europe/Paris", "verified", "alice"});
  }
}

TEST_CASE("rowLeavesAsIs only when the row worked out in full leaves the contact as it is") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  const std::vector<std::string> names = {
      "id",    "email", "email_status", "first_name",    "company", "timezone", "owner",
      "stage", "score", "dnc",          "email_opt_out", "region",  "last_name"};
  std::size_t as_is = 0;
  std::size_t rows = 0;
  for (int round = 0; round < 20000; ++round) {
    const Contact contact = randomContact(random);
    const ContactRef packed = PackedContact::pack(contact);
    const Contact unpacked = packed->unpack();
    ContactRow row;
    for (const std::string& name : names) {
      if (random() % 3 != 0) continue;
      row.fields[name] = name == "id" ? contact.key : randomValue(random, contact, name);
    }
    ++rows;
    const bool leaves = rowLeavesAsIs(*packed, row);
    const Result<Contact> after = contactAfterRow(&unpacked, contact.key, row);
    const bool same = after.isOk() && after.value() == unpacked;
    INFO("round " << round);
    if (leaves) {
      ++as_is;
      CHECK(same);
    }
  }
  // Not vacuous: many rows leave their contact as it is.
  CHECK(as_is > rows / 20);
}

TEST_CASE("a row of the contact's own values leaves it as it is; one changed value does not") {
  Contact contact;
  contact.key = "ada@x.test";
  contact.email = "ada@x.test";
  contact.first_name = "Ada";
  contact.score = 70;
  contact.dnc = true;
  contact.extra["region"] = "emea";
  const ContactRef packed = PackedContact::pack(contact);
  ContactRow row;
  row.fields = {{"email", "ada@x.test"}, {"first_name", "Ada"}, {"score", "70"},
                {"dnc", "yes"},          {"region", "emea"},    {"email_status", ""}};
  CHECK(rowLeavesAsIs(*packed, row));
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"first_name", "ada"},
                                                        {"score", "71"},
                                                        {"dnc", "no"},
                                                        {"region", "apac"},
                                                        {"industry", ""},
                                                        {"email_status", "verified"},
                                                        {"key", "ada@x.test"}}) {
    ContactRow changed = row;
    changed.fields[name] = value;
    INFO(name << "=" << value);
    CHECK_FALSE(rowLeavesAsIs(*packed, changed));
  }
}

}  // namespace
}  // namespace seqd
