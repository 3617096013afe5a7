#include "engine/sharing.hpp"

namespace seqd {

void SequenceShares::restore(const TeamRecord& record) {
  TeamRecordKind kind;
  std::string_view sequence_id, user;
  if (!splitTeamKey(record.key, kind, sequence_id, user)) return;
  if (kind == TeamRecordKind::kShare) users_[std::string(sequence_id)].insert(std::string(user));
}

bool SequenceShares::isSharedWith(const std::string& sequence_id, const std::string& user) const {
  auto found = users_.find(sequence_id);
  return found != users_.end() && found->second.count(user) > 0;
}

std::vector<std::string> SequenceShares::usersOf(const std::string& sequence_id) const {
  auto found = users_.find(sequence_id);
  if (found == users_.end()) return {};
  return std::vector<std::string>(found->second.begin(), found->second.end());
}

bool SequenceShares::share(const std::string& sequence_id, const std::string& user,
                           std::vector<TeamRecord>& out) {
  if (!users_[sequence_id].insert(user).second) return false;
  out.push_back(TeamRecord{shareKey(sequence_id, user), "", false});
  return true;
}

bool SequenceShares::unshare(const std::string& sequence_id, const std::string& user,
                             std::vector<TeamRecord>& out) {
  auto found = users_.find(sequence_id);
  if (found == users_.end() || found->second.erase(user) == 0) return false;
  if (found->second.empty()) users_.erase(found);
  out.push_back(TeamRecord{shareKey(sequence_id, user), "", true});
  return true;
}

}  // namespace seqd
