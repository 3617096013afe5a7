// Proves the inbound-mail classifier gives every message of tests/data/inbox/ the kind, ids,
// status, recipient, return date and sender its manifest (expected.tsv) lists, keeps to its
// limits, and survives thousands of random mutations of that corpus.
#include "io/inbound_mail.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/time.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;
namespace fs = std::filesystem;

namespace {

fs::path inboxDir() { return fs::path(__FILE__).parent_path().parent_path() / "data" / "inbox"; }

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::vector<std::string> splitOn(const std::string& text, char separator) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(text);
  while (std::getline(in, field, separator)) fields.push_back(field);
  return fields;
}

// "2026-12-21" at 12:00 UTC.
TimeMs noonOf(const std::string& day) {
  Result<TimeMs> time = parseRfc3339(day + "T12:00:00Z");
  REQUIRE_MESSAGE(time.isOk(), "bad day " << day);
  return time.value();
}

std::string formatDate(const std::optional<LocalDate>& date) {
  if (!date) return "-";
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", date->year, date->month, date->day);
  return text;
}

std::string joined(const std::vector<std::string>& ids) {
  std::string text;
  for (const std::string& id : ids) text += (text.empty() ? "" : " ") + id;
  return text.empty() ? "-" : text;
}

std::string orDash(const std::string& value) { return value.empty() ? "-" : value; }

struct Expectation {
  std::string file, received, kind, ids, status, recipient, return_date, from;
};

std::vector<Expectation> readManifest() {
  std::vector<Expectation> expectations;
  std::istringstream lines(readFile(inboxDir() / "expected.tsv"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = splitOn(line, '\t');
    REQUIRE_MESSAGE(fields.size() == 8, "expected.tsv: 8 fields wanted in: " << line);
    expectations.push_back(
        {fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]});
  }
  return expectations;
}

InboundMail classifyFile(const std::string& name, const std::string& received_day) {
  return classifyInboundMail(readFile(inboxDir() / name), noonOf(received_day));
}

bool isReport(InboundMail::Kind kind) {
  return kind == InboundMail::Kind::kBounce || kind == InboundMail::Kind::kDelay;
}

// What holds for any classification, whatever the input.
void checkInvariants(const InboundMail& mail) {
  CHECK_FALSE(mail.why.empty());
  CHECK_MESSAGE(mail.why.rfind("not classified", 0) != 0, mail.why);  // an exception inside
  CHECK(mail.referenced_ids.size() <= kInboundMailReferencesMax);
  if (!isReport(mail.kind)) {
    CHECK(mail.original_ids.empty());
    CHECK(mail.status.empty());
    CHECK(mail.recipient.empty());
  }
  if (mail.kind != InboundMail::Kind::kAutoReply) CHECK_FALSE(mail.return_date.has_value());
  for (const std::string& id : mail.referenced_ids) {
    CHECK(id.size() >= 2);
    CHECK(id.front() == '<');
    CHECK(id.back() == '>');
  }
}

}  // namespace

TEST_CASE("every message of the corpus is classified as expected.tsv says") {
  initInboundMailParser();
  std::vector<Expectation> expectations = readManifest();
  REQUIRE(expectations.size() >= 30);
  for (const Expectation& expected : expectations) {
    INFO("file " << expected.file);
    InboundMail mail = classifyFile(expected.file, expected.received);
    INFO("why: " << mail.why);
    CHECK(inboundKindName(mail.kind) == expected.kind);
    CHECK(joined(isReport(mail.kind) ? mail.original_ids : mail.referenced_ids) == expected.ids);
    CHECK(orDash(mail.status) == expected.status);
    CHECK(orDash(mail.recipient) == expected.recipient);
    CHECK(formatDate(mail.return_date) == expected.return_date);
    CHECK(orDash(mail.from_address) == expected.from);
    checkInvariants(mail);
  }
}

TEST_CASE("every .eml file in the corpus folder has a line in expected.tsv, and back") {
  std::set<std::string> listed;
  for (const Expectation& expected : readManifest()) {
    CHECK_MESSAGE(listed.insert(expected.file).second, "listed twice: " << expected.file);
  }
  std::set<std::string> present;
  for (const fs::directory_entry& entry : fs::directory_iterator(inboxDir())) {
    if (entry.path().extension() == ".eml") present.insert(entry.path().filename().string());
  }
  for (const std::string& name : present) CHECK_MESSAGE(listed.count(name) == 1, name);
  for (const std::string& name : listed) CHECK_MESSAGE(present.count(name) == 1, name);
}

