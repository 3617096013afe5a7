// Return date: the day an out-of-office text says its writer is back, read in English,
// German, French, Spanish, Italian, Portuguese and Dutch.
//
// A date counts only right after a cue that says "back" or "until" in one of those languages
// ("back on", "return", "until", "through", "bis", "zurück", "jusqu'au", "de retour le",
// "hasta", "fino al", "rientro", "até", "tot", "terug", ...), after at most a few filler
// words ("on", "the", "zum", "le", "el", weekday names, ...), or as the second date of a range
// ("20.12.2026 - 05.01.2027", "du 20 décembre au 5 janvier"). A lone date is not taken: an
// out-of-office text often names the day it started too. The first cue followed by a date that
// passes the checks below wins.
//
// Date forms: ISO "2027-01-05"; day.month.year "05.01.2027", "5.1.27" and "05.01." (a trailing
// dot or a year is required, so "10.30" is not read as a date); day-month-year "04-01-2027";
// month names and their usual abbreviations in the seven languages, day first ("5 January",
// "5th of January 2027", "5. Januar", "1er janvier", "5 de enero de 2027") or month first
// ("January 5th, 2027", "Jan. 5").
//
// Slash dates ("1/5/2027") are ambiguous. The first slash date in the text that reads one way
// only decides for all of them (a second number over 12: month first; a first number over 12:
// day first); when none does, a text that reads as English (more English than other function
// words) is month first and any other day first.
//
// Checks: the date must exist; with a year it must be on or after arrival_day and at most
// kReturnDateDaysMax days later; without a year it is the next such date on or after
// arrival_day, with the same upper bound (so "29 February" may find nothing).
//
// Only the first kReturnDateTextBytesMax bytes of the text are read.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "engine/schedule.hpp"

namespace seqd {

inline constexpr std::size_t kReturnDateTextBytesMax = 64 * 1024;
inline constexpr int kReturnDateDaysMax = 366;

// REQUIRES: text is UTF-8 (repairUtf8 in io/mail_text.hpp); arrival_day is a valid date.
std::optional<LocalDate> findReturnDate(std::string_view text, LocalDate arrival_day);

}  // namespace seqd
