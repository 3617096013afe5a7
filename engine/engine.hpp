// Engine: every contact, sequence activation and enrollment, the timer wheel over them, and
// the rules that move an enrollment from step to step.
//
// Pure and deterministic: no I/O, no threads, no clock reads. The caller passes `now` into
// every call that needs it. Every state change is appended to a WriteBatch (takeBatch());
// every email to send comes out as a DeliveryIntent (takeIntents()). The caller commits the
// batch before it delivers intents or acknowledges commands.
//
// The engine decides an email and does not render it (SPEC §1: the worker pool renders):
// when a step fires it picks the mailbox and the A/B variant, checks the templates for the
// contact without rendering them (not_sent: missing_variable:<name>, template_error:...),
// and makes the Message-ID; the intent then carries immutable snapshots the delivery worker
// renders from (engine/render.hpp). For that, contacts are held packed and immutable
// (engine/packed_contact.hpp, by ContactRef) and replaced, never changed in place, when they
// change; the compiled templates are rebuilt
// at each reload and kept alive by the intents that still hold the old ones.
//
// The enrollment state machine. "Waits on its send" means status active with a send out
// (`sending`); "running" means scheduled or active. Rows are what happens; nothing else changes.
//
//   status now          event                           status after
//   ------------------  ------------------------------  --------------------------------------
//   scheduled           its step falls due: email       active, waits on its send (queued, then
//                                                        released to delivery); or active with
//                                                        next_at = when a mailbox frees up; or
//                                                        not_sent (no_email, email_opt_out,
//                                                        stage_blocked, missing_variable:...)
//   scheduled           its step falls due: manual      active, waits on the step's one task
//                                                        (a dnc/opted-out call: step done)
//   active (send)       delivered                       step done; scheduled for the next step
//                                                        (its wait counted from the fire time)
//                                                        or finished: completed
//   active (send)       4xx / no connection             scheduled on the same step after
//                                                        5m, 30m, 2h; the 4th: not_sent
//                                                        smtp_4xx_exhausted / delivery_failed
//   active (send)       5xx                             bounced (the step marked unresolved)
//   active (send)       interrupted (may have gone)     not_sent: interrupted (marked too)
//   any other           any result of a send            unchanged; delivered still marks the
//                                                        step done (a paused contact resumes
//                                                        on the next step), 5xx and interrupted
//                                                        mark it unresolved (see below)
//   active (send)       a start finds a released        delivered again (same mailbox and
//                       Maildir send without a result   Message-ID), when its window opens
//   any other, or its   the same, or such a             unchanged; no email: the step is
//   sequence inactive   redelivery handed back at a     marked interrupted (it may have
//                       stop                            landed) and keeps its count
//   active (task)       task completed/skipped          step done; next step or finished
//   running             pause / ooo                     paused (a queued, unreleased send is
//                                                        withdrawn; a released one stays out)
//   paused (ooo)        ooo                             paused until the new return date
//   paused (manual)     ooo                             unchanged: no auto-resume is added
//   paused              resume (or resume_at)           waits on its send again if one is
//                                                        still out; else back on the current
//                                                        step (task: waits on the same task)
//   any but finished    finish / reply / meeting /      finished (open tasks closed skipped)
//                       unsubscribe (finish_on)
//   any but removed     remove                          removed (open tasks closed skipped)
//   removed, finished*  add                             as resume (*finished with steps left,
//                                                        with --force); closed task reopened
//   running, paused     bounce event                    bounced
//   running, paused     stage event (blocked stage)     not_sent: stage_blocked
//   bounced, not_sent   retry                           scheduled now on the current step
//                                                        (clears that step's unresolved mark;
//                                                        retrying `interrupted` may duplicate:
//                                                        reported)
//   reaching a step     marked unresolved               bounced / not_sent: interrupted, never
//                                                        a second send by itself
//
// A step is done when its email was delivered, its task completed or skipped by a person,
// or a call was skipped for Do-Not-Call. Done steps are kept by id and never run again.
// The current step is the first step, in the sequence's current order, after the last done
// one; a reload moves a contact when that changes (planReload() says who moves where), the
// new step's wait counting from where the old one's started. A contact waiting on a task
// stays on it when an older task is completed late (standingIndex()).
//
// Sending windows: an enrollment's next_at_ms is when its current step falls due by the
// rules above (its wait, a retry delay, a mailbox's free slot). It goes out at the first
// instant at or after that which is open in its sequence's schedule, in the zone that
// counts (the contact's, else the schedule's; engine/calendar.hpp has the window rules).
// The wheel and `status` hold that open instant; a step found outside its window when it
// fires (its contact's zone or its schedule changed) waits for the next opening instead.
//
// The Engine's methods live in several files by concern: engine.cpp (contacts, sequences,
// adding, due steps, delivery, restore), operations.cpp (pause, resume, ...), events.cpp
// (reply, ooo, ... and explain), tasks.cpp (the task queue), reload.cpp (edited sequences),
// contact_search.cpp (contacts --where, the sequences a contact is in), teams.cpp (lists
// and sharing).
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/assert.hpp"
#include "engine/calendar.hpp"
#include "engine/census.hpp"
#include "engine/commands.hpp"
#include "engine/contact.hpp"
#include "engine/contact_hash_index.hpp"
#include "engine/contact_query.hpp"
#include "engine/contact_zones.hpp"
#include "engine/delivery.hpp"
#include "engine/enrollment.hpp"
#include "engine/governor.hpp"
#include "engine/histogram.hpp"
#include "engine/lists.hpp"
#include "engine/mailbox.hpp"
#include "engine/packed_contact.hpp"
#include "engine/read_snapshots.hpp"
#include "engine/records.hpp"
#include "engine/report.hpp"
#include "engine/schedule.hpp"
#include "engine/sequence.hpp"
#include "engine/sharing.hpp"
#include "engine/status.hpp"
#include "engine/status_snapshot.hpp"
#include "engine/task.hpp"
#include "engine/timer_wheel.hpp"
#include "engine/unsubscribe_token.hpp"
#include "engine/workflows.hpp"

