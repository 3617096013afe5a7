// Proves the IMAP inbox reads folder URLs, SEARCH and FETCH answers, INTERNALDATE and password
// files as io/imap_inbox.hpp says, and refuses settings it cannot use without leaking them.
#include "io/imap_inbox.hpp"

#include <doctest/doctest.h>

#include <string>

#include "io/inbox.hpp"

namespace seqd {
namespace {

using imap::FetchedAttributes;

TEST_CASE("a folder URL is imap:// or imaps://, a host and a folder, and nothing else") {
  CHECK(imap::checkFolderUrl("imap://127.0.0.1:1143/INBOX").isOk());
  CHECK(imap::checkFolderUrl("imaps://mail.acme.test/INBOX").isOk());
  CHECK(imap::checkFolderUrl("imaps://mail.acme.test/Sales%20Replies").isOk());
  CHECK(imap::checkFolderUrl("imaps://[::1]:993/INBOX/").isOk());
  for (const char* url :
       {"http://mail.acme.test/INBOX", "imap:/mail.acme.test/INBOX", "imap:///INBOX",
        "imap://mail.acme.test", "imap://mail.acme.test/", "imap://mail.acme.test/INBOX;UID=4",
        "imap://mail.acme.test/INBOX?ALL", "imap://mail.acme.test/IN\nBOX"}) {
    INFO(url);
    CHECK(imap::checkFolderUrl(url).code() == StatusCode::kInvalidArgument);
  }
  Status credentials = imap::checkFolderUrl("imaps://ann:hunter2@mail.acme.test/INBOX");
  CHECK(credentials.code() == StatusCode::kInvalidArgument);
  CHECK(credentials.message().find("hunter2") == std::string::npos);
  CHECK(credentials.message().find("password_file") != std::string::npos);
}

TEST_CASE("a message URL names the UID the way libcurl 7.62 and later send UID FETCH") {
  CHECK(imap::messageUrl("imap://127.0.0.1:1143/INBOX", 42) ==
        "imap://127.0.0.1:1143/INBOX;UID=42");
}

TEST_CASE("a SEARCH answer gives its UIDs and other untagged lines are ignored") {
  Result<std::vector<std::uint32_t>> uids = imap::parseSearchResponse(
      "* SEARCH 3 17 4294967295\r\n* FLAGS (\\Seen $SeqdHandled)\r\n* 9 EXISTS\r\n");
  REQUIRE(uids.isOk());
  CHECK(uids.value() == std::vector<std::uint32_t>{3, 17, 4294967295u});

  Result<std::vector<std::uint32_t>> none = imap::parseSearchResponse("* SEARCH\r\n");
  REQUIRE(none.isOk());
  CHECK(none.value().empty());

  Result<std::vector<std::uint32_t>> modseq =
      imap::parseSearchResponse("* search 5 6 (MODSEQ 917162500)\n");
  REQUIRE(modseq.isOk());
  CHECK(modseq.value() == std::vector<std::uint32_t>{5, 6});
}

TEST_CASE("a SEARCH answer that is missing or holds anything but UIDs is corruption") {
  CHECK(imap::parseSearchResponse("").status().code() == StatusCode::kCorruption);
  CHECK(imap::parseSearchResponse("* 3 EXISTS\r\n").status().code() == StatusCode::kCorruption);
  // What libcurl 7.88 makes of an overlong line: the first 40 bytes joined to the tail.
  for (const char* answer :
       {"* SEARCH 1 2 x3\r\n", "* SEARCH 0\r\n", "* SEARCH 4294967296\r\n", "* SEARCH 1 -2\r\n"}) {
    INFO(answer);
    CHECK(imap::parseSearchResponse(answer).status().code() == StatusCode::kCorruption);
  }
}

TEST_CASE("a FETCH answer gives UID, INTERNALDATE, RFC822.SIZE and \\Seen in any order") {
  Result<std::vector<FetchedAttributes>> answers = imap::parseFetchResponse(
      "* 1 FETCH (UID 7 INTERNALDATE \"30-Nov-2026 12:00:00 +0000\" RFC822.SIZE 68 "
      "FLAGS (\\Answered \\Seen))\r\n"
      "* 2 FETCH (FLAGS () RFC822.SIZE 10485761 UID 9 INTERNALDATE \" 1-Dec-2026 09:30:00 "
      "-0500\" MODSEQ (12))\r\n"
      "* 3 FETCH (FLAGS (\\Seen))\r\n"
      "* 4 EXPUNGE\r\n"
      "* OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted.\r\n");
  REQUIRE(answers.isOk());
  REQUIRE(answers.value().size() == 3);
  const FetchedAttributes& first = answers.value()[0];
  CHECK(first.sequence == 1);
  CHECK(first.uid == 7);
  CHECK(first.received_ms == 1796040000000);  // 2026-11-30T12:00:00Z
  CHECK(first.has_size);
  CHECK(first.size_bytes == 68);
  CHECK(first.seen);
  const FetchedAttributes& second = answers.value()[1];
  CHECK(second.uid == 9);
  CHECK(second.received_ms == 1796135400000);  // 2026-12-01T14:30:00Z
  CHECK(second.size_bytes == 10485761);
  CHECK_FALSE(second.seen);
  const FetchedAttributes& update = answers.value()[2];
  CHECK(update.sequence == 3);
  CHECK(update.uid == 0);
  CHECK_FALSE(update.has_size);
  CHECK(update.seen);
}

TEST_CASE("a malformed FETCH answer, or one with a literal, is corruption") {
  for (const char* answer :
       {"* 1 FETCH (UID 7 BODY[] {68}\r\n", "* 1 FETCH (UID)\r\n", "* 1 FETCH (UID x)\r\n",
        "* 1 FETCH UID 7\r\n", "* 1 FETCH (UID 7\r\n", "* 1 FETCH (INTERNALDATE \"yesterday\")\r\n",
        "* 1 FETCH (FLAGS (\\Seen)\r\n", "* 1 FETCH (UID 7) junk\r\n"}) {
    INFO(answer);
    CHECK(imap::parseFetchResponse(answer).status().code() == StatusCode::kCorruption);
  }
}

TEST_CASE("INTERNALDATE: offsets apply, days may be padded, and nonsense is refused") {
  CHECK(imap::parseInternalDate("17-Jul-1996 02:44:25 -0700").value() == 837596665000);
  CHECK(imap::parseInternalDate(" 1-Jan-1970 00:00:00 +0000").value() == 0);
  CHECK(imap::parseInternalDate("1-jan-1970 01:00:00 +0100").value() == 0);
  CHECK(imap::parseInternalDate("29-Feb-2028 23:59:60 +0000").value() == 1835481599000);
  for (const char* text :
       {"", "30-Feb-2026 00:00:00 +0000", "01-Foo-2026 00:00:00 +0000",
        "01-Jan-2026 24:00:00 +0000", "01-Jan-2026 00:00:00", "01-Jan-26 00:00:00 +0000",
        "01-Jan-2026 00:00:00 +0000 ", "01-Jan-2026T00:00:00 +0000"}) {
    INFO(text);
    CHECK(imap::parseInternalDate(text).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("a password file loses one trailing newline; other line breaks are refused") {
  CHECK(imap::passwordFromFileContents("s3cret\n").value() == "s3cret");
  CHECK(imap::passwordFromFileContents("s3cret\r\n").value() == "s3cret");
  CHECK(imap::passwordFromFileContents("s3cret").value() == "s3cret");
  CHECK(imap::passwordFromFileContents(" spaces kept ").value() == " spaces kept ");
  for (std::string contents :
       {std::string("s3cret\n\n"), std::string("one\ntwo"), std::string("s3cret\r"),
        std::string(""), std::string("\n"), std::string("s3\0cret", 7)}) {
    INFO(contents);
    CHECK(imap::passwordFromFileContents(contents).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("an inbox over a bad URL or without its password file fails with the reason") {
  InboxSettings settings;
  settings.imap_url = "imaps://ann:hunter2@mail.acme.test/INBOX";
  std::unique_ptr<InboxSource> inbox = openImapInbox(settings);
  CHECK(inbox->describe().find("hunter2") == std::string::npos);
  Result<std::vector<InboxItem>> items = inbox->fetch(10);
  CHECK(items.status().code() == StatusCode::kInvalidArgument);
  CHECK(items.status().message().find("hunter2") == std::string::npos);

  settings.imap_url = "imap://127.0.0.1:1/INBOX";
  settings.imap_username = "ann";
  settings.imap_password_file = "/nonexistent/seqd-imap-password";
  inbox = openImapInbox(settings);
  CHECK(inbox->describe() == "imap imap://127.0.0.1:1/INBOX");
  items = inbox->fetch(10);
  CHECK(items.status().code() == StatusCode::kIOError);
  CHECK(items.status().message().find("imap://127.0.0.1:1/INBOX") != std::string::npos);
  CHECK(items.status().message().find("/nonexistent/seqd-imap-password") != std::string::npos);
  CHECK(inbox->markHandled("x7").code() == StatusCode::kInvalidArgument);
  CHECK(inbox->markHandled("0").code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace seqd
