// Store: the LMDB environment under state_dir holding contacts, enrollment snapshots, the
// progress log (what a restart reads of it), tasks, applied inbound messages, sequence
// activation and the clock.
//
// Schema: one environment (data.mdb + lock.mdb in `dir`), ten named databases. Values are
// the versioned little-endian records of io/record_codec.hpp, each followed by a checksum.
//
//   DB            key                                   value (then the u32 checksum)
//   contacts      contact key bytes (1..511 bytes)      contact record
//   enrollments   EnrollmentId, u32 big-endian          enrollment snapshot record, as of
//                                                       the checkpoint that wrote it
//   progress      log key (below; MDB_APPEND)           log value of progress records
//   sequences     sequence id bytes (1..511 bytes)      1 byte: 1 active, 0 inactive
//   journal       log key (below; MDB_APPEND)           log value of entries, each u32 LE
//                                                       EnrollmentId then the enrollment
//                                                       snapshot record
//   tasks         task id, u64 big-endian               task record (io/record_codec.hpp)
//   inbound       seq, u64 big-endian                   the kInbound progress record of
//                                                       that seq (an inbox message applied)
//   teams         engine/team_records.hpp's keys        its value (a list's owner, a member's
//                 (list owners and members, shares)     contact key, or empty); written and
//                                                       deleted as the batch's `team` says
//   symbols       code, u32 big-endian (1, 2, ...)      the string enrollment rows of format
//                                                       4 name by that code
//                                                       (io/symbol_codes.hpp); written in
//                                                       the commit of the first row using it
//   meta          "schema_version"                      u32 LE (kStoreSchemaVersion)
//                 "store_id"                            16 random bytes, made at creation
//                 "counts"                              10 x u64 LE: entries in contacts,
//                                                       enrollments, progress, sequences,
//                                                       journal, tasks, inbound; the last
//                                                       progress seq; commits so far; the
//                                                       last journal seq
//                 "checkpoint"                          2 x u64 LE journal seqs: where the
//                                                       checkpoint going on started, where the
//                                                       last finished one started
//                 "clock_ms"                            i64 LE
//
// Log keys and values (io/record_codec.hpp, "Log values"): a key is the seq of the value's
// first entry (u64 big-endian) then its entry count (u32 big-endian); the value holds that
// many entries of consecutive seqs, each a varint length then its bytes, up to
// kLogValueBytesDefault of them (~50 of the bench's journal entries or send records). A
// commit's entries are packed together: one put, and later one delete, serve them all. A
// store written before packing has 8-byte keys (the seq) of one entry each, the whole value;
// both are read, and new values go after the old.
//
// Journal and checkpoints (the protocol is in engine/records.hpp). commit() appends the
// batch's enrollment snapshots to the journal, writes its checkpoint rows into the
// enrollments table, notes a checkpoint starting or finishing, and deletes up to 16Ki journal
// values whose entries are all at or before the last finished checkpoint's start. load()
// returns the table with every later journal entry applied in order, and names those
// enrollments in journal_ids. The journal values wholly at or before that start are not read
// (a cursor seeks past them; a value's entries at or before it are skipped), so a restart
// after a clean shutdown, whose last checkpoint covers everything, reads no journal at all.
// A checkpoint starts at a commit's end and a value holds one commit's entries, so a value is
// wholly before or after the start; the load does not count on it.
//
// History (engine/records.hpp, "History"). commit() upserts the batch's tasks, copies each
// kInbound progress record into the inbound table under its seq, and deletes some of the
// progress log's oldest values while the send limits' snapshot covers each of their records
// (the batch's, or the last one committed or loaded) or its at_ms is before the batch's
// history_keep_from_ms (never the value holding the last record: the last seq stays), and
// some of the inbound table's records likewise before inbound_keep_from_ms: each at most
// historyTrimBound() values per commit. Only a prefix is deleted, stopping at the first value
// holding a record to keep. So the log holds about one snapshot interval
// of records (a day without a snapshot) and the inbound table 90 days; what must outlive them
// (tasks) has its own table. load() returns all three.
//
// The teams and symbols DBs came after schema 4 was out, and come after meta in the DB list:
// the counts record does not count their entries (LMDB's own count and every value's
// checksum are still checked by the walk). A schema 4 store without them is given them,
// empty, at open, in one commit and without a backup (nothing else changes; an older seqd
// ignores the DBs, but refuses the enrollment rows of format 4 written after). The symbols
// table is read at open, so that a commit hands out no code it holds, and again by load().
//
// Converting. A store of schema 2 (no journal, a 6-field counts record) or 3 (no tasks and
// inbound tables, an 8-field counts record) is converted at open, once the walk below found
// it whole: first copied with mdb_copy's compaction to `dir`/backup-schema-N/data.mdb (kept if
// it is already there), then, in one commit, given the DBs it lacks (schema 2 also the
// checkpoint record; its enrollment rows are the table), the tasks folded from its log (the
// engine's foldTaskRecord), its kInbound records copied into the inbound table, and the new
// counts. Its log is kept whole; the commits after truncate it, 16Ki records each.
// tests/data/store-v2 and store-v3 keep such state dirs for the test of that.
//
// Checksums (io/store_check.hpp). Every value written gets 4 bytes appended: the CRC32C,
// little-endian, of  DB name | 0x00 | u32 LE key size | key | value. Naming the DB and key
// means a value that turns up under another key fails too. Every read verifies it. The
// counts record is rewritten in each commit, in the same transaction, from LMDB's entry
// counts.
//
// The marker (io/state_marker.hpp). `dir`/seqd.state is a small text file written (temp
// file, fsync, rename, fsync of `dir`) right after the commit that created the store, and
// changed only by a conversion (its schema line): a header line, "format 1", "schema N", "store
// <store_id in hex>" and a CRC32C of those lines. It says the directory holds a store that was
// used, so a data.mdb that is later missing or empty (which LMDB would quietly start afresh) is
// told apart from a new directory.
//
// Damage. Opening checks, in order, before any data is handed out:
//  1. The marker parses and its checksum matches; with a marker, data.mdb exists and is not
//     empty.
//  2. data.mdb holds at least the pages its meta page says are in use (a shorter file would
//     make LMDB read past its end: SIGBUS).
//  3. A walk (io/store_check.hpp), in the spirit of mdb_stat -ef and mdb_dump, of one
//     snapshot: every DB exists; every entry of every DB lies inside the file, has a key
//     LMDB can hold, in strictly increasing order, and a matching checksum; each DB's entry
//     count matches LMDB's; LMDB's free-page records are well formed (pages in range, none
//     twice), and the pages in trees and free records fit in the file. The walk runs under a
//     fault guard (io/map_fault_guard.hpp): a SIGBUS or SIGSEGV inside the map or at a null
//     pointer, or an LMDB assertion, ends it with an error instead of the process. LMDB's
//     own MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH and
//     MDB_CURSOR_FULL count as damage too, on any path.
//  4. The meta store_id matches the marker, and the counts record matches what the walk saw,
//     including the last progress seq.
// Any failure is Status::corruption with the message
//   state dir DIR is damaged: <what>; restore from backup or move it away
// and seqd exits 1 with it. Nothing is written to a damaged store. load() checks every
// checksum again as it decodes (not doing it for the snapshot the walk had just checked
// measured no gain: perf/RESULTS.md) and compares what it loaded with the counts record. A
// store of another schema version (version 1 had no checksums and no marker; one newer than
// this seqd's) is refused as InvalidArgument naming both versions. A directory without a
// marker whose data.mdb is a complete store of this version gets its marker written (a crash
// between the creating commit and the marker write).
//
// Measured: 2,000 rounds of 2,000 random bytes over a 400 KB store (the store test, with
// kDamageRounds raised): 402 loaded the data exactly (the bytes fell on free space); the
// rest were refused, none crashed: 630 by LMDB following a garbled node to a null pointer,
// ~380 keys or values pointing outside the file, ~310 MDB_PAGE_NOTFOUND or MDB_CORRUPTED, 86
// impossible key sizes, 75 checksum mismatches, 45 SIGBUS past the end of the file, 38 LMDB
// assertions, the rest missing DBs or meta records.
//
// What this does not catch: a data.mdb replaced by an older copy of the same store (the
// marker does not change per commit), and damage that keeps every checksum, key order and
// count intact (a 1 in 2^32 chance per damaged value). Damage that appears while seqd runs
// is found at the next start. The walk costs one pass over the file at each start: ~0.2 s
// for 1M progress records (a 95 MB file) here, against ~2.5 s for load() to decode them;
// appending those 1M records in 10k batches took 1.4-1.6 s with checksums and the counts
// record, 1.3-1.4 s without (a busy 2-core machine, so noisy). It reads the DB with the most
// pages on a second thread (io/lmdb_store.cpp, walkSideBySide) and reports what one walk in
// DB order would: a 1M-contact store after a day of sends (1.7 GB) walked in 1.2-1.4 s
// instead of 1.6-2.1 s.
//
// Write path. One writer at a time: the engine thread gathers state changes into a
// WriteBatch for a few ms or a few thousand records, and the committer thread
// (daemon/engine_start.hpp: RoundPipeline) commit()s the whole batch in one write transaction,
// then syncs, while the engine thread decides the next round: nothing in it is acknowledged
// before commit() returns ok. The engine thread writes itself only with no commit in flight.
// Measured here (DESIGN-NOTES): one put per commit with default sync runs ~5.3k
// commits/s, which would cap the daemon near 5k steps/s; batching is what lifts that.
// Fired steps go to the progress log under a strictly increasing u64 seq, written with
// MDB_APPEND so each lands at the right edge of the B-tree: ~2.66M / 5.84M puts/s at 1k / 10k
// per commit, ~49 B per 8 B key + 32 B value. Rewriting enrollment snapshots in place instead
// dirties a random 4 KB page per write: ~152k puts/s into a growing DB, ~80-87k/s into a
// 10M-key one. So a changed enrollment's snapshot is appended to the journal in the commit of
// the change, and checkpoints write each enrollment changed since the last one into the
// table once, in id order, however often it changed: a step that rewrote two random rows
// now appends two records, and the table takes one write per enrollment per checkpoint.
// A record the encoder refuses (a field over kRecordFieldBytesMax, a score above 100, ...;
// the limits the decoder enforces) or a key LMDB cannot hold is refused as InvalidArgument,
// and the whole batch is rolled back: a commit is all or nothing. Debug builds also decode
// every value back and compare it before the put (a mismatch is a codec bug and aborts with
// file and line); release builds rely on the codec test for that, and every value's
// checksum is checked when it is read.
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
//  - A full filesystem fails the page writes of a commit: ENOSPC, or EIO when a write came
//    back short (LMDB's "short write, filesystem full?"). Either is IOError "no space left on
//    device: state dir DIR: <what> failed (<errno text>, N bytes free)", read as out of room
//    when the filesystem has under kNoSpaceSlackBytes free; the transaction is aborted and
//    the store stays usable (its meta page was never written). A failed meta write would be
//    MDB_PANIC, which seqd does not survive (it exits; systemd restarts it).
//  - The map is never written through (no MDB_WRITEMAP; open asserts it): what
//    releaseMappedPages() drops from the resident set is a clean copy of the page cache, so
//    a reader in another thread, or a pointer into the map, reads the same bytes after it.
//  - mdb_reader_check() runs at open to clear reader slots left by dead processes.
//  - No MDB_NOSYNC / MDB_NOMETASYNC / MDB_MAPASYNC: commit() returning ok means the batch is on
//    disk. Nothing outside tests can ask for them (StoreOptions::sync_for_durability); open
//    asserts the env has none of them when durability is asked for.
//
// Thread-safety: commit(), probeWrite() and historyTrimPending() only from one thread at a
// time (the committer thread, or the engine thread while no commit is in flight). load() and
// lastProgressSeq() open their own read transactions (MDB_NOTLS) and may run on any thread,
// concurrently with commit(). A Store is used only by the process that opened it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/records.hpp"
#include "engine/status.hpp"

