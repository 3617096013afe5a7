#include "engine/engine.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "engine/assert.hpp"
#include "engine/email_address.hpp"
#include "engine/message.hpp"
#include "engine/permissions.hpp"
#include "engine/render.hpp"

namespace seqd {
namespace {

bool isTerminalForOtherSequences(EnrollmentStatus status) {
  return status == EnrollmentStatus::kFinished || status == EnrollmentStatus::kRemoved;
}

bool contains(const std::vector<std::string>& values, std::string_view value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

bool isEmailStep(StepType type) { return type == StepType::kAutoEmail; }

// The progress-log detail of a send that came back not attempted (seqd was stopping).
constexpr std::string_view kNotAttemptedDetail = "returned: not attempted";

}  // namespace

Engine::Engine(EngineSettings settings, TimeMs now_ms)
    : settings_(std::move(settings)),
      calendar_(settings_.schedules),
      wheel_(now_ms, settings_.tick_ms) {
  governor_.configure(settings_.mailboxes);
  logged_sends_.configure(settings_.mailboxes);
  render_ = compileRenderSettings(settings_.sequences, settings_.mailboxes, settings_.unsubscribe);
  indexSequences();
  scheduleWorkflows(now_ms);
}

TimeMs Engine::nextTickStart(TimeMs now_ms) const {
  const DurationMs tick_ms = settings_.tick_ms;
  TimeMs tick = now_ms / tick_ms - (now_ms % tick_ms < 0 ? 1 : 0);  // floor
  return (tick + 1) * tick_ms;
}

// When an enrollment is due back on the wheel, or kNoTime when it waits for nothing timed:
// a step goes at the first open instant of its window, an auto-resume at its time.
TimeMs Engine::wheelTime(const Enrollment& enrollment) const {
  switch (enrollment.status) {
    case EnrollmentStatus::kScheduled:
    case EnrollmentStatus::kActive: {  // next_at set: waiting for mailbox capacity
      if (enrollment.next_at_ms == kNoTime) return kNoTime;
      const TimeMs open_ms = openAt(enrollment, enrollment.next_at_ms);
      return open_ms == kNeverOpen ? kNoTime : open_ms;
    }
    case EnrollmentStatus::kPaused:
      return resumeAt(enrollment);
    default:
      return kNoTime;
  }
}

void Engine::arm(Enrollment& enrollment) {
  const TimeMs due_ms = isActive(enrollment) ? wheelTime(enrollment) : kNoTime;
  if (due_ms == kNoTime) {
    wheel_.cancel(enrollment.id);
  } else {
    wheel_.schedule(enrollment.id, due_ms, scoreOf(enrollment));
  }
}

// ---------------------------------------------------------------------------------------
// Sending windows

Engine::Window Engine::windowIn(const Sequence& sequence, Symbol contact_zone) const {
  Window window;
  window.schedule = calendar_.findSchedule(sequence.schedule);
  if (window.schedule == kNoSchedule) return window;
  window.zone = calendar_.scheduleZone(window.schedule);
  // An unknown or empty contact zone falls back to the schedule's; import and `contact
  // set` refuse unknown names, so only a zone the tz database dropped lands here.
  if (sequence.timezone_from_contact && !contact_zone.empty()) {
    const ZoneId zone = calendar_.findZone(contact_zone.view());
    if (zone != kNoZone) window.zone = zone;
  }
  return window;
}

Engine::Window Engine::windowFor(const Sequence& sequence, const PackedContact* contact) const {
  return windowIn(sequence, contact != nullptr ? contact->timezoneSymbol() : Symbol());
}

Engine::Window Engine::windowOf(const Enrollment& enrollment) const {
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr) return Window();
  if (!sequence->timezone_from_contact) return windowIn(*sequence, Symbol());
  // The contact's zone without reading the contact, when it is under the enrollment's key.
  if (std::optional<Symbol> zone = contact_zones_.find(enrollment.contact_key.index())) {
    return windowIn(*sequence, *zone);
  }
  return windowFor(*sequence, contactOf(enrollment));
}

TimeMs Engine::openAt(const Enrollment& enrollment, TimeMs due_ms) const {
  const Window window = windowOf(enrollment);
  return calendar_.nextOpen(window.schedule, window.zone, due_ms);
}

TimeMs Engine::stepDueAt(const Enrollment& enrollment, const Step& step, TimeMs from_ms) const {
  // Only business-day waits read the window: the contact lookup it takes was ~6% of the
  // engine thread's time in a step (perf/RESULTS.md, "The write path").
  if (!step.wait_business_days) return from_ms + step.wait_ms;
  return stepDueAt(windowOf(enrollment), step, from_ms);
}

TimeMs Engine::stepDueAt(const Window& window, const Step& step, TimeMs from_ms) const {
  if (!step.wait_business_days) return from_ms + step.wait_ms;
  const TimeMs due_ms = calendar_.addBusinessDays(window.schedule, window.zone, from_ms,
                                                  static_cast<std::uint32_t>(step.wait_ms));
  return due_ms == kNeverOpen ? from_ms + waitOf(step) : due_ms;
}

std::string Engine::windowGate(const Enrollment& enrollment, TimeMs due_ms) const {
  const Window window = windowOf(enrollment);
  const TimeMs open_ms = calendar_.nextOpen(window.schedule, window.zone, due_ms);
  if (open_ms == due_ms) return std::string();
  const std::string& zone = calendar_.zoneName(window.zone);
  if (open_ms == kNeverOpen) {
    return "no sending window of schedule '" + sequenceOf(enrollment)->schedule + "' opens in " +
           zone + " within the horizon";
  }
  std::string gate;
  if (std::optional<LocalDate> holiday =
          calendar_.holidayAt(window.schedule, window.zone, due_ms)) {
    gate = "holiday " + formatLocalDate(*holiday) + " in " + zone + ": ";
  } else {
    gate = "outside the window: ";
  }
  return gate + "next opens " + calendar_.formatLocal(window.zone, open_ms) + " " + zone + " (" +
         formatRfc3339(open_ms) + ")";
}

// ---------------------------------------------------------------------------------------
// Restore

// The phases in order: each stands on the ones before it (the rows' lists need the contacts'
// slots, the steps found again need the tasks, settling a send out needs the send limits, and
// arming needs every row settled). Nothing is written until the first commit after it, so a
// crash in the middle leaves the store as it was.
Status Engine::restore(LoadedState state, TimeMs now_ms) {
  restoreContactsAndTeam(state, now_ms);
  const RowCounts sequence_rows = takeEnrollmentRows(state);
  Status status = listEnrollments(state, sequence_rows);
  if (status.isOk()) status = restoreSendsOut(state);
  if (status.isOk()) status = restoreExtras(state);
  if (status.isOk()) status = restoreTasksAndInbound(state);
  if (status.isOk()) status = restoreSendLimits(state);
  if (!status.isOk()) return status;
  const std::vector<EnrollmentId> sends_out = findStepsAgain(now_ms);
  if (sends_out.size() != sends_out_.size()) {
    return Status::corruption("rows with a send out: " + std::to_string(sends_out.size()) +
                              "; sends out kept beside them: " + std::to_string(sends_out_.size()));
  }
  for (EnrollmentId id : sends_out) {
    Enrollment& enrollment = enrollments_[id];
    if (!enrollment.sending) continue;  // settled by an earlier one's result
    SendingOut& out = sendingOut(enrollment);
    out.variant = variantFor(enrollment, out.send.step.view());
    restoreSend(enrollment, now_ms);
  }
  rearmAndRecountAll();
  return Status::ok();
}

// The records are moved in, not copied: at a million enrollments copying them was the largest
// part of a restart. The contacts' slots are indexed by their keys' Symbols, all interned by
// now: sized once, not moved at each growth.
void Engine::restoreContactsAndTeam(LoadedState& state, TimeMs now_ms) {
  contacts_.reserve(symbolCount());
  for (ContactRef& contact : state.contacts) storeContact(std::move(contact));
  state.contacts = std::vector<ContactRef>();
  for (const SequenceState& sequence : state.sequences) {
    if (sequence.active) active_sequences_.insert(Symbol(sequence.sequence_id).index());
  }
  for (const TeamRecord& record : state.team) {
    lists_.restore(record);
    shares_.restore(record);
    workflow_state_.restore(record);
    report_counters_.restore(record);
  }
  scheduleWorkflows(now_ms);
}

// The store hands enrollments back in id order; with every id present (always, unless
// damaged) the vector is taken whole. The same pass counts each sequence's rows, returned by
// the sequence's Symbol index, so that listEnrollments() sizes its list once: growing it by
// doubling copied it ~24 times and left up to half unused.
Engine::RowCounts Engine::takeEnrollmentRows(LoadedState& state) {
  RowCounts sequence_rows;
  bool dense = true;
  Symbol run_sequence;  // rows added together sit together: counted a run at a time
  std::size_t run_rows = 0;
  for (std::size_t i = 0; i < state.enrollments.size(); ++i) {
    const Enrollment& row = state.enrollments[i];
    dense = dense && row.id == i;
    if (row.sequence_id != run_sequence) {
      if (run_rows > 0) sequence_rows[run_sequence.index()] += run_rows;
      run_sequence = row.sequence_id;
      run_rows = 0;
    }
    ++run_rows;
  }
  if (run_rows > 0) sequence_rows[run_sequence.index()] += run_rows;
  if (dense) {
    enrollments_ = std::move(state.enrollments);
  } else {
    for (Enrollment& enrollment : state.enrollments) {
      if (enrollment.id >= enrollments_.size()) enrollments_.resize(enrollment.id + 1);
      enrollments_[enrollment.id] = std::move(enrollment);
    }
  }
  return sequence_rows;
}

// Each row on its sequence's list and its contact's; the per-row flags sized. A hole in the
// ids (a row the store lacks) is damage.
Status Engine::listEnrollments(const LoadedState& state, const RowCounts& sequence_rows) {
  first_enrollment_.clear();
  first_enrollment_.reserve(contacts_.size());  // by the same index as contacts_
  next_enrollment_.assign(enrollments_.size(), kNoEnrollment);
  is_dirty_.assign(enrollments_.size(), false);
  journaled_.assign(enrollments_.size(), false);
  for (EnrollmentId id : state.journal_ids) {
    if (id < enrollments_.size()) noteJournaled(id);
  }
  // A sequence's rows come in runs (added together): its list is found once a run, not by
  // its id's text for every row.
  Symbol listed_sequence;
  std::vector<EnrollmentId>* of_sequence = nullptr;
  for (const Enrollment& enrollment : enrollments_) {
    if (enrollment.sequence_id.empty()) {
      return Status::corruption("enrollment ids are not dense: id " +
                                std::to_string(&enrollment - enrollments_.data()) + " missing");
    }
    if (of_sequence == nullptr || enrollment.sequence_id != listed_sequence) {
      listed_sequence = enrollment.sequence_id;
      of_sequence = &by_sequence_[listed_sequence.str()];
      const auto counted = sequence_rows.find(listed_sequence.index());
      if (of_sequence->empty() && counted != sequence_rows.end()) {
        of_sequence->reserve(counted->second);
      }
    }
    of_sequence->push_back(enrollment.id);
    linkToContact(enrollment.id, enrollment.contact_key);
  }
  return Status::ok();
}

// The sends out beside their rows: one for each row with `sending` set (findStepsAgain()
// counts those, and restore() checks the two counts agree).
Status Engine::restoreSendsOut(const LoadedState& state) {
  sends_out_.reserve(state.sends_out.size());
  for (const auto& [id, send] : state.sends_out) {
    if (id >= enrollments_.size() || !enrollments_[id].sending || send.step.empty()) {
      return Status::corruption("a send out names enrollment " + std::to_string(id) +
                                ", which has none out");
    }
    sends_out_[id].send = send;
  }
  return Status::ok();
}

// The rows' extras beside them, each naming a row.
Status Engine::restoreExtras(const LoadedState& state) {
  extras_.reserve(state.extras.size());
  for (const auto& [id, extras] : state.extras) {
    if (id >= enrollments_.size() || extras.empty()) {
      return Status::corruption(
          "extras (own mailboxes, steps unresolved, an auto-resume time) "
          "name enrollment " +
          std::to_string(id) + ", which has no row");
    }
    extras_[id] = extras;
  }
  return Status::ok();
}

Status Engine::checkRestoredId(const char* what, std::uint64_t key, EnrollmentId id) const {
  if (id < enrollments_.size()) return Status::ok();
  return Status::corruption(std::string(what) + " " + std::to_string(key) +
                            " names unknown enrollment " + std::to_string(id));
}

// Tasks and applied inbound messages are state of their own.
Status Engine::restoreTasksAndInbound(const LoadedState& state) {
  for (const Task& task : state.tasks) {
    Status known = checkRestoredId("task", task.id, task.enrollment_id);
    if (!known.isOk()) return known;
    tasks_[task.id] = task;
    step_tasks_[{task.enrollment_id, task.step_id}] = task.id;
    progress_seq_ = std::max(progress_seq_, task.id);
  }
  // The tasks table lists by id: the oldest final ones are dropped first, as while running.
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    const Task task = (it++)->second;  // noteTaskState may erase the one it names
    noteTaskState(task);
  }
  for (const ProgressRecord& record : state.inbound) {
    Status known = checkRestoredId("inbound record", record.seq, record.enrollment_id);
    if (!known.isOk()) return known;
    noteInbound(record);
    progress_seq_ = std::max(progress_seq_, record.seq);
  }
  return Status::ok();
}

