// Proves previewAdd (add --dry-run over rows not stored yet) answers as add() with dry_run
// does, for contacts in every state add() tells apart, and that it reads contacts from the
// pending rows before the stored ones while changing nothing.
#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "engine/fixtures.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

const Caller kAlice{"alice", false};
const Caller kRoot{"root", true};

EngineSettings settings() {
  EngineSettings settings;
  for (const char* id : {"s", "other"}) {
    Sequence sequence = sequenceOf(id, "alice", {"a@acme.test"});
    sequence.rules.block_stages = {"disqualified"};
    sequence.steps.push_back(emailStep("hello", "Hello", "Hi"));
    settings.sequences[id] = sequence;
  }
  settings.mailboxes.push_back(mailboxOf("a@acme.test", "", 1000, 1000));
  return settings;
}

ContactRow row(std::map<std::string, std::string> fields) {
  ContactRow contact_row;
  contact_row.fields = std::move(fields);
  return contact_row;
}

std::string describe(const AddResult& result) {
  std::string text = "added:";
  for (const std::string& key : result.added) text += " " + key;
  text += " skipped:";
  for (const SkippedContact& skip : result.skipped) {
    text += " " + skip.contact + "(";
    for (const std::string& warning : skip.warnings) text += warning + ",";
    text += ")";
  }
  return text;
}

// An engine holding a contact in each state add() distinguishes.
Engine engineWithEveryCase() {
  Engine engine(settings(), kStart);
  engine.upsertContacts({row({{"email", "plain@x.test"}}),
                         row({{"email", "unverified@x.test"}, {"email_status", "unverified"}}),
                         row({{"id", "no-email"}}),
                         row({{"email", "bobs@x.test"}, {"owner", "bob"}}),
                         row({{"email", "blocked@x.test"}, {"stage", "disqualified"}}),
                         row({{"email", "optout@x.test"}, {"email_opt_out", "yes"}}),
                         row({{"email", "elsewhere@x.test"}}), row({{"email", "enrolled@x.test"}}),
                         row({{"email", "done@x.test"}}), row({{"email", "removed@x.test"}})});
  REQUIRE(engine.activate("s", kRoot, kStart).isOk());
  REQUIRE(engine.add("other", {"elsewhere@x.test"}, {}, kRoot, kStart).isOk());
  REQUIRE(engine.add("s", {"done@x.test"}, {}, kRoot, kStart).isOk());
  engine.advanceTo(kStart + kMinuteMs);  // done@ runs its only step and finishes
  REQUIRE(engine.add("s", {"enrolled@x.test", "removed@x.test"}, {}, kRoot, kStart).isOk());
  OperatorRequest remove;
  remove.action = OperatorAction::kRemove;
  remove.contacts = {"removed@x.test"};
  REQUIRE(engine.operate("s", remove, kRoot, kStart).isOk());
  engine.takeBatch();
  return engine;
}

const std::vector<std::string> kEveryKey = {
    "plain@x.test",   "unverified@x.test", "no-email",         "bobs@x.test",
    "blocked@x.test", "optout@x.test",     "elsewhere@x.test", "enrolled@x.test",
    "done@x.test",    "removed@x.test",    "missing@x.test",   "PLAIN@x.test"};

}  // namespace

TEST_CASE("previewAdd answers as add --dry-run for every case add tells apart") {
  Engine engine = engineWithEveryCase();
  for (bool force : {false, true}) {
    for (bool skip_validation : {false, true}) {
      AddOptions options;
      options.force = force;
      options.skip_validation = skip_validation;
      options.dry_run = true;
      Result<AddResult> preview = engine.previewAdd("s", kEveryKey, {}, options, kAlice, kStart);
      Result<AddResult> dry_run = engine.add("s", kEveryKey, options, kAlice, kStart);
      REQUIRE(preview.isOk());
      REQUIRE(dry_run.isOk());
      CHECK(describe(preview.value()) == describe(dry_run.value()));
    }
  }
  CHECK(engine.pendingBatch().empty());
  AddOptions options;
  CHECK(engine.previewAdd("s", kEveryKey, {}, options, Caller{"bob", false}, kStart)
            .status()
            .code() == StatusCode::kPermissionDenied);
  options.mailboxes = {"nobody@acme.test"};
  CHECK(engine.previewAdd("s", kEveryKey, {}, options, kAlice, kStart).status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("previewAdd takes pending contacts over stored ones and stores nothing") {
  Engine engine = engineWithEveryCase();
  std::unordered_map<std::string, Contact> pending;
  Contact fixed = engine.findContact("blocked@x.test")->unpack();
  fixed.stage = "qualified";
  pending[fixed.key] = fixed;
  Contact fresh;
  fresh.key = "fresh@x.test";
  fresh.email = "fresh@x.test";
  fresh.email_status = "unverified";
  pending[fresh.key] = fresh;
  Result<AddResult> preview =
      engine.previewAdd("s", {"blocked@x.test", "fresh@x.test"}, pending, {}, kAlice, kStart);
  REQUIRE(preview.isOk());
  CHECK(describe(preview.value()) ==
        "added: blocked@x.test skipped: fresh@x.test(unverified_email,)");
  CHECK(engine.findContact("fresh@x.test") == nullptr);
  CHECK(engine.findContact("blocked@x.test")->stage() == "disqualified");
  CHECK(engine.pendingBatch().empty());
}
