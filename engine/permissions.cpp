#include "engine/permissions.hpp"

namespace seqd {

bool canEditSequence(const Sequence& sequence, const Caller& caller, const SequenceShares& shares) {
  return caller.admin || caller.user == sequence.owner ||
         shares.isSharedWith(sequence.id, caller.user);
}

namespace {

Status checkCanEditContact(const std::string& key, const std::string& owner, const Caller& caller) {
  if (canEditContact(owner, caller)) return Status::ok();
  return Status::permissionDenied("permission denied: contact '" + key + "' is owned by '" + owner +
                                  "'");
}

}  // namespace

bool canEditContact(const std::string& contact_owner, const Caller& caller) {
  return caller.admin || contact_owner.empty() || caller.user == contact_owner;
}

Status checkCanEditSequence(const Sequence& sequence, const Caller& caller,
                            const SequenceShares& shares) {
  if (canEditSequence(sequence, caller, shares)) return Status::ok();
  return Status::permissionDenied("permission denied: '" + caller.user +
                                  "' may not change sequence '" + sequence.id + "' (owner '" +
                                  sequence.owner + "')");
}

Status checkCanShareSequence(const Sequence& sequence, const Caller& caller) {
  if (caller.admin || caller.user == sequence.owner) return Status::ok();
  return Status::permissionDenied("permission denied: '" + caller.user +
                                  "' may not share sequence '" + sequence.id + "' (owner '" +
                                  sequence.owner + "'; only its owner or an admin may)");
}

Status checkCanEditList(const std::string& name, const ContactList& list, const Caller& caller) {
  if (caller.admin || caller.user == list.owner) return Status::ok();
  return Status::permissionDenied("permission denied: '" + caller.user + "' may not change list '" +
                                  name + "' (owner '" + list.owner + "')");
}

Status checkCanEditContact(const PackedContact& contact, const Caller& caller) {
  // The allowed case without copying the texts: every row of an import or add asks.
  if (caller.admin || contact.owner().empty() || contact.owner() == caller.user) {
    return Status::ok();
  }
  return checkCanEditContact(std::string(contact.key()), std::string(contact.owner()), caller);
}

Status checkCanEditContact(const Contact& contact, const Caller& caller) {
  return checkCanEditContact(contact.key, contact.owner, caller);
}

Status checkAdmin(const Caller& caller, std::string_view what) {
  if (caller.admin) return Status::ok();
  return Status::permissionDenied("permission denied: " + std::string(what) +
                                  " needs an admin (the daemon config's `admins`); '" +
                                  caller.user + "' is not one");
}

}  // namespace seqd