namespace seqd {

inline constexpr std::size_t kFireBatchMax = 4096;
// Emails decided and queued inside the engine, not yet released to delivery. When this many
// wait, advanceTo() stops taking due work (back-pressure) until takeIntents() drains them.
inline constexpr std::size_t kQueuedIntentsMax = 8192;
// Checkpoints (engine/records.hpp): one starts once this many snapshots, or as many as there
// are enrollments if that is more, went to the journal since the last one started. A batch's
// slice of it is sized by the batch: kCheckpointSliceRowsPerSnapshot rows per snapshot the
// batch journals, at least kCheckpointSliceMin and at most kCheckpointSliceMax (all of them at
// shutdown). The checkpoint then writes rows faster than the journal grows, and a small round
// carries a small slice: a row costs ~0.9 us of the commit's CPU, and a fixed 4,096-row slice
// made a round of ~100-500 steps commit for 5-15 ms instead of ~1 (perf/RESULTS.md, lateness
// at 38,400 steps/s). The most, 8,192, is what one turn of `time advance` journals (the
// results of the sends released before and the sends decided, ~4k each, in one commit):
// at 4,096 the checkpoint fell behind such turns and a restart read twice the journal.
inline constexpr std::size_t kCheckpointSnapshotsMin = 65536;
inline constexpr std::size_t kCheckpointSliceRowsPerSnapshot = 2;
inline constexpr std::size_t kCheckpointSliceMin = 512;
inline constexpr std::size_t kCheckpointSliceMax = 8192;
// A snapshot of the send limits' counts (GovernorSnapshot, engine/records.hpp "History") is
// written once the log has grown by this many records since the last one, or by as many
// entries as the snapshot holds if that is more: a restart then counts at most about that
// many records again, and a snapshot costs at most about one entry per record logged.
inline constexpr std::size_t kGovernorSnapshotRecordsMin = 65536;
// History kept (engine/records.hpp, "History"): the log's records for a day and an hour (the
// send limits' rolling day, plus a margin), applied inbound messages for 90 days.
inline constexpr DurationMs kHistoryKeepMs = kDayMs + kHourMs;
inline constexpr DurationMs kInboundKeepMs = 90 * kDayMs;

// What a reload would do to enrollments: per sequence, how many contacts move from one
// current step to another, and what needs --force.
struct ReloadMove {
  std::string sequence;
  std::string from_step;  // "" : none (not started)
  std::string to_step;    // "" : every step done (finished)
  std::size_t contacts = 0;
};
struct ReloadPlan {
  std::vector<ReloadMove> moves;
  // Each needs --force: a removed step that contacts wait on, or a removed sequence with
  // enrollments that are still running or paused.
  std::vector<std::string> needs_force;
};

struct EngineSettings {
  Sequences sequences;
  std::map<std::string, Schedule> schedules;
  std::vector<Mailbox> mailboxes;
  DurationMs tick_ms = 100;
  DurationMs ooo_default_pause_ms = 7 * kDayMs;
  UnsubscribeLinks unsubscribe;         // List-Unsubscribe's HTTPS link and its tokens' secret
  std::vector<WorkflowSpec> workflows;  // every sequence's `workflows:` (engine/workflows.hpp)
  // Smaller only in tests, so that checkpoints start, go on and finish across a few commits.
  std::size_t checkpoint_snapshots_min = kCheckpointSnapshotsMin;
  std::size_t checkpoint_slice_max = kCheckpointSliceMax;
  std::size_t governor_snapshot_records_min = kGovernorSnapshotRecordsMin;
  // Smaller only in tests, so that the log and the inbound table are truncated in a short run.
  // The log is kept longer when a mailbox's min_interval + jitter needs it.
  DurationMs history_keep_ms = kHistoryKeepMs;
  DurationMs inbound_keep_ms = kInboundKeepMs;
  // Smaller only in tests, so that the bound is met with a handful of tasks (engine/task.hpp).
  std::size_t done_tasks_in_memory_max = kDoneTasksInMemoryMax;
};

class Engine {
 public:
  Engine(EngineSettings settings, TimeMs now_ms);
  // Not copyable: sequence_index_ points into settings_ (a move keeps the map's nodes).
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  Engine(Engine&&) = default;
  Engine& operator=(Engine&&) = default;

  // Rebuilds state from the store. Emails whose step fired but whose delivery result was
  // never recorded are handed out again as intents (Maildir delivery is idempotent).
  // Takes the records out of `state` (pass it with std::move to spare a copy).
  // REQUIRES: called once, before any command.
  Status restore(LoadedState state, TimeMs now_ms);

  // What reconfigure(settings) would change (reload --dry-run); changes nothing.
  ReloadPlan planReload(const EngineSettings& settings) const;
  // Replaces sequences, schedules and mailboxes (reload). Enrollments of removed sequences
  // are kept but idle; a sequence that comes back resumes where its contacts were. Current
  // steps are recomputed by step id (engine/reload.cpp).
  void reconfigure(EngineSettings settings, TimeMs now_ms);

  // --- contacts ---
  ImportResult upsertContacts(const std::vector<ContactRow>& rows);
  // Stores contacts already worked out from import rows by contactAfterRow
  // (engine/contact_row.hpp), each replacing the one under its key: what upsertContacts
  // leaves, without working each row out a second time. Checking the rows and counting
  // them is the caller's (io/request_checks screens them).
  // REQUIRES: one contact per key.
  void putContacts(const std::vector<Contact>& contacts);
  // The contact under this exact key, else under its lower case; null when none. Valid until
  // the contact next changes (ContactRef(pointer) keeps it longer).
  const PackedContact* findContact(const std::string& key) const;
  // Contacts matching a `--where` query (engine/contact_query.hpp), in key order, at most
  // `limit` of them (0: all); `matched` counts every match. An `in_sequence` naming an unknown
  // sequence is NotFound (engine/contact_search.cpp).
  struct ContactSearch {
    std::vector<ContactRef> contacts;
    std::size_t matched = 0;
  };
  Result<ContactSearch> searchContacts(const ContactQuery& query, std::size_t limit) const;
  // What searchContacts reads, for a reader thread (engine/read_snapshots.hpp): matchContacts
  // on it gives searchContacts' answer. NotFound as searchContacts.
  Result<ContactsSnapshot> contactsSnapshot(const ContactQuery& query, std::size_t limit) const;
  // Where the contact stands in each sequence it was ever added to, as status rows, by
  // sequence id (`contact show`).
  std::vector<StatusRow> enrollmentsOf(const std::string& contact_key) const;
  Status setContactFields(const std::string& key, const ContactRow& fields);

  // --- sequences ---
  std::vector<SequenceSummary> sequences() const;
  const Sequence* findSequence(std::string_view id) const;
  // The enrollment's sequence (findSequence of its id) through sequence_index_: one probe of a
  // flat map by the id's Symbol, where findSequence compares texts down a tree. A step asks
  // several times.
  const Sequence* sequenceOf(const Enrollment& enrollment) const;
  bool isActive(std::string_view sequence_id) const;
  // The same for an enrollment's sequence, by its id's Symbol: no text hashed (a restart asks
  // it of every enrollment, and each step arms its enrollment again).
  bool isActive(const Enrollment& enrollment) const;
  Status activate(const std::string& sequence_id, const Caller& caller, TimeMs now_ms);
  Status deactivate(const std::string& sequence_id, const Caller& caller);

  // --- sharing (engine/teams.cpp) ---
  const SequenceShares& shares() const { return shares_; }
  // `sequence share/unshare SEQ USER`: by the sequence's owner or an admin. Sharing twice, or
  // unsharing a user it is not shared with, changes nothing and is not an error.
  Status share(const std::string& sequence_id, const std::string& user, bool shared,
               const Caller& caller);