TEST_CASE("subjects are decoded to UTF-8 whatever their encoding") {
  initInboundMailParser();
  const std::map<std::string, std::string> subjects = {
      {"reply-quoted-printable.eml", "Re: Kurze Frage zu Hoolis Releaseprozess – Grüße"},
      {"reply-base64-utf8.eml", "Re: リリースプロセスについて"},
      {"reply-latin1-8bit.eml", "Re: Question rapide à propos de Duff"},
      {"ooo-fr.eml", "Réponse automatique : Question rapide"},
      {"ooo-pt-iso.eml", "Ausente do escritório"},
      {"unsubscribe-one-click-client.eml", "UNSUBSCRIBE"},
  };
  for (const auto& [file, subject] : subjects) {
    INFO("file " << file);
    CHECK(classifyFile(file, "2026-12-21").subject == subject);
  }
}

TEST_CASE("the message's own Message-ID and the reason are reported") {
  initInboundMailParser();
  InboundMail reply = classifyFile("reply-plain.eml", "2026-12-21");
  CHECK(reply.message_id == "<CAF7x2q9Lm3=Yz@mail.globex.example>");
  CHECK(reply.why == "In-Reply-To/References");
  InboundMail bounce = classifyFile("dsn-postfix.eml", "2026-12-21");
  CHECK(bounce.why == "DSN Action: failed 5.1.1");
  InboundMail auto_reply = classifyFile("ooo-en-rfc3834.eml", "2026-12-21");
  CHECK(auto_reply.why == "Auto-Submitted: auto-replied");
  CHECK(classifyFile("reply-no-from.eml", "2026-12-21").message_id.empty());
}

TEST_CASE("the arrival day decides the year of a return date written without one") {
  initInboundMailParser();
  // "back on January 5": on 2027-01-04 that is the next day, on 2027-01-06 a year later.
  CHECK(formatDate(classifyFile("ooo-en-rfc3834.eml", "2027-01-04").return_date) == "2027-01-05");
  CHECK(formatDate(classifyFile("ooo-en-rfc3834.eml", "2027-01-05").return_date) == "2027-01-05");
  CHECK(formatDate(classifyFile("ooo-en-rfc3834.eml", "2027-01-06").return_date) == "2028-01-05");
  // "until 1/5/2027", written with its year: after that day it is no return date at all.
  CHECK_FALSE(classifyFile("ooo-en-outlook-slash.eml", "2027-01-06").return_date.has_value());
}

TEST_CASE("kind names") {
  CHECK(std::string(inboundKindName(InboundMail::Kind::kReply)) == "reply");
  CHECK(std::string(inboundKindName(InboundMail::Kind::kAutoReply)) == "auto_reply");
  CHECK(std::string(inboundKindName(InboundMail::Kind::kBounce)) == "bounce");
  CHECK(std::string(inboundKindName(InboundMail::Kind::kDelay)) == "delay");
  CHECK(std::string(inboundKindName(InboundMail::Kind::kUnsubscribe)) == "unsubscribe");
  CHECK(std::string(inboundKindName(InboundMail::Kind::kOther)) == "other");
}

TEST_CASE("limits: size, nesting, references, NULs, nothing at all") {
  initInboundMailParser();
  const TimeMs received = noonOf("2026-12-21");
  SUBCASE("over kInboundMailBytesMax is not parsed") {
    std::string big = "From: a@b.example\n\n" + std::string(kInboundMailBytesMax, 'x');
    InboundMail mail = classifyInboundMail(big, received);
    CHECK(mail.kind == InboundMail::Kind::kOther);
    CHECK(mail.why == "too big");
  }
  SUBCASE("empty input and a lone line break") {
    CHECK(classifyInboundMail("", received).kind == InboundMail::Kind::kOther);
    CHECK(classifyInboundMail("\n", received).kind == InboundMail::Kind::kOther);
    checkInvariants(classifyInboundMail("", received));
  }
  SUBCASE("thousands of nested multiparts: classified from the headers alone") {
    std::string message =
        "From: Deep <deep@nest.example>\nSubject: Out of office\n"
        "Content-Type: multipart/mixed; boundary=\"b0\"\n\n";
    for (int level = 0; level < 5000; ++level) {
      message += "--b" + std::to_string(level) + "\nContent-Type: multipart/mixed; boundary=\"b" +
                 std::to_string(level + 1) + "\"\n\n";
    }
    message += "I will be back on January 5.\n";
    InboundMail mail = classifyInboundMail(message, received);
    CHECK(mail.kind == InboundMail::Kind::kAutoReply);
    CHECK(mail.why.find("body not read") != std::string::npos);
    CHECK_FALSE(mail.return_date.has_value());
  }
  SUBCASE("a References header with many ids keeps In-Reply-To and the newest ones") {
    std::string message = "From: a@b.example\nIn-Reply-To: <parent@x.example>\nReferences:";
    for (int id = 0; id < 1000; ++id) message += " <id" + std::to_string(id) + "@x.example>";
    message += "\n\nhello\n";
    InboundMail mail = classifyInboundMail(message, received);
    REQUIRE(mail.referenced_ids.size() == kInboundMailReferencesMax);
    CHECK(mail.referenced_ids.front() == "<parent@x.example>");
    CHECK(mail.referenced_ids.back() == "<id999@x.example>");
    CHECK(mail.referenced_ids[1] ==
          "<id" + std::to_string(1000 - kInboundMailReferencesMax + 1) + "@x.example>");
  }
  SUBCASE("NULs inside headers and body") {
    std::string message = "From: a@b.example\nSubject: un";
    message += '\0';
    message += "subscribe\nIn-Reply-To: <x@y.example>\n\nbody";
    message += '\0';
    message += "more\n";
    InboundMail mail = classifyInboundMail(message, received);
    CHECK(mail.kind == InboundMail::Kind::kReply);
    CHECK(mail.subject == "un subscribe");
  }
  SUBCASE("a quarter-megabyte subject") {
    constexpr std::size_t kSubjectBytes = 256 * 1024;
    std::string message =
        "From: a@b.example\nSubject: " + std::string(kSubjectBytes, 'y') + "\n\nx\n";
    InboundMail mail = classifyInboundMail(message, received);
    CHECK(mail.kind == InboundMail::Kind::kReply);
    CHECK(mail.subject.size() == kSubjectBytes);
  }
}

