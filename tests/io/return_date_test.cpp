// Proves the out-of-office date reader takes the first date after a "back"/"until" cue in each
// of the seven languages and in each written form, and refuses impossible, past, too distant
// and cue-less dates.
#include "io/return_date.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using namespace seqd;

namespace {

constexpr LocalDate kArrival{2026, 12, 21};

std::string read(const std::string& text, LocalDate arrival = kArrival) {
  std::optional<LocalDate> date = findReturnDate(text, arrival);
  if (!date) return "-";
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", date->year, date->month, date->day);
  return out;
}

}  // namespace

TEST_CASE("English forms") {
  CHECK(read("I will be back on January 5.") == "2027-01-05");
  CHECK(read("I will return on 5 January 2027.") == "2027-01-05");
  CHECK(read("Out until January 5th, 2027.") == "2027-01-05");
  CHECK(read("Out until Jan. 5") == "2027-01-05");
  CHECK(read("I'm away through the 5th of January") == "2027-01-05");
  CHECK(read("Back in the office on Monday, January 11th") == "2027-01-11");
  CHECK(read("Returning 2027-01-04") == "2027-01-04");
  CHECK(read("Away till 05.01.2027") == "2027-01-05");
}

TEST_CASE("German, French, Spanish, Italian, Portuguese, Dutch") {
  CHECK(read("Ich bin bis 05.01.2027 nicht im Büro.") == "2027-01-05");
  CHECK(read("Ich bin bis zum 5. Januar nicht erreichbar.") == "2027-01-05");
  CHECK(read("Abwesend bis einschließlich Montag, 4. Jänner") == "2027-01-04");
  CHECK(read("Ab dem 7. Januar bin ich wieder da.") == "2027-01-07");
  CHECK(read("Je suis absent jusqu'au 5 janvier.") == "2027-01-05");
  CHECK(read("Je suis absente jusqu’au 1er janvier 2027 inclus.") == "2027-01-01");
  CHECK(read("Je serai de retour le 5 janvier.") == "2027-01-05");
  CHECK(read("du 20 décembre au 6 janvier") == "2027-01-06");
  CHECK(read("Estaré fuera hasta el 5 de enero.") == "2027-01-05");
  CHECK(read("Hasta el lunes 4 de enero de 2027") == "2027-01-04");
  CHECK(read("Sarò fuori ufficio fino al 5 gennaio.") == "2027-01-05");
  CHECK(read("Rientro il 7 gennaio 2027") == "2027-01-07");
  CHECK(read("Estarei ausente até 5 de janeiro.") == "2027-01-05");
  CHECK(read("Retorno em 1º de fevereiro") == "2027-02-01");
  CHECK(read("Ik ben afwezig tot 5 januari.") == "2027-01-05");
  CHECK(read("Ik ben er niet tot en met 04-01-2027.") == "2027-01-04");
  CHECK(read("Vanaf 6 jan. ben ik weer aanwezig.") == "2027-01-06");
}

TEST_CASE("slash dates: month first in English text, day first elsewhere, unless one says") {
  CHECK(read("I'm out of the office until 1/5/2027 with limited access.") == "2027-01-05");
  CHECK(read("Sono in ferie, rientro il 12/01/2027.") == "2027-01-12");
  CHECK(read("Je suis absent jusqu'au 5/1/2027.") == "2027-01-05");
  // 25/12 can only be day first, so 2/1 in the same text is 2 January.
  CHECK(read("Away 25/12/2026 and back on 2/1/2027 with the family.") == "2027-01-02");
  // 12/28 can only be month first.
  CHECK(read("Out 12/28/2026 and back on 1/4/2027") == "2027-01-04");
}

TEST_CASE("ranges: the second date") {
  CHECK(read("Out of office 20.12.2026 - 05.01.2027") == "2027-01-05");
  CHECK(read("On leave 2026-12-18 – 2027-01-04.") == "2027-01-04");
  CHECK(read("I am on leave from December 18 to January 4.") == "2027-01-04");
}

TEST_CASE("a date without a year is the next one on or after the arrival day") {
  CHECK(read("back on December 21") == "2026-12-21");
  CHECK(read("back on December 20") == "2027-12-20");  // 364 days on: still within the bound
  CHECK(read("back on March 1", LocalDate{2027, 3, 2}) == "2028-03-01");
  CHECK(read("back on 1 March", LocalDate{2027, 2, 27}) == "2027-03-01");
  CHECK(read("back on 29 February", LocalDate{2027, 1, 10}) == "-");
  CHECK(read("back on 29 February", LocalDate{2028, 1, 10}) == "2028-02-29");
}

TEST_CASE("impossible, past, distant and cue-less dates are skipped; the first good one wins") {
  CHECK(read("until 31.02.2027") == "-");
  CHECK(read("until 1 December 2026") == "-");
  CHECK(read("until 2028-01-01") == "-");
  CHECK(read("I was away until 1 December 2026, now out until 31.02.2027, back on 8 January") ==
        "2027-01-08");
  CHECK(read("Happy new year! 2027-01-05 is my first day.") == "-");
  CHECK(read("Meeting on January 5 at 10.30") == "-");
  CHECK(read("until 10.30") == "-");       // a time, not a date
  CHECK(read("until 5 pm today") == "-");  // no month
  CHECK(read("back on Monday") == "-");
  CHECK(read("") == "-");
}

TEST_CASE("HTML leftovers, accents and odd spacing do not get in the way") {
  CHECK(read("BIS   ZUM\n5.\u00a0Januar") == "2027-01-05");
  CHECK(read("JUSQU’AU 5 JANVIER") == "2027-01-05");
  CHECK(read("hasta el 5 de ENERO") == "2027-01-05");
}

TEST_CASE("only the first kReturnDateTextBytesMax bytes are read") {
  std::string text(kReturnDateTextBytesMax, ' ');
  text += "back on January 5";
  CHECK(read(text) == "-");
}
