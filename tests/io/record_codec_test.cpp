// Proves the record codec's promise that the store relies on instead of decoding every value
// again before it is written: a record the encoder takes decodes back equal, field by field
// (random records, seeded), and a record over a limit the decoder enforces is refused by the
// encoder, naming the field.
#include "io/record_codec.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/sequence.hpp"
#include "test_seed.hpp"

using seqd::testing::testSeed;

namespace seqd {
namespace {

constexpr int kRoundsMax = 2000;

class RandomRecords {
 public:
  explicit RandomRecords(std::uint64_t seed) : random_(seed) {}

  std::string text() {
    static const char* const kSamples[] = {"", "a", "Zoë", "株式会社", "🚀", "x\ny", "q\"u"};
    std::string out;
    const int parts = below(4);
    for (int i = 0; i < parts; ++i) out += kSamples[below(std::size(kSamples))];
    if (below(8) == 0) out.push_back('\0');
    if (below(16) == 0) out.append(static_cast<std::size_t>(below(5000)), 'z');
    return out;
  }
  TimeMs time() {
    switch (below(4)) {
      case 0:
        return kNoTime;
      case 1:
        return INT64_MAX;
      default:
        return static_cast<TimeMs>(random_() % (std::uint64_t{1} << 45)) - 1000;
    }
  }
  int below(std::size_t bound) { return static_cast<int>(random_() % bound); }

  Contact contact() {
    Contact contact;
    contact.key = "k" + std::to_string(random_());
    for (std::string* field : {&contact.email, &contact.email_status, &contact.first_name,
                               &contact.last_name, &contact.company, &contact.title, &contact.phone,
                               &contact.timezone, &contact.owner, &contact.stage}) {
      *field = text();
    }
    contact.score = static_cast<std::uint8_t>(below(kScoreMax + 1));
    contact.dnc = below(2) == 0;
    contact.call_opt_out = below(2) == 0;
    contact.email_opt_out = below(2) == 0;
    const int extra = below(6);
    for (int i = 0; i < extra; ++i) contact.extra[text() + std::to_string(i)] = text();
    return contact;
  }
  // A row and its send out, the row's `sending` as the send's step says.
  EnrollmentRecord enrollment() {
    EnrollmentRecord record;
    Enrollment& enrollment = record.row;
    SendOut& send = record.send;
    enrollment.id = static_cast<EnrollmentId>(random_());
    enrollment.sequence_id = text();
    enrollment.contact_key = text();
    enrollment.status = static_cast<EnrollmentStatus>(below(7));
    enrollment.step_index = static_cast<std::uint8_t>(below(kSequenceStepsMax + 1));
    for (TimeMs* at : {&enrollment.waits_from_ms, &enrollment.next_at_ms,
                       &record.extras.resume_at_ms, &send.at_ms}) {
      *at = time();
    }
    enrollment.paused_reason = static_cast<PauseReason>(below(3));
    for (Symbol* field : {&enrollment.finish_reason, &enrollment.not_sent_reason,
                          &enrollment.last_mailbox, &send.step, &send.mailbox}) {
      *field = text();
    }
    SymbolList& mailboxes = record.extras.mailboxes;
    for (int i = below(4); i > 0; --i) mailboxes = mailboxes.with(text());
    for (int i = below(6); i > 0; --i) enrollment.done_steps = enrollment.done_steps.with(text());
    for (int i = below(3); i > 0; --i) record.extras.unresolved.set(text(), text() + "r");
    send.released = below(2) == 0;
    enrollment.sending = !send.step.empty();
    enrollment.delivery_failures = static_cast<std::uint8_t>(below(5));
    return record;
  }
  ProgressRecord progress() {
    ProgressRecord record;
    record.seq = random_() | 1;
    record.enrollment_id = static_cast<EnrollmentId>(random_());
    record.step_index = static_cast<std::uint32_t>(random_());
    record.kind = static_cast<ProgressKind>(1 + below(8));
    record.at_ms = time();
    record.mailbox = text();
    record.message_id = text();
    record.detail = text();
    record.step_id = text();
    record.task_id = random_();
    record.variant = below(2) == 0 ? std::string() : text();
    return record;
  }
  Task task() {
    Task task;
    task.id = random_() | 1;
    task.enrollment_id = static_cast<EnrollmentId>(random_());
    task.step_index = static_cast<std::uint32_t>(random_());
    task.step_id = text();
    task.owner = text();
    task.due_at_ms = time();
    task.state = static_cast<TaskState>(below(3));
    task.reason = text();
    return task;
  }
  SendTimesState sendTimes() {
    SendTimesState times;
    for (int i = below(5); i > 0; --i) times.exact.push_back(time());
    times.exact_from_ms = time();
    for (int i = below(4); i > 0; --i) {
      times.minutes.push_back({time(), static_cast<std::uint32_t>(1 + random_() % UINT32_MAX)});
    }
    return times;
  }
  GovernorSnapshot governor() {
    GovernorSnapshot snapshot;
    snapshot.through_seq = random_();
    for (int m = below(4); m > 0; --m) {
      MailboxSendState mailbox;
      mailbox.mailbox = "m" + std::to_string(m) + text();
      mailbox.sends = sendTimes();
      mailbox.interval_free_ms = time();
      for (int d = below(4); d > 0; --d) {
        mailbox.domains.emplace_back("d" + std::to_string(9 - d) + text(), sendTimes());
      }
      mailbox.domains_after_prune = random_();
      mailbox.pruned_at_ms = time();
      snapshot.mailboxes.insert(snapshot.mailboxes.begin(), std::move(mailbox));
    }
    EnrollmentId id = static_cast<EnrollmentId>(below(100));
    for (int i = below(4); i > 0; --i) {
      snapshot.out.emplace_back(id, time());
      id += static_cast<EnrollmentId>(1 + below(1000));
    }
    return snapshot;
  }

