// The LMDB implementation of Store; the schema, the damage checks, the write path and the
// caveats are in io/store.hpp.
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <source_location>
#include <span>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/assert.hpp"
#include "io/map_fault_guard.hpp"
#include "io/record_codec.hpp"
#include "io/state_marker.hpp"
#include "io/store.hpp"
#include "io/store_check.hpp"
#include "io/symbol_codes.hpp"
#include "io/thread_name.hpp"

namespace seqd {
namespace {

constexpr MDB_dbi kDatabasesMax = 12;  // ten used; room to add without a reopen dance
constexpr mode_t kDirectoryMode = 0750;
constexpr mode_t kFileMode = 0640;
constexpr std::size_t kPathComponentsMax = 256;
constexpr const char* kLockFileName = "seqd.lock";
constexpr const char* kDataFileName = "data.mdb";
constexpr std::string_view kMetaStoreId = "store_id";
constexpr std::string_view kMetaCounts = "counts";
constexpr std::string_view kMetaClock = "clock_ms";
constexpr std::string_view kMetaCheckpoint = "checkpoint";
constexpr std::string_view kMetaGovernor = "governor";
constexpr std::size_t kAnyPayloadBytes = SIZE_MAX;
constexpr std::size_t kEnrollmentKeyBytes = 4;
constexpr std::size_t kSymbolCodeKeyBytes = 4;  // u32 big-endian, as an enrollment id
constexpr std::size_t kProgressKeyBytes = 8;
constexpr std::size_t kClockValueBytes = 8;
constexpr std::size_t kStoreIdBytes = 16;
constexpr std::size_t kCountsFields = 10;
constexpr std::size_t kCountsValueBytes = kCountsFields * 8;
constexpr std::size_t kSchema2CountsValueBytes = 6 * 8;
constexpr std::size_t kSchema3CountsValueBytes = 8 * 8;
constexpr std::size_t kCheckpointValueBytes = 16;
constexpr std::size_t kJournalIdBytes = 4;  // a journal entry's u32 LE EnrollmentId
constexpr const char* kBackupDirPrefix = "backup-schema-";
constexpr std::size_t kMapsLineBytesMax = 8192;  // one /proc/self/maps line
// A garbled page can make LMDB read up to two 64 KiB offsets past it; faults that far past
// the end of the map are still reads of the map.
constexpr std::size_t kFaultSlackBytes = std::size_t{1} << 20;

// Memory straight from the OS, for a load's large temporaries: what it frees leaves the
// resident set at once. From the allocator, the 16 bytes an enrollment of the rows' contact
// keys stayed resident in the free pages of a thread that then sleeps.
template <typename T>
struct OsPagesAllocator {
  using value_type = T;
  OsPagesAllocator() = default;
  template <typename U>
  OsPagesAllocator(const OsPagesAllocator<U>&) {}  // NOLINT: converting, as allocators are
  T* allocate(std::size_t count) {
    void* pages = ::mmap(nullptr, count * sizeof(T), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(pages);
  }
  void deallocate(T* pages, std::size_t count) { ::munmap(pages, count * sizeof(T)); }
  friend bool operator==(const OsPagesAllocator&, const OsPagesAllocator&) { return true; }
};
using ContactKeyBytes = std::vector<std::string_view, OsPagesAllocator<std::string_view>>;

// The enrollment table's rows as the journal's tail leaves them, before their contact keys
// are interned: each row's key as its bytes (views into the map, valid with the read
// transaction), in table_keys by the rows' order (id order). The rows the table does not
// hold (added since the checkpoint) are the journal shares' (JournalShare::added).
struct RowsLoad {
  ContactKeyBytes table_keys;
  // The rows' sends out by enrollment id: the table's, then each journal entry's over its
  // row's (an entry without one takes its row's away).
  boost::unordered_flat_map<EnrollmentId, SendOut> sends;
  // The rows' extras (those not empty) by enrollment id, the same way.
  boost::unordered_flat_map<EnrollmentId, EnrollmentExtras> extras;
  // A table row whose journal entry names another contact key than the row (an enrollment's
  // contact never changes, so only a damaged or hand-made store has one): its position and
  // the entry's key, the last entry's last. The journal leaves table_keys as the table had
  // them, so that another thread can read them meanwhile.
  std::vector<std::pair<std::size_t, std::string_view>> rekeyed;
  // Whether the table's ids are 0, 1, ..., each row at its id (always, unless damaged); set
  // before `table` says the rows are read.
  bool dense = true;
  // Whether the table's rows are read (set and notified once they are, or once reading them
  // failed).
  std::atomic<int> table{kTableReading};
  static constexpr int kTableReading = 0;
  static constexpr int kTableRead = 1;
  static constexpr int kTableFailed = 2;
};

// Enrollments a journal share takes together: runs of ids, so that two threads' rows
// share a cache line only where runs meet.
constexpr EnrollmentId kJournalShareRunIds = 64;

// One thread's share of the journal's tail: the entries of the enrollments whose run of ids
// (kJournalShareRunIds) is `index` modulo `count`, applied in seq order over the table's rows.
// Each enrollment's entries are all in one share, so its latest is the row left, and no two
// shares write the same row. What a share changes beside the rows (RowsLoad's maps, the rows
// the table lacks) it keeps here until every share is done (mergeJournalShare). Runs, not
// halves of the ids, so that the shares stay even when the entries crowd some ids (the
// enrollments added last, say). Each share reads every value of the tail; decoding the
// entries is the cost, and each entry is decoded by one share only.
struct JournalShare {
  std::size_t index = 0;
  std::size_t count = 1;
  bool owns(EnrollmentId id) const { return (id / kJournalShareRunIds) % count == index; }

  std::vector<Enrollment> added;  // in journal order
  std::vector<std::string_view> added_keys;
  boost::unordered_flat_map<EnrollmentId, std::size_t> added_at;
  // A send out or extras set (a value), or taken away from the table's row (none): the
  // latest by id.
  boost::unordered_flat_map<EnrollmentId, std::optional<SendOut>> sends;
  boost::unordered_flat_map<EnrollmentId, std::optional<EnrollmentExtras>> extras;
  std::vector<std::pair<std::size_t, std::string_view>> rekeyed;
  std::vector<EnrollmentId> journal_ids;
  Status status;
  // Where in seq order the share stopped on a failure (the entry's seq; for a value's key,
  // the seq after the value before): of several shares' failures the earliest is reported,
  // as one reader in order would.
  std::uint64_t failed_at = UINT64_MAX;
};

// Takes a share's changes into the rows' maps and lists, and frees them in the share. Its
// added rows stay in it.
void mergeJournalShare(JournalShare& share, RowsLoad& rows, LoadedState& state) {
  for (const auto& [id, send] : share.sends) {
    if (send.has_value()) {
      rows.sends[id] = *send;
    } else {
      rows.sends.erase(id);
    }
  }
  for (const auto& [id, extras] : share.extras) {
    if (extras.has_value()) {
      rows.extras[id] = *extras;
    } else {
      rows.extras.erase(id);
    }
  }
  rows.rekeyed.insert(rows.rekeyed.end(), share.rekeyed.begin(), share.rekeyed.end());
  state.journal_ids.insert(state.journal_ids.end(), share.journal_ids.begin(),
                           share.journal_ids.end());
  share.sends = {};
  share.extras = {};
  share.rekeyed = {};
  share.journal_ids = {};
  share.added_at = {};
}

// A load interns this many contacts' Symbols under one lock (SymbolBatch): a lock per key was
// ~15% of a restart's load. Bounded, so that what the other load thread interns meanwhile
// (now and then a new list of steps done) waits little.
constexpr std::size_t kInternBatchMax = 256;

// keys[i] = the key of records[i] (a key and its value) interned, all under one lock, each
// window of keys' lines in the table asked for ahead (SymbolBatch). `texts` is scratch.
void internKeys(const std::vector<std::pair<std::string_view, std::string_view>>& records,
                std::vector<std::string_view>& texts, std::vector<Symbol>& keys) {
  texts.resize(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) texts[i] = records[i].first;
  keys.resize(records.size());
  const SymbolBatch symbols;
  symbols(texts, keys);
}

// Rows a restart looks up under one lock of the Symbol table (half on each of two threads
// when both are free). Bounded, as kInternBatchMax, so that the lock is held a few ms at a time.
constexpr std::size_t kLookupChunkRows = std::size_t{1} << 15;
// Keys looked up by one SymbolBatch::find (which asks for their lines a window ahead).
constexpr std::size_t kLookupBatch = 256;

// Sets rows[i]'s contact key to keys[i] interned, for each i. The contacts' load has interned
// nearly all of them already, so each is first looked up (SymbolBatch::find): a chunk at a
// time, under one lock, and while `alone()` says no other load thread is busy, half of each
// chunk on a second thread. A 10M restart's rows' keys, looked up on one thread after the
// load, were ~20% of its samples, most of it waiting on memory (the table's slot, the entry,
// the text: each a cache miss), which two threads overlap. A key not found (a row naming a
// contact the table lacks) is interned after its chunk, on this thread. Writes only the rows'
// contact_key members: another thread may write the rows' other members meanwhile.
template <typename Keys, typename Alone>
void internContactKeys(const Keys& keys, std::vector<Enrollment>& rows, const Alone& alone) {
  SEQD_ASSERT(keys.size() == rows.size());
  std::vector<std::size_t> missing;
  std::vector<std::size_t> missing_second;
  const auto look_up = [&](const SymbolBatch& symbols, std::size_t from, std::size_t to,
                           std::vector<std::size_t>& missed) {
    std::optional<Symbol> found[kLookupBatch];
    for (std::size_t start = from; start < to; start += kLookupBatch) {
      const std::size_t count = std::min(kLookupBatch, to - start);
      symbols.find(std::span(keys.data() + start, count), std::span(found, count));
      for (std::size_t i = 0; i < count; ++i) {
        if (found[i]) {
          rows[start + i].contact_key = *found[i];
        } else {
          missed.push_back(start + i);
        }
      }
    }
  };
  for (std::size_t start = 0; start < rows.size(); start += kLookupChunkRows) {
    const std::size_t end = std::min(rows.size(), start + kLookupChunkRows);
    const SymbolBatch symbols;
    if (end - start < kLookupChunkRows || !alone()) {
      look_up(symbols, start, end, missing);
    } else {
      const std::size_t middle = start + (end - start) / 2;
      std::thread second([&] { look_up(symbols, middle, end, missing_second); });
      look_up(symbols, start, middle, missing);
      second.join();
      missing.insert(missing.end(), missing_second.begin(), missing_second.end());
      missing_second.clear();
    }
    for (std::size_t i : missing) rows[i].contact_key = symbols(keys[i]);
    missing.clear();
  }
}

template <typename Keys>
void internContactKeys(const Keys& keys, std::vector<Enrollment>& rows) {
  internContactKeys(keys, rows, [] { return true; });
}

// A map's entries by enrollment id ascending.
template <typename Value>
std::vector<std::pair<EnrollmentId, Value>> byIdAscending(
    const boost::unordered_flat_map<EnrollmentId, Value>& by_id) {
  std::vector<std::pair<EnrollmentId, Value>> entries(by_id.begin(), by_id.end());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return entries;
}

MDB_val mdbValue(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

std::string_view view(const MDB_val& value) {
  return std::string_view(static_cast<const char*>(value.mv_data), value.mv_size);
}

std::string littleEndian(std::uint64_t value, std::size_t bytes) {
  std::string out(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

std::uint64_t fromLittleEndian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = bytes.size(); i > 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i - 1]);
  }
  return value;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char byte : bytes) {
    out += kDigits[static_cast<unsigned char>(byte) >> 4];
    out += kDigits[static_cast<unsigned char>(byte) & 0xf];
  }
  return out;
}

Status errnoStatus(const std::string& what, int error) {
  std::string message = what + ": " + std::strerror(error);
  if (error == EACCES || error == EPERM) return Status::permissionDenied(std::move(message));
  return Status::ioError(std::move(message));
}

// ---------------------------------------------------------------------------------------
// The meta counts record.

struct Counts {
  // contacts, enrollments, progress, sequences, journal, tasks, inbound
  std::uint64_t entries[kMetaDb] = {};
  std::uint64_t last_progress_seq = 0;
  std::uint64_t commits = 0;
  std::uint64_t last_journal_seq = 0;  // stays when the journal is trimmed empty
};
static_assert(kMetaDb + 3 == kCountsFields, "the counts record follows the DB list");

std::string encodeCounts(const Counts& counts) {
  std::string out;
  for (const std::uint64_t entries : counts.entries) out += littleEndian(entries, 8);
  out += littleEndian(counts.last_progress_seq, 8);
  out += littleEndian(counts.commits, 8);
  out += littleEndian(counts.last_journal_seq, 8);
  return out;
}

Counts decodeCounts(std::string_view bytes) {  // REQUIRES: bytes.size() == kCountsValueBytes
  Counts counts;
  std::size_t at = 0;
  const auto next = [&] { return fromLittleEndian(bytes.substr(8 * at++, 8)); };
  for (std::uint64_t& entries : counts.entries) entries = next();
  counts.last_progress_seq = next();
  counts.commits = next();
  counts.last_journal_seq = next();
  return counts;
}

// The checkpoint record: where the checkpoint in progress started, and where the last
// finished one started (journal seqs; engine/records.hpp says what they mean).
struct Checkpoint {
  std::uint64_t started_through = 0;
  std::uint64_t finished_through = 0;
};

std::string encodeCheckpoint(const Checkpoint& checkpoint) {
  return littleEndian(checkpoint.started_through, 8) + littleEndian(checkpoint.finished_through, 8);
}

// ---------------------------------------------------------------------------------------

[[noreturn]] void roundTripFailed(const char* db, std::string_view key,
                                  std::source_location location) {
  std::fprintf(stderr, "%s:%u: assertion failed: %s record '%s' does not decode back equal\n",
               location.file_name(), static_cast<unsigned>(location.line()), db,
               printableKey(key).c_str());
  std::abort();
}

// What a record decodes back to: itself, but a packed contact, which decodes to a Contact.
template <typename Record>
struct DecodedAs {
  using type = Record;
};
template <>
struct DecodedAs<PackedContact> {
  using type = Contact;
};

// `codes`: the symbols table an enrollment value of format 4 names its strings in.
Status decodeLike(const PackedContact& record, std::string_view value, Contact& out,
                  const SymbolCodes*) {
  return decodeContact(record.key(), value, out);
}
Status decodeLike(const EnrollmentRecord& record, std::string_view value, EnrollmentRecord& out,
                  const SymbolCodes* codes) {
  EnrollmentDecodeMemo memo;
  memo.codes = codes;
  out.row.contact_key = record.row.contact_key;  // a journal entry of format 5 leaves it out
  return decodeEnrollment(record.row.id, value, out, memo);
}
Status decodeLike(const ProgressRecord& record, std::string_view value, ProgressRecord& out,
                  const SymbolCodes*) {
  return decodeProgress(record.seq, value, out);
}
Status decodeLike(const Task& record, std::string_view value, Task& out, const SymbolCodes*) {
  return decodeTask(record.id, value, out);
}
Status decodeLike(const GovernorSnapshot&, std::string_view value, GovernorSnapshot& out,
                  const SymbolCodes*) {
  return decodeGovernor(value, out);
}
bool same(const GovernorSnapshot& left, const GovernorSnapshot& right) { return left == right; }
bool same(const Task& left, const Task& right) { return sameTask(left, right); }
bool same(const PackedContact& left, const Contact& right) {
  return sameContact(left.unpack(), right);
}
bool same(const EnrollmentRecord& left, const EnrollmentRecord& right) {
  return sameEnrollment(left, right);
}
bool same(const ProgressRecord& left, const ProgressRecord& right) {
  return sameProgress(left, right);
}

#ifdef NDEBUG
constexpr bool kVerifyRoundTrip = false;
#else
constexpr bool kVerifyRoundTrip = true;
#endif

// The pre-write check: the encoder refused nothing (io/record_codec.hpp), with the key named.
// Debug builds also decode the value back and compare it with the record: a difference is
// our codec's bug and aborts with file and line.
// REQUIRES: `encoded` was made by the encoding that returned encoded_status, in a statement
// before this call (as arguments of one call, the two would be evaluated in no set order).
template <typename Record>
Status checkEncoded(const Status& encoded_status, const Record& record, std::string_view encoded,
                    const char* db, std::string_view key, const SymbolCodes* codes = nullptr,
                    std::source_location location = std::source_location::current()) {
  if (!encoded_status.isOk()) {
    return Status::invalidArgument(std::string(db) + " key '" + printableKey(key) +
                                   "' cannot be stored: " + encoded_status.message());
  }
  if (kVerifyRoundTrip) {
    typename DecodedAs<Record>::type decoded;
    if (!decodeLike(record, encoded, decoded, codes).isOk() || !same(record, decoded)) {
      roundTripFailed(db, key, location);
    }
  }
  return Status::ok();
}

// Appends entries of consecutive seqs to the journal or the progress log (a cursor on it),
// packed into values (io/record_codec.hpp, "Log values") of up to value_bytes of entries
// (one entry alone may be longer; 0: one entry a value), each put with MDB_APPEND once it
// is full, when a seq does not follow the one before, or at flush(). The calls return
// LMDB's code (MDB_KEYEXIST: a value's key not above the last in the DB).
class LogValueWriter {
 public:
  LogValueWriter(MDB_cursor* cursor, const char* db, std::size_t value_bytes, std::string& value)
      : cursor_(cursor), db_(db), value_bytes_(value_bytes), value_(value) {
    value_.clear();
  }

