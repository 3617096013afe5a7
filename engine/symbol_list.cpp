#include "engine/symbol_list.hpp"

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <cstring>

#include "engine/assert.hpp"

namespace seqd {
namespace {

void appendIndex(std::string& packed, Symbol item) {
  const std::uint32_t index = item.index();
  for (int shift = 0; shift < 32; shift += 8) {
    packed.push_back(static_cast<char>((index >> shift) & 0xff));
  }
}

std::uint32_t readIndex(const char* at) {
  std::uint32_t index = 0;
  for (int i = 3; i >= 0; --i) index = (index << 8) | static_cast<unsigned char>(at[i]);
  return index;
}

template <typename Items>
Symbol pack(const Items& items) {
  std::string packed;
  packed.reserve(items.size() * 4);
  for (const auto& item : items) appendIndex(packed, Symbol(item));
  return Symbol(packed);
}

}  // namespace

Symbol SymbolList::symbolAt(const char* at) { return Symbol::ofIndex(readIndex(at)); }

Symbol SymbolList::Iterator::operator*() const { return symbolAt(at_); }

SymbolList::SymbolList(std::initializer_list<Symbol> items) : packed_(pack(items)) {}
SymbolList::SymbolList(const std::vector<Symbol>& items) : packed_(pack(items)) {}
SymbolList::SymbolList(const std::vector<std::string>& items) : packed_(pack(items)) {}

Symbol SymbolList::operator[](std::size_t i) const {
  SEQD_ASSERT(i < size());
  return symbolAt(packed_.view().data() + 4 * i);
}

bool SymbolList::contains(Symbol item) const { return std::find(begin(), end(), item) != end(); }

std::vector<Symbol> SymbolList::items() const { return {begin(), end()}; }

std::vector<std::string> SymbolList::strings() const {
  std::vector<std::string> out;
  out.reserve(size());
  for (Symbol item : *this) out.push_back(item.str());
  return out;
}

// Interning the longer list takes the Symbol table's lock and hashes the list's bytes; a step
// done does it once a step (~5% of the engine thread's time in a run of 600k steps). The lists
// are values that never change, so (list, item) -> list is remembered per thread. The memo
// is bounded: the set of lists is (step ids and their orders), but nothing here can know that.
SymbolList SymbolList::with(Symbol item) const {
  constexpr std::size_t kMemoMax = 1 << 16;
  thread_local boost::unordered_flat_map<std::uint64_t, Symbol> memo;
  const std::uint64_t memo_key = (std::uint64_t{packed_.index()} << 32) | item.index();
  SymbolList list;
  if (auto found = memo.find(memo_key); found != memo.end()) {
    list.packed_ = found->second;
    return list;
  }
  std::string packed = packed_.str();
  appendIndex(packed, item);
  list.packed_ = Symbol(packed);
  if (memo.size() >= kMemoMax) memo.clear();
  memo.emplace(memo_key, list.packed_);
  return list;
}

Symbol SymbolMap::get(Symbol key) const {
  for (std::size_t i = 0; i + 1 < pairs_.size(); i += 2) {
    if (pairs_[i] == key) return pairs_[i + 1];
  }
  return Symbol();
}

void SymbolMap::set(Symbol key, Symbol value) {
  std::vector<Symbol> items;
  items.reserve(pairs_.size() + 2);
  bool placed = value.empty();
  for (std::size_t i = 0; i + 1 < pairs_.size(); i += 2) {
    const Symbol at = pairs_[i];
    if (at == key) continue;
    if (!placed && key < at) {
      items.push_back(key);
      items.push_back(value);
      placed = true;
    }
    items.push_back(at);
    items.push_back(pairs_[i + 1]);
  }
  if (!placed) {
    items.push_back(key);
    items.push_back(value);
  }
  pairs_ = SymbolList(items);
}

std::vector<std::pair<Symbol, Symbol>> SymbolMap::pairs() const {
  std::vector<std::pair<Symbol, Symbol>> out;
  out.reserve(size());
  for (std::size_t i = 0; i + 1 < pairs_.size(); i += 2) out.emplace_back(pairs_[i], pairs_[i + 1]);
  return out;
}

}  // namespace seqd