  // --- lists (engine/teams.cpp) ---
  const ContactLists& lists() const { return lists_; }
  // Adds (or removes) members: by the list's owner or an admin. Adding makes the list, owned
  // by the caller, when it does not exist; removing from an unknown list is NotFound. Unknown
  // contacts are skipped (unknown_contact), as are members already in (already_in_list) or,
  // for a removal, contacts not in it (not_in_list).
  Result<ContactsResult> changeList(const std::string& name, const std::vector<std::string>& keys,
                                    bool add, const Caller& caller);
  // May the caller add members to the list `name` (true when it does not exist yet)?
  Status checkListEditable(const std::string& name, const Caller& caller) const;

  // --- enrollments ---
  Result<AddResult> add(const std::string& sequence_id, const std::vector<std::string>& keys,
                        const AddOptions& options, const Caller& caller, TimeMs now_ms);
  Result<std::vector<StatusRow>> status(const std::string& sequence_id,
                                        const StatusFilter& filter) const;
  // What status() reads, copied for a reader thread: the sequence's rows as they stand now,
  // in compact form (engine/status_snapshot.hpp). Much cheaper than status(): no row is built,
  // filtered or ordered here. `spare` is a rows buffer to reuse (an earlier snapshot's, its
  // rows cleared): its memory is in place already, where a new one would fault in page by page.
  // With `only`, the rows of that status alone (a `status --status` filter): a read of the few
  // paused rows among a million copies those, not every row.
  Result<StatusSnapshot> statusSnapshot(const std::string& sequence_id,
                                        std::vector<StatusSnapshotRow> spare = {},
                                        std::optional<EnrollmentStatus> only = std::nullopt) const;
  const Enrollment* findEnrollment(const std::string& sequence_id,
                                   const std::string& contact_key) const;
  // pause, resume, finish, remove, retry, set-mailbox (engine/operations.cpp).
  Result<ContactsResult> operate(const std::string& sequence_id, const OperatorRequest& request,
                                 const Caller& caller, TimeMs now_ms);
  // reply, meeting_booked, unsubscribe, bounce, ooo, stage (engine/events.cpp).
  Result<EventResult> applyEvent(const ContactEvent& event, TimeMs now_ms);
  // A message from a sending mailbox's inbox: finds the contact (and the sequence of the
  // email it answers) and applies its event, once per Message-ID (engine/inbound.cpp).
  Result<InboundResult> applyInbound(const InboundMessage& message, TimeMs now_ms);
  // The ids of the sequences applyEvent(event) would change, without changing anything, so
  // rights can be checked on each first (engine/event_scope.cpp). applyEvent changes no
  // sequence outside this list.
  std::vector<std::string> sequencesChangedBy(const ContactEvent& event) const;
  // What a one-click unsubscribe token (engine/unsubscribe_token.hpp) names, when it was
  // signed with the configured secret and names a known contact; else NotFound, which says no
  // more (a forged token learns nothing). Changes nothing: a GET of the link asks this.
  Result<UnsubscribeTarget> checkUnsubscribeToken(std::string_view token) const;
  // A good token's unsubscribe event: sets the contact's email_opt_out and finishes it in
  // every sequence whose finish_on lists unsubscribe, as `seqctl event unsubscribe` does.
  // A bad token changes nothing (NotFound). Repeating it changes no enrollment again.
  Result<EventResult> unsubscribeByToken(std::string_view token, TimeMs now_ms);
  // What add(sequence_id, keys, options with dry_run) would answer if the contacts in
  // `pending` (by key) were stored as given, changing nothing: add --csv --dry-run previews
  // its rows without storing them (engine/add_preview.cpp).
  Result<AddResult> previewAdd(const std::string& sequence_id, const std::vector<std::string>& keys,
                               const std::unordered_map<std::string, Contact>& pending,
                               const AddOptions& options, const Caller& caller,
                               TimeMs now_ms) const;
  // The mailboxes the caller may send from without a mailbox_owner warning, in config order:
  // its own and those with no owner (bare `add --rotate`). Admins too: an admin names
  // another user's mailbox explicitly.
  std::vector<std::string> mailboxesFor(const Caller& caller) const;
  // Every configured mailbox with its sends in the rolling hour and day and its next free slot.
  std::vector<MailboxRow> mailboxes(TimeMs now_ms) const;
  // The send limits' counts whole: as the engine applies them, and as the log's sends build
  // them (what the next GovernorSnapshot would hold). For tests of a restart.
  std::vector<MailboxSendState> sendCounts() const { return governor_.snapshot(); }
  std::vector<MailboxSendState> loggedSendCounts() const { return logged_sends_.snapshot(); }

  // --- tasks (engine/tasks.cpp) ---
  // Open tasks first, then done ones, by due time. `archived`: tasks read from the store's
  // tasks table; those no longer in memory (isTaskInMemory) are listed too.
  std::vector<TaskRow> tasks(const TaskFilter& filter,
                             const std::vector<Task>& archived = {}) const;
  // What tasks() reads but the store's tasks, for a reader thread: taskRows(snapshot,
  // archived) gives tasks(filter, archived) (engine/read_snapshots.hpp). `spare`: an earlier
  // snapshot the reader is done with, whose buffers it fills again (its tasks cleared on the
  // reader's thread, so that their contacts' references are dropped there): a new buffer for
  // 1M open tasks, 64 MB, is faulted in page by page while the engine thread waits.
  TasksSnapshot tasksSnapshot(const TaskFilter& filter, TasksSnapshot spare = {}) const;
  bool isTaskInMemory(std::uint64_t task_id) const { return tasks_.count(task_id) != 0; }
  // Tasks done by a person that are still in memory (at most done_tasks_in_memory_max).
  std::size_t doneTasksInMemory() const { return done_tasks_.size(); }
  // (enrollment, step) -> task links held: one per task in memory, none for archived ones.
  std::size_t taskStepLinks() const { return step_tasks_.size(); }
  // Inbound messages remembered as applied: those of the last inbound_keep_ms, as the store.
  std::size_t inboundRemembered() const { return inbound_applied_.size(); }
  // Completes (or skips) an open task: the step counts as done and the contact moves on.
  // Allowed for the task's owner, the sequence's owner and admins.
  Status finishTask(std::uint64_t task_id, bool skip, const Caller& caller, TimeMs now_ms);

  // `seqctl report SEQ` (engine/sequence_report.cpp): the sequence's counters by step, variant
  // and mailbox, its mailboxes' last day of sends, the contacts that need a person. Reads the
  // counters (a few per step) and one pass over the sequence's enrollments; never the log.
  Result<SequenceReport> report(const std::string& sequence_id, TimeMs now_ms) const;
  // What report() reads, for a reader thread: finishReport(snapshot) gives report()'s answer.
  // `spare` as statusSnapshot's.
  Result<ReportSnapshot> reportSnapshot(const std::string& sequence_id, TimeMs now_ms,
                                        std::vector<StatusSnapshotRow> spare = {}) const;
  // statusSnapshot() of only the rows of `ids` (the sequence's, some of them, in its order),
  // or of every row when null.
  Result<StatusSnapshot> statusSnapshotOf(const std::string& sequence_id,
                                          std::vector<StatusSnapshotRow> spare,
                                          const std::vector<EnrollmentId>* ids) const;
  // Which of the sequence's enrollments wait on an open task of their current step, by
  // enrollment id (true: it does; ids past the end do not).
  std::vector<bool> enrollmentsWaitingOnTasks(const Sequence& sequence) const;
  // The open task of its current step an enrollment waits on; null when none.
  const Task* taskWaitedOn(const Enrollment& enrollment, const Sequence& sequence) const;

