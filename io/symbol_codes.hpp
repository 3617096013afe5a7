// SymbolCodes: the store's dictionary of the strings enrollment rows repeat, each under a
// small integer code, so that a row names them in a byte or two instead of their text.
//
// An enrollment row holds the same few strings millions of times: the sequence id, the step
// ids done, the mailbox of the last send and of the send out, a status reason. Written as
// text they were half of a row's bytes, in the table and again in every journal row. The
// store keeps each such string once, in its `symbols` DB under a code (1, 2, ...), and the
// enrollment format 4 (io/record_codec.hpp) writes the code. The contact key, new in every
// row, stays text.
//
// Codes are handed out while a commit encodes its rows, in the same write transaction as
// the rows that use them: a code is never in a row without its entry. A code once handed out
// keeps its string for the life of the process, committed or not; the entries not known to
// be committed are written again by every commit until one lands (the same key and value: a
// commit that failed after landing, or that never landed, leaves nothing a later one
// disagrees with). A loaded store's entries are read before its rows.
//
// Costs and limits: like the Symbol table, the dictionary never forgets a string, so free
// text (a `manual:<text>` finish reason) adds an entry that stays. Codes are u32, below
// kSymbolsMax. Not thread-safe: the committer thread encodes; a load reads it from two
// threads only after it is filled.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/symbol.hpp"

namespace seqd {

class SymbolCodes {
 public:
  // The Symbol of `code`, or none for a code not handed out (0 stands for "" in a row and is
  // not in the table).
  std::optional<Symbol> symbolOf(std::uint32_t code) const {
    if (!has(code)) return std::nullopt;
    return by_code_[code - 1];
  }
  // Whether `code` was handed out (symbolAt() may read it).
  bool has(std::uint32_t code) const { return code != 0 && code <= by_code_.size(); }
  // The code of `symbol`, handing out the next one when it has none; 0 for "".
  std::uint32_t codeOf(Symbol symbol);
  // The code of `symbol` when it has one; 0 when not (or for "").
  std::uint32_t knownCode(Symbol symbol) const {
    const auto at = codes_.find(symbol);
    return at == codes_.end() ? 0 : at->second;
  }
  // A loaded entry: the codes come in order, 1 first. False when `code` is not the next
  // one or `symbol` is empty or has a code already.
  bool addLoaded(std::uint32_t code, Symbol symbol);

  // The entries not known to be committed: codes firstUnconfirmed(), +1, ...
  std::uint32_t firstUnconfirmed() const { return static_cast<std::uint32_t>(confirmed_ + 1); }
  std::size_t unconfirmedCount() const { return by_code_.size() - confirmed_; }
  // REQUIRES: has(code).
  Symbol symbolAt(std::uint32_t code) const { return by_code_[code - 1]; }
  // A commit that wrote every unconfirmed entry landed.
  void confirmAll() { confirmed_ = by_code_.size(); }

  std::size_t size() const { return by_code_.size(); }

 private:
  std::vector<Symbol> by_code_;  // code - 1 -> Symbol
  boost::unordered_flat_map<Symbol, std::uint32_t, SymbolHash> codes_;
  std::size_t confirmed_ = 0;  // codes 1..confirmed_ are committed
};

}  // namespace seqd
