// Reading one sequences/<id>.yaml (SPEC §2.3) into a Sequence and its workflows.
//
// What is checked here, beyond the shape of each value: the id matches the file name; the
// schedule and every mailbox exist in the already-loaded config; step ids are unique;
// `thread: previous` follows an earlier email step; email steps have a body and (unless
// threaded) a subject, and other steps have neither; variant weights are positive and sum
// to 100 with unique ids; templates pass a basic syntax check. Ids (sequence, step, variant)
// are 1..kIdBytesMax of letters, digits, '-' and '_', because they end up in Message-IDs
// ("<seq.step.hash@host>") and mail headers. Mailbox references are stored as seqd.yaml
// writes the address. When `rules.finish_on` is absent, a reply, a booked meeting or an
// unsubscribe finishes the contact (what users of other sequence tools expect); write
// `finish_on: []` to finish on none.
//
// Thread-safety: reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_walk.hpp"
#include "engine/sequence.hpp"
#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kIdBytesMax = 64;

struct SequenceFile {
  Sequence sequence;
  std::vector<Workflow> workflows;
};

// Interprets a parsed sequence file whose name (without .yaml) is expected_id.
// REQUIRES: config.daemon and config.schedules are loaded; schedules_path names
// schedules.yaml in messages.
Result<SequenceFile> readSequence(const YamlFile& file, const std::string& expected_id,
                                  const Config& config, const std::string& schedules_path);

// True for 1..kIdBytesMax letters, digits, '-' and '_'.
bool isValidId(std::string_view id);

}  // namespace seqd