  // One paragraph on why the contact is where it is and what happens next, when.
  Result<std::string> explain(const std::string& sequence_id, const std::string& contact_key) const;

  // --- time ---
  // Fires steps due at or before now_ms, in due order, highest score first per tick. Stops
  // early, leaving the rest due, when kQueuedIntentsMax emails wait to be released.
  void advanceTo(TimeMs now_ms);
  // When the next step falls due or the next workflow runs; nullopt when nothing is scheduled.
  std::optional<TimeMs> nextDue() const;

  // --- workflows (engine/workflow_runs.cpp) ---
  // A workflow naming a list that does not exist: InvalidArgument with its file:line:col.
  Status checkWorkflowLists(const EngineSettings& settings) const;
  struct WorkflowRow {
    const WorkflowSpec* spec = nullptr;
    WorkflowRun run;
    TimeMs next_run_ms = kNoTime;
  };
  std::vector<WorkflowRow> workflows() const;

  // --- delivery ---
  // Records a result; changes the enrollment only while it still waits on that very send.
  void onDeliveryResult(const DeliveryResult& result, TimeMs now_ms);
  // Released sends with no result yet, not counting those held for their window (a start's
  // redeliveries, released again when it opens).
  std::size_t deliveriesInFlight() const { return in_flight_ - held_.size(); }
  // Decided sends waiting to be released.
  std::size_t queuedIntents() const { return queued_.size(); }

  // --- outputs ---
  // Records the next takeBatch() will hold (about: snapshots counted once each).
  std::size_t pendingRecords() const { return batch_.recordCount() + dirty_.size(); }
  // Enrollment changes made so far, each counted (pendingRecords() counts an enrollment
  // changed twice before a batch once): with it, whether anything changed since a moment.
  std::uint64_t enrollmentChanges() const { return enrollment_changes_; }
  // The round's changes, with the next slice of a checkpoint when one is due or going on.
  WriteBatch takeBatch();
  // At shutdown, after the last takeBatch() was committed: adds the next slice of the
  // checkpoint going on, or starts one over every enrollment journaled since the last
  // start. True once none is going on and nothing is journaled since: then a start reads no
  // journal tail. Commit `batch` after each call (it may be empty once true).
  bool addShutdownCheckpointSlice(WriteBatch& batch);
  // The end of a round, once its batch went to the store (or was empty). Takes it back so
  // the next one reuses its vectors' room instead of growing (and copying) them again: a
  // round of imports gathers thousands of contacts. A vector with more room than
  // kRecycledBatchBytesMax is freed instead: the room of one large round (an import's, an
  // activate's) would otherwise stay with the process for good. Hands back the timer wheel's
  // room, once nothing is scheduled and no send is out or queued (every enrollment finished
  // or stopped, the sequences deactivated): no result can then schedule a step a round
  // later, and the daemon holds what a restart would.
  static constexpr std::size_t kRecycledBatchBytesMax = std::size_t{1} << 20;
  void afterCommit(WriteBatch&& spent);
  // Releases queued intents, oldest first, at most slots of each kind, appending each one's
  // kStepFired record to the batch: commit takeBatch() before delivering them.
  // A send that waited in the queue after it was decided (delivery had no room) counts
  // against its mailbox's limits from now_ms, when it leaves, instead of from the decision:
  // its record in the log and the governor's count move to the release. So the rolling
  // limits hold at the instants the relay sees, as long as no send waits longer than a
  // window (the simulation measured at most ~15 min behind relays that never answer). One
  // whose sending window closed while it waited is not released: its contact is scheduled
  // again, due at the next opening, where the step is decided again. A redelivery (a start's)
  // whose contact stopped or whose window closed while it waited is settled again instead
  // (settleSendOut: recorded interrupted, or held for its window).
  // kNoTime: counted from the decision, no window checked (tests that do not model the clock).
  std::vector<DeliveryIntent> takeIntents(DeliverySlots slots = DeliverySlots(),
                                          TimeMs now_ms = kNoTime);
  // The contacts, progress and sequence records gathered since the last takeBatch(), for
  // checks before they are committed (enrollment snapshots join at takeBatch()).
  const WriteBatch& pendingBatch() const { return batch_; }

  std::size_t enrollmentCount() const { return enrollments_.size(); }

  // For the metrics and STATUS=: enrollments by status and how many are due now and not yet
  // done (scheduled or active with next_at at or before now's whole second: waiting for a
  // sending window, a mailbox's capacity or a round). Counters kept as enrollments change
  // (engine/census.hpp): O(sequences + enrollments changed since the last call), not a pass.
  struct Census {
    StatusCounts by_status{};
    std::uint64_t due = 0;
  };
  Census census(TimeMs now_ms) const;
  // One sequence's enrollments by status, from the same counters.
  StatusCounts sequenceCensus(const std::string& sequence_id) const;
  // The enrollment with this id. REQUIRES: id < enrollmentCount().
  const Enrollment& enrollmentAt(EnrollmentId id) const {
    SEQD_ASSERT(id < enrollments_.size());
    return enrollments_[id];
  }
  std::size_t wheelEntries() const { return wheel_.size(); }
  std::size_t wheelBytes() const { return wheel_.memoryBytes(); }
  // The mailbox an enrollment's email out for delivery goes from, else its last one's; ""
  // for an unknown id.
  Symbol sendingMailbox(EnrollmentId id) const {
    if (id >= enrollments_.size()) return Symbol();
    const Enrollment& enrollment = enrollments_[id];
    return enrollment.sending ? sendingOut(enrollment).send.mailbox : enrollment.last_mailbox;
  }
  // The Message-ID of the email an enrollment has out for delivery, as its intent has it
  // (DeliveryIntent::messageId); "" when none or for an unknown id. For a log line: it builds
  // the text.
  std::string outMessageId(EnrollmentId id) const;
  // The email the enrollment has out for delivery; null when none (`sending` not set). Valid
  // until the engine next changes.
  const SendOut* sendOut(const Enrollment& enrollment) const {
    return enrollment.sending ? &sendingOut(enrollment).send : nullptr;
  }
  // The record the store writes for the row: it, its send out and its extras.
  EnrollmentRecord recordOf(const Enrollment& enrollment) const;
  // The enrollment's own mailboxes, steps unresolved and auto-resume time (all empty for most
  // rows). Valid until the engine next changes.
  const EnrollmentExtras& extrasOf(const Enrollment& enrollment) const;
  // When the enrollment resumes by itself; kNoTime: not by itself. Read only while it is
  // paused; kept when it stops otherwise, as its pause reason is (a removed contact added
  // again resumes paused).
  TimeMs resumeAt(const Enrollment& enrollment) const { return extrasOf(enrollment).resume_at_ms; }
  // How late each step fired after its due time, since start.
  const Histogram& firingLateness() const { return firing_lateness_; }

