// Proves sequencesChangedBy names exactly the sequences applyEvent then changes, for every
// event kind over sequences whose rules differ, so checking the caller's rights on that list
// first is checking them on every sequence the event changes.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/engine.hpp"

using namespace seqd;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const Caller kRoot{"root", true};

// finishes: finish_on reply only; pauses: pause_on_ooo; blocks: block_stages [lost];
// stopped: the contact was removed from it; idle: the contact is not in it.
EngineSettings settings() {
  EngineSettings settings;
  for (const char* id : {"finishes", "pauses", "blocks", "stopped", "idle"}) {
    Sequence sequence;
    sequence.id = id;
    sequence.owner = "alice";
    sequence.mailboxes = {"a@acme.test"};
    sequence.rules.finish_on = std::string(id) == "finishes" ? std::vector<std::string>{"reply"}
                                                             : std::vector<std::string>{};
    sequence.rules.pause_on_ooo = std::string(id) == "pauses";
    if (std::string(id) == "blocks") sequence.rules.block_stages = {"lost"};
    Step step;
    step.id = "hello";
    step.wait_ms = kDayMs;
    step.subject = "Hello";
    step.body = "Hi";
    sequence.steps.push_back(step);
    settings.sequences[id] = sequence;
  }
  Mailbox mailbox;
  mailbox.address = "a@acme.test";
  mailbox.daily_limit = 1000;
  mailbox.hourly_limit = 1000;
  settings.mailboxes.push_back(mailbox);
  return settings;
}

Engine enrolledEngine() {
  Engine engine(settings(), kStart);
  ContactRow row;
  row.fields = {{"email", "x@x.test"}};
  engine.upsertContacts({row});
  AddOptions force;  // in_other_sequence is only a warning
  force.force = true;
  for (const char* id : {"finishes", "pauses", "blocks", "stopped"}) {
    REQUIRE(engine.add(id, {"x@x.test"}, force, kRoot, kStart).value().added.size() == 1);
  }
  OperatorRequest remove;
  remove.action = OperatorAction::kRemove;
  remove.contacts = {"x@x.test"};
  REQUIRE(engine.operate("stopped", remove, kRoot, kStart).isOk());
  return engine;
}

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

}  // namespace

TEST_CASE("sequencesChangedBy names exactly the sequences applyEvent changes") {
  struct Case {
    EventKind kind;
    std::string stage;
    std::string sequence_id;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {EventKind::kReply, "", "", {"finishes"}},
      {EventKind::kMeetingBooked, "", "", {}},
      {EventKind::kUnsubscribe, "", "", {}},
      {EventKind::kBounce, "", "", {"blocks", "finishes", "pauses"}},
      {EventKind::kBounce, "", "pauses", {"pauses"}},
      {EventKind::kOoo, "", "", {"pauses"}},
      {EventKind::kStage, "lost", "", {"blocks"}},
      {EventKind::kStage, "won", "", {}},
  };
  for (const Case& test : cases) {
    Engine engine = enrolledEngine();
    ContactEvent event;
    event.kind = test.kind;
    event.contact = "X@x.test";
    event.stage = test.stage;
    event.sequence_id = test.sequence_id;
    std::vector<std::string> predicted = sorted(engine.sequencesChangedBy(event));
    CHECK(predicted == test.expected);
    Result<EventResult> applied = engine.applyEvent(event, kStart);
    REQUIRE(applied.isOk());
    std::vector<std::string> changed;
    for (const auto& [sequence_id, status] : applied.value().changed) {
      changed.push_back(sequence_id);
    }
    CHECK(sorted(changed) == predicted);
  }
  Engine engine = enrolledEngine();
  ContactEvent unknown;
  unknown.contact = "nobody@x.test";
  CHECK(engine.sequencesChangedBy(unknown).empty());
}
