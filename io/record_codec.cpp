#include "io/record_codec.hpp"

#include <array>
#include <cstring>

#include "engine/assert.hpp"
#include "engine/sequence.hpp"

namespace seqd {
namespace {

// A member added to one of these types must be added to its encoder, decoder and same*()
// below; these checks make the build say so (on the one ABI we build for).
#if defined(__x86_64__) && defined(__GLIBCXX__)
static_assert(sizeof(Contact) == 416, "Contact changed: update io/record_codec.cpp");
static_assert(sizeof(Enrollment) == 48, "Enrollment changed: update io/record_codec.cpp");
static_assert(sizeof(EnrollmentExtras) == 16, "EnrollmentExtras changed: update record_codec.cpp");
static_assert(sizeof(SendOut) == 24, "SendOut changed: update io/record_codec.cpp");
static_assert(sizeof(EnrollmentRecord) == 88, "EnrollmentRecord changed: update record_codec.cpp");
static_assert(sizeof(ProgressRecord) == 128, "ProgressRecord changed: update record_codec.cpp");
#endif

constexpr std::uint8_t kFlagDnc = 1U << 0;
constexpr std::uint8_t kFlagCallOptOut = 1U << 1;
constexpr std::uint8_t kFlagEmailOptOut = 1U << 2;
constexpr std::uint8_t kFlagsAll = kFlagDnc | kFlagCallOptOut | kFlagEmailOptOut;
constexpr std::uint8_t kEnrollmentStatusMax = static_cast<std::uint8_t>(EnrollmentStatus::kRemoved);
constexpr std::uint8_t kProgressKindMin = static_cast<std::uint8_t>(ProgressKind::kStepFired);
constexpr std::uint8_t kProgressKindMax = static_cast<std::uint8_t>(ProgressKind::kInbound);
constexpr std::uint8_t kTaskStateMax = static_cast<std::uint8_t>(TaskState::kSkipped);
constexpr std::size_t kPrintableKeyBytesMax = 80;
constexpr std::size_t kVarintBytesMax = 10;  // a u64 in 7-bit groups

// Writes `value` as LEB128 at `out`, which has room for kVarintBytesMax bytes: 7 bits a byte,
// low bits first, the high bit set on every byte but the last. Returns the bytes written.
std::size_t writeVarint(std::uint64_t value, char* out) {
  std::size_t size = 0;
  while (value >= 0x80) {
    out[size++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out[size++] = static_cast<char>(value);
  return size;
}

void appendVarint(std::uint64_t value, std::string& out) {
  if (value < 0x80) {  // most: codes, counts, small ids
    out.push_back(static_cast<char>(value));
    return;
  }
  char bytes[kVarintBytesMax];
  out.append(bytes, writeVarint(value, bytes));
}

// How a value writes its strings' lengths and its lists' counts: as u32 (the formats before
// the compact ones) or as varints.
enum class Lengths : std::uint8_t { kU32, kVarint };

// Appends fixed-width little-endian integers, varints and length-prefixed strings. Writes
// are staged in a small buffer and appended to `out` a buffer at a time (at the latest by
// finish() or the destructor): an append per field was a fifth of the committer's samples.
class Writer {
 public:
  explicit Writer(std::string& out, Lengths lengths = Lengths::kU32)
      : out_(out), lengths_(lengths) {
    out_.clear();
  }
  ~Writer() { flush(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void u8(std::uint8_t value) {
    room(1);
    staged_[staged_bytes_++] = static_cast<char>(value);
  }
  void u16(std::uint16_t value) { littleEndian(value, 2); }
  void varint(std::uint64_t value) {
    room(kVarintBytesMax);
    staged_bytes_ += writeVarint(value, staged_ + staged_bytes_);
  }
  // A time as a zigzag varint: small magnitudes, either sign, take few bytes.
  void time(TimeMs value) {
    const auto bits = static_cast<std::uint64_t>(value);
    varint((bits << 1) ^ (value < 0 ? ~std::uint64_t{0} : 0));
  }
  void u32(std::uint32_t value) { littleEndian(value, 4); }
  void u64(std::uint64_t value) { littleEndian(value, 8); }
  void i64(std::int64_t value) { littleEndian(static_cast<std::uint64_t>(value), 8); }
  // A string longer than kRecordFieldBytesMax is noted: finish() refuses the record, and the
  // value written does not decode either (its length is over the maximum, or cut to u32).
  void str(const char* field, std::string_view text) {
    if (text.size() > kRecordFieldBytesMax) {
      fail(field, "length " + std::to_string(text.size()) + " exceeds " +
                      std::to_string(kRecordFieldBytesMax));
    }
    const std::size_t size = text.size() > UINT32_MAX ? UINT32_MAX : text.size();
    length(size);
    if (size <= kStagedBytes / 4) {
      room(size);
      std::memcpy(staged_ + staged_bytes_, text.data(), size);
      staged_bytes_ += size;
    } else {
      flush();
      out_.append(text.data(), size);
    }
  }
  // A string as its code in `codes` (format 4; "" is 0): the same limit as str().
  void code(const char* field, Symbol text, SymbolCodes& codes) {
    // A string with a code passed the length check when it got it: its text is not read.
    if (const std::uint32_t known = codes.knownCode(text); known != 0) {
      varint(known);
      return;
    }
    if (text.size() > kRecordFieldBytesMax) {
      fail(field, "length " + std::to_string(text.size()) + " exceeds " +
                      std::to_string(kRecordFieldBytesMax));
      varint(UINT32_MAX);  // such a string gets no code, and this one is never handed out
      return;
    }
    varint(text.empty() ? 0 : codes.codeOf(text));
  }
  // Writes an element count, noting one above `count_max`.
  void count(const char* field, std::size_t value, std::size_t count_max) {
    if (value > count_max) {
      fail(field, "count " + std::to_string(value) + " exceeds " + std::to_string(count_max));
    }
    length(std::min<std::size_t>(value, UINT32_MAX));
  }
  void fail(const char* field, const std::string& reason) {
    if (error_.empty()) error_ = std::string(field) + ": " + reason;
  }
  // What the decoder would refuse in the record written, as InvalidArgument. `out` holds
  // every byte written after it.
  Status finish(const char* record) {
    flush();
    if (error_.empty()) return Status::ok();
    return Status::invalidArgument(std::string(record) + " value: " + error_);
  }

 private:
  static constexpr std::size_t kStagedBytes = 256;

  void littleEndian(std::uint64_t value, int bytes) {
    room(8);
    for (int i = 0; i < bytes; ++i) {
      staged_[staged_bytes_++] = static_cast<char>((value >> (8 * i)) & 0xff);
    }
  }
  // Makes room for `bytes` more in the buffer. REQUIRES: bytes <= kStagedBytes.
  void room(std::size_t bytes) {
    if (staged_bytes_ + bytes > kStagedBytes) flush();
  }
  void flush() {
    out_.append(staged_, staged_bytes_);
    staged_bytes_ = 0;
  }

  void length(std::size_t size) {
    if (lengths_ == Lengths::kVarint) {
      varint(size);
    } else {
      u32(static_cast<std::uint32_t>(size));
    }
  }

  std::string& out_;
  Lengths lengths_;
  std::string error_;
  char staged_[kStagedBytes];
  std::size_t staged_bytes_ = 0;
};

// Reads what Writer writes, checking every length against what is left. After a failed
// read every later read fails too, so a decoder may check once per group of fields.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  // From here on, lengths and counts are read as Writer writes them in `lengths`.
  void useLengths(Lengths lengths) { lengths_ = lengths; }

  bool u8(const char* field, std::uint8_t& value) {
    std::uint64_t wide = 0;
    if (!littleEndian(field, 1, wide)) return false;
    value = static_cast<std::uint8_t>(wide);
    return true;
  }
  bool u32(const char* field, std::uint32_t& value) {
    std::uint64_t wide = 0;
    if (!littleEndian(field, 4, wide)) return false;
    value = static_cast<std::uint32_t>(wide);
    return true;
  }
  bool u16(const char* field, std::uint16_t& value) {
    std::uint64_t wide = 0;
    if (!littleEndian(field, 2, wide)) return false;
    value = static_cast<std::uint16_t>(wide);
    return true;
  }
  bool u64(const char* field, std::uint64_t& value) { return littleEndian(field, 8, value); }
  // A varint as Writer writes it: refuses one cut short, one longer than its value needs (a
  // last byte of 0 after the first) and one above 64 bits.
  bool varint(const char* field, std::uint64_t& value) {
    if (failed()) return false;
    // One byte, below 128: most codes, counts and steps, read without the loop.
    if (remaining() != 0 && static_cast<unsigned char>(bytes_[offset_]) < 0x80) {
      value = static_cast<unsigned char>(bytes_[offset_++]);
      return true;
    }
    value = 0;
    for (std::size_t i = 0; i < kVarintBytesMax; ++i) {
      if (remaining() == 0) return fail(field, "truncated");
      const auto byte = static_cast<unsigned char>(bytes_[offset_]);
      if (i == kVarintBytesMax - 1 && byte > 1) return fail(field, "varint above 64 bits");
      value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
      ++offset_;
      if ((byte & 0x80) == 0) {
        if (byte == 0 && i > 0) return fail(field, "varint longer than its value");
        return true;
      }
    }
    return fail(field, "varint above 64 bits");  // not reached: the 10th byte ends it
  }
  bool varint(const char* field, std::uint32_t& value) {
    std::uint64_t wide = 0;
    if (!varint(field, wide)) return false;
    if (wide > UINT32_MAX) return fail(field, std::to_string(wide) + " above 32 bits");
    value = static_cast<std::uint32_t>(wide);
    return true;
  }
  bool time(const char* field, TimeMs& value) {
    std::uint64_t zigzag = 0;
    if (!varint(field, zigzag)) return false;
    value = static_cast<TimeMs>((zigzag >> 1) ^ (~(zigzag & 1) + 1));
    return true;
  }
  bool i64(const char* field, std::int64_t& value) {
    std::uint64_t wide = 0;
    if (!littleEndian(field, 8, wide)) return false;
    value = static_cast<std::int64_t>(wide);
    return true;
  }
  // A view into the value's bytes: valid while they are.
  bool str(const char* field, std::string_view& value) {
    std::uint32_t size = 0;
    if (!length(field, size)) return false;
    if (size > kRecordFieldBytesMax) {
      return fail(field, "length " + std::to_string(size) + " exceeds " +
                             std::to_string(kRecordFieldBytesMax));
    }
    if (size > remaining()) return fail(field, "length " + std::to_string(size) + " overruns");
    value = bytes_.substr(offset_, size);
    offset_ += size;
    return true;
  }
  bool str(const char* field, std::string& value) {
    std::string_view text;
    if (!str(field, text)) return false;
    value.assign(text);
    return true;
  }
  bool str(const char* field, Symbol& value) {
    std::string_view text;
    if (!str(field, text)) return false;
    value = Symbol(text);
    return true;
  }
  // Reads a u32 element count and checks it against `count_max`.
  bool count(const char* field, std::size_t count_max, std::uint32_t& value) {
    if (!length(field, value)) return false;
    if (value > count_max) {
      return fail(field,
                  "count " + std::to_string(value) + " exceeds " + std::to_string(count_max));
    }
    return true;
  }
  bool fail(const char* field, const std::string& reason) {
    if (error_.empty()) {
      error_ = std::string(field) + ": " + reason + " at byte " + std::to_string(offset_) + " of " +
               std::to_string(bytes_.size());
    }
    offset_ = bytes_.size();
    return false;
  }
  // Call after the last field: refuses trailing bytes and reports the first failure.
  Status finish(const char* record) {
    if (error_.empty() && remaining() != 0) {
      fail("end", std::to_string(remaining()) + " trailing bytes");
    }
    if (error_.empty()) return Status::ok();
    return Status::corruption(std::string(record) + " value: " + error_);
  }
  bool failed() const { return !error_.empty(); }
  std::size_t offset() const { return offset_; }
  // The bytes read since offset `start`.
  std::string_view since(std::size_t start) const { return bytes_.substr(start, offset_ - start); }

 private:
  std::size_t remaining() const { return bytes_.size() - offset_; }
  bool length(const char* field, std::uint32_t& value) {
    return lengths_ == Lengths::kVarint ? varint(field, value) : u32(field, value);
  }
  bool littleEndian(const char* field, std::size_t bytes, std::uint64_t& value) {
    if (failed()) return false;
    if (bytes > remaining()) return fail(field, "truncated");
    value = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      value |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[offset_ + i]))
               << (8 * i);
    }
    offset_ += bytes;
    return true;
  }

  std::string_view bytes_;
  std::size_t offset_ = 0;
  Lengths lengths_ = Lengths::kU32;
  std::string error_;
};

// Reads the version byte into `version`, refusing one not in [oldest, newest].
bool readVersion(Reader& reader, std::uint8_t oldest, std::uint8_t newest, std::uint8_t& version) {
  if (!reader.u8("version", version)) return false;
  if (version < oldest || version > newest) {
    return reader.fail("version", "unknown format version " + std::to_string(version));
  }
  return true;
}

bool readVersion(Reader& reader) {
  std::uint8_t version = 0;
  return readVersion(reader, kRecordFormatVersion, kRecordFormatVersion, version);
}

// Reads a contact record's fields as views into its bytes; the custom columns go to `extra`
// (cleared first), and fields.extra is left empty for the caller to point at them.
void readContactFields(Reader& reader, ContactFields& fields,
                       std::vector<ContactFields::Extra>& extra) {
  extra.clear();
  std::uint8_t flags = 0;
  std::uint8_t version = 0;
  if (readVersion(reader, kRecordFormatVersion, kContactFormatVersion, version)) {
    reader.useLengths(version == kContactFormatVersion ? Lengths::kVarint : Lengths::kU32);
  }
  if (!(reader.str("email", fields.email) && reader.str("email_status", fields.email_status) &&
        reader.str("first_name", fields.first_name) && reader.str("last_name", fields.last_name) &&
        reader.str("company", fields.company) && reader.str("title", fields.title) &&
        reader.str("phone", fields.phone) && reader.str("timezone", fields.timezone) &&
        reader.u8("score", fields.score) && reader.str("owner", fields.owner) &&
        reader.str("stage", fields.stage) && reader.u8("flags", flags))) {
    return;
  }
  if (fields.score > kScoreMax) {
    reader.fail("score", std::to_string(fields.score) + " above " + std::to_string(kScoreMax));
    return;
  }
  if ((flags & ~kFlagsAll) != 0) {
    reader.fail("flags", "unknown bits " + std::to_string(flags));
    return;
  }
  fields.dnc = (flags & kFlagDnc) != 0;
  fields.call_opt_out = (flags & kFlagCallOptOut) != 0;
  fields.email_opt_out = (flags & kFlagEmailOptOut) != 0;
  std::uint32_t extra_count = 0;
  if (!reader.count("extra count", kContactExtraFieldsMax, extra_count)) return;
  extra.reserve(extra_count);
  for (std::uint32_t i = 0; i < extra_count; ++i) {
    std::string_view name;
    std::string_view value;
    if (!reader.str("extra name", name) || !reader.str("extra value", value)) return;
    if (!extra.empty() && !(extra.back().first < name)) {
      reader.fail("extra name", "'" + printableKey(name) + "' out of order or repeated");
      return;
    }
    extra.emplace_back(name, value);
  }
}

// An enrollment value of version 3 leaves out each of these fields while it holds its
// default (no time, empty, 0, false); a u16 mask says which follow it, in bit order.
enum EnrollmentField : std::uint16_t {
  kAddedAt = 1U << 0,
  kNextAt = 1U << 1,
  kLastDoneAt = 1U << 2,
  kResumeAt = 1U << 3,
  kSendingAt = 1U << 4,
  kPausedReason = 1U << 5,
  kFinishReason = 1U << 6,
  kNotSentReason = 1U << 7,
  kLastMailbox = 1U << 8,
  kSendingStep = 1U << 9,
  kSendingMailbox = 1U << 10,
  kMailboxes = 1U << 11,
  kDoneSteps = 1U << 12,
  kUnresolved = 1U << 13,
  kDeliveryFailures = 1U << 14,
  kSendingReleased = 1U << 15,  // no bytes: the bit is the field
};

// A progress value of version 4 leaves out each of these fields while it is empty (or 0);
// a u8 mask says which follow it, in bit order.
enum ProgressField : std::uint8_t {
  kMailbox = 1U << 0,
  kMessageId = 1U << 1,
  kDetail = 1U << 2,
  kStepId = 1U << 3,
  kTaskId = 1U << 4,
  kVariant = 1U << 5,
};
constexpr std::uint8_t kProgressFieldsAll = (1U << 6) - 1;

std::uint16_t presentFields(const EnrollmentRecord& record) {
  const Enrollment& enrollment = record.row;
  const SendOut& send = record.send;
  std::uint16_t fields = 0;
  const auto note = [&](bool present, std::uint16_t field) {
    if (present) fields = static_cast<std::uint16_t>(fields | field);
  };
  // waits_from_ms is the add's time while no step is done, then the last done one's.
  const bool done_any = !enrollment.done_steps.empty();
  note(enrollment.waits_from_ms != kNoTime && !done_any, kAddedAt);
  note(enrollment.next_at_ms != kNoTime, kNextAt);
  note(enrollment.waits_from_ms != kNoTime && done_any, kLastDoneAt);
  note(record.extras.resume_at_ms != kNoTime, kResumeAt);
  note(send.at_ms != kNoTime, kSendingAt);
  note(enrollment.paused_reason != PauseReason::kNone, kPausedReason);
  note(!enrollment.finish_reason.empty(), kFinishReason);
  note(!enrollment.not_sent_reason.empty(), kNotSentReason);
  note(!enrollment.last_mailbox.empty(), kLastMailbox);
  note(!send.step.empty(), kSendingStep);
  note(!send.mailbox.empty(), kSendingMailbox);
  note(!record.extras.mailboxes.empty(), kMailboxes);
  note(!enrollment.done_steps.empty(), kDoneSteps);
  note(!record.extras.unresolved.empty(), kUnresolved);
  note(enrollment.delivery_failures != 0, kDeliveryFailures);
  note(send.released, kSendingReleased);
  return fields;
}

template <typename Value>
using MemoSlot = EnrollmentDecodeMemo::Slot<Value>;

// Takes what `slot` holds when the field's bytes are the ones it holds, and notes them and
// `value` there otherwise.
template <typename Value>
bool fromMemo(std::string_view bytes, MemoSlot<Value>& slot, Value& value,
              EnrollmentDecodeMemo& memo) {
  if (!slot.filled || slot.bytes != bytes) {
    ++memo.misses;
    return false;
  }
  ++memo.hits;
  value = slot.value;
  return true;
}

template <typename Value>
void toMemo(std::string_view bytes, MemoSlot<Value>& slot, Value value) {
  slot.bytes.assign(bytes);
  slot.value = value;
  slot.filled = true;
}

// The same for a list field: any of its slots holding `bytes`.
bool fromMemo(std::string_view bytes, EnrollmentDecodeMemo::ListSlots& lists, SymbolList& value,
              EnrollmentDecodeMemo& memo) {
  for (const MemoSlot<SymbolList>& slot : lists.slots) {
    if (slot.filled && slot.bytes == bytes) {
      ++memo.hits;
      value = slot.value;
      return true;
    }
  }
  ++memo.misses;
  return false;
}

void toMemo(std::string_view bytes, EnrollmentDecodeMemo::ListSlots& lists, SymbolList value) {
  toMemo(bytes, lists.slots[lists.next], value);
  lists.next = (lists.next + 1) % lists.slots.size();
}

// A string of format 4: its code, as the symbols table's Symbol (0: "").
bool readCoded(Reader& reader, const char* field, const SymbolCodes& codes, Symbol& value) {
  std::uint32_t code = 0;
  if (!reader.varint(field, code)) return false;
  if (code == 0) {
    value = Symbol();
    return true;
  }
  // Not through symbolOf(): its optional, spilled and read back whole, stalled the load of
  // every code (a restart's rows' decoding, 6.6% of its load thread's samples).
  if (!codes.has(code)) {
    return reader.fail(field,
                       "symbol code " + std::to_string(code) + " is not in the symbols table");
  }
  value = codes.symbolAt(code);
  return true;
}

// A string field interned, through its slot: the same checks as Reader::str. With `codes`
// (format 4), its code instead, taking no slot.
bool readSymbol(Reader& reader, const char* field, Symbol& value, MemoSlot<Symbol>& slot,
                EnrollmentDecodeMemo& memo, const SymbolCodes* codes = nullptr) {
  if (codes != nullptr) return readCoded(reader, field, *codes, value);
  std::string_view text;
  if (!reader.str(field, text)) return false;
  if (fromMemo(text, slot, value, memo)) return true;
  value = Symbol(text);
  toMemo(text, slot, value);
  return true;
}

// A u32 count and that many strings (the mailboxes, the steps done), as one interned list.
bool readSymbolList(Reader& reader, const char* count_field, const char* field,
                    std::size_t count_max, SymbolList& out, EnrollmentDecodeMemo::ListSlots& slot,
                    EnrollmentDecodeMemo& memo, const SymbolCodes* codes = nullptr) {
  const std::size_t start = reader.offset();
  std::uint32_t count = 0;
  if (!reader.count(count_field, count_max, count)) return false;
  if (codes != nullptr) {
    std::vector<Symbol>& symbols = memo.coded_scratch;
    symbols.clear();
    for (std::uint32_t i = 0; i < count; ++i) {
      if (!readCoded(reader, field, *codes, symbols.emplace_back())) return false;
    }
    const std::string_view bytes = reader.since(start);
    if (fromMemo(bytes, slot, out, memo)) return true;
    out = SymbolList(symbols);
    toMemo(bytes, slot, out);
    return true;
  }
  std::vector<std::string_view>& items = memo.scratch;
  items.clear();
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view item;
    if (!reader.str(field, item)) return false;
    items.push_back(item);
  }
  const std::string_view bytes = reader.since(start);
  if (fromMemo(bytes, slot, out, memo)) return true;
  out = SymbolList(std::vector<Symbol>(items.begin(), items.end()));
  toMemo(bytes, slot, out);
  return true;
}

// Format 4's unresolved steps: the checks of the text form's, on the codes' strings.
bool readCodedUnresolved(Reader& reader, std::uint32_t count, const SymbolCodes& codes,
                         std::size_t start, SymbolMap& out, EnrollmentDecodeMemo& memo) {
  std::vector<Symbol>& items = memo.coded_scratch;  // step, reason, step, reason, ...
  items.clear();
  for (std::uint32_t i = 0; i < count; ++i) {
    Symbol step;
    Symbol reason;
    if (!readCoded(reader, "unresolved step", codes, step) ||
        !readCoded(reader, "unresolved reason", codes, reason)) {
      return false;
    }
    if (i > 0 && !(items[items.size() - 2] < step)) {
      return reader.fail("unresolved step", "out of order or repeated");
    }
    if (reason.empty()) return reader.fail("unresolved reason", "empty");
    items.push_back(step);
    items.push_back(reason);
  }
  const std::string_view bytes = reader.since(start);
  if (fromMemo(bytes, memo.unresolved, out, memo)) return true;
  out.clear();
  for (std::size_t i = 0; i < items.size(); i += 2) out.set(items[i], items[i + 1]);
  toMemo(bytes, memo.unresolved, out);
  return true;
}

bool readEnrollmentUnresolved(Reader& reader, SymbolMap& out, EnrollmentDecodeMemo& memo,
                              const SymbolCodes* codes = nullptr) {
  const std::size_t start = reader.offset();
  std::uint32_t count = 0;
  if (!reader.count("unresolved count", kEnrollmentDoneStepsMax, count)) return false;
  if (codes != nullptr) return readCodedUnresolved(reader, count, *codes, start, out, memo);
  std::vector<std::string_view>& items = memo.scratch;  // step, reason, step, reason, ...
  items.clear();
  std::string_view last;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view step;
    std::string_view reason;
    if (!reader.str("unresolved step", step) || !reader.str("unresolved reason", reason)) {
      return false;
    }
    // Strings compare as their Symbols do (equal Symbols are equal strings).
    if (i > 0 && !(last < step)) return reader.fail("unresolved step", "out of order or repeated");
    if (reason.empty()) return reader.fail("unresolved reason", "empty");
    items.push_back(step);
    items.push_back(reason);
    last = step;
  }
  const std::string_view bytes = reader.since(start);
  if (fromMemo(bytes, memo.unresolved, out, memo)) return true;
  out.clear();
  for (std::size_t i = 0; i < items.size(); i += 2) out.set(Symbol(items[i]), Symbol(items[i + 1]));
  toMemo(bytes, memo.unresolved, out);
  return true;
}