 private:
  // The add-time warnings for one contact (SPEC §3 rule 12, README "Add-time warnings"); the
  // other sequences it is in go to other_sequences.
  std::vector<std::string> addWarnings(const Sequence& sequence, const PackedContact& contact,
                                       const Enrollment* existing, const AddOptions& options,
                                       const Caller& caller,
                                       std::vector<std::string>& other_sequences) const;
  // One contact previewAdd decided to add: its key, and its enrollment in the sequence when
  // it has one (a re-add), else kNoEnrollment.
  struct AddPlan {
    Symbol contact_key;
    EnrollmentId existing = kNoEnrollment;
  };
  // previewAdd, and with `plan` what add() enrolls: every key is looked up once here, and the
  // plan carries its Symbol on.
  Result<AddResult> decideAdd(const std::string& sequence_id, const std::vector<std::string>& keys,
                              const std::unordered_map<std::string, Contact>& pending,
                              const AddOptions& options, const Caller& caller, TimeMs now_ms,
                              std::vector<AddPlan>* plan) const;
  // A new enrollment of the contact in the sequence; `of_sequence` is by_sequence_'s entry for
  // it (looked up once per add).
  EnrollmentId newEnrollment(Symbol sequence_id, Symbol contact_key, TimeMs now_ms,
                             std::vector<EnrollmentId>& of_sequence);
  void startEnrollment(Enrollment& enrollment, TimeMs start_ms);
  void scheduleNextStep(Enrollment& enrollment, TimeMs from_ms);
  void fire(Enrollment& enrollment, TimeMs now_ms);
  void fireEmail(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                 const PackedContact& contact, TimeMs now_ms);
  void fireManual(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                  const PackedContact& contact, TimeMs now_ms);
  ProgressRecord& appendProgress(ProgressKind kind, EnrollmentId enrollment_id,
                                 std::uint32_t step_index, TimeMs at_ms);
  void trackTask(const ProgressRecord& record);
  // Notes whether a task is final (done by a person) and drops the oldest final ones from
  // memory past done_tasks_in_memory_max; they stay in the store.
  void noteTaskState(const Task& task);
  void closeOpenTasks(Enrollment& enrollment, const std::string& reason, TimeMs now_ms);
  bool hasOpenTask(const Enrollment& enrollment, const Step* step) const;
  // Waits on the open or closed task of the current step if there is one (reopening it).
  bool resumeTask(Enrollment& enrollment, TimeMs now_ms);
  void markStepDone(Enrollment& enrollment, Symbol step_id, TimeMs at_ms);
  // The result of the send enrollment has out: its record, the report's counts, and
  // applyResult().
  void recordResult(Enrollment& enrollment, const DeliveryResult& result, TimeMs now_ms);
  void applyResult(Enrollment& enrollment, const DeliveryResult& result, TimeMs now_ms);
  void queueIntent(Enrollment& enrollment, DeliveryIntent intent, Transport transport);
  void withdrawQueuedSend(Enrollment& enrollment);
  void clearSending(Enrollment& enrollment);
  // The instant the governor counts enrollment's send at (it is sending).
  TimeMs countedAt(const Enrollment& enrollment) const;
  // restore()'s phases, in its order (engine.cpp, "Restore").
  using RowCounts = boost::unordered_flat_map<std::uint32_t, std::size_t>;
  void restoreContactsAndTeam(LoadedState& state, TimeMs now_ms);
  RowCounts takeEnrollmentRows(LoadedState& state);
  Status listEnrollments(const LoadedState& state, const RowCounts& sequence_rows);
  Status restoreSendsOut(const LoadedState& state);
  Status restoreExtras(const LoadedState& state);
  Status restoreTasksAndInbound(const LoadedState& state);
  Status restoreSendLimits(const LoadedState& state);
  // Corruption unless id names a restored enrollment (`what` `key` names the record).
  Status checkRestoredId(const char* what, std::uint64_t key, EnrollmentId id) const;
  std::vector<EnrollmentId> findStepsAgain(TimeMs now_ms);
  void restoreSend(Enrollment& enrollment, TimeMs now_ms);
  // A released send with no result that no worker has (a start's, or one held for its
  // window): on an idempotent transport delivered again (now or when its window opens) while
  // the contact waits on it, else dropped (dropRedelivery); over SMTP, or with its mailbox or
  // step gone, interrupted.
  void settleSendOut(Enrollment& enrollment, TimeMs now_ms);
  // A result for the send the enrollment has out, with outcome.
  DeliveryResult sendOutResult(const Enrollment& enrollment, DeliveryOutcome outcome) const;
  // Whether the enrollment still waits on the send it has out: the contact is active and
  // its sequence runs. A redelivery goes out only while it does.
  bool waitsOnSend(const Enrollment& enrollment) const;
  // The transport of the mailbox the enrollment's send is out on (SMTP when it is gone).
  Transport sendingTransport(const Enrollment& enrollment) const;
  // A released send the contact no longer waits on is not handed out again: it may have
  // landed before, so it is recorded as interrupted (onDeliveryResult's returned redelivery).
  void dropRedelivery(Enrollment& enrollment, TimeMs now_ms);
  // The step of the send the enrollment has out, or null when its sequence lost it.
  const Step* sendingStep(const Enrollment& enrollment) const;
  // When the enrollment's window opens again if it is closed at now_ms; nullopt when it is
  // open, or never opens.
  std::optional<TimeMs> closedUntil(const Enrollment& enrollment, TimeMs now_ms) const;
  // Holds a released send on an idempotent transport whose window is closed now until the
  // window opens (held_); false when it goes now.
  bool holdRedelivery(const Enrollment& enrollment, TimeMs now_ms);
  // The held sends whose window opened: settled again (settleSendOut).
  void releaseHeldRedeliveries(TimeMs now_ms);
  // Queues a released send on an idempotent transport again, its count moved to now (in the
  // log too); false when that mailbox or step is gone.
  bool redeliver(Enrollment& enrollment, TimeMs now_ms);
  void rearmAndRecountAll();
  const Step* currentStep(const Enrollment& enrollment) const;
  std::uint32_t currentStepIndex(const Sequence& sequence, const Enrollment& enrollment) const;
  std::uint32_t standingIndex(const Sequence& sequence, const Enrollment& enrollment) const;
  DurationMs waitOf(const Step& step) const;
  // When a step falls due after the previous one was done at from_ms: its wait as elapsed
  // time (m, h, d), or that many business days in the enrollment's zone (bd).
  TimeMs stepDueAt(const Enrollment& enrollment, const Step& step, TimeMs from_ms) const;
  // The schedule and the zone that count for an enrollment (engine/calendar.hpp).
  struct Window {
    ScheduleId schedule = kNoSchedule;
    ZoneId zone = kNoZone;
  };
  TimeMs stepDueAt(const Window& window, const Step& step, TimeMs from_ms) const;
  // `active`: isActive(sequence.id), looked up once per add.
  TimeMs firstSendAt(const Sequence& sequence, bool active, const PackedContact& contact,
                     const Enrollment* existing, TimeMs start_ms) const;
  Window windowOf(const Enrollment& enrollment) const;
  Window windowFor(const Sequence& sequence, const PackedContact* contact) const;
  // The window of the sequence's schedule in the contact's zone (a Symbol, "" for none).
  Window windowIn(const Sequence& sequence, Symbol contact_zone) const;
  // The first instant >= due_ms inside the enrollment's sending window; kNeverOpen when
  // none comes.
  TimeMs openAt(const Enrollment& enrollment, TimeMs due_ms) const;
  // Puts an enrollment of an active sequence on the wheel at wheelTime(), or takes it off
  // when it waits for nothing timed.
  void arm(Enrollment& enrollment);
  // Why a step due at due_ms waits beyond it: "" when its window is open then.
  std::string windowGate(const Enrollment& enrollment, TimeMs due_ms) const;
  const Mailbox* findMailbox(const std::string& address) const;
  void markNotSent(Enrollment& enrollment, std::string reason);
  // The current step is done: moves on to the next (its wait counted from done_at_ms) or
  // finishes.
  void completeStep(Enrollment& enrollment, const Sequence& sequence, TimeMs done_at_ms);
  std::string pickMailbox(const Enrollment& enrollment, const Sequence& sequence, const Step& step,
                          const std::string& domain, TimeMs now_ms, TimeMs& free_at_ms);
  TimeMs wheelTime(const Enrollment& enrollment) const;
  TimeMs nextTickStart(TimeMs now_ms) const;
  // Counts a kStepFired record in logged_sends_ (at a restart and for each committed batch).
  void replaySend(const ProgressRecord& record);
  // Whether `send` is the send the enrollment has out.
  bool isSendingOut(const Enrollment& enrollment, const SendKey& send) const;
  // What the governor's recordSend() seeds the mailbox's jitter from: the intent's Message-ID
  // where the mailbox has a jitter, else "" (the count is the same; the text is not built).
  std::string jitterSeed(const DeliveryIntent& intent) const;
  // The recipient's domain as logged_sends_ counts it.
  std::string loggedDomain(const Enrollment& enrollment) const;
  // Folds one record of the log into logged_sends_ and logged_out_, as a restart replays the
  // log: a send counts at its record's at_ms; one that came back not attempted gives it back;
  // a redelivery's record moves the count of the send out to its at_ms.
  void foldLoggedSend(const ProgressRecord& record);
  // Adds a snapshot of logged_sends_ to batch when one is due (or `now`), covering the
  // records committed with it: every seq up to through_seq.
  void addGovernorSnapshot(WriteBatch& batch, std::uint64_t through_seq, bool now);
  DurationMs historyKeepMs() const;
  void saveSnapshot(Enrollment& enrollment);
  // Counts the enrollments changed since the census last counted them (those marked for the
  // next snapshot); a restore and a reload count every one (rearmAndRecountAll).
  void syncCensus() const;
  // Asks the CPU for what firing expired_[at + 1...] will read (see its definition).
  void prefetchDue(std::size_t at) const;
  void noteJournaled(EnrollmentId id);
  // REQUIRES: rows_max > 0.
  void addCheckpointSlice(WriteBatch& batch, std::size_t rows_max);
  // Puts a stopped enrollment back on its current step: waiting on its send if one is still
  // out, or on the step's task; else due at its old time, or now if that has passed (or at
  // now + the step's wait when it never started).
  void rearm(Enrollment& enrollment, TimeMs now_ms);
  // Takes the enrollment off the wheel with a new status; withdraws a queued send.
  void stopEnrollment(Enrollment& enrollment, EnrollmentStatus status);
  std::string applyOperator(Enrollment& enrollment, const OperatorRequest& request, TimeMs now_ms);
  void pauseForOoo(Enrollment& enrollment, const ContactEvent& event, TimeMs now_ms);
  bool eventChanges(const Enrollment& enrollment, const ContactEvent& event) const;
  ContactRef findContactWith(const std::string& key,
                             const std::unordered_map<std::string, Contact>& pending) const;
  std::uint8_t scoreOf(const Enrollment& enrollment) const;
  void indexContactsForInbound() const;
  const Enrollment* findSentMessage(const std::string& message_id) const;
  const Enrollment* findBySender(const std::string& address, const std::string& mailbox) const;
  void noteInbound(const ProgressRecord& record);
  std::string inboundNote(EnrollmentId id) const;
  StatusRow statusRow(const Enrollment& enrollment) const;
  // The intent of a step's email sent from address at at_ms, or nullopt with the reason it
  // cannot go (its templates do not render for the contact, or the mailbox is unknown).
  std::optional<DeliveryIntent> makeIntent(const Enrollment& enrollment, const Step& step,
                                           TimeMs at_ms, const std::string& address,
                                           std::string& not_sent_reason) const;
  // contacts_' entry for a key: null when no contact has it. The pointers are valid until the
  // next contact is stored (the vector may grow).
  const ContactRef* contactUnder(Symbol key) const {
    return key.index() < contacts_.size() && contacts_[key.index()] != nullptr
               ? &contacts_[key.index()]
               : nullptr;
  }
  // Under exactly this key; a key never interned has no contact (and is not interned).
  const ContactRef* exactContact(std::string_view key) const;
  const ContactRef* findContactSnapshot(const std::string& key) const;
  // The enrollment's contact under its exact key, or null when no contact has that key.
  const ContactRef* exactContactSlot(const Enrollment& enrollment) const {
    return contactUnder(enrollment.contact_key);
  }
  // Its contact as findContactSnapshot(contact_key) finds it, through exactContactSlot first.
  const ContactRef* contactSlot(const Enrollment& enrollment) const;
  const ContactRef* contactSlot(Symbol contact_key) const;
  // Sets each of `rows`' contact references: set(row, contactSlot(key_of(row))) for each, in
  // order, with a slot's entry in contacts_ and then the contact's block fetched some rows
  // ahead. For rows whose contacts lie scattered (tasks by id: in the order their steps fell
  // due, best score first): taking a reference is an atomic write to the block, and one that
  // waits on a cache miss holds back every load after it (1M tasks: ~190 ms of ~240).
  template <typename Rows, typename KeyOf, typename Set>
  void setContactRefs(Rows& rows, const KeyOf& key_of, const Set& set) const;
  // Calls visit(task) for each task in memory, by id, with the enrollment of a task some
  // places on fetched ahead when reads(task) says visit reads it: tasks by id name
  // enrollments scattered over enrollments_ (in the order their steps fell due), and a pass
  // that reads each one's row waited on a cache miss a task (1M tasks: ~60% of `report`'s
  // pass over them). Fetching those a filter skips would only slow the pass.
  template <typename Reads, typename Visit>
  void forEachTaskAhead(const Reads& reads, const Visit& visit) const;
  const PackedContact* contactOf(const Enrollment& enrollment) const {
    const ContactRef* slot = contactSlot(enrollment);
    return slot == nullptr ? nullptr : slot->get();
  }
  // Stores (or replaces) the contact under its key.
  void storeContact(ContactRef contact);
  // Packs the contact, stores it and writes it with the round: an edit's or an import's.
  // Replaced, never changed in place: an intent out holds the contact as it was.
  void putContact(const Contact& contact);
  // The enrollment of (sequence, contact key) by exact key; null when there is none.
  const Enrollment* findPair(std::string_view sequence_id, std::string_view contact_key) const;
  const Enrollment* findPairBySymbol(Symbol sequence_id, Symbol contact_key) const;
  // A contact's enrollments, in the order they were made (increasing id): a walk along
  // next_enrollment_ from the contact's first.
  class ContactEnrollments {
   public:
    class Iterator {
     public:
      using value_type = EnrollmentId;
      using difference_type = std::ptrdiff_t;
      Iterator() = default;
      Iterator(const std::vector<EnrollmentId>* next, EnrollmentId at) : next_(next), at_(at) {}
      EnrollmentId operator*() const { return at_; }
      Iterator& operator++() {
        at_ = (*next_)[at_];
        return *this;
      }
      Iterator operator++(int) {
        Iterator before = *this;
        ++*this;
        return before;
      }
      friend bool operator==(Iterator a, Iterator b) { return a.at_ == b.at_; }

