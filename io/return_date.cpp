#include "io/return_date.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "io/mail_text.hpp"

namespace seqd {
namespace {

// At most this many filler words or marks between a cue and its date.
constexpr int kFillersMax = 6;

struct Token {
  enum class Type { kWord, kNumber, kMark };
  Type type = Type::kWord;
  std::string_view text;
  bool spaced = false;  // whitespace comes before it
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Letters of folded text: ASCII letters and any byte of a character that folding kept.
bool isWordByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

bool isSpace(char c) { return static_cast<unsigned char>(c) <= ' '; }

std::vector<Token> tokenize(std::string_view folded) {
  std::vector<Token> tokens;
  std::size_t at = 0;
  bool spaced = true;
  while (at < folded.size()) {
    char c = folded[at];
    if (isSpace(c)) {
      spaced = true;
      ++at;
      continue;
    }
    std::size_t end = at + 1;
    Token::Type type = Token::Type::kMark;
    if (isDigit(c)) {
      type = Token::Type::kNumber;
      while (end < folded.size() && isDigit(folded[end])) ++end;
    } else if (isWordByte(c)) {
      type = Token::Type::kWord;
      while (end < folded.size() && isWordByte(folded[end])) ++end;
    }
    tokens.push_back({type, folded.substr(at, end - at), spaced});
    spaced = false;
    at = end;
  }
  return tokens;
}

// Words after which a date is the day someone is back (or the last day away). Multi-word cues
// ("back on", "bis zum", "jusqu'au", "fino al", "até o dia", "tot en met") are their first word
// here and the rest are fillers.
constexpr std::string_view kCueWords[] = {
    "back",  "return",   "returning", "returns", "until",     "till",   "til",     "through",
    "thru",  "to",       "bis",       "zuruck",  "ab",        "wieder", "jusqu",   "retour",
    "au",    "partir",   "hasta",     "regreso", "regresare", "vuelta", "volvere", "al",
    "fino",  "rientro",  "rientrero", "ritorno", "ritornero", "ate",    "retorno", "regresso",
    "volto", "voltarei", "tot",       "terug",   "vanaf",
};

// Words that may stand between a cue and its date.
constexpr std::string_view kFillerWords[] = {
    "on", "the", "of", "in", "office", "am", "dem", "zum", "zur", "den", "einschliesslich",
    "inklusive", "le", "la", "l", "el", "il", "lo", "o", "a", "ao", "dia", "de", "del", "dal", "du",
    "em", "op", "en", "met", "inclusief", "incluso", "inclusive", "including",
    // weekdays
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "tue",
    "wed", "thu", "fri", "sat", "sun", "montag", "dienstag", "mittwoch", "donnerstag", "freitag",
    "samstag", "sonntag", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    "lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo", "lunedi", "martedi",
    "mercoledi", "giovedi", "venerdi", "domenica", "segunda", "terca", "quarta", "quinta", "sexta",
    "feira", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"};

struct MonthName {
  std::string_view name;
  unsigned month;
};

// Full names and the usual abbreviations, folded. Left out on purpose: Portuguese "out" and
// Italian/Portuguese "set", which are common English words.
constexpr MonthName kMonthNames[] = {
    {"january", 1},   {"jan", 1},        {"januar", 1},    {"janner", 1},     {"janvier", 1},
    {"janv", 1},      {"enero", 1},      {"ene", 1},       {"gennaio", 1},    {"gen", 1},
    {"janeiro", 1},   {"januari", 1},    {"february", 2},  {"feb", 2},        {"februar", 2},
    {"feber", 2},     {"fevrier", 2},    {"fevr", 2},      {"fev", 2},        {"febrero", 2},
    {"febbraio", 2},  {"fevereiro", 2},  {"februari", 2},  {"march", 3},      {"mar", 3},
    {"marz", 3},      {"maerz", 3},      {"mars", 3},      {"marzo", 3},      {"marco", 3},
    {"maart", 3},     {"mrt", 3},        {"april", 4},     {"apr", 4},        {"avril", 4},
    {"avr", 4},       {"abril", 4},      {"abr", 4},       {"aprile", 4},     {"may", 5},
    {"mai", 5},       {"mayo", 5},       {"maggio", 5},    {"mag", 5},        {"maio", 5},
    {"mei", 5},       {"june", 6},       {"jun", 6},       {"juni", 6},       {"juin", 6},
    {"junio", 6},     {"giugno", 6},     {"giu", 6},       {"junho", 6},      {"july", 7},
    {"jul", 7},       {"juli", 7},       {"juillet", 7},   {"juil", 7},       {"julio", 7},
    {"luglio", 7},    {"lug", 7},        {"julho", 7},     {"august", 8},     {"aug", 8},
    {"aout", 8},      {"agosto", 8},     {"ago", 8},       {"augustus", 8},   {"september", 9},
    {"sep", 9},       {"sept", 9},       {"septembre", 9}, {"septiembre", 9}, {"setiembre", 9},
    {"settembre", 9}, {"setembro", 9},   {"october", 10},  {"oct", 10},       {"oktober", 10},
    {"okt", 10},      {"octobre", 10},   {"octubre", 10},  {"ottobre", 10},   {"ott", 10},
    {"outubro", 10},  {"november", 11},  {"nov", 11},      {"novembre", 11},  {"noviembre", 11},
    {"novembro", 11}, {"december", 12},  {"dec", 12},      {"dezember", 12},  {"dez", 12},
    {"decembre", 12}, {"diciembre", 12}, {"dic", 12},      {"dicembre", 12},  {"dezembro", 12},
};

// Written right after a day number: "5th", "1er", "1o" (from "1º"), "5e".
constexpr std::string_view kDaySuffixes[] = {"st", "nd", "rd", "th", "er", "re", "e", "o", "a"};

// Function words that tell English text from the other six languages, for slash dates only.
constexpr std::string_view kEnglishWords[] = {"the",  "and", "i",      "will", "be", "office", "my",
                                              "with", "you", "please", "am",   "of", "until"};
constexpr std::string_view kOtherWords[] = {
    "ich", "und",  "der", "die", "bin", "je",    "suis", "le", "et",  "les", "estoy", "el", "y",
    "los", "sono", "il",  "e",   "di",  "estou", "o",    "ik", "ben", "het", "en",    "van"};

template <typename List>
bool contains(const List& list, std::string_view word) {
  for (std::string_view entry : list) {
    if (entry == word) return true;
  }
  return false;
}

unsigned monthNamed(std::string_view word) {
  for (const MonthName& entry : kMonthNames) {
    if (entry.name == word) return entry.month;
  }
  return 0;
}

unsigned numberValue(std::string_view digits) {
  unsigned value = 0;
  for (char c : digits) value = value * 10 + static_cast<unsigned>(c - '0');
  return value;
}

struct ParsedDate {
  int year = 0;  // 0: not written
  unsigned month = 0;
  unsigned day = 0;
  std::size_t end = 0;  // the token after the date
};

class DateReader {
 public:
  DateReader(const std::vector<Token>& tokens, bool slash_month_first)
      : tokens_(tokens), slash_month_first_(slash_month_first) {}

  std::optional<ParsedDate> readAt(std::size_t at) const {
    if (auto date = readIso(at)) return date;
    if (auto date = readNumeric(at)) return date;
    if (auto date = readDayFirst(at)) return date;
    return readMonthFirst(at);
  }

 private:
  bool isNumber(std::size_t at, std::size_t digits_min, std::size_t digits_max) const {
    return at < tokens_.size() && tokens_[at].type == Token::Type::kNumber &&
           tokens_[at].text.size() >= digits_min && tokens_[at].text.size() <= digits_max;
  }
  bool isMark(std::size_t at, char mark) const {
    return at < tokens_.size() && tokens_[at].type == Token::Type::kMark &&
           tokens_[at].text[0] == mark;
  }
  bool isWord(std::size_t at, std::string_view word) const {
    return at < tokens_.size() && tokens_[at].type == Token::Type::kWord &&
           tokens_[at].text == word;
  }
  bool adjacent(std::size_t at) const { return at < tokens_.size() && !tokens_[at].spaced; }
  unsigned value(std::size_t at) const { return numberValue(tokens_[at].text); }
  unsigned monthAt(std::size_t at) const {
    if (at >= tokens_.size() || tokens_[at].type != Token::Type::kWord) return 0;
    return monthNamed(tokens_[at].text);
  }

  // "2027-01-05"
  std::optional<ParsedDate> readIso(std::size_t at) const {
    if (!isNumber(at, 4, 4) || !isMark(at + 1, '-') || !adjacent(at + 1)) return std::nullopt;
    if (!isNumber(at + 2, 1, 2) || !adjacent(at + 2)) return std::nullopt;
    if (!isMark(at + 3, '-') || !adjacent(at + 3)) return std::nullopt;
    if (!isNumber(at + 4, 1, 2) || !adjacent(at + 4)) return std::nullopt;
    return ParsedDate{static_cast<int>(value(at)), value(at + 2), value(at + 4), at + 5};
  }

  // "05.01.2027", "05.01.", "5.1.27", "04-01-2027", "1/5/2027", "1/5"
  std::optional<ParsedDate> readNumeric(std::size_t at) const {
    if (!isNumber(at, 1, 2) || at + 2 >= tokens_.size()) return std::nullopt;
    char separator = tokens_[at + 1].text[0];
    bool known = separator == '.' || separator == '/' || separator == '-';
    if (!known || !isMark(at + 1, separator) || !adjacent(at + 1)) return std::nullopt;
    if (!isNumber(at + 2, 1, 2) || !adjacent(at + 2)) return std::nullopt;
    unsigned first = value(at), second = value(at + 2);
    int year = 0;
    std::size_t end = at + 3;
    bool closed = isMark(at + 3, separator) && adjacent(at + 3);
    if (closed && isNumber(at + 4, 2, 4) && tokens_[at + 4].text.size() != 3 && adjacent(at + 4)) {
      year = static_cast<int>(value(at + 4));
      if (year < 100) year += 2000;
      end = at + 5;
    } else if (closed) {
      end = at + 4;
    }
    if (separator == '.' && year == 0 && !closed) return std::nullopt;
    if (separator == '-' && year == 0) return std::nullopt;
    if (separator == '/' && slash_month_first_) return ParsedDate{year, first, second, end};
    return ParsedDate{year, second, first, end};
  }

  // Skips a day suffix and the dot of "5." after the number at `at`; returns the next token.
  std::size_t afterDay(std::size_t at) const {
    std::size_t next = at + 1;
    if (adjacent(next) && tokens_[next].type == Token::Type::kWord &&
        contains(kDaySuffixes, tokens_[next].text)) {
      ++next;
    }
    if (isMark(next, '.') && adjacent(next)) ++next;
    return next;
  }

  // A year after a month name: "2027", ", 2027", "de 2027", "del 2027".
  std::size_t readYear(std::size_t at, int& year) const {
    std::size_t next = at;
    if (isMark(next, ',')) ++next;
    if (isWord(next, "de") || isWord(next, "del")) ++next;
    if (isNumber(next, 4, 4)) {
      year = static_cast<int>(value(next));
      return next + 1;
    }
    return at;
  }

  // "5 January 2027", "5th of January", "5. Januar", "5 de enero de 2027"
  std::optional<ParsedDate> readDayFirst(std::size_t at) const {
    if (!isNumber(at, 1, 2)) return std::nullopt;
    std::size_t next = afterDay(at);
    if (isWord(next, "of") || isWord(next, "de")) ++next;
    unsigned month = monthAt(next);
    if (month == 0) return std::nullopt;
    ++next;
    if (isMark(next, '.') && adjacent(next)) ++next;
    ParsedDate date{0, month, value(at), next};
    date.end = readYear(next, date.year);
    return date;
  }

  // "January 5th, 2027", "Jan. 5"
  std::optional<ParsedDate> readMonthFirst(std::size_t at) const {
    unsigned month = monthAt(at);
    if (month == 0) return std::nullopt;
    std::size_t next = at + 1;
    if (isMark(next, '.') && adjacent(next)) ++next;
    if (isWord(next, "the")) ++next;
    if (!isNumber(next, 1, 2)) return std::nullopt;
    ParsedDate date{0, month, value(next), 0};
    next = afterDay(next);
    date.end = readYear(next, date.year);
    return date;
  }

  const std::vector<Token>& tokens_;
  bool slash_month_first_;
};

bool looksEnglish(const std::vector<Token>& tokens) {
  int english = 0, other = 0;
  for (const Token& token : tokens) {
    if (token.type != Token::Type::kWord) continue;
    if (contains(kEnglishWords, token.text)) ++english;
    if (contains(kOtherWords, token.text)) ++other;
  }
  return english > other;
}

// See the header: the first unambiguous slash date decides, then the language.
bool slashMonthFirst(const std::vector<Token>& tokens) {
  for (std::size_t at = 0; at + 2 < tokens.size(); ++at) {
    const Token& first = tokens[at];
    const Token& mark = tokens[at + 1];
    const Token& second = tokens[at + 2];
    if (first.type != Token::Type::kNumber || mark.text != "/" || mark.spaced) continue;
    if (second.type != Token::Type::kNumber || second.spaced) continue;
    if (first.text.size() > 2 || second.text.size() > 2) continue;
    if (numberValue(second.text) > 12) return true;
    if (numberValue(first.text) > 12) return false;
  }
  return looksEnglish(tokens);
}

// Checks a read date against arrival_day (see the header); a date without a year gets one.
std::optional<LocalDate> acceptDate(const ParsedDate& parsed, LocalDate arrival_day) {
  using namespace std::chrono;
  const sys_days arrival{
      year_month_day{year{arrival_day.year}, month{arrival_day.month}, day{arrival_day.day}}};
  year_month_day date{year{parsed.year != 0 ? parsed.year : arrival_day.year}, month{parsed.month},
                      day{parsed.day}};
  if (parsed.year == 0 && date.ok() && sys_days{date} < arrival) date += years{1};
  if (!date.ok()) return std::nullopt;
  const sys_days when{date};
  if (when < arrival || when - arrival > days{kReturnDateDaysMax}) return std::nullopt;
  return LocalDate{static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                   static_cast<unsigned>(date.day())};
}

bool isCue(const Token& token) {
  return token.type == Token::Type::kWord && contains(kCueWords, token.text);
}

std::size_t skipFillers(const std::vector<Token>& tokens, std::size_t at) {
  for (int skipped = 0; skipped < kFillersMax && at < tokens.size(); ++skipped) {
    const Token& token = tokens[at];
    bool filler = token.type == Token::Type::kWord ? contains(kFillerWords, token.text)
                                                   : token.type == Token::Type::kMark &&
                                                         (token.text == "," || token.text == ":" ||
                                                          token.text == "'" || token.text == "(");
    if (!filler) break;
    ++at;
  }
  return at;
}

}  // namespace

std::optional<LocalDate> findReturnDate(std::string_view text, LocalDate arrival_day) {
  const std::string folded = foldForMatching(text.substr(0, kReturnDateTextBytesMax));
  const std::vector<Token> tokens = tokenize(folded);
  const DateReader reader(tokens, slashMonthFirst(tokens));
  for (std::size_t at = 0; at < tokens.size(); ++at) {
    if (isCue(tokens[at])) {
      if (auto date = reader.readAt(skipFillers(tokens, at + 1))) {
        if (auto accepted = acceptDate(*date, arrival_day)) return accepted;
      }
      continue;
    }
    // A range whose connector is not a cue: "20.12.2026 - 05.01.2027", "de 20 a 5 de janeiro".
    auto first = reader.readAt(at);
    if (!first || first->end >= tokens.size()) continue;
    const Token& connector = tokens[first->end];
    if (connector.text != "-" && connector.text != "a") continue;
    if (auto second = reader.readAt(first->end + 1)) {
      if (auto accepted = acceptDate(*second, arrival_day)) return accepted;
    }
  }
  return std::nullopt;
}

}  // namespace seqd