  // The entry of `seq` (above the last added): head then body.
  int add(std::uint64_t seq, std::string_view head, std::string_view body) {
    if (count_ > 0 &&
        (seq != last_seq_ + 1 ||
         value_.size() + kLogEntryLengthBytesMax + head.size() + body.size() > value_bytes_)) {
      if (const int rc = flush(); rc != 0) return rc;
    }
    if (count_ == 0) first_seq_ = seq;
    appendLogEntry(head, body, value_);
    ++count_;
    last_seq_ = seq;
    return 0;
  }
  int flush() {
    if (count_ == 0) return 0;
    const std::string key = encodeLogKey(first_seq_, count_);
    appendStoreChecksum(db_, key, value_);
    MDB_val mdb_key = mdbValue(key);
    MDB_val mdb_value = mdbValue(value_);
    const int rc = mdb_cursor_put(cursor_, &mdb_key, &mdb_value, MDB_APPEND);
    if (rc != 0) return rc;
    count_ = 0;
    value_.clear();
    return 0;
  }
  // The seqs of the value being made (or that failed to go in).
  std::uint64_t firstSeq() const { return first_seq_; }
  std::uint64_t lastSeq() const { return last_seq_; }
  const char* db() const { return db_; }

 private:
  MDB_cursor* cursor_;
  const char* db_;
  std::size_t value_bytes_;
  std::string& value_;
  std::uint64_t first_seq_ = 0;
  std::uint64_t last_seq_ = 0;
  std::uint32_t count_ = 0;
};

// Owns a transaction: aborts it unless committed.
class Transaction {
 public:
  Transaction() = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }

  int begin(MDB_env* env, unsigned flags) { return mdb_txn_begin(env, nullptr, flags, &txn_); }
  // Frees the transaction whatever the outcome.
  int commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

// Owns a cursor. Declare it after the Transaction it reads so it closes first.
class Cursor {
 public:
  Cursor() = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }

  int open(MDB_txn* txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &cursor_); }
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

// Creates each missing directory on the way to `dir` with kDirectoryMode.
Status createDirectories(const std::string& dir) {
  std::size_t components = 0;
  for (std::size_t slash = 0; slash != std::string::npos; ++components) {
    if (components >= kPathComponentsMax) {
      return Status::invalidArgument("store directory '" + dir + "' is nested too deep");
    }
    slash = dir.find('/', slash + 1);
    const std::string prefix = dir.substr(0, slash);
    if (prefix.empty() || prefix.back() == '/') continue;
    if (::mkdir(prefix.c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
      return errnoStatus("cannot create store directory '" + prefix + "'", errno);
    }
  }
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) {
    return errnoStatus("cannot use store directory '" + dir + "'", errno);
  }
  if (!S_ISDIR(info.st_mode)) {
    return Status::ioError("store directory '" + dir + "' exists and is not a directory");
  }
  return Status::ok();
}

// Where the kernel mapped the file with this inode at offset 0 with this length (LMDB does
// not say: mdb_env_info's me_mapaddr is the MDB_FIXEDMAP hint from the meta page). Null when
// not found; then reads skip their bounds checks and the open-time walk takes a fault at any
// address as a fault in the map.
const char* findMapping(ino_t inode, std::size_t map_bytes) {
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return nullptr;
  std::vector<char> line(kMapsLineBytesMax);
  const char* found = nullptr;
  while (found == nullptr && std::fgets(line.data(), static_cast<int>(line.size()), maps)) {
    unsigned long begin = 0, end = 0, offset = 0, line_inode = 0;
    unsigned device_major = 0, device_minor = 0;
    char permissions[8] = {};
    if (std::sscanf(line.data(), "%lx-%lx %7s %lx %x:%x %lu", &begin, &end, permissions, &offset,
                    &device_major, &device_minor, &line_inode) != 7) {
      continue;
    }
    if (line_inode == inode && offset == 0 && end - begin == map_bytes) {
      found = reinterpret_cast<const char*>(begin);
    }
  }
  std::fclose(maps);
  return found;
}

// Maps the first `bytes` of the store's map (whole pages the file holds) into the process in
// one call, before the open's walk reads every page: MADV_POPULATE_READ (Linux 5.14) maps what
// the page cache holds and reads the rest in file order. Left to the walk, each page came in
// by a fault of its own, in the trees' order. A 10M-enrollment store (3.3 GB) opened ~0.2 s
// sooner with its pages in the page cache (1.47-1.67 s against 1.63-1.70), and 0.4-1.1 s
// sooner with none there (1.65-1.93 against 2.35-2.78; perf/store_open_bench, RESULTS.md).
// Skipped when the file is over half the machine's memory (the pages mapped first would be
// evicted before the walk reached them, and read twice). Only advice: where the kernel lacks
// it or refuses, the walk faults the pages in as before; a page past the file's end is never
// asked for (no SIGBUS).
void mapStoreAhead(const char* map_begin, std::size_t bytes) {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_bytes = ::sysconf(_SC_PAGESIZE);
  if (map_begin == nullptr || bytes == 0 || pages <= 0 || page_bytes <= 0) return;
  if (bytes > static_cast<std::size_t>(pages) / 2 * static_cast<std::size_t>(page_bytes)) return;
  ::madvise(const_cast<char*>(map_begin), bytes, MADV_POPULATE_READ);
}

// Once commits have written this many contacts, or this many records of any kind (and
// StoreOptions::release_map_interval_ms have passed), since the last release, the map's pages
// are dropped afterwards. An import's upserts land on pages all over the contacts tree, a page
// each; an advance's appends and a checkpoint's rows fill their pages one after another, tens
// to a page, and its next commits read the same pages again (each a fault after a release).
constexpr std::size_t kReleaseMapAfterContacts = 10000;
constexpr std::size_t kReleaseMapAfterRecords = 100000;

