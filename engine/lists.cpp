#include "engine/lists.hpp"

#include "engine/assert.hpp"

namespace seqd {

void ContactLists::restore(const TeamRecord& record) {
  TeamRecordKind kind;
  std::string_view name, rest;
  if (!splitTeamKey(record.key, kind, name, rest)) return;
  if (kind == TeamRecordKind::kListOwner) lists_[std::string(name)].owner = record.value;
  if (kind == TeamRecordKind::kListMember) lists_[std::string(name)].members.insert(record.value);
}

const ContactList* ContactLists::find(const std::string& name) const {
  auto found = lists_.find(name);
  return found == lists_.end() ? nullptr : &found->second;
}

void ContactLists::create(const std::string& name, const std::string& owner,
                          std::vector<TeamRecord>& out) {
  if (lists_.count(name) > 0) return;
  lists_[name].owner = owner;
  out.push_back(TeamRecord{listOwnerKey(name), owner, false});
}

bool ContactLists::addMember(const std::string& name, const std::string& contact_key,
                             std::vector<TeamRecord>& out) {
  auto list = lists_.find(name);
  SEQD_ASSERT(list != lists_.end());
  if (!list->second.members.insert(contact_key).second) return false;
  out.push_back(TeamRecord{listMemberKey(name, contact_key), contact_key, false});
  return true;
}

bool ContactLists::removeMember(const std::string& name, const std::string& contact_key,
                                std::vector<TeamRecord>& out) {
  auto list = lists_.find(name);
  SEQD_ASSERT(list != lists_.end());
  if (list->second.members.erase(contact_key) == 0) return false;
  out.push_back(TeamRecord{listMemberKey(name, contact_key), "", true});
  return true;
}

}  // namespace seqd
