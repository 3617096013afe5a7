// ContactHashIndex: contacts found by a 64-bit hash of one of their texts, kept as the
// contacts change. The engine keeps two: by the hash of the contact key that seqd's
// Message-IDs carry (a reply names the email it answers), and by the hash of the lower-case
// email (a bounce or a reply from an address).
//
// Open addressing with linear probing over 4-byte slots, each a contact key's Symbol index
// (0, the empty string's, marks an empty slot: no contact has an empty key). The hash is not
// stored: the caller's `hash_of(index)` works it out again from the contact, so a lookup
// hashes the ~20-byte text of each slot it probes (lookups come with inbound messages, a few
// a second at most; at the most load, three quarters, a miss probes ~8.5 slots on average),
// and the index costs 4 bytes a slot: 5.3-10.7 bytes a contact (6.7 at ten million). Putting
// an entry in hashes nothing but the new text. A contact's entry is put in once and taken out
// only when the text it was hashed from changes (an edited email): an erase shifts the entries
// after it back, so there are no tombstones and a probe stops at the first empty slot.
//
// Results are the indexes whose text has the hash, ascending: the same contacts in the same
// order whatever order they were put in (a lookup that takes the first match stays a pure
// function of the contacts).
//
// Thread-safety: none; the engine thread's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/assert.hpp"

namespace seqd {

class ContactHashIndex {
 public:
  std::size_t size() const { return size_; }
  std::size_t slotCount() const { return slots_.size(); }

  // Room for `count` entries without growing.
  template <typename HashOf>
  void reserve(std::size_t count, const HashOf& hash_of) {
    std::size_t slots = kSlotsMin;
    while (3 * slots < 4 * count) slots *= 2;
    if (slots > slots_.size()) rehash(slots, hash_of);
  }

  // REQUIRES: index != 0, not in the index already, and hash_of(index) == hash.
  template <typename HashOf>
  void insert(std::uint32_t index, std::uint64_t hash, const HashOf& hash_of) {
    SEQD_ASSERT(index != 0);
    if (4 * (size_ + 1) > 3 * slots_.size()) {
      rehash(std::max(kSlotsMin, 2 * slots_.size()), hash_of);
    }
    std::size_t at = home(hash);
    while (slots_[at] != 0) at = next(at);
    slots_[at] = index;
    ++size_;
  }

  // Takes index out; `hash` is what it was put in under (hash_of may no longer give it: the
  // contact's text has changed). A no-op when it is not there.
  template <typename HashOf>
  void erase(std::uint32_t index, std::uint64_t hash, const HashOf& hash_of) {
    if (slots_.empty()) return;
    std::size_t at = home(hash);
    while (slots_[at] != index) {
      if (slots_[at] == 0) return;
      at = next(at);
    }
    // Backward shift: each later entry of the run moves into the hole when its home is not
    // between the hole and it (cyclically), so that every entry stays reachable from its home.
    std::size_t hole = at;
    for (std::size_t probe = next(hole); slots_[probe] != 0; probe = next(probe)) {
      const std::size_t want = home(hash_of(slots_[probe]));
      const bool reachable =
          hole <= probe ? (want > hole && want <= probe) : (want > hole || want <= probe);
      if (reachable) continue;
      slots_[hole] = slots_[probe];
      hole = probe;
    }
    slots_[hole] = 0;
    --size_;
  }

  // Asks the cache for the slot an insert under `hash` probes first (a table of millions of
  // slots misses on it): a caller putting many in hashes a few ahead and prefetches theirs.
  void prefetch(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(hash)], 1);
  }

  // The indexes put in under `hash`, ascending.
  template <typename HashOf>
  std::vector<std::uint32_t> find(std::uint64_t hash, const HashOf& hash_of) const {
    std::vector<std::uint32_t> found;
    if (slots_.empty()) return found;
    for (std::size_t at = home(hash); slots_[at] != 0; at = next(at)) {
      if (hash_of(slots_[at]) == hash) found.push_back(slots_[at]);
    }
    std::sort(found.begin(), found.end());
    return found;
  }

 private:
  static constexpr std::size_t kSlotsMin = 16;

  // The hash's high bits pick the slot: FNV-1a's low bits mix the text's last bytes least.
  std::size_t home(std::uint64_t hash) const {
    return static_cast<std::size_t>((hash * 0x9E3779B97F4A7C15ULL) >> shift_);
  }
  std::size_t next(std::size_t at) const { return (at + 1) & (slots_.size() - 1); }

  template <typename HashOf>
  void rehash(std::size_t slots, const HashOf& hash_of) {
    std::vector<std::uint32_t> old;
    old.swap(slots_);
    slots_.assign(slots, 0);
    shift_ = 64;
    for (std::size_t n = slots; n > 1; n /= 2) --shift_;
    for (std::uint32_t index : old) {
      if (index == 0) continue;
      std::size_t at = home(hash_of(index));
      while (slots_[at] != 0) at = next(at);
      slots_[at] = index;
    }
  }

  std::vector<std::uint32_t> slots_;  // a power of two of them, or none
  int shift_ = 64;                    // 64 - log2(slots_.size())
  std::size_t size_ = 0;
};

}  // namespace seqd
