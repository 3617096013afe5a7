#include "daemon/report_html.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

namespace seqd {
namespace {

namespace json = boost::json;

// The counts a report has per step and per variant, in the order the page shows them.
constexpr std::string_view kCounts[] = {"sent",     "delivered",  "bounced",
                                        "replied",  "meetings",   "unsubscribed",
                                        "not_sent", "tasks_done", "tasks_skipped"};
// The funnel's bars: what came of the emails sent.
constexpr std::string_view kFunnel[] = {"sent", "delivered", "replied", "meetings"};
constexpr int kChartWidth = 720;
constexpr int kBarHeight = 18;

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const json::value& member(const json::object& object, std::string_view name) {
  static const json::value kNull;
  const json::value* value = object.if_contains(name);
  return value == nullptr ? kNull : *value;
}

std::string text(const json::value& value) {
  if (value.is_string()) return std::string(value.as_string());
  if (value.is_null()) return "";
  return json::serialize(value);
}

std::uint64_t number(const json::value& value) {
  if (value.is_uint64()) return value.as_uint64();
  if (value.is_int64() && value.as_int64() > 0) return static_cast<std::uint64_t>(value.as_int64());
  return 0;
}

const json::array& array(const json::object& object, std::string_view name) {
  static const json::array kEmpty;
  const json::value& value = member(object, name);
  return value.is_array() ? value.as_array() : kEmpty;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f%%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buffer;
}

// A table cell holding one count, with the attributes that name it.
std::string countCell(const std::string& attributes, std::string_view name, std::uint64_t value,
                      std::uint64_t sent) {
  std::string cell = "<td><span " + attributes + " data-count=\"" + std::string(name) + "\">" +
                     std::to_string(value) + "</span>";
  if (name != "sent" && name != "not_sent" && name.substr(0, 5) != "tasks" && sent > 0) {
    cell += " <small>" + percent(value, sent) + "</small>";
  }
  return cell + "</td>";
}

void appendCountsHeader(std::string& html, const char* first) {
  html += "<tr><th>";
  html += first;
  html += "</th>";
  for (std::string_view name : kCounts) html += "<th>" + std::string(name) + "</th>";
  html += "</tr>\n";
}

void appendFunnel(std::string& html, const json::object& step) {
  const std::string step_id = escape(text(member(step, "step")));
  const std::uint64_t sent = number(member(step, "sent"));
  const std::uint64_t widest = std::max<std::uint64_t>(sent, 1);
  const int rows = static_cast<int>(std::size(kFunnel));
  html += "<svg class=\"funnel\" width=\"" + std::to_string(kChartWidth) + "\" height=\"" +
          std::to_string(rows * (kBarHeight + 6)) + "\" role=\"img\" aria-label=\"funnel of " +
          step_id + "\">";
  int y = 0;
  for (std::string_view name : kFunnel) {
    const std::uint64_t value = number(member(step, name));
    const int width = static_cast<int>(static_cast<double>(value) / static_cast<double>(widest) *
                                       (kChartWidth - 260));
    html += "<text x=\"0\" y=\"" + std::to_string(y + 13) + "\">" + std::string(name) + "</text>";
    html += "<rect class=\"bar-" + std::string(name) + "\" x=\"110\" y=\"" + std::to_string(y) +
            "\" width=\"" + std::to_string(std::max(width, value > 0 ? 2 : 0)) + "\" height=\"" +
            std::to_string(kBarHeight) + "\"/>";
    html += "<text x=\"" + std::to_string(116 + width) + "\" y=\"" + std::to_string(y + 13) +
            "\">" + std::to_string(value) + (name == "sent" ? "" : " " + percent(value, sent)) +
            "</text>";
    y += kBarHeight + 6;
  }
  html += "</svg>\n";
}

void appendSteps(std::string& html, const json::object& report) {
  html += "<h2>Steps</h2>\n<table class=\"counts\">\n";
  appendCountsHeader(html, "step");
  for (const json::value& item : array(report, "steps")) {
    const json::object& step = item.as_object();
    const std::string step_id = escape(text(member(step, "step")));
    const std::uint64_t sent = number(member(step, "sent"));
    html +=
        "<tr><th>" + step_id + " <small>" + escape(text(member(step, "type"))) + "</small></th>";
    for (std::string_view name : kCounts) {
      html += countCell("data-step=\"" + step_id + "\"", name, number(member(step, name)), sent);
    }
    html += "</tr>\n";
  }
  const json::value& totals_value = member(report, "totals");
  if (totals_value.is_object()) {
    const json::object& totals = totals_value.as_object();
    const std::uint64_t sent = number(member(totals, "sent"));
    html += "<tr class=\"total\"><th>all steps</th>";
    for (std::string_view name : kCounts) {
      html += "<td><span data-total=\"" + std::string(name) + "\">" +
              std::to_string(number(member(totals, name))) + "</span>";
      if (name == "bounced" || name == "replied" || name == "delivered") {
        html += " <small>" + percent(number(member(totals, name)), sent) + "</small>";
      }
      html += "</td>";
    }
    html += "</tr>\n";
  }
  html += "</table>\n<h2>Funnel per step</h2>\n";
  for (const json::value& item : array(report, "steps")) {
    const json::object& step = item.as_object();
    html += "<h3>" + escape(text(member(step, "step"))) + "</h3>\n";
    appendFunnel(html, step);
  }
}

// Each step with variants: one column per variant, side by side, and a bar per variant of its
// reply rate.
void appendVariants(std::string& html, const json::object& report) {
  html += "<h2>A/B variants</h2>\n";
  bool any = false;
  for (const json::value& item : array(report, "steps")) {
    const json::object& step = item.as_object();
    const json::array& variants = array(step, "variants");
    if (variants.empty()) continue;
    any = true;
    const std::string step_id = escape(text(member(step, "step")));
    html += "<h3>" + step_id + "</h3>\n<table class=\"variants\"><tr><th></th>";
    for (const json::value& variant : variants) {
      html += "<th>variant " + escape(text(member(variant.as_object(), "variant"))) + "</th>";
    }
    html += "</tr>\n";
    for (std::string_view name : kCounts) {
      if (name == "not_sent" || name.substr(0, 5) == "tasks") continue;  // per step only
      html += "<tr><th>" + std::string(name) + "</th>";
      for (const json::value& value : variants) {
        const json::object& variant = value.as_object();
        html += countCell("data-step=\"" + step_id + "\" data-variant=\"" +
                              escape(text(member(variant, "variant"))) + "\"",
                          name, number(member(variant, name)), number(member(variant, "sent")));
      }
      html += "</tr>\n";
    }
    html += "</table>\n";
    const int width = 160;
    html += "<svg class=\"variant-bars\" width=\"" +
            std::to_string(static_cast<int>(variants.size()) * (width + 20)) +
            "\" height=\"140\" role=\"img\" aria-label=\"reply rate by variant\">";
    int x = 0;
    for (const json::value& value : variants) {
      const json::object& variant = value.as_object();
      const std::uint64_t sent = number(member(variant, "sent"));
      const std::uint64_t replied = number(member(variant, "replied"));
      const double rate =
          sent == 0 ? 0.0 : static_cast<double>(replied) / static_cast<double>(sent);
      const int height = static_cast<int>(rate * 100);
      html += "<rect class=\"bar-replied\" x=\"" + std::to_string(x + 40) + "\" y=\"" +
              std::to_string(110 - height) + "\" width=\"60\" height=\"" + std::to_string(height) +
              "\"/>";
      html += "<text x=\"" + std::to_string(x + 40) + "\" y=\"128\">" +
              escape(text(member(variant, "variant"))) + ": " + percent(replied, sent) +
              " replied</text>";
      x += width + 20;
    }
    html += "</svg>\n";
  }
  if (!any) html += "<p>No step of this sequence has variants.</p>\n";
}

// Sends per hour over the last day, one bar per hour, with the hourly limit as a line.
void appendMailboxChart(std::string& html, const json::object& mailbox) {
  const json::array& hours = array(mailbox, "sent_by_hour");
  const std::string address = escape(text(member(mailbox, "mailbox")));
  const json::value& hourly = member(mailbox, "hourly_limit");
  std::uint64_t top = hourly.is_null() ? 1 : std::max<std::uint64_t>(number(hourly), 1);
  for (const json::value& count : hours) top = std::max(top, number(count));
  const int height = 120;
  const int bar = 24;
  html += "<svg class=\"usage\" width=\"" +
          std::to_string(static_cast<int>(hours.size()) * bar + 60) + "\" height=\"" +
          std::to_string(height + 30) + "\" role=\"img\" aria-label=\"sends per hour of " +
          address + "\">";
  int x = 40;
  for (std::size_t i = 0; i < hours.size(); ++i) {
    const std::uint64_t sent = number(hours[i]);
    const int bar_height =
        static_cast<int>(static_cast<double>(sent) / static_cast<double>(top) * height);
    const std::size_t hours_back = hours.size() - 1 - i;
    html += "<rect class=\"bar-sent\" data-mailbox=\"" + address + "\" data-hour=\"" +
            std::to_string(hours_back) + "\" data-count=\"sent\" data-value=\"" +
            std::to_string(sent) + "\" x=\"" + std::to_string(x) + "\" y=\"" +
            std::to_string(height - bar_height) + "\" width=\"" + std::to_string(bar - 4) +
            "\" height=\"" + std::to_string(bar_height) + "\"><title>" + std::to_string(sent) +
            " sent, " + std::to_string(hours_back) + " h ago</title></rect>";
    x += bar;
  }
  if (!hourly.is_null()) {
    const int y = height - static_cast<int>(static_cast<double>(number(hourly)) /
                                            static_cast<double>(top) * height);
    html += "<line class=\"limit\" x1=\"36\" x2=\"" + std::to_string(x) + "\" y1=\"" +
            std::to_string(y) + "\" y2=\"" + std::to_string(y) + "\"/>";
    html += "<text x=\"0\" y=\"" + std::to_string(std::max(y, 10)) + "\">" +
            std::to_string(number(hourly)) + "/h</text>";
  }
  html += "<text x=\"40\" y=\"" + std::to_string(height + 20) + "\">24 h ago</text><text x=\"" +
          std::to_string(x - 40) + "\" y=\"" + std::to_string(height + 20) +
          "\">now</text></svg>\n";
}

void appendMailboxes(std::string& html, const json::object& report) {
  html +=
      "<h2>Mailboxes</h2>\n<p>Sent and bounced count this sequence's emails, ever. The "
      "chart shows every send of the mailbox (all sequences) per hour over the last " +
      std::to_string(number(member(report, "hours"))) +
      " hours, the span the daemon keeps, against its hourly limit.</p>\n"
      "<table class=\"mailboxes\"><tr><th>mailbox</th><th>sent</th><th>bounced</th>"
      "<th>last 24 h</th><th>daily_limit</th><th>hourly_limit</th></tr>\n";
  for (const json::value& item : array(report, "mailboxes")) {
    const json::object& mailbox = item.as_object();
    const std::string address = escape(text(member(mailbox, "mailbox")));
    std::uint64_t day = 0;
    for (const json::value& count : array(mailbox, "sent_by_hour")) day += number(count);
    const std::string attributes = "data-mailbox=\"" + address + "\"";
    html += "<tr><th>" + address + "</th>";
    html += "<td><span " + attributes + " data-count=\"sent\">" +
            std::to_string(number(member(mailbox, "sent"))) + "</span></td>";
    html += "<td><span " + attributes + " data-count=\"bounced\">" +
            std::to_string(number(member(mailbox, "bounced"))) + "</span></td>";
    html += "<td>" + std::to_string(day) + "</td>";
    for (std::string_view limit : {"daily_limit", "hourly_limit"}) {
      const json::value& value = member(mailbox, limit);
      html += "<td><span " + attributes + " data-count=\"" + std::string(limit) + "\">" +
              (value.is_null() ? std::string("-") : std::to_string(number(value))) + "</span></td>";
    }
    html += "</tr>\n";
  }
  html += "</table>\n";
  for (const json::value& item : array(report, "mailboxes")) {
    const json::object& mailbox = item.as_object();
    html += "<h3>" + escape(text(member(mailbox, "mailbox"))) + "</h3>\n";
    appendMailboxChart(html, mailbox);
  }
}

void appendAttention(std::string& html, const json::object& report) {
  const std::uint64_t total = number(member(report, "attention_total"));
  const json::array& rows = array(report, "attention");
  html += "<h2>Contacts that need attention: <span data-count=\"attention_total\">" +
          std::to_string(total) + "</span></h2>\n";
  if (rows.size() < total) {
    html += "<p>The first " + std::to_string(rows.size()) + " are listed.</p>\n";
  }
  if (rows.empty()) return;
  html +=
      "<table class=\"attention\"><tr><th>contact</th><th>email</th><th>status</th>"
      "<th>step</th><th>reason</th></tr>\n";
  for (const json::value& item : rows) {
    const json::object& row = item.as_object();
    html += "<tr data-attention=\"" + escape(text(member(row, "contact"))) + "\"><td>" +
            escape(text(member(row, "contact"))) + "</td><td>" +
            escape(text(member(row, "email"))) + "</td><td>" + escape(text(member(row, "status"))) +
            "</td><td>" + escape(text(member(row, "step"))) + "</td><td>" +
            escape(text(member(row, "reason"))) + "</td></tr>\n";
  }
  html += "</table>\n";
}

constexpr std::string_view kStyle = R"css(
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child { text-align: left; }
small { color: #666; }
svg text { font-size: 12px; fill: #222; }
.bar-sent { fill: #4a78c2; } .bar-delivered { fill: #5aa469; }
.bar-replied { fill: #e0a030; } .bar-meetings { fill: #b05fc0; }
.limit { stroke: #c03030; stroke-dasharray: 4 3; }
tr.total th, tr.total td { font-weight: bold; }
)css";

}  // namespace

std::string renderReportHtml(const json::object& report) {
  const std::string sequence = escape(text(member(report, "sequence")));
  const std::string name = escape(text(member(report, "name")));
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n<title>seqd report: " +
      sequence + "</title>\n<style>" + std::string(kStyle) + "</style></head>\n<body>\n";
  html += "<h1 id=\"sequence\" data-sequence=\"" + sequence + "\">" + sequence +
          (name.empty() ? "" : " <small>" + name + "</small>") + "</h1>\n";
  html += "<p>Generated at <time id=\"generated_at\">" +
          escape(text(member(report, "generated_at"))) + "</time> by seqctl report.</p>\n";
  appendSteps(html, report);
  appendVariants(html, report);
  appendMailboxes(html, report);
  appendAttention(html, report);
  html += "</body></html>\n";
  return html;
}

}  // namespace seqd
