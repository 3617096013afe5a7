// Fuzz target: control requests as the daemon reads them (io/control_protocol parseRequest,
// then io/command_dispatch with the checks of io/request_checks) against an Engine holding one
// sequence and a few contacts. The input's first byte picks the caller ('0' alice, '1' bob,
// '2' root, the admin); each following line (at most kLinesMax) is one request frame, applied
// in order to the same Engine, so an import can be followed by an add, a pause, a status.
// Afterwards virtual time runs three days and every email released is rendered.
//
// Checked on every frame: the reply serializes to JSON a strict parser reads back; what the
// request changed encodes for the store and decodes back equal (io/record_codec), with every
// contact key within LMDB's 511 bytes. Engine invariants assert on their own.
#include "io/control_protocol.hpp"

#include <boost/json.hpp>
#include <string>

#include "engine/engine.hpp"
#include "engine/render.hpp"
#include "fuzz_input.hpp"
#include "io/command_dispatch.hpp"
#include "io/record_codec.hpp"
#include "io/request_checks.hpp"

using namespace seqd;
namespace json = boost::json;

namespace {

constexpr std::size_t kLinesMax = 32;
const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z

EngineSettings settings() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "s";
  sequence.owner = "alice";
  sequence.mailboxes = {"a@acme.test", "b@acme.test"};
  sequence.rules.finish_on = {"reply", "meeting_booked", "unsubscribe"};
  sequence.rules.block_stages = {"disqualified"};
  Step intro;
  intro.id = "intro";
  intro.subject = "Hello {{first_name|there}}";
  intro.body = "Hi {{first_name|there}} at {{company}},\nquick question.\n";
  intro.variants = {{"a", 50, "", ""}, {"b", 50, "Hey {{first_name}}", ""}};
  Step bump = intro;
  bump.id = "bump";
  bump.wait_ms = kDayMs;
  bump.thread_previous = true;
  bump.subject.clear();
  bump.variants.clear();
  Step call;
  call.id = "call";
  call.type = StepType::kCall;
  call.wait_ms = kDayMs;
  call.note = "Call {{first_name}}";
  sequence.steps = {intro, bump, call};
  settings.sequences["s"] = sequence;
  for (const char* address : {"a@acme.test", "b@acme.test"}) {
    Mailbox mailbox;
    mailbox.address = address;
    mailbox.name = "Alice Smith";
    mailbox.owner = "alice";
    mailbox.daily_limit = 1000;
    mailbox.hourly_limit = 1000;
    settings.mailboxes.push_back(mailbox);
  }
  settings.unsubscribe.url_template = "https://acme.test/u/{token}";
  settings.unsubscribe.secret = "0123456789abcdef0123456789abcdef";
  return settings;
}

void checkStored(Engine& engine) {
  WriteBatch batch = engine.takeBatch();
  std::string encoded;
  for (const ContactRef& contact : batch.contacts) {
    FUZZ_CHECK(!contact->key().empty() && contact->key().size() <= kContactKeyBytesMax);
    FUZZ_CHECK(encodeContact(*contact, encoded).isOk());
    Contact decoded;
    FUZZ_CHECK(decodeContact(contact->key(), encoded, decoded).isOk());
    FUZZ_CHECK(sameContact(contact->unpack(), decoded));
  }
  for (const EnrollmentRecord& enrollment : batch.enrollments) {
    FUZZ_CHECK(encodeEnrollment(enrollment, encoded).isOk());
  }
  for (const ProgressRecord& record : batch.progress) {
    FUZZ_CHECK(encodeProgress(record, encoded).isOk());
  }
  for (const Task& task : batch.tasks) FUZZ_CHECK(encodeTask(task, encoded).isOk());
  engine.afterCommit(std::move(batch));
}

void checkJson(const json::object& reply) {
  std::string frame = toFrame(reply);
  FUZZ_CHECK(!frame.empty() && frame.back() == '\n');
  frame.pop_back();
  FUZZ_CHECK(frame.find('\n') == std::string::npos);
  boost::system::error_code error;
  json::parse(frame, error);
  FUZZ_CHECK(!error);
}

void apply(Engine& engine, std::string_view line, const Caller& caller) {
  RequestParse request = parseRequest(line);
  if (!request.error.empty()) {
    checkJson(makeErrorReply(request.id, "bad_request", request.error));
    return;
  }
  FUZZ_CHECK(!request.cmd.empty());
  DispatchReply reply = dispatchCommand(engine, request.cmd, request.args, caller, kStart);
  if (reply.ok) {
    checkJson(makeOkReply(request.id, reply.result));
  } else {
    FUZZ_CHECK(!reply.error_code.empty());
    checkJson(makeErrorReply(request.id, reply.error_code, reply.error_message));
  }
  checkStored(engine);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Caller kCallers[] = {{"alice", false}, {"bob", false}, {"root", true}};
  std::string_view input = fuzz::asText(data, size);
  const Caller& caller = kCallers[fuzz::takeChoice(input, 3)];
  Engine engine(settings(), kStart);
  for (std::size_t lines = 0; !input.empty() && lines < kLinesMax; ++lines) {
    std::size_t end = input.find('\n');
    apply(engine, input.substr(0, end), caller);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
  }
  for (TimeMs now = kStart; now <= kStart + 3 * kDayMs; now += 6 * kHourMs) {
    engine.advanceTo(now);
    for (const DeliveryIntent& intent : engine.takeIntents()) {
      std::string message = renderMessage(intent, "\r\n");
      FUZZ_CHECK(message.find("\r\n\r\n") != std::string::npos);
      engine.onDeliveryResult(
          {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
          now);
    }
    checkStored(engine);
  }
  return 0;
}
