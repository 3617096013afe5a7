// Proves that requests are checked where they enter, before the engine runs: a value over a
// store limit fails its own request (or its own CSV row) with a message naming the contact,
// the field and the limit, and what the dispatcher lets through the real LMDB store can hold;
// and that SPEC §3 rule 11 holds for contacts, adds and events: a refused command changes
// nothing, a refused `add --csv` and any `add --dry-run` store no contact.
#include "io/command_dispatch.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "io/request_checks.hpp"
#include "io/store.hpp"
#include "temp_dir.hpp"

using namespace seqd;
namespace json = boost::json;

namespace {

using seqd::testing::TempDir;

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kAlice{"alice", false};
const Caller kBob{"bob", false};
const Caller kRoot{"root", true};

EngineSettings settings() {
  EngineSettings settings;
  for (const char* id : {"s", "t"}) {
    Sequence sequence;
    sequence.id = id;
    sequence.owner = std::string(id) == "s" ? "alice" : "bob";
    sequence.mailboxes = {"a@acme.test"};
    sequence.rules.finish_on = {"reply", "meeting_booked", "unsubscribe"};
    sequence.rules.block_stages = {"disqualified"};
    Step step;
    step.id = "hello";
    step.wait_ms = kDayMs;
    step.subject = "Hello";
    step.body = "Hi {{first_name|there}}";
    sequence.steps.push_back(step);
    settings.sequences[id] = sequence;
  }
  Mailbox mailbox;
  mailbox.address = "a@acme.test";
  mailbox.name = "Sender";
  mailbox.daily_limit = 1000;
  mailbox.hourly_limit = 1000;
  settings.mailboxes.push_back(mailbox);
  return settings;
}

json::object row(std::int64_t line, json::object fields) {
  return json::object{{"line", line}, {"fields", std::move(fields)}};
}

struct Fixture {
  TempDir dir{"seqd-dispatch"};
  std::unique_ptr<Store> store;
  Engine engine{settings(), kStart};

  Fixture() {
    Result<std::unique_ptr<Store>> opened = openLmdbStore(dir.path());
    REQUIRE(opened.isOk());
    store = std::move(opened.value());
    DispatchReply imported =
        call("import",
             json::object{{"rows", json::array{row(2, {{"email", "x@x.test"}, {"owner", "alice"}}),
                                               row(3, {{"email", "y@x.test"}})}}},
             kAlice);
    REQUIRE(imported.ok);
    REQUIRE(
        call("add", json::object{{"sequence", "s"}, {"contacts", json::array{"x@x.test"}}}, kAlice)
            .ok);
  }

  // Dispatches one request and commits what it changed to the real store, which must take it.
  DispatchReply call(const std::string& cmd, json::object args, const Caller& caller) {
    DispatchReply reply = dispatchCommand(engine, cmd, args, caller, kStart);
    Status committed = store->commit(engine.takeBatch());
    REQUIRE_MESSAGE(committed.isOk(), committed.message());
    return reply;
  }

  // The contact as `contact show` prints it.
  std::string shown(const std::string& key) {
    DispatchReply reply =
        dispatchCommand(engine, "contact_show", json::object{{"contact", key}}, kRoot, kStart);
    return reply.ok ? json::serialize(reply.result) : "unknown: " + reply.error_message;
  }

