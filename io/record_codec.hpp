// Record codec: the on-disk byte form of the values the store keeps (Contact, Enrollment,
// ProgressRecord, Task) and of the store's keys.
//
// Values are a compact little-endian binary form: a leading format-version byte, then the
// fields in a fixed order. A record's own key (contact key, enrollment id, progress seq)
// lives only in the LMDB key, so decoding takes it as an argument. Keys that must sort
// numerically are big-endian (memcmp order == numeric order).
//
// The formats written (contact v3, enrollment v3 and v4, progress v4) write integers that are
// usually small as varints (LEB128: 7 bits a byte, low first, the high bit on every byte
// but the last; never longer than the value needs) and times as zigzag varints; `str` is a
// varint length then the bytes, `n` a varint count. An enrollment or progress value leaves
// out each field that holds its default (no time, "", an empty list, 0, false), and a mask
// after the fixed fields says which follow, in bit order: a row in the middle of a sequence
// takes ~100 bytes instead of ~210, a send record ~45 instead of ~75 (perf/RESULTS.md).
//
//   contact     v3: u8 version | str email | str email_status | str first_name | str last_name
//                   | str company | str title | str phone | str timezone | u8 score | str owner
//                   | str stage | u8 flags (bit0 dnc, bit1 call_opt_out, bit2 email_opt_out)
//                   | n | n x (str name | str value)       extra, names strictly ascending
//   enrollment  v3: u8 version | str sequence_id | str contact_key | u8 status
//                   | varint step_index | varint progress_seq | u16 fields, then those present:
//                   bit 0 time added_at_ms, 1 time next_at_ms, 2 time last_done_at_ms,
//                   3 time resume_at_ms, 4 time sending_at_ms, 5 str paused_reason,
//                   6 str finish_reason, 7 str not_sent_reason, 8 str last_mailbox,
//                   9 str sending_step, 10 str sending_mailbox, 11 n | n x str mailboxes,
//                   12 n | n x str done_steps, 13 n | n x (str step | str reason) unresolved
//                   (steps strictly ascending), 14 varint delivery_failures,
//                   15 sending_released (the bit alone); progress_seq is written 0 and
//                   ignored when read (rows written before hold the progress log's last seq
//                   at the time: nothing read it, and it cost 8 bytes a row in memory).
//                   The row holds one of bits 0 and 2 (Enrollment::waits_from_ms): the add's
//                   time while no step is done, then the last step's; rows written before
//                   may hold both, and read as the last step's. paused_reason is "manual" or
//                   "ooo", step_index at most 255, delivery_failures at most 127.
//                   Bits 4, 9, 10 and 15 are the send out (EnrollmentRecord::send); the
//                   row reads as having one (Enrollment::sending) when bit 9 is there.
//   enrollment  v4: v3 with every str and list element but contact_key written as a varint
//                   code of the store's symbols table (io/symbol_codes.hpp; 0 is "").
//                   What the store writes: a row in the middle of a sequence ~40% smaller.
//                   v3 is what the other encoder writes, self-contained (tests, checks).
//   enrollment  v5: v4 without contact_key. Only in the journal: an entry of an enrollment
//                   whose contact key its table row or an entry before it holds (an
//                   enrollment's contact never changes).
//   progress    v4: u8 version | varint enrollment_id | varint step_index | u8 kind
//                   | time at_ms | u8 fields, then those present: bit 0 str mailbox,
//                   1 str message_id, 2 str detail, 3 str step_id, 4 varint task_id,
//                   5 str variant
//   task        v2: u8 version | u32 enrollment_id | u32 step_index | str step_id | str owner
//                   | i64 due_at_ms | u8 state (0 open, 1 completed, 2 skipped) | str reason
//                   (its id, the seq of its kTaskCreated record, is the key: u64 big-endian)
//   governor    v2: u8 version | u64 through_seq | u32 n | n x mailbox, addresses strictly
//                   ascending; mailbox: str address | times sends | i64 interval_free_ms
//                   | u32 n | n x (str domain | times), domains strictly ascending
//                   | u64 domains_after_prune | i64 pruned_at_ms; then u32 n | n x (u32
//                   enrollment_id | i64 counted_at_ms), the sends out, ids strictly ascending;
//                   times: u32 n | n x i64 exact | i64 exact_from_ms
//                   | u32 n | n x (i64 last_ms | u32 count > 0)   (engine/governor.hpp)
//   (task and governor values, and the older formats below, write `str` as a u32 length then
//   the bytes, and counts as u32.)
//
// The formats before are still read, so a state dir written by an earlier seqd loads as it
// was; what is written again is written in the new ones:
//   contact     v2: v3 with u32 lengths and counts
//   enrollment  v2: u8 version | str sequence_id | str contact_key | u8 status | u32 step_index
//                   | i64 added_at_ms | i64 next_at_ms | i64 last_done_at_ms | str paused_reason
//                   | i64 resume_at_ms | str finish_reason | str not_sent_reason
//                   | u32 n | n x str mailboxes | str last_mailbox | str last_message_id
//                   | u64 progress_seq | u32 n | n x str done_steps | str sending_step
//                   | str sending_message_id | str sending_mailbox | i64 sending_at_ms
//                   | u8 sending_released | u32 n | n x (str step | str reason) unresolved
//                   | u32 delivery_failures
//                   (last_message_id, sending_message_id and progress_seq are ignored when
//                   read: the row computes the one out, sendingMessageId(); added_at_ms only
//                   while last_done_at_ms is not there)
//   progress    v3: u8 version | u32 enrollment_id | u32 step_index | u8 kind | i64 at_ms
//                   | str mailbox | str message_id | str detail | str step_id | u64 task_id
//                   | str variant
//               v2: v3 without variant, which reads as "" (no variant)
//
// Decoding is bounds-checked: a truncated, over-long or garbled value yields
// Status::corruption saying which field and byte offset, never a read out of bounds. The
// decoder also refuses what the encoder never writes (unknown version, enum or flag values,
// a score above kScoreMax, unsorted or duplicate extra names, trailing bytes); the encoder
// refuses the same limits up front (see below), so a record is checked before it is written
// without decoding it again.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/contact.hpp"
#include "engine/enrollment.hpp"
#include "engine/packed_contact.hpp"
#include "engine/records.hpp"
#include "engine/status.hpp"
#include "engine/task.hpp"
#include "io/symbol_codes.hpp"

