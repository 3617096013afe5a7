// SymbolList and SymbolMap: short lists of Symbols, themselves interned, held as 4 bytes.
//
// An enrollment row keeps a few small collections drawn from bounded sets: the steps done (in
// the order done), the mailboxes an operator chose for it, and the steps whose send bounced
// or may have gone out. Across millions of rows the same few lists repeat ("step-1",
// "step-1 step-2", ...), so each distinct list is stored once: its elements' Symbol indexes,
// 4 little-endian bytes each, interned as one string in the Symbol table. The row holds that
// Symbol, which keeps it fixed-width and trivially copyable, with no heap block per row.
//
// Values, not containers: changing one (with(), without(), set(), erase()) interns the new
// list and returns or stores it. Two lists are equal exactly when their elements are, in
// order. A SymbolMap keeps its pairs ordered by key string, so equal maps are equal lists and
// iteration is in the order a std::map<Symbol, Symbol> had.
//
// Costs and limits: as Symbol's (the table never forgets): only lists drawn from bounded sets
// belong here (step ids and mailboxes of the config, and their orders), never lists of values
// that are new every time.
//
// Thread-safety: as Symbol's: any thread may read a list it was handed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "engine/symbol.hpp"

namespace seqd {

class SymbolList {
 public:
  class Iterator {
   public:
    using value_type = Symbol;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(const char* at) : at_(at) {}  // NOLINT
    Symbol operator*() const;
    Iterator& operator++() {
      at_ += 4;
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      at_ += 4;
      return before;
    }
    friend bool operator==(Iterator a, Iterator b) { return a.at_ == b.at_; }

   private:
    const char* at_ = nullptr;
  };

  SymbolList() = default;
  SymbolList(std::initializer_list<Symbol> items);
  explicit SymbolList(const std::vector<Symbol>& items);
  explicit SymbolList(const std::vector<std::string>& items);

  std::size_t size() const { return packed_.size() / 4; }
  bool empty() const { return packed_.empty(); }
  Symbol operator[](std::size_t i) const;
  Symbol front() const { return (*this)[0]; }
  Symbol back() const { return (*this)[size() - 1]; }
  Iterator begin() const { return Iterator(packed_.view().data()); }
  Iterator end() const { return Iterator(packed_.view().data() + packed_.size()); }
  bool contains(Symbol item) const;
  std::vector<Symbol> items() const;
  std::vector<std::string> strings() const;
  // The list with item appended.
  SymbolList with(Symbol item) const;
  void clear() { packed_.clear(); }

  friend bool operator==(SymbolList a, SymbolList b) { return a.packed_ == b.packed_; }

 private:
  static Symbol symbolAt(const char* at);

  Symbol packed_;  // the elements' indexes, 4 little-endian bytes each; "" when empty
};

class SymbolMap {
 public:
  SymbolMap() = default;

  std::size_t size() const { return pairs_.size() / 2; }
  bool empty() const { return pairs_.empty(); }
  // The value under key, or the empty Symbol when it has none.
  Symbol get(Symbol key) const;
  bool contains(Symbol key) const { return !get(key).empty(); }
  // Sets key to value (an empty value erases key).
  void set(Symbol key, Symbol value);
  void erase(Symbol key) { set(key, Symbol()); }
  // The pairs, ordered by key string.
  std::vector<std::pair<Symbol, Symbol>> pairs() const;
  void clear() { pairs_.clear(); }

  friend bool operator==(SymbolMap a, SymbolMap b) { return a.pairs_ == b.pairs_; }

 private:
  SymbolList pairs_;  // key, value, key, value, ... ordered by key string
};

}  // namespace seqd