  std::string status() {
    return json::serialize(
        dispatchCommand(engine, "status", json::object{{"sequence", "s"}}, kRoot, kStart).result);
  }
};

json::object manyFields(std::size_t count) {
  json::object fields;
  for (std::size_t i = 0; i < count; ++i) fields["custom_" + std::to_string(i)] = "v";
  return fields;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("an import row whose id is over the key limit is a row error; the others go in") {
  Fixture f;
  std::string long_id(kContactKeyBytesMax + 1, 'k');
  DispatchReply reply =
      f.call("import",
             json::object{{"rows", json::array{row(2, {{"email", "a@x.test"}}),
                                               row(3, {{"id", long_id}, {"email", "b@x.test"}}),
                                               row(4, {{"email", "c@x.test"}})}}},
             kAlice);
  REQUIRE(reply.ok);
  const json::object& result = reply.result.as_object();
  CHECK(result.at("imported").to_number<std::int64_t>() == 2);
  const json::array& errors = result.at("errors").as_array();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("line").to_number<std::int64_t>() == 3);
  std::string reason(errors[0].at("reason").as_string());
  CHECK(contains(reason, "512 bytes; at most 511"));
  CHECK(contains(f.shown("c@x.test"), "c@x.test"));
}

TEST_CASE("import rows over the field limits are row errors naming the contact and field") {
  Fixture f;
  std::string long_value(kFieldValueBytesMax + 1, 'v');
  std::string long_name(kFieldNameBytesMax + 1, 'n');
  DispatchReply reply = f.call(
      "import",
      json::object{{"rows", json::array{row(2, {{"email", "a@x.test"}, {"notes", long_value}}),
                                        row(3, {{"email", "b@x.test"}, {long_name, "v"}}),
                                        row(4, {{"email", "c@x.test"}, {"key", "other"}})}}},
      kAlice);
  REQUIRE(reply.ok);
  const json::array& errors = reply.result.at("errors").as_array();
  REQUIRE(errors.size() == 3);
  CHECK(contains(std::string(errors[0].at("reason").as_string()),
                 "contact 'a@x.test': field 'notes' is 65537 bytes; at most 65536"));
  CHECK(contains(std::string(errors[1].at("reason").as_string()), "at most 256"));
  CHECK(contains(std::string(errors[2].at("reason").as_string()), "field 'key' cannot be set"));
  CHECK(reply.result.at("imported").to_number<std::int64_t>() == 0);
}

TEST_CASE("contact set with over 4096 custom fields is refused whole, naming the limit") {
  Fixture f;
  std::string before = f.shown("x@x.test");
  DispatchReply reply =
      f.call("contact_set",
             json::object{{"contact", "x@x.test"},
                          {"rows", json::array{row(0, manyFields(kContactCustomFieldsMax + 1))}}},
             kAlice);
  CHECK_FALSE(reply.ok);
  CHECK(reply.error_code == "bad_request");
  CHECK(contains(reply.error_message, "contact 'x@x.test': 4097 custom fields; at most 4096"));
  CHECK(f.shown("x@x.test") == before);
}

TEST_CASE("custom fields are counted on the contact as stored, across requests and rows") {
  Fixture f;
  REQUIRE(f.call("contact_set",
                 json::object{{"contact", "x@x.test"},
                              {"rows", json::array{row(0, manyFields(kContactCustomFieldsMax))}}},
                 kAlice)
              .ok);
  DispatchReply reply = f.call(
      "import",
      json::object{{"rows", json::array{row(2, {{"email", "x@x.test"}, {"one_more", "v"}})}}},
      kAlice);
  REQUIRE(reply.ok);
  CHECK(reply.result.at("errors").as_array().size() == 1);
  CHECK(reply.result.at("updated").to_number<std::int64_t>() == 0);
}

TEST_CASE("a send-from set over the mailbox limit is refused before anything changes") {
  Fixture f;
  json::array mailboxes;
  for (std::size_t i = 0; i <= kSendFromMailboxesMax; ++i) mailboxes.push_back("a@acme.test");
  std::string before = f.status();
  DispatchReply set = f.call(
      "set_mailbox",
      json::object{
          {"sequence", "s"}, {"contacts", json::array{"x@x.test"}}, {"mailboxes", mailboxes}},
      kAlice);
  CHECK(set.error_code == "bad_request");
  CHECK(contains(set.error_message, "101 mailboxes in a send-from set; at most 100"));
  DispatchReply add = f.call("add",
                             json::object{{"sequence", "s"},
                                          {"rows", json::array{row(2, {{"email", "new@x.test"}})}},
                                          {"mailboxes", mailboxes}},
                             kAlice);
  CHECK(add.error_code == "bad_request");
  CHECK(f.status() == before);
  CHECK(contains(f.shown("new@x.test"), "unknown"));
}

TEST_CASE("free text over its limit is refused: finish --reason, event stage, contact names") {
  Fixture f;
  DispatchReply finish =
      f.call("finish",
             json::object{{"sequence", "s"},
                          {"contacts", json::array{"x@x.test"}},
                          {"reason", std::string(kFinishReasonBytesMax + 1, 'r')}},
             kAlice);
  CHECK(finish.error_code == "bad_request");
  CHECK(contains(finish.error_message, "--reason is 1025 bytes; at most 1024"));
  DispatchReply stage = f.call("event",
                               json::object{{"kind", "stage"},
                                            {"contact", "x@x.test"},
                                            {"stage", std::string(kFieldValueBytesMax + 1, 's')}},
                               kAlice);
  CHECK(stage.error_code == "bad_request");
  DispatchReply pause =
      f.call("pause",
             json::object{{"sequence", "s"},
                          {"contacts", json::array{std::string(kContactKeyBytesMax + 1, 'c')}}},
             kAlice);
  CHECK(pause.error_code == "bad_request");
  DispatchReply unknown =
      f.call("pause",
             json::object{{"sequence", std::string(kSequenceIdBytesMax + 1, 's')},
                          {"contacts", json::array{"x@x.test"}}},
             kAlice);
  CHECK(unknown.error_code == "not_found");
  CHECK(!contains(f.status(), R"("status":"paused")"));
}

TEST_CASE("contact set of another user's contact is permission denied and changes nothing") {
  Fixture f;
  std::string before = f.shown("x@x.test");
  DispatchReply reply =
      f.call("contact_set",
             json::object{{"contact", "x@x.test"},
                          {"rows", json::array{row(0, {{"email", "bob@evil.test"}})}}},
             kBob);
  CHECK(reply.error_code == "permission_denied");
  CHECK(reply.error_message == "permission denied: contact 'x@x.test' is owned by 'alice'");
  CHECK(f.shown("x@x.test") == before);
  CHECK(f.call("contact_set",
               json::object{{"contact", "x@x.test"},
                            {"rows", json::array{row(0, {{"title", "VP"}})}}},
               kRoot)
            .ok);
  // No owner: anyone who can connect may edit it.
  CHECK(f.call("contact_set",
               json::object{{"contact", "y@x.test"},
                            {"rows", json::array{row(0, {{"title", "CTO"}})}}},
               kBob)
            .ok);
}

TEST_CASE("import over another user's contact is a row error; new contacts go in") {
  Fixture f;
  std::string before = f.shown("x@x.test");
  DispatchReply reply = f.call(
      "import",
      json::object{{"rows", json::array{row(2, {{"email", "X@x.test"}, {"first_name", "Evil"}}),
                                        row(3, {{"email", "fresh@x.test"}, {"owner", "alice"}}),
                                        row(4, {{"email", "fresh@x.test"}, {"title", "CEO"}})}}},
      kBob);
  REQUIRE(reply.ok);
  const json::array& errors = reply.result.at("errors").as_array();
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].at("reason").as_string() ==
        "permission denied: contact 'x@x.test' is owned by 'alice'");
  // Row 3 made fresh@x.test alice's, so row 4 may not change it.
  CHECK(errors[1].at("line").to_number<std::int64_t>() == 4);
  CHECK(reply.result.at("imported").to_number<std::int64_t>() == 1);
  CHECK(f.shown("x@x.test") == before);
}

