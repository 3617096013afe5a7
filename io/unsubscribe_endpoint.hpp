// Unsubscribe endpoint: what the HTTP listener (io/http_server.hpp) does with a request for a
// one-click unsubscribe link (RFC 8058; SPEC §2.1 http_listen, §3 rules 7 and 9).
//
//   request                     answer
//   POST /u/TOKEN, good token   the contact's unsubscribe event (email_opt_out, finished in
//                               every sequence whose finish_on lists unsubscribe), committed,
//                               then 200 "You are unsubscribed." Any body is accepted (RFC 8058
//                               clients send List-Unsubscribe=One-Click). Repeating is harmless.
//   GET /u/TOKEN, good token    changes nothing: mail scanners and link previews fetch links
//                               on their own. 200 with a small page whose button POSTs the
//                               same URL, so a person who clicks the link confirms.
//   a bad or forged token       404; nothing changes
//   /u/TOKEN, another method    405 with Allow: GET, POST
//   any other path              404
//
// Two halves, because a token can only be judged by the engine, which alone holds the secret:
// routeUnsubscribe() runs on the Asio thread and answers what needs no engine;
// answerUnsubscribe() runs on the engine thread, whose caller commits before it sends the
// answer (the commit-then-acknowledge order of daemon/runtime.hpp).
//
// A refused token gets the same 404 whatever was wrong with it, and the log never holds a
// token (it is the contact's key to unsubscribing) nor the secret.
//
// Thread-safety: routeUnsubscribe is pure; answerUnsubscribe mutates the Engine (engine
// thread only).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.hpp"
#include "engine/time.hpp"
#include "io/http_server.hpp"

namespace seqd {

inline constexpr std::string_view kUnsubscribePathPrefix = "/u/";

// A request the engine must judge: the token from the path, and whether it is a POST.
struct UnsubscribeCall {
  std::string token;
  bool confirm = false;
};

// Either an answer given at once (404, 405) or a call for the engine thread.
struct UnsubscribeRoute {
  std::optional<HttpResponse> answer;
  UnsubscribeCall call;  // when !answer
};
UnsubscribeRoute routeUnsubscribe(const HttpRequest& request);

struct UnsubscribeAnswer {
  HttpResponse response;
  // One line for the log: every POST (applied or refused); empty for a GET.
  std::string log_line;
  bool refused = false;  // the token was not good
};
// REQUIRES: on the engine thread; commit the engine's batch before sending the response.
UnsubscribeAnswer answerUnsubscribe(Engine& engine, const UnsubscribeCall& call, TimeMs now_ms);

}  // namespace seqd