class LmdbStore final : public Store {
 public:
  LmdbStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  ~LmdbStore() override {
    // After fork() the child must not close the env: that would clear the parent's reader
    // slots in the shared lock file.
    if (env_ != nullptr && ::getpid() == opener_pid_) mdb_env_close(env_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  Status open(const StoreOptions& options);
  Status commit(const WriteBatch& batch) override;
  Status load(LoadedState& out) override;
  Result<std::uint64_t> lastProgressSeq() override;
  bool historyTrimPending() const override { return trim_pending_; }
  Status probeWrite() override;
  void releaseMappedPages() override;
  void idle() override;
  Status readTasks(std::vector<Task>& out) override;
  Status visitTasks(const std::function<Status(const Task&)>& visit) override;

 private:
  std::optional<std::uint64_t> outOfSpace(int rc) const;
  Status damaged(const std::string& what) const;
  Status corrupt(const char* db, std::string_view key, const std::string& reason) const;
  Status badLogKey(const char* db, std::string_view key) const;
  Status appendError(const LogValueWriter& writer, int rc) const;
  Status mdbError(const std::string& what, int rc) const;
  Status checkProcess() const;
  Status checkKey(const char* db, std::string_view key) const;

  Result<std::optional<StateMarker>> readMarker() const;
  Status checkDataFile(bool marked) const;
  Status openEnvironment(const StoreOptions& options);
  Status checkFileSize();
  Status inspect(StoreInspection& in, std::vector<std::uint64_t>& free_seen);
  Status walkSideBySide(StoreInspection& in, MapFault& fault, bool& finished);
  bool guarded(void (*body)(void*), StoreInspection& in, MapFault& fault) const;
  std::string describe(const MapFault& fault) const;
  std::string cutShort() const;  // the damage message for a data.mdb shorter than its pages
  std::string describe(const StoreFinding& finding) const;
  Status createDatabases();
  Status checkSchema(const StoreInspection& in) const;
  Result<std::uint64_t> schemaVersionOf(const StoreInspection& in) const;
  Status checkMeta(const StoreInspection& in, const std::optional<StateMarker>& marker);
  Status verifyStore(const std::optional<StateMarker>& marker);
  Status convertOlderSchema(StoreInspection& in, std::vector<std::uint64_t>& free_seen);
  Status addSchema4Databases(StoreInspection& in, std::vector<std::uint64_t>& free_seen);
  Status putTeam(MDB_txn* txn, const std::vector<TeamRecord>& records, std::string& scratch);
  Status loadTeam(MDB_txn* txn, std::vector<TeamRecord>& out) const;
  Status foldLogIntoTables(MDB_txn* txn);

  Status getVerified(MDB_txn* txn, MDB_dbi dbi, const char* db, std::string_view key,
                     std::size_t payload_bytes, std::optional<std::string_view>& payload) const;
  // Bytes of data.mdb a read may touch; 0 when unknown (no bounds check).
  std::size_t readableBytes() const;
  // Checks that the value (and the key, when a cursor returned it: key_in_map) lie in the
  // first readable_bytes of the map (0: no check, as in a write txn whose dirty pages are
  // not in the map), and the value's checksum, unless `walked` (the open's walk checked it:
  // walked_snapshot_).
  Status verifiedPayload(const char* db, const MDB_val& key, bool key_in_map, const MDB_val& stored,
                         std::size_t readable_bytes, std::string_view& payload,
                         bool walked = false) const;
  Result<std::uint64_t> lastSeqIn(MDB_txn* txn, std::size_t readable_bytes,
                                  std::size_t index = kProgressDb) const;

  Status putContacts(MDB_txn* txn, const std::vector<ContactRef>& contacts, std::string& scratch);
  Status putEnrollments(MDB_txn* txn, const EnrollmentSnapshots& enrollments, std::string& scratch);
  Status commitBatch(const WriteBatch& batch);
  void releaseWritten();
  bool keyed(EnrollmentId id) const {
    return id < keyed_.size() ? static_cast<bool>(keyed_[id]) : keyed_sparse_.contains(id);
  }
  // Sets or clears id's mark; returns whether that changed it.
  bool setKeyed(EnrollmentId id, bool keyed);
  void markKeyed(EnrollmentId id) {
    if (!keyed(id) && setKeyed(id, true)) keyed_pending_.push_back(id);
  }
  Status putJournal(MDB_txn* txn, const EnrollmentSnapshots& enrollments, std::string& scratch,
                    std::uint64_t& last_seq);
  Status putSymbols(MDB_txn* txn, std::string& scratch);
  Status trimJournal(MDB_txn* txn, std::uint64_t through, std::size_t deletes_max);
  Status logValueHolding(MDB_txn* txn, std::size_t index, std::uint64_t seq,
                         std::string& out) const;
  Status putCheckpoint(MDB_txn* txn, const WriteBatch& batch, std::uint64_t last_journal_seq,
                       Checkpoint& checkpoint);
  Status putProgress(MDB_txn* txn, const std::vector<ProgressRecord>& progress,
                     std::string& scratch);
  Status putSequences(MDB_txn* txn, const std::vector<SequenceState>& sequences);
  Status putTasks(MDB_txn* txn, const std::vector<Task>& tasks, std::string& scratch);
  Status trimHistory(MDB_txn* txn, std::size_t index, TimeMs keep_from_ms, std::size_t deletes_max,
                     bool keep_last, std::uint64_t covered_seq, bool& pending);
  Status putCounts(MDB_txn* txn, std::uint64_t commits, std::uint64_t last_journal_seq);
  Status putGovernor(MDB_txn* txn, const GovernorSnapshot& snapshot, std::string& scratch);
  // Appends the checksum to `value` and puts it.
  Status put(MDB_txn* txn, std::size_t index, std::string_view key, std::string& value);
  // The same through a cursor on DB `index`: puts in key order find most keys on the page of
  // the put before, without a descent from the root.
  Status putThrough(MDB_cursor* cursor, std::size_t index, std::string_view key,
                    std::string& value);
  template <typename Write>
  Status putChecked(std::size_t index, std::string_view key, std::string& value, Write write);

  template <typename Visit>
  Status forEach(MDB_txn* txn, std::size_t index, Visit visit, std::string_view from = {}) const;
  std::size_t entriesOf(MDB_txn* txn, std::size_t index) const;
  Status loadContacts(MDB_txn* txn, std::vector<ContactRef>& out) const;
  Status loadSymbols(MDB_txn* txn, SymbolCodes& out) const;
  Status readSymbols();
  Status loadContactsAndEnrollments(MDB_txn* txn, const SymbolCodes& codes, LoadedState& state,
                                    std::size_t& table_rows) const;
  Status loadEnrollments(MDB_txn* txn, const SymbolCodes& codes, std::vector<Enrollment>& out,
                         boost::unordered_flat_map<EnrollmentId, SendOut>& sends,
                         boost::unordered_flat_map<EnrollmentId, EnrollmentExtras>& extras,
                         ContactKeyBytes& contact_keys) const;
  Status loadEnrollmentTable(MDB_txn* txn, const SymbolCodes& codes, LoadedState& state,
                             RowsLoad& rows) const;
  Status loadJournal(MDB_txn* txn, const SymbolCodes& codes, std::vector<Enrollment>& table,
                     const RowsLoad& rows, JournalShare& share) const;
  Status loadCheckpoint(MDB_txn* txn, Checkpoint& out) const;
  Status loadGovernor(MDB_txn* txn, std::optional<GovernorSnapshot>& out) const;
  Status loadProgress(MDB_txn* txn, std::size_t index, std::vector<ProgressRecord>& out,
                      std::uint64_t after_seq = 0, std::size_t* values_read = nullptr) const;
  Status loadTasks(MDB_txn* txn, std::vector<Task>& out) const;
  Status forEachTask(MDB_txn* txn, const std::function<Status(const Task&)>& visit) const;
  Status loadSequences(MDB_txn* txn, std::vector<SequenceState>& out) const;
  Status loadClock(MDB_txn* txn, std::optional<TimeMs>& out) const;
  Status checkLoadedCounts(MDB_txn* txn, const std::uint64_t (&loaded)[kMetaDb]) const;

  std::string dir_;
  int lock_fd_ = -1;
  pid_t opener_pid_ = ::getpid();
  MDB_env* env_ = nullptr;
  std::size_t key_bytes_max_ = 0;
  std::size_t page_bytes_ = 0;
  std::uint64_t page_count_ = 0;     // pages in use at open
  std::uint64_t file_bytes_ = 0;     // data.mdb's size at open
  const char* map_begin_ = nullptr;  // null if the mapping was not found
  std::size_t map_bytes_ = 0;
  // The snapshot the open's walk found sound, every value's checksum included (0: none). A
  // read transaction of that very snapshot (nothing committed since) reads the values the
  // walk checked, so forEach does not work their checksums out again: the load, right after
  // the open, is the one that does (a 1M restart's load took 27% less time without them).
  std::size_t walked_snapshot_ = 0;
  std::uint64_t commits_ = 0;           // written by commit() only (the engine thread)
  std::uint64_t last_journal_seq_ = 0;  // likewise
  Checkpoint checkpoint_;               // likewise
  std::size_t history_trim_per_commit_max_ = 0;
  std::size_t log_value_bytes_ = kLogValueBytesDefault;
  bool map_pages_ahead_ = true;  // StoreOptions::map_pages_ahead
  bool trim_pending_ = false;    // written by commit() only
  // What commits wrote since the map's pages were last released, and when that was: written
  // by commit() and idle(), which may run on two threads (the committer's idle() beside the
  // engine thread's commit while the store is full), under release_mutex_.
  std::mutex release_mutex_;
  std::size_t contacts_since_release_ = 0;
  std::size_t records_since_release_ = 0;
  std::chrono::steady_clock::time_point released_at_ = std::chrono::steady_clock::now();
  std::chrono::milliseconds release_map_interval_{StoreOptions{}.release_map_interval_ms};
  // The last seq the send limits' snapshot covers: the log up to it is no longer read. Set by
  // load() and commit() (0 until then: the log is trimmed by time alone).
  std::uint64_t governor_through_seq_ = 0;
  // The strings enrollment rows name by code: read by load(), added to by commit().
  SymbolCodes codes_;
  // The enrollments whose contact key is on disk (in the table row, or in a journal entry
  // that holds it), so that their later journal entries leave it out (format 5): set by
  // load() for every row it read and by commit() for every row or keyed entry it writes.
  // Ids are dense from 0, so a bit each (1.25 MB at 10M); an id at or above kKeyedDenseMax
  // (only a test's or a damaged store's) goes in the set. keyed_pending_ names the ids a
  // commit marked, unmarked again when it fails.
  static constexpr EnrollmentId kKeyedDenseMax = EnrollmentId{1} << 28;
  std::vector<bool> keyed_;
  boost::unordered_flat_set<EnrollmentId> keyed_sparse_;
  std::vector<EnrollmentId> keyed_pending_;
  MDB_dbi dbis_[kStoreDbCount] = {};
};

Status LmdbStore::damaged(const std::string& what) const {
  return Status::corruption("state dir " + dir_ + " is damaged: " + what +
                            "; restore from backup or move it away");
}

Status LmdbStore::corrupt(const char* db, std::string_view key, const std::string& reason) const {
  return damaged(std::string(db) + " key '" + printableKey(key) + "': " + reason);
}

Status LmdbStore::badLogKey(const char* db, std::string_view key) const {
  if (key.size() != 8 && key.size() != kLogKeyBytes) {
    return corrupt(db, key, "key is " + std::to_string(key.size()) + " bytes, not 8 or 12");
  }
  return corrupt(db, key, "key names no entries");
}

Status LmdbStore::mdbError(const std::string& what, int rc) const {
  const std::string where = "store " + dir_ + ": ";
  if (std::optional<std::uint64_t> free_bytes = outOfSpace(rc)) {
    return Status::ioError(std::string(kNoSpaceMessage) + ": state dir " + dir_ + ": " + what +
                           " failed (" + mdb_strerror(rc) + ", " + std::to_string(*free_bytes) +
                           " bytes free)");
  }
  if (rc == MDB_MAP_FULL) {
    return Status::ioError("store is full: " + dir_ + ": " + what + ": " + mdb_strerror(rc) +
                           " (reopen with a larger map size)");
  }
  if (rc == MDB_TXN_FULL) {
    return Status::ioError(where + what + ": " + mdb_strerror(rc) +
                           " (too many changes in one commit)");
  }
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
      rc == MDB_VERSION_MISMATCH || rc == MDB_CURSOR_FULL) {
    return damaged(what + ": " + mdb_strerror(rc));
  }
  if (rc == EACCES || rc == EPERM) {
    return Status::permissionDenied(where + what + ": " + mdb_strerror(rc));
  }
  return Status::ioError(where + what + ": " + mdb_strerror(rc));
}

// The bytes free for us on the state dir's filesystem when rc means it is full: ENOSPC and
// EDQUOT always, EIO (a short write) when under kNoSpaceSlackBytes are free.
std::optional<std::uint64_t> LmdbStore::outOfSpace(int rc) const {
  if (rc != ENOSPC && rc != EDQUOT && rc != EIO) return std::nullopt;
  struct statvfs info {};
  if (::statvfs(dir_.c_str(), &info) != 0) {
    return rc == EIO ? std::nullopt : std::optional<std::uint64_t>(0);
  }
  const std::uint64_t blocks = ::geteuid() == 0 ? info.f_bfree : info.f_bavail;
  const std::uint64_t free_bytes = blocks * info.f_frsize;
  if (rc == EIO && free_bytes >= kNoSpaceSlackBytes) return std::nullopt;
  return free_bytes;
}

Status LmdbStore::checkProcess() const {
  if (::getpid() == opener_pid_) return Status::ok();
  return Status::failedPrecondition("store " + dir_ + " was opened by process " +
                                    std::to_string(opener_pid_) +
                                    "; an LMDB env must not be used after fork()");
}

Status LmdbStore::checkKey(const char* db, std::string_view key) const {
  if (key.empty()) return Status::invalidArgument(std::string(db) + ": empty key");
  if (key.size() > key_bytes_max_) {
    return Status::invalidArgument(std::string(db) + " key '" + printableKey(key) + "' is " +
                                   std::to_string(key.size()) + " bytes; at most " +
                                   std::to_string(key_bytes_max_) + " fit");
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------
// Open

Result<std::optional<StateMarker>> LmdbStore::readMarker() const {
  Result<std::optional<StateMarker>> marker = readStateMarker(dir_);
  if (!marker.isOk()) {
    if (marker.status().code() == StatusCode::kCorruption)
      return damaged(marker.status().message());
    return marker.status();
  }
  if (!marker.value().has_value()) return marker;
  const StateMarker& found = *marker.value();
  if (found.format != kStateMarkerFormat) {
    return Status::invalidArgument("state dir " + dir_ + " was written by a newer seqd (" +
                                   kStateMarkerFileName + " format " +
                                   std::to_string(found.format) + "; this seqd reads format " +
                                   std::to_string(kStateMarkerFormat) +
                                   "): run the seqd that wrote it, or move the state dir away");
  }
  if (found.schema > kStoreSchemaVersion || found.schema < kStoreSchemaVersionOldestConverted) {
    return Status::invalidArgument(
        "state dir " + dir_ + " holds store schema version " + std::to_string(found.schema) +
        "; this seqd reads schema version " + std::to_string(kStoreSchemaVersion) +
        " and does not convert stores: run the seqd that wrote it, or move the state dir away");
  }
  return marker;
}

// A store that was used (marked) must still have its data file, and not an empty one:
// LMDB would make a new, empty store out of either.
Status LmdbStore::checkDataFile(bool marked) const {
  if (!marked) return Status::ok();
  const std::string path = dir_ + "/" + kDataFileName;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return damaged(std::string(kDataFileName) + " is missing");
    return errnoStatus("cannot stat '" + path + "'", errno);
  }
  if (info.st_size == 0) return damaged(std::string(kDataFileName) + " is empty (0 bytes)");
  return Status::ok();
}

Status LmdbStore::openEnvironment(const StoreOptions& options) {
  int rc = mdb_env_create(&env_);
  if (rc != 0) return mdbError("mdb_env_create", rc);
  if ((rc = mdb_env_set_maxdbs(env_, kDatabasesMax)) != 0) return mdbError("set_maxdbs", rc);
  if ((rc = mdb_env_set_mapsize(env_, options.map_bytes)) != 0) {
    return mdbError("set_mapsize", rc);
  }
  if ((rc = mdb_env_set_assert(env_, mapFaultAssert)) != 0) return mdbError("set_assert", rc);
  const unsigned env_flags = MDB_NOTLS | (options.sync_for_durability ? 0U : MDB_NOSYNC);
  if ((rc = mdb_env_open(env_, dir_.c_str(), env_flags, kFileMode)) != 0) {
    return mdbError("open " + std::string(kDataFileName), rc);
  }
  // No config key or environment variable reaches these flags (LMDB reads none either), so a
  // store that gives up durability is a bug here, not an operator's choice: assert it.
  unsigned flags_set = 0;
  if ((rc = mdb_env_get_flags(env_, &flags_set)) != 0) return mdbError("get_flags", rc);
  if (options.sync_for_durability) {
    SEQD_ASSERT((flags_set & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC)) == 0);
  }
  // releaseMappedPages() drops the map's pages as clean copies of the file's.
  SEQD_ASSERT((flags_set & MDB_WRITEMAP) == 0);
  int dead_readers = 0;
  if ((rc = mdb_reader_check(env_, &dead_readers)) != 0) return mdbError("reader_check", rc);
  key_bytes_max_ = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_));
  return checkFileSize();
}

// The data file's size and the pages its meta page says are in use, before any transaction
// reads a page. The file may be shorter than those pages and still whole: a page LMDB
// allocated and freed in one commit is counted in use but never written, and it can be the
// last. inspect() tells that from a file cut short: past its end, every page must be free.
Status LmdbStore::checkFileSize() {
  MDB_envinfo info{};
  MDB_stat stat{};
  int rc = mdb_env_info(env_, &info);
  if (rc == 0) rc = mdb_env_stat(env_, &stat);
  if (rc != 0) return mdbError("env info", rc);
  int fd = -1;
  if ((rc = mdb_env_get_fd(env_, &fd)) != 0) return mdbError("env fd", rc);
  struct stat file {};
  if (::fstat(fd, &file) != 0) return errnoStatus("cannot stat " + dir_ + "/data.mdb", errno);
  page_bytes_ = stat.ms_psize;
  page_count_ = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
  file_bytes_ = static_cast<std::uint64_t>(file.st_size);
  map_bytes_ = info.me_mapsize;
  map_begin_ = findMapping(file.st_ino, map_bytes_);
  return Status::ok();
}

// Runs the walk under the fault guard: first the DBs are found in one read transaction;
// when every DB is there that transaction is committed (keeping the DB handles it opened, so
// that other transactions can use them) and the walk runs on two threads (walkSideBySide);
// a store of an older schema, which lacks DBs, is walked in that first transaction and it
// is not committed.
Status LmdbStore::inspect(StoreInspection& in, std::vector<std::uint64_t>& free_seen) {
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  free_seen.assign(page_count_ / 64 + 1, 0);
  in.txn = txn.get();
  in.file_begin = map_begin_;
  in.file_bytes = page_count_ * page_bytes_;
  in.key_bytes_max = key_bytes_max_;
  in.page_count = page_count_;
  in.free_seen = free_seen.data();
  if (map_pages_ahead_) {
    mapStoreAhead(map_begin_, std::min<std::uint64_t>({file_bytes_ / page_bytes_, page_count_,
                                                       map_bytes_ / page_bytes_}) *
                                  page_bytes_);
  }
  MapFault fault;
  bool finished = guarded(findStoreDatabasesBody, in, fault);
  const bool every_db = std::all_of(std::begin(in.present), std::end(in.present),
                                    [](bool present) { return present; });
  if (finished && in.walkable) {
    if (every_db) {
      const int commit_rc = txn.commit();
      if (commit_rc != 0) return mdbError("end read txn", commit_rc);
      Status status = walkSideBySide(in, fault, finished);
      if (!status.isOk()) return status;
    } else {
      finished = guarded(walkStoreBody, in, fault);
    }
    if (finished) checkPageCount(in);
  }
  if (in.cursor != nullptr) mdb_cursor_close(in.cursor);
  in.cursor = nullptr;
  in.txn = nullptr;
  const std::uint64_t whole_pages = file_bytes_ / page_bytes_;
  if (!finished) return damaged(whole_pages < page_count_ ? cutShort() : describe(fault));
  if (in.finding.problem == StoreProblem::kNone) {
    for (std::uint64_t page = whole_pages; page < page_count_; ++page) {
      if ((free_seen[page / 64] & (std::uint64_t{1} << (page % 64))) == 0) {
        return damaged(cutShort());
      }
    }
  }
  for (std::size_t i = 0; i < kStoreDbCount; ++i) dbis_[i] = in.dbis[i];
  return Status::ok();
}

bool LmdbStore::guarded(void (*body)(void*), StoreInspection& in, MapFault& fault) const {
  // Unknown mapping: any fault during the walk is taken as a fault in the map.
  return map_begin_ != nullptr
             ? runGuarded(map_begin_, map_bytes_ + kFaultSlackBytes, body, &in, fault)
             : runGuarded(nullptr, SIZE_MAX, body, &in, fault);
}

