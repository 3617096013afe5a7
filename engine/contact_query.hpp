// ContactQuery: the EXPR of `seqctl contacts --where EXPR` and `seqctl add SEQ --where EXPR`
// (Apollo's "add from search results"), parsed once and matched against stored contacts.
//
//   expr        = conjunction { "or" conjunction }
//   conjunction = operand { "and" operand }
//   operand     = "(" expr ")" | comparison
//   comparison  = FIELD OP VALUE
//   OP          = "=" | "!=" | ">=" | "<=" | ">" | "<" | "~" | "!~"
//   VALUE       = a word (up to a space or a parenthesis) or a '...' / "..." quoted text
//
// `and` binds tighter than `or`; both are case-insensitive. FIELD is any contact field
// (`score`, `stage`, `company`, `timezone`, `owner`, `email`, `dnc`, ...), any custom CSV
// column, or `in_sequence` (the contact is in that sequence, in any status but removed).
//
// Matching, the way a sales-ops user reads it:
//  - `=` and `!=` compare numbers as numbers when both sides are numbers (`score=60`), else
//    text without regard to ASCII case (`stage=New` matches "new"); a field the contact does
//    not have is the empty text, so `stage=""` finds contacts with no stage.
//  - `>`, `>=`, `<`, `<=` compare numbers; VALUE must be a number, and a contact whose field is
//    not a number never matches.
//  - `~` is "contains", `!~` "does not contain", both without regard to ASCII case.
//  - Booleans (`dnc`, `call_opt_out`, `email_opt_out`) take true/false, yes/no or 1/0.
//  - `in_sequence` takes `=` or `!=` only.
//
// A syntax error says where: "position 12: expected an operator (=, !=, >, >=, <, <=, ~, !~)
// after 'score'" (positions count characters of EXPR from 1).
//
// Thread-safety: an immutable value once parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/packed_contact.hpp"
#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kQueryBytesMax = 4096;
inline constexpr std::size_t kQueryDepthMax = 32;  // nested parentheses

enum class QueryOp : std::uint8_t { kEq, kNe, kGe, kLe, kGt, kLt, kContains, kNotContains };

struct QueryComparison {
  std::string field;
  QueryOp op = QueryOp::kEq;
  std::string value;     // as written (unquoted); lower-cased for text comparisons
  bool numeric = false;  // value is a number
  double number = 0;     // when numeric
};

class ContactQuery {
 public:
  // Matches every contact.
  ContactQuery() = default;
  static Result<ContactQuery> parse(std::string_view text);

  // Whether the contact is in a sequence (not removed): what `in_sequence` asks.
  using InSequence =
      std::function<bool(const PackedContact& contact, const std::string& sequence_id)>;
  bool matches(const PackedContact& contact, const InSequence& in_sequence) const;

  // The sequence ids `in_sequence` comparisons name, so the caller can refuse unknown ones.
  std::vector<std::string> sequencesNamed() const;
  const std::vector<QueryComparison>& comparisons() const { return comparisons_; }

 private:
  // Postfix: a comparison pushes its result, and/or pop two and push one.
  struct Instruction {
    enum Kind : std::uint8_t { kCompare, kAnd, kOr } kind = kCompare;
    std::uint32_t comparison = 0;
  };
  friend class QueryParser;

  bool compare(const QueryComparison& comparison, const PackedContact& contact,
               const InSequence& in_sequence) const;

  std::vector<QueryComparison> comparisons_;
  std::vector<Instruction> program_;
};

}  // namespace seqd
