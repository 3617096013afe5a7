// Proves a contact's enrollments are seen in the order they were made (the list linked
// through enrollment ids), live and after a restart: the sequences an event changes
// (sequencesChangedBy, what applyEvent walks) come in that order, not by name, and a
// contact's own sequences stay apart from another contact's, for random orders of adds (the
// seed is printed). The enrollment of a (sequence, contact) pair is found through the same
// list: each pair finds its own, and a pair never added finds none.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/fake_store.hpp"
#include "engine/fixtures.hpp"

using namespace seqd;
using namespace seqd::testing;

namespace {

const std::vector<std::string> kSequences = {"zeta", "alpha", "mid", "beta", "omega"};

EngineSettings settings() {
  EngineSettings settings;
  for (const std::string& id : kSequences) {
    Sequence sequence = sequenceOf(id, "root", {"a@acme.test"});
    // Nothing runs in the test: every enrollment stays live.
    sequence.steps.push_back(emailStep("hello", "Hello", "Hi", 30 * kDayMs));
    settings.sequences[id] = sequence;
  }
  settings.mailboxes.push_back(mailboxOf("a@acme.test"));
  return settings;
}

ContactRow row(const std::string& email) {
  ContactRow contact_row;
  contact_row.fields = {{"email", email}};
  return contact_row;
}

// Adds key to the sequence even when it is in others (add's review skips it otherwise).
void add(Engine& engine, const std::string& sequence_id, const std::string& key) {
  AddOptions options;
  options.force = true;
  Result<AddResult> result = engine.add(sequence_id, {key}, options, kAdmin, kStart);
  REQUIRE(result.isOk());
  REQUIRE(result.value().added.size() == 1);
}

std::string joined(const std::vector<std::string>& ids) {
  std::string text;
  for (const std::string& id : ids) text += (text.empty() ? "" : " ") + id;
  return text;
}

// The sequences a bounce of key changes: each live enrollment's, in the contact's order.
std::string sequencesOf(const Engine& engine, const std::string& key) {
  ContactEvent bounce;
  bounce.kind = EventKind::kBounce;
  bounce.contact = key;
  return joined(engine.sequencesChangedBy(bounce));
}

}  // namespace

TEST_CASE("a contact's sequences are walked in the order it was added to them") {
  testing::FakeStore store;
  Engine engine(settings(), kStart);
  engine.upsertContacts({row("c@x.test"), row("d@x.test")});
  add(engine, "zeta", "c@x.test");
  add(engine, "alpha", "d@x.test");
  add(engine, "alpha", "c@x.test");
  add(engine, "beta", "c@x.test");
  const std::string expected = "zeta alpha beta";
  CHECK(sequencesOf(engine, "c@x.test") == expected);
  CHECK(sequencesOf(engine, "d@x.test") == "alpha");
  store.commit(engine.takeBatch());

  Engine restarted(settings(), kStart);
  REQUIRE(restarted.restore(store.state, kStart).isOk());
  CHECK(sequencesOf(restarted, "c@x.test") == expected);
  CHECK(sequencesOf(restarted, "d@x.test") == "alpha");
  // An enrollment made after the restart joins the end of the restored list.
  add(restarted, "omega", "c@x.test");
  CHECK(sequencesOf(restarted, "c@x.test") == "zeta alpha beta omega");
}

TEST_CASE("random adds: each contact's sequences in the order of its adds") {
  const unsigned seed = std::random_device()();
  INFO("seed " << seed);
  MESSAGE("contact enrollments seed " << seed);
  std::mt19937 random(seed);
  constexpr int kContacts = 40;
  std::vector<std::string> keys;
  std::vector<ContactRow> rows;
  for (int i = 0; i < kContacts; ++i) {
    keys.push_back("c" + std::to_string(i) + "@x.test");
    rows.push_back(row(keys.back()));
  }
  testing::FakeStore store;
  Engine engine(settings(), kStart);
  engine.upsertContacts(rows);
  // Each contact in some sequences in a random order, the adds of all contacts mixed.
  std::vector<std::vector<std::string>> order(kContacts);
  std::vector<std::pair<int, std::string>> adds;
  for (int i = 0; i < kContacts; ++i) {
    for (const std::string& id : kSequences) {
      if (random() % 3 != 0) adds.emplace_back(i, id);
    }
  }
  std::shuffle(adds.begin(), adds.end(), random);
  for (const auto& [contact, sequence_id] : adds) {
    add(engine, sequence_id, keys[contact]);
    order[contact].push_back(sequence_id);
    if (random() % 10 == 0) store.commit(engine.takeBatch());
  }
  store.commit(engine.takeBatch());
  Engine restarted(settings(), kStart);
  REQUIRE(restarted.restore(store.state, kStart).isOk());
  for (int i = 0; i < kContacts; ++i) {
    for (const std::string& id : kSequences) {
      const bool added = std::find(order[i].begin(), order[i].end(), id) != order[i].end();
      for (const Engine* which : {&engine, &restarted}) {
        const Enrollment* found = which->findEnrollment(id, keys[i]);
        CHECK((found != nullptr) == added);
        if (found == nullptr) continue;
        CHECK(found->sequence_id == id);
        CHECK(found->contact_key == keys[i]);
      }
    }
    if (order[i].empty()) continue;
    CHECK(sequencesOf(engine, keys[i]) == joined(order[i]));
    CHECK(sequencesOf(restarted, keys[i]) == joined(order[i]));
  }
}