// The walk of a store with every DB, on two threads: the DB with the most pages on a second
// thread, in a read transaction of its own, the others and the free-page list on this one,
// in another. Both transactions must see the same snapshot (the same txn id; at open nothing
// else writes, so they do): otherwise this thread walks them all. What it reports is what
// one walk in DB order would: the problem (finding or fault) of the first DB in that order.
// A 1M-contact store after a day of sends (1.7 GB, half of it the progress log) walked in
// 1.6-2.1 s on one thread, 1.2-1.4 s on two.
Status LmdbStore::walkSideBySide(StoreInspection& in, MapFault& fault, bool& finished) {
  Transaction txn;
  Transaction side_txn;
  int rc = txn.begin(env_, MDB_RDONLY);
  if (rc == 0) rc = side_txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  in.txn = txn.get();
  in.walked_snapshot = mdb_txn_id(txn.get());
  if (mdb_txn_id(side_txn.get()) != mdb_txn_id(txn.get())) {
    finished = guarded(walkStoreBody, in, fault);
  } else {
    const std::size_t side_db = static_cast<std::size_t>(
        std::max_element(std::begin(in.db_pages), std::end(in.db_pages)) - std::begin(in.db_pages));
    StoreInspection side = in;  // the inputs, the handles and what was found so far
    side.txn = side_txn.get();
    side.tree_pages = 0;
    std::fill(std::begin(side.walk), std::end(side.walk), false);
    side.walk[side_db] = true;
    side.walk_free_list = false;
    in.walk[side_db] = false;
    MapFault side_fault;
    bool side_finished = true;
    std::thread side_thread([&] {
      nameThisThread("seqd-walk");
      side_finished = guarded(walkStoreBody, side, side_fault);
      if (side.cursor != nullptr) mdb_cursor_close(side.cursor);
    });
    finished = guarded(walkStoreBody, in, fault);
    side_thread.join();
    const bool problem = !finished || in.finding.problem != StoreProblem::kNone;
    const bool side_problem = !side_finished || side.finding.problem != StoreProblem::kNone;
    if (side_problem && (!problem || in.walking > side_db)) {
      finished = side_finished;
      fault = side_fault;
      in.finding = side.finding;
    }
    in.entries[side_db] = side.entries[side_db];
    in.tree_pages += side.tree_pages;
  }
  if (in.cursor != nullptr) mdb_cursor_close(in.cursor);
  in.cursor = nullptr;
  return Status::ok();
}

std::string LmdbStore::cutShort() const {
  return std::string(kDataFileName) + " is " + std::to_string(file_bytes_) +
         " bytes but its meta page says " + std::to_string(page_count_ * page_bytes_) +
         " are in use (cut short?)";
}

std::string LmdbStore::describe(const MapFault& fault) const {
  if (fault.signal_number == 0) {
    return std::string("LMDB found an inconsistent page (") + fault.detail + ")";
  }
  const char* signal_name = fault.signal_number == SIGBUS ? "SIGBUS" : "SIGSEGV";
  if (fault.address < kNullPageBytes) {
    char address[32];
    std::snprintf(address, sizeof address, "%#lx", static_cast<unsigned long>(fault.address));
    return std::string("LMDB followed a garbled node to a null pointer (") + signal_name + " at " +
           address + ")";
  }
  if (map_begin_ == nullptr) return std::string("reading data.mdb faulted (") + signal_name + ")";
  const std::uint64_t offset = fault.address - reinterpret_cast<std::uintptr_t>(map_begin_);
  return "reading data.mdb at byte " + std::to_string(offset) + " faulted (" + signal_name +
         "): a page points past the " + std::to_string(page_count_ * page_bytes_) + " bytes in use";
}

std::string LmdbStore::describe(const StoreFinding& finding) const {
  const std::string db(finding.db != nullptr ? finding.db : "?");
  const std::string key =
      " key '" + printableKey(std::string_view(finding.key, finding.key_bytes)) + "'";
  const std::string numbers =
      std::to_string(finding.found) + " found, " + std::to_string(finding.expected) + " expected";
  switch (finding.problem) {
    case StoreProblem::kNone:
      return "no problem";
    case StoreProblem::kLmdbError:
      return "reading DB '" + db + "': " + mdb_strerror(finding.rc);
    case StoreProblem::kOutsideFile:
      return "DB '" + db + "'" + key + " points outside data.mdb";
    case StoreProblem::kKeySize:
      return "DB '" + db + "'" + key + " has an impossible size";
    case StoreProblem::kKeyOrder:
      return "DB '" + db + "'" + key + " is out of order";
    case StoreProblem::kChecksum:
      return "checksum mismatch in DB '" + db + "'" + key;
    case StoreProblem::kEntryCount:
      return "DB '" + db + "' entry count does not match (" + numbers + ")";
    case StoreProblem::kFreeList:
      return "LMDB's free-page list is garbled";
    case StoreProblem::kPageCount:
      return "more pages in use than data.mdb has (" + numbers + ")";
  }
  return "unknown problem";
}

// A new store: the five DBs and the meta records, in one commit.
Status LmdbStore::createDatabases() {
  Transaction txn;
  int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if ((rc = mdb_dbi_open(txn.get(), kStoreDbNames[i], MDB_CREATE, &dbis_[i])) != 0) {
      return mdbError(std::string("create database ") + kStoreDbNames[i], rc);
    }
  }
  char id[kStoreIdBytes];
  if (::getrandom(id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
    return errnoStatus("cannot make a store id", errno);
  }
  std::string version = littleEndian(kStoreSchemaVersion, kSchemaVersionBytes);
  std::string store_id(id, sizeof id);
  std::string counts = encodeCounts(Counts());
  Status status = put(txn.get(), kMetaDb, kMetaSchemaVersion, version);
  if (status.isOk()) status = put(txn.get(), kMetaDb, kMetaStoreId, store_id);
  if (status.isOk()) status = put(txn.get(), kMetaDb, kMetaCounts, counts);
  std::string checkpoint = encodeCheckpoint(Checkpoint());
  if (status.isOk()) status = put(txn.get(), kMetaDb, kMetaCheckpoint, checkpoint);
  if (!status.isOk()) return status;
  if ((rc = txn.commit()) != 0) return mdbError("commit", rc);
  return Status::ok();
}

Status LmdbStore::checkSchema(const StoreInspection& in) const {
  Result<std::uint64_t> version = schemaVersionOf(in);
  if (!version.isOk()) return version.status();
  if (version.value() == kStoreSchemaVersion) return Status::ok();
  return Status::invalidArgument(
      "state dir " + dir_ + " holds store schema version " + std::to_string(version.value()) +
      "; this seqd reads schema version " + std::to_string(kStoreSchemaVersion) +
      " (and converts " + std::to_string(kStoreSchemaVersionOldestConverted) + " to " +
      std::to_string(kStoreSchemaVersion - 1) +
      "): run the seqd that wrote it, or move the state dir away");
}

Result<std::uint64_t> LmdbStore::schemaVersionOf(const StoreInspection& in) const {
  if (!in.schema_found) return damaged("meta has no schema_version");
  const std::string_view raw(in.schema, std::min(in.schema_bytes, kSchemaCopyBytesMax));
  std::uint64_t version = 0;
  if (in.schema_bytes == kSchemaVersionBytes) {
    version = fromLittleEndian(raw);  // version 1 wrote values without checksums
    if (version >= kStoreSchemaVersion) {
      return damaged("meta schema_version " + std::to_string(version) + " has no checksum");
    }
  } else {
    std::string_view payload;
    if (!checkedStorePayload("meta", kMetaSchemaVersion, raw, payload) ||
        payload.size() != kSchemaVersionBytes) {
      return damaged("checksum mismatch in DB 'meta' key 'schema_version'");
    }
    version = fromLittleEndian(payload);
  }
  return version;
}

// The meta records against the marker and against what the walk counted.
Status LmdbStore::checkMeta(const StoreInspection& in, const std::optional<StateMarker>& marker) {
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  std::optional<std::string_view> store_id;
  std::optional<std::string_view> counts_bytes;
  Status status =
      getVerified(txn.get(), dbis_[kMetaDb], "meta", kMetaStoreId, kStoreIdBytes, store_id);
  if (status.isOk()) {
    status = getVerified(txn.get(), dbis_[kMetaDb], "meta", kMetaCounts, kCountsValueBytes,
                         counts_bytes);
  }
  if (!status.isOk()) return status;
  if (!store_id || !counts_bytes) return damaged("meta has no store_id or counts record");
  if (marker.has_value() && marker->store_id != hex(*store_id)) {
    return damaged("data.mdb holds store " + hex(*store_id) + " but " + kStateMarkerFileName +
                   " names store " + marker->store_id);
  }
  const Counts counts = decodeCounts(*counts_bytes);
  const std::uint64_t* expected = counts.entries;
  for (std::size_t i = 0; i < std::size(counts.entries); ++i) {
    if (in.entries[i] != expected[i]) {
      return damaged(std::string("DB '") + kStoreDbNames[i] + "' holds " +
                     std::to_string(in.entries[i]) + " entries; the meta counts record says " +
                     std::to_string(expected[i]));
    }
  }
  Result<std::uint64_t> last_seq = lastSeqIn(txn.get(), readableBytes());
  if (!last_seq.isOk()) return last_seq.status();
  if (last_seq.value() != counts.last_progress_seq) {
    return damaged("the last progress seq is " + std::to_string(last_seq.value()) +
                   "; the meta counts record says " + std::to_string(counts.last_progress_seq));
  }
  Result<std::uint64_t> last_journal_seq = lastSeqIn(txn.get(), readableBytes(), kJournalDb);
  if (!last_journal_seq.isOk()) return last_journal_seq.status();
  if (last_journal_seq.value() > counts.last_journal_seq ||
      (counts.entries[kJournalDb] > 0 && last_journal_seq.value() != counts.last_journal_seq)) {
    return damaged("the last journal seq is " + std::to_string(last_journal_seq.value()) +
                   "; the meta counts record says " + std::to_string(counts.last_journal_seq));
  }
  status = loadCheckpoint(txn.get(), checkpoint_);
  if (!status.isOk()) return status;
  if (checkpoint_.finished_through > checkpoint_.started_through ||
      checkpoint_.started_through > counts.last_journal_seq) {
    return damaged("the checkpoint record names journal seqs that were never written");
  }
  commits_ = counts.commits;
  last_journal_seq_ = counts.last_journal_seq;
  // No marker yet, or one naming the schema this store was converted from.
  if (!marker.has_value() || marker->schema != kStoreSchemaVersion)
    return writeStateMarker(dir_,
                            StateMarker{kStateMarkerFormat, kStoreSchemaVersion, hex(*store_id)});
  return Status::ok();
}

// A store of schema 2 (no journal) or 3 (no tasks, no inbound table) that the walk found
// whole: copies it to backup-schema-N/data.mdb in the state dir (mdb_copy's compacting copy;
// an existing backup is kept), then, in one commit, adds the DBs it lacks (and for schema 2 the
// checkpoint record: its enrollment rows are the table), fills the tasks and inbound tables
// from its progress log, writes the longer counts record and sets schema 4. The log itself is
// left whole: the commits after truncate it. Any other store lacking a DB is left for the
// checks after this.
Status LmdbStore::convertOlderSchema(StoreInspection& in, std::vector<std::uint64_t>& free_seen) {
  Result<std::uint64_t> version = schemaVersionOf(in);
  if (!version.isOk() || version.value() < kStoreSchemaVersionOldestConverted ||
      version.value() >= kStoreSchemaVersion) {
    return Status::ok();
  }
  const std::uint64_t from = version.value();
  if (in.finding.problem != StoreProblem::kNone) return damaged(describe(in.finding));
  const std::string backup_dir = dir_ + "/" + kBackupDirPrefix + std::to_string(from);
  struct stat info {};
  if (::stat((backup_dir + "/" + kDataFileName).c_str(), &info) != 0) {
    if (::mkdir(backup_dir.c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
      return errnoStatus("cannot make '" + backup_dir + "' for the backup before conversion",
                         errno);
    }
    const int copy_rc = mdb_env_copy2(env_, backup_dir.c_str(), MDB_CP_COMPACT);
    if (copy_rc != 0) {
      return mdbError("back up the schema " + std::to_string(from) + " store to " + backup_dir,
                      copy_rc);
    }
  }
  Transaction txn;
  int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  // The walk's read txn was not committed (a DB was missing), so its handles are closed.
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if ((rc = mdb_dbi_open(txn.get(), kStoreDbNames[i], addedSinceSchema2(i) ? MDB_CREATE : 0,
                           &dbis_[i])) != 0) {
      return mdbError(std::string("open database ") + kStoreDbNames[i], rc);
    }
  }
  std::optional<std::string_view> old_counts;
  const std::size_t counts_bytes = from == 2 ? kSchema2CountsValueBytes : kSchema3CountsValueBytes;
  Status status =
      getVerified(txn.get(), dbis_[kMetaDb], "meta", kMetaCounts, counts_bytes, old_counts);
  if (!status.isOk()) return status;
  if (!old_counts) return damaged("meta has no counts record");
  // Schema 2: 4 entry counts, last progress seq, commits. Schema 3: 5, then the same, then the
  // last journal seq.
  const std::size_t commits_at = from == 2 ? 5 : 6;
  const std::uint64_t commits = fromLittleEndian(old_counts->substr(commits_at * 8, 8));
  const std::uint64_t last_journal_seq =
      from == 2 ? 0 : fromLittleEndian(old_counts->substr(7 * 8, 8));
  std::string version_bytes = littleEndian(kStoreSchemaVersion, kSchemaVersionBytes);
  status = put(txn.get(), kMetaDb, kMetaSchemaVersion, version_bytes);
  if (status.isOk() && from == 2) {
    std::string checkpoint = encodeCheckpoint(Checkpoint());
    status = put(txn.get(), kMetaDb, kMetaCheckpoint, checkpoint);
  }
  if (status.isOk()) status = foldLogIntoTables(txn.get());
  if (status.isOk()) status = putCounts(txn.get(), commits, last_journal_seq);
  if (!status.isOk()) return status;
  if ((rc = txn.commit()) != 0) return mdbError("commit", rc);
  status = checkFileSize();
  if (!status.isOk()) return status;
  in = StoreInspection();
  return inspect(in, free_seen);
}

// A store of this schema made before a DB was added to it (the teams table), found whole
// otherwise: the DB is created empty, in one commit. No backup: nothing else changes, and an
// older seqd opens the store as it was (it does not look at the new DB).
Status LmdbStore::addSchema4Databases(StoreInspection& in, std::vector<std::uint64_t>& free_seen) {
  Result<std::uint64_t> version = schemaVersionOf(in);
  if (!version.isOk() || version.value() != kStoreSchemaVersion) return Status::ok();
  if (in.finding.problem != StoreProblem::kNone) return damaged(describe(in.finding));
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if (!in.present[i] && !addedInSchema4(i)) return Status::ok();  // refused after this
  }
  Transaction txn;
  int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if ((rc = mdb_dbi_open(txn.get(), kStoreDbNames[i], addedInSchema4(i) ? MDB_CREATE : 0,
                           &dbis_[i])) != 0) {
      return mdbError(std::string("open database ") + kStoreDbNames[i], rc);
    }
  }
  if ((rc = txn.commit()) != 0) return mdbError("commit", rc);
  Status status = checkFileSize();
  if (!status.isOk()) return status;
  in = StoreInspection();
  return inspect(in, free_seen);
}