TEST_CASE("unsubscribe and auto-reply decisions on single headers") {
  initInboundMailParser();
  const TimeMs received = noonOf("2026-12-21");
  auto kindOf = [&](const std::string& headers) {
    return classifyInboundMail("From: x@y.example\n" + headers + "\nhello\n", received).kind;
  };
  CHECK(kindOf("Subject: Re: unsubscribe\n") == InboundMail::Kind::kReply);
  CHECK(kindOf("Subject: unsubscribe me please\n") == InboundMail::Kind::kReply);
  CHECK(kindOf("Auto-Submitted: no\nSubject: Re: hi\n") == InboundMail::Kind::kReply);
  CHECK(kindOf("X-Auto-Response-Suppress: All\nSubject: RE: hi\n") == InboundMail::Kind::kReply);
  CHECK(kindOf("Auto-Submitted: auto-generated\n") == InboundMail::Kind::kAutoReply);
  CHECK(kindOf("Subject: RE : Re: Automatic Reply: hi\n") == InboundMail::Kind::kAutoReply);
  CHECK(kindOf("Subject: [EXT] Abwesenheitsnotiz: hi\n") == InboundMail::Kind::kAutoReply);
  CHECK(kindOf("Subject: REPONSE AUTOMATIQUE: hi\n") == InboundMail::Kind::kAutoReply);
  CHECK(kindOf("Subject: Re: a question about our out of office policy\n") ==
        InboundMail::Kind::kReply);
  CHECK(kindOf("Precedence: junk\n") == InboundMail::Kind::kOther);
  CHECK(kindOf("List-Id: <x.lists.example>\n") == InboundMail::Kind::kOther);
}

