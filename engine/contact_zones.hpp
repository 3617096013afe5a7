// ContactZones: each contact's time zone by its key's Symbol index, 2 bytes a contact, so
// that finding a step's sending window does not read the contact's block.
//
// The engine finds the window of every step it fires and every enrollment it arms; reading
// the zone from the contact took two cache misses a step (the contact's pointer, then its
// block), the largest single cost of the engine thread at 200k contacts (perf/RESULTS.md, "A
// contact's zone beside its key"). The zones themselves are few (IANA names), each kept once.
//
// Thread-safety: none; the engine thread's.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/symbol.hpp"

namespace seqd {

class ContactZones {
 public:
  // The contact stored under the key of Symbol index key_index names `zone` ("" for none).
  void set(std::uint32_t key_index, Symbol zone);
  // The zone of the contact under exactly that key ("" for none); nullopt when no contact was
  // set under it (or its zone is past the 65,534 distinct ones kept): read the contact.
  std::optional<Symbol> find(std::uint32_t key_index) const {
    if (key_index >= by_key_.size() || by_key_[key_index] == kUnknown) return std::nullopt;
    return zones_[by_key_[key_index]];
  }

 private:
  static constexpr std::uint16_t kUnknown = UINT16_MAX;

  std::vector<std::uint16_t> by_key_;  // an index into zones_, or kUnknown
  std::vector<Symbol> zones_{Symbol()};
  boost::unordered_flat_map<Symbol, std::uint16_t, SymbolHash> indexes_{{Symbol(), 0}};
};

}  // namespace seqd
