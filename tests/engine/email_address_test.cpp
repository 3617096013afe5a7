// Proves a contact's email is one RFC 5322 addr-spec: display names, lists, comments and line
// breaks, which would change a To: header, are refused; ordinary addresses pass.
#include "engine/email_address.hpp"

#include <doctest/doctest.h>

#include <string>

#include "engine/contact.hpp"

using namespace seqd;

TEST_CASE("ordinary addresses are one addr-spec") {
  for (const char* address :
       {"ada@example.test", "Ada.Lovelace+q4@mail.example.test", "o'brien@x.test",
        "a!#$%&'*+-/=?^_`{|}~@x.test", "\"ada lovelace\"@x.test", "\"a\\\"b\"@x.test",
        "user@[192.0.2.1]", "zoë@bücher.test", "a@localhost", "1@2.3"}) {
    INFO(address);
    CHECK(checkEmailAddress(address).isOk());
  }
}

TEST_CASE("display names, lists, comments and header breaks are refused") {
  for (const char* address : {"\"evil\" <evil@evil.test>",
                              "Evil <evil@evil.test>",
                              "a@x.test, evil@evil.test",
                              "a@x.test,evil@evil.test",
                              "a@x.test;b@y.test",
                              "a@x.test (comment)",
                              "a@x.test\r\nBcc: evil@evil.test",
                              "a@x.test\nBcc: e@e.test",
                              "a b@x.test",
                              "@x.test",
                              "a@",
                              "a",
                              "a..b@x.test",
                              ".a@x.test",
                              "a.@x.test",
                              "a@x..test",
                              "a@-x.test",
                              "a@x-.test",
                              "a@x_y.test",
                              "\"open@x.test",
                              "a@[not an ip]",
                              "a@x.test>",
                              "<a@x.test>"}) {
    INFO(address);
    CHECK_FALSE(checkEmailAddress(address).isOk());
  }
}

TEST_CASE("lengths: 254 bytes in all, 64 in the local part, 63 in a label") {
  std::string label(63, 'd');
  CHECK(checkEmailAddress("a@" + label + ".test").isOk());
  CHECK_FALSE(checkEmailAddress("a@" + label + "d.test").isOk());
  CHECK(checkEmailAddress(std::string(64, 'l') + "@x.test").isOk());
  CHECK_FALSE(checkEmailAddress(std::string(65, 'l') + "@x.test").isOk());
  std::string domain = label + "." + label + "." + label + "." + std::string(57, 'e');
  CHECK(checkEmailAddress("aaaa@" + domain).isOk());  // 254 bytes
  CHECK_FALSE(checkEmailAddress("aaaaa@" + domain).isOk());
}

TEST_CASE("a contact takes an empty email or one address, and an empty score is 0") {
  Contact contact;
  CHECK(contact.setField("email", "").isOk());
  Status refused = contact.setField("email", "a@x.test, evil@evil.test");
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.message().find("is not one address") != std::string::npos);
  CHECK(contact.email.empty());
  CHECK(contact.setField("score", "70").isOk());
  CHECK(contact.score == 70);
  CHECK(contact.setField("score", "").isOk());
  CHECK(contact.score == 0);
  CHECK_FALSE(contact.setField("score", "x").isOk());
}

TEST_CASE("addr-specs with quoted parts, domain literals and UTF-8, and malformed ones") {
  for (const char* address :
       {"first.last@sub.example.test", "\"john doe\"@example.test", "\"a@b\"@example.test",
        "\"quote\\\"inside\"@example.test", "josé@exámple.test", "x@localhost"}) {
    INFO(address);
    CHECK(checkEmailAddress(address).isOk());
  }
  for (const char* address : {"", "plainaddress", "ada@@example.test", "ada@.example.test",
                              "ada@example.test.", "ada(comment)@example.test", "a\"b@example.test",
                              "ada@[1.2.3.4", "ada,bob@example.test", "\"tail\\\"@example.test"}) {
    INFO(address);
    CHECK_FALSE(checkEmailAddress(address).isOk());
  }
}

TEST_CASE("a contact keeps a malformed address that names one recipient, for invalid_email") {
  for (const char* kept : {"a..b@x.test", "a@x.test.", "a@-x.test"}) {
    INFO(kept);
    CHECK_FALSE(checkEmailAddress(kept).isOk());
    CHECK(checkContactEmail(kept).isOk());
  }
  for (const char* refused : {"\"evil\" <evil@evil.test>", "a@x.test, evil@evil.test",
                              "a@x.test;b@y.test", "a@x.test (c)", "a@x.test\r\nBcc: e@e.test",
                              "undisclosed:;", "a b@x.test", "plainaddress", "@x.test", "a@"}) {
    INFO(refused);
    CHECK_FALSE(checkContactEmail(refused).isOk());
  }
  CHECK(checkContactEmail("\"john doe\"@example.test").isOk());
}
