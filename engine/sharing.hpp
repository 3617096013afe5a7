// SequenceShares: who a sequence is shared with (`can edit`, SPEC §3 rule 11). A user it is
// shared with may do to the sequence's contacts whatever its owner may (add, remove, pause,
// resume, finish, retry, set-mailbox, activate, events, tasks); only the owner or an admin
// may share or unshare it (engine/permissions.hpp decides both).
//
// Shares are kept by sequence id in the store (engine/team_records.hpp), apart from the
// sequence files: a reload keeps them, and a sequence that is removed and comes back is
// shared as before.
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/team_records.hpp"

namespace seqd {

class SequenceShares {
 public:
  // Takes one stored record (a share); others are ignored.
  void restore(const TeamRecord& record);

  bool isSharedWith(const std::string& sequence_id, const std::string& user) const;
  // The users the sequence is shared with, in name order.
  std::vector<std::string> usersOf(const std::string& sequence_id) const;

  // True when it changed something.
  bool share(const std::string& sequence_id, const std::string& user, std::vector<TeamRecord>& out);
  bool unshare(const std::string& sequence_id, const std::string& user,
               std::vector<TeamRecord>& out);

 private:
  std::map<std::string, std::set<std::string>> users_;  // by sequence id
};

}  // namespace seqd