void writeSendTimes(Writer& writer, const SendTimesState& times) {
  writer.count("exact count", times.exact.size(), kSnapshotTimesMax);
  for (TimeMs at_ms : times.exact) writer.i64(at_ms);
  writer.i64(times.exact_from_ms);
  writer.count("minutes count", times.minutes.size(), kSnapshotTimesMax);
  for (const SendTimesState::Minute& minute : times.minutes) {
    if (minute.count == 0) writer.fail("minute count", "0");
    writer.i64(minute.last_ms);
    writer.u32(minute.count);
  }
}

bool readSendTimes(Reader& reader, SendTimesState& out) {
  std::uint32_t count = 0;
  if (!reader.count("exact count", kSnapshotTimesMax, count)) return false;
  out.exact.resize(count);
  for (TimeMs& at_ms : out.exact) {
    if (!reader.i64("exact", at_ms)) return false;
  }
  if (!reader.i64("exact_from_ms", out.exact_from_ms) ||
      !reader.count("minutes count", kSnapshotTimesMax, count)) {
    return false;
  }
  out.minutes.resize(count);
  for (SendTimesState::Minute& minute : out.minutes) {
    if (!reader.i64("minute last_ms", minute.last_ms) ||
        !reader.u32("minute count", minute.count)) {
      return false;
    }
    if (minute.count == 0) return reader.fail("minute count", "0");
  }
  return true;
}

