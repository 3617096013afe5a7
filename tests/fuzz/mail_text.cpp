// Fuzz target: the text transforms inbound mail is read through (io/mail_text: repairUtf8,
// foldForMatching, htmlToText) and the return-date reader (io/return_date: findReturnDate).
// The input's first byte picks the arrival day (one of 256 days from 2026-01-01, so leap
// years and year ends come up); the rest is the text.
// Checked: repairUtf8 gives UTF-8 without NUL bytes and leaves valid UTF-8 without NULs as it
// is; foldForMatching and htmlToText keep UTF-8 UTF-8; a return date exists, is on or after
// the arrival day and at most kReturnDateDaysMax days later.
#include "io/mail_text.hpp"

#include <date/date.h>

#include <string>

#include "engine/utf8.hpp"
#include "fuzz_input.hpp"
#include "io/return_date.hpp"

using namespace seqd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = fuzz::asText(data, size);
  const date::sys_days arrival =
      date::sys_days(date::year(2026) / 1 / 1) + date::days(3 * fuzz::takeChoice(input, 256));
  const date::year_month_day arrival_day(arrival);

  const std::string repaired = repairUtf8(input);
  FUZZ_CHECK(isUtf8(repaired));
  FUZZ_CHECK(repaired.find('\0') == std::string::npos);
  if (isUtf8(input) && input.find('\0') == std::string_view::npos) FUZZ_CHECK(repaired == input);
  FUZZ_CHECK(isUtf8(foldForMatching(repaired)));
  FUZZ_CHECK(isUtf8(htmlToText(repaired)));

  const LocalDate day{static_cast<int>(arrival_day.year()),
                      static_cast<unsigned>(arrival_day.month()),
                      static_cast<unsigned>(arrival_day.day())};
  std::optional<LocalDate> back = findReturnDate(repaired, day);
  if (!back.has_value()) return 0;
  const date::year_month_day found(date::year(back->year), date::month(back->month),
                                   date::day(back->day));
  FUZZ_CHECK(found.ok());
  const auto days = (date::sys_days(found) - arrival).count();
  FUZZ_CHECK(days >= 0 && days <= kReturnDateDaysMax);
  return 0;
}