TEST_CASE("a refused add --csv stores no contact") {
  Fixture f;
  DispatchReply reply = f.call(
      "add",
      json::object{{"sequence", "s"}, {"rows", json::array{row(2, {{"email", "n@x.test"}})}}},
      kBob);
  CHECK(reply.error_code == "permission_denied");
  CHECK(contains(f.shown("n@x.test"), "unknown"));
  DispatchReply unknown_mailbox =
      f.call("add",
             json::object{{"sequence", "s"},
                          {"rows", json::array{row(2, {{"email", "n@x.test"}})}},
                          {"mailboxes", json::array{"nobody@acme.test"}}},
             kAlice);
  CHECK(unknown_mailbox.error_code == "not_found");
  CHECK(contains(f.shown("n@x.test"), "unknown"));
}

TEST_CASE("add --csv --dry-run stores nothing and previews the rows as they would be stored") {
  Fixture f;
  std::string before = f.status();
  DispatchReply reply = f.call(
      "add",
      json::object{{"sequence", "s"},
                   {"dry_run", true},
                   {"rows", json::array{row(2, {{"email", "n@x.test"}}),
                                        row(3, {{"email", "y@x.test"}, {"stage", "disqualified"}}),
                                        row(4, {{"email", "x@x.test"}, {"owner", "carol"}})}}},
      kAlice);
  REQUIRE(reply.ok);
  CHECK(json::serialize(reply.result.at("added")) == R"(["n@x.test"])");
  const json::array& skipped = reply.result.at("skipped").as_array();
  REQUIRE(skipped.size() == 2);
  CHECK(skipped[0].at("contact") == "y@x.test");  // the stage is the row's, not yet stored
  CHECK(json::serialize(skipped[0].at("warnings")) == R"(["stage_blocked"])");
  CHECK(json::serialize(skipped[1].at("warnings")) == R"(["already_in_sequence"])");
  CHECK(reply.result.at("imported").to_number<std::int64_t>() == 1);
  CHECK(reply.result.at("updated").to_number<std::int64_t>() == 2);
  CHECK(contains(f.shown("n@x.test"), "unknown"));
  CHECK(!contains(f.shown("y@x.test"), "disqualified"));
  CHECK(f.status() == before);
}