// The send limits: the snapshot (with the sends out at its seq), then the log's records after
// it (the log as kept holds at least the sends inside the rolling limits), as the live engine
// folded them (foldLoggedSend); the re-delivered sends restoreSend() moves later change
// governor_ alone.
Status Engine::restoreSendLimits(const LoadedState& state) {
  if (state.governor.has_value()) {
    logged_sends_.restore(state.governor->mailboxes);
    for (const auto& [id, counted_at_ms] : state.governor->out) {
      Status known = checkRestoredId("governor snapshot send", state.governor->through_seq, id);
      if (!known.isOk()) return known;
      logged_out_[id] = counted_at_ms;
    }
    governor_snapshot_seq_ = state.governor->through_seq;
    progress_seq_ = std::max(progress_seq_, governor_snapshot_seq_);
  }
  for (const ProgressRecord& record : state.progress) {
    Status known = checkRestoredId("progress record", record.seq, record.enrollment_id);
    if (!known.isOk()) return known;
    progress_seq_ = std::max(progress_seq_, record.seq);
    if (record.seq > governor_snapshot_seq_) foldLoggedSend(record);
  }
  governor_ = logged_sends_;
  return Status::ok();
}

// The sequences may have been edited while seqd was down: steps are found again by id, and a
// contact waiting on a task that is not its current step's goes on to that step. Returns the
// rows with a send out, noted in the same pass so that settling them does not read every row
// again (~0.2 s at 10M): no settling puts a send out on another row (only a step fired by the
// wheel does), though it may settle one.
std::vector<EnrollmentId> Engine::findStepsAgain(TimeMs now_ms) {
  std::vector<EnrollmentId> sends_out;
  for (Enrollment& enrollment : enrollments_) {
    if (enrollment.sending) sends_out.push_back(enrollment.id);
    const Sequence* sequence = sequenceOf(enrollment);
    if (sequence == nullptr) continue;
    const bool waits_on_task = enrollment.status == EnrollmentStatus::kActive &&
                               !enrollment.sending && enrollment.next_at_ms == kNoTime;
    const std::uint32_t index = standingIndex(*sequence, enrollment);
    if (index != enrollment.step_index) {
      enrollment.step_index = static_cast<std::uint8_t>(index);
      saveSnapshot(enrollment);
    }
    const Step* step = currentStep(enrollment);
    if (waits_on_task && !hasOpenTask(enrollment, step)) {
      enrollment.status = EnrollmentStatus::kScheduled;
      const TimeMs last_done_ms = lastDoneAt(enrollment);
      enrollment.next_at_ms =
          step == nullptr
              ? now_ms
              : std::max(now_ms, stepDueAt(enrollment, *step,
                                           last_done_ms != kNoTime ? last_done_ms : now_ms));
      saveSnapshot(enrollment);
    }
  }
  return sends_out;
}

// A send that was out when seqd stopped. Never released: it never left, so the step is
// simply due again. Released to an idempotent transport (Maildir, discard): delivered again,
// a no-op where it had landed; outside its sending window, when the window opens (a crash
// between the commit that released it and its hand-off means it never landed); not at all
// once the contact no longer waits on it (its step is marked interrupted). Released over
// SMTP: it may have gone out, so it is never repeated by itself: `not_sent: interrupted`.
void Engine::restoreSend(Enrollment& enrollment, TimeMs now_ms) {
  if (!sendingOut(enrollment).send.released) {
    clearSending(enrollment);
    if (enrollment.status == EnrollmentStatus::kActive) {
      enrollment.status = EnrollmentStatus::kScheduled;
      enrollment.next_at_ms = now_ms;
    }
    saveSnapshot(enrollment);
    return;
  }
  ++in_flight_;
  settleSendOut(enrollment, now_ms);
}

void Engine::settleSendOut(Enrollment& enrollment, TimeMs now_ms) {
  if (isIdempotent(sendingTransport(enrollment))) {
    if (!waitsOnSend(enrollment)) return dropRedelivery(enrollment, now_ms);
    if (holdRedelivery(enrollment, now_ms) || redeliver(enrollment, now_ms)) return;
  }
  DeliveryResult interrupted = sendOutResult(enrollment, DeliveryOutcome::kFailedTemporary);
  interrupted.maybe_delivered = true;
  interrupted.detail = "seqd stopped while the send was in flight";
  onDeliveryResult(interrupted, now_ms);
}

DeliveryResult Engine::sendOutResult(const Enrollment& enrollment, DeliveryOutcome outcome) const {
  DeliveryResult result;
  result.enrollment_id = enrollment.id;
  result.step_index = enrollment.step_index;
  result.send = sendKeyOf(sendingOut(enrollment).send);
  result.outcome = outcome;
  result.transport = sendingTransport(enrollment);
  return result;
}

const Step* Engine::sendingStep(const Enrollment& enrollment) const {
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr || !enrollment.sending) return nullptr;
  const Symbol sending_step = sendingOut(enrollment).send.step;
  for (const Step& step : sequence->steps) {
    if (step.id == sending_step) return &step;
  }
  return nullptr;
}

bool Engine::waitsOnSend(const Enrollment& enrollment) const {
  return enrollment.status == EnrollmentStatus::kActive && isActive(enrollment);
}

Transport Engine::sendingTransport(const Enrollment& enrollment) const {
  const Mailbox* mailbox = findMailbox(sendingOut(enrollment).send.mailbox);
  return mailbox == nullptr ? Transport::kSmtp : mailbox->transport;
}

void Engine::dropRedelivery(Enrollment& enrollment, TimeMs now_ms) {
  DeliveryResult returned = sendOutResult(enrollment, DeliveryOutcome::kReturned);
  returned.redelivery = true;
  onDeliveryResult(returned, now_ms);
}

std::optional<TimeMs> Engine::closedUntil(const Enrollment& enrollment, TimeMs now_ms) const {
  const TimeMs open_ms = openAt(enrollment, now_ms);
  if (open_ms == now_ms || open_ms == kNeverOpen) return std::nullopt;
  return open_ms;
}

bool Engine::holdRedelivery(const Enrollment& enrollment, TimeMs now_ms) {
  const std::optional<TimeMs> open_ms = closedUntil(enrollment, now_ms);
  if (!open_ms) return false;
  held_.emplace(enrollment.id, *open_ms);
  held_due_.emplace(*open_ms, enrollment.id);
  return true;
}

void Engine::releaseHeldRedeliveries(TimeMs now_ms) {
  while (!held_due_.empty() && held_due_.begin()->first <= now_ms) {
    const EnrollmentId id = held_due_.begin()->second;
    held_due_.erase(held_due_.begin());
    held_.erase(id);
    settleSendOut(enrollments_[id], now_ms);
  }
}

bool Engine::redeliver(Enrollment& enrollment, TimeMs now_ms) {
  // A copy: makeIntent() and the records below may not keep a reference into sends_out_.
  const SendOut send = sendingOut(enrollment).send;
  const Mailbox* mailbox = findMailbox(send.mailbox);
  const Step* step = sendingStep(enrollment);
  if (mailbox == nullptr || !isIdempotent(mailbox->transport) || step == nullptr) return false;
  std::string reason;
  std::optional<DeliveryIntent> intent =
      makeIntent(enrollment, *step, send.at_ms, send.mailbox, reason);
  if (!intent || intent->messageId() != sendingMessageId(enrollment, send)) return false;
  // Where it had not landed before the stop, it is written now: its count moves from the
  // log's instant to now, so the limits hold at the instants it is written, and a stop never
  // counts one message twice (a daemon stopped and started again with a queue of released
  // sends would otherwise find its mailboxes full for a day). The move is logged too (a
  // kStepFired record marked redelivered, committed before the send is handed out), so an
  // engine built from the store again counts it where this one does.
  // Counted where an earlier redelivery of this life moved it, else where the log has it.
  TimeMs counted_at_ms = kNoTime;
  if (auto moved = counted_at_.find(enrollment.id); moved != counted_at_.end()) {
    counted_at_ms = moved->second;
  } else if (auto logged = logged_out_.find(enrollment.id); logged != logged_out_.end()) {
    counted_at_ms = logged->second;
  }
  const PackedContact* contact = contactOf(enrollment);
  const std::string domain = recipientDomain(contact ? contact->email() : "");
  if (counted_at_ms != kNoTime) governor_.forgetSend(mailbox->address, domain, counted_at_ms);
  governor_.recordSend(mailbox->address, domain, now_ms, jitterSeed(*intent));
  if (now_ms != send.at_ms) counted_at_[enrollment.id] = now_ms;
  if (now_ms != counted_at_ms) {
    ProgressRecord& moved =
        appendProgress(ProgressKind::kStepFired, enrollment.id, enrollment.step_index, now_ms);
    moved.step_id = send.step;
    moved.mailbox = send.mailbox;
    moved.detail = std::string(kRedeliveredDetail);
    moved.variant = sendingOut(enrollment).variant;
  }
  intent->redelivery = true;
  queueIntent(enrollment, std::move(*intent), mailbox->transport);
  return true;
}

