#include "engine/symbol.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/assert.hpp"
#include "engine/symbol_index.hpp"

namespace seqd {
namespace {

// The text of every Symbol lives in an arena of chunks that never move: the bytes, then a NUL
// (for c_str()). A Symbol's entry holds the address of its bytes in its low 48 bits (user
// addresses fit in 48 bits on x86-64 and AArch64; storing asserts it) and the text's length in
// its high 16; a text of kLongText bytes or more has kLongText there and its length in 4 bytes
// before its bytes. So a short text (every contact key) costs its bytes and 1, not 5. Entries
// sit in entry chunks that never move either; the entry chunk table is fixed, so a reader
// indexes it without a lock. An entry chunk is published (release) before any index inside it
// is handed out.
using Entry = std::uint64_t;
constexpr unsigned kLengthShift = 48;
constexpr Entry kAddressMask = (Entry{1} << kLengthShift) - 1;
constexpr std::size_t kLongText = 0xFFFF;
constexpr std::uint32_t kEntryChunkBits = 14;
constexpr std::uint32_t kEntryChunkSize = 1u << kEntryChunkBits;
constexpr std::uint32_t kEntryChunksMax = kSymbolsMax / kEntryChunkSize;
constexpr std::size_t kArenaChunkBytes = 256 * 1024;
constexpr std::size_t kLongLengthBytes = sizeof(std::uint32_t);
// The batch lookups hash this many texts, asking for their lines, before reading any.
constexpr std::size_t kBatchWindow = 32;

// The empty string's bytes: the NUL alone.
constexpr char kEmptyText[1] = {0};

const char* bytesAt(Entry entry) { return reinterpret_cast<const char*>(entry & kAddressMask); }

std::string_view textAt(Entry entry) {
  const char* bytes = bytesAt(entry);
  std::size_t length = static_cast<std::size_t>(entry >> kLengthShift);
  if (length == kLongText) {
    std::uint32_t long_length = 0;
    std::memcpy(&long_length, bytes - kLongLengthBytes, kLongLengthBytes);
    length = long_length;
  }
  return std::string_view(bytes, length);
}

Entry entryOf(const char* bytes, std::size_t length) {
  const Entry address = reinterpret_cast<Entry>(bytes);
  SEQD_ASSERT((address & ~kAddressMask) == 0);
  return address | (static_cast<Entry>(std::min(length, kLongText)) << kLengthShift);
}

// A string's hash in the index.
std::uint64_t hashText(std::string_view text) {
  return SymbolIndex::mix(std::hash<std::string_view>()(text));
}

struct Table {
  std::mutex mutex;
  SymbolIndex index;
  std::uint32_t size = 0;
  std::vector<std::unique_ptr<char[]>> arena;  // written under the mutex only
  char* arena_at = nullptr;
  std::size_t arena_left = 0;
  std::array<std::atomic<Entry*>, kEntryChunksMax> entries{};
  Table();

  // The hash of an index's text, read back from the arena: for the index to grow.
  auto hashOf() const {
    return [this](std::uint32_t at) { return hashText(textAt(entryAt(at))); };
  }

  // An index's text compared with `text`: for the index to find.
  auto equalTo(std::string_view text) const {
    return [this, text](std::uint32_t at) { return textAt(entryAt(at)) == text; };
  }

  Entry entryAt(std::uint32_t at) const {
    return entries[at >> kEntryChunkBits].load(
        std::memory_order_acquire)[at & (kEntryChunkSize - 1)];
  }