TEST_CASE("an event is refused whole when the caller may not edit a sequence it changes") {
  Fixture f;
  REQUIRE(f.call("add",
                 json::object{
                     {"sequence", "t"}, {"contacts", json::array{"x@x.test"}}, {"force", true}},
                 kBob)
              .ok);
  std::string before = f.shown("x@x.test");
  for (const char* kind : {"reply", "unsubscribe", "bounce", "ooo"}) {
    DispatchReply reply =
        f.call("event", json::object{{"kind", kind}, {"contact", "x@x.test"}}, kBob);
    CHECK_MESSAGE(reply.error_code == "permission_denied", kind);
    CHECK(contains(reply.error_message, "sequence 's'"));
  }
  CHECK(f.shown("x@x.test") == before);  // not even email_opt_out
  CHECK(contains(f.status(), R"("status":"scheduled")"));
  // Only bob's sequence: allowed.
  DispatchReply reply = f.call(
      "event", json::object{{"kind", "reply"}, {"contact", "x@x.test"}, {"sequence", "t"}}, kBob);
  CHECK(reply.ok);
}

TEST_CASE("event stage needs the right to edit the contact too") {
  Fixture f;
  // bob owns no sequence x is in, and a stage no sequence blocks changes no sequence, but it
  // still edits alice's contact.
  DispatchReply reply = f.call(
      "event", json::object{{"kind", "stage"}, {"contact", "x@x.test"}, {"stage", "won"}}, kBob);
  CHECK(reply.error_code == "permission_denied");
  CHECK(f.call("event", json::object{{"kind", "stage"}, {"contact", "x@x.test"}, {"stage", "won"}},
               kAlice)
            .ok);
  CHECK(contains(f.shown("x@x.test"), R"("stage":"won")"));
}

