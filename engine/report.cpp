#include "engine/report.hpp"

#include <algorithm>

#include "engine/assert.hpp"

namespace seqd {
namespace {

constexpr char kReportKind = 'R';
constexpr std::size_t kReportKeyPartBytesMax = 255;

void appendPart(std::string& key, std::string_view part) {
  SEQD_ASSERT(part.size() <= kReportKeyPartBytesMax);
  key += static_cast<char>(part.size());
  key += part;
}

bool readPart(std::string_view& rest, Symbol& part) {
  if (rest.empty()) return false;
  const std::size_t size = static_cast<unsigned char>(rest[0]);
  if (rest.size() < 1 + size) return false;
  part = Symbol(rest.substr(1, size));
  rest.remove_prefix(1 + size);
  return true;
}

std::string encodeCounts(const ReportCounts& counts) {
  std::string value;
  value.reserve(8 * kReportCountKinds);
  for (std::uint64_t count : counts) {
    for (int i = 0; i < 8; ++i) value += static_cast<char>((count >> (8 * i)) & 0xff);
  }
  return value;
}

bool decodeCounts(std::string_view value, ReportCounts& counts) {
  if (value.size() != 8 * kReportCountKinds) return false;
  for (std::size_t kind = 0; kind < kReportCountKinds; ++kind) {
    std::uint64_t count = 0;
    for (int i = 0; i < 8; ++i) {
      count |= static_cast<std::uint64_t>(static_cast<unsigned char>(value[8 * kind + i]))
               << (8 * i);
    }
    counts[kind] = count;
  }
  return true;
}

}  // namespace

const char* reportCountName(ReportCount count) {
  switch (count) {
    case ReportCount::kSent:
      return "sent";
    case ReportCount::kDelivered:
      return "delivered";
    case ReportCount::kBounced:
      return "bounced";
    case ReportCount::kReplied:
      return "replied";
    case ReportCount::kMeetings:
      return "meetings";
    case ReportCount::kUnsubscribed:
      return "unsubscribed";
    case ReportCount::kNotSent:
      return "not_sent";
    case ReportCount::kTasksDone:
      return "tasks_done";
    case ReportCount::kTasksSkipped:
      return "tasks_skipped";
  }
  return "?";
}

void addCounts(ReportCounts& total, const ReportCounts& more) {
  for (std::size_t i = 0; i < kReportCountKinds; ++i) total[i] += more[i];
}

std::string reportCounterKey(const ReportKey& key) {
  std::string stored(1, kReportKind);
  appendPart(stored, key.sequence);
  appendPart(stored, key.step);
  appendPart(stored, key.variant);
  appendPart(stored, key.mailbox);
  return stored;
}

bool splitReportCounterKey(std::string_view stored, ReportKey& key) {
  if (stored.empty() || stored[0] != kReportKind) return false;
  std::string_view rest = stored.substr(1);
  return readPart(rest, key.sequence) && readPart(rest, key.step) && readPart(rest, key.variant) &&
         readPart(rest, key.mailbox) && rest.empty();
}

void ReportCounters::restore(const TeamRecord& record) {
  ReportKey key;
  ReportCounts counts{};
  if (!splitReportCounterKey(record.key, key) || !decodeCounts(record.value, counts)) return;
  counts_[std::move(key)] = counts;
}

void ReportCounters::add(const ReportKey& key, ReportCount count) {
  ++counts_[key][static_cast<std::size_t>(count)];
  changed_.insert(key);
}

void ReportCounters::takeChanged(std::vector<TeamRecord>& out) {
  std::vector<ReportKey> changed(changed_.begin(), changed_.end());
  std::sort(changed.begin(), changed.end());
  for (const ReportKey& key : changed) {
    out.push_back(TeamRecord{reportCounterKey(key), encodeCounts(counts_.at(key)), false});
  }
  changed_.clear();
}

std::vector<std::pair<ReportKey, ReportCounts>> ReportCounters::ofSequence(Symbol sequence) const {
  std::vector<std::pair<ReportKey, ReportCounts>> rows;
  for (const auto& [key, counts] : counts_) {
    if (key.sequence == sequence) rows.emplace_back(key, counts);
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return rows;
}

}  // namespace seqd