// The tasks and the applied inbound messages of a log written before they had tables: each
// task as its records leave it (engine/records.hpp's foldTaskRecord), each kInbound record.
Status LmdbStore::foldLogIntoTables(MDB_txn* txn) {
  std::map<std::uint64_t, Task> tasks;
  std::string scratch;
  Status status = forEach(txn, kProgressDb, [&](std::string_view key, std::string_view value) {
    if (key.size() != kProgressKeyBytes) {
      return corrupt("progress", key, "key is " + std::to_string(key.size()) + " bytes, not 8");
    }
    ProgressRecord record;
    Status decoded = decodeProgress(decodeProgressKey(key), value, record);
    if (!decoded.isOk()) return corrupt("progress", key, decoded.message());
    foldTaskRecord(record, tasks);
    if (record.kind != ProgressKind::kInbound) return Status::ok();
    scratch.assign(value);
    return put(txn, kInboundDb, key, scratch);
  });
  if (!status.isOk()) return status;
  std::vector<Task> rows;
  rows.reserve(tasks.size());
  for (auto& [id, task] : tasks) rows.push_back(std::move(task));
  return putTasks(txn, rows, scratch);
}

// Inspects the store, first creating it when the directory is new: no marker, and no DB in
// data.mdb (missing, empty, or left by a crash before the creating commit). Then refuses, in
// this order: missing DBs, another schema version, what the walk found, meta records that
// disagree with the marker or the walk.
Status LmdbStore::verifyStore(const std::optional<StateMarker>& marker) {
  std::vector<std::uint64_t> free_seen;
  StoreInspection in;
  Status status = inspect(in, free_seen);
  if (!status.isOk()) return status;
  const auto present = [&](bool wanted) {
    return std::all_of(std::begin(in.present), std::end(in.present),
                       [wanted](bool is) { return is == wanted; });
  };
  const bool has_finding = in.finding.problem != StoreProblem::kNone;
  if (!has_finding && present(false) && !marker.has_value() && in.main_entries == 0) {
    status = createDatabases();
    if (status.isOk()) status = checkFileSize();  // the pages it added
    if (!status.isOk()) return status;
    in = StoreInspection();
    status = inspect(in, free_seen);
    if (!status.isOk()) return status;
  }
  const auto lacks_added_db = [&] {
    for (std::size_t i = 0; i < kStoreDbCount; ++i) {
      if (addedSinceSchema2(i) && !in.present[i]) return true;
    }
    return false;
  };
  if (lacks_added_db() && in.schema_found) {
    status = convertOlderSchema(in, free_seen);
    if (status.isOk() && lacks_added_db()) status = addSchema4Databases(in, free_seen);
    // Still lacking one: a store of another schema is refused as such, before "missing".
    if (status.isOk() && lacks_added_db()) status = checkSchema(in);
    if (!status.isOk()) return status;
  }
  if (in.finding.problem != StoreProblem::kNone && (!present(true) || !in.schema_found)) {
    return damaged(describe(in.finding));
  }
  for (std::size_t i = 0; i < kStoreDbCount; ++i) {
    if (!in.present[i]) return damaged(std::string("DB '") + kStoreDbNames[i] + "' is missing");
  }
  status = checkSchema(in);
  if (!status.isOk()) return status;
  if (in.finding.problem != StoreProblem::kNone) return damaged(describe(in.finding));
  status = checkMeta(in, marker);
  if (status.isOk()) walked_snapshot_ = in.walked_snapshot;
  return status;
}

Status LmdbStore::open(const StoreOptions& options) {
  history_trim_per_commit_max_ = options.history_trim_per_commit_max;
  map_pages_ahead_ = options.map_pages_ahead;
  release_map_interval_ = std::chrono::milliseconds(options.release_map_interval_ms);
  log_value_bytes_ = options.log_value_bytes;
  Result<std::optional<StateMarker>> marker = readMarker();
  if (!marker.isOk()) return marker.status();
  Status status = checkDataFile(marker.value().has_value());
  if (status.isOk()) status = openEnvironment(options);
  if (status.isOk()) status = verifyStore(marker.value());
  if (status.isOk()) status = readSymbols();
  return status;
}

// The symbols table, so that a commit before any load() hands out no code the store holds.
Status LmdbStore::readSymbols() {
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  SymbolCodes codes;
  Status status = loadSymbols(txn.get(), codes);
  if (status.isOk()) codes_ = std::move(codes);
  return status;
}

// ---------------------------------------------------------------------------------------
// Reads

std::size_t LmdbStore::readableBytes() const {
  if (map_begin_ == nullptr) return 0;
  MDB_envinfo info{};
  if (mdb_env_info(env_, &info) != 0) return 0;
  // The file holds every page up to the last committed last_pgno, which is at or past the
  // last page of any read transaction begun before this call.
  return (static_cast<std::size_t>(info.me_last_pgno) + 1) * page_bytes_;
}

Status LmdbStore::verifiedPayload(const char* db, const MDB_val& key, bool key_in_map,
                                  const MDB_val& stored, std::size_t readable_bytes,
                                  std::string_view& payload, bool walked) const {
  if (readable_bytes > 0 && ((key_in_map && !withinFile(map_begin_, readable_bytes, key)) ||
                             !withinFile(map_begin_, readable_bytes, stored))) {
    return damaged(std::string("DB '") + db + "' key points outside data.mdb");
  }
  if (walked && stored.mv_size >= kStoreChecksumBytes) {
    payload = view(stored).substr(0, stored.mv_size - kStoreChecksumBytes);
    return Status::ok();
  }
  if (!checkedStorePayload(db, view(key), view(stored), payload)) {
    return damaged(std::string("checksum mismatch in DB '") + db + "' key '" +
                   printableKey(view(key)) + "'");
  }
  return Status::ok();
}

// Reads one value by key and checks its checksum and, when found, its payload size (any
// size for kAnyPayloadBytes).
Status LmdbStore::getVerified(MDB_txn* txn, MDB_dbi dbi, const char* db, std::string_view key,
                              std::size_t payload_bytes,
                              std::optional<std::string_view>& payload) const {
  const std::size_t readable_bytes = readableBytes();
  MDB_val mdb_key = mdbValue(key);
  MDB_val value{};
  const int rc = mdb_get(txn, dbi, &mdb_key, &value);
  if (rc == MDB_NOTFOUND) return Status::ok();
  if (rc != 0) return mdbError("read " + std::string(db) + " " + std::string(key), rc);
  std::string_view bytes;
  Status status = verifiedPayload(db, mdb_key, false, value, readable_bytes, bytes);
  if (!status.isOk()) return status;
  if (payload_bytes != kAnyPayloadBytes && bytes.size() != payload_bytes) {
    return corrupt(db, key,
                   "value is " + std::to_string(bytes.size()) + " bytes, expected " +
                       std::to_string(payload_bytes));
  }
  payload = bytes;
  return Status::ok();
}

// The seq of the last entry of the progress log or the journal (index), 0 when it is empty.
Result<std::uint64_t> LmdbStore::lastSeqIn(MDB_txn* txn, std::size_t readable_bytes,
                                           std::size_t index) const {
  const char* db = kStoreDbNames[index];
  Cursor cursor;
  int rc = cursor.open(txn, dbis_[index]);
  if (rc != 0) return mdbError(std::string("open ") + db + " cursor", rc);
  MDB_val key{};
  MDB_val value{};
  rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_LAST);
  if (rc == MDB_NOTFOUND) return std::uint64_t{0};
  if (rc != 0) return mdbError(std::string("read last ") + db, rc);
  std::string_view payload;
  Status status = verifiedPayload(db, key, true, value, readable_bytes, payload);
  if (!status.isOk()) return status;
  LogKey log_key;
  if (!decodeLogKey(view(key), log_key)) return badLogKey(db, view(key));
  return log_key.lastSeq();
}

Result<std::uint64_t> LmdbStore::lastProgressSeq() {
  Status status = checkProcess();
  if (!status.isOk()) return status;
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  return lastSeqIn(txn.get(), readableBytes());
}

// Calls visit(key, payload) for each entry in key order (from the first at or after `from`
// when it is given), after checking the value's checksum. The loop is bounded by the entry
// count LMDB keeps for the DB.
template <typename Visit>
Status LmdbStore::forEach(MDB_txn* txn, std::size_t index, Visit visit,
                          std::string_view from) const {
  const char* db = kStoreDbNames[index];
  MDB_stat stat{};
  int rc = mdb_stat(txn, dbis_[index], &stat);
  if (rc != 0) return mdbError(std::string("stat ") + db, rc);
  const std::size_t entries_max = stat.ms_entries;
  Cursor cursor;
  if ((rc = cursor.open(txn, dbis_[index])) != 0) {
    return mdbError(std::string("open cursor ") + db, rc);
  }
  const std::size_t readable_bytes = readableBytes();
  const bool walked = walked_snapshot_ != 0 && mdb_txn_id(txn) == walked_snapshot_;
  MDB_val key{};
  MDB_val value{};
  std::size_t entries = 0;
  if (!from.empty()) key = mdbValue(from);
  for (rc = mdb_cursor_get(cursor.get(), &key, &value, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
       rc == 0; rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) {
    if (++entries > entries_max) {
      return corrupt(
          db, view(key),
          "more entries than the " + std::to_string(entries_max) + " the database counts");
    }
    std::string_view payload;
    Status status = verifiedPayload(db, key, true, value, readable_bytes, payload, walked);
    if (!status.isOk()) return status;
    status = visit(view(key), payload);
    if (!status.isOk()) return status;
  }
  if (rc != MDB_NOTFOUND) return mdbError(std::string("read ") + db, rc);
  return Status::ok();
}

// The entries of DB index by LMDB's count, 0 when it cannot say: room to reserve, so that a
// load does not move every record it read at each growth (a fifth of a 200k restart did).
std::size_t LmdbStore::entriesOf(MDB_txn* txn, std::size_t index) const {
  MDB_stat stat{};
  return mdb_stat(txn, dbis_[index], &stat) == 0 ? stat.ms_entries : 0;
}

// Each record is decoded straight into its packed block (no Contact in between: that was
// ~40% of a load, and most of the heap a restarted seqd kept from it). The records come a
// batch at a time: the batch's keys are interned under one lock, then its records decoded.
Status LmdbStore::loadContacts(MDB_txn* txn, std::vector<ContactRef>& out) const {
  const std::size_t entries = entriesOf(txn, kContactsDb);
  out.reserve(entries);
  // Each key is a new Symbol: the table is sized once, not grown through ~20 rehashes.
  Symbol::reserve(entries);
  std::vector<ContactFields::Extra> extra;
  std::vector<std::pair<std::string_view, std::string_view>> batch;  // key, value
  std::vector<std::string_view> texts;
  std::vector<Symbol> keys;
  const auto decodeBatch = [&]() -> Status {
    internKeys(batch, texts, keys);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      ContactRef contact;
      const Status status = decodeContact(keys[i], batch[i].second, contact, extra);
      if (!status.isOk()) return corrupt("contacts", batch[i].first, status.message());
      out.push_back(std::move(contact));
    }
    batch.clear();
    return Status::ok();
  };
  Status status = forEach(txn, kContactsDb, [&](std::string_view key, std::string_view value) {
    batch.emplace_back(key, value);
    return batch.size() == kInternBatchMax ? decodeBatch() : Status::ok();
  });
  return status.isOk() ? decodeBatch() : status;
}

Status LmdbStore::loadTeam(MDB_txn* txn, std::vector<TeamRecord>& out) const {
  return forEach(txn, kTeamsDb, [&](std::string_view key, std::string_view value) {
    out.push_back(TeamRecord{std::string(key), std::string(value), false});
    return Status::ok();
  });
}

// The symbols table, before the rows that name its codes: codes 1, 2, ... in order, each a
// string none before it has.
Status LmdbStore::loadSymbols(MDB_txn* txn, SymbolCodes& out) const {
  return forEach(txn, kSymbolsDb, [&](std::string_view key, std::string_view value) {
    if (key.size() != kSymbolCodeKeyBytes) {
      return corrupt("symbols", key, "key is " + std::to_string(key.size()) + " bytes, not 4");
    }
    const std::uint32_t code = decodeEnrollmentKey(key);
    if (value.empty() || value.size() > kRecordFieldBytesMax) {
      return corrupt("symbols", key, "a string of " + std::to_string(value.size()) + " bytes");
    }
    if (!out.addLoaded(code, Symbol(value))) {
      return corrupt("symbols", key,
                     "code " + std::to_string(code) + " is not the next (" +
                         std::to_string(out.size() + 1) + ") or its string has a code already");
    }
    return Status::ok();
  });
}

// The rows' contact keys are left as their bytes in contact_keys (views into the map, valid
// with txn), one per row, for the caller to intern.
Status LmdbStore::loadEnrollments(MDB_txn* txn, const SymbolCodes& codes,
                                  std::vector<Enrollment>& out,
                                  boost::unordered_flat_map<EnrollmentId, SendOut>& sends,
                                  boost::unordered_flat_map<EnrollmentId, EnrollmentExtras>& extras,
                                  ContactKeyBytes& contact_keys) const {
  const std::size_t entries = entriesOf(txn, kEnrollmentsDb);
  out.reserve(entries);
  contact_keys.reserve(entries);
  EnrollmentDecodeMemo memo;
  memo.codes = &codes;
  return forEach(txn, kEnrollmentsDb, [&](std::string_view key, std::string_view value) {
    if (key.size() != kEnrollmentKeyBytes) {
      return corrupt("enrollments", key, "key is " + std::to_string(key.size()) + " bytes, not 4");
    }
    Enrollment enrollment;
    SendOut send;
    EnrollmentExtras row_extras;
    std::string_view contact_key;
    Status status = decodeEnrollment(decodeEnrollmentKey(key), value, enrollment, send, row_extras,
                                     memo, contact_key);
    if (!status.isOk()) return corrupt("enrollments", key, status.message());
    if (contact_key.empty()) return corrupt("enrollments", key, "the row names no contact");
    if (enrollment.sending) sends[enrollment.id] = send;
    if (!row_extras.empty()) extras[enrollment.id] = row_extras;
    out.push_back(std::move(enrollment));
    contact_keys.push_back(contact_key);
    return Status::ok();
  });
}

