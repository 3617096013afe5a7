// The engine settings the engine-only benches share: one sequence "bench" of one email step
// from one mailbox, bench@acme.test, on the discard transport, owned by "root".
#pragma once

#include "engine/engine.hpp"

namespace seqd {

inline constexpr TimeMs kBenchStart = 1796133600000;  // 2026-12-01T14:00:00Z

inline EngineSettings benchSettings() {
  EngineSettings settings;
  Sequence sequence;
  sequence.id = "bench";
  sequence.owner = "root";
  sequence.mailboxes = {"bench@acme.test"};
  Step step;
  step.id = "hello";
  step.subject = "Hello {{first_name}}";
  step.body = "Hi {{first_name|there}}";
  sequence.steps = {step};
  settings.sequences[sequence.id] = sequence;
  Mailbox mailbox;
  mailbox.address = "bench@acme.test";
  mailbox.name = "Bench";
  mailbox.transport = Transport::kDiscard;
  settings.mailboxes = {mailbox};
  return settings;
}

}  // namespace seqd
