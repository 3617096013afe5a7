// Maps and sets keyed by text that are searched by std::string_view, so a lookup with a
// Symbol's view() or a string_view copies nothing (transparent hash and comparison).
//
//   TextHashMap<V>   unordered, for ids looked up on hot paths (render settings, calendars)
//   TextMap<V>       ordered by text, where the order is shown (sequences by id)
//   TextSet          ordered set of texts
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace seqd {

struct TextHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

template <typename Value>
using TextHashMap = std::unordered_map<std::string, Value, TextHash, std::equal_to<>>;

template <typename Value>
using TextMap = std::map<std::string, Value, std::less<>>;

using TextSet = std::set<std::string, std::less<>>;

}  // namespace seqd
