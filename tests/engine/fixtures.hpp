// What the engine unit tests build their engines from: the start instant, an admin caller,
// and the pieces of EngineSettings (steps, mailboxes, the office schedule) each test then
// puts together into the sequences it needs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "engine/engine.hpp"

namespace seqd::testing {

inline constexpr TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
inline const Caller kAdmin{"root", true};

// An auto_email step due wait_ms after the step before it.
inline Step emailStep(std::string id, std::string subject, std::string body,
                      DurationMs wait_ms = 0) {
  Step step;
  step.id = std::move(id);
  step.wait_ms = wait_ms;
  step.subject = std::move(subject);
  step.body = std::move(body);
  return step;
}

// A call step (it opens a task) due wait_ms after the step before it.
inline Step callStep(std::string id, DurationMs wait_ms, std::string note) {
  Step step;
  step.id = std::move(id);
  step.type = StepType::kCall;
  step.wait_ms = wait_ms;
  step.note = std::move(note);
  return step;
}

// A sequence with no steps yet.
inline Sequence sequenceOf(std::string id, std::string owner, std::vector<std::string> mailboxes) {
  Sequence sequence;
  sequence.id = std::move(id);
  sequence.owner = std::move(owner);
  sequence.mailboxes = std::move(mailboxes);
  return sequence;
}

// A mailbox whose limits stay out of the way unless a test gives its own (limits are
// governor_test's subject).
inline Mailbox mailboxOf(std::string address, std::string name = "A",
                         std::int64_t daily_limit = 1000000, std::int64_t hourly_limit = 1000000) {
  Mailbox mailbox;
  mailbox.address = std::move(address);
  mailbox.name = std::move(name);
  mailbox.daily_limit = daily_limit;
  mailbox.hourly_limit = hourly_limit;
  return mailbox;
}

// "office": open 09:00-17:00 Monday to Friday in New York.
inline Schedule officeSchedule() {
  Schedule schedule;
  schedule.name = "office";
  schedule.timezone = "America/New_York";
  for (int day = 1; day <= 5; ++day) schedule.windows[day] = {{9 * 60, 17 * 60}};
  return schedule;
}

}  // namespace seqd::testing
