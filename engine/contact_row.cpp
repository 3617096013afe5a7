#include "engine/contact_row.hpp"

namespace seqd {

std::string contactKeyOf(const ContactRow& row) {
  auto id = row.fields.find("id");
  if (id != row.fields.end() && !id->second.empty()) return id->second;
  auto email = row.fields.find("email");
  if (email != row.fields.end() && !email->second.empty()) return toLowerAscii(email->second);
  return std::string();
}

Result<Contact> contactAfterRow(const Contact* existing, const std::string& key,
                                const ContactRow& row) {
  Contact contact = existing == nullptr ? Contact{} : *existing;
  contact.key = key;
  for (const auto& [name, value] : row.fields) {
    if (name == "id") continue;
    Status status = contact.setField(name, value);
    if (!status.isOk()) {
      return Status::invalidArgument("contact '" + key + "': " + status.message());
    }
  }
  return contact;
}

}  // namespace seqd