     private:
      const std::vector<EnrollmentId>* next_ = nullptr;
      EnrollmentId at_ = kNoEnrollment;
    };
    ContactEnrollments(const std::vector<EnrollmentId>* next, EnrollmentId first)
        : next_(next), first_(first) {}
    Iterator begin() const { return Iterator(next_, first_); }
    Iterator end() const { return Iterator(next_, kNoEnrollment); }
    bool empty() const { return first_ == kNoEnrollment; }

   private:
    const std::vector<EnrollmentId>* next_;
    EnrollmentId first_;
  };
  // A contact's enrollments (by exact key), in the order they were made; empty when none.
  ContactEnrollments contactEnrollments(std::string_view contact_key) const;
  ContactEnrollments contactEnrollmentsBySymbol(Symbol contact_key) const;
  // Appends the enrollment id (the newest) to its contact's list.
  void linkToContact(EnrollmentId id, Symbol contact_key);

  // Report counters (engine/report.hpp): the id of the variant the step's email goes (went)
  // with for the enrollment's contact, by the weights configured now ("" : none).
  std::string variantFor(const Enrollment& enrollment, std::string_view step_id) const;
  // The counter an email's result counts in (its step, variant, mailbox).
  ReportKey sendingKey(const Enrollment& enrollment) const;
  // The counter an event counts in: the last email the contact was sent in the sequence, or
  // the step it is on when it got none.
  ReportKey creditedKey(const Enrollment& enrollment) const;
  // A count with no email behind it (not_sent, tasks): the step only.
  void countAtStep(const Enrollment& enrollment, Symbol step_id, ReportCount count);