  // Copies text into the arena; returns its entry.
  Entry store(std::string_view text) {
    const std::size_t prefix = text.size() >= kLongText ? kLongLengthBytes : 0;
    const std::size_t need = prefix + text.size() + 1;
    if (need > arena_left) {
      const std::size_t bytes = std::max(need, kArenaChunkBytes);
      // Not zero-filled: every byte handed out is written first.
      arena.push_back(std::make_unique_for_overwrite<char[]>(bytes));
      arena_at = arena.back().get();
      arena_left = bytes;
    }
    char* at = arena_at + prefix;
    if (prefix > 0) {
      const std::uint32_t length = static_cast<std::uint32_t>(text.size());
      std::memcpy(arena_at, &length, kLongLengthBytes);
    }
    if (!text.empty()) std::memcpy(at, text.data(), text.size());
    at[text.size()] = '\0';
    arena_at += need;
    arena_left -= need;
    return entryOf(at, text.size());
  }
};

Table::Table() {
  Entry* first = new Entry[kEntryChunkSize];
  first[0] = entryOf(kEmptyText, 0);
  entries[0].store(first, std::memory_order_release);
  size = 1;
  index.insert(0u, hashText(""), hashOf());
}

Table& table() {
  static Table* instance = new Table();  // never destroyed: Symbols may outlive main()
  return *instance;
}

// Calls visit(start, count, hashes) for each window of up to kBatchWindow texts from `start`,
// once hashes[i] holds the hash of texts[start + i] and its bucket's line has been asked for.
template <typename Visit>
void forEachHashedWindow(std::span<const std::string_view> texts, const Visit& visit) {
  const Table& symbols = table();
  std::uint64_t hashes[kBatchWindow];
  for (std::size_t start = 0; start < texts.size(); start += kBatchWindow) {
    const std::size_t count = std::min(kBatchWindow, texts.size() - start);
    for (std::size_t i = 0; i < count; ++i) {
      hashes[i] = hashText(texts[start + i]);
      symbols.index.prefetch(hashes[i]);
    }
    visit(start, count, hashes);
  }
}

}  // namespace

std::uint32_t Symbol::intern(std::string_view text) {
  if (text.empty()) return 0;
  std::lock_guard lock(table().mutex);
  return internLocked(text);
}

std::mutex& Symbol::tableMutex() { return table().mutex; }

std::uint32_t Symbol::internLocked(std::string_view text) {
  return text.empty() ? 0 : internHashed(text, hashText(text));
}

// internLocked() with the text's hash worked out already.
std::uint32_t Symbol::internHashed(std::string_view text, std::uint64_t hash) {
  Table& symbols = table();
  if (const std::uint32_t found = symbols.index.find(hash, symbols.equalTo(text));
      found != SymbolIndex::kNone) {
    return found;
  }
  SEQD_ASSERT(text.size() <= UINT32_MAX);
  std::uint32_t index = symbols.size;
  SEQD_ASSERT(index < kSymbolsMax);
  std::uint32_t chunk = index >> kEntryChunkBits;
  Entry* entries = symbols.entries[chunk].load(std::memory_order_relaxed);
  if (entries == nullptr) {
    entries = new Entry[kEntryChunkSize];
    symbols.entries[chunk].store(entries, std::memory_order_release);
  }
  entries[index & (kEntryChunkSize - 1)] = symbols.store(text);
  symbols.size = index + 1;
  symbols.index.insert(index, hash, symbols.hashOf());
  return index;
}

// A window of texts at a time: hashed, each one's bucket asked for, then interned, so that the
// buckets' lines come in side by side, not one after another.
void Symbol::internLocked(std::span<const std::string_view> texts, std::span<Symbol> out) {
  SEQD_ASSERT(out.size() == texts.size());
  forEachHashedWindow(
      texts, [&](std::size_t start, std::size_t count, const std::uint64_t* hashes) {
        for (std::size_t i = 0; i < count; ++i) {
          const std::string_view text = texts[start + i];
          out[start + i] = ofIndex(text.empty() ? 0 : internHashed(text, hashes[i]));
        }
      });
}

std::optional<Symbol> Symbol::find(std::string_view text) {
  if (text.empty()) return Symbol();
  std::lock_guard lock(table().mutex);
  return findLocked(text);
}

std::optional<Symbol> Symbol::findLocked(std::string_view text) {
  if (text.empty()) return Symbol();
  const Table& symbols = table();
  const std::uint32_t found = symbols.index.find(hashText(text), symbols.equalTo(text));
  if (found == SymbolIndex::kNone) return std::nullopt;
  return ofIndex(found);
}

// A window of texts at a time, in three passes before the lookups: each text hashed and its
// bucket asked for; then the bucket's first candidate's entry; then that entry's text. The
// lookups then find what they read in the cache (a text whose first candidate is not it, rare,
// reads the rest as find() does).
void Symbol::findLocked(std::span<const std::string_view> texts,
                        std::span<std::optional<Symbol>> out) {
  SEQD_ASSERT(out.size() == texts.size());
  const Table& symbols = table();
  std::uint32_t candidates[kBatchWindow];
  forEachHashedWindow(texts, [&](std::size_t start, std::size_t count,
                                 const std::uint64_t* hashes) {
    for (std::size_t i = 0; i < count; ++i) {
      candidates[i] = symbols.index.firstCandidate(hashes[i]);
      if (candidates[i] != SymbolIndex::kNone) ofIndex(candidates[i]).prefetchEntry();
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (candidates[i] != SymbolIndex::kNone) ofIndex(candidates[i]).prefetchText();
    }
    for (std::size_t i = 0; i < count; ++i) {
      const std::string_view text = texts[start + i];
      const std::uint32_t found =
          text.empty() ? 0 : symbols.index.find(hashes[i], symbols.equalTo(text));
      out[start + i] = found == SymbolIndex::kNone ? std::nullopt : std::optional(ofIndex(found));
    }
  });
}

void Symbol::reserve(std::size_t more) {
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  symbols.index.reserve(symbols.index.size() + more, symbols.hashOf());
}

std::string_view Symbol::view() const { return textAt(table().entryAt(index_)); }

void Symbol::prefetchEntry() const {
  const Table& symbols = table();
  __builtin_prefetch(symbols.entries[index_ >> kEntryChunkBits].load(std::memory_order_acquire) +
                     (index_ & (kEntryChunkSize - 1)));
}

void Symbol::prefetchText() const { __builtin_prefetch(bytesAt(table().entryAt(index_))); }

const char* Symbol::c_str() const { return bytesAt(table().entryAt(index_)); }

std::size_t symbolCount() {
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  return symbols.size;
}

std::size_t symbolCapacity() {
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  return symbols.index.capacity();
}

}  // namespace seqd
