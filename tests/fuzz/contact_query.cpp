// Fuzz target: `--where` expressions (engine/contact_query): ContactQuery::parse, then
// matches() against a contact. The input is the EXPR, 0x1e, then the contact's fields, one
// "name=value" per line; `in_sequence=s` holds for the sequence "s" only.
// Checked: a text over kQueryBytesMax is refused; every error says where ("where: position N: ...")
// or names the limit; an EXPR that parses also parses inside one more pair of parentheses
// (when that stays within the limits) and matches the same contact the same way; the
// sequences named are those of `in_sequence` comparisons.
#include "engine/contact_query.hpp"

#include <string>

#include "fuzz_contact.hpp"
#include "fuzz_input.hpp"

using namespace seqd;

namespace {

bool inSequence(const PackedContact&, const std::string& sequence_id) { return sequence_id == "s"; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> parts = fuzz::splitInput(fuzz::asText(data, size), 2);
  const std::string& text = parts[0];
  Result<ContactQuery> query = ContactQuery::parse(text);
  if (!query.isOk()) {
    const std::string& message = query.status().message();
    FUZZ_CHECK(message.rfind("where: position ", 0) == 0 ||
               message.rfind("where: at most ", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(text.size() <= kQueryBytesMax);
  std::size_t named = 0;
  for (const QueryComparison& comparison : query.value().comparisons()) {
    if (comparison.field == "in_sequence") ++named;
  }
  FUZZ_CHECK(query.value().sequencesNamed().size() <= named);
  const Contact unpacked = fuzz::contactOf(parts[1]);
  const ContactRef packed = PackedContact::pack(unpacked);
  const PackedContact& contact = *packed;
  // The packed contact reads every field as the Contact it was made from.
  for (const QueryComparison& comparison : query.value().comparisons()) {
    FUZZ_CHECK(contact.field(comparison.field) == unpacked.field(comparison.field));
  }
  const bool matched = query.value().matches(contact, inSequence);

  Result<ContactQuery> wrapped = ContactQuery::parse("(" + text + ")");
  if (text.size() + 2 > kQueryBytesMax) return 0;
  if (!wrapped.isOk()) {  // only the nesting limit may refuse it
    FUZZ_CHECK(wrapped.status().message().find("nest") != std::string::npos);
    return 0;
  }
  FUZZ_CHECK(wrapped.value().matches(contact, inSequence) == matched);
  return 0;
}
