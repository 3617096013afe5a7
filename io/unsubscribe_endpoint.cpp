#include "io/unsubscribe_endpoint.hpp"

#include <algorithm>

#include "engine/unsubscribe_token.hpp"

namespace seqd {
namespace {

constexpr std::string_view kConfirmPage =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"robots\" content=\"noindex\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>Unsubscribe</title></head>\n"
    "<body><form method=\"post\">"
    "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
    "<p>Stop receiving these emails?</p>"
    "<button type=\"submit\">Unsubscribe</button></form></body></html>\n";

bool isTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

HttpResponse textResponse(int status, std::string_view text) {
  HttpResponse response;
  response.status = status;
  response.body = std::string(text) + "\n";
  return response;
}

HttpResponse notFound() { return textResponse(404, "This unsubscribe link is not valid."); }

HttpResponse confirmPage() {
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.headers = {
      {"Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'"},
      {"Referrer-Policy", "no-referrer"}};
  response.body = std::string(kConfirmPage);
  return response;
}

std::string changedList(const EventResult& result) {
  if (result.changed.empty()) return "no sequence finished";
  std::string list = "finished in";
  for (std::size_t i = 0; i < result.changed.size(); ++i) {
    list += (i == 0 ? " " : ", ") + result.changed[i].first;
  }
  return list;
}

}  // namespace

UnsubscribeRoute routeUnsubscribe(const HttpRequest& request) {
  UnsubscribeRoute route;
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (!path.starts_with(kUnsubscribePathPrefix)) {
    route.answer = textResponse(404, "Not found.");
    return route;
  }
  std::string_view token = path.substr(kUnsubscribePathPrefix.size());
  if (token.empty() || token.size() > kUnsubscribeTokenBytesMax ||
      !std::all_of(token.begin(), token.end(), isTokenChar)) {
    route.answer = notFound();
    return route;
  }
  if (request.method != "GET" && request.method != "POST") {
    route.answer = textResponse(405, "Use GET to see this page or POST to unsubscribe.");
    route.answer->headers.emplace_back("Allow", "GET, POST");
    return route;
  }
  route.call.token = std::string(token);
  route.call.confirm = request.method == "POST";
  return route;
}

UnsubscribeAnswer answerUnsubscribe(Engine& engine, const UnsubscribeCall& call, TimeMs now_ms) {
  UnsubscribeAnswer answer;
  Result<UnsubscribeTarget> target = engine.checkUnsubscribeToken(call.token);
  if (target.isOk() && call.confirm) {
    Result<EventResult> result = engine.unsubscribeByToken(call.token, now_ms);
    if (result.isOk()) {
      answer.response = textResponse(200, "You are unsubscribed.");
      answer.log_line = "unsubscribe link: contact " + result.value().contact +
                        " opted out (link from sequence " + target.value().sequence_id + "); " +
                        changedList(result.value());
      return answer;
    }
    target = result.status();
  }
  if (!target.isOk()) {
    answer.refused = true;
    answer.response = notFound();
    if (call.confirm) answer.log_line = "unsubscribe link refused: " + target.status().message();
    return answer;
  }
  answer.response = confirmPage();
  return answer;
}

}  // namespace seqd
