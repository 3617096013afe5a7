// Template: `{{field}}` and `{{field|fallback}}` substitution over a contact.
//
// render() never produces a broken email: when a variable is missing (absent or empty) and
// has no fallback, it fails with the variable's name, and the caller marks the contact
// `not_sent: missing_variable:<name>`.
//
// Syntax: a tag runs from "{{" to the first "}}" after it. Inside, the name is the text before
// the first '|', the fallback the text after it; both are trimmed of spaces and tabs, so
// "{{ first_name | there }}" is name "first_name", fallback "there". "{{x|}}" has an empty
// fallback and renders as nothing when x is missing. A name is non-empty and holds no '{' or
// '}'. Text outside tags (including a lone "}}" and any UTF-8) is copied byte for byte; the
// fallback is literal text, never substituted again.
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
// A rendered text longer than this fails (a value substituted many times can grow it).
inline constexpr std::size_t kRenderedBytesMax = 1024 * 1024;

struct RenderResult {
  bool ok = false;
  std::string text;              // when ok
  std::string missing_variable;  // when !ok because of a missing variable
  std::string error;             // when !ok for another reason (bad syntax, too long)
};

using FieldLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Checks syntax only (balanced braces, non-empty names); message says where (offset).
Status checkTemplate(std::string_view text);

// Substitutes variables. REQUIRES: checkTemplate(text).isOk(). (When it is not, the result is
// !ok with `error` set, never a half-rendered text.)
RenderResult renderTemplate(std::string_view text, const FieldLookup& lookup);

}  // namespace seqd
