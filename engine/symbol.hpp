// Symbol: a string interned in one process-wide table, held as a 32-bit index.
//
// The enrollment rows repeat a few strings millions of times (the sequence id, the step ids
// done, the mailbox, a status reason) and each contact's key in several places. A Symbol
// stores each distinct string once and costs 4 bytes where it is used, instead of a 32-byte
// std::string and its heap block. Two Symbols are equal exactly when their strings are, so
// equality and hashing use the index; ordering compares the strings, so containers ordered by
// Symbol iterate as they did by std::string. view() reads the text in place; it converts to a
// std::string_view, and to a std::string (a copy), so code that takes a field as a string
// keeps working; assigning a string interns it.
//
// Costs and limits: the table never forgets a string, so only values drawn from a bounded set
// should be Symbols (ids from the config, reasons, contact keys: contacts are never erased).
// Message-IDs and other values new on every step stay std::string. The index 0 is the empty
// string. At most kSymbolsMax distinct strings (interning more asserts). A string costs its
// bytes plus 1 in a chunked arena (a NUL after them; 4 more, its length, before a string of
// 64 KiB or more), an 8-byte entry in a dense array (its address and, under 64 KiB, its
// length), and a 4-byte slot (with its tag, ~7-13 bytes at the table's load) in a hash set
// of indexes that is searched by text (engine/symbol_index.hpp): about 36 bytes for a 20-byte
// contact key, where a std::string in a chunk, its heap block and a map slot of (string_view,
// index) took about 90.
//
// Thread-safety: interning takes a mutex (SymbolBatch, below, takes it once for many strings);
// reading a Symbol's string takes none (the arena's chunks and the entry chunks never move,
// and an index is only handed out after its entry and its text are in place), so any thread
// may read the Symbols in a value it was handed. The views view() returns stay valid for the
// process's life.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace seqd {

inline constexpr std::uint32_t kSymbolsMax = 1u << 30;

class Symbol {
 public:
  Symbol() = default;
  Symbol(std::string_view text) : index_(intern(text)) {}    // NOLINT: implicit by design
  Symbol(const std::string& text) : index_(intern(text)) {}  // NOLINT
  Symbol(const char* text) : index_(intern(text)) {}         // NOLINT

  // The text, valid for the process's life.
  std::string_view view() const;
  // A copy of the text.
  std::string str() const { return std::string(view()); }
  operator std::string() const { return str(); }        // NOLINT: implicit by design
  operator std::string_view() const { return view(); }  // NOLINT: implicit by design
  // The text, NUL-terminated, valid for the process's life.
  const char* c_str() const;
  bool empty() const { return index_ == 0; }
  std::size_t size() const { return view().size(); }
  void clear() { index_ = 0; }
  bool starts_with(std::string_view prefix) const { return view().starts_with(prefix); }
  // The Symbol of text when it is interned already, without interning it: lookups with a
  // caller's string (a contact key in a command) do not grow the table.
  static std::optional<Symbol> find(std::string_view text);
  // Makes room for `more` strings beyond those interned, so that interning them does not
  // grow the table step by step (each growth rehashes every string: a load of a million
  // contact keys did it ~20 times).
  static void reserve(std::size_t more);
  // The index in the table: dense, stable for the process's life, 0 for "".
  std::uint32_t index() const { return index_; }
  // Hints to the CPU that view() is coming: the table's entry, or (reading the entry) the
  // text. No effect on what is read; a loop over many Symbols asks a few iterations ahead.
  void prefetchEntry() const;
  void prefetchText() const;