namespace seqd {

// 2: every value carries a checksum; meta holds store_id and counts; seqd.state marks the dir.
// 3: enrollment snapshots go to an append-only journal, folded into the table by checkpoints.
// 4: tasks and applied inbound messages have tables; the progress log is truncated.
inline constexpr std::uint32_t kStoreSchemaVersion = 4;
// The oldest schema this seqd converts at open (after a backup); older ones are refused.
inline constexpr std::uint32_t kStoreSchemaVersionOldestConverted = 2;
// Sparse: only pages written take disk space. 64 GiB on 64-bit, 1 GiB where address space
// is tight.
inline constexpr std::uint64_t kStoreMapBytesDefault =
    sizeof(void*) >= 8 ? (std::uint64_t{64} << 30) : (std::uint64_t{1} << 30);
// An EIO from a commit's writes counts as a full disk when the filesystem holding the state
// dir has less than this free (for seqd's user): LMDB turns a short write into EIO.
inline constexpr std::uint64_t kNoSpaceSlackBytes = std::uint64_t{1} << 20;

class Store {
 public:
  virtual ~Store() = default;
  // Writes the whole batch in one write transaction, or nothing. Contacts, enrollments and
  // sequences are upserts; progress records are appended.
  // REQUIRES: batch.progress seqs are > 0, strictly increasing and above lastProgressSeq()
  // (else InvalidArgument and nothing is written). A batch has no record count limit: one
  // command may change every enrollment of a sequence (`sequence activate`, `add --where`),
  // and the engine has applied it before the commit, so a refusal here would stop the daemon.
  // LMDB spills a large transaction's dirty pages to the file as it goes (a commit of 10M
  // row updates and 10M journal appends measured fine); only the map size bounds it.
  // REQUIRES: an enrollment's contact_key is the one it was first written with (the engine
  // never changes it): journal entries after its first leave the key out.
  virtual Status commit(const WriteBatch& batch) = 0;
  // Reads everything back in one read transaction: contacts in key byte order, enrollments
  // by id, progress by seq, sequences by id. Replaces `out`; on error `out` is empty. A value
  // whose checksum fails or that does not decode, or entry counts that differ from the meta
  // counts record, give Corruption ("state dir DIR is damaged: ...") naming the DB and key.
  virtual Status load(LoadedState& out) = 0;
  // The seq of the last progress record, 0 when the log is empty.
  virtual Result<std::uint64_t> lastProgressSeq() = 0;
  // True when the last commit stopped deleting old history at its bound with more to delete:
  // the next commit goes on even if its batch is otherwise empty (its keep-from times set),
  // so an idle daemon finishes a truncation too. Only from the thread that commits.
  virtual bool historyTrimPending() const { return false; }
  // A write that changes nothing a reader sees (the counts record, rewritten): whether the
  // store takes writes again after a commit failed for want of room. Only from the thread
  // that commits.
  virtual Status probeWrite() { return Status::ok(); }
  // Drops the store's mapped file pages from this process's resident set: they stay in the
  // page cache, and a later read faults them back with the same bytes. Without it a load (which
  // reads every page) leaves the whole data file counted in seqd's RSS. Any thread; cheap
  // when little is mapped. LmdbStore also calls it after a commit once its commits have
  // written 10k contacts since the last such call (imports), or 100k records of any kind
  // (an advance; and StoreOptions::release_map_interval_ms passed), and from idle().
  virtual void releaseMappedPages() {}
  // The committing thread has had nothing to commit for a while (ThreadCommitter's
  // idle_after): a store may hand back what its commits since left resident. LmdbStore
  // releases its mapped pages if any commit wrote since the last release. Any thread.
  virtual void idle() {}
  // Every task in the tasks table, by id, in one short read transaction (the engine keeps
  // only some of those done: engine/task.hpp). Any thread. On error `out` is empty.
  virtual Status readTasks(std::vector<Task>& out) {
    out.clear();
    return Status::ok();
  }
  // Calls visit with every task in the tasks table, by id, in one read transaction; stops at
  // the first error visit returns and returns it. LmdbStore holds one decoded task at a time;
  // this default reads them all first. Any thread.
  virtual Status visitTasks(const std::function<Status(const Task&)>& visit) {
    std::vector<Task> tasks;
    Status status = readTasks(tasks);
    for (const Task& task : tasks) {
      if (!status.isOk()) break;
      status = visit(task);
    }
    return status;
  }
};

// The two ways a commit fails for want of room, as the message's start: the filesystem is full
// (ENOSPC, EDQUOT, or EIO from a short write with the filesystem nearly full) or LMDB's map is
// (MDB_MAP_FULL). Either leaves the store as it was before the commit, and usable: a later
// commit succeeds once there is room.
inline constexpr std::string_view kNoSpaceMessage = "no space left on device";
inline constexpr std::string_view kStoreFullMessage = "store is full";
// True for a Status made from either.
bool isOutOfRoom(const Status& status);

// Entries no longer needed (journal values a finished checkpoint covers, progress and inbound
// records past their keep time) are deleted a bounded number per commit, sized by the commit's
// own work (boundByWork, engine/records.hpp): kTrimPerRecord per record of the kind it
// appends, at least kTrimPerCommitMin and at most the kind's maximum. The table grows by one entry
// per such record, so the trim outpaces it; and a small round is not made to carry a whole backlog:
// a delete costs ~0.6 us of the commit's CPU, and a fixed 16,384 made the rounds right after a
// checkpoint commit for 10-15 ms instead of ~1 (perf/RESULTS.md, lateness at 38,400 steps/s).
inline constexpr std::size_t kTrimPerRecord = 2;
// A journal or progress log value's entries, at most, before its checksum (unless one entry
// alone is longer): with its 12-byte key and LMDB's 8-byte node header it stays under the
// largest node a 4 KiB page holds itself (2,038 bytes; a larger value takes overflow pages
// of its own), and two fill a page.
inline constexpr std::size_t kLogValueBytesDefault = 1900;
inline constexpr std::size_t kTrimPerCommitMin = 1024;
inline constexpr std::size_t kJournalTrimPerCommitMax = 16384;
// What one commit of `batch` deletes from the journal at most, in values: by its enrollment
// snapshots and checkpoint rows, up to kJournalTrimPerCommitMax.
std::size_t journalTrimBound(const WriteBatch& batch);
// What one commit of `batch` deletes from the progress log, and from the inbound table, at
// most: by its progress records, up to `most` (StoreOptions::history_trim_per_commit_max).
std::size_t historyTrimBound(const WriteBatch& batch, std::size_t most);

struct StoreOptions {
  std::uint64_t map_bytes = kStoreMapBytesDefault;
  // false only in tests that simulate crashes inside the process (a commit is still atomic;
  // it is just not flushed): seqd itself always syncs.
  bool sync_for_durability = true;
  // Progress and inbound values deleted per commit at most (engine/records.hpp, "History";
  // historyTrimBound()); smaller only in tests, so that a truncation spans several commits.
  std::size_t history_trim_per_commit_max = 16384;
  // Bytes of entries the journal and the progress log pack into one value at most (one
  // entry alone may be longer). 0, only in tests that watch single records come and go:
  // one entry a value.
  std::size_t log_value_bytes = kLogValueBytesDefault;
  // Whether the open maps the file's pages in one call before its walk reads them
  // (io/lmdb_store.cpp, mapStoreAhead()); false only in perf/store_open_bench, to measure it.
  bool map_pages_ahead = true;
  // After commits of 100k records (no contacts among them), the map's pages are dropped only
  // once this long has passed since the last drop (0: whenever 100k records were written). Each
  // page the next commits read again after a drop (the checkpoint's, the logs' ends, the pages
  // LMDB reuses) is a page fault: dropping them every 100k records made a 1M advance's
  // committer fault ~54k times, against ~8k at 5000 ms, and 5000 ms took durable steps/s at 1M
  // from ~290k to ~347k. It stays 0 in seqd until the real clock is measured better: at 5000
  // ms the lateness at the real clock's peak (48,000 steps/s) had a p99 of 229-840 ms in three
  // runs, against 199-498 ms in four with a drop every 100k records, too wide a spread to
  // tell, and seqd's real clock comes before its bursts (perf/RESULTS.md, "The store's pages
  // dropped ..."). A commit's 10k contacts (imports, on pages all over their tree) drop them
  // at once, whatever this says.
  std::int64_t release_map_interval_ms = 0;
};

// Opens (creating if needed) the LMDB store in dir. Missing directories are created with
// mode 0750 (less the umask); data files are created 0640. A damaged store gives Corruption
// ("state dir DIR is damaged: <what>; restore from backup or move it away"), a store of
// another schema version InvalidArgument, a store already open FailedPrecondition.
Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir);
Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir, const StoreOptions& options);

}  // namespace seqd
