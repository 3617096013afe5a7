// Store guard: a record the store cannot hold must not stop the daemon.
//
// The store refuses a whole batch that holds one record it cannot keep (InvalidArgument,
// nothing written; io/store.hpp). The request checks (io/request_checks.hpp) keep such
// records out, so one reaching the store is a bug; but exiting on it, as the runtime does for
// a failing disk, would drop every good change of the round and let a bad request stop the
// daemon. So the runtime:
//  - asks refusedRecords() about the records each changing command added, and answers a
//    command whose record the store would refuse with `failed` (logged as a bug);
//  - commits with commitKeepingHoldable(), which, when the store refuses a batch as
//    InvalidArgument, drops the contact and enrollment records the store cannot hold and
//    commits the rest. A refused progress record is never dropped (a fired step without its
//    record would be sent again after a restart): the refusal is returned, and the daemon
//    exits as it does for an I/O error. A task record holds only fields of the progress
//    record logged with it (step id, owner, reason), so it is refused only with that one.
// A dropped record stays in the engine's memory until the next start, which loads what was
// committed.
//
// The checks are the store's own before each put (io/lmdb_store.cpp): a key of
// 1..kContactKeyBytesMax bytes and a record the encoder takes (io/record_codec.hpp).
//
// Thread-safety: pure functions, except that commitKeepingHoldable() calls Store::commit.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "engine/records.hpp"
#include "engine/status.hpp"
#include "io/store.hpp"

namespace seqd {

// How many records each list of a batch held at some point.
struct BatchMark {
  std::size_t contacts = 0;
  std::size_t enrollments = 0;
  std::size_t progress = 0;
  std::size_t sequences = 0;
};

BatchMark markOf(const WriteBatch& batch);

// The records added to `batch` after `from` that the store would refuse, one line each
// naming the DB, the key and why ("contacts key 'x...' is 600 bytes; at most 511").
// REQUIRES: every list of `batch` is at least as long as in `from`.
std::vector<std::string> refusedRecords(const WriteBatch& batch, const BatchMark& from = {});

// Commits `batch`. When the store refuses it as InvalidArgument, drops the contacts and
// enrollments it cannot hold (naming each in `dropped`) and commits the rest; returns the
// store's refusal when nothing can be dropped or a progress record is refused.
Status commitKeepingHoldable(Store& store, const WriteBatch& batch,
                             std::vector<std::string>& dropped);

}  // namespace seqd
