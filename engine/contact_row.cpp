#include "engine/contact_row.hpp"

#include "engine/email_address.hpp"

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

bool rowLeavesAsIs(const PackedContact& stored, const ContactRow& row) {
  using Text = PackedContact::Text;
  for (const auto& [name, value] : row.fields) {
    if (name == "id") continue;
    if (name == "email") {
      if (value != stored.email()) return false;
      if (!value.empty() && !checkContactEmail(value).isOk()) return false;
    } else if (name == "first_name") {
      if (value != stored.text(Text::kFirstName)) return false;
    } else if (name == "last_name") {
      if (value != stored.text(Text::kLastName)) return false;
    } else if (name == "company") {
      if (value != stored.text(Text::kCompany)) return false;
    } else if (name == "title") {
      if (value != stored.text(Text::kTitle)) return false;
    } else if (name == "phone") {
      if (value != stored.text(Text::kPhone)) return false;
    } else if (name == "timezone") {
      if (value != stored.timezone()) return false;
    } else if (name == "owner") {
      if (value != stored.owner()) return false;
    } else if (name == "stage") {
      if (value != stored.stage()) return false;
    } else if (name == "email_status" || name == "score" || name == "dnc" ||
               name == "call_opt_out" || name == "email_opt_out") {
      // Values setField normalizes: read as setField reads them.
      Contact probe;
      if (!probe.setField(name, value).isOk()) return false;
      const bool same = name == "email_status"   ? probe.email_status == stored.emailStatus()
                        : name == "score"        ? probe.score == stored.score()
                        : name == "dnc"          ? probe.dnc == stored.dnc()
                        : name == "call_opt_out" ? probe.call_opt_out == stored.callOptOut()
                                                 : probe.email_opt_out == stored.emailOptOut();
      if (!same) return false;
    } else {
      // A custom column, or "key" (refused elsewhere): the same only when it is there as is.
      if (name == "key") return false;
      const std::optional<std::string_view> extra = stored.extra(name);
      if (!extra || *extra != value) return false;
    }
  }
  return true;
}

}  // namespace seqd
