// Engine: every contact, sequence activation and enrollment, the timer wheel over them, and
// the rules that move an enrollment from step to step.
//
// Pure and deterministic: no I/O, no threads, no clock reads. The caller passes `now` into
// every call that needs it. Every state change is appended to a WriteBatch (takeBatch());
// every email to send comes out as a DeliveryIntent (takeIntents()). The caller commits the
// batch before it delivers intents or acknowledges commands.
//
// Step lifecycle (auto_email): scheduled (on the wheel at next_at) -> due: a mailbox with
// capacity is picked (SendGovernor; none free: the enrollment waits `active` on the wheel
// until one is), the message is rendered, a kStepFired record is logged, and the enrollment
// moves to the next step (scheduled at now + its wait) or to finished(completed). A step that
// cannot be sent (no email, opted out, blocked stage, missing template variable) moves the
// enrollment to not_sent with the reason, and it stays on that step. A failed delivery puts
// it back on that step (retried after a backoff, or bounced / not_sent).
// Manual steps create a Task and wait `active` until it is completed or skipped.
//
// The Engine's methods live in several files by concern: engine.cpp (contacts, sequences,
// adding, due steps, delivery results, restore), operations.cpp (pause, resume, ...),
// events.cpp (reply, ooo, ... and explain), tasks.cpp (the task queue).
//
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/commands.hpp"
#include "engine/contact.hpp"
#include "engine/delivery.hpp"
#include "engine/enrollment.hpp"
#include "engine/governor.hpp"
#include "engine/mailbox.hpp"
#include "engine/records.hpp"
#include "engine/schedule.hpp"
#include "engine/sequence.hpp"
#include "engine/status.hpp"
#include "engine/task.hpp"
#include "engine/timer_wheel.hpp"

namespace seqd {

inline constexpr std::size_t kFireBatchMax = 4096;

struct EngineSettings {
  std::map<std::string, Sequence> sequences;
  std::map<std::string, Schedule> schedules;
  std::vector<Mailbox> mailboxes;
  DurationMs tick_ms = 100;
  DurationMs ooo_default_pause_ms = 7 * kDayMs;
};

class Engine {
 public:
  Engine(EngineSettings settings, TimeMs now_ms);

  // Rebuilds state from the store. Emails whose step fired but whose delivery result was
  // never recorded are handed out again as intents (Maildir delivery is idempotent).
  // REQUIRES: called once, before any command.
  Status restore(const LoadedState& state, TimeMs now_ms);

  // Replaces sequences, schedules and mailboxes (reload). Enrollments of removed
  // sequences are kept but idle.
  void reconfigure(EngineSettings settings);

  // --- contacts ---
  ImportResult upsertContacts(const std::vector<ContactRow>& rows);
  const Contact* findContact(const std::string& key) const;
  Status setContactFields(const std::string& key, const ContactRow& fields);

  // --- sequences ---
  std::vector<SequenceSummary> sequences() const;
  const Sequence* findSequence(const std::string& id) const;
  bool isActive(const std::string& sequence_id) const;
  Status activate(const std::string& sequence_id, const Caller& caller, TimeMs now_ms);
  Status deactivate(const std::string& sequence_id, const Caller& caller);

  // --- enrollments ---
  Result<AddResult> add(const std::string& sequence_id, const std::vector<std::string>& keys,
                        const AddOptions& options, const Caller& caller, TimeMs now_ms);
  Result<std::vector<StatusRow>> status(const std::string& sequence_id,
                                        const StatusFilter& filter) const;
  const Enrollment* findEnrollment(const std::string& sequence_id,
                                   const std::string& contact_key) const;
  // pause, resume, finish, remove, retry, set-mailbox (engine/operations.cpp).
  Result<ContactsResult> operate(const std::string& sequence_id, const OperatorRequest& request,
                                 const Caller& caller, TimeMs now_ms);
  // reply, meeting_booked, unsubscribe, bounce, ooo, stage (engine/events.cpp).
  Result<EventResult> applyEvent(const ContactEvent& event, TimeMs now_ms);
  // The ids of the sequences applyEvent(event) would change, without changing anything, so
  // rights can be checked on each first (engine/event_scope.cpp). applyEvent changes no
  // sequence outside this list.
  std::vector<std::string> sequencesChangedBy(const ContactEvent& event) const;
  // What add(sequence_id, keys, options with dry_run) would answer if the contacts in
  // `pending` (by key) were stored as given, changing nothing: add --csv --dry-run previews
  // its rows without storing them (engine/add_preview.cpp).
  Result<AddResult> previewAdd(const std::string& sequence_id, const std::vector<std::string>& keys,
                               const std::unordered_map<std::string, Contact>& pending,
                               const AddOptions& options, const Caller& caller) const;
  // Every configured mailbox with its sends in the rolling hour and day and its next free slot.
  std::vector<MailboxRow> mailboxes(TimeMs now_ms) const;

  // --- tasks (engine/tasks.cpp) ---
  std::vector<TaskRow> tasks(const TaskFilter& filter) const;
  // Completes (or skips) an open task: the step counts as done and the contact moves on.
  // Allowed for the task's owner, the sequence's owner and admins.
  Status finishTask(std::uint64_t task_id, bool skip, const Caller& caller, TimeMs now_ms);

