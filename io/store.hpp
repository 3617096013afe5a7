// Store: the LMDB environment under state_dir holding contacts, enrollment snapshots, the
// append-only progress log, sequence activation and the clock.
//
// Schema: one environment (data.mdb + lock.mdb in `dir`), five named databases. Values are
// the versioned little-endian records of io/record_codec.hpp.
//
//   DB            key                                   value
//   contacts      contact key bytes (1..511 bytes)      contact record
//   enrollments   EnrollmentId, u32 big-endian          enrollment snapshot record
//   progress      seq, u64 big-endian (MDB_APPEND)      progress record
//   sequences     sequence id bytes (1..511 bytes)      1 byte: 1 active, 0 inactive
//   meta          "schema_version"                      u32 little-endian (kStoreSchemaVersion)
//                 "clock_ms"                            i64 little-endian
//
// Write path. The engine thread is the only writer. It gathers state changes into a
// WriteBatch for a few ms or a few thousand records and commit() writes the whole batch in
// one write transaction, then syncs: nothing in it is acknowledged before commit() returns
// ok. Measured here (DESIGN-NOTES): one put per commit with default sync runs ~5.3k
// commits/s, which would cap the daemon near 5k steps/s; batching is what lifts that.
// Fired steps go to the progress log under a strictly increasing u64 seq, written with
// MDB_APPEND so each lands at the right edge of the B-tree: ~2.66M / 5.84M puts/s at 1k / 10k
// per commit, ~49 B per 8 B key + 32 B value. Rewriting enrollment snapshots in place instead
// dirties a random 4 KB page per write: ~152k puts/s into a growing DB, ~80-87k/s into a
// 10M-key one. So snapshots are written when a command changes an enrollment, and a restart
// loads the snapshots and replays the log records after each snapshot's progress_seq.
// Every record is encoded, decoded back and compared before it is put; a mismatch is a codec
// bug and aborts with file and line. A record that does not decode (a field over
// kRecordFieldBytesMax, a score above 100, ...) or a key LMDB cannot hold is refused as
// InvalidArgument. Either way the whole batch is rolled back: a commit is all or nothing.
//
// LMDB caveats that apply (from lmdb.h):
//  - Keep read transactions short: a live reader pins the pages it sees, so they are not
//    reused and the file grows. load() holds one read txn for the whole read; it runs at
//    start, before the writer does.
//  - Never use an env after fork(): the child must open its own. Calls from a process other
//    than the opener return FailedPrecondition.
//  - Never open the same env twice in one process (its locks would be released by closing
//    either). openLmdbStore() holds an exclusive flock on `dir`/seqd.lock while the store is
//    open, so a second open, in this process or another, fails with FailedPrecondition.
//  - The map is a large sparse reservation (kStoreMapBytesDefault); running out returns
//    MDB_MAP_FULL. commit() aborts the transaction and returns IOError "store is full: ...";
//    the store stays usable, and reopening with a larger map_bytes grows it.
//  - mdb_reader_check() runs at open to clear reader slots left by dead processes.
//  - No MDB_NOSYNC / MDB_MAPASYNC: commit() returning ok means the batch is on disk.
//
// Thread-safety: commit() only from one thread at a time (the engine thread). load() and
// lastProgressSeq() open their own read transactions (MDB_NOTLS) and may run on any thread,
// concurrently with commit(). A Store is used only by the process that opened it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/records.hpp"
#include "engine/status.hpp"

namespace seqd {

inline constexpr std::uint32_t kStoreSchemaVersion = 1;
// Sparse: only pages written take disk space. 64 GiB on 64-bit, 1 GiB where address space
// is tight.
inline constexpr std::uint64_t kStoreMapBytesDefault =
    sizeof(void*) >= 8 ? (std::uint64_t{64} << 30) : (std::uint64_t{1} << 30);
// Records (contacts + enrollments + progress + sequences) in one commit. LMDB holds at most
// 128Ki dirty pages in a write txn (MDB_TXN_FULL); random-key upserts can dirty a page each,
// so a batch stays well below that. Bigger work (an import) is split over several commits.
inline constexpr std::size_t kStoreBatchRecordsMax = std::size_t{1} << 22;

class Store {
 public:
  virtual ~Store() = default;
  // Writes the whole batch in one write transaction, or nothing. Contacts, enrollments and
  // sequences are upserts; progress records are appended.
  // REQUIRES: batch.progress seqs are > 0, strictly increasing and above lastProgressSeq()
  // (else InvalidArgument and nothing is written); total records <= kStoreBatchRecordsMax.
  virtual Status commit(const WriteBatch& batch) = 0;
  // Reads everything back in one read transaction: contacts in key byte order, enrollments
  // by id, progress by seq, sequences by id. Replaces `out`; on error `out` is empty. A value
  // that does not decode gives Corruption naming the DB and key.
  virtual Status load(LoadedState& out) = 0;
  // The seq of the last progress record, 0 when the log is empty.
  virtual Result<std::uint64_t> lastProgressSeq() = 0;
};

struct StoreOptions {
  std::uint64_t map_bytes = kStoreMapBytesDefault;
  // false only in tests that simulate crashes inside the process (a commit is still atomic;
  // it is just not flushed): seqd itself always syncs.
  bool sync_for_durability = true;
};

// Opens (creating if needed) the LMDB store in dir. Missing directories are created with
// mode 0750 (less the umask); data files are created 0640.
Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir);
Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir, const StoreOptions& options);

}  // namespace seqd