bool readMailboxSendState(Reader& reader, MailboxSendState& out) {
  std::uint32_t domains = 0;
  if (!reader.str("mailbox", out.mailbox) || !readSendTimes(reader, out.sends) ||
      !reader.i64("interval_free_ms", out.interval_free_ms) ||
      !reader.count("domains count", kSnapshotDomainsMax, domains)) {
    return false;
  }
  out.domains.resize(domains);
  for (std::size_t i = 0; i < out.domains.size(); ++i) {
    auto& [domain, sends] = out.domains[i];
    if (!reader.str("domain", domain)) return false;
    if (i > 0 && !(out.domains[i - 1].first < domain)) {
      return reader.fail("domain", "'" + printableKey(domain) + "' out of order or repeated");
    }
    if (!readSendTimes(reader, sends)) return false;
  }
  return reader.u64("domains_after_prune", out.domains_after_prune) &&
         reader.i64("pruned_at_ms", out.pruned_at_ms);
}

std::string bigEndian(std::uint64_t value, int bytes) {
  std::string key(static_cast<std::size_t>(bytes), '\0');
  for (int i = 0; i < bytes; ++i) {
    key[static_cast<std::size_t>(bytes - 1 - i)] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
  return key;
}

std::uint64_t fromBigEndian(std::string_view key) {
  std::uint64_t value = 0;
  for (unsigned char c : key) value = (value << 8) | c;
  return value;
}

// A contact's value from its fields (all but the key and the custom columns, which
// write_extra(writer) writes, extra_count of them): one encoder for both forms.
template <typename WriteExtra>
Status encodeContactWith(const ContactFields& contact, std::size_t extra_count,
                         const WriteExtra& write_extra, std::string& out) {
  Writer writer(out, Lengths::kVarint);
  writer.u8(kContactFormatVersion);
  writer.str("email", contact.email);
  writer.str("email_status", contact.email_status);
  writer.str("first_name", contact.first_name);
  writer.str("last_name", contact.last_name);
  writer.str("company", contact.company);
  writer.str("title", contact.title);
  writer.str("phone", contact.phone);
  writer.str("timezone", contact.timezone);
  if (contact.score > kScoreMax) {
    writer.fail("score", std::to_string(contact.score) + " above " + std::to_string(kScoreMax));
  }
  writer.u8(contact.score);
  writer.str("owner", contact.owner);
  writer.str("stage", contact.stage);
  writer.u8(static_cast<std::uint8_t>((contact.dnc ? kFlagDnc : 0) |
                                      (contact.call_opt_out ? kFlagCallOptOut : 0) |
                                      (contact.email_opt_out ? kFlagEmailOptOut : 0)));
  writer.count("extra count", extra_count, kContactExtraFieldsMax);
  write_extra(writer);
  return writer.finish("contact");
}

}  // namespace

