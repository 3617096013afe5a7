// StoreCheck: the integrity layer under the LMDB store (io/store.hpp says what it checks and
// why). It owns the checksum every stored value carries and the walk that verifies a whole
// store at open, in the spirit of mdb_stat -ef and mdb_dump: every entry of every DB, and
// LMDB's free-page list.
//
// The walk runs under runGuarded() (io/map_fault_guard.hpp): a fault inside LMDB jumps out of
// it without running destructors. So everything here is written like C: only trivially
// destructible locals; results go in the StoreInspection, and so does the cursor the walk
// has open, for the caller to close after a fault.
//
// Thread-safety: pure functions of their arguments; a StoreInspection belongs to one call.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace seqd {

enum StoreDb : std::size_t {
  kContactsDb,
  kEnrollmentsDb,
  kProgressDb,
  kSequencesDb,
  kJournalDb,
  kTasksDb,
  kInboundDb,
  kMetaDb,
  kTeamsDb,    // after meta: the counts record covers the DBs before meta only
  kSymbolsDb,  // likewise
  kStoreDbCount,
};
inline constexpr const char* kStoreDbNames[kStoreDbCount] = {
    "contacts", "enrollments", "progress", "sequences", "journal",
    "tasks",    "inbound",     "meta",     "teams",     "symbols"};
// The DBs a store of an older schema may lack (added by its conversion at open): schema 2
// had no journal, schema 3 no tasks and no inbound table, and a schema 4 store made before
// lists and sharing no teams table, one made before the enrollment format 4 no symbols table.
inline constexpr bool addedSinceSchema2(std::size_t db) {
  return db == kJournalDb || db == kTasksDb || db == kInboundDb || db == kTeamsDb ||
         db == kSymbolsDb;
}
// A DB a store of the current schema may lack: created empty at open.
inline constexpr bool addedInSchema4(std::size_t db) { return db == kTeamsDb || db == kSymbolsDb; }
inline constexpr std::string_view kMetaSchemaVersion = "schema_version";
inline constexpr std::size_t kSchemaVersionBytes = 4;
inline constexpr std::size_t kStoreChecksumBytes = 4;
inline constexpr std::size_t kKeyCopyBytesMax = 512;    // LMDB keys are at most 511 bytes
inline constexpr std::size_t kSchemaCopyBytesMax = 16;  // enough for any schema_version value

// CRC32C of: DB name | 0x00 | u32 LE key size | key | payload. The DB name and key are in
// it so that a value that lands under another key or DB fails too.
std::uint32_t storeValueChecksum(std::string_view db, std::string_view key,
                                 std::string_view payload);
// Appends the 4-byte little-endian checksum of `value` to it.
void appendStoreChecksum(std::string_view db, std::string_view key, std::string& value);
// Splits a stored value into its payload. False when it is too short for a checksum or the
// checksum does not match.
bool checkedStorePayload(std::string_view db, std::string_view key, std::string_view stored,
                         std::string_view& payload);

// Whether `value` lies inside the first file_bytes of the map at file_begin (always true when
// file_begin is null: where the map is is not known).
bool withinFile(const char* file_begin, std::size_t file_bytes, const MDB_val& value);

enum class StoreProblem {
  kNone,
  kLmdbError,    // LMDB returned rc
  kOutsideFile,  // a key or value LMDB returned lies (partly) past the end of data.mdb
  kKeySize,      // empty or longer than LMDB keys
  kKeyOrder,     // not above the key before it
  kChecksum,     // value checksum mismatch
  kEntryCount,   // the cursor saw `found` entries, LMDB counts `expected`
  kFreeList,     // a free-page record that LMDB did not write
  kPageCount,    // more pages in trees and free lists than the file has
};

struct StoreFinding {
  StoreProblem problem = StoreProblem::kNone;
  const char* db = nullptr;
  int rc = 0;
  char key[kKeyCopyBytesMax] = {};
  std::size_t key_bytes = 0;
  std::uint64_t found = 0;
  std::uint64_t expected = 0;
};

struct StoreInspection {
  // Inputs.
  MDB_txn* txn = nullptr;
  const char* file_begin = nullptr;  // null: where LMDB mapped the file is not known
  std::size_t file_bytes = 0;
  std::size_t key_bytes_max = 0;
  std::uint64_t page_count = 0;        // pages in use: last_pgno + 1
  std::uint64_t* free_seen = nullptr;  // a bit per page, page_count bits
  // What walkStoreBody walks: the DBs marked here, in DB order, then the free-page list when
  // walk_free_list. findStoreDatabasesBody marks every DB it found and the list.
  bool walk[kStoreDbCount] = {};
  bool walk_free_list = false;
  // Outputs.
  MDB_cursor* cursor = nullptr;  // open when the walk was cut short: the caller closes it
  bool present[kStoreDbCount] = {};
  MDB_dbi dbis[kStoreDbCount] = {};
  std::uint64_t main_entries = 0;
  bool schema_found = false;
  char schema[kSchemaCopyBytesMax] = {};
  std::size_t schema_bytes = 0;
  bool walkable = false;                       // see findStoreDatabasesBody
  std::uint64_t db_pages[kStoreDbCount] = {};  // each found DB's pages, as LMDB counts them
  // Where walkStoreBody stopped: the DB it was walking, kStoreDbCount for the free-page list.
  std::size_t walking = kStoreDbCount;
  std::uint64_t entries[kStoreDbCount] = {};
  std::uint64_t tree_pages = 0;
  std::uint64_t free_pages = 0;
  StoreFinding finding;
  // The snapshot (mdb_txn_id) a walk of every DB read, 0 when the walk was not of one.
  std::size_t walked_snapshot = 0;
};

// The walk comes in two guarded bodies, for runGuarded(), each taking a StoreInspection with
// its inputs set as `context`; checkPageCount() ends it.
//
// findStoreDatabasesBody opens the named DBs that exist (no MDB_CREATE), counts their pages
// and reads the raw schema_version. When a DB is missing (other than one an older schema
// lacks) or the schema is not this version's, it stops there with no finding, for the caller
// to decide what those mean. Otherwise it sets `walkable` and marks every DB it found and the
// free-page list to walk.
void findStoreDatabasesBody(void* context);
// walkStoreBody walks what `walk` and `walk_free_list` mark and stops at the first problem,
// recorded in `finding`, with `walking` saying where. The DB handles (`dbis`) must be usable
// in `txn`: opened in it, or committed.
void walkStoreBody(void* context);
// After the walks: every page is a meta page, in a tree or free. Fewer is tolerated (a leaked
// page is harmless); more means page counts or free records LMDB did not write (a finding).
void checkPageCount(StoreInspection& in);

}  // namespace seqd