 private:
  std::mt19937_64 random_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The formats before the compact ones, written here from their layout in
// io/record_codec.hpp (the codec only reads them now): u32 lengths and counts, fixed-width
// integers, every field present.
class OldFormat {
 public:
  OldFormat& u8(std::uint64_t value) { return little(value, 1); }
  OldFormat& u32(std::uint64_t value) { return little(value, 4); }
  OldFormat& u64(std::uint64_t value) { return little(value, 8); }
  OldFormat& str(std::string_view text) {
    u32(text.size());
    bytes.append(text);
    return *this;
  }
  OldFormat& list(const SymbolList& items) {
    u32(items.size());
    for (Symbol item : items) str(item);
    return *this;
  }
  std::string bytes;

 private:
  OldFormat& little(std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i) bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    return *this;
  }
};

std::string contactV2(const Contact& contact) {
  OldFormat out;
  out.u8(2).str(contact.email).str(contact.email_status).str(contact.first_name);
  out.str(contact.last_name).str(contact.company).str(contact.title).str(contact.phone);
  out.str(contact.timezone).u8(contact.score).str(contact.owner).str(contact.stage);
  out.u8((contact.dnc ? 1 : 0) | (contact.call_opt_out ? 2 : 0) | (contact.email_opt_out ? 4 : 0));
  out.u32(contact.extra.size());
  for (const auto& [name, value] : contact.extra) out.str(name).str(value);
  return out.bytes;
}

// Row 3 of sequence "q4" for contact "a@x.test", every other field at its default: encoded,
// 1 + 3 + 9 bytes of version, sequence and key before its status.
Enrollment smallRow() {
  Enrollment row;
  row.id = 3;
  row.sequence_id = "q4";
  row.contact_key = "a@x.test";
  return row;
}

std::string enrollmentV2(const EnrollmentRecord& record, std::string_view last_message_id = "",
                         std::string_view sending_message_id = "") {
  const Enrollment& row = record.row;
  const SendOut& send = record.send;
  // The row held the add's time beside the last step's; once a step is done only the latter
  // is read (an add a day before it here).
  const TimeMs last_done_at_ms = row.done_steps.empty() ? kNoTime : row.waits_from_ms;
  const TimeMs added_at_ms = row.done_steps.empty()       ? row.waits_from_ms
                             : last_done_at_ms == kNoTime ? kNoTime
                                                          : last_done_at_ms - kDayMs;
  OldFormat out;
  out.u8(2).str(row.sequence_id).str(row.contact_key).u8(static_cast<std::uint8_t>(row.status));
  out.u32(row.step_index).u64(static_cast<std::uint64_t>(added_at_ms));
  out.u64(static_cast<std::uint64_t>(row.next_at_ms));
  out.u64(static_cast<std::uint64_t>(last_done_at_ms)).str(pauseReasonName(row.paused_reason));
  out.u64(static_cast<std::uint64_t>(record.extras.resume_at_ms)).str(row.finish_reason);
  out.str(row.not_sent_reason).list(record.extras.mailboxes).str(row.last_mailbox);
  out.str(last_message_id);
  out.u64(0x0102030405060708).list(row.done_steps).str(send.step).str(sending_message_id);
  out.str(send.mailbox).u64(static_cast<std::uint64_t>(send.at_ms));
  out.u8(send.released ? 1 : 0).u32(record.extras.unresolved.size());
  for (const auto& [step, reason] : record.extras.unresolved.pairs()) out.str(step).str(reason);
  out.u32(row.delivery_failures);
  return out.bytes;
}

// Version 2 (no variant) or 3.
std::string progressV2or3(const ProgressRecord& record, int version) {
  OldFormat out;
  out.u8(static_cast<std::uint64_t>(version)).u32(record.enrollment_id).u32(record.step_index);
  out.u8(static_cast<std::uint8_t>(record.kind)).u64(static_cast<std::uint64_t>(record.at_ms));
  out.str(record.mailbox).str(record.message_id).str(record.detail).str(record.step_id);
  out.u64(record.task_id);
  if (version == 3) out.str(record.variant);
  return out.bytes;
}

TEST_CASE("a record the encoder takes decodes back equal") {
  const std::uint64_t seed = testSeed();
  RandomRecords random(seed);
  std::string bytes;
  SymbolCodes codes;
  EnrollmentDecodeMemo coded;
  coded.codes = &codes;
  for (int round = 0; round < kRoundsMax; ++round) {
    const Contact contact = random.contact();
    REQUIRE(encodeContact(contact, bytes).isOk());
    Contact contact_back;
    REQUIRE(decodeContact(contact.key, bytes, contact_back).isOk());
    REQUIRE_MESSAGE(sameContact(contact, contact_back), "round ", round);

    const EnrollmentRecord enrollment = random.enrollment();
    const EnrollmentId id = enrollment.row.id;
    REQUIRE(encodeEnrollment(enrollment, bytes).isOk());
    EnrollmentRecord enrollment_back;
    REQUIRE(decodeEnrollment(id, bytes, enrollment_back).isOk());
    REQUIRE_MESSAGE(sameEnrollment(enrollment, enrollment_back), "round ", round);
    // Format 4, its strings as codes of one table across the rounds.
    REQUIRE(encodeEnrollment(enrollment, bytes, codes).isOk());
    REQUIRE(bytes[0] == static_cast<char>(kEnrollmentCodedFormatVersion));
    EnrollmentRecord coded_back;
    REQUIRE(decodeEnrollment(id, bytes, coded_back, coded).isOk());
    REQUIRE_MESSAGE(sameEnrollment(enrollment, coded_back), "round ", round);
    // Format 5: format 4 without the contact key, which the decoder leaves as it was.
    const std::size_t keyed_size = bytes.size();
    REQUIRE(encodeEnrollment(enrollment, bytes, codes, false).isOk());
    REQUIRE(bytes[0] == static_cast<char>(kEnrollmentKeylessFormatVersion));
    REQUIRE(bytes.size() + enrollment.row.contact_key.size() + 1 <= keyed_size);
    EnrollmentRecord keyless_back;
    keyless_back.row.contact_key = enrollment.row.contact_key;
    REQUIRE(decodeEnrollment(id, bytes, keyless_back, coded).isOk());
    REQUIRE_MESSAGE(sameEnrollment(enrollment, keyless_back), "round ", round);
    std::string_view key_bytes = "kept";
    EnrollmentRecord keyless_bytes_back;
    keyless_bytes_back.row.contact_key = "codec-test-untouched";
    REQUIRE(decodeEnrollment(id, bytes, keyless_bytes_back.row, keyless_bytes_back.send,
                             keyless_bytes_back.extras, coded, key_bytes)
                .isOk());
    REQUIRE(key_bytes == "kept");
    // The bytes overload never writes row.contact_key (a load's other thread may write it),
    // and gives the row, its send out and its auto-resume time apart.
    REQUIRE(keyless_bytes_back.row.contact_key == "codec-test-untouched");
    keyless_bytes_back.row.contact_key = enrollment.row.contact_key;
    REQUIRE_MESSAGE(sameEnrollment(enrollment, keyless_bytes_back), "round ", round);
    REQUIRE(encodeEnrollment(enrollment, bytes, codes).isOk());
    EnrollmentRecord keyed_bytes_back;
    keyed_bytes_back.row.contact_key = "codec-test-untouched";
    REQUIRE(decodeEnrollment(id, bytes, keyed_bytes_back.row, keyed_bytes_back.send,
                             keyed_bytes_back.extras, coded, key_bytes)
                .isOk());
    REQUIRE(key_bytes == enrollment.row.contact_key.view());
    REQUIRE(keyed_bytes_back.row.contact_key == "codec-test-untouched");

    const ProgressRecord record = random.progress();
    REQUIRE(encodeProgress(record, bytes).isOk());
    ProgressRecord record_back;
    REQUIRE(decodeProgress(record.seq, bytes, record_back).isOk());
    REQUIRE_MESSAGE(sameProgress(record, record_back), "round ", round);

    const Task task = random.task();
    REQUIRE(encodeTask(task, bytes).isOk());
    Task task_back;
    REQUIRE(decodeTask(task.id, bytes, task_back).isOk());
    REQUIRE_MESSAGE(sameTask(task, task_back), "round ", round);
  }
}

// Rows as a table holds them: each mostly the row before's values, a few fields changed
// (now and then all of them), and now and then damaged. A memo kept across the rows, as the
// store's load keeps one, decodes each exactly as a decode without it does: the same row, or
// the same error.
TEST_CASE("enrollment rows decode the same through one memo as without it") {
  const std::uint64_t seed = testSeed();
  RandomRecords random(seed);
  std::mt19937_64 damage(seed);
  EnrollmentDecodeMemo memo;
  SymbolCodes codes;
  EnrollmentDecodeMemo coded_memo;
  coded_memo.codes = &codes;
  EnrollmentRecord record = random.enrollment();
  Enrollment& row = record.row;
  std::string bytes;
  int damaged_rows = 0;
  for (int round = 0; round < 4 * kRoundsMax; ++round) {
    const EnrollmentRecord other_record = random.enrollment();
    const Enrollment& other = other_record.row;
    const bool all = random.below(10) == 0;
    const auto change = [&](auto& field, const auto& value) {
      if (all || random.below(5) == 0) field = value;
    };
    change(row.sequence_id, other.sequence_id);
    row.contact_key = other.contact_key;
    change(row.paused_reason, other.paused_reason);
    change(row.finish_reason, other.finish_reason);
    change(row.not_sent_reason, other.not_sent_reason);
    change(row.last_mailbox, other.last_mailbox);
    change(record.send.step, other_record.send.step);
    change(record.send.mailbox, other_record.send.mailbox);
    change(record.extras.mailboxes, other_record.extras.mailboxes);
    change(row.done_steps, other.done_steps);
    change(record.extras.unresolved, other_record.extras.unresolved);
    change(row.status, other.status);
    row.id = other.id;
    row.step_index = other.step_index;
    row.next_at_ms = other.next_at_ms;
    record.send.released = other_record.send.released;
    row.sending = !record.send.step.empty();
    row.delivery_failures = other.delivery_failures;
    REQUIRE(encodeEnrollment(record, bytes).isOk());
    if (random.below(8) == 0) {
      ++damaged_rows;
      switch (random.below(3)) {
        case 0:
          bytes.resize(damage() % bytes.size());
          break;
        case 1:
          bytes[damage() % bytes.size()] = static_cast<char>(damage());
          break;
        default:
          bytes.push_back('x');
          break;
      }
    }
    EnrollmentRecord plain;
    EnrollmentRecord memoized = random.enrollment();  // what it held before is overwritten
    const Status plain_status = decodeEnrollment(row.id, bytes, plain);
    const Status memo_status = decodeEnrollment(row.id, bytes, memoized, memo);
    REQUIRE_MESSAGE(plain_status.code() == memo_status.code(), "round ", round, ": ",
                    plain_status.message(), " / ", memo_status.message());
    REQUIRE_MESSAGE(plain_status.message() == memo_status.message(), "round ", round);
    if (plain_status.isOk()) REQUIRE_MESSAGE(sameEnrollment(plain, memoized), "round ", round);
    // The same row in format 4, through a memo of its own, and alone.
    REQUIRE(encodeEnrollment(record, bytes, codes).isOk());
    EnrollmentRecord coded_plain;
    EnrollmentRecord coded_memoized = random.enrollment();
    EnrollmentDecodeMemo alone;
    alone.codes = &codes;
    REQUIRE(decodeEnrollment(row.id, bytes, coded_plain, alone).isOk());
    REQUIRE(decodeEnrollment(row.id, bytes, coded_memoized, coded_memo).isOk());
    REQUIRE_MESSAGE(sameEnrollment(record, coded_plain), "round ", round);
    REQUIRE_MESSAGE(sameEnrollment(record, coded_memoized), "round ", round);
  }
  MESSAGE(damaged_rows, " damaged rows; memo hits ", memo.hits, ", misses ", memo.misses);
  // The memo was used, and it was not a constant: both happened many times.
  CHECK(memo.hits > memo.misses);
  CHECK(memo.misses > 1000);
  CHECK(coded_memo.hits > 1000);  // the lists of format 4
}

// The store writes format 4: the strings a row repeats (all but the contact key) as codes of
// its symbols table, so a row in the middle of a sequence takes fewer bytes. A row of that
// format does not decode without the table, nor with a table that lacks one of its codes.
TEST_CASE("format 4 names a row's strings by code, and needs the table that has them") {
  EnrollmentRecord record;
  Enrollment& row = record.row;
  row.id = 7;
  row.sequence_id = Symbol("q4-outbound-enterprise");
  row.contact_key = Symbol("ada@example.test");
  row.status = EnrollmentStatus::kActive;
  row.step_index = 2;
  row.next_at_ms = 1'800'000'600'000;
  row.waits_from_ms = 1'800'000'300'000;
  row.last_mailbox = Symbol("sdr-one@sales.example.test");
  row.sending = true;
  record.send =
      SendOut{Symbol("step-3"), Symbol("sdr-one@sales.example.test"), 1'800'000'600'000, false};
  row.done_steps = SymbolList({Symbol("step-1"), Symbol("step-2")});
  record.extras.unresolved.set(Symbol("step-2"), Symbol("interrupted"));
  std::string text_form;
  REQUIRE(encodeEnrollment(record, text_form).isOk());
  SymbolCodes codes;
  std::string coded_form;
  REQUIRE(encodeEnrollment(record, coded_form, codes).isOk());
  MESSAGE("format 3: ", text_form.size(), " bytes; format 4: ", coded_form.size());
  CHECK(coded_form.size() + 80 < text_form.size());
  // Each distinct string once: the sequence, the mailbox, 3 steps, a reason.
  CHECK(codes.size() == 6);
  CHECK(codes.unconfirmedCount() == 6);
  REQUIRE(encodeEnrollment(record, coded_form, codes).isOk());
  CHECK(codes.size() == 6);  // the same strings again: the same codes

  EnrollmentDecodeMemo with_table;
  with_table.codes = &codes;
  EnrollmentRecord back;
  REQUIRE(decodeEnrollment(row.id, coded_form, back, with_table).isOk());
  CHECK(sameEnrollment(record, back));

  EnrollmentRecord refused;
  const Status no_table = decodeEnrollment(row.id, coded_form, refused);
  CHECK(no_table.code() == StatusCode::kCorruption);
  CHECK(no_table.message().find("no symbols table") != std::string::npos);

  SymbolCodes fewer;  // codes 1..5 of the same strings, not the 6th
  for (std::uint32_t code = 1; code <= 5; ++code) {
    REQUIRE(fewer.addLoaded(code, *codes.symbolOf(code)));
  }
  EnrollmentDecodeMemo with_fewer;
  with_fewer.codes = &fewer;
  const Status lacking = decodeEnrollment(row.id, coded_form, refused, with_fewer);
  CHECK(lacking.code() == StatusCode::kCorruption);
  CHECK(lacking.message().find("symbol code 6 is not in the symbols table") != std::string::npos);

  // A string over the limit is refused as in format 3, and given no code.
  EnrollmentRecord too_long = record;
  too_long.row.last_mailbox = Symbol(std::string(kRecordFieldBytesMax + 1, 'm'));
  const Status over = encodeEnrollment(too_long, coded_form, codes);
  CHECK(over.code() == StatusCode::kInvalidArgument);
  CHECK(over.message().find("last_mailbox") != std::string::npos);
  CHECK(codes.size() == 6);
}

TEST_CASE("a symbols table takes loaded codes only in order, each string once") {
  SymbolCodes codes;
  CHECK_FALSE(codes.addLoaded(2, Symbol("a")));  // 1 comes first
  CHECK_FALSE(codes.addLoaded(1, Symbol()));     // no code for ""
  CHECK(codes.addLoaded(1, Symbol("a")));
  CHECK_FALSE(codes.addLoaded(2, Symbol("a")));  // "a" has code 1
  CHECK(codes.addLoaded(2, Symbol("b")));
  CHECK(codes.unconfirmedCount() == 0);  // loaded: committed
  CHECK(codes.codeOf(Symbol("b")) == 2);
  CHECK(codes.codeOf(Symbol("c")) == 3);
  CHECK(codes.unconfirmedCount() == 1);
  CHECK(codes.firstUnconfirmed() == 3);
  codes.confirmAll();
  CHECK(codes.unconfirmedCount() == 0);
  CHECK_FALSE(codes.symbolOf(0).has_value());
  CHECK_FALSE(codes.symbolOf(4).has_value());
  CHECK(*codes.symbolOf(3) == Symbol("c"));
}

// An upgrade reads every value an earlier seqd wrote: random records written in the formats
// before decode to what they held, alone and through a memo that also decodes rows of the
// current format.
TEST_CASE("values written in the formats before decode equal") {
  const std::uint64_t seed = testSeed();
  RandomRecords random(seed);
  EnrollmentDecodeMemo memo;
  std::string bytes;
  for (int round = 0; round < kRoundsMax; ++round) {
    const Contact contact = random.contact();
    Contact contact_back;
    REQUIRE(decodeContact(contact.key, contactV2(contact), contact_back).isOk());
    REQUIRE_MESSAGE(sameContact(contact, contact_back), "round ", round);

    const EnrollmentRecord row = random.enrollment();
    const EnrollmentId id = row.row.id;
    EnrollmentRecord row_back;
    const std::string old_row = enrollmentV2(row, random.text(), random.text());
    REQUIRE(decodeEnrollment(id, old_row, row_back).isOk());
    REQUIRE_MESSAGE(sameEnrollment(row, row_back), "round ", round);
    EnrollmentRecord memo_back;
    REQUIRE(decodeEnrollment(id, old_row, memo_back, memo).isOk());
    REQUIRE_MESSAGE(sameEnrollment(row, memo_back), "round ", round);
    REQUIRE(encodeEnrollment(row, bytes).isOk());
    REQUIRE(bytes[0] == static_cast<char>(kEnrollmentFormatVersion));
    REQUIRE(bytes.size() < old_row.size());
    REQUIRE(decodeEnrollment(id, bytes, memo_back, memo).isOk());
    REQUIRE_MESSAGE(sameEnrollment(row, memo_back), "round ", round);

    ProgressRecord record = random.progress();
    ProgressRecord record_back;
    REQUIRE(decodeProgress(record.seq, progressV2or3(record, 3), record_back).isOk());
    REQUIRE_MESSAGE(sameProgress(record, record_back), "round ", round);
    record.variant.clear();  // version 2 has none
    REQUIRE(decodeProgress(record.seq, progressV2or3(record, 2), record_back).isOk());
    REQUIRE_MESSAGE(sameProgress(record, record_back), "round ", round);
  }
}

// A list's bytes in one format can be another list's in the other. Made here on purpose: the
// old row's done_steps are 384 steps; read as the new format, the same bytes are a list of 128
// others. A memo that took the new row's list from the old row's would hand it the old list.
TEST_CASE("a memo does not take a list from a row of the other format") {
  std::vector<std::string> old_steps;
  std::vector<std::string> new_steps = {"", ""};  // the old count's two zero bytes
  const std::vector<int> swallowed = [] {
    std::vector<int> counts(60, 5);
    counts.insert(counts.end(), 3, 7);
    return counts;
  }();
  for (int empty_after : swallowed) {
    // Old: "\x<len>yz", then `empty_after` empty steps (4 zero bytes each). New: the three
    // zero bytes of the old length, then one step of "yz" and the empty steps' bytes.
    const int length = 2 + 4 * empty_after;
    old_steps.push_back(std::string(1, static_cast<char>(length)) + "yz");
    old_steps.insert(old_steps.end(), static_cast<std::size_t>(empty_after), "");
    new_steps.emplace_back(3, '\0');
    new_steps.push_back("yz" + std::string(static_cast<std::size_t>(4 * empty_after), '\0'));
  }
  REQUIRE(old_steps.size() == 384);  // u32 0x180: 80 01 00 00, a varint of 128, then two ""
  REQUIRE(new_steps.size() == 128);
  EnrollmentRecord old_row;
  old_row.row.id = 1;
  old_row.row.sequence_id = "q4";
  old_row.row.contact_key = "a@x.test";
  old_row.row.done_steps = SymbolList(old_steps);
  EnrollmentRecord new_row = old_row;
  new_row.row.id = 2;
  new_row.row.done_steps = SymbolList(new_steps);
  std::string new_bytes;
  REQUIRE(encodeEnrollment(new_row, new_bytes).isOk());
  OldFormat list;
  list.list(old_row.row.done_steps);
  REQUIRE(new_bytes.find(list.bytes) != std::string::npos);  // the same bytes in both

  EnrollmentDecodeMemo memo;
  EnrollmentRecord back;
  REQUIRE(decodeEnrollment(1, enrollmentV2(old_row), back, memo).isOk());
  REQUIRE(sameEnrollment(old_row, back));
  REQUIRE(decodeEnrollment(2, new_bytes, back, memo).isOk());
  CHECK(back.row.done_steps.size() == 128);
  CHECK(sameEnrollment(new_row, back));
}

// A table's rows change their list of steps done from one row to the next (rows written at
// different steps); each miss interns a list under the Symbol table's lock. Rows cycling
// through a few lists take each from the memo after its first, and past the memo's slots
// every row misses, yet still decodes equal.
TEST_CASE("a memo keeps the last few lists of steps done, each interned once") {
  SymbolCodes codes;
  const auto cycle = [&codes](std::size_t lists) {
    EnrollmentDecodeMemo memo;
    memo.codes = &codes;
    const std::size_t rows = 40 * lists;
    for (std::size_t i = 0; i < rows; ++i) {
      EnrollmentRecord record;
      record.row.id = static_cast<EnrollmentId>(i);
      record.row.sequence_id = Symbol("q4");
      record.row.contact_key = Symbol("c" + std::to_string(i) + "@x.test");
      record.row.done_steps =
          SymbolList({Symbol("step-1"), Symbol("step-" + std::to_string(2 + i % lists))});
      std::string bytes;
      REQUIRE(encodeEnrollment(record, bytes, codes).isOk());
      EnrollmentRecord back;
      REQUIRE(decodeEnrollment(record.row.id, bytes, back, memo).isOk());
      REQUIRE_MESSAGE(sameEnrollment(record, back), "row ", i, " of ", lists, " lists");
    }
    return memo.misses;
  };
  CHECK(cycle(4) == 4);
  CHECK(cycle(EnrollmentDecodeMemo::kListSlots) == EnrollmentDecodeMemo::kListSlots);
  CHECK(cycle(EnrollmentDecodeMemo::kListSlots + 1) == 40 * (EnrollmentDecodeMemo::kListSlots + 1));
}

// The current formats leave out what holds its default, and say so in a mask: a row or a
// record naming a field that holds its default is one the encoder never writes.
TEST_CASE("a field at its default is left out, and one named but at its default is refused") {
  EnrollmentRecord row{smallRow(), SendOut()};
  std::string bytes;
  REQUIRE(encodeEnrollment(row, bytes).isOk());
  // version, "q4", "a@x.test", status, step_index, progress_seq, a mask of no fields
  CHECK(bytes.size() == 1 + 3 + 9 + 1 + 1 + 1 + 2);
  // progress_seq is written 0 and ignored when read: a row written when it held the progress
  // log's last seq (300 here) decodes to the same enrollment.
  {
    constexpr std::size_t kProgressSeqAt = 1 + 3 + 9 + 1 + 1;
    CHECK(bytes[kProgressSeqAt] == '\0');
    std::string older = bytes;
    older.replace(kProgressSeqAt, 1, "\xAC\x02");
    EnrollmentRecord older_back;
    REQUIRE(decodeEnrollment(3, older, older_back).isOk());
    CHECK(sameEnrollment(row, older_back));
  }
  row.send.released = true;
  row.row.delivery_failures = 2;
  REQUIRE(encodeEnrollment(row, bytes).isOk());
  CHECK(bytes.size() == 1 + 3 + 9 + 1 + 1 + 1 + 2 + 1);
  EnrollmentRecord back;
  REQUIRE(decodeEnrollment(3, bytes, back).isOk());
  CHECK(sameEnrollment(row, back));
  // delivery_failures named, and 0.
  bytes.back() = '\0';
  const Status zero = decodeEnrollment(3, bytes, back);
  CHECK(zero.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(zero.message(), "delivery_failures: present but 0"), zero.message());
  // A varint longer than its value needs (0 as 80 00).
  bytes.back() = '\x80';
  bytes.push_back('\0');
  CHECK_MESSAGE(contains(decodeEnrollment(3, bytes, back).message(),
                         "delivery_failures: varint longer than its value"),
                decodeEnrollment(3, bytes, back).message());

  ProgressRecord record;
  record.enrollment_id = 7;
  record.kind = ProgressKind::kDelivered;
  record.at_ms = 1796133600000;
  record.step_id = "intro";
  REQUIRE(encodeProgress(record, bytes).isOk());
  // version, id, step_index, kind, at_ms (a zigzag varint of 42 bits: 6 bytes), mask, step
  CHECK(bytes.size() == 1 + 1 + 1 + 1 + 6 + 1 + 6);
  ProgressRecord record_back;
  REQUIRE(decodeProgress(5, bytes, record_back).isOk());
  record.seq = 5;
  CHECK(sameProgress(record, record_back));
  // The step named with an empty text.
  std::string empty_step = bytes.substr(0, bytes.size() - 5);
  empty_step.back() = '\0';
  CHECK_MESSAGE(
      contains(decodeProgress(5, empty_step, record_back).message(), "step_id: present but empty"),
      decodeProgress(5, empty_step, record_back).message());
  // A mask bit no field has.
  std::string unknown = bytes;
  unknown[10] = static_cast<char>(unknown[10] | 0x40);
  CHECK_MESSAGE(contains(decodeProgress(5, unknown, record_back).message(), "fields: unknown bits"),
                decodeProgress(5, unknown, record_back).message());
}

// A row keeps one time for its add and its last step done (Enrollment::waits_from_ms): the
// encoder names it as the add's while no step is done, then as the last step's. Rows written
// before held both; they read as the last step's once one is done.
TEST_CASE("a row holds the add's time until a step is done, then the last step's") {
  constexpr std::size_t kMaskAt = 1 + 3 + 9 + 1 + 1 + 1;  // version, "q4", the key, ..., seq
  constexpr TimeMs kAdded = 1'800'000'000'000;
  constexpr TimeMs kLastDone = 1'800'000'300'000;
  EnrollmentRecord added{smallRow(), SendOut()};
  added.row.waits_from_ms = kAdded;
  std::string added_bytes;
  REQUIRE(encodeEnrollment(added, added_bytes).isOk());
  CHECK(added_bytes[kMaskAt] == '\x01');  // added_at_ms
  EnrollmentRecord done = added;
  done.row.done_steps = SymbolList{"intro"};
  done.row.waits_from_ms = kLastDone;
  std::string done_bytes;
  REQUIRE(encodeEnrollment(done, done_bytes).isOk());
  CHECK(done_bytes[kMaskAt] == '\x04');  // last_done_at_ms
  EnrollmentRecord back;
  REQUIRE(decodeEnrollment(3, added_bytes, back).isOk());
  CHECK(back.row.waits_from_ms == kAdded);
  CHECK(lastDoneAt(back.row) == kNoTime);
  REQUIRE(decodeEnrollment(3, done_bytes, back).isOk());
  CHECK(back.row.waits_from_ms == kLastDone);
  CHECK(lastDoneAt(back.row) == kLastDone);

  // As written before: both times, the add's first (bit 0, then bit 2), then the steps done.
  std::string both = done_bytes.substr(0, kMaskAt) + '\x05' + done_bytes.substr(kMaskAt + 1, 1) +
                     added_bytes.substr(kMaskAt + 2) + done_bytes.substr(kMaskAt + 2);
  REQUIRE(decodeEnrollment(3, both, back).isOk());
  CHECK(sameEnrollment(done, back));
  CHECK(back.row.waits_from_ms == kLastDone);
}

// The row's small members are bytes: what does not fit one is a damaged row, said so.
TEST_CASE("a row's pause reason, step and failures are refused past what the row holds") {
  EnrollmentRecord record{smallRow(), SendOut()};
  Enrollment& row = record.row;
  row.status = EnrollmentStatus::kPaused;
  row.paused_reason = PauseReason::kManual;
  row.step_index = kSequenceStepsMax;
  row.delivery_failures = 2;
  std::string bytes;
  REQUIRE(encodeEnrollment(record, bytes).isOk());
  EnrollmentRecord back;
  REQUIRE(decodeEnrollment(3, bytes, back).isOk());
  CHECK(sameEnrollment(record, back));
  CHECK(pauseReasonName(back.row.paused_reason) == std::string("manual"));

  std::string unknown = bytes;
  const std::size_t manual_at = unknown.find("manual");
  REQUIRE(manual_at != std::string::npos);
  unknown[manual_at + 5] = 'x';
  const Status reason = decodeEnrollment(3, unknown, back);
  CHECK(reason.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(reason.message(), "paused_reason: 'manuax' is not manual or ooo"),
                reason.message());

  // step_index 255 is the varint FF 01; 256 is 80 02.
  constexpr std::size_t kStepAt = 1 + 3 + 9 + 1;
  REQUIRE(bytes.substr(kStepAt, 2) == "\xFF\x01");
  std::string past = bytes;
  past.replace(kStepAt, 2, "\x80\x02");
  const Status step = decodeEnrollment(3, past, back);
  CHECK(step.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(step.message(), "step_index: 256 is past the most steps"), step.message());

  // delivery_failures, the last field: 2, then 128 (80 01).
  REQUIRE(bytes.back() == '\x02');
  std::string failures = bytes;
  failures.back() = '\x80';
  failures.push_back('\x01');
  const Status many = decodeEnrollment(3, failures, back);
  CHECK(many.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(many.message(), "delivery_failures: above 127"), many.message());
}

// The block a packed contact is, byte for byte (its header, tables and texts).
std::string blockOf(const ContactRef& packed) {
  return std::string(reinterpret_cast<const char*>(packed.get()), packed->blockBytes());
}

// A write batch holds contacts packed (engine/records.hpp): the store encodes them from the
// block, which must give the bytes the Contact would, whichever fields the block leaves out.
TEST_CASE("a packed contact encodes to the bytes its Contact does") {
  const std::uint64_t seed = testSeed();
  RandomRecords random(seed);
  std::string from_contact;
  std::string from_packed;
  for (int round = 0; round < kRoundsMax; ++round) {
    Contact contact = random.contact();
    // The fields a block holds only when they are not at their defaults.
    if (random.below(3) == 0) contact.email = contact.key;  // the email is the key's text
    if (random.below(3) == 0) contact.email_status = "unknown";
    if (random.below(3) == 0) contact.timezone.clear();
    if (random.below(3) == 0) contact.owner.clear();
    if (random.below(3) == 0) contact.stage.clear();
    if (random.below(3) == 0) contact.extra.clear();
    REQUIRE(encodeContact(contact, from_contact).isOk());
    REQUIRE(encodeContact(*PackedContact::pack(contact), from_packed).isOk());
    REQUIRE_MESSAGE(from_packed == from_contact, "round ", round, " seed ", seed);
  }
}

TEST_CASE("a contact decodes straight into the packed block that packing its Contact makes") {
  const std::uint64_t seed = testSeed();
  RandomRecords random(seed);
  std::mt19937_64 damage(seed);
  std::string bytes;
  std::vector<ContactFields::Extra> scratch;  // one for every round, as the store passes it
  int wide = 0;
  for (int round = 0; round < kRoundsMax; ++round) {
    Contact contact = random.contact();
    // Now and then texts over 65,535 bytes together: the block's ends are 4 bytes wide then.
    if (random.below(50) == 0) contact.company.assign(70000, 'c');
    if (random.below(50) == 0) contact.extra["wide"] = std::string(66000, 'w');
    REQUIRE(encodeContact(contact, bytes).isOk());
    Contact decoded;
    REQUIRE(decodeContact(contact.key, bytes, decoded).isOk());
    ContactRef packed;
    REQUIRE(decodeContact(contact.key, bytes, packed, scratch).isOk());
    REQUIRE(packed != nullptr);
    REQUIRE_MESSAGE(blockOf(packed) == blockOf(PackedContact::pack(decoded)), "round ", round);
    REQUIRE_MESSAGE(sameContact(packed->unpack(), contact), "round ", round);
    if (packed->blockBytes() > 70000) ++wide;

    // Damaged: a cut, a changed byte or a byte more. Both decoders refuse it with the same
    // message, or both take it and agree.
    std::string damaged = bytes;
    switch (random.below(3)) {
      case 0:
        damaged.resize(damage() % damaged.size());
        break;
      case 1:
        damaged[damage() % damaged.size()] = static_cast<char>(damage());
        break;
      default:
        damaged.push_back('x');
        break;
    }
    Contact decoded_damaged;
    ContactRef packed_damaged;
    const Status plain = decodeContact(contact.key, damaged, decoded_damaged);
    const Status direct = decodeContact(contact.key, damaged, packed_damaged, scratch);
    REQUIRE_MESSAGE(plain.code() == direct.code(), "round ", round, ": ", plain.message());
    REQUIRE_MESSAGE(plain.message() == direct.message(), "round ", round);
    if (plain.isOk()) {
      REQUIRE_MESSAGE(blockOf(packed_damaged) == blockOf(PackedContact::pack(decoded_damaged)),
                      "round ", round);
    } else {
      CHECK(plain.code() == StatusCode::kCorruption);
    }
  }
  MESSAGE(wide, " blocks with wide ends");
}

TEST_CASE("a packed decode names the field and offset of the damage, as the plain one does") {
  Contact contact;
  contact.key = "k";
  contact.email = "a@x.test";
  contact.extra = {{"a", "1"}, {"b", "2"}};
  std::string bytes;
  REQUIRE(encodeContact(contact, bytes).isOk());
  // The second extra name ("b") made equal to the first: out of order.
  const std::size_t b_at = bytes.rfind('b');
  REQUIRE(b_at != std::string::npos);
  bytes[b_at] = 'a';
  std::vector<ContactFields::Extra> scratch;
  ContactRef packed;
  const Status status = decodeContact("k", bytes, packed, scratch);
  CHECK(status.code() == StatusCode::kCorruption);
  CHECK_MESSAGE(contains(status.message(), "extra name: 'a' out of order or repeated at byte"),
                status.message());
  CHECK(packed == nullptr);
  bytes.resize(bytes.size() - 1);
  CHECK_MESSAGE(contains(decodeContact("k", bytes, packed, scratch).message(),
                         "extra value: length 1 overruns"),
                decodeContact("k", bytes, packed, scratch).message());
}

TEST_CASE("a send limits' snapshot decodes back equal, and any cut of it is refused") {
  const std::uint64_t seed = testSeed();
  RandomRecords random(seed);
  std::string bytes;
  int with_domains = 0;
  for (int round = 0; round < kRoundsMax; ++round) {
    const GovernorSnapshot snapshot = random.governor();
    REQUIRE(encodeGovernor(snapshot, bytes).isOk());
    GovernorSnapshot back;
    REQUIRE(decodeGovernor(bytes, back).isOk());
    REQUIRE_MESSAGE(back == snapshot, "round ", round);
    for (const MailboxSendState& mailbox : snapshot.mailboxes) {
      with_domains += mailbox.domains.empty() ? 0 : 1;
    }
    if (round % 50 != 0) continue;
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      GovernorSnapshot partial;
      CHECK_MESSAGE(!decodeGovernor(std::string_view(bytes).substr(0, cut), partial).isOk(),
                    "round ", round, " cut ", cut);
    }
  }
  CHECK(with_domains > 0);