namespace seqd {

// Tasks and the send limits' snapshot; the oldest version of the other values still read.
inline constexpr std::uint8_t kRecordFormatVersion = 2;
// The versions written (see above); each reads its older ones too.
inline constexpr std::uint8_t kContactFormatVersion = 3;
inline constexpr std::uint8_t kEnrollmentFormatVersion = 3;
// The enrollment format the store writes: version 3 with its strings (all but the contact
// key) as codes of the store's symbols table (io/symbol_codes.hpp) instead of text.
inline constexpr std::uint8_t kEnrollmentCodedFormatVersion = 4;
// Format 4 without the contact key: a journal entry after the enrollment's first.
inline constexpr std::uint8_t kEnrollmentKeylessFormatVersion = 5;
inline constexpr std::uint8_t kProgressFormatVersion = 4;
// Progress records gained their A/B variant in version 3.
inline constexpr std::uint8_t kProgressVariantFormatVersion = 3;
inline constexpr std::size_t kRecordFieldBytesMax = 1024 * 1024;  // any one string field
inline constexpr std::size_t kContactExtraFieldsMax = 4096;
inline constexpr std::size_t kEnrollmentMailboxesMax = 1024;
inline constexpr std::size_t kEnrollmentDoneStepsMax = 4096;

// Values. Each encoder replaces the contents of `out` (so a caller can reuse one buffer) and
// returns InvalidArgument, naming the field, when the record holds what the decoder refuses
// (a field over kRecordFieldBytesMax, a list over its maximum, a score above kScoreMax, an
// unknown enum value); `out` then holds a value that does not decode, never to be stored.
// So a record that encodes ok decodes back equal (the codec test checks this for random
// records, and debug builds of the store check it again before every put).
Status encodeContact(const Contact& contact, std::string& out);
// The same bytes from the engine's packed form (what a write batch holds).
Status encodeContact(const PackedContact& contact, std::string& out);
// An enrollment is written with its send out (EnrollmentRecord); one whose row's `sending`
// disagrees with its send's step is refused (it would read back otherwise).
Status encodeEnrollment(const EnrollmentRecord& record, std::string& out);
// In format 4: each string but the contact key as its code in `codes`, handing out a code to
// a string that has none (the limits checked are the same).
Status encodeEnrollment(const EnrollmentRecord& record, std::string& out, SymbolCodes& codes);
// The same in format 5 (the contact key left out) when contact_key is false.
Status encodeEnrollment(const EnrollmentRecord& record, std::string& out, SymbolCodes& codes,
                        bool contact_key);
Status encodeProgress(const ProgressRecord& record, std::string& out);
Status encodeTask(const Task& task, std::string& out);
Status encodeGovernor(const GovernorSnapshot& snapshot, std::string& out);

// Each decoder fills `out` whole from the key and value, or returns Status::corruption
// (with `out` unspecified). The message names the field and offset, not the DB or key:
// the caller adds those.
Status decodeContact(std::string_view key, std::string_view value, Contact& out);
// The same record straight into the engine's packed form (engine/packed_contact.hpp): one
// block, with no Contact or string per field in between; the same checks and messages.
// `scratch` holds the custom columns' views while it decodes: a caller decoding many records
// passes the same one, so it is allocated once. The key is interned already.
Status decodeContact(Symbol key, std::string_view value, ContactRef& out,
                     std::vector<ContactFields::Extra>& scratch);
// The row's `sending` is set exactly when the send read has a step.
Status decodeEnrollment(EnrollmentId id, std::string_view value, EnrollmentRecord& out);
// What decodeEnrollment last read into each interned field of an enrollment (the sequence
// id, the reasons, the mailboxes, the steps done, the unresolved steps...): the field's bytes
// as stored and the Symbol, list or map they interned to. The rows of a table repeat the same
// few values from one row to the next, and a field holding the bytes it held in the row
// before takes what they interned to without the Symbol table's lock and hash lookup (a
// quarter of a restart was Symbol::intern). The contact key, new in every row, is not kept.
// A list of steps done or of mailboxes keeps the last few lists it saw, not only the last:
// the table's rows change list from one row to the next (rows written at different steps),
// and each miss interns the list under the Symbol table's lock, which the contacts' load on
// the other thread takes for each batch of keys (with one slot, a 10M restart's rows thread
// slept ~18,500 times on that lock; with eight, ~150). A decoding loop keeps one and
// passes it to each call; the rows decode exactly as without. Not shared between threads.
class EnrollmentDecodeMemo {
 public:
  template <typename Value>
  struct Slot {
    std::string bytes;  // the field's bytes (a list's: its count and elements)
    Value value;
    bool filled = false;
  };
  // The lists a list field held last: a hit in any, a miss replacing the oldest.
  static constexpr std::size_t kListSlots = 8;
  struct ListSlots {
    std::array<Slot<SymbolList>, kListSlots> slots;
    std::size_t next = 0;  // the slot the next miss fills

