#include "engine/contact_zones.hpp"

namespace seqd {

void ContactZones::set(std::uint32_t key_index, Symbol zone) {
  if (key_index >= by_key_.size()) {
    // Geometric growth, as contacts_ grows by the same indexes.
    by_key_.resize(std::max<std::size_t>(key_index + 1, by_key_.size() * 2), kUnknown);
  }
  auto [found, added] = indexes_.try_emplace(zone, static_cast<std::uint16_t>(zones_.size()));
  if (added) {
    if (zones_.size() >= kUnknown) {
      indexes_.erase(found);
      by_key_[key_index] = kUnknown;
      return;
    }
    zones_.push_back(zone);
  }
  by_key_[key_index] = found->second;
}

}  // namespace seqd
