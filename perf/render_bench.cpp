// render_bench: messages per second one delivery worker renders (engine/render.hpp), and the
// heap allocations each takes, for a typical ~630-byte email.
//
// Usage: render_bench [MESSAGES [PASSES]]   (default 10000 intents, 20 passes over them)
// A three-email sequence like engine_bench's with a threaded third step; the intents come out
// of a real Engine. It runs twice: with List-Unsubscribe's mailto: only (a ~630-byte message),
// and with the HTTPS one-click link too, whose signed token (HMAC-SHA256) is then most of the
// cost. Three ways are timed over the same intents:
//   worker         one MessageRenderer, reused as a worker reuses it (what delivery costs)
//   fresh          renderMessage(): a new renderer per message (what the tests call)
//   engine, before the way the engine thread rendered before rendering moved to the workers:
//                  renderTemplate() for subject and body, then buildMessage() on the parts
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "engine/delivery.hpp"
#include "engine/engine.hpp"
#include "engine/message.hpp"
#include "engine/render.hpp"
#include "engine/template.hpp"

using namespace seqd;

namespace {

std::size_t allocations = 0;  // operator new calls; the bench is single-threaded

const TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z

EngineSettings benchSettings(bool one_click) {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "bench";
  sequence.owner = "root";
  sequence.mailboxes = {"alice@acme.test"};
  const char* ids[] = {"intro", "bump", "breakup"};
  for (int i = 0; i < 3; ++i) {
    Step step;
    step.id = ids[i];
    step.wait_ms = i == 0 ? 0 : kHourMs;
    step.subject = i == 2 ? "" : "Quick question, {{first_name}}";
    step.thread_previous = i == 2;
    step.body =
        "Hi {{first_name|there}},\n\nTeams like {{company|yours}} usually lose a day a week to "
        "manual follow-ups.\nWe automate them end to end. Worth a 15-minute call next week?\n\n"
        "Alice\n";
    sequence.steps.push_back(step);
  }
  settings.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "alice@acme.test";
  mailbox.name = "Alice Example";
  mailbox.daily_limit = 1000000000;
  mailbox.hourly_limit = 1000000000;
  mailbox.transport = Transport::kDiscard;
  settings.mailboxes = {mailbox};
  if (one_click) {
    settings.unsubscribe.url_template = "https://acme.test/u/{token}";
    settings.unsubscribe.secret = "0123456789abcdef0123456789abcdef";
  }
  return settings;
}

// count intents of the three steps, as a worker receives them.
std::vector<DeliveryIntent> makeIntents(Engine& engine, std::size_t count) {
  std::vector<ContactRow> rows;
  for (std::size_t i = 0; i < (count + 2) / 3; ++i) {
    ContactRow row;
    row.fields = {{"email", "prospect" + std::to_string(i) + "@example.test"},
                  {"first_name", "Pat" + std::to_string(i)},
                  {"last_name", "Jones"},
                  {"company", "Company " + std::to_string(i % 997)}};
    rows.push_back(std::move(row));
  }
  ImportResult imported = engine.upsertContacts(rows);
  Caller admin{"root", true};
  engine.add("bench", imported.keys, {}, admin, kStart);
  engine.activate("bench", admin, kStart);
  std::vector<DeliveryIntent> intents;
  for (TimeMs now = kStart; now <= kStart + 3 * kHourMs && intents.size() < count;
       now += kMinuteMs) {
    for (;;) {
      engine.advanceTo(now);
      std::vector<DeliveryIntent> released = engine.takeIntents();
      if (released.empty()) break;
      for (DeliveryIntent& intent : released) {
        engine.onDeliveryResult(
            {intent.enrollment_id, intent.step_index, intent.send, DeliveryOutcome::kDelivered, ""},
            now);
        if (intents.size() < count) intents.push_back(std::move(intent));
      }
      engine.takeBatch();
    }
  }
  return intents;
}

// The engine thread's rendering before it moved (kept for comparison only).
std::string renderBefore(const EngineSettings& settings, const DeliveryIntent& intent) {
  const Sequence& sequence = settings.sequences.begin()->second;
  const Step& step = sequence.steps[intent.step_index];
  // The engine held a Contact then; unpacking it adds a few allocations to this side.
  const Contact contact = intent.contact->unpack();
  FieldLookup lookup = [&contact](std::string_view name) { return contact.field(name); };
  MessageParts parts;
  parts.subject = renderTemplate(step.subject, lookup).text;
  parts.body = renderTemplate(step.body, lookup).text;
  if (step.thread_previous) {
    const Step& previous = sequence.steps[intent.step_index - 1];
    parts.in_reply_to = makeMessageId(sequence.id, previous.id, contact.key, intent.mailbox());
    parts.references = parts.in_reply_to;
    if (parts.subject.empty()) {
      parts.subject = "Re: " + renderTemplate(previous.subject, lookup).text;
      renderTemplate(previous.body, lookup);  // it had to render for the "Re: " subject
    }
  }
  const Mailbox& mailbox = settings.mailboxes.front();
  parts.from_name = mailbox.name;
  parts.from_address = mailbox.address;
  parts.to_name = contact.first_name + " " + contact.last_name;
  parts.to_address = contact.email;
  parts.date_ms = intent.fired_at_ms;
  parts.message_id = makeMessageId(sequence.id, step.id, contact.key, mailbox.address);
  parts.list_unsubscribe = "<mailto:" + mailbox.address + "?subject=unsubscribe>";
  if (!settings.unsubscribe.secret.empty()) {
    std::string token = makeUnsubscribeToken(settings.unsubscribe.secret, contact.key, sequence.id);
    parts.list_unsubscribe = "<" + unsubscribeUrl(settings.unsubscribe.url_template, token) +
                             ">, " + parts.list_unsubscribe;
    parts.list_unsubscribe_one_click = true;
  }
  parts.sequence_id = sequence.id;
  parts.step_id = step.id;
  parts.contact_key = contact.key;
  return buildMessage(parts, "\n");
}

template <typename Render>
void timeIt(const char* label, const std::vector<DeliveryIntent>& intents, int passes,
            Render render) {
  std::size_t bytes = 0;
  const std::size_t allocations_before = allocations;
  auto started = std::chrono::steady_clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    for (const DeliveryIntent& intent : intents) bytes += render(intent);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double messages = static_cast<double>(intents.size()) * passes;
  std::printf(
      "%-16s %9.0f messages %7.3f s %10.0f messages/s %7.0f ns/message %5.1f allocs/message"
      " %5.0f bytes/message\n",
      label, messages, seconds, messages / seconds, seconds * 1e9 / messages,
      static_cast<double>(allocations - allocations_before) / messages,
      static_cast<double>(bytes) / messages);
}

}  // namespace

