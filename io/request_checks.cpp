#include "io/request_checks.hpp"

#include "engine/contact_row.hpp"
#include "engine/permissions.hpp"
#include "io/record_codec.hpp"

namespace seqd {
namespace {

// Each limit stays at or under the store's own (io/record_codec.hpp); the contact key's is
// LMDB's key size, checked against a real store in tests/io/request_checks_test.cpp.
static_assert(kFieldNameBytesMax <= kRecordFieldBytesMax);
static_assert(kFieldValueBytesMax <= kRecordFieldBytesMax);
static_assert(kContactBytesMax <= kRecordFieldBytesMax);  // so no one field of it can be over
static_assert(kContactCustomFieldsMax <= kContactExtraFieldsMax);
static_assert(kSendFromMailboxesMax <= kEnrollmentMailboxesMax);
static_assert(kFinishReasonBytesMax + sizeof("manual:") <= kRecordFieldBytesMax);

std::string sizeText(std::size_t bytes, std::size_t bytes_max) {
  return std::to_string(bytes) + " bytes; at most " + std::to_string(bytes_max);
}

// Every byte of the record but its fixed-width fields.
std::size_t contactBytes(const Contact& contact) {
  std::size_t bytes = contact.key.size() + contact.email.size() + contact.email_status.size() +
                      contact.first_name.size() + contact.last_name.size() +
                      contact.company.size() + contact.title.size() + contact.phone.size() +
                      contact.timezone.size() + contact.owner.size() + contact.stage.size();
  for (const auto& [name, value] : contact.extra) bytes += name.size() + value.size();
  return bytes;
}

// Every byte of a stored contact as contactBytes() counts them on its unpacked form.
std::size_t contactBytes(const PackedContact& contact) {
  std::size_t bytes = contact.key().size() + contact.emailStatus().size() +
                      contact.timezone().size() + contact.owner().size() + contact.stage().size();
  for (std::size_t i = 0; i < PackedContact::kTexts; ++i) {
    bytes += contact.text(static_cast<PackedContact::Text>(i)).size();
  }
  for (std::size_t i = 0; i < contact.extraCount(); ++i) {
    bytes += contact.extraName(i).size() + contact.extraValue(i).size();
  }
  return bytes;
}

// The stored contact under exactly this key (upsertContacts does not fall back to the
// lower-cased key), or null.
const PackedContact* storedContact(const Engine& engine, const std::string& key) {
  const PackedContact* stored = engine.findContact(key);
  return stored == nullptr || stored->key() != key ? nullptr : stored;
}

// Returns ok and fills `contact` (and `existed`: whether the row updates a contact), or why the
// row is refused.
// `changed`: the row leaves the contact otherwise than the store (or an earlier row) has it;
// `contact` is filled only then.
Status screenRow(const Engine& engine, const ScreenedRows& screened, const ContactRow& row,
                 const Caller& caller, std::string& key, Contact& contact, bool& existed,
                 bool& changed) {
  key = contactKeyOf(row);
  if (key.empty()) return Status::invalidArgument("no id and no email: the contact has no key");
  Status status = checkContactKey(key);
  if (!status.isOk()) return status;
  status = checkRowFields(row);
  if (!status.isOk()) return Status::invalidArgument("contact '" + key + "': " + status.message());
  if (auto zone = row.fields.find("timezone"); zone != row.fields.end()) {
    status = checkContactTimeZone(zone->second);
    if (!status.isOk()) return status;
  }
  // The contact as the earlier rows leave it, else as stored.
  const auto pending = screened.after.find(key);
  const PackedContact* stored =
      pending == screened.after.end() ? storedContact(engine, key) : nullptr;
  // A row that leaves a stored contact as it is (re-adding an imported file): the same
  // checks on the stored contact, without unpacking it or working the row out.
  if (stored != nullptr && rowLeavesAsIs(*stored, row) &&
      stored->extraCount() <= kContactCustomFieldsMax &&
      contactBytes(*stored) <= kContactBytesMax) {
    existed = true;
    changed = false;
    return checkCanEditContact(*stored, caller);
  }
  Contact unpacked;
  const Contact* existing = nullptr;
  if (pending != screened.after.end()) {
    existing = &pending->second;
  } else if (stored != nullptr) {
    unpacked = stored->unpack();
    existing = &unpacked;
  }
  existed = existing != nullptr;
  if (existing != nullptr) {
    status = checkCanEditContact(*existing, caller);
    if (!status.isOk()) return status;
  }
  Result<Contact> after = contactAfterRow(existing, key, row);
  if (!after.isOk()) return after.status();
  status = checkContactSize(after.value());
  if (!status.isOk()) return Status::invalidArgument("contact '" + key + "': " + status.message());
  // Against the stored contact only: one an earlier row changed stays in `after` as changed.
  changed = existing != &unpacked || after.value() != unpacked;
  contact = std::move(after.value());
  return Status::ok();
}

}  // namespace

Status checkContactKey(std::string_view key) {
  if (key.empty()) return Status::invalidArgument("a contact key is empty");
  if (key.size() > kContactKeyBytesMax) {
    return Status::invalidArgument("contact key '" + printableKey(key) + "' is " +
                                   sizeText(key.size(), kContactKeyBytesMax));
  }
  return Status::ok();
}

Status checkRowFields(const ContactRow& row) {
  for (const auto& [name, value] : row.fields) {
    if (name.empty()) return Status::invalidArgument("a field name is empty");
    if (name.size() > kFieldNameBytesMax) {
      return Status::invalidArgument("field name '" + printableKey(name) + "' is " +
                                     sizeText(name.size(), kFieldNameBytesMax));
    }
    if (name == "key") {
      return Status::invalidArgument(
          "field 'key' cannot be set: the contact key comes from 'id' or the email");
    }
    if (value.size() > kFieldValueBytesMax) {
      return Status::invalidArgument("field '" + name + "' is " +
                                     sizeText(value.size(), kFieldValueBytesMax));
    }
  }
  return Status::ok();
}

Status checkContactSize(const Contact& contact) {
  if (contact.extra.size() > kContactCustomFieldsMax) {
    return Status::invalidArgument(std::to_string(contact.extra.size()) +
                                   " custom fields; at most " +
                                   std::to_string(kContactCustomFieldsMax) + " per contact");
  }
  const std::size_t bytes = contactBytes(contact);
  if (bytes > kContactBytesMax) {
    return Status::invalidArgument("all fields together are " + sizeText(bytes, kContactBytesMax) +
                                   " per contact");
  }
  return Status::ok();
}

Status checkContactList(const std::vector<std::string>& contacts) {
  if (contacts.size() > kContactsPerRequestMax) {
    return Status::invalidArgument(std::to_string(contacts.size()) +
                                   " contacts in one request; at most " +
                                   std::to_string(kContactsPerRequestMax));
  }
  for (const std::string& contact : contacts) {
    Status status = checkContactKey(contact);
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

Status checkMailboxList(const std::vector<std::string>& mailboxes) {
  if (mailboxes.size() > kSendFromMailboxesMax) {
    return Status::invalidArgument(std::to_string(mailboxes.size()) +
                                   " mailboxes in a send-from set; at most " +
                                   std::to_string(kSendFromMailboxesMax));
  }
  for (const std::string& mailbox : mailboxes) {
    if (mailbox.size() > kMailboxAddressBytesMax) {
      return Status::invalidArgument("mailbox '" + printableKey(mailbox) + "' is " +
                                     sizeText(mailbox.size(), kMailboxAddressBytesMax));
    }
  }
  return Status::ok();
}

Status checkText(std::string_view what, std::string_view text, std::size_t bytes_max) {
  if (text.size() <= bytes_max) return Status::ok();
  return Status::invalidArgument(std::string(what) + " is " + sizeText(text.size(), bytes_max));
}

Status checkSequenceId(std::string_view sequence_id) {
  if (sequence_id.size() <= kSequenceIdBytesMax) return Status::ok();
  return Status::notFound("unknown sequence '" + printableKey(sequence_id) +
                          "' (a sequence id is at most " + std::to_string(kSequenceIdBytesMax) +
                          " bytes)");
}

ScreenedRows screenRows(const Engine& engine, std::vector<ContactRow> rows, const Caller& caller) {
  ScreenedRows screened;
  screened.keys.reserve(rows.size());
  screened.after.reserve(rows.size());
  for (const ContactRow& row : rows) {
    std::string key;
    Contact contact;
    bool existed = false;
    bool changed = true;
    Status status = screenRow(engine, screened, row, caller, key, contact, existed, changed);
    if (!status.isOk()) {
      screened.errors.push_back({row.line, status.message()});
      continue;
    }
    ++(existed ? screened.updated : screened.imported);
    if (changed) screened.after.insert_or_assign(key, std::move(contact));
    screened.keys.push_back(std::move(key));
  }
  return screened;
}

}  // namespace seqd