  friend bool operator==(Symbol a, Symbol b) { return a.index_ == b.index_; }
  friend bool operator==(Symbol a, const std::string& b) { return a.view() == b; }
  friend bool operator==(Symbol a, std::string_view b) { return a.view() == b; }
  friend bool operator==(Symbol a, const char* b) { return a.view() == b; }
  friend std::strong_ordering operator<=>(Symbol a, Symbol b) {
    return a.index_ == b.index_ ? std::strong_ordering::equal : a.view() <=> b.view();
  }
  friend std::string operator+(const std::string& a, Symbol b) {
    std::string joined = a;
    return joined.append(b.view());
  }
  friend std::string operator+(std::string&& a, Symbol b) { return std::move(a.append(b.view())); }
  friend std::string operator+(const char* a, Symbol b) { return a + b.str(); }
  friend std::string operator+(Symbol a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(Symbol a, const char* b) { return a.str() + b; }
  friend std::ostream& operator<<(std::ostream& out, Symbol symbol) { return out << symbol.view(); }

 private:
  friend class SymbolList;  // engine/symbol_list.hpp: lists of indexes, read back as Symbols
  friend class SymbolBatch;

  static std::uint32_t intern(std::string_view text);
  // intern() and find() with the table's mutex held by the caller.
  static std::uint32_t internLocked(std::string_view text);
  static std::optional<Symbol> findLocked(std::string_view text);
  static std::uint32_t internHashed(std::string_view text, std::uint64_t hash);
  // The same for many texts: out[i] for texts[i]. Each window of texts is hashed, and the
  // table's lines it will read asked for, before any is read (engine/symbol_index.hpp).
  static void internLocked(std::span<const std::string_view> texts, std::span<Symbol> out);
  static void findLocked(std::span<const std::string_view> texts,
                         std::span<std::optional<Symbol>> out);
  static std::mutex& tableMutex();
  static Symbol ofIndex(std::uint32_t index) {
    Symbol symbol;
    symbol.index_ = index;
    return symbol;
  }

  std::uint32_t index_ = 0;
};

// Interns many strings under one lock: what a load that interns millions uses (a restart's
// contact keys), where taking the table's mutex for each string was ~15% of the load's time.
// It holds the mutex while it lives, so keep it to a bounded batch, and intern nothing with
// Symbol(text) on this thread meanwhile (that waits on the mutex this holds, forever). Other
// threads still read any Symbol's text; their interning waits for the batch to end.
class SymbolBatch {
 public:
  SymbolBatch() : lock_(Symbol::tableMutex()) {}
  SymbolBatch(const SymbolBatch&) = delete;
  SymbolBatch& operator=(const SymbolBatch&) = delete;

  // As Symbol(text).
  Symbol operator()(std::string_view text) const {
    return Symbol::ofIndex(Symbol::internLocked(text));
  }
  // As Symbol::find(text), without taking the lock: the table is read under this batch's.
  // Several threads may call it on one batch at once (a restart looks up its rows' 10M
  // contact keys on two), as long as none interns meanwhile, operator() of this batch included:
  // a read of the table beside a write to it is a race.
  std::optional<Symbol> find(std::string_view text) const { return Symbol::findLocked(text); }
  // Many at once, out[i] for texts[i] (out.size() == texts.size()): as the one-string forms
  // in turn, but faster for many strings the CPU does not have cached (a restart's contact
  // keys), whose lines are asked for a window of strings ahead.
  void operator()(std::span<const std::string_view> texts, std::span<Symbol> out) const {
    Symbol::internLocked(texts, out);
  }
  void find(std::span<const std::string_view> texts, std::span<std::optional<Symbol>> out) const {
    Symbol::findLocked(texts, out);
  }

 private:
  std::lock_guard<std::mutex> lock_;
};

// How many distinct strings are interned (with ""), and their bytes: for benchmarks.
std::size_t symbolCount();
// How many strings the table holds before it must grow (and rehash): for tests.
std::size_t symbolCapacity();

}  // namespace seqd

namespace seqd {
// For hash tables keyed by Symbol (the index mixed, so that a flat table spreads dense ids).
struct SymbolHash {
  std::size_t operator()(Symbol symbol) const noexcept {
    return static_cast<std::size_t>(symbol.index() * 0x9E3779B97F4A7C15ULL);
  }
};
}  // namespace seqd

template <>
struct std::hash<seqd::Symbol> {
  std::size_t operator()(seqd::Symbol symbol) const noexcept { return symbol.index(); }
};