// The table's rows, saying in rows.table when they are read.
Status LmdbStore::loadEnrollmentTable(MDB_txn* txn, const SymbolCodes& codes, LoadedState& state,
                                      RowsLoad& rows) const {
  Status status =
      loadEnrollments(txn, codes, state.enrollments, rows.sends, rows.extras, rows.table_keys);
  // The rows are in id order, each id once: dense when the last id is the last position.
  rows.dense =
      state.enrollments.empty() || state.enrollments.back().id == state.enrollments.size() - 1;
  rows.table.store(status.isOk() ? RowsLoad::kTableRead : RowsLoad::kTableFailed);
  rows.table.notify_all();
  return status;
}

// The contacts on this thread; the enrollment rows on a second, in a read transaction of its own on
// the same snapshot (the same txn id: no commit between the two begins). The contacts take longer
// (a 10M restart: ~9.8 s against the rows' 5.3-7.4, perf/RESULTS.md). Then the journal's tail over
// the rows in two halves (JournalShare), each taken by the first thread free for it: most often the
// rows' thread takes both, while the contacts still load (each half of a 10M restart's 5M entries
// ~1-1.8 s). Once both halves are done the table's rows' contact keys are looked up on both threads
// (internContactKeys). The keys wait for the journal: looking them up beside it, a chunk at a time
// under the Symbol table's lock, kept the journal's decoding from the lock it takes to intern a new
// list of steps done (the second's half took 3.1 s, not 1.6). They wait for the contacts' keys too:
// interning both on both threads at once (the table's lock taken ~3M times) took as long as one
// thread, and a batch under one lock at a time made a 10M restart vary from 20 to 26 s. A table
// with a hole in its ids (damage) has its journal read whole on the second thread, beside the keys
// on this one. When the second transaction sees another snapshot, everything is read on this
// thread, in this transaction. table_rows: how many rows the table held (before the journal's
// additions).
Status LmdbStore::loadContactsAndEnrollments(MDB_txn* txn, const SymbolCodes& codes,
                                             LoadedState& state, std::size_t& table_rows) const {
  Transaction second;
  RowsLoad rows;
  std::vector<Enrollment>& table = state.enrollments;
  Status status;
  JournalShare shares[2];  // the journal's halves (one share: all of it)
  bool table_keys_interned = false;
  if (second.begin(env_, MDB_RDONLY) == 0 && mdb_txn_id(second.get()) == mdb_txn_id(txn)) {
    Status table_status;
    std::atomic<bool> second_done{false};
    // Dense rows: each thread takes the halves still untaken once its own part is done.
    for (std::size_t at = 0; at < std::size(shares); ++at) {
      shares[at].index = at;
      shares[at].count = std::size(shares);
    }
    std::atomic<std::size_t> next_share{0};
    const auto takeShares = [&](MDB_txn* on) {
      for (std::size_t at; (at = next_share.fetch_add(1)) < std::size(shares);) {
        shares[at].status = loadJournal(on, codes, table, rows, shares[at]);
      }
    };
    std::thread rows_thread([&] {
      nameThisThread("seqd-load");
      table_status = loadEnrollmentTable(second.get(), codes, state, rows);
      if (table_status.isOk() && rows.dense) {
        takeShares(second.get());
      } else if (table_status.isOk()) {
        shares[1].index = 0;  // all of it, on this thread
        shares[1].count = 1;
        shares[1].status = loadJournal(second.get(), codes, table, rows, shares[1]);
      }
      second_done.store(true);
      second_done.notify_all();
    });
    status = loadContacts(txn, state.contacts);
    rows.table.wait(RowsLoad::kTableReading);
    if (status.isOk() && rows.table.load() == RowsLoad::kTableRead) {
      if (rows.dense) {
        takeShares(txn);
        second_done.wait(false);
      }
      internContactKeys(rows.table_keys, table, [&] { return second_done.load(); });
      table_keys_interned = true;
    }
    rows_thread.join();
    if (status.isOk()) status = table_status;
  } else {
    status = loadContacts(txn, state.contacts);
    if (status.isOk()) status = loadEnrollmentTable(txn, codes, state, rows);
    if (status.isOk()) shares[0].status = loadJournal(txn, codes, table, rows, shares[0]);
  }
  if (!status.isOk()) return status;
  // Of the shares' failures, the one a reader in seq order meets first.
  const JournalShare* failed = nullptr;
  for (const JournalShare& share : shares) {
    if (!share.status.isOk() && (failed == nullptr || share.failed_at < failed->failed_at)) {
      failed = &share;
    }
  }
  if (failed != nullptr) return failed->status;
  std::size_t journaled = 0;
  for (const JournalShare& share : shares) journaled += share.journal_ids.size();
  state.journal_ids.reserve(journaled);
  for (JournalShare& share : shares) mergeJournalShare(share, rows, state);
  state.sends_out = byIdAscending(rows.sends);
  state.extras = byIdAscending(rows.extras);
  table_rows = table.size();
  if (!table_keys_interned) internContactKeys(rows.table_keys, table);
  for (const auto& [at, key] : rows.rekeyed) table[at].contact_key = Symbol(key);
  // The rows added since the checkpoint after the table's (each share's freed before the
  // next is copied), then all in id order.
  std::size_t added = 0;
  for (const JournalShare& share : shares) added += share.added.size();
  if (added == 0) return Status::ok();
  table.reserve(table_rows + added);
  for (JournalShare& share : shares) {
    internContactKeys(share.added_keys, share.added);
    table.insert(table.end(), share.added.begin(), share.added.end());
    share.added = {};
    share.added_keys = {};
  }
  const auto by_id = [](const Enrollment& a, const Enrollment& b) { return a.id < b.id; };
  const auto added_from = table.begin() + static_cast<std::ptrdiff_t>(table_rows);
  std::sort(added_from, table.end(), by_id);
  std::inplace_merge(table.begin(), added_from, table.end(), by_id);
  return Status::ok();
}

// The progress log, or the inbound table (index): both hold progress records by seq. Only
// the records after after_seq are read (a cursor seeks past the values before the one
// holding the next seq). values_read: the values visited.
Status LmdbStore::loadProgress(MDB_txn* txn, std::size_t index, std::vector<ProgressRecord>& out,
                               std::uint64_t after_seq, std::size_t* values_read) const {
  const char* db = kStoreDbNames[index];
  std::string from;
  if (after_seq > 0) {
    const Status status = logValueHolding(txn, index, after_seq + 1, from);
    if (!status.isOk()) return status;
  }
  std::size_t values = 0;
  const Status status = forEach(
      txn, index,
      [&](std::string_view key, std::string_view value) {
        ++values;
        LogKey log_key;
        if (!decodeLogKey(key, log_key)) return badLogKey(db, key);
        if (log_key.first_seq == 0) return corrupt(db, key, "seq 0");
        LogEntryReader entries(log_key, value);
        std::string_view entry;
        for (std::uint64_t seq = log_key.first_seq; entries.next(entry); ++seq) {
          if (seq <= after_seq) continue;
          const auto where = [&] {
            return log_key.packed ? "seq " + std::to_string(seq) + ": " : std::string();
          };
          ProgressRecord& record = out.emplace_back();
          Status decoded = decodeProgress(seq, entry, record);
          if (!decoded.isOk()) return corrupt(db, key, where() + decoded.message());
          if (index == kInboundDb && record.kind != ProgressKind::kInbound) {
            return corrupt(db, key, where() + "not an inbound record");
          }
        }
        const Status read = entries.finish();
        return read.isOk() ? read : corrupt(db, key, read.message());
      },
      from);
  if (values_read != nullptr) *values_read = values;
  return status;
}

// The send limits' snapshot, when one was written: it covers no seq past the log's last.
Status LmdbStore::loadGovernor(MDB_txn* txn, std::optional<GovernorSnapshot>& out) const {
  std::optional<std::string_view> value;
  Status status = getVerified(txn, dbis_[kMetaDb], "meta", kMetaGovernor, kAnyPayloadBytes, value);
  if (!status.isOk() || !value.has_value()) return status;
  GovernorSnapshot snapshot;
  status = decodeGovernor(*value, snapshot);
  if (!status.isOk()) return corrupt("meta", kMetaGovernor, status.message());
  Result<std::uint64_t> last_seq = lastSeqIn(txn, readableBytes());
  if (!last_seq.isOk()) return last_seq.status();
  if (snapshot.through_seq > last_seq.value()) {
    return corrupt("meta", kMetaGovernor,
                   "covers seq " + std::to_string(snapshot.through_seq) +
                       ", past the progress log's last seq " + std::to_string(last_seq.value()));
  }
  out = std::move(snapshot);
  return Status::ok();
}

Status LmdbStore::loadTasks(MDB_txn* txn, std::vector<Task>& out) const {
  return forEachTask(txn, [&out](const Task& task) {
    out.push_back(task);
    return Status::ok();
  });
}

Status LmdbStore::forEachTask(MDB_txn* txn, const std::function<Status(const Task&)>& visit) const {
  Task task;
  return forEach(txn, kTasksDb, [&](std::string_view key, std::string_view value) {
    if (key.size() != kProgressKeyBytes) {
      return corrupt("tasks", key, "key is " + std::to_string(key.size()) + " bytes, not 8");
    }
    const std::uint64_t id = decodeProgressKey(key);
    if (id == 0) return corrupt("tasks", key, "id 0");
    task = Task();
    Status status = decodeTask(id, value, task);
    if (!status.isOk()) return corrupt("tasks", key, status.message());
    return visit(task);
  });
}

Status LmdbStore::loadSequences(MDB_txn* txn, std::vector<SequenceState>& out) const {
  return forEach(txn, kSequencesDb, [&](std::string_view key, std::string_view value) {
    if (value.size() != 1 || (value[0] != '\0' && value[0] != '\1')) {
      return corrupt("sequences", key, "active flag is not one byte 0 or 1");
    }
    out.push_back(SequenceState{std::string(key), value[0] == '\1'});
    return Status::ok();
  });
}

Status LmdbStore::loadClock(MDB_txn* txn, std::optional<TimeMs>& out) const {
  std::optional<std::string_view> value;
  Status status = getVerified(txn, dbis_[kMetaDb], "meta", kMetaClock, kClockValueBytes, value);
  if (!status.isOk()) return status;
  if (value.has_value()) out = static_cast<TimeMs>(fromLittleEndian(*value));
  return Status::ok();
}

// Applies the share's journal entries after the last finished checkpoint's start to the
// table's enrollments, in seq order, and names them in share.journal_ids. Entries at or before
// it (left for a later commit to delete) are skipped, as are the other shares' entries. Each
// entry is decoded straight over the row it replaces (the table's rows are in id order;
// enrollments added since the checkpoint go to share.added), so the latest entry of an id is
// the row left, with no decoded copy of the tail in between. An entry's contact key, its
// send out and its extras are kept in the share (see JournalShare); rows is only read.
// On a failure, the share's status says what and failed_at where.
Status LmdbStore::loadJournal(MDB_txn* txn, const SymbolCodes& codes,
                              std::vector<Enrollment>& table, const RowsLoad& rows,
                              JournalShare& share) const {
  Checkpoint checkpoint;
  Status status = loadCheckpoint(txn, checkpoint);
  if (!status.isOk()) {
    share.failed_at = 0;
    return status;
  }
  // The row an entry replaces: in the table (its position) or among the added ones.
  struct RowAt {
    Enrollment* row;
    std::size_t table_at;  // SIZE_MAX for an added row
  };
  const auto rowOf = [&](EnrollmentId id) -> RowAt {
    // Ids are dense (0, 1, ...) unless the store is damaged: the row is at its id. Only then
    // are there several shares, so a share reads no other share's rows.
    std::size_t at = id;
    if (!rows.dense) {
      auto found = std::lower_bound(
          table.begin(), table.end(), id,
          [](const Enrollment& row, EnrollmentId target) { return row.id < target; });
      at = static_cast<std::size_t>(found - table.begin());
    }
    if (at < table.size() && table[at].id == id) return {&table[at], at};
    auto [added, inserted] = share.added_at.try_emplace(id, share.added.size());
    if (inserted) {
      share.added.emplace_back();
      share.added_keys.emplace_back();
    }
    return {&share.added[added->second], SIZE_MAX};
  };
  EnrollmentDecodeMemo memo;
  memo.codes = &codes;
  SendOut send;
  EnrollmentExtras extras;
  // Values wholly at or before the last finished checkpoint's start are not read at all.
  std::string from;
  status = logValueHolding(txn, kJournalDb, checkpoint.finished_through + 1, from);
  if (!status.isOk()) {
    share.failed_at = 0;
    return status;
  }
  // Where the reading is, in seq order: where a failure is (a key's, the seq after the
  // value before it).
  std::uint64_t position = 0;
  status = forEach(
      txn, kJournalDb,
      [&](std::string_view key, std::string_view value) {
        LogKey log_key;
        if (!decodeLogKey(key, log_key)) return badLogKey("journal", key);
        LogEntryReader entries(log_key, value);
        std::string_view entry;
        std::uint64_t seq = log_key.first_seq;
        for (; (position = seq, entries.next(entry)); ++seq) {
          if (seq <= checkpoint.finished_through) continue;
          // Built for an error only: a string an entry was ~3% of the load thread's time.
          const auto where = [&] {
            return log_key.packed ? "seq " + std::to_string(seq) + ": " : std::string();
          };
          if (entry.size() < kJournalIdBytes) {
            return corrupt("journal", key, where() + "no enrollment id");
          }
          const auto id =
              static_cast<EnrollmentId>(fromLittleEndian(entry.substr(0, kJournalIdBytes)));
          if (!share.owns(id)) continue;
          const RowAt at = rowOf(id);
          const bool in_table = at.table_at != SIZE_MAX;
          // A table row's key is read here, and its changes kept aside (share.rekeyed): another
          // thread may be reading the table's keys meanwhile.
          std::string_view key_bytes = in_table ? rows.table_keys[at.table_at]
                                                : share.added_keys[at.row - share.added.data()];
          Status decoded = decodeEnrollment(id, entry.substr(kJournalIdBytes), *at.row, send,
                                            extras, memo, key_bytes);
          if (!decoded.isOk()) return corrupt("journal", key, where() + decoded.message());
          // Taken away: kept as such only over the table's (the share's map holds only what
          // the merge must change: most sends out come and go within the tail).
          if (at.row->sending) {
            share.sends[id] = send;
          } else if (rows.sends.contains(id)) {
            share.sends[id] = std::nullopt;
          } else if (!share.sends.empty()) {
            share.sends.erase(id);
          }
          if (!extras.empty()) {
            share.extras[id] = extras;
          } else if (rows.extras.contains(id)) {
            share.extras[id] = std::nullopt;
          } else if (!share.extras.empty()) {
            share.extras.erase(id);
          }
          if (key_bytes.empty()) {
            return corrupt("journal", key,
                           where() + "enrollment " + std::to_string(id) +
                               " names no contact, and neither its row nor an entry before does");
          }
          if (!in_table) {
            share.added_keys[at.row - share.added.data()] = key_bytes;
          } else if (key_bytes.data() != rows.table_keys[at.table_at].data() &&
                     (key_bytes != rows.table_keys[at.table_at] || !share.rekeyed.empty())) {
            // The entry names its contact (format 4), and not as the table's row does, or
            // after some entry named another (kept too, so that the last entry wins).
            share.rekeyed.emplace_back(at.table_at, key_bytes);
          }
          share.journal_ids.push_back(id);
        }
        const Status read = entries.finish();
        return read.isOk() ? read : corrupt("journal", key, read.message());
      },
      from);
  if (!status.isOk()) share.failed_at = position;
  return status;
}