    void clear() {
      for (Slot<SymbolList>& slot : slots) slot.filled = false;
      next = 0;
    }
  };
  Slot<Symbol> sequence_id;
  Slot<Symbol> paused_reason;
  Slot<Symbol> finish_reason;
  Slot<Symbol> not_sent_reason;
  Slot<Symbol> last_mailbox;
  Slot<Symbol> sending_step;
  Slot<Symbol> sending_mailbox;
  ListSlots mailboxes;
  ListSlots done_steps;
  Slot<SymbolMap> unresolved;
  // Hits and misses, for tests and benchmarks.
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::vector<std::string_view> scratch;  // a list's elements while one is decoded
  std::vector<Symbol> coded_scratch;      // the same in format 4
  // The store's symbols table, which a row of format 4 or 5 needs (without it such a row is
  // refused as corrupt). Its strings are Symbols already: those rows take no slot.
  const SymbolCodes* codes = nullptr;
  // The format version of the row decoded last (4 for 5, which writes lists alike): a list's
  // bytes in one version are not the same list's in another, so its slots start empty when
  // the version changes.
  std::uint8_t version = 0;
};
// The same with `memo`: the same result and the same error for every value.
Status decodeEnrollment(EnrollmentId id, std::string_view value, EnrollmentRecord& out,
                        EnrollmentDecodeMemo& memo);
// The same into a row, its send and its extras apart, and the contact key not
// interned: its bytes are a view into `value` in contact_key_bytes (a load interns them
// later), and row.contact_key is
// left as it was, not even written (a load's other thread may be writing it meanwhile). A
// value of format 5 holds no contact key: contact_key_bytes is left as it was (the caller's
// key of the enrollment, from its row or an earlier entry); the other overload leaves
// out.row.contact_key as it was.
Status decodeEnrollment(EnrollmentId id, std::string_view value, Enrollment& row, SendOut& send,
                        EnrollmentExtras& extras, EnrollmentDecodeMemo& memo,
                        std::string_view& contact_key_bytes);
Status decodeProgress(std::uint64_t seq, std::string_view value, ProgressRecord& out);
Status decodeTask(std::uint64_t id, std::string_view value, Task& out);
Status decodeGovernor(std::string_view value, GovernorSnapshot& out);

// Keys.
std::string encodeEnrollmentKey(EnrollmentId id);  // 4 bytes, big-endian
std::string encodeProgressKey(std::uint64_t seq);  // 8 bytes, big-endian
// REQUIRES: key.size() == 4 (resp. 8).
EnrollmentId decodeEnrollmentKey(std::string_view key);
std::uint64_t decodeProgressKey(std::string_view key);

// Log values: the journal's and the progress log's (io/store.hpp). A key of kLogKeyBytes, the
// u64 big-endian seq of its first entry then a u32 big-endian entry count, holds that many
// entries of consecutive seqs one after another, each a varint length then that many bytes.
// A key of 8 bytes (a store written before entries were packed; the inbound table's) holds
// one entry: the whole value. An entry's bytes are what a value of one entry holds: for the
// journal a u32 LE EnrollmentId then the enrollment record, for the progress log the record.
inline constexpr std::size_t kLogKeyBytes = 12;
struct LogKey {
  std::uint64_t first_seq = 0;
  std::uint32_t count = 0;
  bool packed = false;  // a key of kLogKeyBytes
  std::uint64_t lastSeq() const { return first_seq + count - 1; }
};
std::string encodeLogKey(std::uint64_t first_seq, std::uint32_t count);
// False for a key of neither size, or one naming no entries.
bool decodeLogKey(std::string_view key, LogKey& out);
// Appends one entry of a packed value to `value`: head and body are its bytes, one after the
// other (so that a caller need not join them first).
void appendLogEntry(std::string_view head, std::string_view body, std::string& value);
inline constexpr std::size_t kLogEntryLengthBytesMax = 10;  // the varint before each entry
// The entries of one log value, in order: next() gives each entry's bytes (a view into
// `value`) until it returns false, at the end or at damage; then finish() says which
// (Corruption: cut short, a length past the value, fewer or more entries than the key names).
class LogEntryReader {
 public:
  LogEntryReader(const LogKey& key, std::string_view value) : key_(key), value_(value) {}
  bool next(std::string_view& entry);
  Status finish() const;

 private:
  bool fail(std::string reason);

  LogKey key_;
  std::string_view value_;
  std::size_t offset_ = 0;
  std::uint32_t read_ = 0;
  std::string error_;
};

// Field-by-field equality over every member (the engine types have no operator==).
bool sameContact(const Contact& left, const Contact& right);
bool sameEnrollment(const EnrollmentRecord& left, const EnrollmentRecord& right);
bool sameProgress(const ProgressRecord& left, const ProgressRecord& right);
bool sameTask(const Task& left, const Task& right);

// A key as text for messages: printable ASCII as is, other bytes as \xNN, cut to 80 bytes.
std::string printableKey(std::string_view key);

}  // namespace seqd
