#include "engine/workflows.hpp"

namespace seqd {
namespace {

constexpr std::size_t kRunFields = 5;

std::string encodeRun(const WorkflowRun& run) {
  const std::uint64_t fields[kRunFields] = {
      run.last_run_ms == kNoTime ? 0 : static_cast<std::uint64_t>(run.last_run_ms) + 1,
      run.added_total, run.skipped_total, run.last_added, run.last_skipped};
  std::string out;
  for (const std::uint64_t field : fields) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((field >> (8 * i)) & 0xff);
  }
  return out;
}

bool decodeRun(std::string_view bytes, WorkflowRun& run) {
  if (bytes.size() != kRunFields * 8) return false;
  std::uint64_t fields[kRunFields] = {};
  for (std::size_t f = 0; f < kRunFields; ++f) {
    for (int i = 7; i >= 0; --i) {
      fields[f] = (fields[f] << 8) | static_cast<unsigned char>(bytes[f * 8 + i]);
    }
  }
  run.last_run_ms = fields[0] == 0 ? kNoTime : static_cast<TimeMs>(fields[0] - 1);
  run.added_total = fields[1];
  run.skipped_total = fields[2];
  run.last_added = fields[3];
  run.last_skipped = fields[4];
  return true;
}

}  // namespace

void WorkflowState::restore(const TeamRecord& record) {
  TeamRecordKind kind;
  std::string_view sequence_id, rest, list;
  if (!splitTeamKey(record.key, kind, sequence_id, rest)) return;
  if (kind != TeamRecordKind::kWorkflowRun && kind != TeamRecordKind::kWorkflowConsidered) return;
  if (!splitWorkflowRest(rest, list)) return;
  const Key key{std::string(sequence_id), std::string(list)};
  if (kind == TeamRecordKind::kWorkflowRun) {
    WorkflowRun run;
    if (decodeRun(record.value, run)) runs_[key] = run;
  } else {
    considered_[key].insert(record.value);
  }
}

const WorkflowRun* WorkflowState::run(const Key& key) const {
  auto found = runs_.find(key);
  return found == runs_.end() ? nullptr : &found->second;
}

bool WorkflowState::considered(const Key& key, const std::string& contact_key) const {
  auto found = considered_.find(key);
  return found != considered_.end() && found->second.count(contact_key) > 0;
}

void WorkflowState::consider(const Key& key, const std::string& contact_key,
                             std::vector<TeamRecord>& out) {
  if (!considered_[key].insert(contact_key).second) return;
  out.push_back(
      TeamRecord{workflowConsideredKey(key.first, key.second, contact_key), contact_key, false});
}

void WorkflowState::recordRun(const Key& key, const WorkflowRun& run,
                              std::vector<TeamRecord>& out) {
  runs_[key] = run;
  out.push_back(TeamRecord{workflowRunKey(key.first, key.second), encodeRun(run), false});
}

}  // namespace seqd
