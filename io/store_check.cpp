#include "io/store_check.hpp"

#include <cstring>

#include "io/crc32c.hpp"

namespace seqd {

std::uint32_t storeValueChecksum(std::string_view db, std::string_view key,
                                 std::string_view payload) {
  const char key_size[4] = {
      static_cast<char>(key.size() & 0xff), static_cast<char>((key.size() >> 8) & 0xff),
      static_cast<char>((key.size() >> 16) & 0xff), static_cast<char>((key.size() >> 24) & 0xff)};
  std::uint32_t crc = crc32c(db);
  crc = crc32c(std::string_view("\0", 1), crc);
  crc = crc32c(std::string_view(key_size, 4), crc);
  crc = crc32c(key, crc);
  return crc32c(payload, crc);
}

void appendStoreChecksum(std::string_view db, std::string_view key, std::string& value) {
  const std::uint32_t crc = storeValueChecksum(db, key, value);
  for (std::size_t i = 0; i < kStoreChecksumBytes; ++i) {
    value += static_cast<char>((crc >> (8 * i)) & 0xff);
  }
}

bool checkedStorePayload(std::string_view db, std::string_view key, std::string_view stored,
                         std::string_view& payload) {
  if (stored.size() < kStoreChecksumBytes) return false;
  payload = stored.substr(0, stored.size() - kStoreChecksumBytes);
  std::uint32_t expected = 0;
  for (std::size_t i = kStoreChecksumBytes; i > 0; --i) {
    expected = (expected << 8) | static_cast<unsigned char>(stored[payload.size() + i - 1]);
  }
  return storeValueChecksum(db, key, payload) == expected;
}

bool withinFile(const char* file_begin, std::size_t file_bytes, const MDB_val& value) {
  if (file_begin == nullptr) return true;
  const auto* begin = static_cast<const char*>(value.mv_data);
  if (begin < file_begin || value.mv_size > file_bytes) return false;
  return static_cast<std::size_t>(begin - file_begin) <= file_bytes - value.mv_size;
}

namespace {

using PageId = std::size_t;            // LMDB's pgno_t / MDB_ID (midl.h), as free records hold them
constexpr std::size_t kMetaPages = 2;  // LMDB's two meta pages at the start of the file
constexpr MDB_dbi kFreeDbi = 0;        // LMDB's free-page DB, readable in a read-only txn
constexpr MDB_dbi kMainDbi = 1;        // LMDB's DB of named DBs

MDB_val mdbValue(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

std::string_view view(const MDB_val& value) {
  return std::string_view(static_cast<const char*>(value.mv_data), value.mv_size);
}

bool inFile(const StoreInspection& in, const MDB_val& value) {
  return withinFile(in.file_begin, in.file_bytes, value);
}

bool fail(StoreInspection& in, StoreProblem problem, const char* db, int rc = 0) {
  in.finding.problem = problem;
  in.finding.db = db;
  in.finding.rc = rc;
  return false;
}

bool failAt(StoreInspection& in, StoreProblem problem, const char* db, const MDB_val& key) {
  if (inFile(in, key)) {
    in.finding.key_bytes = key.mv_size < kKeyCopyBytesMax ? key.mv_size : kKeyCopyBytesMax;
    std::memcpy(in.finding.key, key.mv_data, in.finding.key_bytes);
  }
  return fail(in, problem, db);
}

bool failCount(StoreInspection& in, StoreProblem problem, const char* db, std::uint64_t found,
               std::uint64_t expected) {
  in.finding.found = found;
  in.finding.expected = expected;
  return fail(in, problem, db);
}

std::uint64_t treePages(const MDB_stat& stat) {
  return stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages;
}

void addPages(StoreInspection& in, const MDB_stat& stat) { in.tree_pages += treePages(stat); }

// Opens the named DBs that exist (no MDB_CREATE) and reads the raw schema_version.
bool findDatabases(StoreInspection& in) {
  MDB_stat stat{};
  int rc = mdb_stat(in.txn, kMainDbi, &stat);
  if (rc != 0) return fail(in, StoreProblem::kLmdbError, "main", rc);
  in.main_entries = stat.ms_entries;
  addPages(in, stat);
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    rc = mdb_dbi_open(in.txn, kStoreDbNames[i], 0, &in.dbis[i]);
    if (rc == MDB_NOTFOUND) continue;
    if (rc != 0) return fail(in, StoreProblem::kLmdbError, kStoreDbNames[i], rc);
    in.present[i] = true;
  }
  if (!in.present[kMetaDb]) return true;
  MDB_val key = mdbValue(kMetaSchemaVersion);
  MDB_val value{};
  rc = mdb_get(in.txn, in.dbis[kMetaDb], &key, &value);
  if (rc == MDB_NOTFOUND) return true;
  if (rc != 0) return fail(in, StoreProblem::kLmdbError, "meta", rc);
  if (!inFile(in, value)) return failAt(in, StoreProblem::kOutsideFile, "meta", key);
  in.schema_found = true;
  in.schema_bytes = value.mv_size;
  std::memcpy(in.schema, value.mv_data,
              value.mv_size < kSchemaCopyBytesMax ? value.mv_size : kSchemaCopyBytesMax);
  return true;
}

// LMDB's default order: memcmp over the common length, then the shorter first.
bool keyAbove(const MDB_val& previous, const MDB_val& key) {
  const std::size_t common = previous.mv_size < key.mv_size ? previous.mv_size : key.mv_size;
  const int order = std::memcmp(previous.mv_data, key.mv_data, common);
  return order < 0 || (order == 0 && previous.mv_size < key.mv_size);
}

bool checkEntry(StoreInspection& in, const char* db, const MDB_val& key, const MDB_val& value,
                const MDB_val& previous) {
  if (!inFile(in, key) || !inFile(in, value))
    return failAt(in, StoreProblem::kOutsideFile, db, key);
  if (key.mv_size == 0 || key.mv_size > in.key_bytes_max) {
    return failAt(in, StoreProblem::kKeySize, db, key);
  }
  if (previous.mv_data != nullptr && !keyAbove(previous, key)) {
    return failAt(in, StoreProblem::kKeyOrder, db, key);
  }
  std::string_view payload;
  if (!checkedStorePayload(db, view(key), view(value), payload)) {
    return failAt(in, StoreProblem::kChecksum, db, key);
  }
  return true;
}

bool walkDatabase(StoreInspection& in, std::size_t index) {
  const char* db = kStoreDbNames[index];
  MDB_stat stat{};
  int rc = mdb_stat(in.txn, in.dbis[index], &stat);
  if (rc != 0) return fail(in, StoreProblem::kLmdbError, db, rc);
  addPages(in, stat);
  if ((rc = mdb_cursor_open(in.txn, in.dbis[index], &in.cursor)) != 0) {
    return fail(in, StoreProblem::kLmdbError, db, rc);
  }
  MDB_val key{};
  MDB_val value{};
  MDB_val previous{};
  std::uint64_t entries = 0;
  for (rc = mdb_cursor_get(in.cursor, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(in.cursor, &key, &value, MDB_NEXT)) {
    if (++entries > stat.ms_entries) {
      return failCount(in, StoreProblem::kEntryCount, db, entries, stat.ms_entries);
    }
    if (!checkEntry(in, db, key, value, previous)) return false;
    previous = key;
  }
  mdb_cursor_close(in.cursor);
  in.cursor = nullptr;
  if (rc != MDB_NOTFOUND) return fail(in, StoreProblem::kLmdbError, db, rc);
  if (entries != stat.ms_entries) {
    return failCount(in, StoreProblem::kEntryCount, db, entries, stat.ms_entries);
  }
  in.entries[index] = entries;
  return true;
}

// One free-list record: [n, page ids...], each page past the meta pages, in use range, and
// free only once.
bool checkFreeRecord(StoreInspection& in, const MDB_val& value) {
  constexpr std::size_t kIdBytes = sizeof(PageId);
  if (!inFile(in, value)) return fail(in, StoreProblem::kFreeList, "free");
  if (value.mv_size < kIdBytes || value.mv_size % kIdBytes != 0) {
    return fail(in, StoreProblem::kFreeList, "free");
  }
  const auto* bytes = static_cast<const char*>(value.mv_data);
  PageId count = 0;
  std::memcpy(&count, bytes, kIdBytes);
  if (count != value.mv_size / kIdBytes - 1) return fail(in, StoreProblem::kFreeList, "free");
  for (PageId i = 1; i <= count; ++i) {
    PageId page = 0;
    std::memcpy(&page, bytes + i * kIdBytes, kIdBytes);
    if (page < kMetaPages || page >= in.page_count)
      return fail(in, StoreProblem::kFreeList, "free");
    std::uint64_t& word = in.free_seen[page / 64];
    const std::uint64_t bit = std::uint64_t{1} << (page % 64);
    if ((word & bit) != 0) return fail(in, StoreProblem::kFreeList, "free");
    word |= bit;
  }
  in.free_pages += count;
  return true;
}

bool walkFreeList(StoreInspection& in) {
  MDB_stat stat{};
  int rc = mdb_stat(in.txn, kFreeDbi, &stat);
  if (rc != 0) return fail(in, StoreProblem::kLmdbError, "free", rc);
  addPages(in, stat);
  if ((rc = mdb_cursor_open(in.txn, kFreeDbi, &in.cursor)) != 0) {
    return fail(in, StoreProblem::kLmdbError, "free", rc);
  }
  MDB_val key{};
  MDB_val value{};
  std::uint64_t entries = 0;
  for (rc = mdb_cursor_get(in.cursor, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(in.cursor, &key, &value, MDB_NEXT)) {
    if (++entries > stat.ms_entries) {
      return failCount(in, StoreProblem::kEntryCount, "free", entries, stat.ms_entries);
    }
    if (!checkFreeRecord(in, value)) return false;
  }
  mdb_cursor_close(in.cursor);
  in.cursor = nullptr;
  if (rc != MDB_NOTFOUND) return fail(in, StoreProblem::kLmdbError, "free", rc);
  return true;
}

}  // namespace

void findStoreDatabasesBody(void* context) {
  StoreInspection& in = *static_cast<StoreInspection*>(context);
  if (!findDatabases(in)) return;
  // A store of schema 2 or 3 lacks DBs added since: it is walked without them, and converted.
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if (!in.present[i] && !addedSinceSchema2(i)) return;
  }
  if (!in.schema_found || in.schema_bytes != kSchemaVersionBytes + kStoreChecksumBytes) return;
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if (!in.present[i]) continue;
    MDB_stat stat{};
    const int rc = mdb_stat(in.txn, in.dbis[i], &stat);
    if (rc != 0) {
      fail(in, StoreProblem::kLmdbError, kStoreDbNames[i], rc);
      return;
    }
    in.db_pages[i] = treePages(stat);
    in.walk[i] = true;
  }
  in.walk_free_list = true;
  in.walkable = true;
}

void walkStoreBody(void* context) {
  StoreInspection& in = *static_cast<StoreInspection*>(context);
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if (!in.walk[i]) continue;
    in.walking = i;
    if (!walkDatabase(in, i)) return;
  }
  in.walking = kStoreDbCount;
  if (in.walk_free_list) walkFreeList(in);
}

void checkPageCount(StoreInspection& in) {
  if (in.finding.problem != StoreProblem::kNone) return;
  const std::uint64_t accounted = kMetaPages + in.tree_pages + in.free_pages;
  if (accounted > in.page_count) {
    failCount(in, StoreProblem::kPageCount, "free", accounted, in.page_count);
  }
}

}  // namespace seqd
