// The LMDB implementation of Store; the schema, write path and caveats are in io/store.hpp.
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <source_location>
#include <string_view>
#include <utility>

#include "io/record_codec.hpp"
#include "io/store.hpp"

namespace seqd {
namespace {

constexpr MDB_dbi kDatabasesMax = 8;  // five used; room to add without a reopen dance
constexpr mode_t kDirectoryMode = 0750;
constexpr mode_t kFileMode = 0640;
constexpr std::size_t kPathComponentsMax = 256;
constexpr const char* kLockFileName = "seqd.lock";
constexpr std::string_view kMetaSchemaVersion = "schema_version";
constexpr std::string_view kMetaClock = "clock_ms";
constexpr std::size_t kEnrollmentKeyBytes = 4;
constexpr std::size_t kProgressKeyBytes = 8;
constexpr std::size_t kClockValueBytes = 8;
constexpr std::size_t kSchemaVersionBytes = 4;

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

Status errnoStatus(const std::string& what, int error) {
  std::string message = what + ": " + std::strerror(error);
  if (error == EACCES || error == EPERM) return Status::permissionDenied(std::move(message));
  return Status::ioError(std::move(message));
}

[[noreturn]] void roundTripFailed(const char* db, std::string_view key,
                                  std::source_location location) {
  std::fprintf(stderr, "%s:%u: assertion failed: %s record '%s' does not decode back equal\n",
               location.file_name(), static_cast<unsigned>(location.line()), db,
               printableKey(key).c_str());
  std::abort();
}

Status decodeLike(const Contact& record, std::string_view value, Contact& out) {
  return decodeContact(record.key, value, out);
}
Status decodeLike(const Enrollment& record, std::string_view value, Enrollment& out) {
  return decodeEnrollment(record.id, value, out);
}
Status decodeLike(const ProgressRecord& record, std::string_view value, ProgressRecord& out) {
  return decodeProgress(record.seq, value, out);
}
bool same(const Contact& left, const Contact& right) { return sameContact(left, right); }
bool same(const Enrollment& left, const Enrollment& right) { return sameEnrollment(left, right); }
bool same(const ProgressRecord& left, const ProgressRecord& right) {
  return sameProgress(left, right);
}

// The pre-write check: the encoded record must decode, and decode to what was given. A value
// the decoder refuses came from the caller (InvalidArgument); a different value is our bug.
template <typename Record>
Status verifyEncoded(const Record& record, std::string_view encoded, const char* db,
                     std::string_view key,
                     std::source_location location = std::source_location::current()) {
  Record decoded;
  Status status = decodeLike(record, encoded, decoded);
  if (!status.isOk()) {
    return Status::invalidArgument(std::string(db) + " key '" + printableKey(key) +
                                   "' cannot be stored: " + status.message());
  }
  if (!same(record, decoded)) roundTripFailed(db, key, location);
  return Status::ok();
}

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

 private:
  Status openDatabases();
  Status checkSchemaVersion(MDB_txn* txn);
  Status checkProcess() const;
  Status mdbError(const std::string& what, int rc) const;
  Status corrupt(const char* db, std::string_view key, const std::string& reason) const;
  Status checkKey(const char* db, std::string_view key) const;
  Result<std::uint64_t> lastSeqIn(MDB_txn* txn) const;

  Status putContacts(MDB_txn* txn, const std::vector<Contact>& contacts, std::string& scratch);
  Status putEnrollments(MDB_txn* txn, const std::vector<Enrollment>& enrollments,
                        std::string& scratch);
  Status putProgress(MDB_txn* txn, const std::vector<ProgressRecord>& progress,
                     std::string& scratch);
  Status putSequences(MDB_txn* txn, const std::vector<SequenceState>& sequences);
  Status put(MDB_txn* txn, MDB_dbi dbi, const char* db, std::string_view key,
             std::string_view value);

  template <typename Visit>
  Status forEach(MDB_txn* txn, MDB_dbi dbi, const char* db, Visit visit) const;
  Status loadContacts(MDB_txn* txn, std::vector<Contact>& out) const;
  Status loadEnrollments(MDB_txn* txn, std::vector<Enrollment>& out) const;
  Status loadProgress(MDB_txn* txn, std::vector<ProgressRecord>& out) const;
  Status loadSequences(MDB_txn* txn, std::vector<SequenceState>& out) const;
  Status loadClock(MDB_txn* txn, std::optional<TimeMs>& out) const;