void Engine::replaySend(const ProgressRecord& record) {
  const Enrollment& enrollment = enrollments_[record.enrollment_id];
  // Only what the mailbox's limits read is worked out: the contact's email is a cache miss a
  // send, and the Message-ID a string built from the contact key's text.
  const SendGovernor::SendDetails read = logged_sends_.detailsRead(record.mailbox);
  std::string message_id;
  if (read.message_id) {
    // The Message-ID is the send's, as the intent had it (see ProgressRecord::message_id).
    message_id = record.message_id.empty()
                     ? makeMessageId(enrollment.sequence_id.view(), record.step_id,
                                     enrollment.contact_key.view(), record.mailbox)
                     : record.message_id;
  }
  logged_sends_.recordSend(record.mailbox, read.domain ? loggedDomain(enrollment) : std::string(),
                           record.at_ms, message_id);
}

std::string Engine::outMessageId(EnrollmentId id) const {
  if (id >= enrollments_.size() || !enrollments_[id].sending) return std::string();
  const Enrollment& enrollment = enrollments_[id];
  const SendOut& send = sendingOut(enrollment).send;
  // The intent was built with the key of the contact found (contactOf() also finds one under
  // the enrollment's key lower-cased).
  const PackedContact* contact = contactOf(enrollment);
  return makeMessageId(enrollment.sequence_id.view(), send.step.view(),
                       contact != nullptr ? contact->key() : enrollment.contact_key.view(),
                       send.mailbox.view());
}

bool Engine::isSendingOut(const Enrollment& enrollment, const SendKey& send) const {
  return enrollment.sending && sendKeyOf(sendingOut(enrollment).send) == send;
}

std::string Engine::jitterSeed(const DeliveryIntent& intent) const {
  return governor_.detailsRead(intent.mailbox()).message_id ? intent.messageId() : std::string();
}

std::string Engine::loggedDomain(const Enrollment& enrollment) const {
  const PackedContact* contact = contactOf(enrollment);
  return recipientDomain(contact ? contact->email() : "");
}

void Engine::foldLoggedSend(const ProgressRecord& record) {
  auto out = logged_out_.find(record.enrollment_id);
  auto forget_out = [&] {
    const bool domain_read = logged_sends_.detailsRead(record.mailbox).domain;
    logged_sends_.forgetSend(
        record.mailbox,
        domain_read ? loggedDomain(enrollments_[record.enrollment_id]) : std::string(),
        out->second);
  };
  if (record.kind == ProgressKind::kStepFired) {
    // A redelivery moves the count of the send out to its own at_ms.
    if (out == logged_out_.end()) {
      replaySend(record);
      logged_out_.emplace(record.enrollment_id, record.at_ms);
      return;
    }
    if (record.detail == kRedeliveredDetail) forget_out();
    replaySend(record);
    out->second = record.at_ms;
    return;
  }
  if (record.kind != ProgressKind::kDelivered && record.kind != ProgressKind::kDeliveryFailed) {
    return;
  }
  if (out == logged_out_.end()) return;
  if (record.kind == ProgressKind::kDeliveryFailed &&
      record.detail.starts_with(kNotAttemptedDetail)) {
    forget_out();
  }
  logged_out_.erase(out);
}

// The snapshot is logged_sends_'s state, not governor_'s with the sends not yet logged taken
// out: governor_'s forgets do not undo everything a count did (a send's min_interval, its
// minute's latest time, a domain entry or pruning started at the decision), and the counts a
// restart moves to its own instant (Maildir sends delivered again) stay moved for a day.
// Taking them out needs the log's own minutes, interval and domain table: the state
// logged_sends_ holds (perf/RESULTS.md, "The send limits' snapshot from one count?").
void Engine::addGovernorSnapshot(WriteBatch& batch, std::uint64_t through_seq, bool now) {
  if (through_seq <= governor_snapshot_seq_) return;
  const std::uint64_t logged = through_seq - governor_snapshot_seq_;
  if (!now && (logged < settings_.governor_snapshot_records_min ||
               logged < logged_sends_.timesRemembered())) {
    return;
  }
  std::vector<MailboxSendState> mailboxes = logged_sends_.snapshot();
  // One too big for the store is not written: the restart counts from the last one.
  if (!SendGovernor::fitsSnapshotBounds(mailboxes) || logged_out_.size() > kSnapshotOutMax) {
    return;
  }
  GovernorSnapshot snapshot{through_seq, std::move(mailboxes), {}};
  snapshot.out.assign(logged_out_.begin(), logged_out_.end());
  std::sort(snapshot.out.begin(), snapshot.out.end());
  batch.governor = std::move(snapshot);
  governor_snapshot_seq_ = through_seq;
}

// Puts every enrollment that waits for a time on the wheel, takes the rest off, and counts
// every one in the census again: one pass over the rows, where two cost ~0.2 s more at 10M
// (the pass is bound by reading the rows). Each row is counted as it stands once armed
// (arming changes that row alone); a row changed later is marked for its snapshot, and so
// counted again before any census is read (syncCensus).
void Engine::rearmAndRecountAll() {
  census_.clear();
  census_.reserve(enrollments_.size());
  for (Enrollment& enrollment : enrollments_) {
    if (!isActive(enrollment)) {
      wheel_.cancel(enrollment.id);
    } else {
      if (enrollment.status == EnrollmentStatus::kScheduled && enrollment.next_at_ms == kNoTime &&
          currentStep(enrollment) != nullptr) {
        scheduleNextStep(enrollment, enrollment.waits_from_ms);
        saveSnapshot(enrollment);
      }
      arm(enrollment);
    }
    census_.update(enrollment.id, enrollment.sequence_id, enrollment.status, enrollment.next_at_ms);
  }
}

// Appends a record to the progress log under the next seq. The reference is valid until the
// next append.
ProgressRecord& Engine::appendProgress(ProgressKind kind, EnrollmentId enrollment_id,
                                       std::uint32_t step_index, TimeMs at_ms) {
  ProgressRecord& record = batch_.progress.emplace_back();
  record.seq = ++progress_seq_;
  record.enrollment_id = enrollment_id;
  record.step_index = step_index;
  record.kind = kind;
  record.at_ms = at_ms;
  const Enrollment& enrollment = enrollments_[enrollment_id];
  if (const Sequence* sequence = sequenceOf(enrollment);
      sequence != nullptr && step_index < sequence->steps.size()) {
    record.step_id = sequence->steps[step_index].id;
  }
  return record;
}

const Mailbox* Engine::findMailbox(const std::string& address) const {
  auto mailbox = std::find_if(settings_.mailboxes.begin(), settings_.mailboxes.end(),
                              [&](const Mailbox& m) { return m.address == address; });
  return mailbox == settings_.mailboxes.end() ? nullptr : &*mailbox;
}

std::vector<MailboxRow> Engine::mailboxes(TimeMs now_ms) const {
  std::vector<MailboxRow> rows;
  for (const Mailbox& mailbox : settings_.mailboxes) {
    MailboxRow row;
    row.address = mailbox.address;
    row.name = mailbox.name;
    row.transport = mailbox.transport == Transport::kSmtp      ? "smtp"
                    : mailbox.transport == Transport::kDiscard ? "discard"
                                                               : "maildir";
    row.sent_last_24h = governor_.sentWithin(mailbox.address, kDayMs, now_ms);
    row.daily_limit = mailbox.daily_limit;
    row.sent_last_hour = governor_.sentWithin(mailbox.address, kHourMs, now_ms);
    row.hourly_limit = mailbox.hourly_limit;
    TimeMs free_ms = governor_.nextFree(mailbox.address, "", now_ms);
    row.next_free_ms = free_ms == SendGovernor::kNoFreeSlot ? kNoTime : free_ms;
    rows.push_back(std::move(row));
  }
  return rows;
}

DurationMs Engine::waitOf(const Step& step) const {
  return step.wait_business_days ? step.wait_ms * kDayMs : step.wait_ms;
}

// The position of the current step: the one after the last done step in the sequence's
// order now (the first when none is done; steps.size() when the last step is done).
std::uint32_t Engine::currentStepIndex(const Sequence& sequence,
                                       const Enrollment& enrollment) const {
  for (std::size_t i = sequence.steps.size(); i-- > 0;) {
    if (isStepDone(enrollment, sequence.steps[i].id)) return static_cast<std::uint32_t>(i + 1);
  }
  return 0;
}

// Where a contact stands in a sequence that may have changed since step_index was set: on
// its task while it waits on one (the stored position first, then the rule's step, then any
// step with its open task), else on the rule's current step.
std::uint32_t Engine::standingIndex(const Sequence& sequence, const Enrollment& enrollment) const {
  const std::uint32_t rule_index = currentStepIndex(sequence, enrollment);
  const bool waits_on_task = enrollment.status == EnrollmentStatus::kActive &&
                             !enrollment.sending && enrollment.next_at_ms == kNoTime;
  if (!waits_on_task) return rule_index;
  auto has_task = [&](std::uint32_t index) {
    return index < sequence.steps.size() && hasOpenTask(enrollment, &sequence.steps[index]);
  };
  if (has_task(enrollment.step_index)) return enrollment.step_index;
  if (has_task(rule_index)) return rule_index;
  for (std::uint32_t i = 0; i < sequence.steps.size(); ++i) {
    if (has_task(i)) return i;
  }
  return rule_index;
}

const Step* Engine::currentStep(const Enrollment& enrollment) const {
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr || enrollment.step_index >= sequence->steps.size()) return nullptr;
  return &sequence->steps[enrollment.step_index];
}

// ---------------------------------------------------------------------------------------
// Contacts

namespace {

// Grown geometrically: a round takes many imports, and reserving exactly would copy the
// batch's contacts once per import.
void reserveMore(std::vector<ContactRef>& contacts, std::size_t more) {
  if (contacts.capacity() >= contacts.size() + more) return;
  contacts.reserve(std::max(contacts.size() + more, 2 * contacts.capacity()));
}

}  // namespace

void Engine::putContacts(const std::vector<Contact>& contacts) {
  reserveMore(batch_.contacts, contacts.size());
  for (const Contact& contact : contacts) putContact(contact);
}

