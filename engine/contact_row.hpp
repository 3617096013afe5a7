// Contact rows: what one import row (or `contact set`) does to a contact, computed without
// changing anything, so a request can be checked (limits, permissions) and a dry run can show
// its outcome before the engine applies it.
//
// These follow Engine::upsertContacts: the key is the row's `id` when present and not empty,
// else its lower-cased email; the row's fields are set one by one on the existing contact (or
// a new one); other fields stay.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "engine/commands.hpp"
#include "engine/contact.hpp"
#include "engine/packed_contact.hpp"
#include "engine/status.hpp"

namespace seqd {

// The key the row gives its contact, or "" when it has neither an id nor an email.
std::string contactKeyOf(const ContactRow& row);

// The contact as importing `row` under `key` leaves it: `existing` (nullptr for a new contact)
// with every field of the row but `id` set. An invalid value is InvalidArgument with the
// message upsertContacts reports ("contact 'KEY': score: ...").
Result<Contact> contactAfterRow(const Contact* existing, const std::string& key,
                                const ContactRow& row);

// True when importing `row` onto `stored` under its own key leaves it exactly as it is:
// contactAfterRow(&stored.unpack(), stored.key(), row) would succeed and equal the unpacked
// contact. False when it might not (a changed or invalid value, a custom column it does not
// have): the caller then works the row out in full. Re-adding an imported file takes this
// path for every row, without unpacking any contact.
bool rowLeavesAsIs(const PackedContact& stored, const ContactRow& row);

}  // namespace seqd
