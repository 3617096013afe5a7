// Proves isValidAddrSpec accepts RFC 5322 addr-specs (dot-atoms, quoted local parts, domain
// literals, UTF-8) and refuses what is not one: no "@", empty parts, leading, trailing or
// doubled dots, spaces and specials outside quotes, parts over RFC 5321's lengths.
#include "engine/email_address.hpp"

#include <doctest/doctest.h>

#include <string>

using seqd::isValidAddrSpec;

TEST_CASE("addr-specs that are valid") {
  for (const char* address :
       {"ada@example.test", "first.last@sub.example.test", "o'brien+tag@example.test",
        "!#$%&'*+-/=?^_`{|}~@example.test", "\"john doe\"@example.test", "\"a@b\"@example.test",
        "\"quote\\\"inside\"@example.test", "user@[192.0.2.1]", "josé@exámple.test",
        "x@localhost"}) {
    CHECK_MESSAGE(isValidAddrSpec(address), address);
  }
}

TEST_CASE("addresses that are not addr-specs") {
  for (const char* address : {"",
                              "plainaddress",
                              "@example.test",
                              "ada@",
                              "ada@@example.test",
                              ".ada@example.test",
                              "ada.@example.test",
                              "a..b@example.test",
                              "ada@example..test",
                              "ada@.example.test",
                              "ada@example.test.",
                              "a b@example.test",
                              "ada@exa mple.test",
                              "ada(comment)@example.test",
                              "a\"b@example.test",
                              "\"unclosed@example.test",
                              "ada@[1.2.3.4",
                              "ada,bob@example.test",
                              "ada@example.test>",
                              "<ada@example.test>",
                              "\"tail\\\"@example.test"}) {
    CHECK_MESSAGE(!isValidAddrSpec(address), address);
  }
  CHECK(!isValidAddrSpec(std::string(65, 'a') + "@example.test"));
  CHECK(isValidAddrSpec(std::string(64, 'a') + "@example.test"));
  CHECK(!isValidAddrSpec("a@" + std::string(253, 'b')));
  CHECK(isValidAddrSpec("a@" + std::string(252, 'b')));
}