Status encodeContact(const Contact& contact, std::string& out) {
  return encodeContactWith(
      fieldsOf(contact), contact.extra.size(),
      [&contact](Writer& writer) {
        for (const auto& [name, value] : contact.extra) {
          writer.str("extra name", name);
          writer.str("extra value", value);
        }
      },
      out);
}

Status encodeContact(const PackedContact& contact, std::string& out) {
  ContactFields fields;
  fields.email = contact.email();
  fields.email_status = contact.emailStatus();
  fields.first_name = contact.firstName();
  fields.last_name = contact.lastName();
  fields.company = contact.company();
  fields.title = contact.title();
  fields.phone = contact.phone();
  fields.timezone = contact.timezone();
  fields.score = contact.score();
  fields.owner = contact.owner();
  fields.stage = contact.stage();
  fields.dnc = contact.dnc();
  fields.call_opt_out = contact.callOptOut();
  fields.email_opt_out = contact.emailOptOut();
  return encodeContactWith(
      fields, contact.extraCount(),
      [&contact](Writer& writer) {
        for (std::size_t i = 0; i < contact.extraCount(); ++i) {
          writer.str("extra name", contact.extraName(i).view());
          writer.str("extra value", contact.extraValue(i));
        }
      },
      out);
}

Status decodeContact(std::string_view key, std::string_view value, Contact& out) {
  Reader reader(value);
  ContactFields fields;
  std::vector<ContactFields::Extra> extra;
  readContactFields(reader, fields, extra);
  Status status = reader.finish("contact");
  if (!status.isOk()) return status;
  out.key = std::string(key);
  out.email = std::string(fields.email);
  out.email_status = std::string(fields.email_status);
  out.first_name = std::string(fields.first_name);
  out.last_name = std::string(fields.last_name);
  out.company = std::string(fields.company);
  out.title = std::string(fields.title);
  out.phone = std::string(fields.phone);
  out.timezone = std::string(fields.timezone);
  out.score = fields.score;
  out.owner = std::string(fields.owner);
  out.stage = std::string(fields.stage);
  out.dnc = fields.dnc;
  out.call_opt_out = fields.call_opt_out;
  out.email_opt_out = fields.email_opt_out;
  out.extra.clear();
  for (const auto& [name, text] : extra) {
    out.extra.emplace_hint(out.extra.end(), std::string(name), std::string(text));
  }
  return Status::ok();
}

Status decodeContact(Symbol key, std::string_view value, ContactRef& out,
                     std::vector<ContactFields::Extra>& scratch) {
  Reader reader(value);
  ContactFields fields;
  readContactFields(reader, fields, scratch);
  Status status = reader.finish("contact");
  if (!status.isOk()) return status;
  fields.extra = scratch;
  out = PackedContact::pack(key, fields);
  return Status::ok();
}