TEST_CASE("a row that leaves a stored contact as it is counts as updated and stores nothing") {
  Fixture f;
  const json::object same{{"email", "y@x.test"}};
  DispatchReply reply = dispatchCommand(
      f.engine, "add", json::object{{"sequence", "s"}, {"rows", json::array{row(2, same)}}}, kAlice,
      kStart);
  REQUIRE(reply.ok);
  CHECK(json::serialize(reply.result.at("added")) == R"(["y@x.test"])");
  CHECK(reply.result.at("updated").to_number<std::int64_t>() == 1);
  CHECK(reply.result.at("imported").to_number<std::int64_t>() == 0);
  CHECK(f.engine.takeBatch().contacts.empty());

  // A row changes the contact and a later one puts it back: the last one is stored.
  std::string before = f.shown("y@x.test");
  reply = dispatchCommand(
      f.engine, "import",
      json::object{{"rows", json::array{row(2, {{"email", "y@x.test"}, {"title", "CEO"}}),
                                        row(3, {{"email", "y@x.test"}, {"title", ""}})}}},
      kAlice, kStart);
  REQUIRE(reply.ok);
  CHECK(reply.result.at("updated").to_number<std::int64_t>() == 2);
  WriteBatch batch = f.engine.takeBatch();
  REQUIRE(batch.contacts.size() == 1);
  CHECK(batch.contacts[0]->title().empty());
  CHECK(f.shown("y@x.test") == before);
}

namespace {

// `add SEQ --csv` of two rows, dispatched without a commit (the batch shows what it stores);
// the reply must be ok with exactly one row error, on line 2, whose reason it returns.
std::string addTwoRowsWithOneError(Fixture& f, const std::string& sequence, json::object second,
                                   json::object third, const Caller& caller, DispatchReply& reply) {
  reply = dispatchCommand(
      f.engine, "add",
      json::object{{"sequence", sequence},
                   {"rows", json::array{row(2, std::move(second)), row(3, std::move(third))}}},
      caller, kStart);
  REQUIRE(reply.ok);
  const json::array& errors = reply.result.at("errors").as_array();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("line").to_number<std::int64_t>() == 2);
  return std::string(errors[0].at("reason").as_string());
}

}  // namespace

TEST_CASE("add --csv: a row that leaves another user's contact as it is is still refused") {
  Fixture f;
  // bob owns t; x@x.test is alice's. The row changes nothing, yet bob may not edit it: a row
  // error naming the contact, and x is not added. y (no owner) unchanged is added.
  DispatchReply reply;
  CHECK(addTwoRowsWithOneError(f, "t", {{"email", "x@x.test"}, {"owner", "alice"}},
                               {{"email", "y@x.test"}}, kBob, reply) ==
        "permission denied: contact 'x@x.test' is owned by 'alice'");
  CHECK(json::serialize(reply.result.at("added")) == R"(["y@x.test"])");
  CHECK(reply.result.at("updated").to_number<std::int64_t>() == 1);
  CHECK(f.engine.takeBatch().contacts.empty());
}

TEST_CASE("add --csv: an unchanged row with a bad value or a new empty column is worked out") {
  Fixture f;
  // The same email but a score that is no number: the row's error, as for any row.
  DispatchReply reply;
  CHECK(contains(addTwoRowsWithOneError(f, "s", {{"email", "y@x.test"}, {"score", "lots"}},
                                        {{"email", "y@x.test"}, {"region", ""}}, kAlice, reply),
                 "score: 'lots'"));
  // An empty custom column the contact did not have is a change: it is stored.
  CHECK(reply.result.at("updated").to_number<std::int64_t>() == 1);
  CHECK(json::serialize(reply.result.at("added")) == R"(["y@x.test"])");
  WriteBatch batch = f.engine.takeBatch();
  REQUIRE(batch.contacts.size() == 1);
  CHECK(batch.contacts[0]->extra("region").has_value());
}
