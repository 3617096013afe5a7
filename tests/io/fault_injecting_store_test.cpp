// Proves FaultInjectingStore over a real LMDB store: a crash before commit N leaves exactly
// commits 1..N-1 on disk, a crash after it exactly 1..N, a failed sync loses only N, and
// after a crash every call fails as if the process had died.
#include "io/fault_injecting_store.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "temp_dir.hpp"

using namespace seqd;
using seqd::testing::TempDir;

namespace {

constexpr std::uint64_t kCommits = 6;

// Commit i adds contact "c<i>", progress seq i and clock i.
WriteBatch commitNumber(std::uint64_t i) {
  WriteBatch batch;
  Contact contact;
  contact.key = "c" + std::to_string(i);
  contact.email = contact.key + "@example.com";
  batch.contacts.push_back(PackedContact::pack(contact));
  ProgressRecord record;
  record.seq = i;
  record.enrollment_id = static_cast<EnrollmentId>(i);
  record.kind = ProgressKind::kStepFired;
  record.at_ms = static_cast<TimeMs>(i);
  batch.progress.push_back(record);
  batch.clock_ms = static_cast<TimeMs>(i);
  return batch;
}

std::unique_ptr<FaultInjectingStore> openWrapped(const std::string& dir) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir);
  REQUIRE_MESSAGE(opened.isOk(), (opened.isOk() ? "" : opened.status().message()));
  return std::make_unique<FaultInjectingStore>(std::move(opened.value()));
}

// Reopens dir with a plain LMDB store and returns the commit numbers found in it.
std::vector<std::uint64_t> commitsOnDisk(const std::string& dir) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir);
  REQUIRE_MESSAGE(opened.isOk(), (opened.isOk() ? "" : opened.status().message()));
  LoadedState state;
  Status status = opened.value()->load(state);
  REQUIRE_MESSAGE(status.isOk(), status.message());
  std::vector<std::uint64_t> found;
  for (const ProgressRecord& record : state.progress) found.push_back(record.seq);
  REQUIRE(state.contacts.size() == found.size());
  if (!found.empty()) CHECK(state.clock_ms.value() == static_cast<TimeMs>(found.back()));
  return found;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t i = first; i <= last; ++i) numbers.push_back(i);
  return numbers;
}

// Runs commits 1..kCommits with a fault armed at `crash_at`; returns that call's status and
// checks that every call after a crash fails and every call after a failed sync succeeds.
Status runCommits(FaultInjectingStore& store, std::uint64_t crash_at, CrashPoint point) {
  store.armCrash(crash_at, point);
  Status failed;
  for (std::uint64_t i = 1; i <= kCommits; ++i) {
    Status status = store.commit(commitNumber(i));
    CHECK(store.commitCount() == (store.crashed() ? crash_at : i));  // the dead count no more
    if (i < crash_at) REQUIRE_MESSAGE(status.isOk(), status.message());
    if (i == crash_at) failed = status;
    if (i > crash_at && store.crashed()) CHECK(status.code() == StatusCode::kIOError);
    if (i > crash_at && !store.crashed()) REQUIRE_MESSAGE(status.isOk(), status.message());
  }
  return failed;
}

}  // namespace

TEST_CASE("a crash before commit N leaves exactly the commits before N") {
  for (std::uint64_t crash_at = 1; crash_at <= kCommits; ++crash_at) {
    CAPTURE(crash_at);
    TempDir dir("seqd-fault-test");
    {
      auto store = openWrapped(dir.path());
      Status failed = runCommits(*store, crash_at, CrashPoint::kBeforeCommit);
      CHECK(failed.code() == StatusCode::kIOError);
      CHECK(failed.message().find("injected crash before commit") != std::string::npos);
      CHECK(store->crashed());
      LoadedState state;
      CHECK(store->load(state).code() == StatusCode::kIOError);
      CHECK(store->lastProgressSeq().status().code() == StatusCode::kIOError);
    }
    CHECK(commitsOnDisk(dir.path()) == range(1, crash_at - 1));
  }
}

