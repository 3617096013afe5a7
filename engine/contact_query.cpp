#include "engine/contact_query.hpp"

#include <charconv>
#include <cmath>
#include <optional>

namespace seqd {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isFieldChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}
bool isOperatorChar(char c) { return c == '=' || c == '!' || c == '>' || c == '<' || c == '~'; }

std::optional<double> parseNumber(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

bool isBooleanField(std::string_view field) {
  return field == "dnc" || field == "call_opt_out" || field == "email_opt_out";
}

// true/false as Contact::field() spells them, from the forms import accepts.
std::optional<std::string> booleanText(std::string_view value) {
  std::string lower = toLowerAscii(value);
  if (lower == "true" || lower == "yes" || lower == "1" || lower == "y") return "true";
  if (lower == "false" || lower == "no" || lower == "0" || lower == "n") return "false";
  return std::nullopt;
}

const char* kOperators = "an operator (=, !=, >, >=, <, <=, ~, !~)";

}  // namespace

// Recursive descent over the text, writing the postfix program as it goes.
class QueryParser {
 public:
  QueryParser(std::string_view text, ContactQuery& query) : text_(text), query_(query) {}

  Status parseAll() {
    if (text_.size() > kQueryBytesMax) {
      return Status::invalidArgument("where: at most " + std::to_string(kQueryBytesMax) + " bytes");
    }
    skipSpaces();
    if (at_ == text_.size()) return error(at_, "expected a comparison such as score>=60");
    Status parsed = parseOr(0);
    if (!parsed.isOk()) return parsed;
    skipSpaces();
    if (at_ < text_.size()) {
      if (text_[at_] == ')') return error(at_, "')' without a matching '('");
      return error(at_, "expected 'and', 'or' or the end, found '" + std::string(peekWord()) + "'");
    }
    return Status::ok();
  }

 private:
  Status parseOr(std::size_t depth) {
    Status left = parseAnd(depth);
    if (!left.isOk()) return left;
    while (takeKeyword("or")) {
      Status right = parseAnd(depth);
      if (!right.isOk()) return right;
      query_.program_.push_back({ContactQuery::Instruction::kOr, 0});
    }
    return Status::ok();
  }

  Status parseAnd(std::size_t depth) {
    Status left = parseOperand(depth);
    if (!left.isOk()) return left;
    while (takeKeyword("and")) {
      Status right = parseOperand(depth);
      if (!right.isOk()) return right;
      query_.program_.push_back({ContactQuery::Instruction::kAnd, 0});
    }
    return Status::ok();
  }

  Status parseOperand(std::size_t depth) {
    skipSpaces();
    if (at_ < text_.size() && text_[at_] == '(') {
      const std::size_t open = at_;
      if (depth + 1 > kQueryDepthMax) {
        return error(open, "parentheses nested deeper than " + std::to_string(kQueryDepthMax));
      }
      ++at_;
      Status inner = parseOr(depth + 1);
      if (!inner.isOk()) return inner;
      skipSpaces();
      if (at_ >= text_.size() || text_[at_] != ')') {
        return at_ >= text_.size()
                   ? error(open, "'(' is never closed")
                   : error(at_, "expected ')', found '" + std::string(peekWord()) + "'");
      }
      ++at_;
      return Status::ok();
    }
    return parseComparison();
  }

  Status parseComparison() {
    skipSpaces();
    const std::size_t field_at = at_;
    while (at_ < text_.size() && isFieldChar(text_[at_])) ++at_;
    if (at_ == field_at) {
      if (at_ >= text_.size()) return error(at_, "expected a field name at the end");
      return error(at_, "expected a field name, found '" + std::string(peekWord()) + "'");
    }
    QueryComparison comparison;
    comparison.field = toLowerAscii(text_.substr(field_at, at_ - field_at));
    skipSpaces();
    const std::size_t op_at = at_;
    while (at_ < text_.size() && isOperatorChar(text_[at_])) ++at_;
    const std::string_view op = text_.substr(op_at, at_ - op_at);
    if (op == "=" || op == "==") {
      comparison.op = QueryOp::kEq;
    } else if (op == "!=") {
      comparison.op = QueryOp::kNe;
    } else if (op == ">=") {
      comparison.op = QueryOp::kGe;
    } else if (op == "<=") {
      comparison.op = QueryOp::kLe;
    } else if (op == ">") {
      comparison.op = QueryOp::kGt;
    } else if (op == "<") {
      comparison.op = QueryOp::kLt;
    } else if (op == "~") {
      comparison.op = QueryOp::kContains;
    } else if (op == "!~") {
      comparison.op = QueryOp::kNotContains;
    } else {
      return error(op_at, std::string("expected ") + kOperators + " after '" + comparison.field +
                              "'" + (op.empty() ? "" : ", found '" + std::string(op) + "'"));
    }
    skipSpaces();
    const std::size_t value_at = at_;
    Result<std::string> value = takeValue();
    if (!value.isOk()) return value.status();
    comparison.value = std::move(value.value());
    if (std::optional<double> number = parseNumber(comparison.value)) {
      comparison.numeric = true;
      comparison.number = *number;
    }
    const bool ordering = comparison.op == QueryOp::kGe || comparison.op == QueryOp::kLe ||
                          comparison.op == QueryOp::kGt || comparison.op == QueryOp::kLt;
    if (ordering && !comparison.numeric) {
      return error(value_at, "'" + comparison.value + "' is not a number; " + std::string(op) +
                                 " compares numbers");
    }
    if (comparison.field == "in_sequence" && comparison.op != QueryOp::kEq &&
        comparison.op != QueryOp::kNe) {
      return error(op_at, "in_sequence takes = or != only");
    }
    if (isBooleanField(comparison.field)) {
      std::optional<std::string> boolean = booleanText(comparison.value);
      if (!boolean) {
        return error(value_at,
                     comparison.field + " is true or false, not '" + comparison.value + "'");
      }
      comparison.value = *boolean;
      comparison.numeric = false;
    }
    // Sequence ids are matched as written; text values without regard to case.
    if (!comparison.numeric && comparison.field != "in_sequence") {
      comparison.value = toLowerAscii(comparison.value);
    }
    query_.program_.push_back({ContactQuery::Instruction::kCompare,
                               static_cast<std::uint32_t>(query_.comparisons_.size())});
    query_.comparisons_.push_back(std::move(comparison));
    return Status::ok();
  }