namespace {

// The pause reason's name as a Symbol, interned once: encoding a row takes no lock for it.
Symbol pauseReasonSymbol(PauseReason reason) {
  static const std::array<Symbol, 3> kSymbols = {Symbol(),
                                                 Symbol(pauseReasonName(PauseReason::kManual)),
                                                 Symbol(pauseReasonName(PauseReason::kOoo))};
  return kSymbols[static_cast<std::size_t>(reason)];
}

// Format 3 when `codes` is null, else format 4: the same fields, the strings as codes; format
// 5 (4 without the contact key) when contact_key is false.
// REQUIRES: codes is not null when contact_key is false.
Status encodeEnrollmentIn(const EnrollmentRecord& record, std::string& out, SymbolCodes* codes,
                          bool contact_key = true) {
  const Enrollment& enrollment = record.row;
  const SendOut& send = record.send;
  SEQD_ASSERT(contact_key || codes != nullptr);
  Writer writer(out, Lengths::kVarint);
  writer.u8(codes == nullptr ? kEnrollmentFormatVersion
            : contact_key    ? kEnrollmentCodedFormatVersion
                             : kEnrollmentKeylessFormatVersion);
  const auto symbol = [&](const char* name, Symbol value) {
    if (codes == nullptr) {
      writer.str(name, value);
    } else {
      writer.code(name, value, *codes);
    }
  };
  symbol("sequence_id", enrollment.sequence_id);
  if (contact_key) writer.str("contact_key", enrollment.contact_key);
  if (static_cast<std::uint8_t>(enrollment.status) > kEnrollmentStatusMax) {
    writer.fail("status", "unknown status");
  }
  writer.u8(static_cast<std::uint8_t>(enrollment.status));
  writer.varint(enrollment.step_index);
  writer.varint(0);  // progress_seq, no longer kept (the format's header)
  // The decoder sets the row's bit from the send's step: a record whose two disagree would
  // not read back as it was.
  if (enrollment.sending == send.step.empty()) {
    writer.fail("sending_step", enrollment.sending ? "empty, and the row has a send out"
                                                   : "set, and the row has no send out");
  }
  const std::uint16_t fields = presentFields(record);
  writer.u16(fields);
  const auto time = [&](std::uint16_t field, TimeMs at_ms) {
    if ((fields & field) != 0) writer.time(at_ms);
  };
  time(kAddedAt, enrollment.waits_from_ms);
  time(kNextAt, enrollment.next_at_ms);
  time(kLastDoneAt, enrollment.waits_from_ms);
  time(kResumeAt, record.extras.resume_at_ms);
  time(kSendingAt, send.at_ms);
  const auto text = [&](std::uint16_t field, const char* name, Symbol value) {
    if ((fields & field) != 0) symbol(name, value);
  };
  text(kPausedReason, "paused_reason", pauseReasonSymbol(enrollment.paused_reason));
  text(kFinishReason, "finish_reason", enrollment.finish_reason);
  text(kNotSentReason, "not_sent_reason", enrollment.not_sent_reason);
  text(kLastMailbox, "last_mailbox", enrollment.last_mailbox);
  text(kSendingStep, "sending_step", send.step);
  text(kSendingMailbox, "sending_mailbox", send.mailbox);
  if ((fields & kMailboxes) != 0) {
    writer.count("mailboxes count", record.extras.mailboxes.size(), kEnrollmentMailboxesMax);
    for (Symbol mailbox : record.extras.mailboxes) symbol("mailboxes", mailbox);
  }
  if ((fields & kDoneSteps) != 0) {
    writer.count("done_steps count", enrollment.done_steps.size(), kEnrollmentDoneStepsMax);
    for (Symbol step : enrollment.done_steps) symbol("done_steps", step);
  }
  if ((fields & kUnresolved) != 0) {
    writer.count("unresolved count", record.extras.unresolved.size(), kEnrollmentDoneStepsMax);
    for (const auto& [step, reason] : record.extras.unresolved.pairs()) {
      symbol("unresolved step", step);
      symbol("unresolved reason", reason);
    }
  }
  if ((fields & kDeliveryFailures) != 0) writer.varint(enrollment.delivery_failures);
  return writer.finish("enrollment");
}

}  // namespace

Status encodeEnrollment(const EnrollmentRecord& record, std::string& out) {
  return encodeEnrollmentIn(record, out, nullptr);
}

Status encodeEnrollment(const EnrollmentRecord& record, std::string& out, SymbolCodes& codes) {
  return encodeEnrollmentIn(record, out, &codes);
}

Status encodeEnrollment(const EnrollmentRecord& record, std::string& out, SymbolCodes& codes,
                        bool contact_key) {
  return encodeEnrollmentIn(record, out, &codes, contact_key);
}

Status decodeEnrollment(EnrollmentId id, std::string_view value, EnrollmentRecord& out) {
  EnrollmentDecodeMemo memo;
  return decodeEnrollment(id, value, out, memo);
}

