// Proves the IMAP inbox reads folder URLs, SEARCH and FETCH answers, INTERNALDATE and password
// files as io/imap_inbox.hpp says, and, when tests/integration/imap_inbox_test.py runs it
// against a real Dovecot (SEQD_IMAP_URL set), that fetch and markHandled work on the wire:
// oldest first, handled messages gone from the next fetch yet still in the Maildir, no message
// left \Seen, a message over the size cap returned without its bytes, and errors that name the
// URL and the cause.
#include "io/imap_inbox.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
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

// ---- Against a real server, driven by tests/integration/imap_inbox_test.py -------------------

// What the integration test delivers, oldest first: two small messages and one over the cap,
// each file's mtime (Dovecot's INTERNALDATE for a Maildir) kReceivedMs plus its index in s.
constexpr TimeMs kReceivedMs = 1796040000000;  // 2026-11-30T12:00:00Z
constexpr const char* kSubjects[] = {"Subject: first", "Subject: second", "Subject: large"};

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

InboxSettings serverSettings() {
  InboxSettings settings;
  settings.mailbox = "alice@acme.test";
  settings.imap_url = environment("SEQD_IMAP_URL");
  settings.imap_username = environment("SEQD_IMAP_USER");
  settings.imap_password_file = environment("SEQD_IMAP_PASSWORD_FILE");
  return settings;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The Maildir flags of the file under maildir holding subject ("" in new/, "a" after ":2,a").
std::string maildirFlags(const std::string& maildir, const std::string& subject) {
  int found = 0;
  std::string flags;
  for (const char* folder : {"new", "cur"}) {
    for (const auto& entry : std::filesystem::directory_iterator(maildir + "/" + folder)) {
      if (readFile(entry.path()).find(subject + "\r\n") == std::string::npos) continue;
      ++found;
      std::string name = entry.path().filename().string();
      std::size_t info = name.find(":2,");
      flags = info == std::string::npos ? "" : name.substr(info + 3);
    }
  }
  REQUIRE_MESSAGE(found == 1, subject);
  return flags;
}

const InboxItem* itemWith(const std::vector<InboxItem>& items, const std::string& subject) {
  for (const InboxItem& item : items) {
    if (item.raw.find(subject + "\r\n") != std::string::npos) return &item;
  }
  return nullptr;
}

TEST_CASE("against a real server: fetch oldest first, mark one handled, fetch again") {
  if (environment("SEQD_IMAP_URL").empty() || !environment("SEQD_IMAP_EXPECT_ERROR").empty()) {
    MESSAGE("driven by tests/integration/imap_inbox_test.py, which starts a Dovecot");
    return;
  }
  const std::string maildir = environment("SEQD_IMAP_MAILDIR");
  REQUIRE(!maildir.empty());
  std::unique_ptr<InboxSource> inbox = openImapInbox(serverSettings());

  Result<std::vector<InboxItem>> oldest = inbox->fetch(1);
  REQUIRE_MESSAGE(oldest.isOk(), oldest.status().message());
  REQUIRE(oldest.value().size() == 1);
  CHECK(oldest.value()[0].raw.find(std::string(kSubjects[0]) + "\r\n") != std::string::npos);

  Result<std::vector<InboxItem>> all = inbox->fetch(10);
  REQUIRE_MESSAGE(all.isOk(), all.status().message());
  const std::vector<InboxItem>& items = all.value();
  REQUIRE(items.size() == 3);
  CHECK(std::stoul(items[0].id) < std::stoul(items[1].id));
  CHECK(std::stoul(items[1].id) < std::stoul(items[2].id));
  for (std::size_t i = 0; i < 2; ++i) {
    INFO(kSubjects[i]);
    CHECK(items[i].raw.find(std::string(kSubjects[i]) + "\r\n") != std::string::npos);
    CHECK(items[i].raw.find("Message-ID: <") != std::string::npos);
    CHECK(items[i].raw.ends_with("\r\n"));
    CHECK(items[i].received_ms == kReceivedMs + static_cast<TimeMs>(i) * kSecondMs);
  }
  CHECK(items[2].raw.empty());  // over kInboxItemBytesMax
  CHECK(items[2].received_ms == kReceivedMs + 2 * kSecondMs);
  for (const char* subject : kSubjects)
    CHECK(maildirFlags(maildir, subject).find('S') == std::string::npos);

  const std::string first_id = items[0].id;
  REQUIRE(inbox->markHandled(first_id).isOk());
  REQUIRE(inbox->markHandled(first_id).isOk());      // again: still fine
  REQUIRE(inbox->markHandled("4000000000").isOk());  // no such message: nothing to mark

  Result<std::vector<InboxItem>> again = inbox->fetch(10);
  REQUIRE_MESSAGE(again.isOk(), again.status().message());
  REQUIRE(again.value().size() == 2);
  CHECK(itemWith(again.value(), kSubjects[0]) == nullptr);
  const InboxItem* second = itemWith(again.value(), kSubjects[1]);
  REQUIRE(second != nullptr);
  CHECK(second->id == items[1].id);
  CHECK(again.value()[1].id == items[2].id);
  CHECK(again.value()[1].raw.empty());

  // The handled message is still there, with the keyword and still unread for a person.
  std::string handled_flags = maildirFlags(maildir, kSubjects[0]);
  CHECK(handled_flags.find('S') == std::string::npos);
  CHECK(!handled_flags.empty());  // Dovecot stores keywords as letters a-z
  for (const char* subject : kSubjects)
    CHECK(maildirFlags(maildir, subject).find('S') == std::string::npos);
  std::cout << "imap: checked fetch, markHandled and the size cap against " << inbox->describe()
            << "\n";
}

TEST_CASE("against a real server: a folder larger than one SEARCH window") {
  if (environment("SEQD_IMAP_URL").empty() || environment("SEQD_IMAP_WINDOWED").empty()) {
    MESSAGE("driven by tests/integration/imap_inbox_test.py, which starts a Dovecot");
    return;
  }
  std::unique_ptr<InboxSource> inbox = openImapInbox(serverSettings());
  Result<std::vector<InboxItem>> items = inbox->fetch(10);
  REQUIRE_MESSAGE(items.isOk(), items.status().message());
  REQUIRE(items.value().size() == 2);
  CHECK(items.value()[0].raw.find(std::string(kSubjects[0]) + "\r\n") != std::string::npos);
  CHECK(items.value()[1].raw.find(std::string(kSubjects[1]) + "\r\n") != std::string::npos);
  CHECK(std::stoul(items.value()[0].id) > imap::kSearchWindowMessagesMax);
  std::cout << "imap: found the unhandled messages past the first SEARCH window in "
            << inbox->describe() << "\n";
}

TEST_CASE("against a server that understates a size: the download stops at the cap") {
  if (environment("SEQD_IMAP_URL").empty() || environment("SEQD_IMAP_UNDERSTATED").empty()) {
    MESSAGE("driven by tests/integration/imap_inbox_test.py, which starts a fake server");
    return;
  }
  std::unique_ptr<InboxSource> inbox = openImapInbox(serverSettings());
  Result<std::vector<InboxItem>> items = inbox->fetch(10);
  REQUIRE_MESSAGE(items.isOk(), items.status().message());
  REQUIRE(items.value().size() == 2);
  CHECK(items.value()[0].id == "1");
  CHECK(items.value()[0].raw.empty());
  CHECK(items.value()[1].id == "2");  // fetched on a new connection after the abort
  CHECK(items.value()[1].raw.find(std::string(kSubjects[1]) + "\r\n") != std::string::npos);
  std::cout << "imap: a download past the cap was stopped; fetched " << items.value().size()
            << " messages from " << inbox->describe() << "\n";
}

TEST_CASE("against a real server: a failing fetch names the URL and the cause") {
  const std::string expected = environment("SEQD_IMAP_EXPECT_ERROR");
  if (environment("SEQD_IMAP_URL").empty() || expected.empty()) {
    MESSAGE("driven by tests/integration/imap_inbox_test.py, which starts a Dovecot");
    return;
  }
  InboxSettings settings = serverSettings();
  std::string password = readFile(settings.imap_password_file);
  while (!password.empty() && password.back() == '\n') password.pop_back();
  std::unique_ptr<InboxSource> inbox = openImapInbox(settings);
  auto start = std::chrono::steady_clock::now();
  Result<std::vector<InboxItem>> items = inbox->fetch(10);
  auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  REQUIRE_FALSE(items.isOk());
  const std::string& message = items.status().message();
  std::cout << "imap: after " << elapsed_ms << " ms: " << message << "\n";
  CHECK(items.status().code() == StatusCode::kIOError);
  CHECK(message.find(settings.imap_url) != std::string::npos);
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  CHECK_MESSAGE(lower.find(expected) != std::string::npos, expected);
  if (!password.empty()) CHECK(message.find(password) == std::string::npos);
  CHECK(elapsed_ms < 70 * kSecondMs);
}

}  // namespace
}  // namespace seqd