  std::string dir_;
  int lock_fd_ = -1;
  pid_t opener_pid_ = ::getpid();
  MDB_env* env_ = nullptr;
  std::size_t key_bytes_max_ = 0;
  MDB_dbi contacts_ = 0;
  MDB_dbi enrollments_ = 0;
  MDB_dbi progress_ = 0;
  MDB_dbi sequences_ = 0;
  MDB_dbi meta_ = 0;
};

Status LmdbStore::mdbError(const std::string& what, int rc) const {
  const std::string where = "store " + dir_ + ": ";
  if (rc == MDB_MAP_FULL) {
    return Status::ioError("store is full: " + dir_ + ": " + what + ": " + mdb_strerror(rc) +
                           " (reopen with a larger map size)");
  }
  if (rc == MDB_TXN_FULL) {
    return Status::ioError(where + what + ": " + mdb_strerror(rc) +
                           " (too many changes in one commit)");
  }
  if (rc == EACCES || rc == EPERM) {
    return Status::permissionDenied(where + what + ": " + mdb_strerror(rc));
  }
  return Status::ioError(where + what + ": " + mdb_strerror(rc));
}

Status LmdbStore::corrupt(const char* db, std::string_view key, const std::string& reason) const {
  return Status::corruption("store " + dir_ + ": " + db + " key '" + printableKey(key) +
                            "': " + reason);
}

Status LmdbStore::checkProcess() const {
  if (::getpid() == opener_pid_) return Status::ok();
  return Status::failedPrecondition("store " + dir_ + " was opened by process " +
                                    std::to_string(opener_pid_) +
                                    "; an LMDB env must not be used after fork()");
}

Status LmdbStore::open(const StoreOptions& options) {
  int rc = mdb_env_create(&env_);
  if (rc != 0) return mdbError("mdb_env_create", rc);
  if ((rc = mdb_env_set_maxdbs(env_, kDatabasesMax)) != 0) return mdbError("set_maxdbs", rc);
  if ((rc = mdb_env_set_mapsize(env_, options.map_bytes)) != 0) {
    return mdbError("set_mapsize", rc);
  }
  const unsigned env_flags = MDB_NOTLS | (options.sync_for_durability ? 0U : MDB_NOSYNC);
  if ((rc = mdb_env_open(env_, dir_.c_str(), env_flags, kFileMode)) != 0) {
    return mdbError("mdb_env_open", rc);
  }
  int dead_readers = 0;
  if ((rc = mdb_reader_check(env_, &dead_readers)) != 0) return mdbError("reader_check", rc);
  key_bytes_max_ = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_));
  return openDatabases();
}

Status LmdbStore::openDatabases() {
  Transaction txn;
  int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  const std::pair<const char*, MDB_dbi*> databases[] = {
      {"contacts", &contacts_}, {"enrollments", &enrollments_},
      {"progress", &progress_}, {"sequences", &sequences_},
      {"meta", &meta_},
  };
  for (const auto& [name, dbi] : databases) {
    if ((rc = mdb_dbi_open(txn.get(), name, MDB_CREATE, dbi)) != 0) {
      return mdbError(std::string("open database ") + name, rc);
    }
  }
  Status status = checkSchemaVersion(txn.get());
  if (!status.isOk()) return status;
  if ((rc = txn.commit()) != 0) return mdbError("commit", rc);
  return Status::ok();
}

