// Proves ContactZones gives back each contact's zone by its key's index, the latest one set,
// nothing for a key no contact was set under, and nothing (so the engine reads the contact)
// for zones past the 65,534 distinct ones it keeps.
#include "engine/contact_zones.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace seqd;

TEST_CASE("a contact's zone is the last one set under its key") {
  ContactZones zones;
  const Symbol ny("test-zones/ny@x.test"), tokyo("test-zones/tokyo@x.test");
  CHECK_FALSE(zones.find(ny.index()).has_value());
  zones.set(ny.index(), Symbol("America/New_York"));
  zones.set(tokyo.index(), Symbol());
  REQUIRE(zones.find(ny.index()).has_value());
  CHECK(*zones.find(ny.index()) == "America/New_York");
  REQUIRE(zones.find(tokyo.index()).has_value());
  CHECK(zones.find(tokyo.index())->empty());
  zones.set(tokyo.index(), Symbol("Asia/Tokyo"));
  CHECK(*zones.find(tokyo.index()) == "Asia/Tokyo");
  CHECK(*zones.find(ny.index()) == "America/New_York");
  // A key interned, but no contact set under it.
  CHECK_FALSE(zones.find(Symbol("test-zones/nobody@x.test").index()).has_value());
  CHECK_FALSE(zones.find(kSymbolsMax - 1).has_value());
}

TEST_CASE("past 65,534 distinct zones a contact's zone is not kept, and the others still are") {
  ContactZones zones;
  const std::uint32_t first_key = Symbol("test-zones/key-0").index();
  for (int i = 0; i < 65534; ++i) {
    const Symbol key("test-zones/key-" + std::to_string(i));
    zones.set(key.index(), Symbol("test-zone-" + std::to_string(i)));
  }
  const Symbol last_key("test-zones/key-65533");
  REQUIRE(zones.find(last_key.index()).has_value());
  CHECK(*zones.find(last_key.index()) == "test-zone-65533");
  const Symbol over("test-zones/key-over");
  zones.set(over.index(), Symbol("test-zone-over"));
  CHECK_FALSE(zones.find(over.index()).has_value());
  // A zone already kept can still be set, for that contact and others.
  zones.set(over.index(), Symbol("test-zone-7"));
  CHECK(*zones.find(over.index()) == "test-zone-7");
  CHECK(*zones.find(first_key) == "test-zone-0");
}