// The key of the journal's or the progress log's (index) value holding `seq`, or when none
// does the key a cursor seeks to for the first value after it.
Status LmdbStore::logValueHolding(MDB_txn* txn, std::size_t index, std::uint64_t seq,
                                  std::string& out) const {
  const char* db = kStoreDbNames[index];
  out = encodeProgressKey(seq);
  Cursor cursor;
  int rc = cursor.open(txn, dbis_[index]);
  if (rc != 0) return mdbError(std::string("open ") + db + " cursor", rc);
  MDB_val key = mdbValue(out);
  MDB_val value{};
  // The first key at or after seq's 8 bytes: a value starting at seq, or the one after.
  rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_SET_RANGE);
  if (rc != 0 && rc != MDB_NOTFOUND) return mdbError(std::string("read ") + db, rc);
  LogKey found;
  if (rc == 0 && decodeLogKey(view(key), found) && found.first_seq == seq) {
    out.assign(view(key));
    return Status::ok();
  }
  // Else the value before it (the last, when none is at or after) may hold seq.
  rc = mdb_cursor_get(cursor.get(), &key, &value, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  if (rc == MDB_NOTFOUND) return Status::ok();
  if (rc != 0) return mdbError(std::string("read ") + db, rc);
  if (decodeLogKey(view(key), found) && found.lastSeq() >= seq) out.assign(view(key));
  return Status::ok();
}

Status LmdbStore::loadCheckpoint(MDB_txn* txn, Checkpoint& out) const {
  std::optional<std::string_view> value;
  Status status =
      getVerified(txn, dbis_[kMetaDb], "meta", kMetaCheckpoint, kCheckpointValueBytes, value);
  if (!status.isOk()) return status;
  if (!value.has_value()) return damaged("meta has no checkpoint record");
  out.started_through = fromLittleEndian(value->substr(0, 8));
  out.finished_through = fromLittleEndian(value->substr(8, 8));
  return Status::ok();
}

// What was loaded against the counts record written in the same commits.
Status LmdbStore::checkLoadedCounts(MDB_txn* txn, const std::uint64_t (&loaded)[kMetaDb]) const {
  std::optional<std::string_view> bytes;
  Status status = getVerified(txn, dbis_[kMetaDb], "meta", kMetaCounts, kCountsValueBytes, bytes);
  if (!status.isOk()) return status;
  if (!bytes.has_value()) return damaged("meta has no counts record");
  const Counts counts = decodeCounts(*bytes);
  const std::uint64_t* expected = counts.entries;
  for (std::size_t i = 0; i < std::size(loaded); ++i) {
    if (loaded[i] != expected[i]) {
      return damaged("loaded " + std::to_string(loaded[i]) + " entries of DB '" + kStoreDbNames[i] +
                     "'; the meta counts record says " + std::to_string(expected[i]));
    }
  }
  return Status::ok();
}

Status LmdbStore::load(LoadedState& out) {
  out = LoadedState();
  Status status = checkProcess();
  if (!status.isOk()) return status;
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  LoadedState state;
  std::uint64_t loaded[kMetaDb] = {};
  SymbolCodes codes;
  status = loadSymbols(txn.get(), codes);
  std::size_t table_rows = 0;
  if (status.isOk()) status = loadContactsAndEnrollments(txn.get(), codes, state, table_rows);
  loaded[kEnrollmentsDb] = table_rows;
  if (status.isOk()) status = loadGovernor(txn.get(), state.governor);
  std::size_t progress_values = 0;
  if (status.isOk()) {
    status = loadProgress(txn.get(), kProgressDb, state.progress,
                          state.governor ? state.governor->through_seq : 0, &progress_values);
  }
  if (status.isOk()) status = loadSequences(txn.get(), state.sequences);
  if (status.isOk()) status = loadTasks(txn.get(), state.tasks);
  if (status.isOk()) status = loadProgress(txn.get(), kInboundDb, state.inbound);
  if (status.isOk()) status = loadTeam(txn.get(), state.team);
  loaded[kTasksDb] = state.tasks.size();
  loaded[kInboundDb] = state.inbound.size();
  if (status.isOk()) status = loadClock(txn.get(), state.clock_ms);
  loaded[kContactsDb] = state.contacts.size();
  loaded[kSequencesDb] = state.sequences.size();
  // The journal and the log are read from a seq on; forEach checked what it read against
  // LMDB's count.
  for (const std::size_t index : {kJournalDb, kProgressDb}) {
    if (!status.isOk()) break;
    MDB_stat stat{};
    const int stat_rc = mdb_stat(txn.get(), dbis_[index], &stat);
    if (stat_rc != 0) return mdbError(std::string("stat ") + kStoreDbNames[index], stat_rc);
    loaded[index] = stat.ms_entries;
  }
  if (status.isOk() && !state.governor && progress_values != loaded[kProgressDb]) {
    return damaged("loaded " + std::to_string(progress_values) +
                   " entries of DB 'progress'; LMDB counts " + std::to_string(loaded[kProgressDb]));
  }
  if (status.isOk()) status = checkLoadedCounts(txn.get(), loaded);
  if (!status.isOk()) return status;
  governor_through_seq_ = state.governor ? state.governor->through_seq : 0;
  codes_ = std::move(codes);
  keyed_.clear();
  keyed_sparse_.clear();
  for (const Enrollment& row : state.enrollments) setKeyed(row.id, true);
  out = std::move(state);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------
// Writes

// Appends the checksum to `value` and writes it under `key` with write(key, value): mdb_put or
// mdb_cursor_put.
template <typename Write>
Status LmdbStore::putChecked(std::size_t index, std::string_view key, std::string& value,
                             Write write) {
  const char* db = kStoreDbNames[index];
  appendStoreChecksum(db, key, value);
  MDB_val mdb_key = mdbValue(key);
  MDB_val mdb_value = mdbValue(value);
  const int rc = write(&mdb_key, &mdb_value);
  if (rc != 0) return mdbError(std::string("put ") + db + " key '" + printableKey(key) + "'", rc);
  return Status::ok();
}

Status LmdbStore::put(MDB_txn* txn, std::size_t index, std::string_view key, std::string& value) {
  return putChecked(index, key, value, [&](MDB_val* mdb_key, MDB_val* mdb_value) {
    return mdb_put(txn, dbis_[index], mdb_key, mdb_value, 0);
  });
}

Status LmdbStore::putThrough(MDB_cursor* cursor, std::size_t index, std::string_view key,
                             std::string& value) {
  return putChecked(index, key, value, [&](MDB_val* mdb_key, MDB_val* mdb_value) {
    return mdb_cursor_put(cursor, mdb_key, mdb_value, 0);
  });
}

Status LmdbStore::readTasks(std::vector<Task>& out) {
  out.clear();
  Status status = checkProcess();
  if (!status.isOk()) return status;
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  status = loadTasks(txn.get(), out);
  if (!status.isOk()) out.clear();
  return status;
}

Status LmdbStore::visitTasks(const std::function<Status(const Task&)>& visit) {
  Status status = checkProcess();
  if (!status.isOk()) return status;
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  return forEachTask(txn.get(), visit);
}

Status LmdbStore::probeWrite() {
  Status status = checkProcess();
  if (!status.isOk()) return status;
  Transaction txn;
  int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  status = putCounts(txn.get(), commits_ + 1, last_journal_seq_);
  if (!status.isOk()) return status;
  if ((rc = txn.commit()) != 0) return mdbError("a test write", rc);
  ++commits_;
  return Status::ok();
}

Status LmdbStore::commit(const WriteBatch& batch) {
  const Status status = commitBatch(batch);
  if (!status.isOk()) {
    for (EnrollmentId id : keyed_pending_) setKeyed(id, false);
  }
  keyed_pending_.clear();
  return status;
}

bool LmdbStore::setKeyed(EnrollmentId id, bool keyed) {
  if (id >= kKeyedDenseMax)
    return keyed ? keyed_sparse_.insert(id).second : keyed_sparse_.erase(id) > 0;
  if (id >= keyed_.size()) {
    if (!keyed) return false;
    keyed_.resize(std::min<std::size_t>(
        std::max<std::size_t>(std::size_t{id} + 1, keyed_.size() * 2), kKeyedDenseMax));
  }
  const bool changed = keyed_[id] != keyed;
  keyed_[id] = keyed;
  return changed;
}

Status LmdbStore::commitBatch(const WriteBatch& batch) {
  Status status = checkProcess();
  if (!status.isOk()) return status;
  const bool trims =
      batch.history_keep_from_ms.has_value() || batch.inbound_keep_from_ms.has_value();
  if (batch.empty() && !(trim_pending_ && trims)) return Status::ok();
  bool pending = false;
  Transaction txn;
  const int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  std::string scratch;
  std::uint64_t last_journal_seq = last_journal_seq_;
  Checkpoint checkpoint = checkpoint_;
  status = putContacts(txn.get(), batch.contacts, scratch);
  if (status.isOk()) status = putJournal(txn.get(), batch.enrollments, scratch, last_journal_seq);
  if (status.isOk()) status = putEnrollments(txn.get(), batch.checkpoint_rows, scratch);
  if (status.isOk()) status = putSymbols(txn.get(), scratch);
  if (status.isOk()) status = putCheckpoint(txn.get(), batch, last_journal_seq, checkpoint);
  if (status.isOk()) status = putProgress(txn.get(), batch.progress, scratch);
  if (status.isOk()) status = putSequences(txn.get(), batch.sequences);
  if (status.isOk()) status = putTasks(txn.get(), batch.tasks, scratch);
  if (status.isOk()) status = putTeam(txn.get(), batch.team, scratch);
  const std::size_t trim_max = historyTrimBound(batch, history_trim_per_commit_max_);
  const std::uint64_t governor_through_seq =
      batch.governor.has_value() ? batch.governor->through_seq : governor_through_seq_;
  if (status.isOk() && batch.history_keep_from_ms.has_value()) {
    status = trimHistory(txn.get(), kProgressDb, *batch.history_keep_from_ms, trim_max, true,
                         governor_through_seq, pending);
  }
  if (status.isOk() && batch.inbound_keep_from_ms.has_value()) {
    status = trimHistory(txn.get(), kInboundDb, *batch.inbound_keep_from_ms, trim_max, false, 0,
                         pending);
  }
  if (status.isOk() && batch.clock_ms.has_value()) {
    scratch = littleEndian(static_cast<std::uint64_t>(*batch.clock_ms), kClockValueBytes);
    status = put(txn.get(), kMetaDb, kMetaClock, scratch);
  }
  if (status.isOk() && batch.governor.has_value()) {
    status = putGovernor(txn.get(), *batch.governor, scratch);
  }
  if (status.isOk()) status = putCounts(txn.get(), commits_ + 1, last_journal_seq);
  if (!status.isOk()) return status;  // txn aborts: nothing of the batch is written
  const int commit_rc = txn.commit();
  if (commit_rc != 0) {
    return mdbError("commit of " + std::to_string(batch.recordCount()) + " records", commit_rc);
  }
  ++commits_;
  codes_.confirmAll();
  if (trims) trim_pending_ = pending;
  governor_through_seq_ = governor_through_seq;
  last_journal_seq_ = last_journal_seq;
  checkpoint_ = checkpoint;
  // Each page a commit reads on its way stays mapped; see kReleaseMapAfterContacts.
  const std::lock_guard lock(release_mutex_);
  contacts_since_release_ += batch.contacts.size();
  records_since_release_ += batch.recordCount();
  if (contacts_since_release_ >= kReleaseMapAfterContacts ||
      (records_since_release_ >= kReleaseMapAfterRecords &&
       std::chrono::steady_clock::now() - released_at_ >= release_map_interval_)) {
    releaseWritten();
  }
  return Status::ok();
}

void LmdbStore::idle() {
  const std::lock_guard lock(release_mutex_);
  if (contacts_since_release_ > 0 || records_since_release_ > 0) releaseWritten();
}

// The release after commits (commit(), idle()), starting the counts and the interval again.
// REQUIRES: release_mutex_ held.
void LmdbStore::releaseWritten() {
  contacts_since_release_ = 0;
  records_since_release_ = 0;
  released_at_ = std::chrono::steady_clock::now();
  releaseMappedPages();
}

// MADV_DONTNEED on a shared mapping of a file drops this process's page table entries for
// the range, nothing else: the pages stay in the page cache, and the next read through the map
// faults them back from it. The map is never written through (no MDB_WRITEMAP), so they
// hold exactly the file's bytes, and a read transaction going on in another thread, or a
// view into the map, reads the same bytes after as before. The range is what the file held
// at open (the walk read it) or holds in use now, whichever is more.
void LmdbStore::releaseMappedPages() {
  if (map_begin_ == nullptr || ::getpid() != opener_pid_) return;
  const std::size_t bytes =
      std::min(std::max<std::size_t>(readableBytes(), file_bytes_), map_bytes_);
  if (bytes == 0) return;
  // Only advice: on failure the pages just stay resident.
  ::madvise(const_cast<char*>(map_begin_), bytes, MADV_DONTNEED);
}

// The send limits' snapshot, replacing the last one. It may cover no record the log does
// not hold (or once held): a snapshot past the last seq would make a restart skip records.
Status LmdbStore::putGovernor(MDB_txn* txn, const GovernorSnapshot& snapshot,
                              std::string& scratch) {
  Result<std::uint64_t> last_seq = lastSeqIn(txn, 0);
  if (!last_seq.isOk()) return last_seq.status();
  if (snapshot.through_seq > last_seq.value()) {
    return Status::invalidArgument(
        "governor snapshot through seq " + std::to_string(snapshot.through_seq) +
        " is past the last progress seq " + std::to_string(last_seq.value()));
  }
  const Status encoded = encodeGovernor(snapshot, scratch);
  Status status = checkEncoded(encoded, snapshot, scratch, "meta", kMetaGovernor);
  if (!status.isOk()) return status;
  return put(txn, kMetaDb, kMetaGovernor, scratch);
}

// Appends the snapshots to the journal under the next seqs, packed into values
// (LogValueWriter).
Status LmdbStore::putJournal(MDB_txn* txn, const EnrollmentSnapshots& enrollments,
                             std::string& scratch, std::uint64_t& last_seq) {
  if (enrollments.empty()) return Status::ok();
  Cursor cursor;
  int rc = cursor.open(txn, dbis_[kJournalDb]);
  if (rc != 0) return mdbError("open journal cursor", rc);
  LogValueWriter writer(cursor.get(), "journal", log_value_bytes_, scratch);
  std::string record;
  for (const EnrollmentRecord& snapshot : enrollments) {
    const Enrollment& enrollment = snapshot.row;
    // The contact key once per enrollment: later entries (format 5) take it from before.
    const bool keyed_before = keyed(enrollment.id);
    const Status encoded = encodeEnrollment(snapshot, record, codes_, !keyed_before);
    Status status = checkEncoded(encoded, snapshot, record, "enrollments",
                                 encodeEnrollmentKey(enrollment.id), &codes_);
    if (!status.isOk()) return status;
    if (!keyed_before) markKeyed(enrollment.id);
    const std::string id = littleEndian(enrollment.id, kJournalIdBytes);
    if ((rc = writer.add(last_seq + 1, id, record)) != 0) return appendError(writer, rc);
    ++last_seq;
  }
  if ((rc = writer.flush()) != 0) return appendError(writer, rc);
  return Status::ok();
}

Status LmdbStore::appendError(const LogValueWriter& writer, int rc) const {
  const std::string seqs =
      std::to_string(writer.firstSeq()) + "-" + std::to_string(writer.lastSeq());
  if (rc == MDB_KEYEXIST) {
    return Status::invalidArgument(std::string(writer.db()) + " seqs " + seqs +
                                   " are not above the last in the store");
  }
  return mdbError(std::string("append ") + writer.db() + " seqs " + seqs, rc);
}

// Notes a checkpoint starting or finishing, and deletes journal values a finished one
// covers (a bounded number per commit).
Status LmdbStore::putCheckpoint(MDB_txn* txn, const WriteBatch& batch,
                                std::uint64_t last_journal_seq, Checkpoint& checkpoint) {
  const Checkpoint before = checkpoint;
  if (batch.checkpoint_start) checkpoint.started_through = last_journal_seq;
  if (batch.checkpoint_finish) checkpoint.finished_through = checkpoint.started_through;
  if (checkpoint.started_through != before.started_through ||
      checkpoint.finished_through != before.finished_through) {
    std::string value = encodeCheckpoint(checkpoint);
    Status status = put(txn, kMetaDb, kMetaCheckpoint, value);
    if (!status.isOk()) return status;
  }
  return trimJournal(txn, checkpoint.finished_through, journalTrimBound(batch));
}

Status LmdbStore::trimJournal(MDB_txn* txn, std::uint64_t through, std::size_t deletes_max) {
  if (through == 0) return Status::ok();
  Cursor cursor;
  int rc = cursor.open(txn, dbis_[kJournalDb]);
  if (rc != 0) return mdbError("open journal cursor", rc);
  MDB_val key{};
  MDB_val value{};
  for (std::size_t deleted = 0; deleted < deletes_max; ++deleted) {
    rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_FIRST);
    if (rc == MDB_NOTFOUND) break;
    if (rc != 0) return mdbError("read journal", rc);
    LogKey log_key;
    if (!decodeLogKey(view(key), log_key) || log_key.lastSeq() > through) break;
    if ((rc = mdb_cursor_del(cursor.get(), 0)) != 0) return mdbError("trim journal", rc);
  }
  return Status::ok();
}

