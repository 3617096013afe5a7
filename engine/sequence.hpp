// The sequence model: a sequence is an ordered list of steps with waits between them.
//
// Loaded by config/ from sequences/<id>.yaml and then immutable; the engine reads it.
// A step's wait counts from the time the previous step was done (for the first step, from
// the time the contact was added or the sequence activated).
//
// Thread-safety: plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/symbol.hpp"
#include "engine/text_map.hpp"
#include "engine/time.hpp"

namespace seqd {

enum class StepType { kAutoEmail, kManualEmail, kCall, kLinkedin, kTask };

const char* stepTypeName(StepType type);

struct Variant {
  std::string id;
  int weight = 0;
  std::string subject;  // empty: the step's subject
  std::string body;     // empty: the step's body
};

struct Step {
  Symbol id;  // interned: the enrollment rows name steps by Symbol (done_steps, SendOut::step)
  StepType type = StepType::kAutoEmail;
  DurationMs wait_ms = 0;
  bool wait_business_days = false;  // wait given in `bd`; wait_ms then holds the day count
  std::string subject;
  std::string body;
  std::string note;
  bool thread_previous = false;
  std::vector<Variant> variants;
};

struct SequenceRules {
  std::vector<std::string> block_stages;
  std::vector<std::string> finish_on;
  bool pause_on_ooo = true;
};

// The most steps a sequence may have: an enrollment keeps its step's position in a byte
// (engine/enrollment.hpp). config/config.hpp's kStepsMax, what a sequence file may hold, is
// checked against it, and the engine asserts it of every sequence it is given.
inline constexpr std::size_t kSequenceStepsMax = 255;

struct Sequence {
  std::string id;
  std::string name;
  std::string owner;
  std::string schedule;
  bool timezone_from_contact = true;  // `timezone: contact` (else `schedule`)
  std::vector<std::string> mailboxes;
  SequenceRules rules;
  std::vector<Step> steps;
  std::string source_path;  // the YAML file it came from
};

// Sequences by id, searched by string_view (an enrollment's Symbol finds its sequence
// without a copy).
using Sequences = TextMap<Sequence>;

}  // namespace seqd
