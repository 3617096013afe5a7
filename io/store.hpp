// Store: the LMDB environment under state_dir holding contacts, enrollment snapshots, the
// append-only progress log, sequence activation and the clock.
//
// (Header comment with the schema, the LMDB caveats that apply, and the write path.)
//
// Thread-safety: commit() only from the engine thread (the one writer); load() at start.
#pragma once

#include <memory>
#include <string>

#include "engine/records.hpp"
#include "engine/status.hpp"

namespace seqd {

class Store {
 public:
  virtual ~Store() = default;
  // Writes the whole batch in one write transaction.
  virtual Status commit(const WriteBatch& batch) = 0;
  // Reads everything back.
  virtual Status load(LoadedState& out) = 0;
};

// Opens (creating if needed) the LMDB store in dir.
Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir);

}  // namespace seqd
