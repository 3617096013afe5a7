// Report counters: what `seqctl report SEQ` counts, per (sequence, step, A/B variant, mailbox),
// kept as state so that a report is exact after restarts and after the progress log's trim
// (the log holds about its last day only: engine/records.hpp, "History").
//
// The engine counts as it writes the records that change a count, and the changed counters go
// into the same WriteBatch, as team records the store keeps without looking inside
// (engine/team_records.hpp):
//   'R' u8 len | sequence id | u8 len | step id | u8 len | variant id | u8 len | mailbox
//       -> kReportCountKinds x u64 little-endian, in ReportCount order
// Ids are at most 64 bytes and mailbox addresses 254, so a key stays under LMDB's 511.
// A counter is never deleted: a sequence's report reads its rows by prefix, a few per step.
//
// What each count is (README "Reports" says it for users):
//   sent          an email that went out: delivered, refused for good (5xx) or interrupted
//                 after its data (it may have gone). 4xx retries count once, when one ends.
//   delivered     accepted by the mail system (Maildir written, SMTP 2xx).
//   bounced       refused for good at sending (5xx), or a bounce event / bounce notice later.
//   replied, meetings, unsubscribed
//                 events that changed the enrollment (finished it, per the sequence's
//                 finish_on), credited to the step of the last email the contact was sent in
//                 that sequence (its variant and mailbox), or to the step it was on when it
//                 got none.
//   not_sent      the enrollment went not_sent at this step (any reason).
//   tasks_done, tasks_skipped
//                 a manual step's task completed, or skipped (by a person, or a call step
//                 skipped for Do-Not-Call).
// Emails and the events credited to them carry the variant and mailbox; not_sent and tasks
// have neither ("" in the key), so they show per step only.
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "engine/symbol.hpp"
#include "engine/team_records.hpp"

namespace seqd {

enum class ReportCount : std::uint8_t {
  kSent = 0,
  kDelivered,
  kBounced,
  kReplied,
  kMeetings,
  kUnsubscribed,
  kNotSent,
  kTasksDone,
  kTasksSkipped,
};
inline constexpr std::size_t kReportCountKinds = 9;
using ReportCounts = std::array<std::uint64_t, kReportCountKinds>;

// The JSON field and table column name of a count ("sent", ..., "tasks_skipped").
const char* reportCountName(ReportCount count);
// Adds every count of `more` into `total`.
void addCounts(ReportCounts& total, const ReportCounts& more);

// A counter's key, as Symbols: a send's result counts twice on the engine thread, and four
// strings built and compared in an ordered map each time were a few percent of it.
struct ReportKey {
  Symbol sequence;
  Symbol step;
  Symbol variant;  // "" : none
  Symbol mailbox;  // "" : none

  bool operator==(const ReportKey&) const = default;
  // By the texts, part by part (Symbol orders by its text).
  bool operator<(const ReportKey& other) const {
    return std::tie(sequence, step, variant, mailbox) <
           std::tie(other.sequence, other.step, other.variant, other.mailbox);
  }
};
struct ReportKeyHash {
  std::size_t operator()(const ReportKey& key) const noexcept {
    std::uint64_t mixed = key.sequence.index();
    for (Symbol part : {key.step, key.variant, key.mailbox}) {
      mixed = (mixed ^ part.index()) * 0x9E3779B97F4A7C15ULL;
    }
    return static_cast<std::size_t>(mixed ^ (mixed >> 29));
  }
};

class ReportCounters {
 public:
  // Takes one stored record; records of other kinds are ignored.
  void restore(const TeamRecord& record);
  // Adds one to a count and notes the counter as changed.
  // REQUIRES: every part of the key is at most 255 bytes.
  void add(const ReportKey& key, ReportCount count);
  // Appends a record of every counter changed since the last call, in key order.
  void takeChanged(std::vector<TeamRecord>& out);
  // The counters of one sequence, in key order.
  std::vector<std::pair<ReportKey, ReportCounts>> ofSequence(Symbol sequence) const;

 private:
  boost::unordered_flat_map<ReportKey, ReportCounts, ReportKeyHash> counts_;
  boost::unordered_flat_set<ReportKey, ReportKeyHash> changed_;
};

// What `seqctl report SEQ` shows (Engine::report()).
struct ReportVariantRow {
  std::string variant;
  ReportCounts counts{};
};
struct ReportStepRow {
  std::string step;
  std::string type;                        // "" : a step no longer in the sequence, counted before
  std::uint32_t step_index = 0;            // its position now (steps no longer in it come last)
  ReportCounts counts{};                   // every variant and mailbox of the step
  std::vector<ReportVariantRow> variants;  // the step's variants as configured, then others
};
// Hours of per-mailbox usage a report shows: the governor keeps the last day's sends.
inline constexpr int kReportHours = 24;
struct ReportMailboxRow {
  std::string mailbox;
  std::uint64_t sent = 0;         // by this sequence, ever
  std::uint64_t bounced = 0;      // by this sequence, ever
  std::int64_t daily_limit = -1;  // -1: not a configured mailbox (any more)
  std::int64_t hourly_limit = -1;
  // Every send of the mailbox (all sequences), per hour over the last kReportHours hours,
  // oldest first: its usage against the limits.
  std::vector<std::uint32_t> sent_by_hour;
};
// A contact that needs a person: bounced, not sent, or waiting on a task.
struct ReportAttentionRow {
  std::string contact;
  std::string email;
  std::string status;  // bounced | not_sent | active (waiting on a task)
  std::string step;
  std::string reason;  // the bounce or not-sent reason, or "task <id> (<owner>)"
};
inline constexpr std::size_t kReportAttentionMax = 1000;
struct SequenceReport {
  std::string sequence;
  std::string name;
  std::int64_t generated_at_ms = 0;
  ReportCounts totals{};
  std::vector<ReportStepRow> steps;
  std::vector<ReportMailboxRow> mailboxes;
  std::vector<ReportAttentionRow> attention;  // at most kReportAttentionMax, in contact order
  std::size_t attention_total = 0;
};

std::string reportCounterKey(const ReportKey& key);
// False for a key reportCounterKey() does not make.
bool splitReportCounterKey(std::string_view stored, ReportKey& key);

}  // namespace seqd
