// Engine: running the sequences' workflows (engine/workflows.hpp) on the engine's clock.
#include <algorithm>

#include "engine/engine.hpp"

namespace seqd {

std::optional<TimeMs> Engine::nextDue() const {
  std::optional<TimeMs> next = wheel_.nextDue();
  if (!held_due_.empty() && (!next || held_due_.begin()->first < *next)) {
    next = held_due_.begin()->first;
  }
  for (const auto& [key, at_ms] : workflow_next_) {
    if (!next || at_ms < *next) next = at_ms;
  }
  return next;
}

// Each workflow runs next one `every` after its last run, or at the first advance when it
// never ran.
void Engine::scheduleWorkflows(TimeMs now_ms) {
  workflow_next_.clear();
  for (const WorkflowSpec& spec : settings_.workflows) {
    const WorkflowState::Key key{spec.sequence_id, spec.from_list};
    const WorkflowRun* run = workflow_state_.run(key);
    workflow_next_[key] =
        run != nullptr && run->last_run_ms != kNoTime ? run->last_run_ms + spec.every_ms : now_ms;
  }
}

void Engine::runDueWorkflows(TimeMs now_ms) {
  for (const WorkflowSpec& spec : settings_.workflows) {
    auto next = workflow_next_.find({spec.sequence_id, spec.from_list});
    if (next == workflow_next_.end() || next->second > now_ms) continue;
    runWorkflow(spec, now_ms);
    next->second = now_ms + spec.every_ms;
  }
}

void Engine::runWorkflow(const WorkflowSpec& spec, TimeMs now_ms) {
  const WorkflowState::Key key{spec.sequence_id, spec.from_list};
  const Sequence* sequence = findSequence(spec.sequence_id);
  const ContactList* list = lists_.find(spec.from_list);
  WorkflowRun run;
  if (const WorkflowRun* last = workflow_state_.run(key)) run = *last;
  run.last_run_ms = now_ms;
  run.last_added = 0;
  run.last_skipped = 0;
  if (sequence != nullptr && list != nullptr) {
    const ContactQuery::InSequence in_sequence = [this](const PackedContact& contact,
                                                        const std::string& sequence_id) {
      const Enrollment* enrollment = findEnrollment(sequence_id, std::string(contact.key()));
      return enrollment != nullptr && enrollment->status != EnrollmentStatus::kRemoved;
    };
    std::vector<std::string> keys;
    for (const std::string& member : list->members) {
      if (workflow_state_.considered(key, member)) continue;
      const PackedContact* contact = findContact(member);
      if (contact == nullptr || contact->score() < spec.min_score) continue;
      if (!spec.where.empty() && !spec.query.matches(*contact, in_sequence)) continue;
      workflow_state_.consider(key, member, batch_.team);
      keys.push_back(member);
    }
    // As the owner would add them: the same validation, never forced.
    const Caller owner{sequence->owner, false};
    Result<AddResult> added = add(spec.sequence_id, keys, AddOptions(), owner, now_ms);
    if (added.isOk()) {
      run.last_added = added.value().added.size();
      run.last_skipped = added.value().skipped.size();
    } else {
      run.last_skipped = keys.size();
    }
  }
  run.added_total += run.last_added;
  run.skipped_total += run.last_skipped;
  workflow_state_.recordRun(key, run, batch_.team);
}

Status Engine::checkWorkflowLists(const EngineSettings& settings) const {
  for (const WorkflowSpec& spec : settings.workflows) {
    if (lists_.find(spec.from_list) == nullptr) {
      return Status::invalidArgument(spec.location + ": workflow: from_list '" + spec.from_list +
                                     "' is not a list (make it first: seqctl list add " +
                                     spec.from_list + ")");
    }
  }
  return Status::ok();
}

std::vector<Engine::WorkflowRow> Engine::workflows() const {
  std::vector<WorkflowRow> rows;
  for (const WorkflowSpec& spec : settings_.workflows) {
    const WorkflowState::Key key{spec.sequence_id, spec.from_list};
    WorkflowRow row;
    row.spec = &spec;
    if (const WorkflowRun* run = workflow_state_.run(key)) row.run = *run;
    if (auto next = workflow_next_.find(key); next != workflow_next_.end()) {
      row.next_run_ms = next->second;
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace seqd