// Counts every heap allocation made through operator new. The pair below is malloc/free on
// both sides; GCC cannot see that through the replaced operators and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  ++allocations;
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
#pragma GCC diagnostic pop

int run(std::size_t count, int passes, bool one_click) {
  const EngineSettings settings = benchSettings(one_click);
  Engine engine(settings, kStart);
  const std::vector<DeliveryIntent> intents = makeIntents(engine, count);
  // The reference must agree before anything is timed.
  for (const DeliveryIntent& intent : intents) {
    if (renderMessage(intent, "\n") != renderBefore(settings, intent)) {
      std::fprintf(stderr, "render_bench: the worker's message differs from the reference for %s\n",
                   intent.messageId().c_str());
      return 1;
    }
  }
  std::printf("render: %zu intents (3 steps, threaded 3rd), %s, x %d passes\n", intents.size(),
              one_click ? "mailto: + one-click HTTPS link" : "mailto: unsubscribe only", passes);
  MessageRenderer renderer;
  std::string message_id;  // a worker's reused buffer
  timeIt("worker", intents, passes, [&](const DeliveryIntent& intent) {
    intent.messageIdTo(message_id);
    return renderer.render(intent, message_id).size();
  });
  timeIt("fresh", intents, passes,
         [&](const DeliveryIntent& intent) { return renderMessage(intent, "\n").size(); });
  timeIt("engine, before", intents, passes,
         [&](const DeliveryIntent& intent) { return renderBefore(settings, intent).size(); });
  return 0;
}

int main(int argc, char** argv) {
  const std::size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000;
  const int passes = argc > 2 ? std::atoi(argv[2]) : 20;
  if (run(count, passes, false) != 0) return 1;
  return run(count, passes, true);
}
