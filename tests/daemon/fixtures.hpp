// What the round-end tests (store_room_test, round_pipeline_test) build their daemons from:
// the start instant, an admin caller, delivery slots, one sequence "alpha" with one
// auto_email step sent from a Maildir mailbox of alice's, a real LMDB store behind the
// fault-injecting wrapper, an engine started from what a store holds, as seqd starts one, and
// commands run as root.
#pragma once

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>

#include "daemon/engine_start.hpp"
#include "io/command_dispatch.hpp"
#include "io/fault_injecting_store.hpp"

namespace seqd::testing {

inline const Caller kRoot{"root", true};
inline constexpr TimeMs kStart = 1796133600000;  // 2026-12-01T14:00:00Z
inline constexpr DeliverySlots kSlots{2, 64};

// "alpha": one auto_email step "one", schedule "always" (UTC, all day), mailbox
// notes@acme.test (Maildir, 100 a day and an hour), owned by alice.
inline EngineSettings alphaSettings() {
  EngineSettings result;
  Schedule schedule;
  schedule.name = "always";
  schedule.timezone = "UTC";
  for (auto& day : schedule.windows) day = {{0, 24 * 60}};
  result.schedules[schedule.name] = schedule;
  Mailbox mailbox;
  mailbox.address = "notes@acme.test";
  mailbox.name = "Notes";
  mailbox.owner = "alice";
  mailbox.transport = Transport::kMaildir;
  mailbox.hourly_limit = 100;
  mailbox.daily_limit = 100;
  result.mailboxes = {mailbox};
  Sequence sequence;
  sequence.id = "alpha";
  sequence.name = "alpha";
  sequence.owner = "alice";
  sequence.schedule = schedule.name;
  sequence.mailboxes = {mailbox.address};
  Step step;
  step.id = "one";
  step.type = StepType::kAutoEmail;
  step.subject = "Hello";
  step.body = "Hello there.";
  sequence.steps = {step};
  result.sequences[sequence.id] = sequence;
  return result;
}

// The engine built from what `store` holds at now_ms, as seqd does at start and after a full
// store.
inline std::unique_ptr<Engine> engineFromStore(Store& store, TimeMs now_ms,
                                               EngineSettings settings = alphaSettings()) {
  LoadedState loaded;
  REQUIRE(store.load(loaded).isOk());
  Result<std::unique_ptr<Engine>> started =
      startEngine(std::move(loaded), std::move(settings), now_ms);
  REQUIRE(started.isOk());
  return std::move(started.value());
}

// A real LMDB store in dir behind FaultInjectingStore (which can fill up or fail on demand).
inline std::unique_ptr<FaultInjectingStore> openFaultInjectingStore(const std::string& dir) {
  Result<std::unique_ptr<Store>> opened = openLmdbStore(dir);
  REQUIRE(opened.isOk());
  return std::make_unique<FaultInjectingStore>(std::move(opened.value()));
}

// Runs a control command on engine as root, as the control thread does.
inline DispatchReply runAsRoot(Engine& engine, const std::string& cmd, boost::json::object args,
                               TimeMs now_ms) {
  return dispatchCommand(engine, cmd, args, kRoot, now_ms);
}

// `add` arguments: contact into "alpha".
inline boost::json::object addToAlpha(const std::string& contact) {
  return boost::json::object{{"sequence", "alpha"},
                             {"contacts", boost::json::array{boost::json::value(contact)}}};
}

}  // namespace seqd::testing