TEST_CASE("a crash after commit N leaves exactly the commits up to N") {
  for (std::uint64_t crash_at = 1; crash_at <= kCommits; ++crash_at) {
    CAPTURE(crash_at);
    TempDir dir("seqd-fault-test");
    {
      auto store = openWrapped(dir.path());
      Status failed = runCommits(*store, crash_at, CrashPoint::kAfterCommit);
      CHECK(failed.code() == StatusCode::kIOError);
      CHECK(failed.message().find("injected crash after commit") != std::string::npos);
      CHECK(store->crashed());
    }
    CHECK(commitsOnDisk(dir.path()) == range(1, crash_at));
  }
}

TEST_CASE("a failed sync loses only that commit and the store lives on") {
  TempDir dir("seqd-fault-test");
  {
    auto store = openWrapped(dir.path());
    Status failed = runCommits(*store, 3, CrashPoint::kFailSync);
    CHECK(failed.code() == StatusCode::kIOError);
    CHECK(failed.message().find("injected sync failure") != std::string::npos);
    CHECK_FALSE(store->crashed());
    CHECK(store->commitCount() == kCommits);
    CHECK(store->lastProgressSeq().value() == kCommits);
  }
  CHECK(commitsOnDisk(dir.path()) == std::vector<std::uint64_t>{1, 2, 4, 5, 6});
}

TEST_CASE("an unarmed wrapper passes everything through and counts commits") {
  TempDir dir("seqd-fault-test");
  {
    auto store = openWrapped(dir.path());
    for (std::uint64_t i = 1; i <= kCommits; ++i) REQUIRE(store->commit(commitNumber(i)).isOk());
    CHECK(store->commit(WriteBatch()).isOk());  // empty batches count too
    CHECK(store->commitCount() == kCommits + 1);
    CHECK_FALSE(store->crashed());
    LoadedState state;
    REQUIRE(store->load(state).isOk());
    CHECK(state.contacts.size() == kCommits);
  }
  CHECK(commitsOnDisk(dir.path()) == range(1, kCommits));
}

TEST_CASE("a full store refuses every commit and test write, as out of room, until made room") {
  for (OutOfRoom kind : {OutOfRoom::kDisk, OutOfRoom::kMap}) {
    CAPTURE(static_cast<int>(kind));
    TempDir dir("seqd-fault-test");
    {
      auto store = openWrapped(dir.path());
      REQUIRE(store->commit(commitNumber(1)).isOk());
      store->fillUp(kind);
      CHECK(store->full());
      for (std::uint64_t i = 2; i <= 3; ++i) {
        Status failed = store->commit(commitNumber(i));
        CHECK(failed.code() == StatusCode::kIOError);
        CHECK(isOutOfRoom(failed));
        CHECK(failed.message().find("commit " + std::to_string(i)) != std::string::npos);
      }
      Status probe = store->probeWrite();
      CHECK(isOutOfRoom(probe));
      CHECK(probe.message().starts_with(kind == OutOfRoom::kDisk ? kNoSpaceMessage
                                                                 : kStoreFullMessage));
      CHECK_FALSE(store->crashed());
      CHECK(store->commitCount() == 3);
      // Reads go on while it is full, and show only what was written before.
      LoadedState state;
      REQUIRE(store->load(state).isOk());
      CHECK(state.contacts.size() == 1);
      CHECK(store->lastProgressSeq().value() == 1);
      store->makeRoom();
      CHECK_FALSE(store->full());
      CHECK(store->probeWrite().isOk());
      REQUIRE(store->commit(commitNumber(4)).isOk());
    }
    CHECK(commitsOnDisk(dir.path()) == std::vector<std::uint64_t>{1, 4});
  }
}

TEST_CASE("an armed crash due while the store is full happens first") {
  TempDir dir("seqd-fault-test");
  auto store = openWrapped(dir.path());
  store->fillUp(OutOfRoom::kDisk);
  store->armCrash(1, CrashPoint::kBeforeCommit);
  Status failed = store->commit(commitNumber(1));
  CHECK_FALSE(isOutOfRoom(failed));
  CHECK(store->crashed());
  CHECK_FALSE(isOutOfRoom(store->probeWrite()));  // the dead write nothing, full or not
}
