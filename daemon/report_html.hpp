// The HTML page of `seqctl report SEQ --html FILE`: one self-contained document (inline CSS
// and SVG, no script, no font, no network) drawn from the daemon's `report` answer, the same
// JSON `seqctl --json report SEQ` prints.
//
// Sections: a funnel per step (sent, delivered, replied, meetings; bounced, not sent,
// unsubscribed beside), the A/B variants of each step side by side, each mailbox's sends per
// hour over the last day against its hourly limit (what the daemon's send governor keeps),
// and the contacts that need a person (bounced, not sent, waiting on a task).
//
// Every number shown is in an element with data-* attributes naming what it is, so a test can
// read the page back and compare it with the JSON:
//   data-step="S" data-count="sent"                    a step's count
//   data-step="S" data-variant="V" data-count="sent"   a variant's count
//   data-mailbox="M" data-count="sent|bounced|daily_limit|hourly_limit"
//   data-mailbox="M" data-hour="H" data-count="sent"   sends H hours back (0: the last hour)
//   data-total="sent"                                  the sequence's totals
//   data-attention="CONTACT" (a row), data-count="attention_total"
// Text from the store (names, reasons, contact keys) is escaped for HTML.
//
// Thread-safety: a pure function.
#pragma once

#include <boost/json.hpp>
#include <string>

namespace seqd {

// REQUIRES: `report` is a `report` command's result.
std::string renderReportHtml(const boost::json::object& report);

}  // namespace seqd
