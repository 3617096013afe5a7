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
  if (!armed) return target_->commit(batch);
  const std::string which = "commit " + std::to_string(index);
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

}  // namespace seqd