  void scheduleWorkflows(TimeMs now_ms);
  void runDueWorkflows(TimeMs now_ms);
  void runWorkflow(const WorkflowSpec& spec, TimeMs now_ms);

  EngineSettings settings_;
  // settings_.sequences by their id's Symbol index; rebuilt by indexSequences() whenever
  // settings_ is set.
  boost::unordered_flat_map<std::uint32_t, const Sequence*> sequence_index_;
  void indexSequences();
  // Counted as enrollments change; synced before it is read, hence mutable (census()).
  mutable EnrollmentCensus census_;
  WorkflowState workflow_state_;
  ReportCounters report_counters_;
  // The email each enrollment has out (its row's `sending` set), by enrollment id: the SendOut
  // the store writes with the row, whose step and mailbox each result is checked against
  // (isSendingOut); and the variant id it was decided with (what its kStepFired and result
  // records carry and count under). A few thousand at a time, where the row's 16 bytes for
  // them cost 160 MB at ten million rows.
  struct SendingOut {
    SendOut send;
    Symbol variant;
  };
  boost::unordered_flat_map<EnrollmentId, SendingOut> sends_out_;
  // The rows' extras (extrasOf()) by enrollment id, only those not empty: few rows have any,
  // and the row's 16 bytes for them cost 160 MB at ten million rows.
  boost::unordered_flat_map<EnrollmentId, EnrollmentExtras> extras_;
  // Applies change to the enrollment's extras; an entry left empty is dropped, none made.
  template <typename Change>
  void changeExtras(const Enrollment& enrollment, const Change& change) {
    const auto at = extras_.empty() ? extras_.end() : extras_.find(enrollment.id);
    if (at != extras_.end()) {
      change(at->second);
      if (at->second.empty()) extras_.erase(at);
      return;
    }
    EnrollmentExtras extras;
    change(extras);
    if (!extras.empty()) extras_.emplace(enrollment.id, extras);
  }
  // kNoTime: none.
  void setResumeAt(const Enrollment& enrollment, TimeMs at_ms);
  // REQUIRES: enrollment.sending.
  SendingOut& sendingOut(const Enrollment& enrollment);
  const SendingOut& sendingOut(const Enrollment& enrollment) const;
  // Sends released to delivery whose count the governor holds at an instant other than their
  // SendOut's at_ms (released later than decided, or written again after a restart): that
  // instant, so a send that comes back not attempted gives its count back.
  boost::unordered_flat_map<EnrollmentId, TimeMs> counted_at_;
  std::map<WorkflowState::Key, TimeMs> workflow_next_;  // when each configured one runs next
  ContactLists lists_;
  SequenceShares shares_;
  // Caches local days and zone offsets as it answers, hence mutable: reads such as status()
  // ask it too.
  mutable SendingCalendar calendar_;
  TimerWheel wheel_;
  Histogram firing_lateness_ = firingLatenessHistogram();
  SendGovernor governor_;
  // The sends as the log holds them: every kStepFired record appended, counted in seq order
  // at its at_ms (governor_ also counts sends queued and not yet released, and a restart's
  // re-deliveries). Its state is what GovernorSnapshot writes, so a restart that restores it
  // and counts the records after it has what counting the whole kept log would give.
  SendGovernor logged_sends_;
  std::uint64_t governor_snapshot_seq_ = 0;  // the last snapshot's through_seq
  // The sends out as the log has them (a kStepFired record and no result yet), by
  // enrollment: when each was counted.
  boost::unordered_flat_map<EnrollmentId, TimeMs> logged_out_;
  // The sequences' templates parsed, the senders' From lines, the unsubscribe settings: what
  // the workers render from. Rebuilt by reconfigure(); intents out keep theirs alive.
  std::shared_ptr<const RenderSettings> render_;
  // Immutable snapshots, replaced when a contact changes: intents out hold the one they fired
  // with.
  // Indexed by the key's Symbol index (engine/symbol.hpp), null where no contact has that
  // Symbol as its key: the key's text is stored once, in the symbol table, and an
  // enrollment's contact is one array read away. Costs 8 bytes per interned string, most of
  // which are contact keys (the rest: ids, reasons, mailboxes, column names, a few).
  std::vector<ContactRef> contacts_;
  ContactZones contact_zones_;  // each contact's zone, by the same index as contacts_
  std::size_t contact_count_ = 0;
  std::vector<Enrollment> enrollments_;  // index == EnrollmentId
  std::map<std::string, std::vector<EnrollmentId>> by_sequence_;
  // Each contact's enrollments as a list linked through the ids, oldest first: the first by
  // the contact key's Symbol index (as contacts_), the next by enrollment id, kNoEnrollment at
  // the end. 4 bytes a contact and 4 an enrollment, where a vector per contact in a flat map
  // cost ~55 bytes an enrollment. A contact has an enrollment per sequence at most, so the
  // walk to the end that an append takes is short.
  std::vector<EnrollmentId> first_enrollment_;
  std::vector<EnrollmentId> next_enrollment_;
  // The active sequences, by their ids' Symbol indexes.
  boost::unordered_flat_set<std::uint32_t> active_sequences_;
  std::map<std::uint64_t, Task> tasks_;  // by id
  // (enrollment, step id) -> its one task, open or closed
  std::map<std::pair<EnrollmentId, Symbol>, std::uint64_t> step_tasks_;
  // Ids of the tasks in tasks_ done by a person, oldest first dropped past the bound.
  std::set<std::uint64_t> done_tasks_;
  // The enrollments with a task dropped from tasks_ (kept only in the store): what a `tasks`
  // read needs to list those (tasksSnapshot).
  boost::unordered_flat_set<EnrollmentId> archived_task_enrollments_;
  std::map<std::string, std::uint64_t, std::less<>>
      rotation_;              // send-from set -> round-robin counter
  std::string rotation_key_;  // pickMailbox's scratch for a set's key
  // Inbound messages applied (by Message-ID), and the last one that changed each enrollment
  // (for explain). Rebuilt from the store's inbound table at a restart.
  struct InboundNote {
    std::string message_id;
    TimeMs at_ms = kNoTime;
    std::string detail;
  };
  std::unordered_set<std::string> inbound_applied_;
  // The same, oldest first, with when each was applied: forgotten once older than
  // inbound_keep_ms, as the store's inbound table forgets them (so not kept until a restart).
  // The pointers are to the set's keys, which stay put while they are in it.
  std::deque<std::pair<TimeMs, const std::string*>> inbound_applied_order_;
  std::unordered_map<EnrollmentId, InboundNote> inbound_notes_;
  // Contacts by the hash of their key that seqd's Message-IDs carry, and by the hash of their
  // lower-case email (the email compared again on lookup), as their key's Symbol index
  // (engine/contact_hash_index.hpp): built at the first inbound message, then kept as the
  // contacts change (storeContact). 5.3-10.7 bytes a contact in each. Sorted (hash, key)
  // pairs took 16 and were built again at the first message after any contact changed: a sort of
  // every contact on the engine thread, seconds at ten million.
  mutable ContactHashIndex contacts_by_key_hash_;
  mutable ContactHashIndex contacts_by_email_;
  mutable bool inbound_index_built_ = false;
  // The hashes the two indexes hold a contact under (by its key's Symbol index).
  std::uint64_t keyHashOf(std::uint32_t index) const;
  std::uint64_t emailHashOf(std::uint32_t index) const;
  // Keeps the indexes up to date with a contact stored under index (before: the contact it
  // replaces, or null for a new one). Called once contacts_ holds the new one.
  void reindexContactForInbound(std::uint32_t index, const PackedContact* before);
  std::uint64_t progress_seq_ = 0;
  std::size_t in_flight_ = 0;  // released sends with no result, held ones included
  // Released Maildir sends a start found without a result while their window was closed,
  // held until it opens (restoreSend): by enrollment, when; and by when.
  std::unordered_map<EnrollmentId, TimeMs> held_;
  std::set<std::pair<TimeMs, EnrollmentId>> held_due_;
  WriteBatch batch_;
  std::vector<EnrollmentId> dirty_;       // enrollments to snapshot in the next batch
  std::vector<bool> is_dirty_;            // index == EnrollmentId
  std::uint64_t enrollment_changes_ = 0;  // saveSnapshot() calls
  // Checkpoints: the enrollments journaled since the last one started, and the one going on
  // (its ids ascending, and how many of them are written).
  std::vector<bool> journaled_;  // index == EnrollmentId
  std::vector<EnrollmentId> journaled_ids_;
  std::size_t snapshots_since_checkpoint_ = 0;
  std::vector<EnrollmentId> checkpoint_ids_;
  std::size_t checkpoint_written_ = 0;
  // Decided sends not yet released, in release order per kind of transport.
  struct QueueEntry {
    EnrollmentId id;
    std::uint64_t ticket;
  };
  struct QueuedIntent {
    DeliveryIntent intent;
    std::uint64_t ticket;  // matches its QueueEntry; a withdrawn send's entry matches nothing
  };
  std::deque<QueueEntry> queued_smtp_;
  std::deque<QueueEntry> queued_idempotent_;
  boost::unordered_flat_map<EnrollmentId, QueuedIntent> queued_;
  std::uint64_t queue_tickets_ = 0;
  std::vector<TimerWheel::Expired> expired_;
};

template <typename Rows, typename KeyOf, typename Set>
void Engine::setContactRefs(Rows& rows, const KeyOf& key_of, const Set& set) const {
  // A slot is asked for twice as far ahead as its block, which needs the slot read.
  constexpr std::size_t kAhead = 16;
  const std::size_t count = rows.size();
  for (std::size_t at = 0; at < count; ++at) {
    if (at + 2 * kAhead < count) {
      const std::uint32_t index = key_of(rows[at + 2 * kAhead]).index();
      if (index < contacts_.size()) __builtin_prefetch(&contacts_[index]);
    }
    if (at + kAhead < count) {
      const ContactRef* ahead = contactUnder(key_of(rows[at + kAhead]));
      if (ahead != nullptr) __builtin_prefetch(ahead->get(), 1);
    }
    set(rows[at], contactSlot(key_of(rows[at])));
  }
}

template <typename Reads, typename Visit>
void Engine::forEachTaskAhead(const Reads& reads, const Visit& visit) const {
  constexpr std::size_t kAhead = 8;
  auto ahead = tasks_.begin();
  for (std::size_t skipped = 0; skipped < kAhead && ahead != tasks_.end(); ++skipped) ++ahead;
  for (const auto& entry : tasks_) {
    if (ahead != tasks_.end()) {
      const EnrollmentId id = ahead->second.enrollment_id;
      if (id < enrollments_.size() && reads(ahead->second)) __builtin_prefetch(&enrollments_[id]);
      ++ahead;
    }
    visit(entry.second);
  }
}

}  // namespace seqd
