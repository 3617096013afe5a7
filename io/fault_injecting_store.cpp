#include "io/fault_injecting_store.hpp"

#include <string>
#include <utility>

#include "engine/assert.hpp"

namespace seqd {

FaultInjectingStore::FaultInjectingStore(std::unique_ptr<Store> target)
    : target_(std::move(target)) {
  SEQD_ASSERT(target_ != nullptr);
}

Status FaultInjectingStore::crashedStatus() const {
  return Status::ioError("injected crash: the store is gone (commit " +
                         std::to_string(commits_.load()) + " crashed)");
}

Status FaultInjectingStore::commit(const WriteBatch& batch) {
  if (crashed_.load()) return crashedStatus();
  const std::uint64_t index = commits_.fetch_add(1) + 1;
  bool armed = false;
  CrashPoint point = CrashPoint::kBeforeCommit;
  {
    std::lock_guard<std::mutex> lock(arm_mutex_);
    if (armed_index_ == index) {
      armed = true;
      point = armed_point_;
      armed_index_ = 0;
    }
  }
  const std::string which = "commit " + std::to_string(index);
  if (!armed) {
    if (std::optional<Status> no_room = outOfRoom(which)) return *no_room;
    return target_->commit(batch);
  }
  switch (point) {
    case CrashPoint::kBeforeCommit:
      crashed_.store(true);
      return Status::ioError("injected crash before " + which + " (nothing written)");
    case CrashPoint::kAfterCommit: {
      Status status = target_->commit(batch);
      crashed_.store(true);
      return Status::ioError("injected crash after " + which + " (" +
                             (status.isOk() ? "it was written" : status.message()) + ")");
    }
    case CrashPoint::kFailSync:
      return Status::ioError("injected sync failure in " + which + " (nothing written)");
  }
  return Status::ioError("injected fault in " + which);
}

Status FaultInjectingStore::probeWrite() {
  if (crashed_.load()) return crashedStatus();
  if (std::optional<Status> no_room = outOfRoom("a test write")) return *no_room;
  return target_->probeWrite();
}

std::optional<Status> FaultInjectingStore::outOfRoom(const std::string& what) const {
  std::optional<OutOfRoom> full;
  {
    std::lock_guard<std::mutex> lock(arm_mutex_);
    full = full_;
  }
  if (!full) return std::nullopt;
  if (*full == OutOfRoom::kDisk) {
    return Status::ioError(std::string(kNoSpaceMessage) + ": state dir (injected): " + what +
                           " failed (No space left on device, 0 bytes free)");
  }
  return Status::ioError(std::string(kStoreFullMessage) + ": (injected): " + what +
                         ": MDB_MAP_FULL: Environment mapsize limit reached");
}

Status FaultInjectingStore::load(LoadedState& out) {
  if (crashed_.load()) {
    out = LoadedState();
    return crashedStatus();
  }
  return target_->load(out);
}

Result<std::uint64_t> FaultInjectingStore::lastProgressSeq() {
  if (crashed_.load()) return crashedStatus();
  return target_->lastProgressSeq();
}

std::uint64_t FaultInjectingStore::commitCount() const { return commits_.load(); }

void FaultInjectingStore::armCrash(std::uint64_t commit_index, CrashPoint point) {
  SEQD_ASSERT(commit_index > commits_.load());
  std::lock_guard<std::mutex> lock(arm_mutex_);
  armed_index_ = commit_index;
  armed_point_ = point;
}

bool FaultInjectingStore::crashed() const { return crashed_.load(); }

void FaultInjectingStore::fillUp(OutOfRoom kind) {
  std::lock_guard<std::mutex> lock(arm_mutex_);
  full_ = kind;
}

void FaultInjectingStore::makeRoom() {
  std::lock_guard<std::mutex> lock(arm_mutex_);
  full_.reset();
}

bool FaultInjectingStore::full() const {
  std::lock_guard<std::mutex> lock(arm_mutex_);
  return full_.has_value();
}

}  // namespace seqd
