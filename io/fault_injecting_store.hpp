// FaultInjectingStore: a Store for crash tests that wraps a real one (the LMDB store) and
// can make the Nth commit "crash", in the manner of LevelDB's FaultInjectionTestEnv.
//
// It owns the wrapped Store and passes every call through until armed. Commits are numbered
// from 1 in the order commit() is called (empty batches included); commitCount() is how many
// calls have been made. armCrash(N, point) makes commit number N fail with IOError
// "injected ...":
//
//   kBeforeCommit  the process "dies" before the commit: nothing of batch N is written, and
//                  every later call (commit, load, lastProgressSeq) fails too. Reopening the
//                  directory shows exactly commits 1..N-1.
//   kAfterCommit   the process "dies" after the commit: batch N is durable but the caller is
//                  told it failed, and every later call fails. Reopening shows 1..N.
//   kFailSync      the write fails the way a failed fsync does: nothing of batch N is written
//                  and the call fails, but the store lives on (crashed() stays false) and
//                  commit N+1 proceeds. Reopening shows every commit but N.
//
// fillUp(kind) makes the store run out of room until makeRoom(): every commit, and
// probeWrite(), fails as LmdbStore's do when the filesystem (kDisk: "no space left on device:
// ...") or LMDB's map (kMap: "store is full: ...") is full, so isOutOfRoom() is true of the
// status; nothing is written and the store stays usable (load() and lastProgressSeq() work).
// An armed crash or failed sync due at the same commit happens first.
//
// A "crashed" wrapper still holds the wrapped store open (and its lock on the directory):
// destroy the wrapper before reopening the directory in the same process.
//
// Thread-safety: like Store, commit() and probeWrite() from one thread at a time; load() and
// lastProgressSeq() from any thread. armCrash(), fillUp(), makeRoom(), full(), commitCount()
// and crashed() may be called from any thread at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "io/store.hpp"

namespace seqd {

enum class CrashPoint {
  kBeforeCommit,
  kAfterCommit,
  kFailSync,
};

// What runs out of room (FaultInjectingStore::fillUp).
enum class OutOfRoom {
  kDisk,  // the filesystem: ENOSPC
  kMap,   // LMDB's map: MDB_MAP_FULL
};

class FaultInjectingStore final : public Store {
 public:
  // REQUIRES: target != nullptr.
  explicit FaultInjectingStore(std::unique_ptr<Store> target);

  Status commit(const WriteBatch& batch) override;
  Status load(LoadedState& out) override;
  Result<std::uint64_t> lastProgressSeq() override;
  bool historyTrimPending() const override { return target_->historyTrimPending(); }
  Status probeWrite() override;
  void releaseMappedPages() override { target_->releaseMappedPages(); }
  void idle() override { target_->idle(); }
  Status readTasks(std::vector<Task>& out) override { return target_->readTasks(out); }

  // The number of commit() calls so far (the number the last one had).
  std::uint64_t commitCount() const;
  // Makes commit number commit_index fail at `point`; replaces an earlier arming.
  // REQUIRES: commit_index > commitCount().
  void armCrash(std::uint64_t commit_index, CrashPoint point);
  // True once a kBeforeCommit or kAfterCommit crash happened.
  bool crashed() const;
  // Out of room from now on, until makeRoom(): commits and probeWrite() fail and write nothing.
  void fillUp(OutOfRoom kind);
  void makeRoom();
  bool full() const;

 private:
  Status crashedStatus() const;
  // The out-of-room error of `what`, as LmdbStore words it; nullopt when there is room.
  std::optional<Status> outOfRoom(const std::string& what) const;

  std::unique_ptr<Store> target_;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<bool> crashed_{false};
  mutable std::mutex arm_mutex_;
  std::uint64_t armed_index_ = 0;  // 0: not armed; guarded by arm_mutex_
  CrashPoint armed_point_ = CrashPoint::kBeforeCommit;
  std::optional<OutOfRoom> full_;  // guarded by arm_mutex_
};

}  // namespace seqd
