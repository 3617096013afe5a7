// Workflows (SPEC §3 rule 13, "automate adding"): `workflows:` in a sequence file enrolls the
// members of a list that pass a filter, every `every`, as the sequence's owner would.
//
// A run takes the list's members it has not considered before, in key order, keeps those
// that pass the filter (score >= min_score, and the `where` EXPR of engine/contact_query.hpp
// when given) and adds them with the owner as the caller and no --force: what the add skips
// (warnings, already in the sequence, a hard block) is counted as skipped. A member is
// considered once per workflow, when it first passes the filter: a member skipped for a
// warning is not tried again at every run (as Apollo's "added to list" trigger fires once); a
// member that failed the filter is looked at again at the next run (its score may rise).
//
// Runs go by the engine's clock: the first at the first advance after the workflow is
// loaded, then every `every` after the last one (virtual time included). A workflow is known
// by (sequence, from_list); its counts and the members it considered are kept in the store
// (engine/team_records.hpp), so a restart neither runs it early nor adds anyone twice.
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/contact_query.hpp"
#include "engine/enrollment.hpp"
#include "engine/team_records.hpp"
#include "engine/time.hpp"

namespace seqd {

struct WorkflowSpec {
  std::string sequence_id;
  std::string from_list;
  int min_score = 0;
  std::string where;   // "" : no EXPR
  ContactQuery query;  // `where` parsed (config/ checked it)
  DurationMs every_ms = 15 * kMinuteMs;
  std::string location;  // "file:line:col" of from_list, for errors
};

// What `seqctl workflows` shows of one workflow.
struct WorkflowRun {
  TimeMs last_run_ms = kNoTime;
  std::uint64_t added_total = 0;
  std::uint64_t skipped_total = 0;
  std::uint64_t last_added = 0;
  std::uint64_t last_skipped = 0;
};

class WorkflowState {
 public:
  using Key = std::pair<std::string, std::string>;  // sequence id, list name

  // Takes one stored record (a run or a considered member); others are ignored.
  void restore(const TeamRecord& record);

  const WorkflowRun* run(const Key& key) const;
  bool considered(const Key& key, const std::string& contact_key) const;
  void consider(const Key& key, const std::string& contact_key, std::vector<TeamRecord>& out);
  void recordRun(const Key& key, const WorkflowRun& run, std::vector<TeamRecord>& out);

 private:
  std::map<Key, WorkflowRun> runs_;
  std::map<Key, std::set<std::string>> considered_;
};

}  // namespace seqd
