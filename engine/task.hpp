// Task: the to-do a manual step (manual_email, call, linkedin, task) creates for a person.
//
// A task belongs to the contact's owner at the moment it is created (the sequence's owner
// when the contact has none); changing the owner later does not move it (SPEC §3 rule 6).
// Its id is the progress-log seq of its kTaskCreated record, so ids are unique, increasing
// and stable across restarts. The enrollment waits `active` until the task is completed or
// skipped by a person; either counts as the step done. There is at most one task per
// (enrollment, step) ever: pausing keeps it open and resuming waits on it again; finishing or
// removing the contact closes it as skipped with a `reason` (the step is NOT done then), and
// adding the contact back opens that same task again.
//
// Archived tasks. A task completed or skipped by a person is final (nothing reopens it), so the
// engine keeps at most kDoneTasksInMemoryMax of them in memory, dropping the oldest (lowest
// id) first; the store's tasks table keeps every task, and `seqctl tasks` lists the dropped
// ones from there (Engine::tasks takes them as `archived`). What stays per dropped task is its
// done step (the enrollment's done steps), so the step never gets a second task; nothing of
// the task stays in memory. Tasks closed by seqd (a finish or remove) stay: adding the contact
// back reopens them.
//
// Thread-safety: plain value, owned by the engine thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/enrollment.hpp"
#include "engine/symbol.hpp"
#include "engine/time.hpp"

namespace seqd {

enum class TaskState : std::uint8_t { kOpen, kCompleted, kSkipped };

// Tasks done by a person kept in memory at most (EngineSettings::done_tasks_in_memory_max).
inline constexpr std::size_t kDoneTasksInMemoryMax = 10000;

const char* taskStateName(TaskState state);

// Its texts are Symbols (engine/symbol.hpp): a step id, a user, and a reason seqd gives
// ("removed", or "finished: " and the enrollment's finish reason, itself a Symbol). A Task is
// then 40 bytes with no heap of its own, and copying it (a `tasks` snapshot copies every one
// the filter keeps) is copying its bytes.
struct Task {
  std::uint64_t id = 0;
  TimeMs due_at_ms = 0;
  EnrollmentId enrollment_id = 0;
  std::uint32_t step_index = 0;
  Symbol step_id;
  Symbol owner;
  Symbol reason;  // why seqd closed it (finished, removed); empty when a person did
  TaskState state = TaskState::kOpen;
};
static_assert(std::is_trivially_copyable_v<Task>);

struct TaskFilter {
  std::string owner;
  std::string sequence_id;
  std::optional<TimeMs> due_before_ms;
  std::optional<TaskState> state;  // `--state`: only tasks in this state

  // Whether archived tasks can pass: they are all done by a person, never open, so a list of
  // open tasks never reads the store.
  bool admitsArchived() const { return !state || *state != TaskState::kOpen; }
};

// "open", "completed" or "skipped" as a TaskState; nullopt for anything else.
std::optional<TaskState> parseTaskState(std::string_view name);

struct TaskRow {
  std::uint64_t id = 0;
  std::string sequence;
  std::string contact;
  std::string step;
  std::string type;
  std::string owner;
  TimeMs due_at_ms = 0;
  std::string state;
  std::string reason;  // why seqd closed it, when it did
  std::string note;    // the step's note (or subject), rendered for the contact
};

}  // namespace seqd
