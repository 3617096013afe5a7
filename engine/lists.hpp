// ContactLists: the named sets of contacts (SPEC §3, "lists are named sets of contacts") that
// `import --list`, `list add|remove`, `add --list` and workflows use.
//
// A list has an owner, the user who made it (by `import --list` or `list add`); its members
// may be changed by that owner or an admin (engine/permissions.hpp), since a list can feed a
// workflow that enrolls its members in a sequence. A list exists from its first change until
// seqd's state is removed: removing every member leaves it empty, as in Apollo.
//
// Every change comes back as TeamRecords (engine/team_records.hpp) for the engine's batch;
// restore() takes them back from the store.
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/team_records.hpp"

namespace seqd {

struct ContactList {
  std::string owner;
  std::set<std::string> members;  // contact keys, in key order
};

class ContactLists {
 public:
  // Takes one stored record (a list owner or member); others are ignored.
  void restore(const TeamRecord& record);

  const ContactList* find(const std::string& name) const;
  const std::map<std::string, ContactList>& all() const { return lists_; }

  // Makes the list (owned by `owner`) when it does not exist yet.
  void create(const std::string& name, const std::string& owner, std::vector<TeamRecord>& out);
  // True when the contact was not a member yet. REQUIRES: the list exists.
  bool addMember(const std::string& name, const std::string& contact_key,
                 std::vector<TeamRecord>& out);
  // True when the contact was a member. REQUIRES: the list exists.
  bool removeMember(const std::string& name, const std::string& contact_key,
                    std::vector<TeamRecord>& out);

 private:
  std::map<std::string, ContactList> lists_;
};

}  // namespace seqd
