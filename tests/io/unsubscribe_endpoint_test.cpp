// Proves the unsubscribe endpoint's answers: paths and methods that need no engine are
// answered at once (404, 405 with Allow); a GET of a good link changes nothing and shows a
// form that POSTs back; a POST unsubscribes and says so in one log line; a bad or forged
// token is 404 for both, changes nothing, and never appears in the log.
#include "io/unsubscribe_endpoint.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace seqd;

namespace {

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
const std::string kSecret = "endpoint-test-secret-0123456789";
const Caller kRoot{"root", true};

EngineSettings settings() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "alice";
  sequence.mailboxes = {"a@acme.test"};
  sequence.rules.finish_on = {"unsubscribe"};
  Step step;
  step.id = "hello";
  step.wait_ms = kDayMs;
  step.subject = "Hello";
  step.body = "Hi";
  sequence.steps.push_back(step);
  settings.sequences["s"] = sequence;
  Mailbox mailbox;
  mailbox.address = "a@acme.test";
  mailbox.daily_limit = 1000;
  mailbox.hourly_limit = 1000;
  settings.mailboxes.push_back(mailbox);
  settings.unsubscribe = {"https://acme.test/u/{token}", kSecret};
  return settings;
}

HttpRequest request(const std::string& method, const std::string& target) {
  return HttpRequest{method, target, "List-Unsubscribe=One-Click"};
}

std::string headerValue(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

struct Fixture {
  Engine engine{settings(), kStart};
  std::string token;
  Fixture() {
    ContactRow row;
    row.fields = {{"email", "bob@example.test"}, {"first_name", "Bob"}};
    engine.upsertContacts({row});
    REQUIRE(engine.activate("s", kRoot, kStart).isOk());
    REQUIRE(engine.add("s", {"bob@example.test"}, {}, kRoot, kStart).isOk());
    engine.takeBatch();
    token = makeUnsubscribeToken(kSecret, "bob@example.test", "s");
  }
};

}  // namespace

TEST_CASE("routing: /u/TOKEN by GET or POST goes to the engine; the rest is answered at once") {
  UnsubscribeRoute route = routeUnsubscribe(request("GET", "/u/abc.def.ghi"));
  CHECK_FALSE(route.answer.has_value());
  CHECK(route.call.token == "abc.def.ghi");
  CHECK_FALSE(route.call.confirm);
  route = routeUnsubscribe(request("POST", "/u/abc.def.ghi?utm=x"));
  CHECK_FALSE(route.answer.has_value());
  CHECK(route.call.token == "abc.def.ghi");
  CHECK(route.call.confirm);

  for (const char* target : {"/", "/u", "/u/", "/x/abc", "/u/a/b", "/u/a%2Eb", "/u/a b"}) {
    CAPTURE(target);
    route = routeUnsubscribe(request("POST", target));
    REQUIRE(route.answer.has_value());
    CHECK(route.answer->status == 404);
  }
  route =
      routeUnsubscribe(request("POST", "/u/" + std::string(kUnsubscribeTokenBytesMax + 1, 'a')));
  REQUIRE(route.answer.has_value());
  CHECK(route.answer->status == 404);

  for (const char* method : {"PUT", "DELETE", "HEAD", "OPTIONS", "get"}) {
    CAPTURE(method);
    route = routeUnsubscribe(request(method, "/u/abc"));
    REQUIRE(route.answer.has_value());
    CHECK(route.answer->status == 405);
    CHECK(headerValue(*route.answer, "Allow") == "GET, POST");
  }
}

TEST_CASE("GET of a good link changes nothing and shows a form that POSTs to the same URL") {
  Fixture fixture;
  UnsubscribeAnswer answer = answerUnsubscribe(fixture.engine, {fixture.token, false}, kStart);
  CHECK(answer.response.status == 200);
  CHECK(answer.response.content_type == "text/html; charset=utf-8");
  CHECK(answer.response.body.find("<form method=\"post\">") != std::string::npos);
  CHECK(answer.response.body.find("action=") == std::string::npos);  // posts to its own URL
  CHECK(answer.response.body.find("name=\"List-Unsubscribe\" value=\"One-Click\"") !=
        std::string::npos);
  CHECK(answer.log_line.empty());
  CHECK_FALSE(answer.refused);
  CHECK(fixture.engine.pendingRecords() == 0);
  CHECK_FALSE(fixture.engine.findContact("bob@example.test")->emailOptOut());
  CHECK(fixture.engine.findEnrollment("s", "bob@example.test")->status ==
        EnrollmentStatus::kScheduled);
}

TEST_CASE("POST of a good link unsubscribes, in one log line") {
  Fixture fixture;
  UnsubscribeAnswer answer = answerUnsubscribe(fixture.engine, {fixture.token, true}, kStart);
  CHECK(answer.response.status == 200);
  CHECK(answer.response.content_type == "text/plain; charset=utf-8");
  CHECK(answer.response.body == "You are unsubscribed.\n");
  CHECK_FALSE(answer.refused);
  CHECK(answer.log_line ==
        "unsubscribe link: contact bob@example.test opted out (link from sequence s); finished "
        "in s");
  CHECK(answer.log_line.find(fixture.token) == std::string::npos);
  CHECK(fixture.engine.findContact("bob@example.test")->emailOptOut());
  const Enrollment* enrollment = fixture.engine.findEnrollment("s", "bob@example.test");
  CHECK(enrollment->status == EnrollmentStatus::kFinished);
  CHECK(enrollment->finish_reason == "unsubscribed");

  answer = answerUnsubscribe(fixture.engine, {fixture.token, true}, kStart + kMinuteMs);
  CHECK(answer.response.status == 200);
  CHECK(answer.log_line.ends_with("; no sequence finished"));
}

TEST_CASE("a bad or forged token is 404 for GET and POST and changes nothing") {
  Fixture fixture;
  std::string forged = fixture.token;
  forged.back() = forged.back() == 'A' ? 'Q' : 'A';
  for (const std::string& token :
       {forged, makeUnsubscribeToken("another-secret-0123456789", "bob@example.test", "s"),
        std::string("not.a.token")}) {
    for (bool confirm : {false, true}) {
      CAPTURE(token);
      CAPTURE(confirm);
      UnsubscribeAnswer answer = answerUnsubscribe(fixture.engine, {token, confirm}, kStart);
      CHECK(answer.response.status == 404);
      CHECK(answer.refused);
      CHECK(answer.log_line ==
            (confirm ? "unsubscribe link refused: not a valid unsubscribe link" : ""));
    }
  }
  CHECK(fixture.engine.pendingRecords() == 0);
  CHECK_FALSE(fixture.engine.findContact("bob@example.test")->emailOptOut());
}
