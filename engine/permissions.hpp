// Permissions (SPEC §3 rule 11): who may change a sequence's contacts, a contact, or the daemon.
//
// The caller is the OS user on the other end of the control socket; admins are the daemon
// config's `admins`. Reading is open to anyone who can connect, so only changes are checked:
//
//   sequence   its owner, a user it is shared with (`can edit`, engine/sharing.hpp) or an
//              admin may change its contacts (add, remove, pause, resume, finish, retry,
//              set-mailbox), activate or deactivate it, and apply events to it;
//              canEditSequence is the one place that decides. Sharing or unsharing it needs
//              its owner or an admin (a user it is shared with may not share it on).
//   list       its owner (who made it) or an admin may add or remove members.
//   contact    its `owner` or an admin may edit or re-import it; a contact with no owner may be
//              edited by anyone who can connect (as in Apollo, unowned records are shared).
//              A new contact may be imported by anyone.
//   daemon     `reload`, `time advance` and `time set` need an admin.
//
// Every refusal is Status::permissionDenied with a message that starts "permission denied"
// and names the user, the thing and its owner. Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "engine/commands.hpp"
#include "engine/lists.hpp"
#include "engine/packed_contact.hpp"
#include "engine/sequence.hpp"
#include "engine/sharing.hpp"
#include "engine/status.hpp"

namespace seqd {

bool canEditSequence(const Sequence& sequence, const Caller& caller, const SequenceShares& shares);
// A contact is the caller's to edit by its owner: the stored contact's, or the owner a row
// being screened leaves (io/request_checks).
bool canEditContact(const std::string& contact_owner, const Caller& caller);

Status checkCanEditSequence(const Sequence& sequence, const Caller& caller,
                            const SequenceShares& shares);
Status checkCanShareSequence(const Sequence& sequence, const Caller& caller);
Status checkCanEditList(const std::string& name, const ContactList& list, const Caller& caller);
Status checkCanEditContact(const PackedContact& contact, const Caller& caller);
Status checkCanEditContact(const Contact& contact, const Caller& caller);
// `what` names the command in the message ("reload", "time advance").
Status checkAdmin(const Caller& caller, std::string_view what);

}  // namespace seqd
