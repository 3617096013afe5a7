// The contact the fuzz targets that need one (contact_query, template) build from their
// input: one "name=value" per line; a line without '=' or a field the contact refuses is
// skipped. The key is fixed ("k@x.test").
//
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "engine/contact.hpp"

namespace seqd::fuzz {

inline Contact contactOf(std::string_view fields) {
  Contact contact;
  contact.key = "k@x.test";
  while (!fields.empty()) {
    std::size_t end = fields.find('\n');
    std::string_view line = fields.substr(0, end);
    fields.remove_prefix(end == std::string_view::npos ? fields.size() : end + 1);
    std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    contact.setField(line.substr(0, equals), line.substr(equals + 1)).isOk();  // bad: skipped
  }
  return contact;
}

}  // namespace seqd::fuzz
