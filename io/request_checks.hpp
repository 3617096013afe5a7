// Request checks: the limits every control request is held to, and the screening of import
// rows, both applied where a request enters (io/command_dispatch) before the engine is called.
//
// Why: the engine's changes are committed in one batch per round, and the store refuses a
// whole batch that holds one record it cannot keep (io/store.hpp). Each limit here sits at
// or under the store's own, so whatever a checked request makes the engine write fits, and a
// bad value fails its own request (or its own CSV row) with a message naming the contact,
// the field and the limit, never the batch and the daemon. README "Limits" lists them.
//
//   limit                      value      unit     the store's limit it keeps under
//   kContactKeyBytesMax        511        bytes    LMDB's key size (contacts DB)
//   kFieldNameBytesMax         256        bytes    kRecordFieldBytesMax (1 MiB)
//   kFieldValueBytesMax        65536      bytes    kRecordFieldBytesMax
//   kContactCustomFieldsMax    4096       fields   kContactExtraFieldsMax
//   kContactBytesMax           1048576    bytes    (one contact record, all fields)
//   kSendFromMailboxesMax      100        entries  kEnrollmentMailboxesMax (1024)
//   kFinishReasonBytesMax      1024       bytes    kRecordFieldBytesMax ("manual:TEXT")
//   kMailboxAddressBytesMax    254        bytes    (lookup only: the config's address limit)
//   kSequenceIdBytesMax        64         bytes    (lookup only: the config's id rule)
//   kRowsPerRequestMax         100000     rows     (seqctl sends requests of up to 1 MiB)
//   kContactsPerRequestMax     100000     names
//
// Thread-safety: pure functions, except screenRows, which reads the Engine (engine thread).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/commands.hpp"
#include "engine/contact.hpp"
#include "engine/engine.hpp"
#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kContactKeyBytesMax = 511;
inline constexpr std::size_t kFieldNameBytesMax = 256;
inline constexpr std::size_t kFieldValueBytesMax = 64 * 1024;
inline constexpr std::size_t kContactCustomFieldsMax = 4096;
inline constexpr std::size_t kContactBytesMax = 1024 * 1024;
inline constexpr std::size_t kSendFromMailboxesMax = 100;
inline constexpr std::size_t kFinishReasonBytesMax = 1024;
inline constexpr std::size_t kMailboxAddressBytesMax = 254;
inline constexpr std::size_t kSequenceIdBytesMax = 64;
inline constexpr std::size_t kRowsPerRequestMax = 100000;
inline constexpr std::size_t kContactsPerRequestMax = 100000;

// Each check returns ok, or InvalidArgument saying which value is over which limit.
// A contact key to store or to look up: 1..kContactKeyBytesMax bytes.
Status checkContactKey(std::string_view key);
// Names: 1..kFieldNameBytesMax bytes, not `key`; values: up to kFieldValueBytesMax bytes.
Status checkRowFields(const ContactRow& row);
// A contact as it would be stored: custom fields and total bytes.
Status checkContactSize(const Contact& contact);
// A list of contact names in one request: count and each name.
Status checkContactList(const std::vector<std::string>& contacts);
// A send-from set (--mailbox, --rotate): count and each address.
Status checkMailboxList(const std::vector<std::string>& mailboxes);
// Free text (`what` names it in the message, e.g. "--reason").
Status checkText(std::string_view what, std::string_view text, std::size_t bytes_max);
// A sequence id in a request. Longer than any configured id can be: NotFound.
Status checkSequenceId(std::string_view sequence_id);

// Import rows sorted into those the engine may apply and those refused here, with what the
// accepted ones would do. Each row is taken against the contacts as the rows before it leave
// them, as Engine::upsertContacts applies them.
// A row that leaves a stored contact exactly as it is (re-adding an imported file) is
// accepted and counted as updated, but has no entry in `after`: there is nothing to store.
struct ScreenedRows {
  std::vector<RowError> errors;  // "contact 'x': ..." over a limit; "permission denied: ..."
  // By key: each accepted contact as left, when the rows change it.
  std::unordered_map<std::string, Contact> after;
  std::vector<std::string> keys;  // of the accepted rows, in row order
  std::size_t imported = 0;       // new contacts among them
  std::size_t updated = 0;        // existing contacts among them
};

// Screens rows for limits and for the caller's right to edit each existing contact they
// touch (its owner, an admin, or anyone when it has no owner; new contacts: anyone).
ScreenedRows screenRows(const Engine& engine, std::vector<ContactRow> rows, const Caller& caller);

}  // namespace seqd
