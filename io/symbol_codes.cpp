#include "io/symbol_codes.hpp"

namespace seqd {

std::uint32_t SymbolCodes::codeOf(Symbol symbol) {
  if (symbol.empty()) return 0;
  const auto [at, added] =
      codes_.try_emplace(symbol, static_cast<std::uint32_t>(by_code_.size() + 1));
  if (added) by_code_.push_back(symbol);
  return at->second;
}

bool SymbolCodes::addLoaded(std::uint32_t code, Symbol symbol) {
  if (symbol.empty() || code != by_code_.size() + 1) return false;
  if (!codes_.try_emplace(symbol, code).second) return false;
  by_code_.push_back(symbol);
  confirmed_ = by_code_.size();
  return true;
}

}  // namespace seqd
