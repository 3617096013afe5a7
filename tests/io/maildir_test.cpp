// Proves Maildir delivery lands one file in new/ via tmp/, is a no-op for a Message-ID already
// in new/ or cur/, and refuses addresses that would escape the outbox.
#include "io/maildir.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

using namespace seqd;
namespace fs = std::filesystem;

namespace {

using seqd::testing::TempDir;

std::vector<std::string> namesIn(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

std::string readFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

constexpr std::string_view kMessageId = "<q4.intro.0123456789abcdef@acme.test>";
constexpr std::string_view kMessage = "Subject: hi\n\nHello\n";

}  // namespace

TEST_CASE("a delivered message lands in new/ and tmp/ is left empty") {
  TempDir root("seqd-maildir-test");
  MaildirWriter writer(root.path() + "/outbox");
  REQUIRE(writer.deliver("alice@acme.test", kMessageId, kMessage).isOk());
  std::string mailbox = root.path() + "/outbox/alice@acme.test";
  std::string name = MaildirWriter::fileNameFor(kMessageId);
  CHECK(namesIn(mailbox + "/new") == std::vector<std::string>{name});
  CHECK(namesIn(mailbox + "/tmp").empty());
  CHECK(namesIn(mailbox + "/cur").empty());
  CHECK(readFile(mailbox + "/new/" + name) == kMessage);
  struct stat info;
  REQUIRE(::stat((mailbox + "/new").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777 & ~0750) == 0);  // at most 0750
}

TEST_CASE("file names are stable per Message-ID and safe for Maildir") {
  std::string name = MaildirWriter::fileNameFor(kMessageId);
  CHECK(name == MaildirWriter::fileNameFor(kMessageId));
  CHECK(name != MaildirWriter::fileNameFor("<other@acme.test>"));
  CHECK(name.size() == 16 + 5);
  CHECK(name.substr(16) == ".seqd");
  CHECK(name.find_first_of("/:") == std::string::npos);
}

TEST_CASE("a second delivery of the same Message-ID is a no-op") {
  TempDir root("seqd-maildir-test");
  MaildirWriter writer(root.path());
  REQUIRE(writer.deliver("alice@acme.test", kMessageId, kMessage).isOk());
  REQUIRE(writer.deliver("alice@acme.test", kMessageId, "Subject: changed\n\nOther\n").isOk());
  std::string mailbox = root.path() + "/alice@acme.test";
  std::vector<std::string> names = namesIn(mailbox + "/new");
  REQUIRE(names.size() == 1);
  CHECK(readFile(mailbox + "/new/" + names[0]) == kMessage);
  CHECK(namesIn(mailbox + "/tmp").empty());

  // A different Message-ID is a different file.
  REQUIRE(writer.deliver("alice@acme.test", "<other@acme.test>", kMessage).isOk());
  CHECK(namesIn(mailbox + "/new").size() == 2);
}

TEST_CASE("a message a reader moved to cur/ is not delivered again") {
  TempDir root("seqd-maildir-test");
  MaildirWriter writer(root.path());
  REQUIRE(writer.deliver("alice@acme.test", kMessageId, kMessage).isOk());
  std::string mailbox = root.path() + "/alice@acme.test";
  std::string name = MaildirWriter::fileNameFor(kMessageId);
  fs::rename(mailbox + "/new/" + name, mailbox + "/cur/" + name + ":2,S");
  REQUIRE(writer.deliver("alice@acme.test", kMessageId, kMessage).isOk());
  CHECK(namesIn(mailbox + "/new").empty());
  CHECK(namesIn(mailbox + "/cur") == std::vector<std::string>{name + ":2,S"});
  CHECK(namesIn(mailbox + "/tmp").empty());

  // Moved to cur/ without an info suffix: also recognised.
  fs::rename(mailbox + "/cur/" + name + ":2,S", mailbox + "/cur/" + name);
  REQUIRE(writer.deliver("alice@acme.test", kMessageId, kMessage).isOk());
  CHECK(namesIn(mailbox + "/new").empty());
}

TEST_CASE("a batch delivers each message once and leaves those in new/ or cur/ alone") {
  TempDir root("seqd-maildir-test");
  MaildirWriter writer(root.path());
  const std::string alice = root.path() + "/alice@acme.test";
  // Delivered before: one a reader moved to cur/, one still in new/.
  REQUIRE(writer.deliver("alice@acme.test", "<read@acme.test>", "Subject: read\n\n").isOk());
  REQUIRE(writer.deliver("alice@acme.test", "<unread@acme.test>", "Subject: unread\n\n").isOk());
  const std::string read = MaildirWriter::fileNameFor("<read@acme.test>");
  fs::rename(alice + "/new/" + read, alice + "/cur/" + read + ":2,S");

  MaildirBatch batch(writer);
  const std::vector<std::pair<std::string, std::string>> messages = {
      {"alice@acme.test", "<read@acme.test>"}, {"alice@acme.test", "<unread@acme.test>"},
      {"alice@acme.test", "<a1@acme.test>"},   {"alice@acme.test", "<a2@acme.test>"},
      {"bob@acme.test", "<b1@acme.test>"},     {"../escape", "<x@acme.test>"}};
  for (const auto& [mailbox, message_id] : messages) batch.expect(mailbox, message_id);
  batch.prepare();
  for (const auto& [mailbox, message_id] : messages) {
    Status status = batch.deliver(mailbox, message_id, "Subject: again " + message_id + "\n\n");
    CHECK(status.isOk() == (mailbox != "../escape"));
  }
  batch.sync();
  CHECK(batch.synced("alice@acme.test").isOk());
  CHECK(batch.synced("bob@acme.test").isOk());

  const std::string unread = MaildirWriter::fileNameFor("<unread@acme.test>");
  CHECK(readFile(alice + "/new/" + unread) == "Subject: unread\n\n");  // not replaced
  CHECK_FALSE(fs::exists(alice + "/new/" + read));                     // not again
  CHECK(namesIn(alice + "/new").size() == 3);                          // unread, a1, a2
  CHECK(readFile(alice + "/new/" + MaildirWriter::fileNameFor("<a2@acme.test>")) ==
        "Subject: again <a2@acme.test>\n\n");
  CHECK(namesIn(root.path() + "/bob@acme.test/new") ==
        std::vector<std::string>{MaildirWriter::fileNameFor("<b1@acme.test>")});
  CHECK(namesIn(alice + "/tmp").empty());
  CHECK_FALSE(fs::exists(root.path() + "/../escape"));
}

TEST_CASE("addresses that are not a plain folder name are refused") {
  TempDir root("seqd-maildir-test");
  MaildirWriter writer(root.path() + "/outbox");
  for (std::string_view address : {"../escape", "a/b@acme.test", ".hidden@acme.test", "", ".."}) {
    Status status = writer.deliver(address, kMessageId, kMessage);
    CHECK(status.code() == StatusCode::kInvalidArgument);
  }
  CHECK(writer.deliver("alice@acme.test", "", kMessage).code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(fs::exists(root.path() + "/outbox"));
  CHECK_FALSE(fs::exists(root.path() + "/escape"));
}

TEST_CASE("file system failures are IOErrors naming the path") {
  TempDir root("seqd-maildir-test");
  std::string blocker = root.path() + "/not-a-directory";
  std::ofstream(blocker) << "x";
  MaildirWriter writer(blocker + "/outbox");
  Status status = writer.deliver("alice@acme.test", kMessageId, kMessage);
  CHECK(status.code() == StatusCode::kIOError);
  CHECK(status.message().find(blocker) != std::string::npos);
  CHECK(status.message().find("Not a directory") != std::string::npos);
}

TEST_CASE("threads delivering different messages each land once") {
  TempDir root("seqd-maildir-test");
  MaildirWriter writer(root.path());
  constexpr int kThreads = 4;
  constexpr int kMessagesPerThread = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&writer, &failures, t] {
      for (int i = 0; i < kMessagesPerThread; ++i) {
        std::string id = "<m" + std::to_string(t) + "." + std::to_string(i) + "@acme.test>";
        if (!writer.deliver("bob@acme.test", id, "body " + id + "\n").isOk()) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int failure_count : failures) CHECK(failure_count == 0);
  std::string mailbox = root.path() + "/bob@acme.test";
  CHECK(namesIn(mailbox + "/new").size() == kThreads * kMessagesPerThread);
  CHECK(namesIn(mailbox + "/tmp").empty());
  std::string id = "<m2.7@acme.test>";
  CHECK(readFile(mailbox + "/new/" + MaildirWriter::fileNameFor(id)) == "body " + id + "\n");
}
