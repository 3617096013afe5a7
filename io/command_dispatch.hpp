// Command dispatch: turns a control-protocol request into an engine call and the engine's
// answer into the reply's JSON, with the field names SPEC §4 gives.
//
// Commands handled here: import, add, sequences, sequence_show, sequence_activate,
// sequence_deactivate, sequence_clone, status, contact_show, contact_set, remove, pause, resume,
// finish, retry, set_mailbox, event, explain, tasks, task_complete, task_skip, mailboxes. The
// runtime answers ping, version, time, time_advance, time_set and reload itself, since they touch
// the clock, the store or the config rather than the engine's state.
//
// Every request is checked here before the engine is called: its values against the limits
// of io/request_checks.hpp (so the store can hold whatever the engine then writes), and the
// caller's rights (engine/permissions.hpp, SPEC §3 rule 11), so a refused request changes
// nothing. Import rows are checked one by one: a bad row is a row error, the rest go in.
//
// Thread-safety: call only on the engine thread (it mutates the Engine).
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "engine/commands.hpp"
#include "engine/engine.hpp"
#include "engine/time.hpp"
#include "io/part_writer.hpp"

namespace seqd {

struct DispatchReply {
  bool ok = true;
  boost::json::value result;  // when ok
  std::string error_code;     // when !ok: not_found, permission_denied, bad_request, ...
  std::string error_message;
  // When ok, for a long answer listing contacts (an `add --where`/`--list`, a `retry --all`):
  // the answer, streamed after the commit (io/part_writer.hpp); `result` is unused.
  std::shared_ptr<const StreamedAnswer> streamed;
};

// `tasks`, listing besides the engine's tasks those in `archived` it no longer holds (the
// store's tasks table: engine/task.hpp). dispatchCommand's `tasks` passes none.
DispatchReply tasksCommand(Engine& engine, const boost::json::object& args, TimeMs now_ms,
                           const std::vector<Task>& archived);

// Returns nullopt-like {ok=false, error_code="unknown_command"} for names it does not know.
DispatchReply dispatchCommand(Engine& engine, const std::string& cmd,
                              const boost::json::object& args, const Caller& caller, TimeMs now_ms);

// The arguments of a read answered off the engine thread (io/status_stream.hpp), checked as
// dispatchCommand checks them, and the JSON of its rows and replies.
Result<TaskFilter> taskFilterArg(const Engine& engine, const boost::json::object& args,
                                 TimeMs now_ms);
boost::json::object taskRowJson(const TaskRow& row);
struct ContactsArgs {
  ContactQuery query;
  std::size_t limit = 0;
};
Result<ContactsArgs> contactsArgs(const boost::json::object& args);
boost::json::object contactRowJson(const PackedContact& contact);
boost::json::object reportJson(const SequenceReport& report);

// JSON helpers shared with the runtime and io/status_stream.
boost::json::value timeOrNull(TimeMs time_ms);
// One `status` row as SPEC §4 shows it.
boost::json::object statusRowJson(const StatusRow& row);
// The filter of a `status` request's args; InvalidArgument (bad_request) for an unknown status.
Result<StatusFilter> statusFilterArg(const boost::json::object& args);
DispatchReply replyFromStatus(const Status& status);

}  // namespace seqd