TEST_CASE("random mutations of the corpus never crash the classifier") {
  initInboundMailParser();
  const std::uint64_t seed = testSeed(20261221);
  std::mt19937_64 random(seed);

  std::vector<std::string> corpus;
  for (const fs::directory_entry& entry : fs::directory_iterator(inboxDir())) {
    if (entry.path().extension() == ".eml") corpus.push_back(readFile(entry.path()));
  }
  std::sort(corpus.begin(), corpus.end());  // directory order is not fixed; the replay must be
  REQUIRE_FALSE(corpus.empty());
  const std::vector<std::string> pieces = {"\n",
                                           "\r\n",
                                           "\n\n",
                                           "--",
                                           "boundary=",
                                           "\"",
                                           "Content-Type: multipart/mixed; boundary=\"m\"\n",
                                           "\n--m\n",
                                           "\n--m--\n",
                                           "Content-Type: message/rfc822\n\n",
                                           "Content-Type: message/delivery-status\n\n",
                                           "Content-Type: text/rfc822-headers\n\n",
                                           "Content-Transfer-Encoding: base64\n",
                                           "Content-Transfer-Encoding: quoted-printable\n",
                                           "=\n",
                                           "=C3",
                                           "=?utf-8?B?",
                                           "=?x?Q?",
                                           "?=",
                                           std::string(1, '\0'),
                                           "\xff",
                                           "\xc3",
                                           "<",
                                           ">",
                                           "Message-ID: <",
                                           "Action: failed\n",
                                           "Status: 5.1.1\n",
                                           "Action: delayed\n",
                                           "until 31.12.",
                                           "bis 5. ",
                                           "&#x",
                                           "<style>",
                                           "@",
                                           "Auto-Submitted: auto-replied\n",
                                           "From: MAILER-DAEMON@x\n",
                                           "References: <a@b> <c@d>\n"};
  auto below = [&](std::size_t bound) { return bound == 0 ? 0 : random() % bound; };

  constexpr int kMutationsMax = 3000;
  constexpr int kEditsMax = 8;
  const TimeMs received = noonOf("2026-12-21");
  const auto start = std::chrono::steady_clock::now();
  for (int mutation = 0; mutation < kMutationsMax; ++mutation) {
    std::string message = corpus[below(corpus.size())];
    int edits = 1 + static_cast<int>(below(kEditsMax));
    for (int edit = 0; edit < edits; ++edit) {
      std::size_t at = below(message.size() + 1);
      switch (below(6)) {
        case 0:
          if (at < message.size()) message[at] = static_cast<char>(below(256));
          break;
        case 1:
          message.insert(at, pieces[below(pieces.size())]);
          break;
        case 2:
          message.erase(at, below(64));
          break;
        case 3:
          message.insert(below(message.size() + 1), message.substr(at, below(256)));
          break;
        case 4:
          message.resize(at);
          break;
        default: {
          const std::string& other = corpus[below(corpus.size())];
          message = message.substr(0, at) + other.substr(below(other.size() + 1));
          break;
        }
      }
    }
    INFO("seed " << seed << " mutation " << mutation);
    checkInvariants(classifyInboundMail(message, received));
  }
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
  MESSAGE(kMutationsMax << " mutations in " << elapsed_ms << " ms");
}

TEST_CASE("an internationalized DSN (RFC 6533): global delivery status and global headers") {
  initInboundMailParser();
  const std::string message =
      "From: MAILER-DAEMON@mx.example\n"
      "Subject: Undelivered Mail Returned to Sender\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=global-delivery-status; boundary=\"g\"\n"
      "\n"
      "--g\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "Zustellung fehlgeschlagen.\n"
      "--g\n"
      "Content-Type: message/global-delivery-status\n"
      "\n"
      "Reporting-MTA: dns; mx.example\n"
      "\n"
      "Final-Recipient: utf-8; Jürgen@Bücher.example\n"
      "Action: failed\n"
      "Status: 5.1.1\n"
      "--g\n"
      "Content-Type: message/global-headers\n"
      "\n"
      "From: alice@acme.test\n"
      "Message-ID: <q4-vp-eng.intro.0123456789abcdef@acme.test>\n"
      "--g--\n";
  InboundMail mail = classifyInboundMail(message, noonOf("2026-12-21"));
  CHECK(mail.kind == InboundMail::Kind::kBounce);
  CHECK(mail.status == "5.1.1");
  CHECK(mail.recipient == "jürgen@bücher.example");
  CHECK(joined(mail.original_ids) == "<q4-vp-eng.intro.0123456789abcdef@acme.test>");
}

TEST_CASE("threads classifying at once get what one thread gets") {
  initInboundMailParser();
  constexpr int kThreads = 4;
  constexpr int kRounds = 2;
  std::vector<Expectation> expectations = readManifest();
  std::vector<std::string> messages;
  std::vector<TimeMs> received;
  std::vector<std::string> alone;
  for (const Expectation& expected : expectations) {
    messages.push_back(readFile(inboxDir() / expected.file));
    received.push_back(noonOf(expected.received));
    InboundMail mail = classifyInboundMail(messages.back(), received.back());
    alone.push_back(std::string(inboundKindName(mail.kind)) + " " + joined(mail.original_ids) +
                    " " + formatDate(mail.return_date) + " " + mail.subject);
  }
  // Worker threads only classify and record; the checks run on this thread afterwards.
  std::vector<std::vector<std::string>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int round = 0; round < kRounds; ++round) {
        for (std::size_t index = 0; index < messages.size(); ++index) {
          InboundMail mail = classifyInboundMail(messages[index], received[index]);
          seen[thread].push_back(std::string(inboundKindName(mail.kind)) + " " +
                                 joined(mail.original_ids) + " " + formatDate(mail.return_date) +
                                 " " + mail.subject);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int thread = 0; thread < kThreads; ++thread) {
    REQUIRE(seen[thread].size() == alone.size() * kRounds);
    for (std::size_t index = 0; index < seen[thread].size(); ++index) {
      CHECK(seen[thread][index] == alone[index % alone.size()]);
    }
  }
}
