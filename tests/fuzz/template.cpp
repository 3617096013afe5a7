// Fuzz target: templates (engine/template: checkTemplate and renderTemplate; engine/render:
// CompiledTemplate, the parsed form the delivery workers render with) against a contact.
// The input is a template, 0x1e, then the contact's fields, one "name=value" per line.
// Checked: the compiled template decides exactly as renderTemplate does (the same missing
// variable, the same error, the same text); a template that passes checkTemplate fails only
// for a missing variable or its length; a text without "{{" renders as itself; and no
// rendered text exceeds kRenderedBytesMax.
#include "engine/template.hpp"

#include <string>

#include "engine/render.hpp"
#include "fuzz_contact.hpp"
#include "fuzz_input.hpp"

using namespace seqd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> parts = fuzz::splitInput(fuzz::asText(data, size), 2);
  const std::string& text = parts[0];
  if (text.size() > kTemplateBytesMax) return 0;
  const Contact contact = fuzz::contactOf(parts[1]);
  const bool syntax_ok = checkTemplate(text).isOk();
  RenderResult expected =
      renderTemplate(text, [&](std::string_view name) { return contact.field(name); });
  if (syntax_ok && !expected.ok && expected.missing_variable.empty()) {
    FUZZ_CHECK(expected.error.find("rendered text is longer") != std::string::npos);
  }
  if (!syntax_ok) FUZZ_CHECK(!expected.ok && !expected.error.empty());
  if (text.find("{{") == std::string::npos) FUZZ_CHECK(expected.ok && expected.text == text);
  if (expected.ok) FUZZ_CHECK(expected.text.size() <= kRenderedBytesMax);

  CompiledTemplate compiled(text);
  const ContactRef packed = PackedContact::pack(contact);
  const std::string problem = compiled.problem(*packed);
  if (!expected.ok) {
    FUZZ_CHECK(problem == (expected.missing_variable.empty()
                               ? "template_error:" + expected.error
                               : "missing_variable:" + expected.missing_variable));
    return 0;
  }
  FUZZ_CHECK(problem.empty());
  std::string rendered;
  compiled.renderTo(*packed, rendered);
  FUZZ_CHECK(rendered == expected.text);
  return 0;
}
