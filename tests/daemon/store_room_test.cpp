// Proves the round end seqd and the simulation share when the store runs out of room
// (daemon/engine_start.hpp: StoreRoom, commitRoundMindingRoom), over a real LMDB store behind
// FaultInjectingStore and a real Engine: the round whose commit fails for want of room keeps
// nothing and releases nothing; while full a round writes only for a change or at its probe
// time; a failed probe keeps the engine as it is; the first write that succeeds resumes, and
// sending goes on in the round after it.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>

#include "daemon/engine_start.hpp"
#include "daemon/fixtures.hpp"
#include "temp_dir.hpp"

using namespace seqd;
using namespace seqd::testing;
namespace json = boost::json;

namespace {

struct Daemon {
  explicit Daemon(const std::string& dir) {
    store = openFaultInjectingStore(dir);
    rebuild(kStart);
  }
  // Builds the engine from what the store holds, as seqd does at start and after a full store.
  void rebuild(TimeMs now_ms) { engine = engineFromStore(*store, now_ms); }
  RoomRound round(TimeMs now_ms, DeliverySlots slots = kSlots) {
    return commitRoundMindingRoom(*engine, *store, room, slots, now_ms, std::nullopt, now_ms);
  }
  DispatchReply run(const std::string& cmd, json::object args, TimeMs now_ms) {
    return runAsRoot(*engine, cmd, std::move(args), now_ms);
  }
  std::unique_ptr<FaultInjectingStore> store;
  std::unique_ptr<Engine> engine;
  StoreRoom room;
};

}  // namespace

TEST_CASE("a full store: refused rounds keep nothing, probes, resumes, then sends") {
  seqd::testing::TempDir dir("seqd-store-room");
  Daemon seqd(dir.path());
  json::array rows;
  for (const char* key : {"a@example.test", "b@example.test"}) {
    rows.push_back(json::object{{"fields", json::object{{"email", key}, {"first_name", "A"}}}});
  }
  TimeMs now = kStart;
  REQUIRE(seqd.run("import", json::object{{"rows", rows}}, now).ok);
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}, now).ok);
  CHECK(seqd.round(now).end == RoundEnd::kCommitted);

  seqd.store->fillUp(OutOfRoom::kDisk);
  // A change: its round is refused whole, nothing released (its send was due at once).
  REQUIRE(seqd.run("add", addToAlpha("a@example.test"), now).ok);
  seqd.engine->advanceTo(now);
  RoomRound refused = seqd.round(now);
  CHECK(refused.end == RoundEnd::kOutOfRoom);
  CHECK(isOutOfRoom(refused.status));
  CHECK(refused.round.intents.empty());
  seqd.rebuild(now);
  seqd.room.enter(refused.status, *seqd.engine, now);
  CHECK(seqd.room.full());
  CHECK(seqd.room.error() == refused.status.message());
  CHECK(seqd.engine->findEnrollment("alpha", "a@example.test") == nullptr);  // not kept

  // Nothing asked for and before the probe time: no write at all.
  const std::uint64_t commits = seqd.store->commitCount();
  CHECK(seqd.round(now + 1000).end == RoundEnd::kNotDue);
  CHECK(seqd.store->commitCount() == commits);
  // At the probe time, a test write; it fails and the engine stays as it is (nothing to undo).
  const Engine* engine = seqd.engine.get();
  CHECK(seqd.room.probeAtMs() == now + kStoreFullProbeMs);
  RoomRound probed = seqd.round(now + kStoreFullProbeMs);
  CHECK(probed.end == RoundEnd::kStillFull);
  CHECK(probed.round.intents.empty());
  CHECK(seqd.room.full());
  CHECK(seqd.room.probeAtMs() == now + 2 * kStoreFullProbeMs);
  CHECK(seqd.engine.get() == engine);
  // A change asked for before the next probe time writes at once, and is refused.
  now += kStoreFullProbeMs + 1000;
  REQUIRE(seqd.run("add", addToAlpha("b@example.test"), now).ok);
  CHECK(seqd.round(now).end == RoundEnd::kOutOfRoom);
  seqd.rebuild(now);
  seqd.room.enter(refused.status, *seqd.engine, now);

  // Room again: the next probe writes, seqd resumes, and releases nothing in that round.
  seqd.store->makeRoom();
  now = seqd.room.probeAtMs();
  RoomRound resumed = seqd.round(now);
  CHECK(resumed.end == RoundEnd::kResumed);
  CHECK(resumed.round.intents.empty());
  CHECK_FALSE(seqd.room.full());
  // Then a change is kept and its send goes out.
  REQUIRE(seqd.run("add", addToAlpha("a@example.test"), now).ok);
  seqd.engine->advanceTo(now);
  RoomRound sent = seqd.round(now);
  CHECK(sent.end == RoundEnd::kCommitted);
  REQUIRE(sent.round.intents.size() == 1);
  CHECK(sent.round.intents.front().contact->key() == "a@example.test");
}

TEST_CASE("a store that fails otherwise while full ends seqd (kFailed), not a full-store round") {
  seqd::testing::TempDir dir("seqd-store-room");
  Daemon seqd(dir.path());
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}, kStart).ok);
  seqd.store->armCrash(seqd.store->commitCount() + 1, CrashPoint::kFailSync);
  RoomRound failed = seqd.round(kStart);
  CHECK(failed.end == RoundEnd::kFailed);
  CHECK_FALSE(isOutOfRoom(failed.status));
  CHECK_FALSE(seqd.room.full());
}

// Found by the simulation (seed 352): the engine built again from the store held an enrollment
// change of its own (a send decided but never released goes back to scheduled), so a pause of
// that contact added no record to count; the round was answered ok, nothing was written, and
// the pause was gone after the next refused write.
TEST_CASE("while full, a change to an enrollment the restore already changed still writes") {
  seqd::testing::TempDir dir("seqd-store-room");
  Daemon seqd(dir.path());
  json::array rows;
  rows.push_back(
      json::object{{"fields", json::object{{"email", "a@example.test"}, {"first_name", "A"}}}});
  TimeMs now = kStart;
  REQUIRE(seqd.run("import", json::object{{"rows", rows}}, now).ok);
  REQUIRE(seqd.run("sequence_activate", json::object{{"sequence", "alpha"}}, now).ok);
  REQUIRE(seqd.run("add", addToAlpha("a@example.test"), now).ok);
  seqd.engine->advanceTo(now);
  RoomRound decided = seqd.round(now, DeliverySlots{0, 0});  // delivery has no room
  REQUIRE(decided.end == RoundEnd::kCommitted);
  REQUIRE(decided.round.intents.empty());

  seqd.store->fillUp(OutOfRoom::kMap);
  seqd.rebuild(now);  // as after a refused round
  REQUIRE(seqd.engine->pendingRecords() > 0);
  seqd.room.enter(Status::ioError("store is full: (test)"), *seqd.engine, now);
  const std::size_t records = seqd.engine->pendingRecords();
  REQUIRE(seqd.run("pause", addToAlpha("a@example.test"), now + 1000).ok);
  CHECK(seqd.engine->pendingRecords() == records);  // nothing more to count...
  RoomRound paused = seqd.round(now + 1000);
  CHECK(paused.end == RoundEnd::kOutOfRoom);  // ...and yet it writes, and is refused
}
