// SymbolIndex: the Symbol table's index (engine/symbol.cpp) from a string to the index of its
// Symbol: a hash set of 32-bit indexes, searched by the caller's hash and text comparison.
//
// Why not boost::unordered_flat_set (which it replaced): that keeps a group's metadata and its
// slots apart, so a lookup of a string not yet interned reads one cache line and writes
// another, and it cannot be asked to fetch either ahead. A 10M restart interns 10M contact keys
// and then looks 10M up again: ~25% of its CPU, nearly all of it waiting on those lines. Here a
// bucket is one 64-byte line with its tags and its slots, and prefetch(hash) fetches it, so a
// load that hashes a batch of strings first has their lines coming in together.
//
// Layout: buckets of kSlots slots, each bucket one cache line: a tag a slot (8 bits of the
// hash, never 0), how many slots are used (they fill in order: nothing is ever erased), and
// whether an insert went on past it, full. A string's home bucket is picked from the hash's
// high bits scaled to the bucket count (any count, not only powers of two, so reserve() sizes
// the table to what is asked); its tag from the low bits. An insert into a full bucket goes to
// the next (wrapping) and marks the full one, so a lookup goes on past a bucket only when it
// is marked. At the most load, kLoadPercent of the slots, a bucket holds ~9.6 on average and
// most lookups read one line. 5.3 bytes a slot: ~6.7 an entry at the most load, ~13 just after
// growing (it doubles).
//
// The caller supplies the hash (the same for equal strings, well mixed: mix() below) and, to
// find, a comparison of an index's string with the one looked for; to grow, the hash of an
// index's string (the entries are rehashed from their strings: no hash is stored).
//
// Thread-safety: none of its own; the Symbol table's mutex guards it. Lookups are const and
// may run on several threads at once while nothing inserts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "engine/assert.hpp"

namespace seqd {

class SymbolIndex {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;  // no index: what find() gives for none
  static constexpr std::size_t kSlots = 12;           // slots a bucket
  static constexpr std::size_t kLoadPercent = 80;     // grows past this many percent of slots

  // A hash's bits spread over all 64 (std::hash of a string is good already; this is cheap
  // insurance for the high bits that pick the bucket).
  static std::uint64_t mix(std::uint64_t hash) {
    hash ^= hash >> 32;
    hash *= 0x9E3779B97F4A7C15ULL;
    return hash ^ (hash >> 29);
  }

  std::size_t size() const { return size_; }
  // How many entries it holds before the next insert grows it.
  std::size_t capacity() const { return bucket_count_ * kSlots * kLoadPercent / 100; }
  std::size_t bucketCount() const { return bucket_count_; }

  // Asks the CPU for the line of `hash`'s home bucket (a find or insert of it is coming).
  void prefetch(std::uint64_t hash) const {
    if (bucket_count_ != 0) __builtin_prefetch(&buckets_[home(hash)]);
  }

  // The first index in hash's home bucket whose tag is hash's (kNone when none): what a find
  // will compare first, for a caller that fetches its string ahead.
  std::uint32_t firstCandidate(std::uint64_t hash) const {
    if (bucket_count_ == 0) return kNone;
    const Bucket& bucket = buckets_[home(hash)];
    const std::uint8_t tag = tagOf(hash);
    for (std::size_t slot = 0; slot < bucket.used; ++slot) {
      if (bucket.tags[slot] == tag) return bucket.slots[slot];
    }
    return kNone;
  }

  // The index whose string `equal(index)` says is the one looked for, among those put in under
  // `hash`; kNone when there is none.
  template <typename Equal>
  std::uint32_t find(std::uint64_t hash, const Equal& equal) const {
    if (bucket_count_ == 0) return kNone;
    const std::uint8_t tag = tagOf(hash);
    std::size_t at = home(hash);
    for (;;) {
      const Bucket& bucket = buckets_[at];
      for (std::size_t slot = 0; slot < bucket.used; ++slot) {
        if (bucket.tags[slot] == tag && equal(bucket.slots[slot])) return bucket.slots[slot];
      }
      if (!bucket.overflowed) return kNone;
      at = next(at);
    }
  }

  // Puts index in under hash. REQUIRES: no entry equal to index's string is in (find() said
  // kNone), and hash_of(i) gives the hash of any index i in (for growing).
  template <typename HashOf>
  void insert(std::uint32_t index, std::uint64_t hash, const HashOf& hash_of) {
    if (size_ + 1 > capacity())
      grow(std::max<std::size_t>(kBucketsMin, 2 * bucket_count_), hash_of);
    place(index, hash);
    ++size_;
  }

  // Room for `count` entries in all before it grows.
  template <typename HashOf>
  void reserve(std::size_t count, const HashOf& hash_of) {
    if (count <= capacity()) return;
    const std::size_t slots = (count * 100 + kLoadPercent - 1) / kLoadPercent;
    grow(std::max(kBucketsMin, (slots + kSlots - 1) / kSlots), hash_of);
  }

 private:
  static constexpr std::size_t kBucketsMin = 8;

  struct alignas(64) Bucket {
    std::uint8_t tags[kSlots];
    std::uint8_t used;        // slots [0, used) hold entries
    std::uint8_t overflowed;  // an insert went on past this bucket, full
    std::uint8_t unused[2];
    std::uint32_t slots[kSlots];
  };
  static_assert(sizeof(Bucket) == 64);

  struct FreeBuckets {
    void operator()(Bucket* buckets) const {
      ::operator delete[](buckets, std::align_val_t{alignof(Bucket)});
    }
  };

  static std::uint8_t tagOf(std::uint64_t hash) {
    const auto tag = static_cast<std::uint8_t>(hash);
    return tag == 0 ? 1 : tag;
  }
  std::size_t home(std::uint64_t hash) const {
    return static_cast<std::size_t>((static_cast<unsigned __int128>(hash) * bucket_count_) >> 64);
  }
  std::size_t next(std::size_t at) const { return at + 1 == bucket_count_ ? 0 : at + 1; }

  void place(std::uint32_t index, std::uint64_t hash) {
    std::size_t at = home(hash);
    while (buckets_[at].used == kSlots) {
      buckets_[at].overflowed = 1;
      at = next(at);
    }
    Bucket& bucket = buckets_[at];
    bucket.tags[bucket.used] = tagOf(hash);
    bucket.slots[bucket.used] = index;
    ++bucket.used;
  }

  template <typename HashOf>
  void grow(std::size_t bucket_count, const HashOf& hash_of) {
    SEQD_ASSERT(bucket_count * kSlots * kLoadPercent / 100 > size_);
    std::unique_ptr<Bucket[], FreeBuckets> old = std::move(buckets_);
    const std::size_t old_count = bucket_count_;
    buckets_.reset(static_cast<Bucket*>(
        ::operator new[](bucket_count * sizeof(Bucket), std::align_val_t{alignof(Bucket)})));
    std::memset(static_cast<void*>(buckets_.get()), 0, bucket_count * sizeof(Bucket));
    bucket_count_ = bucket_count;
    for (std::size_t at = 0; at < old_count; ++at) {
      for (std::size_t slot = 0; slot < old[at].used; ++slot) {
        place(old[at].slots[slot], hash_of(old[at].slots[slot]));
      }
    }
  }

  std::unique_ptr<Bucket[], FreeBuckets> buckets_;
  std::size_t bucket_count_ = 0;
  std::size_t size_ = 0;
};

}  // namespace seqd