namespace {

bool readStatus(Reader& reader, EnrollmentStatus& out) {
  std::uint8_t status = 0;
  if (!reader.u8("status", status)) return false;
  if (status > kEnrollmentStatusMax) {
    return reader.fail("status", "unknown status " + std::to_string(status));
  }
  out = static_cast<EnrollmentStatus>(status);
  return true;
}

// The row keeps its step's position in a byte: a sequence has at most kSequenceStepsMax steps.
bool readStepIndex(Reader& reader, std::uint32_t step_index, Enrollment& out) {
  if (step_index > kSequenceStepsMax) {
    return reader.fail("step_index", std::to_string(step_index) + " is past the most steps a " +
                                         "sequence has (" + std::to_string(kSequenceStepsMax) +
                                         ")");
  }
  out.step_index = static_cast<std::uint8_t>(step_index);
  return true;
}

bool readPauseReason(Reader& reader, Symbol name, Enrollment& out) {
  return parsePauseReason(name.view(), out.paused_reason) ||
         reader.fail("paused_reason", "'" + name.str() + "' is not manual or ooo");
}

bool readDeliveryFailures(Reader& reader, std::uint32_t failures, Enrollment& out) {
  if (failures > static_cast<std::uint32_t>(kDeliveryFailuresMax)) {
    return reader.fail("delivery_failures", "above " + std::to_string(kDeliveryFailuresMax));
  }
  out.delivery_failures = static_cast<std::uint8_t>(failures);
  return true;
}

// The row keeps one of the two times (Enrollment::waits_from_ms): the last step's once one is
// done, before that the add's. Rows written before kept both.
TimeMs waitsFrom(TimeMs added_at_ms, TimeMs last_done_at_ms) {
  return last_done_at_ms != kNoTime ? last_done_at_ms : added_at_ms;
}

// Into out.contact_key, or as bytes into *contact_key_bytes when that is not null.
bool readContactKey(Reader& reader, Enrollment& out, std::string_view* contact_key_bytes) {
  return contact_key_bytes != nullptr ? reader.str("contact_key", *contact_key_bytes)
                                      : reader.str("contact_key", out.contact_key);
}

// The fields of a version 3, 4 or 5 value after its version byte (encodeEnrollment), the
// strings of versions 4 and 5 as codes in `codes`, the contact key only when has_key (not
// in version 5: the key is left as it was). A field the mask leaves out takes its default;
// one it names must not hold it (the encoder leaves those out, so each row has one form).
void readEnrollmentFields(Reader& reader, Enrollment& out, SendOut& send, EnrollmentExtras& extras,
                          EnrollmentDecodeMemo& memo, std::string_view* contact_key_bytes,
                          const SymbolCodes* codes, bool has_key) {
  std::uint16_t fields = 0;
  std::uint32_t step_index = 0;
  std::uint64_t progress_seq = 0;  // read and dropped (the format's header)
  if (!(readSymbol(reader, "sequence_id", out.sequence_id, memo.sequence_id, memo, codes) &&
        (!has_key || readContactKey(reader, out, contact_key_bytes)) &&
        readStatus(reader, out.status) && reader.varint("step_index", step_index) &&
        readStepIndex(reader, step_index, out) && reader.varint("progress_seq", progress_seq) &&
        reader.u16("fields", fields))) {
    return;
  }
  const auto time = [&](std::uint16_t field, const char* name, TimeMs& at_ms) {
    at_ms = kNoTime;
    if ((fields & field) == 0) return true;
    if (!reader.time(name, at_ms)) return false;
    return at_ms != kNoTime || reader.fail(name, "present but no time");
  };
  TimeMs added_at_ms = kNoTime;
  TimeMs last_done_at_ms = kNoTime;
  if (!(time(kAddedAt, "added_at_ms", added_at_ms) && time(kNextAt, "next_at_ms", out.next_at_ms) &&
        time(kLastDoneAt, "last_done_at_ms", last_done_at_ms) &&
        time(kResumeAt, "resume_at_ms", extras.resume_at_ms) &&
        time(kSendingAt, "sending_at_ms", send.at_ms))) {
    return;
  }
  out.waits_from_ms = waitsFrom(added_at_ms, last_done_at_ms);
  const auto text = [&](std::uint16_t field, const char* name, Symbol& value,
                        MemoSlot<Symbol>& slot) {
    value = Symbol();
    if ((fields & field) == 0) return true;
    if (!readSymbol(reader, name, value, slot, memo, codes)) return false;
    return !value.empty() || reader.fail(name, "present but empty");
  };
  Symbol paused_reason;
  if (!(text(kPausedReason, "paused_reason", paused_reason, memo.paused_reason) &&
        readPauseReason(reader, paused_reason, out) &&
        text(kFinishReason, "finish_reason", out.finish_reason, memo.finish_reason) &&
        text(kNotSentReason, "not_sent_reason", out.not_sent_reason, memo.not_sent_reason) &&
        text(kLastMailbox, "last_mailbox", out.last_mailbox, memo.last_mailbox) &&
        text(kSendingStep, "sending_step", send.step, memo.sending_step) &&
        text(kSendingMailbox, "sending_mailbox", send.mailbox, memo.sending_mailbox))) {
    return;
  }
  const auto list = [&](std::uint16_t field, const char* count_name, const char* name,
                        std::size_t count_max, SymbolList& value,
                        EnrollmentDecodeMemo::ListSlots& slot) {
    value = SymbolList();
    if ((fields & field) == 0) return true;
    if (!readSymbolList(reader, count_name, name, count_max, value, slot, memo, codes)) {
      return false;
    }
    return !value.empty() || reader.fail(count_name, "present but 0");
  };
  if (!(list(kMailboxes, "mailboxes count", "mailboxes", kEnrollmentMailboxesMax, extras.mailboxes,
             memo.mailboxes) &&
        list(kDoneSteps, "done_steps count", "done_steps", kEnrollmentDoneStepsMax, out.done_steps,
             memo.done_steps))) {
    return;
  }
  extras.unresolved.clear();
  if ((fields & kUnresolved) != 0) {
    if (!readEnrollmentUnresolved(reader, extras.unresolved, memo, codes)) return;
    if (extras.unresolved.empty()) {
      reader.fail("unresolved count", "present but 0");
      return;
    }
  }
  out.delivery_failures = 0;
  if ((fields & kDeliveryFailures) != 0) {
    std::uint32_t failures = 0;
    if (!reader.varint("delivery_failures", failures)) return;
    if (failures == 0) {
      reader.fail("delivery_failures", "present but 0");
      return;
    }
    if (!readDeliveryFailures(reader, failures, out)) return;
  }
  send.released = (fields & kSendingReleased) != 0;
}

// The fields of a version 2 value after its version byte: every field present, u32 lengths.
void readEnrollmentFieldsV2(Reader& reader, Enrollment& out, SendOut& send,
                            EnrollmentExtras& extras, EnrollmentDecodeMemo& memo,
                            std::string_view* contact_key_bytes) {
  std::uint32_t step_index = 0;
  TimeMs added_at_ms = kNoTime;
  TimeMs last_done_at_ms = kNoTime;
  Symbol paused_reason;
  if (readSymbol(reader, "sequence_id", out.sequence_id, memo.sequence_id, memo) &&
      readContactKey(reader, out, contact_key_bytes) && readStatus(reader, out.status) &&
      reader.u32("step_index", step_index) && readStepIndex(reader, step_index, out) &&
      reader.i64("added_at_ms", added_at_ms) && reader.i64("next_at_ms", out.next_at_ms) &&
      reader.i64("last_done_at_ms", last_done_at_ms) &&
      readSymbol(reader, "paused_reason", paused_reason, memo.paused_reason, memo) &&
      readPauseReason(reader, paused_reason, out) &&
      reader.i64("resume_at_ms", extras.resume_at_ms) &&
      readSymbol(reader, "finish_reason", out.finish_reason, memo.finish_reason, memo) &&
      readSymbol(reader, "not_sent_reason", out.not_sent_reason, memo.not_sent_reason, memo)) {
    readSymbolList(reader, "mailboxes count", "mailboxes", kEnrollmentMailboxesMax,
                   extras.mailboxes, memo.mailboxes, memo);
  }
  // The Message-IDs are pure functions of the row's other fields (sendingMessageId()), or
  // no longer kept (the last one sent), and progress_seq is no longer kept: read and dropped.
  std::string_view message_id;
  std::uint64_t progress_seq = 0;
  if (readSymbol(reader, "last_mailbox", out.last_mailbox, memo.last_mailbox, memo) &&
      reader.str("last_message_id", message_id) && reader.u64("progress_seq", progress_seq)) {
    readSymbolList(reader, "done_steps count", "done_steps", kEnrollmentDoneStepsMax,
                   out.done_steps, memo.done_steps, memo);
  }
  std::uint8_t released = 0;
  if (readSymbol(reader, "sending_step", send.step, memo.sending_step, memo) &&
      reader.str("sending_message_id", message_id) &&
      readSymbol(reader, "sending_mailbox", send.mailbox, memo.sending_mailbox, memo) &&
      reader.i64("sending_at_ms", send.at_ms) && reader.u8("sending_released", released)) {
    if (released > 1) reader.fail("sending_released", "not 0 or 1");
    send.released = released == 1;
  }
  std::uint32_t failures = 0;
  if (readEnrollmentUnresolved(reader, extras.unresolved, memo) &&
      reader.u32("delivery_failures", failures)) {
    readDeliveryFailures(reader, failures, out);
  }
  out.waits_from_ms = waitsFrom(added_at_ms, last_done_at_ms);
}

// decodeEnrollment(), with the contact key left in contact_key_bytes when that is not null.
Status decodeEnrollmentRow(EnrollmentId id, std::string_view value, Enrollment& out, SendOut& send,
                           EnrollmentExtras& extras, EnrollmentDecodeMemo& memo,
                           std::string_view* contact_key_bytes) {
  Reader reader(value);
  out.id = id;
  send = SendOut();
  extras = EnrollmentExtras();
  std::uint8_t version = 0;
  if (!readVersion(reader, kRecordFormatVersion, kEnrollmentKeylessFormatVersion, version)) {
    return reader.finish("enrollment");
  }
  const bool coded = version >= kEnrollmentCodedFormatVersion;
  if (coded && memo.codes == nullptr) {
    reader.fail("version", "format " + std::to_string(version) +
                               " names its strings by code, and no symbols table was given");
    return reader.finish("enrollment");
  }
  // A list's bytes (its count and elements) are another list's in another version; versions
  // 4 and 5 write lists alike.
  const std::uint8_t list_form = coded ? kEnrollmentCodedFormatVersion : version;
  if (memo.version != list_form) {
    memo.mailboxes.clear();
    memo.done_steps.clear();
    memo.unresolved.filled = false;
    memo.version = list_form;
  }
  if (version >= kEnrollmentFormatVersion) {
    reader.useLengths(Lengths::kVarint);
    readEnrollmentFields(reader, out, send, extras, memo, contact_key_bytes,
                         coded ? memo.codes : nullptr, version != kEnrollmentKeylessFormatVersion);
  } else {
    readEnrollmentFieldsV2(reader, out, send, extras, memo, contact_key_bytes);
  }
  out.sending = !send.step.empty();
  return reader.finish("enrollment");
}

}  // namespace

