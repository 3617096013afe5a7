#include "engine/symbol.hpp"

#include <array>
#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <memory>
#include <mutex>

#include "engine/assert.hpp"

namespace seqd {
namespace {

// Strings live in chunks that never move; the chunk table is fixed, so a reader indexes it
// without a lock. A chunk is published (release) before any index inside it is handed out.
constexpr std::uint32_t kChunkBits = 12;
constexpr std::uint32_t kChunkSize = 1u << kChunkBits;
constexpr std::uint32_t kChunksMax = kSymbolsMax / kChunkSize;

struct Table {
  std::mutex mutex;
  boost::unordered_flat_map<std::string_view, std::uint32_t> index;  // views into the chunks
  std::uint32_t size = 0;
  std::array<std::atomic<std::string*>, kChunksMax> chunks{};

  Table() {
    chunks[0].store(new std::string[kChunkSize], std::memory_order_release);
    index.emplace(std::string_view(), 0);
    size = 1;
  }
};

Table& table() {
  static Table* instance = new Table();  // never destroyed: Symbols may outlive main()
  return *instance;
}

}  // namespace

std::uint32_t Symbol::intern(std::string_view text) {
  if (text.empty()) return 0;
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  if (auto found = symbols.index.find(text); found != symbols.index.end()) return found->second;
  std::uint32_t index = symbols.size;
  SEQD_ASSERT(index < kSymbolsMax);
  std::uint32_t chunk = index >> kChunkBits;
  std::string* strings = symbols.chunks[chunk].load(std::memory_order_relaxed);
  if (strings == nullptr) {
    strings = new std::string[kChunkSize];
    symbols.chunks[chunk].store(strings, std::memory_order_release);
  }
  std::string& slot = strings[index & (kChunkSize - 1)];
  slot.assign(text);
  symbols.index.emplace(std::string_view(slot), index);
  symbols.size = index + 1;
  return index;
}

std::optional<Symbol> Symbol::find(std::string_view text) {
  if (text.empty()) return Symbol();
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  auto found = symbols.index.find(text);
  if (found == symbols.index.end()) return std::nullopt;
  return ofIndex(found->second);
}

const std::string& Symbol::str() const {
  std::string* strings = table().chunks[index_ >> kChunkBits].load(std::memory_order_acquire);
  return strings[index_ & (kChunkSize - 1)];
}

std::size_t symbolCount() {
  Table& symbols = table();
  std::lock_guard lock(symbols.mutex);
  return symbols.size;
}

}  // namespace seqd
