// Template: `{{field}}` and `{{field|fallback}}` substitution over a contact.
//
// render() never produces a broken email: when a variable is missing (absent or empty) and
// has no fallback, it fails with the variable's name, and the caller marks the contact
// `not_sent: missing_variable:<name>`.
//
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kTemplateBytesMax = 256 * 1024;

struct RenderResult {
  bool ok = false;
  std::string text;              // when ok
  std::string missing_variable;  // when !ok because of a missing variable
};

using FieldLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Checks syntax only (balanced braces, non-empty names); message says where (offset).
Status checkTemplate(std::string_view text);

// Substitutes variables. REQUIRES: checkTemplate(text).isOk().
RenderResult renderTemplate(std::string_view text, const FieldLookup& lookup);

}  // namespace seqd