Status decodeEnrollment(EnrollmentId id, std::string_view value, EnrollmentRecord& out,
                        EnrollmentDecodeMemo& memo) {
  return decodeEnrollmentRow(id, value, out.row, out.send, out.extras, memo, nullptr);
}

Status decodeEnrollment(EnrollmentId id, std::string_view value, Enrollment& row, SendOut& send,
                        EnrollmentExtras& extras, EnrollmentDecodeMemo& memo,
                        std::string_view& contact_key_bytes) {
  return decodeEnrollmentRow(id, value, row, send, extras, memo, &contact_key_bytes);
}

Status encodeProgress(const ProgressRecord& record, std::string& out) {
  Writer writer(out, Lengths::kVarint);
  writer.u8(kProgressFormatVersion);
  writer.varint(record.enrollment_id);
  writer.varint(record.step_index);
  const auto kind = static_cast<std::uint8_t>(record.kind);
  if (kind < kProgressKindMin || kind > kProgressKindMax) writer.fail("kind", "unknown kind");
  writer.u8(kind);
  writer.time(record.at_ms);
  std::uint8_t fields = 0;
  const auto note = [&](bool present, std::uint8_t field) {
    if (present) fields = static_cast<std::uint8_t>(fields | field);
  };
  note(!record.mailbox.empty(), kMailbox);
  note(!record.message_id.empty(), kMessageId);
  note(!record.detail.empty(), kDetail);
  note(!record.step_id.empty(), kStepId);
  note(record.task_id != 0, kTaskId);
  note(!record.variant.empty(), kVariant);
  writer.u8(fields);
  if ((fields & kMailbox) != 0) writer.str("mailbox", record.mailbox);
  if ((fields & kMessageId) != 0) writer.str("message_id", record.message_id);
  if ((fields & kDetail) != 0) writer.str("detail", record.detail);
  if ((fields & kStepId) != 0) writer.str("step_id", record.step_id);
  if ((fields & kTaskId) != 0) writer.varint(record.task_id);
  if ((fields & kVariant) != 0) writer.str("variant", record.variant);
  return writer.finish("progress");
}

namespace {

// The fields of a version 4 value after its version byte (encodeProgress).
void readProgressFields(Reader& reader, ProgressRecord& out) {
  std::uint8_t kind = 0;
  std::uint8_t fields = 0;
  if (!(reader.varint("enrollment_id", out.enrollment_id) &&
        reader.varint("step_index", out.step_index) && reader.u8("kind", kind))) {
    return;
  }
  if (kind < kProgressKindMin || kind > kProgressKindMax) {
    reader.fail("kind", "unknown kind " + std::to_string(kind));
    return;
  }
  out.kind = static_cast<ProgressKind>(kind);
  if (!(reader.time("at_ms", out.at_ms) && reader.u8("fields", fields))) return;
  if ((fields & ~kProgressFieldsAll) != 0) {
    reader.fail("fields", "unknown bits " + std::to_string(fields));
    return;
  }
  const auto text = [&](std::uint8_t field, const char* name, auto& value) {
    value.clear();
    if ((fields & field) == 0) return true;
    if (!reader.str(name, value)) return false;
    return !value.empty() || reader.fail(name, "present but empty");
  };
  if (!(text(kMailbox, "mailbox", out.mailbox) && text(kMessageId, "message_id", out.message_id) &&
        text(kDetail, "detail", out.detail) && text(kStepId, "step_id", out.step_id))) {
    return;
  }
  out.task_id = 0;
  if ((fields & kTaskId) != 0) {
    if (!reader.varint("task_id", out.task_id)) return;
    if (out.task_id == 0) {
      reader.fail("task_id", "present but 0");
      return;
    }
  }
  text(kVariant, "variant", out.variant);
}

}  // namespace

Status decodeProgress(std::uint64_t seq, std::string_view value, ProgressRecord& out) {
  Reader reader(value);
  out.seq = seq;
  out.variant.clear();
  std::uint8_t kind = 0;
  std::uint8_t version = 0;
  if (!readVersion(reader, kRecordFormatVersion, kProgressFormatVersion, version)) {
    return reader.finish("progress");
  }
  if (version == kProgressFormatVersion) {
    reader.useLengths(Lengths::kVarint);
    readProgressFields(reader, out);
    return reader.finish("progress");
  }
  // Versions 2 and 3: fixed-width integers and u32 lengths, every field present.
  if (reader.u32("enrollment_id", out.enrollment_id) && reader.u32("step_index", out.step_index) &&
      reader.u8("kind", kind)) {
    if (kind < kProgressKindMin || kind > kProgressKindMax) {
      reader.fail("kind", "unknown kind " + std::to_string(kind));
    }
    out.kind = static_cast<ProgressKind>(kind);
  }
  if (reader.i64("at_ms", out.at_ms) && reader.str("mailbox", out.mailbox) &&
      reader.str("message_id", out.message_id) && reader.str("detail", out.detail) &&
      reader.str("step_id", out.step_id) && reader.u64("task_id", out.task_id) &&
      version == kProgressVariantFormatVersion) {
    reader.str("variant", out.variant);
  }
  return reader.finish("progress");
}

Status encodeTask(const Task& task, std::string& out) {
  Writer writer(out);
  writer.u8(kRecordFormatVersion);
  writer.u32(task.enrollment_id);
  writer.u32(task.step_index);
  writer.str("step_id", task.step_id);
  writer.str("owner", task.owner);
  writer.i64(task.due_at_ms);
  const auto state = static_cast<std::uint8_t>(task.state);
  if (state > kTaskStateMax) writer.fail("state", "unknown state");
  writer.u8(state);
  writer.str("reason", task.reason);
  return writer.finish("task");
}

Status decodeTask(std::uint64_t id, std::string_view value, Task& out) {
  Reader reader(value);
  out.id = id;
  std::uint8_t state = 0;
  if (readVersion(reader) && reader.u32("enrollment_id", out.enrollment_id) &&
      reader.u32("step_index", out.step_index) && reader.str("step_id", out.step_id) &&
      reader.str("owner", out.owner) && reader.i64("due_at_ms", out.due_at_ms) &&
      reader.u8("state", state)) {
    if (state > kTaskStateMax) reader.fail("state", "unknown state " + std::to_string(state));
    out.state = static_cast<TaskState>(state);
    reader.str("reason", out.reason);
  }
  return reader.finish("task");
}

Status encodeGovernor(const GovernorSnapshot& snapshot, std::string& out) {
  Writer writer(out);
  writer.u8(kRecordFormatVersion);
  writer.u64(snapshot.through_seq);
  writer.count("mailboxes count", snapshot.mailboxes.size(), kSnapshotMailboxesMax);
  for (std::size_t i = 0; i < snapshot.mailboxes.size(); ++i) {
    const MailboxSendState& mailbox = snapshot.mailboxes[i];
    if (i > 0 && !(snapshot.mailboxes[i - 1].mailbox < mailbox.mailbox)) {
      writer.fail("mailbox", "out of order or repeated");
    }
    writer.str("mailbox", mailbox.mailbox);
    writeSendTimes(writer, mailbox.sends);
    writer.i64(mailbox.interval_free_ms);
    writer.count("domains count", mailbox.domains.size(), kSnapshotDomainsMax);
    for (std::size_t d = 0; d < mailbox.domains.size(); ++d) {
      if (d > 0 && !(mailbox.domains[d - 1].first < mailbox.domains[d].first)) {
        writer.fail("domain", "out of order or repeated");
      }
      writer.str("domain", mailbox.domains[d].first);
      writeSendTimes(writer, mailbox.domains[d].second);
    }
    writer.u64(mailbox.domains_after_prune);
    writer.i64(mailbox.pruned_at_ms);
  }
  writer.count("out count", snapshot.out.size(), kSnapshotOutMax);
  for (std::size_t i = 0; i < snapshot.out.size(); ++i) {
    if (i > 0 && !(snapshot.out[i - 1].first < snapshot.out[i].first)) {
      writer.fail("out", "out of order or repeated");
    }
    writer.u32(snapshot.out[i].first);
    writer.i64(snapshot.out[i].second);
  }
  return writer.finish("governor");
}