// The counts record, from LMDB's entry counts inside this write txn.
Status LmdbStore::putCounts(MDB_txn* txn, std::uint64_t commits, std::uint64_t last_journal_seq) {
  Counts counts;
  for (std::size_t i = 0; i < std::size(counts.entries); ++i) {
    MDB_stat stat{};
    const int rc = mdb_stat(txn, dbis_[i], &stat);
    if (rc != 0) return mdbError(std::string("stat ") + kStoreDbNames[i], rc);
    counts.entries[i] = stat.ms_entries;
  }
  Result<std::uint64_t> last_seq = lastSeqIn(txn, 0);
  if (!last_seq.isOk()) return last_seq.status();
  counts.last_progress_seq = last_seq.value();
  counts.commits = commits;
  counts.last_journal_seq = last_journal_seq;
  std::string value = encodeCounts(counts);
  return put(txn, kMetaDb, kMetaCounts, value);
}

// Lists and shares: opaque to the store (engine/team_records.hpp); each written or deleted
// in order.
Status LmdbStore::putTeam(MDB_txn* txn, const std::vector<TeamRecord>& records,
                          std::string& scratch) {
  for (const TeamRecord& record : records) {
    Status status = checkKey("teams", record.key);
    if (!status.isOk()) return status;
    if (record.erase) {
      MDB_val key = mdbValue(record.key);
      const int rc = mdb_del(txn, dbis_[kTeamsDb], &key, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) {
        return mdbError("delete teams key '" + printableKey(record.key) + "'", rc);
      }
      continue;
    }
    scratch = record.value;
    status = put(txn, kTeamsDb, record.key, scratch);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

Status LmdbStore::putContacts(MDB_txn* txn, const std::vector<ContactRef>& contacts,
                              std::string& scratch) {
  for (const ContactRef& contact : contacts) {
    const std::string_view key = contact->key();
    Status status = checkKey("contacts", key);
    if (!status.isOk()) return status;
    const Status encoded = encodeContact(*contact, scratch);
    status = checkEncoded(encoded, *contact, scratch, "contacts", key);
    if (!status.isOk()) return status;
    status = put(txn, kContactsDb, key, scratch);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

// The symbols table's entries not known to be committed (those the batch's rows handed out,
// and any a failed commit did), in the transaction of the rows that name them. A code the
// table holds already must hold the same string (a commit that failed after it landed);
// another string there would change the rows that name it, and is refused.
Status LmdbStore::putSymbols(MDB_txn* txn, std::string& scratch) {
  const std::uint32_t first = codes_.firstUnconfirmed();
  for (std::size_t i = 0; i < codes_.unconfirmedCount(); ++i) {
    const auto code = static_cast<std::uint32_t>(first + i);
    const std::string key = encodeEnrollmentKey(code);
    scratch.assign(codes_.symbolAt(code).view());
    appendStoreChecksum("symbols", key, scratch);
    MDB_val mdb_key = mdbValue(key);
    MDB_val mdb_value = mdbValue(scratch);
    const int rc = mdb_put(txn, dbis_[kSymbolsDb], &mdb_key, &mdb_value, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST && std::string_view(static_cast<const char*>(mdb_value.mv_data),
                                               mdb_value.mv_size) == scratch) {
      continue;
    }
    if (rc == MDB_KEYEXIST) {
      return Status::failedPrecondition("symbols code " + std::to_string(code) +
                                        " holds another string than '" +
                                        printableKey(codes_.symbolAt(code).view()) + "'");
    }
    if (rc != 0) return mdbError("put symbols code " + std::to_string(code), rc);
  }
  return Status::ok();
}

Status LmdbStore::putEnrollments(MDB_txn* txn, const EnrollmentSnapshots& enrollments,
                                 std::string& scratch) {
  if (enrollments.empty()) return Status::ok();
  // Through one cursor: a checkpoint slice's rows come in id order, and LMDB looks for a key
  // on the cursor's page first, so most puts skip the descent from the root.
  Cursor cursor;
  const int opened = cursor.open(txn, dbis_[kEnrollmentsDb]);
  if (opened != 0) return mdbError("open enrollments cursor", opened);
  for (const EnrollmentRecord& snapshot : enrollments) {
    const std::string key = encodeEnrollmentKey(snapshot.row.id);
    const Status encoded = encodeEnrollment(snapshot, scratch, codes_);
    const Status status = checkEncoded(encoded, snapshot, scratch, "enrollments", key, &codes_);
    if (!status.isOk()) return status;
    const Status put = putThrough(cursor.get(), kEnrollmentsDb, key, scratch);
    if (!put.isOk()) return put;
    markKeyed(snapshot.row.id);
  }
  return Status::ok();
}

// Appends the records, packed into values (LogValueWriter), and copies each kInbound record
// into the inbound table under its seq. The seqs must rise within the batch and start above
// the log's last.
Status LmdbStore::putProgress(MDB_txn* txn, const std::vector<ProgressRecord>& progress,
                              std::string& scratch) {
  if (progress.empty()) return Status::ok();
  Result<std::uint64_t> last = lastSeqIn(txn, 0);
  if (!last.isOk()) return last.status();
  if (progress.front().seq <= last.value()) {
    return Status::invalidArgument("progress seq " + std::to_string(progress.front().seq) +
                                   " is not above the last in the store (" +
                                   std::to_string(last.value()) + ")");
  }
  Cursor cursor;
  int rc = cursor.open(txn, dbis_[kProgressDb]);
  if (rc != 0) return mdbError("open progress cursor", rc);
  LogValueWriter writer(cursor.get(), "progress", log_value_bytes_, scratch);
  std::string record_bytes;
  std::uint64_t previous_seq = 0;
  for (const ProgressRecord& record : progress) {
    if (record.seq <= previous_seq) {
      return Status::invalidArgument("progress seq " + std::to_string(record.seq) +
                                     " is not above the one before it in the batch (" +
                                     std::to_string(previous_seq) + ")");
    }
    previous_seq = record.seq;
    const Status encoded = encodeProgress(record, record_bytes);
    Status status =
        checkEncoded(encoded, record, record_bytes, "progress", encodeProgressKey(record.seq));
    if (!status.isOk()) return status;
    if (record.kind == ProgressKind::kInbound) {
      std::string inbound = record_bytes;
      status = put(txn, kInboundDb, encodeProgressKey(record.seq), inbound);
      if (!status.isOk()) return status;
    }
    if ((rc = writer.add(record.seq, {}, record_bytes)) != 0) return appendError(writer, rc);
  }
  if ((rc = writer.flush()) != 0) return appendError(writer, rc);
  return Status::ok();
}

Status LmdbStore::putSequences(MDB_txn* txn, const std::vector<SequenceState>& sequences) {
  std::string flag;
  for (const SequenceState& sequence : sequences) {
    Status status = checkKey("sequences", sequence.sequence_id);
    if (!status.isOk()) return status;
    flag.assign(1, sequence.active ? '\1' : '\0');
    status = put(txn, kSequencesDb, sequence.sequence_id, flag);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

Status LmdbStore::putTasks(MDB_txn* txn, const std::vector<Task>& tasks, std::string& scratch) {
  for (const Task& task : tasks) {
    const std::string key = encodeProgressKey(task.id);
    const Status encoded = encodeTask(task, scratch);
    Status status = checkEncoded(encoded, task, scratch, "tasks", key);
    if (!status.isOk()) return status;
    status = put(txn, kTasksDb, key, scratch);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

// Deletes the oldest values of the progress log or the inbound table (index) while each of
// their records has a seq at most covered_seq (what the send limits' snapshot covers: no
// longer read) or an at_ms before keep_from_ms, at most deletes_max values; with keep_last,
// never the value holding the last record (the log's last seq stays where the counts record
// and the engine look for it). Sets `pending` when it stopped at that bound.
Status LmdbStore::trimHistory(MDB_txn* txn, std::size_t index, TimeMs keep_from_ms,
                              std::size_t deletes_max, bool keep_last, std::uint64_t covered_seq,
                              bool& pending) {
  const char* db = kStoreDbNames[index];
  std::uint64_t last_seq = 0;
  if (keep_last) {
    Result<std::uint64_t> last = lastSeqIn(txn, 0, index);
    if (!last.isOk()) return last.status();
    last_seq = last.value();
  }
  Cursor cursor;
  int rc = cursor.open(txn, dbis_[index]);
  if (rc != 0) return mdbError(std::string("open ") + db + " cursor", rc);
  MDB_val key{};
  MDB_val value{};
  ProgressRecord record;
  // True when every record of the value may go.
  const auto allOld = [&](const LogKey& log_key, std::string_view payload, bool& old) {
    old = true;
    LogEntryReader entries(log_key, payload);
    std::string_view entry;
    for (std::uint64_t seq = log_key.first_seq; entries.next(entry); ++seq) {
      if (seq <= covered_seq) continue;
      const Status status = decodeProgress(seq, entry, record);
      if (!status.isOk()) return corrupt(db, view(key), status.message());
      if (record.at_ms >= keep_from_ms) {
        old = false;
        return Status::ok();
      }
    }
    const Status read = entries.finish();
    return read.isOk() ? read : corrupt(db, view(key), read.message());
  };
  for (std::size_t deleted = 0; deleted < deletes_max; ++deleted) {
    rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_FIRST);
    if (rc == MDB_NOTFOUND) break;
    if (rc != 0) return mdbError(std::string("read ") + db, rc);
    LogKey log_key;
    if (!decodeLogKey(view(key), log_key)) return badLogKey(db, view(key));
    if (keep_last && log_key.lastSeq() >= last_seq) break;
    std::string_view payload;
    Status status = verifiedPayload(db, key, true, value, 0, payload);
    if (!status.isOk()) return status;
    if (log_key.lastSeq() > covered_seq) {
      bool old = true;
      status = allOld(log_key, payload, old);
      if (!status.isOk()) return status;
      if (!old) break;
    }
    if ((rc = mdb_cursor_del(cursor.get(), 0)) != 0) {
      return mdbError(std::string("trim ") + db, rc);
    }
    if (deleted + 1 == deletes_max) pending = true;
  }
  return Status::ok();
}

// Takes the exclusive lock that keeps a second open of `dir` out, in any process.
Result<int> lockDirectory(const std::string& dir) {
  const std::string path = dir + "/" + kLockFileName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kFileMode);
  if (fd < 0) return errnoStatus("cannot open store lock '" + path + "'", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return Status::failedPrecondition("store " + dir +
                                        " is already open (by this or another process)");
    }
    return errnoStatus("cannot lock '" + path + "'", error);
  }
  return fd;
}

}  // namespace

std::size_t journalTrimBound(const WriteBatch& batch) {
  return boundByWork(batch.enrollments.size() + batch.checkpoint_rows.size(), kTrimPerRecord,
                     kTrimPerCommitMin, kJournalTrimPerCommitMax);
}

std::size_t historyTrimBound(const WriteBatch& batch, std::size_t most) {
  return boundByWork(batch.progress.size(), kTrimPerRecord, kTrimPerCommitMin, most);
}

bool isOutOfRoom(const Status& status) {
  if (status.code() != StatusCode::kIOError) return false;
  const std::string_view message = status.message();
  return message.starts_with(kNoSpaceMessage) || message.starts_with(kStoreFullMessage);
}

Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir) {
  return openLmdbStore(dir, StoreOptions());
}

Result<std::unique_ptr<Store>> openLmdbStore(const std::string& dir, const StoreOptions& options) {
  if (dir.empty()) return Status::invalidArgument("store directory is empty");
  Status status = createDirectories(dir);
  if (!status.isOk()) return status;
  Result<int> lock_fd = lockDirectory(dir);
  if (!lock_fd.isOk()) return lock_fd.status();
  auto store = std::make_unique<LmdbStore>(dir, lock_fd.value());
  status = store->open(options);
  if (!status.isOk()) return status;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace seqd