  // One paragraph on why the contact is where it is and what happens next, when.
  Result<std::string> explain(const std::string& sequence_id, const std::string& contact_key) const;

  // --- time ---
  // Fires every step due at or before now_ms, in due order, highest score first per tick.
  void advanceTo(TimeMs now_ms);
  // When the next step falls due; nullopt when nothing is scheduled.
  std::optional<TimeMs> nextDue() const { return wheel_.nextDue(); }

  // --- delivery ---
  void onDeliveryResult(const DeliveryResult& result, TimeMs now_ms);
  std::size_t deliveriesInFlight() const { return in_flight_; }

  // --- outputs ---
  WriteBatch takeBatch();
  // The batch gathered since the last takeBatch(), for checks before it is committed.
  const WriteBatch& pendingBatch() const { return batch_; }
  std::vector<DeliveryIntent> takeIntents();

  std::size_t enrollmentCount() const { return enrollments_.size(); }

 private:
  Status checkCanEdit(const Sequence& sequence, const Caller& caller) const;
  std::vector<std::string> addWarnings(const Sequence& sequence, const Contact& contact,
                                       const Enrollment* existing, const Caller& caller) const;
  EnrollmentId newEnrollment(const std::string& sequence_id, const std::string& contact_key,
                             TimeMs now_ms);
  void startEnrollment(Enrollment& enrollment, TimeMs start_ms);
  void scheduleNextStep(Enrollment& enrollment, TimeMs from_ms);
  void fire(Enrollment& enrollment, TimeMs now_ms);
  void fireEmail(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                 const Contact& contact, TimeMs now_ms);
  void fireManual(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                  const Contact& contact, TimeMs now_ms);
  ProgressRecord& appendProgress(ProgressKind kind, EnrollmentId enrollment_id,
                                 std::uint32_t step_index, TimeMs at_ms);
  void trackTask(const ProgressRecord& record);
  DurationMs waitOf(const Step& step) const;
  const Mailbox* findMailbox(const std::string& address) const;
  void trackDeliveryFailures(const ProgressRecord& record);
  void markNotSent(Enrollment& enrollment, std::string reason);
  void completeStep(Enrollment& enrollment, const Sequence& sequence, TimeMs now_ms);
  std::string pickMailbox(const Enrollment& enrollment, const Sequence& sequence, const Step& step,
                          const std::string& domain, TimeMs now_ms, TimeMs& free_at_ms);
  TimeMs wheelTime(const Enrollment& enrollment) const;
  TimeMs nextTickStart(TimeMs now_ms) const;
  void applyProgress(const ProgressRecord& record);
  void saveSnapshot(Enrollment& enrollment);
  // Puts a stopped enrollment back on its current step: due at its old time, or now if that
  // has passed (or at now + the step's wait when it never started).
  void rearm(Enrollment& enrollment, TimeMs now_ms);
  void stopEnrollment(Enrollment& enrollment, EnrollmentStatus status);
  std::string applyOperator(Enrollment& enrollment, const OperatorRequest& request, TimeMs now_ms);
  void pauseForOoo(Enrollment& enrollment, const ContactEvent& event, TimeMs now_ms);
  bool eventChanges(const Enrollment& enrollment, const ContactEvent& event) const;
  const Contact* findContactWith(const std::string& key,
                                 const std::unordered_map<std::string, Contact>& pending) const;
  std::uint8_t scoreOf(const Enrollment& enrollment) const;
  StatusRow statusRow(const Enrollment& enrollment) const;
  bool renderStepText(const Step& step, const Contact& contact, std::string& subject,
                      std::string& body, std::string& not_sent_reason) const;
  std::optional<DeliveryIntent> renderIntent(const Enrollment& enrollment, std::uint32_t step_index,
                                             TimeMs at_ms, const std::string& address,
                                             std::string& not_sent_reason) const;

  EngineSettings settings_;
  TimerWheel wheel_;
  SendGovernor governor_;
  std::unordered_map<std::string, Contact> contacts_;
  std::vector<Enrollment> enrollments_;                    // index == EnrollmentId
  std::unordered_map<std::string, EnrollmentId> by_pair_;  // sequence '\x1f' contact
  std::map<std::string, std::vector<EnrollmentId>> by_sequence_;
  std::unordered_map<std::string, std::vector<EnrollmentId>> by_contact_;
  std::set<std::string> active_sequences_;
  std::map<EnrollmentId, int> delivery_failures_;  // consecutive temporary failures
  std::map<std::uint64_t, Task> tasks_;            // by id
  std::map<std::pair<EnrollmentId, std::uint32_t>, std::uint64_t> open_tasks_;  // step -> task
  std::map<std::string, std::uint64_t> rotation_;  // send-from set -> round-robin counter
  std::uint64_t progress_seq_ = 0;
  std::size_t in_flight_ = 0;
  WriteBatch batch_;
  std::vector<DeliveryIntent> intents_;
  std::vector<TimerWheel::Expired> expired_;
};

}  // namespace seqd