  Result<std::string> takeValue() {
    if (at_ >= text_.size()) return error(at_, "expected a value at the end");
    const char quote = text_[at_];
    if (quote == '\'' || quote == '"') {
      const std::size_t open = at_;
      const std::size_t close = text_.find(quote, at_ + 1);
      if (close == std::string_view::npos) return error(open, "the quote is never closed");
      at_ = close + 1;
      return std::string(text_.substr(open + 1, close - open - 1));
    }
    const std::size_t start = at_;
    while (at_ < text_.size() && !isSpace(text_[at_]) && text_[at_] != '(' && text_[at_] != ')') {
      ++at_;
    }
    if (at_ == start)
      return error(at_, "expected a value, found '" + std::string(peekWord()) + "'");
    return std::string(text_.substr(start, at_ - start));
  }

  bool takeKeyword(std::string_view keyword) {
    skipSpaces();
    if (text_.size() - at_ < keyword.size()) return false;
    if (toLowerAscii(text_.substr(at_, keyword.size())) != keyword) return false;
    const std::size_t end = at_ + keyword.size();
    if (end < text_.size() && !isSpace(text_[end]) && text_[end] != '(') return false;
    at_ = end;
    return true;
  }

  void skipSpaces() {
    while (at_ < text_.size() && isSpace(text_[at_])) ++at_;
  }

  std::string_view peekWord() const {
    std::size_t end = at_;
    while (end < text_.size() && !isSpace(text_[end]) && end - at_ < 20) ++end;
    return text_.substr(at_, std::max<std::size_t>(end - at_, 1));
  }

  Status error(std::size_t at, const std::string& what) const {
    return Status::invalidArgument("where: position " + std::to_string(at + 1) + ": " + what);
  }

  std::string_view text_;
  ContactQuery& query_;
  std::size_t at_ = 0;
};

Result<ContactQuery> ContactQuery::parse(std::string_view text) {
  ContactQuery query;
  QueryParser parser(text, query);
  Status parsed = parser.parseAll();
  if (!parsed.isOk()) return parsed;
  return query;
}

bool ContactQuery::matches(const PackedContact& contact, const InSequence& in_sequence) const {
  if (program_.empty()) return true;  // no --where: every contact
  // At most one entry per comparison: small, and no allocation for a typical query.
  bool stack[kQueryBytesMax / 2];
  std::size_t depth = 0;
  for (const Instruction& instruction : program_) {
    if (instruction.kind == Instruction::kCompare) {
      stack[depth++] = compare(comparisons_[instruction.comparison], contact, in_sequence);
      continue;
    }
    const bool right = stack[--depth];
    const bool left = stack[depth - 1];
    stack[depth - 1] = instruction.kind == Instruction::kAnd ? left && right : left || right;
  }
  return depth == 1 && stack[0];
}

bool ContactQuery::compare(const QueryComparison& comparison, const PackedContact& contact,
                           const InSequence& in_sequence) const {
  if (comparison.field == "in_sequence") {
    const bool in = in_sequence && in_sequence(contact, comparison.value);
    return comparison.op == QueryOp::kEq ? in : !in;
  }
  const std::string value = contact.field(comparison.field).value_or("");
  switch (comparison.op) {
    case QueryOp::kEq:
    case QueryOp::kNe: {
      bool equal = false;
      std::optional<double> number = comparison.numeric ? parseNumber(value) : std::nullopt;
      if (number) {
        equal = *number == comparison.number;
      } else {
        equal = toLowerAscii(value) ==
                (comparison.numeric ? toLowerAscii(comparison.value) : comparison.value);
      }
      return comparison.op == QueryOp::kEq ? equal : !equal;
    }
    case QueryOp::kGe:
    case QueryOp::kLe:
    case QueryOp::kGt:
    case QueryOp::kLt: {
      std::optional<double> number = parseNumber(value);
      if (!number) return false;
      if (comparison.op == QueryOp::kGe) return *number >= comparison.number;
      if (comparison.op == QueryOp::kLe) return *number <= comparison.number;
      if (comparison.op == QueryOp::kGt) return *number > comparison.number;
      return *number < comparison.number;
    }
    case QueryOp::kContains:
    case QueryOp::kNotContains: {
      const std::string needle =
          comparison.numeric ? toLowerAscii(comparison.value) : comparison.value;
      const bool contains = toLowerAscii(value).find(needle) != std::string::npos;
      return comparison.op == QueryOp::kContains ? contains : !contains;
    }
  }
  return false;
}

std::vector<std::string> ContactQuery::sequencesNamed() const {
  std::vector<std::string> named;
  for (const QueryComparison& comparison : comparisons_) {
    if (comparison.field == "in_sequence") named.push_back(comparison.value);
  }
  return named;
}

}  // namespace seqd