ImportResult Engine::upsertContacts(const std::vector<ContactRow>& rows) {
  ImportResult result;
  result.keys.reserve(rows.size());
  reserveMore(batch_.contacts, rows.size());
  for (const ContactRow& row : rows) {
    auto id = row.fields.find("id");
    auto email = row.fields.find("email");
    std::string key;
    if (id != row.fields.end() && !id->second.empty()) {
      key = id->second;
    } else if (email != row.fields.end() && !email->second.empty()) {
      key = toLowerAscii(email->second);
    } else {
      result.errors.push_back({row.line, "no id and no email: the contact has no key"});
      continue;
    }
    // A misspelt zone would silently move the contact to the schedule's: refused.
    if (auto zone = row.fields.find("timezone"); zone != row.fields.end()) {
      if (Status known = checkContactTimeZone(zone->second); !known.isOk()) {
        result.errors.push_back({row.line, known.message()});
        continue;
      }
    }
    const ContactRef* existing = exactContact(key);
    Contact contact = existing == nullptr ? Contact{} : (*existing)->unpack();
    contact.key = key;
    Status status = Status::ok();
    for (const auto& [name, value] : row.fields) {
      if (name == "id") continue;
      status = contact.setField(name, value);
      if (!status.isOk()) break;
    }
    if (!status.isOk()) {
      result.errors.push_back({row.line, "contact '" + key + "': " + status.message()});
      continue;
    }
    if (existing == nullptr) {
      ++result.imported;
    } else {
      ++result.updated;
    }
    putContact(contact);
    result.keys.push_back(std::move(key));
  }
  return result;
}

const ContactRef* Engine::exactContact(std::string_view key) const {
  const std::optional<Symbol> symbol = Symbol::find(key);
  return symbol ? contactUnder(*symbol) : nullptr;
}

const ContactRef* Engine::findContactSnapshot(const std::string& key) const {
  const ContactRef* exact = exactContact(key);
  return exact != nullptr ? exact : exactContact(toLowerAscii(key));
}

void Engine::putContact(const Contact& contact) {
  ContactRef packed = PackedContact::pack(contact);
  batch_.contacts.push_back(packed);
  storeContact(std::move(packed));
}

void Engine::storeContact(ContactRef contact) {
  const std::uint32_t index = contact->keySymbol().index();
  if (index >= contacts_.size()) contacts_.resize(index + 1);  // grows geometrically
  if (contacts_[index] == nullptr) ++contact_count_;
  contact_zones_.set(index, contact->timezoneSymbol());
  ContactRef before = std::move(contacts_[index]);
  contacts_[index] = std::move(contact);
  if (inbound_index_built_) reindexContactForInbound(index, before.get());
}

const PackedContact* Engine::findContact(const std::string& key) const {
  const ContactRef* found = findContactSnapshot(key);
  return found == nullptr ? nullptr : found->get();
}

