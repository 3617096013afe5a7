#include "engine/symbol.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/assert.hpp"

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
constexpr std::uint32_t kNotInserting = UINT32_MAX;  // above kSymbolsMax: no Symbol's index

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

struct Table;

// The index set hashes and compares by text: an index stands for its string, and a
// string_view finds its index without being copied (heterogeneous lookup).
struct TextHash {
  using is_transparent = void;
  const Table* table;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>()(text);
  }
  std::size_t operator()(std::uint32_t index) const noexcept;
};

struct TextEqual {
  using is_transparent = void;
  const Table* table;
  bool operator()(std::uint32_t a, std::uint32_t b) const noexcept { return a == b; }
  bool operator()(std::string_view a, std::uint32_t b) const noexcept;
  bool operator()(std::uint32_t a, std::string_view b) const noexcept { return (*this)(b, a); }
};

struct Table {
  std::mutex mutex;
  boost::unordered_flat_set<std::uint32_t, TextHash, TextEqual> index{0, TextHash{this},
                                                                      TextEqual{this}};
  std::uint32_t size = 0;
  std::vector<std::unique_ptr<char[]>> arena;  // written under the mutex only
  char* arena_at = nullptr;
  std::size_t arena_left = 0;
  std::array<std::atomic<Entry*>, kEntryChunksMax> entries{};
  // The index being inserted and its text's hash, which internLocked() has just computed:
  // the set's insert takes it from here instead of hashing the text again (reading it back
  // from the arena: 8.7% of a 10M restart's samples, the contacts' load 8.3 -> 7.0 s). Read and
  // written under the mutex only (a lock-free find() hashes text, never an index). kNotInserting
  // (never an index) between inserts.
  std::uint32_t inserting = kNotInserting;
  std::size_t inserting_hash = 0;

  Table() {
    Entry* first = new Entry[kEntryChunkSize];
    first[0] = entryOf(kEmptyText, 0);
    entries[0].store(first, std::memory_order_release);
    size = 1;
    index.insert(0u);
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

std::size_t TextHash::operator()(std::uint32_t at) const noexcept {
  if (at == table->inserting) return table->inserting_hash;
  return (*this)(textAt(table->entryAt(at)));
}

bool TextEqual::operator()(std::string_view a, std::uint32_t b) const noexcept {
  return a == textAt(table->entryAt(b));
}

Table& table() {
  static Table* instance = new Table();  // never destroyed: Symbols may outlive main()
  return *instance;
}

}  // namespace

std::uint32_t Symbol::intern(std::string_view text) {
  if (text.empty()) return 0;
  std::lock_guard lock(table().mutex);
  return internLocked(text);
}

std::mutex& Symbol::tableMutex() { return table().mutex; }

std::uint32_t Symbol::internLocked(std::string_view text) {
  if (text.empty()) return 0;
  Table& symbols = table();
  if (auto found = symbols.index.find(text); found != symbols.index.end()) return *found;
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
  symbols.inserting = index;
  symbols.inserting_hash = TextHash{&symbols}(text);
  symbols.index.insert(index);
  symbols.inserting = kNotInserting;
  return index;
}

std::optional<Symbol> Symbol::find(std::string_view text) {
  if (text.empty()) return Symbol();
  std::lock_guard lock(table().mutex);
  return findLocked(text);
}

std::optional<Symbol> Symbol::findLocked(std::string_view text) {
  if (text.empty()) return Symbol();
  const Table& symbols = table();
  auto found = symbols.index.find(text);
  if (found == symbols.index.end()) return std::nullopt;
  return ofIndex(*found);
}

void Symbol::reserve(std::size_t more) {
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  symbols.index.reserve(symbols.index.size() + more);
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
  return symbols.index.max_load();
}

}  // namespace seqd
