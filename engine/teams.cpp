// Engine: lists and sharing (engine/lists.hpp, engine/sharing.hpp).
#include "engine/engine.hpp"
#include "engine/permissions.hpp"

namespace seqd {

Status Engine::share(const std::string& sequence_id, const std::string& user, bool shared,
                     const Caller& caller) {
  const Sequence* sequence = findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  Status allowed = checkCanShareSequence(*sequence, caller);
  if (!allowed.isOk()) return allowed;
  if (user.empty() || user.size() > kShareUserBytesMax) {
    return Status::invalidArgument("share: a user name is 1 to " +
                                   std::to_string(kShareUserBytesMax) + " bytes");
  }
  if (shared) {
    shares_.share(sequence_id, user, batch_.team);
  } else {
    shares_.unshare(sequence_id, user, batch_.team);
  }
  return Status::ok();
}

Status Engine::checkListEditable(const std::string& name, const Caller& caller) const {
  const std::string problem = listNameProblem(name);
  if (!problem.empty()) return Status::invalidArgument("list '" + name + "': " + problem);
  const ContactList* list = lists_.find(name);
  if (list == nullptr) return Status::ok();
  return checkCanEditList(name, *list, caller);
}

Result<ContactsResult> Engine::changeList(const std::string& name,
                                          const std::vector<std::string>& keys, bool add,
                                          const Caller& caller) {
  Status allowed = checkListEditable(name, caller);
  if (!allowed.isOk()) return allowed;
  if (!add && lists_.find(name) == nullptr) {
    return Status::notFound("unknown list '" + name + "'");
  }
  if (add) lists_.create(name, caller.user, batch_.team);
  ContactsResult result;
  for (const std::string& key : keys) {
    const PackedContact* contact = findContact(key);
    if (contact == nullptr) {
      result.skipped.push_back({key, "unknown_contact"});
    } else if (add ? lists_.addMember(name, std::string(contact->key()), batch_.team)
                   : lists_.removeMember(name, std::string(contact->key()), batch_.team)) {
      result.done.emplace_back(contact->key());
    } else {
      result.skipped.push_back({key, add ? "already_in_list" : "not_in_list"});
    }
  }
  return result;
}

}  // namespace seqd