Status Engine::setContactFields(const std::string& key, const ContactRow& fields) {
  const PackedContact* found = findContact(key);
  if (found == nullptr) return Status::notFound("unknown contact '" + key + "'");
  Contact contact = found->unpack();
  for (const auto& [name, value] : fields.fields) {
    if (name == "id" || name == "key") {
      return Status::invalidArgument("the contact key cannot be changed");
    }
    if (name == "timezone") {
      Status zone = checkContactTimeZone(value);
      if (!zone.isOk()) return Status::invalidArgument("contact '" + key + "': " + zone.message());
    }
    Status status = contact.setField(name, value);
    if (!status.isOk())
      return Status::invalidArgument("contact '" + key + "': " + status.message());
  }
  const std::string contact_key = contact.key;
  putContact(contact);
  // A new score changes the order of scheduled steps; a new zone moves them to its window.
  for (EnrollmentId id : contactEnrollments(contact_key)) {
    if (wheel_.isScheduled(id)) arm(enrollments_[id]);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------
// Sequences

const Sequence* Engine::findSequence(std::string_view id) const {
  auto it = settings_.sequences.find(id);
  return it == settings_.sequences.end() ? nullptr : &it->second;
}

const Sequence* Engine::sequenceOf(const Enrollment& enrollment) const {
  auto found = sequence_index_.find(enrollment.sequence_id.index());
  return found == sequence_index_.end() ? nullptr : found->second;
}

void Engine::indexSequences() {
  sequence_index_.clear();
  for (const auto& [id, sequence] : settings_.sequences) {
    SEQD_ASSERT(sequence.steps.size() <= kSequenceStepsMax);  // step_index is a byte
    sequence_index_.emplace(Symbol(id).index(), &sequence);
  }
}

bool Engine::isActive(std::string_view sequence_id) const {
  const std::optional<Symbol> symbol = Symbol::find(sequence_id);
  return symbol.has_value() && active_sequences_.contains(symbol->index()) &&
         findSequence(sequence_id) != nullptr;
}

bool Engine::isActive(const Enrollment& enrollment) const {
  const std::uint32_t sequence = enrollment.sequence_id.index();
  return active_sequences_.contains(sequence) && sequence_index_.contains(sequence);
}

std::vector<SequenceSummary> Engine::sequences() const {
  std::vector<SequenceSummary> summaries;
  for (const auto& [id, sequence] : settings_.sequences) {
    SequenceSummary summary{id, sequence.name, sequence.owner, isActive(id), {}};
    const StatusCounts counts = sequenceCensus(id);
    for (std::size_t status = 0; status < kEnrollmentStatusCount; ++status) {
      if (counts[status] == 0) continue;
      summary.counts[enrollmentStatusName(static_cast<EnrollmentStatus>(status))] = counts[status];
    }
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

Status Engine::activate(const std::string& sequence_id, const Caller& caller, TimeMs now_ms) {
  const Sequence* sequence = findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  Status allowed = checkCanEditSequence(*sequence, caller, shares_);
  if (!allowed.isOk()) return allowed;
  if (isActive(sequence_id)) return Status::ok();
  active_sequences_.insert(Symbol(sequence_id).index());
  batch_.sequences.push_back({sequence_id, true});
  for (EnrollmentId id : by_sequence_[sequence_id]) {
    Enrollment& enrollment = enrollments_[id];
    if (enrollment.status == EnrollmentStatus::kScheduled && enrollment.next_at_ms == kNoTime &&
        currentStep(enrollment) != nullptr) {
      startEnrollment(enrollment, now_ms);
      continue;
    }
    // A backlog is due now, and goes when its window is open (in score order, at the limits).
    if ((enrollment.status == EnrollmentStatus::kScheduled ||
         enrollment.status == EnrollmentStatus::kActive) &&
        enrollment.next_at_ms != kNoTime && enrollment.next_at_ms < now_ms) {
      enrollment.next_at_ms = now_ms;
      saveSnapshot(enrollment);
    }
    if (TimeMs due_ms = wheelTime(enrollment); due_ms != kNoTime) {
      wheel_.schedule(id, std::max(due_ms, now_ms), scoreOf(enrollment));
    }
  }
  return Status::ok();
}

Status Engine::deactivate(const std::string& sequence_id, const Caller& caller) {
  const Sequence* sequence = findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  Status allowed = checkCanEditSequence(*sequence, caller, shares_);
  if (!allowed.isOk()) return allowed;
  if (!isActive(sequence_id)) return Status::ok();
  active_sequences_.erase(Symbol(sequence_id).index());
  batch_.sequences.push_back({sequence_id, false});
  for (EnrollmentId id : by_sequence_[sequence_id]) {
    wheel_.cancel(id);
    // A send decided but still queued for delivery never leaves once the deactivation is
    // acknowledged (as for a pause): it is due again, from when it fell due, at activation.
    // One already released stays out.
    Enrollment& enrollment = enrollments_[id];
    if (!enrollment.sending || sendingOut(enrollment).send.released) continue;
    withdrawQueuedSend(enrollment);
    if (enrollment.status == EnrollmentStatus::kActive) {
      enrollment.status = EnrollmentStatus::kScheduled;
      saveSnapshot(enrollment);
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------
// Enrollments

std::vector<std::string> Engine::addWarnings(const Sequence& sequence, const PackedContact& contact,
                                             const Enrollment* existing, const AddOptions& options,
                                             const Caller& caller,
                                             std::vector<std::string>& other_sequences) const {
  std::vector<std::string> warnings;
  for (EnrollmentId id : contactEnrollmentsBySymbol(contact.keySymbol())) {
    const Enrollment& other = enrollments_[id];
    if (other.sequence_id != sequence.id && !isTerminalForOtherSequences(other.status)) {
      other_sequences.push_back(other.sequence_id);
    }
  }
  std::sort(other_sequences.begin(), other_sequences.end());
  if (!other_sequences.empty()) warnings.push_back("in_other_sequence");
  if (contact.email().empty())
    warnings.push_back("no_email");
  else if (!checkEmailAddress(contact.email()).isOk())
    warnings.push_back("invalid_email");
  else if (contact.emailStatus() == "unverified")
    warnings.push_back("unverified_email");
  if (!contact.owner().empty() && contact.owner() != caller.user)
    warnings.push_back("owner_mismatch");
  if (!contact.stage().empty() && contains(sequence.rules.block_stages, contact.stage())) {
    warnings.push_back("stage_blocked");
  }
  if (contact.emailOptOut()) warnings.push_back("email_opt_out");
  for (const std::string& address : options.mailboxes) {
    const Mailbox* mailbox = findMailbox(address);
    if (mailbox != nullptr && !mailbox->owner.empty() && mailbox->owner != caller.user) {
      warnings.push_back("mailbox_owner");
      break;
    }
  }
  if (existing != nullptr && existing->status == EnrollmentStatus::kFinished) {
    warnings.push_back("already_finished");
  }
  return warnings;
}

std::vector<std::string> Engine::mailboxesFor(const Caller& caller) const {
  std::vector<std::string> addresses;
  for (const Mailbox& mailbox : settings_.mailboxes) {
    if (mailbox.owner.empty() || mailbox.owner == caller.user) {
      addresses.push_back(mailbox.address);
    }
  }
  return addresses;
}

// Decides exactly as `add --dry-run` does (decideAdd, engine/add_preview.cpp), then enrolls
// the contacts it would add, by the Symbols it resolved.
Result<AddResult> Engine::add(const std::string& sequence_id, const std::vector<std::string>& keys,
                              const AddOptions& options, const Caller& caller, TimeMs now_ms) {
  std::vector<AddPlan> plan;
  Result<AddResult> decided = decideAdd(sequence_id, keys, {}, options, caller, now_ms, &plan);
  if (!decided.isOk() || options.dry_run || plan.empty()) return decided;
  const Symbol sequence_symbol(sequence_id);
  std::vector<EnrollmentId>& of_sequence = by_sequence_[sequence_id];
  // Empty: the enrollments keep the mailboxes they have (none for a new one).
  const SymbolList mailboxes(options.mailboxes);
  for (const AddPlan& planned : plan) {
    EnrollmentId id =
        planned.existing != kNoEnrollment
            ? planned.existing
            : newEnrollment(sequence_symbol, planned.contact_key, now_ms, of_sequence);
    Enrollment& enrollment = enrollments_[id];
    enrollment.finish_reason.clear();
    enrollment.next_at_ms = kNoTime;
    if (!mailboxes.empty()) {
      changeExtras(enrollment, [&](EnrollmentExtras& x) { x.mailboxes = mailboxes; });
    }
    // Back where it was: waiting on a send still out, on the step's task, or the current
    // step's wait counted from now.
    rearm(enrollment, options.at_ms.value_or(now_ms));
    // An inactive sequence keeps --at: the first step falls due from then once it is
    // activated (without --at its wait counts from the activation).
    if (options.at_ms && enrollment.status == EnrollmentStatus::kScheduled &&
        enrollment.next_at_ms == kNoTime && currentStep(enrollment) != nullptr) {
      scheduleNextStep(enrollment, *options.at_ms);
    }
    saveSnapshot(enrollment);
  }
  return decided;
}

EnrollmentId Engine::newEnrollment(Symbol sequence_id, Symbol contact_key, TimeMs now_ms,
                                   std::vector<EnrollmentId>& of_sequence) {
  EnrollmentId id = static_cast<EnrollmentId>(enrollments_.size());
  Enrollment enrollment;
  enrollment.id = id;
  enrollment.sequence_id = sequence_id;
  enrollment.contact_key = contact_key;
  enrollment.waits_from_ms = now_ms;
  enrollments_.push_back(std::move(enrollment));
  is_dirty_.push_back(false);
  const Enrollment& made = enrollments_.back();
  census_.update(id, made.sequence_id, made.status, made.next_at_ms);
  of_sequence.push_back(id);
  next_enrollment_.push_back(kNoEnrollment);
  linkToContact(id, made.contact_key);
  return id;
}

// Puts an enrollment's current step on the wheel, counting its wait from start_ms.
void Engine::startEnrollment(Enrollment& enrollment, TimeMs start_ms) {
  scheduleNextStep(enrollment, start_ms);
  saveSnapshot(enrollment);
}

void Engine::scheduleNextStep(Enrollment& enrollment, TimeMs from_ms) {
  const Step* step = currentStep(enrollment);
  SEQD_ASSERT(step != nullptr);
  enrollment.status = EnrollmentStatus::kScheduled;
  enrollment.next_at_ms = stepDueAt(enrollment, *step, from_ms);
  arm(enrollment);
}

void Engine::saveSnapshot(Enrollment& enrollment) {
  SEQD_ASSERT(enrollment.id < is_dirty_.size());
  ++enrollment_changes_;
  if (is_dirty_[enrollment.id]) return;
  is_dirty_[enrollment.id] = true;
  dirty_.push_back(enrollment.id);
}

std::uint8_t Engine::scoreOf(const Enrollment& enrollment) const {
  const PackedContact* contact = contactOf(enrollment);
  return contact == nullptr ? 0 : contact->score();
}

const Enrollment* Engine::findEnrollment(const std::string& sequence_id,
                                         const std::string& contact_key) const {
  const Enrollment* found = findPair(sequence_id, contact_key);
  return found != nullptr ? found : findPair(sequence_id, toLowerAscii(contact_key));
}

const Enrollment* Engine::findPair(std::string_view sequence_id,
                                   std::string_view contact_key) const {
  std::optional<Symbol> sequence = Symbol::find(sequence_id);
  std::optional<Symbol> contact = Symbol::find(contact_key);
  if (!sequence || !contact) return nullptr;
  return findPairBySymbol(*sequence, *contact);
}

// A walk of the contact's list, which holds an enrollment per sequence at most: a few ids,
// where an index of every pair cost ~20-40 bytes an enrollment. The last match, were there
// two (a store written by hand), as the index kept the last one made.
const Enrollment* Engine::findPairBySymbol(Symbol sequence_id, Symbol contact_key) const {
  const Enrollment* found = nullptr;
  for (EnrollmentId id : contactEnrollmentsBySymbol(contact_key)) {
    if (enrollments_[id].sequence_id == sequence_id) found = &enrollments_[id];
  }
  return found;
}

Engine::ContactEnrollments Engine::contactEnrollments(std::string_view contact_key) const {
  std::optional<Symbol> contact = Symbol::find(contact_key);
  return contact ? contactEnrollmentsBySymbol(*contact)
                 : ContactEnrollments(&next_enrollment_, kNoEnrollment);
}

Engine::ContactEnrollments Engine::contactEnrollmentsBySymbol(Symbol contact_key) const {
  if (contact_key.index() >= first_enrollment_.size()) {
    return ContactEnrollments(&next_enrollment_, kNoEnrollment);
  }
  return ContactEnrollments(&next_enrollment_, first_enrollment_[contact_key.index()]);
}

void Engine::linkToContact(EnrollmentId id, Symbol contact_key) {
  SEQD_ASSERT(id < next_enrollment_.size());
  SEQD_ASSERT(next_enrollment_[id] == kNoEnrollment);
  const std::uint32_t index = contact_key.index();
  if (index >= first_enrollment_.size()) {
    first_enrollment_.resize(index + 1, kNoEnrollment);  // grows geometrically
  }
  EnrollmentId* link = &first_enrollment_[index];
  while (*link != kNoEnrollment) {
    SEQD_ASSERT(*link < id);
    link = &next_enrollment_[*link];
  }
  *link = id;
}

StatusRow Engine::statusRow(const Enrollment& enrollment) const {
  StatusRow row;
  row.sequence = enrollment.sequence_id;
  row.contact = enrollment.contact_key;
  const PackedContact* contact = contactOf(enrollment);
  if (contact != nullptr) {
    row.email = contact->email();
    row.score = contact->score();
    row.owner = contact->owner();
  }
  row.status = enrollmentStatusName(enrollment.status);
  const Sequence* sequence = sequenceOf(enrollment);
  std::uint32_t index = enrollment.step_index;
  if (sequence != nullptr && !sequence->steps.empty()) {
    if (index >= sequence->steps.size())
      index = static_cast<std::uint32_t>(sequence->steps.size() - 1);
    // While its email is out, the contact is on that email's step (a reload may have put
    // another step before it).
    if (enrollment.sending) {
      const Symbol sending_step = sendingOut(enrollment).send.step;
      for (std::uint32_t i = 0; i < sequence->steps.size(); ++i) {
        if (sequence->steps[i].id == sending_step) index = i;
      }
    }
    row.step = sequence->steps[index].id;
  }
  row.step_index = index;
  row.next_at_ms = enrollment.status == EnrollmentStatus::kScheduled ||
                           enrollment.status == EnrollmentStatus::kActive
                       ? wheelTime(enrollment)
                       : kNoTime;
  // Only the reason of the status it has now: a contact paused, then finished, keeps its
  // old pause reason inside (a re-add resumes from it) but is not shown as paused.
  if (enrollment.status == EnrollmentStatus::kPaused) {
    row.paused_reason = pauseReasonName(enrollment.paused_reason);
    row.resume_at_ms = resumeAt(enrollment);
  }
  if (enrollment.status == EnrollmentStatus::kFinished)
    row.finish_reason = enrollment.finish_reason;
  if (enrollment.status == EnrollmentStatus::kNotSent) {
    row.not_sent_reason = enrollment.not_sent_reason;
  }
  if (enrollment.status == EnrollmentStatus::kBounced) {
    row.bounce_reason = enrollment.not_sent_reason;
  }
  if (!row.step.empty()) row.variant = variantFor(enrollment, row.step);
  if (!enrollment.last_mailbox.empty())
    row.mailbox = enrollment.last_mailbox;
  else if (const SymbolList& own = extrasOf(enrollment).mailboxes; own.size() == 1)
    row.mailbox = own.front().str();
  else if (sequence != nullptr && sequence->mailboxes.size() == 1)
    row.mailbox = sequence->mailboxes.front();
  return row;
}

// The rows as the reader thread builds them (engine/status_snapshot.hpp), here on the
// caller's thread: one snapshot, its rows selected and built.
Result<std::vector<StatusRow>> Engine::status(const std::string& sequence_id,
                                              const StatusFilter& filter) const {
  Result<StatusSnapshot> snapshot = statusSnapshot(sequence_id, {}, filter.status);
  if (!snapshot.isOk()) return snapshot.status();
  SendingCalendar calendar(snapshot.value().schedules);
  std::vector<StatusRow> rows;
  for (std::size_t index : selectStatusRows(snapshot.value(), filter)) {
    rows.push_back(statusRowAt(snapshot.value(), index, calendar));
  }
  return rows;
}

// A pass over the sequence's ids that copies what each row needs: the contact's snapshot (an
// array read), a reference count taken on it, and the row's few strings interned.
const ContactRef* Engine::contactSlot(const Enrollment& enrollment) const {
  return contactSlot(enrollment.contact_key);
}

const ContactRef* Engine::contactSlot(Symbol contact_key) const {
  const ContactRef* slot = contactUnder(contact_key);
  return slot != nullptr ? slot : findContactSnapshot(contact_key);
}

Result<StatusSnapshot> Engine::statusSnapshot(const std::string& sequence_id,
                                              std::vector<StatusSnapshotRow> spare,
                                              std::optional<EnrollmentStatus> only) const {
  auto enrolled = by_sequence_.find(sequence_id);
  if (!only.has_value() || enrolled == by_sequence_.end()) {
    return statusSnapshotOf(sequence_id, std::move(spare), nullptr);
  }
  std::vector<EnrollmentId> matching;
  for (EnrollmentId id : enrolled->second) {
    if (enrollments_[id].status == *only) matching.push_back(id);
  }
  return statusSnapshotOf(sequence_id, std::move(spare), &matching);
}

Result<StatusSnapshot> Engine::statusSnapshotOf(const std::string& sequence_id,
                                                std::vector<StatusSnapshotRow> spare,
                                                const std::vector<EnrollmentId>* ids) const {
  const Sequence* sequence = findSequence(sequence_id);
  auto enrolled = by_sequence_.find(sequence_id);
  if (sequence == nullptr && enrolled == by_sequence_.end()) {
    return Status::notFound("unknown sequence '" + sequence_id + "'");
  }
  StatusSnapshot snapshot;
  spare.clear();
  snapshot.rows = std::move(spare);
  snapshot.sequence_id = sequence_id;
  snapshot.schedules = settings_.schedules;
  TextInterner texts(snapshot.texts);
  std::string single_mailbox;
  if (sequence != nullptr) {
    snapshot.sequence_known = true;
    snapshot.schedule = sequence->schedule;
    snapshot.timezone_from_contact = sequence->timezone_from_contact;
    snapshot.render = render_;
    snapshot.render_sequence = render_->findSequence(sequence_id);
    for (const Step& step : sequence->steps) snapshot.step_ids.push_back(step.id);
    if (sequence->mailboxes.size() == 1) single_mailbox = sequence->mailboxes.front();
  }
  if (enrolled == by_sequence_.end()) return snapshot;
  const std::uint32_t steps = static_cast<std::uint32_t>(snapshot.step_ids.size());
  const std::vector<EnrollmentId>& of_rows = ids != nullptr ? *ids : enrolled->second;
  snapshot.rows.resize(of_rows.size());
  StatusSnapshotRow* row = snapshot.rows.data();
  for (EnrollmentId id : of_rows) {
    const Enrollment& enrollment = enrollments_[id];
    const ContactRef* slot = exactContactSlot(enrollment);
    if (slot != nullptr) {
      row->contact = *slot;
    } else {
      const ContactRef* lowered = findContactSnapshot(enrollment.contact_key);
      if (lowered != nullptr) row->contact = *lowered;
      row->key_text = texts.intern(enrollment.contact_key);
    }
    row->status = enrollment.status;
    std::uint32_t index = enrollment.step_index;
    if (steps > 0) {
      if (index >= steps) index = steps - 1;
      // While its email is out, the contact is on that email's step.
      if (enrollment.sending) {
        const Symbol sending_step = sendingOut(enrollment).send.step;
        for (std::uint32_t i = 0; i < steps; ++i) {
          if (snapshot.step_ids[i] == sending_step) index = i;
        }
      }
    }
    row->step_index = index;
    row->next_at_ms = enrollment.next_at_ms;
    // Only the reason of the status it has now, as statusRow shows it.
    constexpr std::string_view kNone;
    const EnrollmentStatus status = enrollment.status;
    const bool paused = status == EnrollmentStatus::kPaused;
    row->resume_at_ms = paused ? resumeAt(enrollment) : kNoTime;
    row->paused_text = texts.intern(paused ? pauseReasonName(enrollment.paused_reason) : kNone);
    row->finish_text = texts.intern(
        status == EnrollmentStatus::kFinished ? enrollment.finish_reason.view() : kNone);
    const bool has_reason =
        status == EnrollmentStatus::kNotSent || status == EnrollmentStatus::kBounced;
    row->not_sent_text = texts.intern(has_reason ? enrollment.not_sent_reason.view() : kNone);
    if (!enrollment.last_mailbox.empty())
      row->mailbox_text = texts.intern(enrollment.last_mailbox);
    else if (const SymbolList& own = extrasOf(enrollment).mailboxes; own.size() == 1)
      row->mailbox_text = texts.intern(own.front());
    else
      row->mailbox_text = texts.intern(single_mailbox);
    ++row;
  }
  return snapshot;
}

// ---------------------------------------------------------------------------------------
// Time

void Engine::advanceTo(TimeMs now_ms) {
  runDueWorkflows(now_ms);
  releaseHeldRedeliveries(now_ms);
  for (;;) {
    // Each fire queues at most one email: never take more due work than the queue has room
    // for. What is left stays due on the wheel for the next call.
    const std::size_t room = kQueuedIntentsMax - std::min(queuedIntents(), kQueuedIntentsMax);
    if (room == 0) return;
    expired_.clear();
    if (wheel_.popDue(now_ms, expired_, std::min(kFireBatchMax, room)) == 0) break;
    for (std::size_t at = 0; at < expired_.size(); ++at) {
      prefetchDue(at);
      const TimerWheel::Expired& entry = expired_[at];
      Enrollment& enrollment = enrollments_[entry.id];
      const TimeMs resume_at_ms =
          enrollment.status == EnrollmentStatus::kPaused ? resumeAt(enrollment) : kNoTime;
      if (resume_at_ms != kNoTime && resume_at_ms <= now_ms) {
        rearm(enrollment, now_ms);  // auto-resume
        saveSnapshot(enrollment);
        // A step already due runs now, in this tick's score order.
        if (enrollment.status != EnrollmentStatus::kScheduled || enrollment.next_at_ms == kNoTime ||
            enrollment.next_at_ms > now_ms) {
          continue;
        }
        wheel_.cancel(enrollment.id);
      }
      const bool waiting_capacity = enrollment.status == EnrollmentStatus::kActive &&
                                    enrollment.next_at_ms != kNoTime && !enrollment.sending;
      if (enrollment.status != EnrollmentStatus::kScheduled && !waiting_capacity) continue;
      // Its window closed since it was put on the wheel (its zone or schedule changed): it
      // waits for the next opening, due since now.
      if (openAt(enrollment, now_ms) != now_ms) {
        enrollment.next_at_ms = std::max(enrollment.next_at_ms, now_ms);
        saveSnapshot(enrollment);
        arm(enrollment);
        continue;
      }
      firing_lateness_.observe(static_cast<double>(now_ms - entry.due_ms) / 1000.0);
      fire(enrollment, now_ms);
    }
  }
}

// A fire reads the due enrollment's row, then its contact's slot and the key's entry in the
// symbol table, then the contact's block and the key's text: cache misses at millions of
// contacts, each level's address known only once the one before is read. So the loop over
// expired_ asks for them ahead, one level deeper the nearer an entry comes: the row 16
// entries ahead, the slot and the key's entry 8, the block and the key's text 4.
void Engine::prefetchDue(std::size_t at) const {
  auto ahead = [&](std::size_t distance) -> const Enrollment* {
    return at + distance < expired_.size() ? &enrollments_[expired_[at + distance].id] : nullptr;
  };
  if (const Enrollment* row = ahead(16)) __builtin_prefetch(row);
  if (const Enrollment* row = ahead(8)) {
    if (row->contact_key.index() < contacts_.size()) {
      __builtin_prefetch(&contacts_[row->contact_key.index()]);
    }
    row->contact_key.prefetchEntry();
  }
  if (const Enrollment* row = ahead(4)) {
    if (const ContactRef* slot = exactContactSlot(*row)) __builtin_prefetch(slot->get());
    row->contact_key.prefetchText();
  }
}

Engine::Census Engine::census(TimeMs now_ms) const {
  syncCensus();
  Census census;
  census.by_status = census_.byStatus();
  census.due = census_.dueAt(now_ms);
  return census;
}

StatusCounts Engine::sequenceCensus(const std::string& sequence_id) const {
  std::optional<Symbol> sequence = Symbol::find(sequence_id);
  if (!sequence) return StatusCounts{};
  syncCensus();
  return census_.ofSequence(*sequence);
}

void Engine::syncCensus() const {
  for (EnrollmentId id : dirty_) {
    const Enrollment& enrollment = enrollments_[id];
    census_.update(id, enrollment.sequence_id, enrollment.status, enrollment.next_at_ms);
  }
}

void Engine::fire(Enrollment& enrollment, TimeMs now_ms) {
  const Sequence* sequence = sequenceOf(enrollment);
  if (sequence == nullptr) return;
  saveSnapshot(enrollment);
  enrollment.step_index = currentStepIndex(*sequence, enrollment);
  if (enrollment.step_index >= sequence->steps.size()) {
    enrollment.status = EnrollmentStatus::kFinished;
    enrollment.finish_reason = "completed";
    enrollment.next_at_ms = kNoTime;
    return;
  }
  const Step& step = sequence->steps[enrollment.step_index];
  if (enrollment.sending) {
    // A send is still out: wait for its result, never a second one.
    enrollment.status = EnrollmentStatus::kActive;
    enrollment.next_at_ms = kNoTime;
    return;
  }
  if (Symbol unresolved = extrasOf(enrollment).unresolved.get(step.id); !unresolved.empty()) {
    // This step's email bounced or may have gone out: never a second send by itself.
    if (unresolved == "bounced") {
      wheel_.cancel(enrollment.id);
      enrollment.status = EnrollmentStatus::kBounced;
      enrollment.not_sent_reason = "bounced_before";
      enrollment.next_at_ms = kNoTime;
      return;
    }
    return markNotSent(enrollment, "interrupted");
  }
  const PackedContact* contact = contactOf(enrollment);
  if (contact == nullptr) return markNotSent(enrollment, "unknown_contact");
  if (isEmailStep(step.type)) {
    fireEmail(enrollment, *sequence, step, *contact, now_ms);
    return;
  }
  fireManual(enrollment, *sequence, step, *contact, now_ms);
}

void Engine::fireEmail(Enrollment& enrollment, const Sequence& sequence, const Step& step,
                       const PackedContact& contact, TimeMs now_ms) {
  if (contact.email().empty()) return markNotSent(enrollment, "no_email");
  if (contact.emailOptOut()) return markNotSent(enrollment, "email_opt_out");
  if (!contact.stage().empty() && contains(sequence.rules.block_stages, contact.stage())) {
    return markNotSent(enrollment, "stage_blocked");
  }
  const std::string domain = recipientDomain(contact.email());
  TimeMs free_at_ms = SendGovernor::kNoFreeSlot;
  std::string mailbox = pickMailbox(enrollment, sequence, step, domain, now_ms, free_at_ms);
  if (mailbox.empty()) {
    if (free_at_ms == SendGovernor::kNoFreeSlot) return markNotSent(enrollment, "no_mailbox");
    // Every mailbox it may use is at a limit: wait, `active`, for the instant one frees up,
    // and at least until the next tick (the wheel hands out a whole tick at once, so a time
    // later in this tick would come straight back).
    enrollment.status = EnrollmentStatus::kActive;
    enrollment.next_at_ms = std::max(free_at_ms, nextTickStart(now_ms));
    arm(enrollment);
    return;
  }
  std::string reason;
  std::optional<DeliveryIntent> intent = makeIntent(enrollment, step, now_ms, mailbox, reason);
  if (!intent) return markNotSent(enrollment, reason);
  governor_.recordSend(mailbox, domain, now_ms, jitterSeed(*intent));
  wheel_.cancel(enrollment.id);
  enrollment.status = EnrollmentStatus::kActive;
  enrollment.next_at_ms = kNoTime;
  enrollment.sending = true;
  SendingOut& out = sends_out_[enrollment.id];
  out.send = SendOut{step.id, intent->send.mailbox, now_ms, false};
  out.variant =
      intent->variant >= 0
          ? Symbol(intent->sequence->steps[intent->step_index].variants[intent->variant].id)
          : Symbol();
  const Transport transport = intent->transport;
  queueIntent(enrollment, std::move(*intent), transport);
}

void Engine::queueIntent(Enrollment& enrollment, DeliveryIntent intent, Transport transport) {
  const std::uint64_t ticket = ++queue_tickets_;
  (isIdempotent(transport) ? queued_idempotent_ : queued_smtp_).push_back({enrollment.id, ticket});
  queued_[enrollment.id] = QueuedIntent{std::move(intent), ticket};
}

// A send only queued inside the engine never left: drop it (and its count against the
// mailbox's limits); the step is not done and is due again from when it fell due.
void Engine::withdrawQueuedSend(Enrollment& enrollment) {
  if (!enrollment.sending) return;
  const SendOut send = sendingOut(enrollment).send;
  if (send.released) return;
  queued_.erase(enrollment.id);
  const PackedContact* contact = contactOf(enrollment);
  governor_.forgetSend(send.mailbox.view(), recipientDomain(contact ? contact->email() : ""),
                       send.at_ms);
  enrollment.next_at_ms = send.at_ms;
  clearSending(enrollment);
  saveSnapshot(enrollment);
}

void Engine::clearSending(Enrollment& enrollment) {
  if (!held_.empty()) {
    if (auto held = held_.find(enrollment.id); held != held_.end()) {
      held_due_.erase({held->second, enrollment.id});
      held_.erase(held);
    }
  }
  enrollment.sending = false;
  sends_out_.erase(enrollment.id);
  counted_at_.erase(enrollment.id);
}

Engine::SendingOut& Engine::sendingOut(const Enrollment& enrollment) {
  return const_cast<SendingOut&>(std::as_const(*this).sendingOut(enrollment));
}

const Engine::SendingOut& Engine::sendingOut(const Enrollment& enrollment) const {
  SEQD_ASSERT(enrollment.sending);
  auto found = sends_out_.find(enrollment.id);
  SEQD_ASSERT(found != sends_out_.end());
  return found->second;
}

EnrollmentRecord Engine::recordOf(const Enrollment& enrollment) const {
  return EnrollmentRecord{enrollment, enrollment.sending ? sendingOut(enrollment).send : SendOut{},
                          extrasOf(enrollment)};
}

const EnrollmentExtras& Engine::extrasOf(const Enrollment& enrollment) const {
  static const EnrollmentExtras kNone;
  if (extras_.empty()) return kNone;
  const auto at = extras_.find(enrollment.id);
  return at == extras_.end() ? kNone : at->second;
}

void Engine::setResumeAt(const Enrollment& enrollment, TimeMs at_ms) {
  changeExtras(enrollment, [&](EnrollmentExtras& extras) { extras.resume_at_ms = at_ms; });
}

TimeMs Engine::countedAt(const Enrollment& enrollment) const {
  auto moved = counted_at_.find(enrollment.id);
  if (moved != counted_at_.end()) return moved->second;
  return enrollment.sending ? sendingOut(enrollment).send.at_ms : kNoTime;
}

void Engine::markStepDone(Enrollment& enrollment, Symbol step_id, TimeMs at_ms) {
  const bool first = enrollment.done_steps.empty();
  if (!isStepDone(enrollment, step_id)) enrollment.done_steps = enrollment.done_steps.with(step_id);
  changeExtras(enrollment, [&](EnrollmentExtras& x) { x.unresolved.erase(step_id); });
  enrollment.waits_from_ms = first ? at_ms : std::max(enrollment.waits_from_ms, at_ms);
  saveSnapshot(enrollment);
}

void Engine::completeStep(Enrollment& enrollment, const Sequence& sequence, TimeMs done_at_ms) {
  enrollment.delivery_failures = 0;
  enrollment.step_index = currentStepIndex(sequence, enrollment);
  saveSnapshot(enrollment);
  if (enrollment.step_index >= sequence.steps.size()) {
    wheel_.cancel(enrollment.id);
    enrollment.status = EnrollmentStatus::kFinished;
    enrollment.finish_reason = "completed";
    enrollment.next_at_ms = kNoTime;
    return;
  }
  scheduleNextStep(enrollment, done_at_ms);
}

void Engine::markNotSent(Enrollment& enrollment, std::string reason) {
  wheel_.cancel(enrollment.id);
  if (const Sequence* sequence = sequenceOf(enrollment)) {
    enrollment.step_index = currentStepIndex(*sequence, enrollment);
  }
  enrollment.status = EnrollmentStatus::kNotSent;
  enrollment.not_sent_reason = std::move(reason);
  enrollment.next_at_ms = kNoTime;
  saveSnapshot(enrollment);
  const Step* step = currentStep(enrollment);
  countAtStep(enrollment, step != nullptr ? step->id : Symbol(), ReportCount::kNotSent);
}

// The mailbox to send from now: for a threaded step the thread's, else the next one of the
// send-from set, round-robin, that has capacity. Returns "" when none has, with free_at_ms set
// to the earliest instant one will (kNoFreeSlot when none ever will).
std::string Engine::pickMailbox(const Enrollment& enrollment, const Sequence& sequence,
                                const Step& step, const std::string& domain, TimeMs now_ms,
                                TimeMs& free_at_ms) {
  // The thread's mailbox, else the enrollment's own set, else the sequence's.
  std::vector<std::string> own;
  if (step.thread_previous && !enrollment.last_mailbox.empty()) {
    own.push_back(enrollment.last_mailbox);
  } else if (const SymbolList& mailboxes = extrasOf(enrollment).mailboxes; !mailboxes.empty()) {
    own = mailboxes.strings();
  }
  const std::vector<std::string>& set = !own.empty() ? own : sequence.mailboxes;
  if (set.empty()) return std::string();
  // The set's key in a buffer kept between calls: no allocation a fire once it has grown.
  std::string& set_key = rotation_key_;
  set_key.clear();
  for (const std::string& address : set) set_key.append(address).push_back(',');
  auto rotation = rotation_.find(set_key);
  if (rotation == rotation_.end()) rotation = rotation_.emplace(set_key, 0).first;
  std::uint64_t& turn = rotation->second;
  for (std::size_t i = 0; i < set.size(); ++i) {
    const std::string& address = set[(turn + i) % set.size()];
    TimeMs free_ms = governor_.nextFree(address, domain, now_ms);
    if (free_ms <= now_ms) {
      turn += i + 1;
      return address;
    }
    free_at_ms = std::min(free_at_ms, free_ms);
  }
  return std::string();
}

// Decides a step's email without rendering it: the mailbox, the A/B variant, the templates
// checked for the contact (the same not_sent reasons a render would give), the Message-ID.
// The worker renders the message from what the intent holds (engine/render.hpp), so the
// email is a function of (enrollment, step, time, mailbox) and the unsubscribe settings, and
// a redelivery after a restart rebuilds the very same message.
std::optional<DeliveryIntent> Engine::makeIntent(const Enrollment& enrollment, const Step& step,
                                                 TimeMs at_ms, const std::string& address,
                                                 std::string& not_sent_reason) const {
  const Sequence* sequence = sequenceOf(enrollment);
  const RenderSequence* compiled = render_->findSequence(enrollment.sequence_id);
  const ContactRef* contact = contactSlot(enrollment);
  if (sequence == nullptr || compiled == nullptr || contact == nullptr) {
    not_sent_reason = "unknown_sequence_or_contact";
    return std::nullopt;
  }
  const RenderSender* sender = render_->findSender(address);
  if (sender == nullptr) {
    not_sent_reason = "no_mailbox";
    return std::nullopt;
  }
  const std::uint32_t step_index = static_cast<std::uint32_t>(&step - sequence->steps.data());
  SEQD_ASSERT(step_index < compiled->steps.size());
  const RenderStep& render_step = compiled->steps[step_index];
  const int variant = pickVariant(render_step, (*contact)->key());
  not_sent_reason = checkStepText(render_step, variant, **contact);
  if (!not_sent_reason.empty()) return std::nullopt;
  DeliveryIntent intent;
  intent.enrollment_id = enrollment.id;
  intent.step_index = step_index;
  intent.send = SendKey{step.id, sender->address_symbol};
  intent.transport = sender->transport;
  intent.fired_at_ms = at_ms;
  intent.variant = variant;
  intent.contact = *contact;
  intent.render = render_;
  intent.sequence = compiled;
  intent.sender = sender;
  return intent;
}

// ---------------------------------------------------------------------------------------
// Delivery

namespace {

// The progress-log detail of a failed delivery: its kind first, so a reader can tell them
// apart.
std::string failureDetail(const DeliveryResult& result) {
  if (result.outcome == DeliveryOutcome::kReturned) return std::string(kNotAttemptedDetail);
  if (result.maybe_delivered) return "interrupted: " + result.detail;
  if (result.outcome == DeliveryOutcome::kFailedPermanent) return "permanent: " + result.detail;
  return "temporary: " + result.detail;
}

// Why a send bounced, from a bounded set (reasons are interned): `smtp_5NN` with the first
// 5xx reply code in the detail, else `smtp_5xx` (SMTP) or `delivery_refused`.
std::string bounceReason(const DeliveryResult& result) {
  const std::string& detail = result.detail;
  for (std::size_t i = 0; i + 3 <= detail.size(); ++i) {
    const bool starts = i == 0 || detail[i - 1] == ' ';
    const bool ends = i + 3 == detail.size() || detail[i + 3] == ' ' || detail[i + 3] == '-';
    if (starts && ends && detail[i] == '5' &&
        std::isdigit(static_cast<unsigned char>(detail[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(detail[i + 2]))) {
      return "smtp_" + detail.substr(i, 3);
    }
  }
  return result.transport == Transport::kSmtp ? "smtp_5xx" : "delivery_refused";
}

}  // namespace

void Engine::onDeliveryResult(const DeliveryResult& result, TimeMs now_ms) {
  if (result.enrollment_id >= enrollments_.size()) return;
  Enrollment& enrollment = enrollments_[result.enrollment_id];
  // Only the send the enrollment has out can report; anything else is a stray duplicate.
  if (!enrollment.sending || !sendingOut(enrollment).send.released ||
      !isSendingOut(enrollment, result.send)) {
    return;
  }
  SEQD_ASSERT(in_flight_ > 0);
  --in_flight_;
  if (result.outcome == DeliveryOutcome::kReturned && result.redelivery) {
    // A redelivery seqd stopped before attempting says nothing of the try before it, which
    // may have landed. While the contact still waits on it, the send stays out, on its
    // mailbox, as stored, and the next start delivers it again (a no-op where it landed):
    // deciding the step again instead could send it a second time, from another mailbox of
    // the rotation. Nothing is recorded.
    if (waitsOnSend(enrollment)) return;
    // A contact stopped meanwhile (finished, paused, removed), or whose sequence was
    // deactivated, is not written to again. The send is one that may have gone, as an SMTP
    // send a crash interrupted: it keeps its count against the limits, and its step is
    // marked interrupted, so a resume never decides it again by itself.
    DeliveryResult interrupted = result;
    interrupted.outcome = DeliveryOutcome::kFailedTemporary;
    interrupted.maybe_delivered = true;
    interrupted.detail = "seqd stopped before delivering it again; the try before may have landed";
    return recordResult(enrollment, interrupted, now_ms);
  }
  recordResult(enrollment, result, now_ms);
}

void Engine::recordResult(Enrollment& enrollment, const DeliveryResult& result, TimeMs now_ms) {
  const bool delivered = result.outcome == DeliveryOutcome::kDelivered;
  ProgressRecord& record =
      appendProgress(delivered ? ProgressKind::kDelivered : ProgressKind::kDeliveryFailed,
                     result.enrollment_id, enrollment.step_index, now_ms);
  const SendingOut& out = sendingOut(enrollment);
  record.step_id = out.send.step;
  record.mailbox = out.send.mailbox;
  record.detail = delivered ? std::string() : failureDetail(result);
  record.variant = out.variant;
  const bool bounced = result.outcome == DeliveryOutcome::kFailedPermanent;
  if (delivered || bounced || result.maybe_delivered) {
    const ReportKey key = sendingKey(enrollment);
    report_counters_.add(key, ReportCount::kSent);
    if (delivered) report_counters_.add(key, ReportCount::kDelivered);
    if (bounced) report_counters_.add(key, ReportCount::kBounced);
  }
  applyResult(enrollment, result, now_ms);
  saveSnapshot(enrollment);
}

// What one result does: it always records what happened to that send; it moves the
// enrollment only while the enrollment still waits on it (status active). A stopped
// enrollment keeps its status whatever the result (engine.hpp's table).
void Engine::applyResult(Enrollment& enrollment, const DeliveryResult& result, TimeMs now_ms) {
  const SendOut send = sendingOut(enrollment).send;
  const Symbol step_id = send.step;
  const Symbol mailbox = send.mailbox;
  const TimeMs fired_at_ms = send.at_ms;
  const TimeMs counted_at_ms = countedAt(enrollment);
  clearSending(enrollment);
  const bool waiting = enrollment.status == EnrollmentStatus::kActive;
  const Sequence* sequence = sequenceOf(enrollment);
  // The 4xx count runs over consecutive 4xx of one step; any other answer ends it.
  if (result.outcome != DeliveryOutcome::kFailedTemporary || result.maybe_delivered) {
    enrollment.delivery_failures = 0;
  }
  // A paused contact resumed later finds this step due since it fell due.
  const bool paused = enrollment.status == EnrollmentStatus::kPaused;
  if (paused) enrollment.next_at_ms = fired_at_ms;
  switch (result.outcome) {
    case DeliveryOutcome::kDelivered:
      enrollment.last_mailbox = mailbox;
      markStepDone(enrollment, step_id, fired_at_ms);
      if (!waiting) {
        // Stopped meanwhile: it stays stopped, on the step after this one, whose wait counts
        // from this send.
        if (sequence != nullptr) enrollment.step_index = currentStepIndex(*sequence, enrollment);
        const Step* next = currentStep(enrollment);
        if (paused)
          enrollment.next_at_ms = next ? stepDueAt(enrollment, *next, fired_at_ms) : kNoTime;
        return;
      }
      if (sequence == nullptr) {
        enrollment.status = EnrollmentStatus::kScheduled;  // resumes when the sequence is back
        enrollment.next_at_ms = kNoTime;
        return;
      }
      return completeStep(enrollment, *sequence, fired_at_ms);
    case DeliveryOutcome::kReturned: {
      // It never left: the limits no longer count it (it is counted again when it goes).
      const PackedContact* contact = contactOf(enrollment);
      governor_.forgetSend(mailbox, recipientDomain(contact ? contact->email() : ""),
                           counted_at_ms);
      if (!waiting) return;
      enrollment.status = EnrollmentStatus::kScheduled;
      enrollment.next_at_ms = now_ms;
      break;
    }
    case DeliveryOutcome::kFailedPermanent:
      // Marked on the step too, so no way back to it (resume, remove + add) sends it again
      // without a `retry`.
      changeExtras(enrollment, [&](EnrollmentExtras& x) { x.unresolved.set(step_id, "bounced"); });
      if (!waiting) return;
      wheel_.cancel(enrollment.id);
      if (sequence != nullptr) enrollment.step_index = currentStepIndex(*sequence, enrollment);
      enrollment.status = EnrollmentStatus::kBounced;
      enrollment.not_sent_reason = bounceReason(result);
      enrollment.next_at_ms = kNoTime;
      return;
    case DeliveryOutcome::kFailedTemporary:
      if (result.maybe_delivered) {
        changeExtras(enrollment,
                     [&](EnrollmentExtras& x) { x.unresolved.set(step_id, "interrupted"); });
        if (!waiting) return;
        return markNotSent(enrollment, "interrupted");
      }
      if (!waiting) return;  // not sent: it goes when the contact is resumed
      if (++enrollment.delivery_failures > kDeliveryRetriesMax) {
        enrollment.delivery_failures = 0;
        return markNotSent(enrollment, result.transport == Transport::kSmtp ? "smtp_4xx_exhausted"
                                                                            : "delivery_failed");
      }
      enrollment.status = EnrollmentStatus::kScheduled;
      enrollment.next_at_ms = now_ms + kDeliveryRetryDelaysMs[enrollment.delivery_failures - 1];
      // The retry runs the current step (a task done meanwhile may have moved it on).
      if (sequence != nullptr) enrollment.step_index = currentStepIndex(*sequence, enrollment);
      break;
  }
  arm(enrollment);
}

WriteBatch Engine::takeBatch() {
  // The log's records as a restart would count them, in seq order, complete by now.
  for (const ProgressRecord& record : batch_.progress) foldLoggedSend(record);
  // Room for every snapshot at once: growing one push_back at a time copies the snapshots
  // already in at each reallocation (a 1M-enrollment activate spent ~10% of its time there).
  batch_.enrollments.reserve(batch_.enrollments.size() + dirty_.size());
  syncCensus();
  for (EnrollmentId id : dirty_) {
    batch_.enrollments.push_back(recordOf(enrollments_[id]));
    is_dirty_[id] = false;
    noteJournaled(id);
  }
  snapshots_since_checkpoint_ += dirty_.size();
  dirty_.clear();
  report_counters_.takeChanged(batch_.team);
  WriteBatch batch = std::move(batch_);
  batch_.clear();
  addCheckpointSlice(batch, boundByWork(batch.enrollments.size(), kCheckpointSliceRowsPerSnapshot,
                                        kCheckpointSliceMin, settings_.checkpoint_slice_max));
  addGovernorSnapshot(batch, progress_seq_, false);
  const TimeMs now_ms = wheel_.now();
  batch.history_keep_from_ms = now_ms - historyKeepMs();
  batch.inbound_keep_from_ms = now_ms - settings_.inbound_keep_ms;
  return batch;
}

// The sends a restart must count again: the rolling day of the limits, and a mailbox's last
// send while its min_interval (and jitter) may still be running.
DurationMs Engine::historyKeepMs() const {
  DurationMs keep_ms = settings_.history_keep_ms;
  for (const Mailbox& mailbox : settings_.mailboxes) {
    keep_ms = std::max(keep_ms, mailbox.min_interval_ms + mailbox.jitter_ms + kHourMs);
  }
  return keep_ms;
}

bool Engine::addShutdownCheckpointSlice(WriteBatch& batch) {
  if (checkpoint_ids_.empty() && !journaled_ids_.empty()) {
    snapshots_since_checkpoint_ = std::max(
        {snapshots_since_checkpoint_, settings_.checkpoint_snapshots_min, enrollments_.size()});
  }
  addCheckpointSlice(batch, settings_.checkpoint_slice_max);
  // The records still in batch_ are not committed: the snapshot stops before them.
  addGovernorSnapshot(
      batch, batch_.progress.empty() ? progress_seq_ : batch_.progress.front().seq - 1, true);
  return checkpoint_ids_.empty() && journaled_ids_.empty();
}

void Engine::noteJournaled(EnrollmentId id) {
  if (id >= journaled_.size()) journaled_.resize(enrollments_.size(), false);
  if (journaled_[id]) return;
  journaled_[id] = true;
  journaled_ids_.push_back(id);
}

// Starts a checkpoint when enough snapshots went to the journal since the last one started
// (after this batch's: they count in it), then adds its next slice of rows, current as of
// this batch, in id order; the last slice ends it.
void Engine::addCheckpointSlice(WriteBatch& batch, std::size_t rows_max) {
  SEQD_ASSERT(rows_max > 0);
  if (checkpoint_ids_.empty()) {
    const std::size_t due = std::max(settings_.checkpoint_snapshots_min, enrollments_.size());
    if (snapshots_since_checkpoint_ < due || journaled_ids_.empty()) return;
    batch.checkpoint_start = true;
    checkpoint_ids_.swap(journaled_ids_);
    for (EnrollmentId id : checkpoint_ids_) journaled_[id] = false;
    std::sort(checkpoint_ids_.begin(), checkpoint_ids_.end());
    checkpoint_written_ = 0;
    snapshots_since_checkpoint_ = 0;
  }
  const std::size_t slice_end = std::min(checkpoint_ids_.size(), checkpoint_written_ + rows_max);
  for (std::size_t i = checkpoint_written_; i < slice_end; ++i) {
    batch.checkpoint_rows.push_back(recordOf(enrollments_[checkpoint_ids_[i]]));
  }
  checkpoint_written_ = slice_end;
  if (checkpoint_written_ == checkpoint_ids_.size()) {
    batch.checkpoint_finish = true;
    checkpoint_ids_.clear();
    checkpoint_written_ = 0;
  }
}

void Engine::afterCommit(WriteBatch&& spent) {
  auto reuse = [](auto& pending, auto& used) {
    if (!pending.empty() || pending.capacity() >= used.capacity()) return;
    using Item = typename std::decay_t<decltype(used)>::value_type;
    if (used.capacity() * sizeof(Item) > kRecycledBatchBytesMax) return;  // freed with `spent`
    used.clear();
    pending.swap(used);
  };
  reuse(batch_.contacts, spent.contacts);
  reuse(batch_.enrollments, spent.enrollments);
  reuse(batch_.progress, spent.progress);
  if (sends_out_.empty() && queued_.empty()) wheel_.releaseIfEmpty();
}

std::vector<DeliveryIntent> Engine::takeIntents(DeliverySlots slots, TimeMs now_ms) {
  std::vector<DeliveryIntent> released;
  auto drain = [&](std::deque<QueueEntry>& queue, std::size_t slots_max) {
    std::size_t taken = 0;
    while (!queue.empty() && taken < slots_max) {
      const auto [id, ticket] = queue.front();
      queue.pop_front();
      auto queued = queued_.find(id);
      if (queued == queued_.end() || queued->second.ticket != ticket) {
        continue;  // withdrawn (and maybe queued again behind)
      }
      Enrollment& enrollment = enrollments_[id];
      if (!enrollment.sending) {  // settled meanwhile: nothing to release
        queued_.erase(queued);
        continue;
      }
      const SendOut send = sendingOut(enrollment).send;
      if (send.released && now_ms != kNoTime &&
          (!waitsOnSend(enrollment) || closedUntil(enrollment, now_ms))) {
        // A redelivery that waited for a worker while its contact stopped, or its window
        // closed: settled again (dropped, or held for the window).
        queued_.erase(queued);
        settleSendOut(enrollment, now_ms);
        continue;
      }
      if (!send.released && now_ms != kNoTime && now_ms > send.at_ms &&
          openAt(enrollment, now_ms) != now_ms) {
        // Its window closed while it waited for a worker: decided again when it opens.
        withdrawQueuedSend(enrollment);
        enrollment.status = EnrollmentStatus::kScheduled;
        enrollment.next_at_ms = now_ms;
        arm(enrollment);
        continue;
      }
      if (!send.released) {
        // Counted against the limits from when it leaves (see takeIntents in engine.hpp).
        TimeMs counted_at_ms = send.at_ms;
        if (now_ms != kNoTime && now_ms > send.at_ms) {
          const PackedContact* contact = contactOf(enrollment);
          const std::string domain = recipientDomain(contact ? contact->email() : "");
          governor_.forgetSend(send.mailbox.view(), domain, send.at_ms);
          governor_.recordSend(send.mailbox.view(), domain, now_ms,
                               jitterSeed(queued->second.intent));
          counted_at_ms = now_ms;
          counted_at_[id] = now_ms;
        }
        // Recorded before it leaves: after a crash a released send is the uncertain kind.
        ProgressRecord& record =
            appendProgress(ProgressKind::kStepFired, id, enrollment.step_index, counted_at_ms);
        SendingOut& out = sendingOut(enrollment);
        record.step_id = out.send.step;
        record.mailbox = out.send.mailbox;
        record.variant = out.variant;
        out.send.released = true;
        ++in_flight_;
        saveSnapshot(enrollment);
      }
      released.push_back(std::move(queued->second.intent));
      queued_.erase(queued);
      ++taken;
    }
  };
  drain(queued_smtp_, slots.smtp);
  drain(queued_idempotent_, slots.idempotent);
  return released;
}

}  // namespace seqd