  // What add() never makes is refused both ways: a minute counting no send, names out of order.
  GovernorSnapshot empty_minute;
  empty_minute.mailboxes.resize(1);
  empty_minute.mailboxes[0].mailbox = "a@x";
  empty_minute.mailboxes[0].sends.minutes = {{5, 0}};
  Status encoded = encodeGovernor(empty_minute, bytes);
  CHECK(contains(encoded.message(), "minute count"));
  GovernorSnapshot back;
  Status decoded = decodeGovernor(bytes, back);
  CHECK(decoded.code() == StatusCode::kCorruption);
  GovernorSnapshot unordered;
  unordered.mailboxes.resize(2);
  unordered.mailboxes[0].mailbox = "b@x";
  unordered.mailboxes[1].mailbox = "a@x";
  CHECK(!encodeGovernor(unordered, bytes).isOk());
  CHECK(contains(decodeGovernor(bytes, back).message(), "out of order"));
}

TEST_CASE("a progress record of version 2, written before variants were kept, reads as none") {
  ProgressRecord record;
  record.enrollment_id = 7;
  record.step_index = 1;
  record.kind = ProgressKind::kDelivered;
  record.at_ms = 1796133600000;
  record.mailbox = "alice@acme.test";
  record.message_id = "<q4.intro.0123456789abcdef@acme.test>";
  record.step_id = "intro";
  record.variant = "b";
  std::string bytes;
  REQUIRE(encodeProgress(record, bytes).isOk());
  CHECK(static_cast<std::uint8_t>(bytes[0]) == kProgressFormatVersion);
  ProgressRecord back;
  REQUIRE(decodeProgress(5, progressV2or3(record, 2), back).isOk());
  CHECK(back.variant.empty());
  CHECK(back.step_id == "intro");
  CHECK(back.mailbox == "alice@acme.test");
  // A version 2 record with a variant after it has trailing bytes.
  std::string trailing = progressV2or3(record, 3);
  trailing[0] = static_cast<char>(2);
  CHECK_FALSE(decodeProgress(5, trailing, back).isOk());
  REQUIRE(decodeProgress(5, progressV2or3(record, 3), back).isOk());
  CHECK(back.variant == "b");
  REQUIRE(decodeProgress(5, bytes, back).isOk());
  CHECK(back.variant == "b");
}

TEST_CASE("an enrollment with a send out is written without its Message-ID, which it computes") {
  EnrollmentRecord record;
  Enrollment& enrollment = record.row;
  enrollment.id = 9;
  enrollment.sequence_id = "q4";
  enrollment.contact_key = "rita@example.test";
  enrollment.status = EnrollmentStatus::kActive;
  enrollment.sending = true;
  record.send = SendOut{"intro", "alice@acme.test", 1796133600000, true};
  const std::string message_id = sendingMessageId(enrollment, record.send);
  REQUIRE_FALSE(message_id.empty());
  std::string bytes;
  REQUIRE(encodeEnrollment(record, bytes).isOk());
  // Neither Message-ID is in the value.
  CHECK(bytes.find(message_id) == std::string::npos);
  CHECK(bytes.find('<') == std::string::npos);
  EnrollmentRecord back;
  REQUIRE(decodeEnrollment(enrollment.id, bytes, back).isOk());
  CHECK(sameEnrollment(record, back));
  CHECK(static_cast<bool>(back.row.sending));
  CHECK(sendingMessageId(back.row, back.send) == message_id);
  // A value written before, holding both Message-IDs, reads the same: they are ignored.
  const std::string older = enrollmentV2(record, message_id, message_id);
  REQUIRE(older.find(message_id) != std::string::npos);
  EnrollmentRecord older_back;
  REQUIRE(decodeEnrollment(enrollment.id, older, older_back).isOk());
  CHECK(sameEnrollment(record, older_back));
}

TEST_CASE("a task of an unknown state, or with trailing bytes, does not decode") {
  Task task;
  task.id = 9;
  task.step_id = "call";
  task.owner = "bob";
  task.state = static_cast<TaskState>(3);
  std::string bytes;
  Status status = encodeTask(task, bytes);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(contains(status.message(), "state"), status.message());
  task.state = TaskState::kSkipped;
  REQUIRE(encodeTask(task, bytes).isOk());
  Task back;
  CHECK(!decodeTask(9, bytes + "x", back).isOk());
  CHECK(!decodeTask(9, bytes.substr(0, bytes.size() - 1), back).isOk());
}

TEST_CASE("the encoder refuses what the decoder would, naming the field") {
  std::string bytes;
  const std::string too_long(kRecordFieldBytesMax + 1, 'x');
  SUBCASE("a contact field over the limit") {
    Contact contact;
    contact.key = "k";
    contact.company = too_long;
    Status status = encodeContact(contact, bytes);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(status.message(), "company"), status.message());
    Contact back;
    CHECK(!decodeContact("k", bytes, back).isOk());
    CHECK(encodeContact(*PackedContact::pack(contact), bytes).message() == status.message());
  }
  SUBCASE("a score above the maximum") {
    Contact contact;
    contact.key = "k";
    contact.score = kScoreMax + 1;
    Status status = encodeContact(contact, bytes);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(status.message(), "score"), status.message());
    CHECK(encodeContact(*PackedContact::pack(contact), bytes).message() == status.message());
  }
  SUBCASE("too many extra fields") {
    Contact contact;
    contact.key = "k";
    for (std::size_t i = 0; i <= kContactExtraFieldsMax; ++i) contact.extra[std::to_string(i)];
    Status status = encodeContact(contact, bytes);
    CHECK_MESSAGE(contains(status.message(), "extra count"), status.message());
    CHECK(encodeContact(*PackedContact::pack(contact), bytes).message() == status.message());
  }
  SUBCASE("too many done steps") {
    EnrollmentRecord enrollment;
    enrollment.row.done_steps = SymbolList(std::vector<Symbol>(kEnrollmentDoneStepsMax + 1, "s"));
    Status status = encodeEnrollment(enrollment, bytes);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(status.message(), "done_steps count"), status.message());
    EnrollmentRecord back;
    CHECK(!decodeEnrollment(0, bytes, back).isOk());
  }
  // The row's bit is read back from the send's step: a record whose two disagree would come
  // back otherwise than it went in.
  SUBCASE("a row with a send out and no send, or a send and no send out") {
    EnrollmentRecord without_send{smallRow(), SendOut()};
    without_send.row.sending = true;
    Status status = encodeEnrollment(without_send, bytes);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(status.message(), "sending_step: empty, and the row has a send out"),
                  status.message());
    EnrollmentRecord without_bit{smallRow(), SendOut{"intro", "alice@acme.test", 1, false}};
    status = encodeEnrollment(without_bit, bytes);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(contains(status.message(), "sending_step: set, and the row has no send out"),
                  status.message());
    without_bit.row.sending = true;
    CHECK(encodeEnrollment(without_bit, bytes).isOk());
  }
  SUBCASE("a progress detail over the limit") {
    ProgressRecord record;
    record.seq = 1;
    record.detail = too_long;
    Status status = encodeProgress(record, bytes);
    CHECK_MESSAGE(contains(status.message(), "detail"), status.message());
    ProgressRecord back;
    CHECK(!decodeProgress(1, bytes, back).isOk());
  }
}

}  // namespace
}  // namespace seqd