Status LmdbStore::checkSchemaVersion(MDB_txn* txn) {
  MDB_val key = mdbValue(kMetaSchemaVersion);
  MDB_val value{};
  int rc = mdb_get(txn, meta_, &key, &value);
  if (rc == MDB_NOTFOUND) {
    return put(txn, meta_, "meta", kMetaSchemaVersion,
               littleEndian(kStoreSchemaVersion, kSchemaVersionBytes));
  }
  if (rc != 0) return mdbError("read schema_version", rc);
  if (value.mv_size != kSchemaVersionBytes) {
    return corrupt("meta", kMetaSchemaVersion,
                   "value is " + std::to_string(value.mv_size) + " bytes, expected 4");
  }
  const std::uint64_t version = fromLittleEndian(view(value));
  if (version != kStoreSchemaVersion) {
    return Status::failedPrecondition("store " + dir_ + " has schema version " +
                                      std::to_string(version) + "; this seqd reads version " +
                                      std::to_string(kStoreSchemaVersion));
  }
  return Status::ok();
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

Status LmdbStore::put(MDB_txn* txn, MDB_dbi dbi, const char* db, std::string_view key,
                      std::string_view value) {
  MDB_val mdb_key = mdbValue(key);
  MDB_val mdb_value = mdbValue(value);
  const int rc = mdb_put(txn, dbi, &mdb_key, &mdb_value, 0);
  if (rc != 0) return mdbError(std::string("put ") + db + " key '" + printableKey(key) + "'", rc);
  return Status::ok();
}

Status LmdbStore::commit(const WriteBatch& batch) {
  Status status = checkProcess();
  if (!status.isOk()) return status;
  const std::size_t records = batch.contacts.size() + batch.enrollments.size() +
                              batch.progress.size() + batch.sequences.size();
  if (records > kStoreBatchRecordsMax) {
    return Status::invalidArgument("store commit of " + std::to_string(records) +
                                   " records; at most " + std::to_string(kStoreBatchRecordsMax));
  }
  if (batch.empty()) return Status::ok();
  Transaction txn;
  const int rc = txn.begin(env_, 0);
  if (rc != 0) return mdbError("begin write txn", rc);
  std::string scratch;
  status = putContacts(txn.get(), batch.contacts, scratch);
  if (status.isOk()) status = putEnrollments(txn.get(), batch.enrollments, scratch);
  if (status.isOk()) status = putProgress(txn.get(), batch.progress, scratch);
  if (status.isOk()) status = putSequences(txn.get(), batch.sequences);
  if (status.isOk() && batch.clock_ms.has_value()) {
    status = put(txn.get(), meta_, "meta", kMetaClock,
                 littleEndian(static_cast<std::uint64_t>(*batch.clock_ms), kClockValueBytes));
  }
  if (!status.isOk()) return status;  // txn aborts: nothing of the batch is written
  const int commit_rc = txn.commit();
  if (commit_rc != 0) return mdbError("commit", commit_rc);
  return Status::ok();
}

Status LmdbStore::putContacts(MDB_txn* txn, const std::vector<Contact>& contacts,
                              std::string& scratch) {
  for (const Contact& contact : contacts) {
    Status status = checkKey("contacts", contact.key);
    if (!status.isOk()) return status;
    encodeContact(contact, scratch);
    status = verifyEncoded(contact, scratch, "contacts", contact.key);
    if (!status.isOk()) return status;
    status = put(txn, contacts_, "contacts", contact.key, scratch);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

Status LmdbStore::putEnrollments(MDB_txn* txn, const std::vector<Enrollment>& enrollments,
                                 std::string& scratch) {
  for (const Enrollment& enrollment : enrollments) {
    const std::string key = encodeEnrollmentKey(enrollment.id);
    encodeEnrollment(enrollment, scratch);
    Status status = verifyEncoded(enrollment, scratch, "enrollments", key);
    if (!status.isOk()) return status;
    status = put(txn, enrollments_, "enrollments", key, scratch);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

// Appends each record with MDB_APPEND, which refuses (MDB_KEYEXIST) a key not above the last.
Status LmdbStore::putProgress(MDB_txn* txn, const std::vector<ProgressRecord>& progress,
                              std::string& scratch) {
  if (progress.empty()) return Status::ok();
  Cursor cursor;
  int rc = cursor.open(txn, progress_);
  if (rc != 0) return mdbError("open progress cursor", rc);
  std::uint64_t previous_seq = 0;
  for (const ProgressRecord& record : progress) {
    if (record.seq <= previous_seq) {
      return Status::invalidArgument("progress seq " + std::to_string(record.seq) +
                                     " is not above the one before it in the batch (" +
                                     std::to_string(previous_seq) + ")");
    }
    previous_seq = record.seq;
    const std::string key = encodeProgressKey(record.seq);
    encodeProgress(record, scratch);
    Status status = verifyEncoded(record, scratch, "progress", key);
    if (!status.isOk()) return status;
    MDB_val mdb_key = mdbValue(key);
    MDB_val mdb_value = mdbValue(scratch);
    rc = mdb_cursor_put(cursor.get(), &mdb_key, &mdb_value, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
      Result<std::uint64_t> last = lastSeqIn(txn);
      return Status::invalidArgument(
          "progress seq " + std::to_string(record.seq) + " is not above the last in the store (" +
          (last.isOk() ? std::to_string(last.value()) : last.status().message()) + ")");
    }
    if (rc != 0) return mdbError("append progress seq " + std::to_string(record.seq), rc);
  }
  return Status::ok();
}

Status LmdbStore::putSequences(MDB_txn* txn, const std::vector<SequenceState>& sequences) {
  for (const SequenceState& sequence : sequences) {
    Status status = checkKey("sequences", sequence.sequence_id);
    if (!status.isOk()) return status;
    const char flag = sequence.active ? '\1' : '\0';
    status = put(txn, sequences_, "sequences", sequence.sequence_id, std::string_view(&flag, 1));
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

Result<std::uint64_t> LmdbStore::lastSeqIn(MDB_txn* txn) const {
  Cursor cursor;
  int rc = cursor.open(txn, progress_);
  if (rc != 0) return mdbError("open progress cursor", rc);
  MDB_val key{};
  MDB_val value{};
  rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_LAST);
  if (rc == MDB_NOTFOUND) return std::uint64_t{0};
  if (rc != 0) return mdbError("read last progress", rc);
  if (key.mv_size != kProgressKeyBytes) {
    return corrupt("progress", view(key), "key is " + std::to_string(key.mv_size) + " bytes");
  }
  return decodeProgressKey(view(key));
}

Result<std::uint64_t> LmdbStore::lastProgressSeq() {
  Status status = checkProcess();
  if (!status.isOk()) return status;
  Transaction txn;
  const int rc = txn.begin(env_, MDB_RDONLY);
  if (rc != 0) return mdbError("begin read txn", rc);
  return lastSeqIn(txn.get());
}

// Calls visit(key, value) for each entry in key order. The loop is bounded by the entry
// count LMDB keeps for the DB.
template <typename Visit>
Status LmdbStore::forEach(MDB_txn* txn, MDB_dbi dbi, const char* db, Visit visit) const {
  MDB_stat stat{};
  int rc = mdb_stat(txn, dbi, &stat);
  if (rc != 0) return mdbError(std::string("stat ") + db, rc);
  const std::size_t entries_max = stat.ms_entries;
  Cursor cursor;
  if ((rc = cursor.open(txn, dbi)) != 0) return mdbError(std::string("open cursor ") + db, rc);
  MDB_val key{};
  MDB_val value{};
  std::size_t entries = 0;
  for (rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) {
    if (++entries > entries_max) {
      return corrupt(
          db, view(key),
          "more entries than the " + std::to_string(entries_max) + " the database counts");
    }
    Status status = visit(view(key), view(value));
    if (!status.isOk()) return status;
  }
  if (rc != MDB_NOTFOUND) return mdbError(std::string("read ") + db, rc);
  return Status::ok();
}

Status LmdbStore::loadContacts(MDB_txn* txn, std::vector<Contact>& out) const {
  return forEach(txn, contacts_, "contacts", [&](std::string_view key, std::string_view value) {
    Contact contact;
    Status status = decodeContact(key, value, contact);
    if (!status.isOk()) return corrupt("contacts", key, status.message());
    out.push_back(std::move(contact));
    return Status::ok();
  });
}

Status LmdbStore::loadEnrollments(MDB_txn* txn, std::vector<Enrollment>& out) const {
  return forEach(txn, enrollments_, "enrollments",
                 [&](std::string_view key, std::string_view value) {
                   if (key.size() != kEnrollmentKeyBytes) {
                     return corrupt("enrollments", key,
                                    "key is " + std::to_string(key.size()) + " bytes, not 4");
                   }
                   Enrollment enrollment;
                   Status status = decodeEnrollment(decodeEnrollmentKey(key), value, enrollment);
                   if (!status.isOk()) return corrupt("enrollments", key, status.message());
                   out.push_back(std::move(enrollment));
                   return Status::ok();
                 });
}

Status LmdbStore::loadProgress(MDB_txn* txn, std::vector<ProgressRecord>& out) const {
  return forEach(txn, progress_, "progress", [&](std::string_view key, std::string_view value) {
    if (key.size() != kProgressKeyBytes) {
      return corrupt("progress", key, "key is " + std::to_string(key.size()) + " bytes, not 8");
    }
    const std::uint64_t seq = decodeProgressKey(key);
    if (seq == 0) return corrupt("progress", key, "seq 0");
    ProgressRecord record;
    Status status = decodeProgress(seq, value, record);
    if (!status.isOk()) return corrupt("progress", key, status.message());
    out.push_back(std::move(record));
    return Status::ok();
  });
}

Status LmdbStore::loadSequences(MDB_txn* txn, std::vector<SequenceState>& out) const {
  return forEach(txn, sequences_, "sequences", [&](std::string_view key, std::string_view value) {
    if (value.size() != 1 || (value[0] != '\0' && value[0] != '\1')) {
      return corrupt("sequences", key, "active flag is not one byte 0 or 1");
    }
    out.push_back(SequenceState{std::string(key), value[0] == '\1'});
    return Status::ok();
  });
}

Status LmdbStore::loadClock(MDB_txn* txn, std::optional<TimeMs>& out) const {
  MDB_val key = mdbValue(kMetaClock);
  MDB_val value{};
  const int rc = mdb_get(txn, meta_, &key, &value);
  if (rc == MDB_NOTFOUND) return Status::ok();
  if (rc != 0) return mdbError("read clock_ms", rc);
  if (value.mv_size != kClockValueBytes) {
    return corrupt("meta", kMetaClock,
                   "value is " + std::to_string(value.mv_size) + " bytes, expected 8");
  }
  out = static_cast<TimeMs>(fromLittleEndian(view(value)));
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
  status = loadContacts(txn.get(), state.contacts);
  if (status.isOk()) status = loadEnrollments(txn.get(), state.enrollments);
  if (status.isOk()) status = loadProgress(txn.get(), state.progress);
  if (status.isOk()) status = loadSequences(txn.get(), state.sequences);
  if (status.isOk()) status = loadClock(txn.get(), state.clock_ms);
  if (!status.isOk()) return status;
  out = std::move(state);
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
