// Fuzz target: inbound mail classification (io/inbound_mail, GMime 3): any bytes as a message
// that arrived in a sending mailbox's inbox. Checked: classifyInboundMail returns (never
// throws, aborts or reads out of bounds; ASan and UBSan watch); every text it hands back is
// valid UTF-8; ids are in "<...>" form; a return date is only read for an auto-reply, on or
// after the arrival day and at most kReturnDateDaysMax days later; bounces and delays only
// carry a status or recipient.
#include "io/inbound_mail.hpp"

#include <date/date.h>

#include <string>

#include "engine/utf8.hpp"
#include "fuzz_input.hpp"
#include "io/return_date.hpp"

using namespace seqd;

namespace {

const TimeMs kArrivalMs = 1796133600000;  // 2026-12-01T14:00:00Z

date::sys_days daysOf(const LocalDate& day) {
  return date::sys_days(date::year(day.year) / date::month(day.month) / date::day(day.day));
}

bool isMessageId(const std::string& id) {
  return id.size() >= 2 && id.front() == '<' && id.back() == '>';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool initialized = [] {
    initInboundMailParser();
    return true;
  }();
  FUZZ_CHECK(initialized);
  const InboundMail mail = classifyInboundMail(fuzz::asText(data, size), kArrivalMs);
  FUZZ_CHECK(std::string(inboundKindName(mail.kind)).size() > 0);
  for (const std::string* text : {&mail.message_id, &mail.from_address, &mail.subject, &mail.status,
                                  &mail.recipient, &mail.why}) {
    FUZZ_CHECK(isUtf8(*text));
  }
  if (!mail.message_id.empty()) FUZZ_CHECK(isMessageId(mail.message_id));
  FUZZ_CHECK(mail.referenced_ids.size() <= kInboundMailReferencesMax);
  for (const std::string& id : mail.referenced_ids) FUZZ_CHECK(isMessageId(id) && isUtf8(id));
  for (const std::string& id : mail.original_ids) FUZZ_CHECK(isMessageId(id) && isUtf8(id));
  const bool bounce_or_delay =
      mail.kind == InboundMail::Kind::kBounce || mail.kind == InboundMail::Kind::kDelay;
  if (!bounce_or_delay) FUZZ_CHECK(mail.status.empty() && mail.recipient.empty());
  if (mail.return_date.has_value()) {
    FUZZ_CHECK(mail.kind == InboundMail::Kind::kAutoReply);
    const date::sys_days arrival = date::floor<date::days>(
        date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(kArrivalMs)));
    const auto days = (daysOf(*mail.return_date) - arrival).count();
    FUZZ_CHECK(days >= 0 && days <= kReturnDateDaysMax);
  }
  return 0;
}
