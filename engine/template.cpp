#include "engine/template.hpp"

#include <vector>

namespace seqd {
namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";
// Each tag is at least four bytes, so this bounds the scan loop with room to spare.
constexpr std::size_t kTemplatePiecesMax = kTemplateBytesMax + 1;

// One piece of a parsed template: literal text, or a variable with an optional fallback.
struct Piece {
  bool is_variable = false;
  std::string_view literal;
  std::string_view name;
  bool has_fallback = false;
  std::string_view fallback;
};

Piece literalPiece(std::string_view literal) {
  Piece piece;
  piece.literal = literal;
  return piece;
}

std::string_view trimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Parses the tag whose "{{" is at `open`; `close` is where its "}}" starts.
Status parseTag(std::string_view text, std::size_t open, std::size_t close, Piece& piece) {
  std::string_view inside = text.substr(open + kOpen.size(), close - open - kOpen.size());
  std::size_t bar = inside.find('|');
  std::string_view name = trimBlanks(inside.substr(0, bar));
  if (name.empty()) {
    return Status::invalidArgument("template: empty variable name at offset " +
                                   std::to_string(open));
  }
  if (name.find_first_of("{}") != std::string_view::npos) {
    return Status::invalidArgument("template: '{' or '}' inside the variable name at offset " +
                                   std::to_string(open));
  }
  piece.is_variable = true;
  piece.name = name;
  if (bar != std::string_view::npos) {
    piece.has_fallback = true;
    piece.fallback = trimBlanks(inside.substr(bar + 1));
  }
  return Status::ok();
}

// Splits text into pieces; fails on the first syntax error, saying where.
Status parseTemplate(std::string_view text, std::vector<Piece>& pieces) {
  if (text.size() > kTemplateBytesMax) {
    return Status::invalidArgument("template: " + std::to_string(text.size()) +
                                   " bytes, more than the maximum " +
                                   std::to_string(kTemplateBytesMax));
  }
  std::size_t position = 0;
  for (std::size_t count = 0; position < text.size() && count < kTemplatePiecesMax; ++count) {
    std::size_t open = text.find(kOpen, position);
    if (open == std::string_view::npos) {
      pieces.push_back(literalPiece(text.substr(position)));
      break;
    }
    if (open > position) pieces.push_back(literalPiece(text.substr(position, open - position)));
    std::size_t close = text.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) {
      return Status::invalidArgument("template: unclosed '{{' at offset " + std::to_string(open));
    }
    Piece piece;
    Status status = parseTag(text, open, close, piece);
    if (!status.isOk()) return status;
    pieces.push_back(piece);
    position = close + kClose.size();
  }
  return Status::ok();
}

}  // namespace

Status checkTemplate(std::string_view text) {
  std::vector<Piece> pieces;
  return parseTemplate(text, pieces);
}

RenderResult renderTemplate(std::string_view text, const FieldLookup& lookup) {
  RenderResult result;
  std::vector<Piece> pieces;
  Status status = parseTemplate(text, pieces);
  if (!status.isOk()) {
    result.error = status.message();
    return result;
  }
  std::string rendered;
  rendered.reserve(text.size());
  for (const Piece& piece : pieces) {
    if (!piece.is_variable) {
      rendered += piece.literal;
    } else {
      std::optional<std::string> value = lookup(piece.name);
      if (value.has_value() && !value->empty()) {
        rendered += *value;
      } else if (piece.has_fallback) {
        rendered += piece.fallback;
      } else {
        result.missing_variable = std::string(piece.name);
        return result;
      }
    }
    if (rendered.size() > kRenderedBytesMax) {
      result.error =
          "template: rendered text is longer than " + std::to_string(kRenderedBytesMax) + " bytes";
      return result;
    }
  }
  result.ok = true;
  result.text = std::move(rendered);
  return result;
}

}  // namespace seqd