Status decodeGovernor(std::string_view value, GovernorSnapshot& out) {
  Reader reader(value);
  out = GovernorSnapshot();
  std::uint32_t mailboxes = 0;
  if (readVersion(reader) && reader.u64("through_seq", out.through_seq) &&
      reader.count("mailboxes count", kSnapshotMailboxesMax, mailboxes)) {
    out.mailboxes.resize(mailboxes);
    for (std::size_t i = 0; i < out.mailboxes.size(); ++i) {
      if (!readMailboxSendState(reader, out.mailboxes[i])) break;
      if (i > 0 && !(out.mailboxes[i - 1].mailbox < out.mailboxes[i].mailbox)) {
        reader.fail("mailbox",
                    "'" + printableKey(out.mailboxes[i].mailbox) + "' out of order or repeated");
        break;
      }
    }
  }
  std::uint32_t sends_out = 0;
  if (reader.count("out count", kSnapshotOutMax, sends_out)) {
    out.out.resize(sends_out);
    for (std::size_t i = 0; i < out.out.size(); ++i) {
      if (!reader.u32("out id", out.out[i].first) || !reader.i64("out at_ms", out.out[i].second)) {
        break;
      }
      if (i > 0 && !(out.out[i - 1].first < out.out[i].first)) {
        reader.fail("out id", "out of order or repeated");
        break;
      }
    }
  }
  return reader.finish("governor");
}

std::string encodeEnrollmentKey(EnrollmentId id) { return bigEndian(id, 4); }
std::string encodeProgressKey(std::uint64_t seq) { return bigEndian(seq, 8); }

EnrollmentId decodeEnrollmentKey(std::string_view key) {
  return static_cast<EnrollmentId>(fromBigEndian(key.substr(0, 4)));
}

std::uint64_t decodeProgressKey(std::string_view key) { return fromBigEndian(key.substr(0, 8)); }

std::string encodeLogKey(std::uint64_t first_seq, std::uint32_t count) {
  return bigEndian(first_seq, 8) + bigEndian(count, 4);
}

bool decodeLogKey(std::string_view key, LogKey& out) {
  if (key.size() == 8) {
    out = LogKey{fromBigEndian(key), 1, false};
    return true;
  }
  if (key.size() != kLogKeyBytes) return false;
  out = LogKey{fromBigEndian(key.substr(0, 8)),
               static_cast<std::uint32_t>(fromBigEndian(key.substr(8, 4))), true};
  return out.count > 0;
}

void appendLogEntry(std::string_view head, std::string_view body, std::string& value) {
  appendVarint(head.size() + body.size(), value);
  value.append(head);
  value.append(body);
}

bool LogEntryReader::next(std::string_view& entry) {
  if (!error_.empty() || read_ == key_.count) return false;
  if (!key_.packed) {  // one entry: the whole value
    entry = value_;
    offset_ = value_.size();
    ++read_;
    return true;
  }
  if (offset_ == value_.size()) return fail("ends after " + std::to_string(read_) + " entries");
  Reader reader(value_.substr(offset_));
  std::uint64_t length = 0;
  if (!reader.varint("length", length)) {
    return fail("entry " + std::to_string(read_) + "'s length is cut short or malformed");
  }
  offset_ += reader.offset();
  if (length > value_.size() - offset_) {
    return fail("entry " + std::to_string(read_) + "'s length " + std::to_string(length) +
                " runs past the value");
  }
  entry = value_.substr(offset_, static_cast<std::size_t>(length));
  offset_ += static_cast<std::size_t>(length);
  ++read_;
  return true;
}

Status LogEntryReader::finish() const {
  if (!error_.empty()) return Status::corruption("log value: " + error_);
  if (read_ != key_.count) {
    return Status::corruption("log value: " + std::to_string(read_) + " entries read of the " +
                              std::to_string(key_.count) + " its key names");
  }
  if (offset_ != value_.size()) {
    return Status::corruption("log value: " + std::to_string(value_.size() - offset_) +
                              " bytes after its " + std::to_string(key_.count) + " entries");
  }
  return Status::ok();
}

bool LogEntryReader::fail(std::string reason) {
  if (error_.empty()) {
    error_ = std::move(reason) + " (the key names " + std::to_string(key_.count) + ")";
  }
  return false;
}

bool sameContact(const Contact& left, const Contact& right) {
  return left.key == right.key && left.email == right.email &&
         left.email_status == right.email_status && left.first_name == right.first_name &&
         left.last_name == right.last_name && left.company == right.company &&
         left.title == right.title && left.phone == right.phone &&
         left.timezone == right.timezone && left.score == right.score &&
         left.owner == right.owner && left.stage == right.stage && left.dnc == right.dnc &&
         left.call_opt_out == right.call_opt_out && left.email_opt_out == right.email_opt_out &&
         left.extra == right.extra;
}

bool sameEnrollment(const EnrollmentRecord& left_record, const EnrollmentRecord& right_record) {
  const Enrollment& left = left_record.row;
  const Enrollment& right = right_record.row;
  const SendOut& left_send = left_record.send;
  const SendOut& right_send = right_record.send;
  return left.id == right.id && left.sequence_id == right.sequence_id &&
         left.contact_key == right.contact_key && left.status == right.status &&
         left.step_index == right.step_index && left.waits_from_ms == right.waits_from_ms &&
         left.next_at_ms == right.next_at_ms && left.paused_reason == right.paused_reason &&
         left_record.extras.resume_at_ms == right_record.extras.resume_at_ms &&
         left.finish_reason == right.finish_reason &&
         left.not_sent_reason == right.not_sent_reason &&
         left_record.extras.mailboxes == right_record.extras.mailboxes &&
         left.last_mailbox == right.last_mailbox && left.done_steps == right.done_steps &&
         left.sending == right.sending && left_send.step == right_send.step &&
         left_send.mailbox == right_send.mailbox && left_send.at_ms == right_send.at_ms &&
         left_send.released == right_send.released &&
         left_record.extras.unresolved == right_record.extras.unresolved &&
         left.delivery_failures == right.delivery_failures;
}

bool sameProgress(const ProgressRecord& left, const ProgressRecord& right) {
  return left.seq == right.seq && left.enrollment_id == right.enrollment_id &&
         left.step_index == right.step_index && left.kind == right.kind &&
         left.at_ms == right.at_ms && left.mailbox == right.mailbox &&
         left.message_id == right.message_id && left.detail == right.detail &&
         left.step_id == right.step_id && left.task_id == right.task_id &&
         left.variant == right.variant;
}

bool sameTask(const Task& left, const Task& right) {
  return left.id == right.id && left.enrollment_id == right.enrollment_id &&
         left.step_index == right.step_index && left.step_id == right.step_id &&
         left.owner == right.owner && left.due_at_ms == right.due_at_ms &&
         left.state == right.state && left.reason == right.reason;
}

std::string printableKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  const std::size_t shown = key.size() < kPrintableKeyBytesMax ? key.size() : kPrintableKeyBytesMax;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>(key[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      text.push_back(static_cast<char>(byte));
    } else {
      text += "\\x";
      text.push_back(kHex[byte >> 4]);
      text.push_back(kHex[byte & 0xf]);
    }
  }
  if (shown < key.size()) text += "...";
  return text;
}

}  // namespace seqd
