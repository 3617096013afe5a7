// LifecycleModel: a small reference model of the enrollment lifecycle (SPEC §3, README
// "Decisions", and the lifecycle rules below), written without any engine code, for
// lifecycle_model_test.cpp to compare the real Engine against after every operation.
//
// Rules encoded:
//  1. Progress is kept by step id. A step is done when its email was delivered, its task was
//     completed or skipped by a user, or it was a call step skipped for dnc. The current step is
//     the first step, in the sequence's current order, after the last done one.
//  2. A due auto_email fires one send; the enrollment waits `active` on that send and only its
//     result moves it on. The next step's wait counts from the moment the email was fired.
//  3. A result changes the status only while the enrollment waits on that very send.
//     Delivered: the step is done in every case. 4xx: retried after 5m, 30m, 2h, then not_sent.
//     5xx: bounced. Interrupted: not_sent:interrupted.
//  4. A 5xx or interrupted result that arrives while the enrollment is not waiting leaves the
//     step "unresolved": the next time the step is due it becomes bounced / not_sent instead.
//     An interrupted step stays unresolved until the operator retries it, also when the
//     result came while it waited (a re-add never repeats an interrupted send).
//  5. Resuming, re-adding or retrying while a send is in flight waits on that same send.
//  6. retry (bounced, not_sent) schedules the current step now.
//  7. Events as SPEC §3 rule 7 and README. 8. One task per (enrollment, step), ever; finish
//     and remove close open tasks (as skipped, the step stays not done), re-add reopens it.
//  9. Restart: committed state is kept; Maildir sends in flight are handed out again, SMTP
//     ones count as interrupted. 10. Reload keeps done steps by id.
// 11. Permissions (SPEC §3 rule 11, README "Permissions"): a sequence's contacts are changed
//     by its owner, a user it is shared with, or an admin; sharing needs the owner or an
//     admin; an event needs edit rights on every sequence it changes (and `stage` the
//     contact's owner, or anyone when it has none); a task is finished by its owner (the
//     contact's owner, else the sequence's), the sequence's editors or an admin. A refused
//     command changes nothing.
// 12. Add (SPEC §3 rule 12, README "Add-time warnings"): a contact already running is skipped
//     (already_in_sequence); one with warnings is skipped without --force, and stage_blocked
//     and email_opt_out never enroll; one with every step done is skipped (already_finished)
//     even with --force. --dry-run answers the same and changes nothing.
// 13. Search (README "Search"): `--where` EXPRs over score, stage, company, owner, dnc and
//     in_sequence (any status but removed), evaluated here by ModelQuery, not by the engine's
//     parser.
//
// Nondeterminism: where the rules leave a choice open, each enrollment keeps every state it
// may legally be in (its "candidates"), and each observation of the engine keeps only those
// that agree with it; a divergence is an observation that no candidate explains. The open
// choices are marked "Open choice:" below. Facts the engine cannot choose (which sends are in
// flight, which steps were delivered or may have been) are kept once, outside the candidates.
//
// Thread-safety: plain values, single-threaded test code.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/time.hpp"

namespace seqd::testing {

inline constexpr TimeMs kModelNever = INT64_MIN;
// Due times a reload leaves open: the rules fix which step a moved contact is on, not when its
// new step's wait ends. kModelAnyDue: it may fire at once; kModelLateDue: it need not yet;
// any next_at is accepted while both are in the set.
inline constexpr TimeMs kModelAnyDue = INT64_MIN + 1;
inline constexpr TimeMs kModelLateDue = INT64_MAX / 2;
inline constexpr int kModelRetriesMax = 3;
inline constexpr DurationMs kModelRetryDelaysMs[kModelRetriesMax] = {5 * kMinuteMs, 30 * kMinuteMs,
                                                                     2 * kHourMs};
inline constexpr std::size_t kModelHistoryMax = 12;
// Open choices multiply an enrollment's candidates until observations single them out; more
// than this many means the model lost track (a test bug), not an engine defect.
inline constexpr std::size_t kModelCandidatesMax = 64;

enum class ModelStepKind { kEmail, kTask, kCall };

struct ModelStep {
  std::string id;
  ModelStepKind kind = ModelStepKind::kEmail;
  DurationMs wait_ms = 0;
  bool operator==(const ModelStep&) const = default;
};

// A `--where` EXPR as a tree: a comparison, or `and`/`or` over operands. The test writes it
// out as text for the engine and evaluates the tree itself (LifecycleModel::matches).
struct ModelQuery {
  enum class Kind { kCompare, kAnd, kOr };
  Kind kind = Kind::kCompare;
  std::string field;  // kCompare: score, stage, company, owner, dnc, in_sequence
  std::string op;     // =, !=, >, >=, <, <=, ~, !~
  std::string value;
  std::vector<ModelQuery> operands;  // kAnd, kOr
  bool parenthesized = false;        // written inside parentheses although not needed
};

inline std::string modelQueryText(const ModelQuery& query) {
  if (query.kind == ModelQuery::Kind::kCompare) {
    bool quote = query.value.empty() || query.value.find(' ') != std::string::npos;
    std::string text = query.field + query.op + (quote ? "'" + query.value + "'" : query.value);
    return query.parenthesized ? "(" + text + ")" : text;
  }
  std::string text;
  const char* joint = query.kind == ModelQuery::Kind::kAnd ? " and " : " or ";
  for (const ModelQuery& operand : query.operands) {
    std::string part = modelQueryText(operand);
    // `and` binds tighter than `or`: an `or` inside an `and` needs its parentheses.
    if (query.kind == ModelQuery::Kind::kAnd && operand.kind == ModelQuery::Kind::kOr &&
        !operand.parenthesized) {
      part = "(" + part + ")";
    }
    text += (text.empty() ? "" : joint) + part;
  }
  return query.parenthesized ? "(" + text + ")" : text;
}

// `workflows:` of a sequence (SPEC §3 rule 13).
struct ModelWorkflow {
  std::string from_list;
  int min_score = 0;
  std::optional<ModelQuery> where;
  DurationMs every_ms = 15 * kMinuteMs;
};

struct ModelSequence {
  std::string id;
  std::vector<ModelStep> steps;
  std::set<std::string> finish_on;  // reply, meeting_booked, unsubscribe
  std::set<std::string> block_stages;
  bool pause_on_ooo = false;
  std::string owner = "alice";
  std::vector<ModelWorkflow> workflows;

  // The first step after the last done one, in this order; nullptr when none is left.
  const ModelStep* currentStep(const std::set<std::string>& done) const {
    std::size_t next = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (done.count(steps[i].id) > 0) next = i + 1;
    }
    return next < steps.size() ? &steps[next] : nullptr;
  }
};

struct ModelContact {
  std::string key;
  std::string owner;
  std::string stage;
  std::string company;
  int score = 0;
  bool unverified = false;
  bool dnc = false;
  bool email_opt_out = false;
};

enum class ModelStatus { kScheduled, kActive, kPaused, kFinished, kBounced, kNotSent, kRemoved };

inline const char* modelStatusName(ModelStatus status) {
  static const char* const kNames[] = {"scheduled", "active",   "paused", "finished",
                                       "bounced",   "not_sent", "removed"};
  return kNames[static_cast<int>(status)];
}

enum class ModelTaskState { kOpen, kCompleted, kSkippedByUser, kClosedBySystem };

struct ModelTask {
  std::uint64_t id = 0;  // 0 until the engine's task is seen
  ModelTaskState state = ModelTaskState::kOpen;
  bool operator==(const ModelTask&) const = default;
};

// One state an enrollment may legally be in.
struct Candidate {
  ModelStatus status = ModelStatus::kScheduled;
  std::string wait_step;        // active: the step it waits on
  std::string wait_message_id;  // active on a send; empty when active on a task
  std::set<std::string> done;
  // step -> "bounced", "interrupted" or "bounced?" (a re-add may send it again); rule 4.
  // Only a retry (or the step's delivery) clears an entry.
  std::map<std::string, std::string> unresolved;
  std::set<TimeMs> due;  // acceptable due times of the current step (empty: not yet known)
  TimeMs anchor_ms = 0;  // when the last step was done (or the contact added)
  std::string paused_reason;
  TimeMs resume_at_ms = kModelNever;
  std::string finish_reason;
  std::string not_sent_reason;
  int failures_low = 0;  // consecutive 4xx of the current step: at least / at most
  int failures_high = 0;
  std::map<std::string, ModelTask> tasks;  // by step id
  bool operator==(const Candidate&) const = default;
};

struct EnrollmentModel {
  std::string sequence;
  std::string contact;
  std::vector<Candidate> candidates;
  std::uint64_t version = 0;  // changes whenever the candidates may have
};

// A fired email whose result has not arrived.
struct ModelSend {
  std::string message_id;
  std::string sequence;
  std::string contact;
  std::string step;
  bool smtp = false;
  TimeMs fired_at_ms = 0;
  bool awaiting_redelivery = false;  // lost in a restart: the engine must hand it out again
};

// Who issues a command: the OS user of the socket peer, and whether seqd.yaml's `admins`
// names it.
struct ModelCaller {
  std::string user;
  bool admin = false;
};

// What an add answers: who is added, and the warnings of each contact skipped (with the
// other sequences an in_other_sequence warning names).
struct ModelAddResult {
  std::set<std::string> added;
  std::map<std::string, std::set<std::string>> skipped;
  std::map<std::string, std::set<std::string>> other_sequences;
};

enum class ModelOutcome { kDelivered, kTemporary, kPermanent, kInterrupted };
enum class ModelAction { kRemove, kPause, kResume, kFinish, kRetry, kSetMailbox };
enum class ModelEvent { kReply, kMeetingBooked, kUnsubscribe, kBounce, kOoo, kStage };

// What the engine shows for one enrollment: its status row and its tasks.
struct ObservedEnrollment {
  std::string status;
  std::string step;
  TimeMs next_at_ms = kModelNever;
  std::string paused_reason;
  TimeMs resume_at_ms = kModelNever;
  std::string finish_reason;
  std::string not_sent_reason;
  std::map<std::string, std::pair<std::uint64_t, std::string>> tasks;  // step -> id, state
};

// "+1d02:30" relative to origin_ms.
inline std::string modelTime(TimeMs time_ms, TimeMs origin_ms) {
  if (time_ms == kModelNever) return "never";
  if (time_ms == kModelAnyDue) return "any";
  if (time_ms == kModelLateDue) return "later";
  DurationMs offset = time_ms - origin_ms;
  std::string sign = offset < 0 ? "-" : "+";
  if (offset < 0) offset = -offset;
  char text[48];
  std::snprintf(text, sizeof text, "%s%lldd%02lld:%02lld", sign.c_str(),
                static_cast<long long>(offset / kDayMs),
                static_cast<long long>(offset % kDayMs / kHourMs),
                static_cast<long long>(offset % kHourMs / kMinuteMs));
  return text;
}

class LifecycleModel {
 public:
  using Key = std::pair<std::string, std::string>;  // sequence, contact

  LifecycleModel(const std::vector<ModelSequence>& sequences, std::vector<ModelContact> contacts,
                 DurationMs ooo_default_pause_ms, TimeMs origin_ms)
      : ooo_default_pause_ms_(ooo_default_pause_ms), origin_ms_(origin_ms) {
    for (const ModelSequence& sequence : sequences) configured_[sequence.id] = sequence;
    for (ModelContact& contact : contacts) contacts_[contact.key] = std::move(contact);
  }

  // --- reading ---
  const ModelSequence* sequence(const std::string& id) const {
    auto found = configured_.find(id);
    return found == configured_.end() ? nullptr : &found->second;
  }
  const std::map<Key, EnrollmentModel>& enrollments() const { return enrollments_; }
  const std::map<std::string, ModelSend>& sends() const { return sends_; }
  const ModelContact& contact(const std::string& key) const { return contacts_.at(key); }

  const ModelSend* outstanding(const std::string& sequence_id, const std::string& contact) const {
    for (const auto& [id, send] : sends_) {
      if (send.sequence == sequence_id && send.contact == contact) return &send;
    }
    return nullptr;
  }

  // The status every candidate agrees on (observations filter candidates by status).
  ModelStatus statusOf(const Key& key) const {
    return enrollments_.at(key).candidates.front().status;
  }

  // --- commands ---

  // What `add` does for `caller` (rule 12); mailbox_owner: the add names a mailbox another
  // user owns. A dry run changes nothing: call this on a copy. A contact with every step done
  // is skipped, unless a send is still out (a reload moved its step): it waits on that send.
  ModelAddResult add(const std::string& sequence_id, const std::vector<std::string>& keys,
                     bool force, const std::string& caller, bool mailbox_owner, TimeMs now_ms) {
    ModelAddResult result;
    const ModelSequence& sequence = configured_.at(sequence_id);
    for (const std::string& key : keys) {
      if (result.added.count(key) > 0 || result.skipped.count(key) > 0) continue;
      auto existing = enrollments_.find({sequence_id, key});
      const Candidate* before =
          existing == enrollments_.end() ? nullptr : &existing->second.candidates.front();
      if (before != nullptr && before->status != ModelStatus::kRemoved &&
          before->status != ModelStatus::kFinished) {
        result.skipped[key] = {"already_in_sequence"};
        continue;
      }
      std::set<std::string> others;
      std::set<std::string> warnings =
          addWarnings(sequence, contacts_.at(key), before, caller, others);
      if (mailbox_owner) warnings.insert("mailbox_owner");
      if (warnings.count("stage_blocked") > 0 || warnings.count("email_opt_out") > 0 ||
          (!force && !warnings.empty())) {
        result.skipped[key] = warnings;
        if (!others.empty()) result.other_sequences[key] = others;
        continue;
      }
      if (before != nullptr && sequence.currentStep(before->done) == nullptr &&
          outstanding(sequence_id, key) == nullptr) {
        result.skipped[key] = {"already_finished"};  // every step done: nothing may run again
        continue;
      }
      result.added.insert(key);
      if (existing == enrollments_.end()) {
        EnrollmentModel& enrollment = enrollments_[{sequence_id, key}];
        enrollment.sequence = sequence_id;
        enrollment.contact = key;
        Candidate fresh;
        fresh.anchor_ms = now_ms;
        fresh.due = {now_ms + sequence.steps.front().wait_ms};
        enrollment.candidates = {fresh};
        continue;
      }
      transform(existing->second,
                [&](Candidate c) { return rearm(existing->second, c, Rearm::kReadd, now_ms); });
    }
    return result;
  }

  // --- permissions (rule 11) ---
  bool canEditSequence(const std::string& sequence_id, const ModelCaller& caller) const {
    const ModelSequence& sequence = configured_.at(sequence_id);
    auto shared = shares_.find(sequence_id);
    return caller.admin || caller.user == sequence.owner ||
           (shared != shares_.end() && shared->second.count(caller.user) > 0);
  }
  bool canEditContact(const std::string& key, const ModelCaller& caller) const {
    const ModelContact& contact = contacts_.at(key);
    return caller.admin || contact.owner.empty() || contact.owner == caller.user;
  }
  // "" when allowed, else the error class the engine must answer.
  std::string share(const std::string& sequence_id, const std::string& user, bool shared,
                    const ModelCaller& caller) {
    const ModelSequence& sequence = configured_.at(sequence_id);
    if (!caller.admin && caller.user != sequence.owner) return "permission_denied";
    if (shared) {
      shares_[sequence_id].insert(user);
    } else if (shares_.count(sequence_id) > 0) {
      shares_[sequence_id].erase(user);
      if (shares_[sequence_id].empty()) shares_.erase(sequence_id);
    }
    return "";
  }
  const std::map<std::string, std::set<std::string>>& shares() const { return shares_; }
  // Who a task goes to (rule 5): the contact's owner when the task is made, else the
  // sequence's. Owners do not change in this model.
  std::string taskOwner(const std::string& sequence_id, const std::string& contact) const {
    const std::string& owner = contacts_.at(contact).owner;
    return owner.empty() ? configured_.at(sequence_id).owner : owner;
  }

  // --- contacts and search ---
  void setScore(const std::string& key, int score) { contacts_.at(key).score = score; }
  std::vector<std::string> contactKeys() const {
    std::vector<std::string> keys;
    for (const auto& [key, contact] : contacts_) keys.push_back(key);
    return keys;
  }
  // The error class `--where` must answer: not_found when in_sequence names a sequence that is
  // not configured; "" otherwise.
  std::string queryError(const ModelQuery& query) const {
    if (query.kind == ModelQuery::Kind::kCompare) {
      return query.field == "in_sequence" && configured_.count(query.value) == 0 ? "not_found" : "";
    }
    for (const ModelQuery& operand : query.operands) {
      if (std::string error = queryError(operand); !error.empty()) return error;
    }
    return "";
  }
  // The contacts the EXPR matches, in key order.
  std::vector<std::string> matching(const ModelQuery& query) const {
    std::vector<std::string> keys;
    for (const auto& [key, contact] : contacts_) {
      if (matches(query, key)) keys.push_back(key);
    }
    return keys;
  }
  bool matches(const ModelQuery& query, const std::string& key) const {
    if (query.kind == ModelQuery::Kind::kAnd) {
      return std::all_of(query.operands.begin(), query.operands.end(),
                         [&](const ModelQuery& operand) { return matches(operand, key); });
    }
    if (query.kind == ModelQuery::Kind::kOr) {
      return std::any_of(query.operands.begin(), query.operands.end(),
                         [&](const ModelQuery& operand) { return matches(operand, key); });
    }
    const ModelContact& contact = contacts_.at(key);
    if (query.field == "in_sequence") {
      auto found = enrollments_.find({query.value, key});
      bool in = found != enrollments_.end() &&
                found->second.candidates.front().status != ModelStatus::kRemoved;
      return query.op == "=" ? in : !in;
    }
    auto lower = [](std::string text) {
      for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return text;
    };
    std::string field;
    if (query.field == "score") field = std::to_string(contact.score);
    if (query.field == "stage") field = contact.stage;
    if (query.field == "company") field = contact.company;
    if (query.field == "owner") field = contact.owner;
    if (query.field == "dnc") field = contact.dnc ? "true" : "false";
    const bool numeric = query.field == "score" && !query.value.empty() &&
                         query.value.find_first_not_of("0123456789") == std::string::npos;
    if (query.op == "~" || query.op == "!~") {
      bool contains = lower(field).find(lower(query.value)) != std::string::npos;
      return query.op == "~" ? contains : !contains;
    }
    if (query.op == "=" || query.op == "!=") {
      bool equal =
          numeric ? contact.score == std::stoi(query.value) : lower(field) == lower(query.value);
      return query.op == "=" ? equal : !equal;
    }
    if (!numeric) return false;  // an order comparison needs numbers on both sides
    const int value = std::stoi(query.value);
    if (query.op == ">") return contact.score > value;
    if (query.op == ">=") return contact.score >= value;
    if (query.op == "<") return contact.score < value;
    return contact.score <= value;  // "<="
  }

  // Returns the contacts the engine must report done.
  std::set<std::string> operate(ModelAction action, const std::string& sequence_id,
                                std::vector<std::string> keys, std::optional<TimeMs> at_ms,
                                const std::string& reason, bool all, TimeMs now_ms) {
    if (all) {
      for (const auto& [key, enrollment] : enrollments_) {
        ModelStatus status = enrollment.candidates.front().status;
        if (key.first == sequence_id &&
            (status == ModelStatus::kBounced || status == ModelStatus::kNotSent)) {
          keys.push_back(key.second);
        }
      }
    }
    std::set<std::string> done;
    for (const std::string& key : keys) {
      auto found = enrollments_.find({sequence_id, key});
      if (found == enrollments_.end() || done.count(key) > 0) continue;
      if (operateOne(action, found->second, at_ms, reason, now_ms)) done.insert(key);
    }
    return done;
  }

  // Returns the sequences whose enrollment the event must change; with apply false, changes
  // nothing (whether the caller may make the event depends on them).
  std::set<std::string> event(ModelEvent kind, const std::string& contact_key,
                              const std::string& only_sequence, std::optional<TimeMs> until_ms,
                              const std::string& stage, TimeMs now_ms, bool apply = true) {
    ModelContact& contact = contacts_.at(contact_key);
    if (apply && kind == ModelEvent::kUnsubscribe) contact.email_opt_out = true;
    if (apply && kind == ModelEvent::kStage) contact.stage = stage;
    std::set<std::string> changed;
    for (auto& [key, enrollment] : enrollments_) {
      if (key.second != contact_key) continue;
      if (!only_sequence.empty() && key.first != only_sequence) continue;
      const ModelSequence* sequence = this->sequence(key.first);
      if (sequence == nullptr) continue;  // idle while its sequence is not configured
      ModelStatus status = enrollment.candidates.front().status;
      if (status != ModelStatus::kScheduled && status != ModelStatus::kActive &&
          status != ModelStatus::kPaused) {
        continue;
      }
      // A pause by hand stays one: an out-of-office never sets it to resume by itself.
      if (kind == ModelEvent::kOoo && status == ModelStatus::kPaused &&
          enrollment.candidates.front().paused_reason == "manual") {
        continue;
      }
      std::function<void(Candidate&)> effect =
          eventEffect(kind, *sequence, until_ms, stage, now_ms);
      if (!effect) continue;
      changed.insert(key.first);
      if (!apply) continue;
      transform(enrollment, [&](Candidate c) {
        effect(c);
        return std::vector<Candidate>{c};
      });
    }
    return changed;
  }

  // `caller` completes or skips task_id. Returns "" when the engine must accept it, else the
  // error class it must answer (permission_denied; failed for a task not open).
  std::string finishTask(const std::string& sequence_id, const std::string& contact,
                         std::uint64_t task_id, bool skip, const ModelCaller& caller,
                         TimeMs now_ms) {
    EnrollmentModel& enrollment = enrollments_.at({sequence_id, contact});
    std::string step;
    for (const auto& [id, task] : enrollment.candidates.front().tasks) {
      if (task.id == task_id) step = id;
    }
    if (!caller.admin && caller.user != taskOwner(sequence_id, contact) &&
        !canEditSequence(sequence_id, caller)) {
      return "permission_denied";
    }
    if (step.empty() ||
        enrollment.candidates.front().tasks.at(step).state != ModelTaskState::kOpen) {
      return "failed";
    }
    const ModelSequence& sequence = configured_.at(sequence_id);
    transform(enrollment, [&](Candidate c) {
      c.tasks[step].state = skip ? ModelTaskState::kSkippedByUser : ModelTaskState::kCompleted;
      c.done.insert(step);
      bool waiting =
          c.status == ModelStatus::kActive && c.wait_message_id.empty() && c.wait_step == step;
      if (waiting) {
        moveOn(sequence, c, now_ms);
      } else if (c.status != ModelStatus::kScheduled) {
        c.due.clear();  // Open choice: the next wait counts from now or from the resume
        c.anchor_ms = now_ms;
      }
      return std::vector<Candidate>{c};
    });
    return "";
  }

  // A delivery result for an outstanding send (rules 3 and 4).
  void result(std::string message_id, ModelOutcome outcome, TimeMs now_ms) {
    ModelSend send = sends_.at(message_id);
    sends_.erase(message_id);
    Facts& facts = facts_[{send.sequence, send.contact, send.step}];
    if (outcome == ModelOutcome::kDelivered) facts.delivered = true;
    if (outcome == ModelOutcome::kInterrupted) facts.maybe_delivered = true;
    EnrollmentModel& enrollment = enrollments_.at({send.sequence, send.contact});
    const ModelSequence& sequence = configured_.at(send.sequence);
    transform(enrollment, [&](Candidate c) {
      bool waiting = c.status == ModelStatus::kActive && c.wait_message_id == message_id;
      return waiting ? resultWhileWaiting(sequence, send, c, outcome, now_ms)
                     : resultWhileStopped(send, c, outcome);
    });
  }

  // The engine handed out an email fired at fired_at_ms (its Date). Returns why that is
  // wrong, or "".
  std::string intent(const std::string& sequence_id, const std::string& contact,
                     const std::string& step, const std::string& message_id, bool smtp,
                     TimeMs fired_at_ms, TimeMs now_ms) {
    auto resent = sends_.find(message_id);
    if (resent != sends_.end()) {
      ModelSend& send = resent->second;
      if (!send.awaiting_redelivery) return "a second intent for a send still in flight";
      if (send.sequence != sequence_id || send.contact != contact || send.step != step) {
        return "a redelivery under another enrollment or step";
      }
      send.awaiting_redelivery = false;
      return "";
    }
    if (const ModelSend* other = outstanding(sequence_id, contact)) {
      return "fired while step '" + other->step + "' (" + other->message_id +
             ") is still in flight: at most one send per enrollment";
    }
    const Facts& facts = facts_[{sequence_id, contact, step}];
    if (facts.delivered) return "step '" + step + "' was delivered before: a step is sent once";
    if (facts.maybe_delivered) {
      return "step '" + step +
             "' was interrupted (maybe delivered) and is sent again without a retry";
    }
    const ModelSequence* sequence = this->sequence(sequence_id);
    auto found = enrollments_.find({sequence_id, contact});
    if (sequence == nullptr || found == enrollments_.end()) return "no such running enrollment";
    if (fired_at_ms > now_ms) return "its Date is in the future";
    EnrollmentModel& enrollment = found->second;
    std::vector<Candidate> fired;
    for (Candidate c : enrollment.candidates) {
      if (!mayFire(enrollment, *sequence, c, now_ms, false) ||
          sequence->currentStep(c.done)->id != step || *c.due.begin() > fired_at_ms) {
        continue;
      }
      c.status = ModelStatus::kActive;
      c.wait_step = step;
      c.wait_message_id = message_id;
      c.due.clear();
      fired.push_back(c);
    }
    if (fired.empty()) {
      return "the model says this enrollment may not send step '" + step + "' at " +
             modelTime(fired_at_ms, origin_ms_);
    }
    enrollment.candidates = dedupe(fired);
    ++enrollment.version;
    sends_[message_id] = {message_id, sequence_id, contact, step, smtp, fired_at_ms, false};
    return "";
  }

  // The process died: every committed state is kept, the relay's sends are lost (rule 9).
  // Returns the sends it counted as interrupted.
  std::vector<ModelSend> restart(TimeMs now_ms) {
    std::vector<std::string> interrupted;
    for (auto& [id, send] : sends_) {
      if (send.smtp) {
        interrupted.push_back(id);
        continue;
      }
      // Maildir: handed out again while the contact waits on it; one it no longer waits on
      // (stopped since it was released) is not, and counts as interrupted: it may have landed.
      const EnrollmentModel& enrollment = enrollments_.at({send.sequence, send.contact});
      std::size_t waiting = 0;
      for (const Candidate& c : enrollment.candidates) {
        if (c.status == ModelStatus::kActive && c.wait_message_id == id) ++waiting;
      }
      if (waiting != 0 && waiting != enrollment.candidates.size()) {
        throw std::runtime_error("scenario: whether " + send.contact + " waits on " + id +
                                 " at the restart is left open by the rules");
      }
      if (waiting == 0) {
        interrupted.push_back(id);
      } else {
        send.awaiting_redelivery = true;
      }
    }
    std::vector<ModelSend> counted;
    for (const std::string& id : interrupted) {
      counted.push_back(sends_.at(id));
      result(id, ModelOutcome::kInterrupted, now_ms);
    }
    for (auto& [key, enrollment] : enrollments_) {
      transform(enrollment, [](Candidate c) {
        c.failures_low = 0;  // Open choice: a restart may forget earlier 4xx
        return std::vector<Candidate>{c};
      });
    }
    return counted;
  }

  // Reload: `configured` replaces the configured sequences (rule 10).
  void reload(const std::vector<ModelSequence>& configured, TimeMs /*now_ms*/) {
    std::map<std::string, ModelSequence> previous = std::move(configured_);
    configured_.clear();
    for (const ModelSequence& sequence : configured) configured_[sequence.id] = sequence;
    for (auto& [key, enrollment] : enrollments_) {
      auto before = previous.find(key.first);
      auto after = configured_.find(key.first);
      if (before == previous.end() || after == configured_.end()) continue;
      if (before->second.steps == after->second.steps) continue;
      transform(enrollment, [&](Candidate c) {
        const ModelStep* old_step = before->second.currentStep(c.done);
        const ModelStep* new_step = after->second.currentStep(c.done);
        const bool moved =
            new_step != nullptr && (old_step == nullptr || old_step->id != new_step->id);
        // The rule: the current step is the first after the last done one, in the new order.
        // A contact waiting on the old step's task goes on to the new step (the task stays
        // open for when that step comes).
        if (moved && c.status == ModelStatus::kActive && c.wait_message_id.empty() &&
            !c.wait_step.empty()) {
          c.status = ModelStatus::kScheduled;
          c.wait_step.clear();
          c.due = {kModelAnyDue, kModelLateDue};
        } else if (moved && !c.due.empty()) {
          c.due = {kModelAnyDue, kModelLateDue};  // Open choice: when the new wait ends.
        }
        return std::vector<Candidate>{c};
      });
    }
  }

  // True when `proposed` leaves every enrollment that has a current step with one (a reload
  // that finishes an enrollment by reordering its steps is left open by the rules).
  bool keepsCurrentSteps(const ModelSequence& proposed) const {
    const ModelSequence* now = sequence(proposed.id);
    for (const auto& [key, enrollment] : enrollments_) {
      if (key.first != proposed.id || now == nullptr) continue;
      for (const Candidate& c : enrollment.candidates) {
        if (now->currentStep(c.done) != nullptr && proposed.currentStep(c.done) == nullptr) {
          return false;
        }
      }
    }
    return true;
  }

  // True when a send in flight or a task (open or closed) names the step.
  bool stepInUse(const std::string& sequence_id, const std::string& step) const {
    for (const auto& [id, send] : sends_) {
      if (send.sequence == sequence_id && send.step == step) return true;
    }
    for (const auto& [key, enrollment] : enrollments_) {
      if (key.first != sequence_id) continue;
      for (const Candidate& c : enrollment.candidates) {
        if (c.tasks.count(step) > 0 || c.wait_step == step) return true;
      }
    }
    return false;
  }

  // Time moved to now_ms (the engine's advanceTo): auto-resumes, tasks, dnc skips, and
  // emails that may not be sent. Emails that may be sent stay due until their intent is seen.
  void advance(TimeMs now_ms) {
    for (auto& [key, enrollment] : enrollments_) {
      const ModelSequence* sequence = this->sequence(key.first);
      if (sequence == nullptr) continue;
      bool due = std::any_of(enrollment.candidates.begin(), enrollment.candidates.end(),
                             [&](const Candidate& c) {
                               return (c.status == ModelStatus::kScheduled && !c.due.empty() &&
                                       *c.due.begin() <= now_ms) ||
                                      (c.status == ModelStatus::kPaused &&
                                       c.resume_at_ms != kModelNever && c.resume_at_ms <= now_ms);
                             });
      if (!due) continue;
      transform(enrollment,
                [&](Candidate c) { return advanceCandidate(enrollment, *sequence, c, now_ms); });
    }
  }

  // Enrollments with an email that every candidate says must have fired by now.
  std::vector<Key> dueButUnfired(TimeMs now_ms) const {
    std::vector<Key> unfired;
    for (const auto& [key, enrollment] : enrollments_) {
      const ModelSequence* sequence = this->sequence(key.first);
      if (sequence == nullptr) continue;
      bool all = std::all_of(
          enrollment.candidates.begin(), enrollment.candidates.end(),
          [&](const Candidate& c) { return mayFire(enrollment, *sequence, c, now_ms, true); });
      if (all) unfired.push_back(key);
    }
    return unfired;
  }

  // Keeps the candidates that explain what the engine shows; binds task ids. Returns why none
  // does, or "". With rows_too false only the tasks are compared.
  std::string observe(const Key& key, const ObservedEnrollment& seen, TimeMs now_ms,
                      bool rows_too) {
    EnrollmentModel& enrollment = enrollments_.at(key);
    const ModelSequence& sequence = configured_.at(key.first);
    std::vector<bool> keep;
    bool all_kept = true;
    bool unbound = false;
    std::string why;
    for (const Candidate& c : enrollment.candidates) {
      std::string mismatch = rows_too ? rowMismatch(enrollment, sequence, c, seen, now_ms) : "";
      if (mismatch.empty()) mismatch = taskMismatch(c, seen, unbound);
      keep.push_back(mismatch.empty());
      if (!mismatch.empty()) {
        all_kept = false;
        why += "\n    candidate " + describe(c) + "\n      differs: " + mismatch;
      }
    }
    if (std::find(keep.begin(), keep.end(), true) == keep.end()) return why;
    if (all_kept && !unbound) return "";
    std::vector<Candidate> kept;
    for (std::size_t i = 0; i < keep.size(); ++i) {
      if (!keep[i]) continue;
      Candidate c = enrollment.candidates[i];
      for (auto& [step, task] : c.tasks) task.id = seen.tasks.at(step).first;
      kept.push_back(std::move(c));
    }
    enrollment.candidates = dedupe(std::move(kept));
    ++enrollment.version;
    return "";
  }

  std::string describe(const Candidate& c) const {
    std::string text = modelStatusName(c.status);
    if (c.status == ModelStatus::kActive) {
      text += c.wait_message_id.empty() ? " on task '" + c.wait_step + "'"
                                        : " on send '" + c.wait_step + "'";
    }
    if (!c.paused_reason.empty() && c.status == ModelStatus::kPaused) {
      text += " (" + c.paused_reason + ", resume " + modelTime(c.resume_at_ms, origin_ms_) + ")";
    }
    if (c.status == ModelStatus::kFinished) text += " (" + c.finish_reason + ")";
    if (c.status == ModelStatus::kNotSent) text += " (" + c.not_sent_reason + ")";
    text += " done{";
    for (const std::string& step : c.done) text += step + " ";
    text += "} due{";
    for (TimeMs due : c.due) text += modelTime(due, origin_ms_) + " ";
    text += "}";
    for (const auto& [step, why] : c.unresolved) text += " unresolved:" + step + "=" + why;
    if (c.failures_high > 0) {
      text += " 4xx:" + std::to_string(c.failures_low) + ".." + std::to_string(c.failures_high);
    }
    for (const auto& [step, task] : c.tasks) {
      static const char* const kStates[] = {"open", "completed", "skipped", "closed"};
      text += " task:" + step + "#" + std::to_string(task.id) + "=" +
              kStates[static_cast<int>(task.state)];
    }
    return text;
  }

  std::string describe(const Key& key) const {
    std::string text;
    for (const Candidate& c : enrollments_.at(key).candidates) text += "[" + describe(c) + "] ";
    return text;
  }

 private:
  enum class Rearm { kResume, kReadd, kRetry };

  struct Facts {
    bool delivered = false;
    bool maybe_delivered = false;  // interrupted, not retried by the operator since
  };

  template <typename F>
  void transform(EnrollmentModel& enrollment, F step) {
    std::vector<Candidate> next;
    for (const Candidate& c : enrollment.candidates) {
      for (Candidate& out : step(c)) next.push_back(std::move(out));
    }
    enrollment.candidates = dedupe(std::move(next));
    ++enrollment.version;
    if (enrollment.candidates.size() > kModelCandidatesMax) {
      throw std::length_error("the model holds more than kModelCandidatesMax candidates for " +
                              enrollment.sequence + "/" + enrollment.contact);
    }
  }

  static std::vector<Candidate> dedupe(std::vector<Candidate> candidates) {
    std::vector<Candidate> unique;
    for (Candidate& c : candidates) {
      if (std::find(unique.begin(), unique.end(), c) == unique.end()) {
        unique.push_back(std::move(c));
      }
    }
    return unique;
  }

  std::set<std::string> addWarnings(const ModelSequence& sequence, const ModelContact& contact,
                                    const Candidate* existing, const std::string& caller,
                                    std::set<std::string>& others) const {
    std::set<std::string> warnings;
    for (const auto& [key, other] : enrollments_) {
      ModelStatus status = other.candidates.front().status;
      if (key.second == contact.key && key.first != sequence.id &&
          status != ModelStatus::kFinished && status != ModelStatus::kRemoved) {
        warnings.insert("in_other_sequence");
        others.insert(key.first);
      }
    }
    if (contact.unverified) warnings.insert("unverified_email");
    if (!contact.owner.empty() && contact.owner != caller) warnings.insert("owner_mismatch");
    if (sequence.block_stages.count(contact.stage) > 0) warnings.insert("stage_blocked");
    if (contact.email_opt_out) warnings.insert("email_opt_out");
    if (existing != nullptr && existing->status == ModelStatus::kFinished) {
      warnings.insert("already_finished");
    }
    return warnings;
  }

  static void closeTasks(Candidate& c) {
    for (auto& [step, task] : c.tasks) {
      if (task.state == ModelTaskState::kOpen) task.state = ModelTaskState::kClosedBySystem;
    }
  }

  static void stop(Candidate& c, ModelStatus status) {
    c.status = status;
    c.wait_step.clear();
    c.wait_message_id.clear();
    c.failures_low = 0;  // Open choice: whether stopping forgets earlier 4xx
    if (status == ModelStatus::kFinished || status == ModelStatus::kRemoved) closeTasks(c);
  }

  bool operateOne(ModelAction action, EnrollmentModel& enrollment, std::optional<TimeMs> at_ms,
                  const std::string& reason, TimeMs now_ms) {
    const ModelStatus status = enrollment.candidates.front().status;
    const bool running = status == ModelStatus::kScheduled || status == ModelStatus::kActive;
    std::function<std::vector<Candidate>(Candidate)> apply;
    switch (action) {
      case ModelAction::kRemove:
        if (status == ModelStatus::kRemoved) return false;
        apply = [](Candidate c) {
          stop(c, ModelStatus::kRemoved);
          return std::vector<Candidate>{c};
        };
        break;
      case ModelAction::kPause:
        if (!running && status != ModelStatus::kPaused) return false;
        apply = [at_ms](Candidate c) {
          stop(c, ModelStatus::kPaused);
          c.paused_reason = "manual";
          c.resume_at_ms = at_ms.value_or(kModelNever);
          return std::vector<Candidate>{c};
        };
        break;
      case ModelAction::kResume:
        if (status != ModelStatus::kPaused) return false;
        apply = [&, at_ms, now_ms](Candidate c) {
          if (at_ms && *at_ms > now_ms) {
            c.resume_at_ms = *at_ms;
            return std::vector<Candidate>{c};
          }
          return rearm(enrollment, c, Rearm::kResume, now_ms);
        };
        break;
      case ModelAction::kFinish:
        if (status == ModelStatus::kFinished || status == ModelStatus::kRemoved) return false;
        apply = [reason](Candidate c) {
          stop(c, ModelStatus::kFinished);
          c.finish_reason = reason.empty() ? "manual" : "manual:" + reason;
          return std::vector<Candidate>{c};
        };
        break;
      case ModelAction::kRetry:
        if (status != ModelStatus::kBounced && status != ModelStatus::kNotSent) return false;
        if (const ModelStep* step = configured_.at(enrollment.sequence)
                                        .currentStep(enrollment.candidates.front().done)) {
          // The operator accepts a possible duplicate of an interrupted step.
          facts_[{enrollment.sequence, enrollment.contact, step->id}].maybe_delivered = false;
        }
        apply = [&, now_ms](Candidate c) { return rearm(enrollment, c, Rearm::kRetry, now_ms); };
        break;
      case ModelAction::kSetMailbox:
        return status != ModelStatus::kRemoved;
    }
    transform(enrollment, apply);
    return true;
  }

  // What an event does to one open enrollment of `sequence`; empty when nothing.
  std::function<void(Candidate&)> eventEffect(ModelEvent kind, const ModelSequence& sequence,
                                              std::optional<TimeMs> until_ms,
                                              const std::string& stage, TimeMs now_ms) {
    static const std::map<ModelEvent, std::pair<std::string, std::string>> kFinishing = {
        {ModelEvent::kReply, {"reply", "replied"}},
        {ModelEvent::kMeetingBooked, {"meeting_booked", "meeting_booked"}},
        {ModelEvent::kUnsubscribe, {"unsubscribe", "unsubscribed"}}};
    auto finishing = kFinishing.find(kind);
    if (finishing != kFinishing.end()) {
      if (sequence.finish_on.count(finishing->second.first) == 0) return {};
      std::string reason = finishing->second.second;
      return [reason](Candidate& c) {
        stop(c, ModelStatus::kFinished);
        c.finish_reason = reason;
      };
    }
    if (kind == ModelEvent::kBounce) return [](Candidate& c) { stop(c, ModelStatus::kBounced); };
    if (kind == ModelEvent::kOoo) {
      if (!sequence.pause_on_ooo) return {};
      TimeMs resume_at_ms = until_ms.value_or(now_ms + ooo_default_pause_ms_);
      return [resume_at_ms](Candidate& c) {
        stop(c, ModelStatus::kPaused);
        c.paused_reason = "ooo";
        c.resume_at_ms = resume_at_ms;
      };
    }
    if (sequence.block_stages.count(stage) == 0) return {};  // kStage
    return [](Candidate& c) {
      stop(c, ModelStatus::kNotSent);
      c.not_sent_reason = "stage_blocked";
    };
  }

  // Puts a stopped enrollment back on its current step (resume, re-add, retry; rule 5).
  std::vector<Candidate> rearm(const EnrollmentModel& enrollment, Candidate c, Rearm how,
                               TimeMs now_ms) const {
    c.paused_reason.clear();
    c.resume_at_ms = kModelNever;
    c.finish_reason.clear();
    c.not_sent_reason.clear();
    c.wait_step.clear();
    c.wait_message_id.clear();
    if (how == Rearm::kRetry) {
      c.failures_low = c.failures_high = 0;
      const ModelStep* step = configured_.at(enrollment.sequence).currentStep(c.done);
      if (step != nullptr) c.unresolved.erase(step->id);
    }
    if (const ModelSend* send = outstanding(enrollment.sequence, enrollment.contact)) {
      c.status = ModelStatus::kActive;
      c.wait_step = send->step;
      c.wait_message_id = send->message_id;
      c.due.clear();
      return {c};
    }
    const ModelStep* step = configured_.at(enrollment.sequence).currentStep(c.done);
    if (step == nullptr) {  // its last step was done while it was stopped
      c.status = ModelStatus::kFinished;
      c.finish_reason = "completed";
      c.due.clear();
      return {c};
    }
    auto task = c.tasks.find(step->id);
    if (task != c.tasks.end() && task->second.state == ModelTaskState::kOpen) {
      c.status = ModelStatus::kActive;
      c.wait_step = step->id;
      c.due.clear();
      return {c};
    }
    std::vector<Candidate> out;
    if (task != c.tasks.end() && task->second.state == ModelTaskState::kClosedBySystem) {
      // Open choice: a re-add reopens the task at once, or when the step falls due again.
      Candidate reopened = c;
      reopened.tasks[step->id].state = ModelTaskState::kOpen;
      reopened.status = ModelStatus::kActive;
      reopened.wait_step = step->id;
      reopened.due.clear();
      out.push_back(reopened);
    }
    std::set<TimeMs> due;
    if (how == Rearm::kResume && !c.due.empty()) {
      for (TimeMs old_due : c.due) {
        due.insert(old_due == kModelAnyDue ? old_due : std::max(old_due, now_ms));
      }
    } else if (how == Rearm::kResume) {
      // Open choice: a step done while paused counts the next wait from then or from now.
      due = {std::max(c.anchor_ms + step->wait_ms, now_ms), now_ms + step->wait_ms};
    } else if (how == Rearm::kReadd) {
      due = {now_ms + step->wait_ms};
      c.anchor_ms = now_ms;
    } else {
      due = {now_ms};
      // Open choice: a retry after the failed step was delivered meanwhile (a bounce event
      // while it waited) may keep the next step's own wait.
      if (c.due.empty()) due.insert(std::max(c.anchor_ms + step->wait_ms, now_ms));
    }
    c.status = ModelStatus::kScheduled;
    c.due = due;
    out.push_back(c);
    return out;
  }

  // The waited-on step is done: schedule the next one from `from_ms`, or finish.
  static void moveOn(const ModelSequence& sequence, Candidate& c, TimeMs from_ms) {
    c.wait_step.clear();
    c.wait_message_id.clear();
    c.failures_low = c.failures_high = 0;
    c.anchor_ms = from_ms;
    const ModelStep* next = sequence.currentStep(c.done);
    if (next == nullptr) {
      c.status = ModelStatus::kFinished;
      c.finish_reason = "completed";
      c.due.clear();
      return;
    }
    c.status = ModelStatus::kScheduled;
    c.due = {from_ms + next->wait_ms};
  }

  std::vector<Candidate> resultWhileWaiting(const ModelSequence& sequence, const ModelSend& send,
                                            Candidate c, ModelOutcome outcome, TimeMs now_ms) {
    switch (outcome) {
      case ModelOutcome::kDelivered:
        c.done.insert(send.step);
        c.unresolved.erase(send.step);
        moveOn(sequence, c, send.fired_at_ms);
        return {c};
      case ModelOutcome::kPermanent:
        stop(c, ModelStatus::kBounced);
        c.failures_high = 0;
        c.unresolved[send.step] = "bounced?";
        c.due.clear();
        return {c};
      case ModelOutcome::kInterrupted:
        stop(c, ModelStatus::kNotSent);
        c.failures_high = 0;
        c.not_sent_reason = "interrupted";
        c.unresolved[send.step] = "interrupted";
        c.due.clear();
        return {c};
      case ModelOutcome::kTemporary:
        break;
    }
    std::vector<Candidate> out;
    for (int failures = c.failures_low + 1; failures <= c.failures_high + 1; ++failures) {
      Candidate next = c;
      next.wait_step.clear();
      next.wait_message_id.clear();
      if (failures <= kModelRetriesMax) {
        next.status = ModelStatus::kScheduled;
        next.due = {now_ms + kModelRetryDelaysMs[failures - 1]};
        next.failures_low = next.failures_high = failures;
      } else {
        next.status = ModelStatus::kNotSent;
        next.not_sent_reason = send.smtp ? "smtp_4xx_exhausted" : "delivery_failed";
        next.due.clear();
        next.failures_low = next.failures_high = 0;
      }
      out.push_back(next);
    }
    return out;
  }

  static std::vector<Candidate> resultWhileStopped(const ModelSend& send, Candidate c,
                                                   ModelOutcome outcome) {
    switch (outcome) {
      case ModelOutcome::kDelivered:
        c.done.insert(send.step);
        c.unresolved.erase(send.step);
        c.failures_low = c.failures_high = 0;
        c.due.clear();  // Open choice: the next wait counts from the send or from the resume
        c.anchor_ms = send.fired_at_ms;
        break;
      case ModelOutcome::kTemporary:
        ++c.failures_high;  // Open choice: whether a 4xx nobody waited for counts
        c.due = {send.fired_at_ms};
        break;
      case ModelOutcome::kPermanent:
      case ModelOutcome::kInterrupted:
        c.unresolved[send.step] = outcome == ModelOutcome::kPermanent ? "bounced" : "interrupted";
        c.due = {send.fired_at_ms};
        c.failures_low = c.failures_high = 0;
        break;
    }
    return {c};
  }

  // Whether c may hand out its current step's email now (all_due: and must by now).
  bool mayFire(const EnrollmentModel& enrollment, const ModelSequence& sequence, const Candidate& c,
               TimeMs now_ms, bool all_due) const {
    if (c.status != ModelStatus::kScheduled || c.due.empty()) return false;
    if (all_due ? *c.due.rbegin() > now_ms : *c.due.begin() > now_ms) return false;
    const ModelStep* step = sequence.currentStep(c.done);
    if (step == nullptr || step->kind != ModelStepKind::kEmail) return false;
    if (c.unresolved.count(step->id) > 0) return false;
    const ModelContact& contact = contacts_.at(enrollment.contact);
    if (contact.email_opt_out || sequence.block_stages.count(contact.stage) > 0) return false;
    return outstanding(enrollment.sequence, enrollment.contact) == nullptr;
  }

  // Runs one candidate forward to now_ms (the engine's advanceTo).
  std::vector<Candidate> advanceCandidate(const EnrollmentModel& enrollment,
                                          const ModelSequence& sequence, Candidate start,
                                          TimeMs now_ms) const {
    std::vector<Candidate> work = {start};
    std::vector<Candidate> out;
    while (!work.empty()) {
      Candidate c = std::move(work.back());
      work.pop_back();
      if (c.status == ModelStatus::kPaused && c.resume_at_ms != kModelNever &&
          c.resume_at_ms <= now_ms) {
        // Open choice: an overdue auto-resume happens at now or at its own time.
        for (TimeMs at_ms : {now_ms, c.resume_at_ms}) {
          for (Candidate& resumed : rearm(enrollment, c, Rearm::kResume, at_ms)) {
            work.push_back(std::move(resumed));
          }
        }
        continue;
      }
      if (c.status != ModelStatus::kScheduled || c.due.empty() || *c.due.begin() > now_ms) {
        out.push_back(std::move(c));
        continue;
      }
      if (*c.due.rbegin() > now_ms) {  // due or not yet, depending on an open choice
        Candidate later = c;
        later.due.erase(later.due.begin(), later.due.upper_bound(now_ms));
        // An open due time after a reload stays open: the step may still come at any time.
        if (c.due.count(kModelAnyDue) > 0) later.due = {kModelAnyDue, kModelLateDue};
        out.push_back(later);
        c.due.erase(c.due.upper_bound(now_ms), c.due.end());
      }
      fireDue(enrollment, sequence, std::move(c), now_ms, work, out);
    }
    return out;
  }

  // A due step runs: dnc skip (back to work), a task, a block reason, or a send left due.
  void fireDue(const EnrollmentModel& enrollment, const ModelSequence& sequence, Candidate c,
               TimeMs now_ms, std::vector<Candidate>& work, std::vector<Candidate>& out) const {
    const ModelStep* step = sequence.currentStep(c.done);
    const ModelContact& contact = contacts_.at(enrollment.contact);
    if (step == nullptr) {
      c.status = ModelStatus::kFinished;
      c.finish_reason = "completed";
      out.push_back(std::move(c));
      return;
    }
    if (step->kind == ModelStepKind::kCall && contact.dnc) {
      // Open choice: an overdue step runs at now or at its own due time (the next wait counts
      // from then).
      std::set<TimeMs> times;
      for (TimeMs due : c.due) {
        if (due != kModelAnyDue && due != kModelLateDue) times.insert(due);  // open ones: now
      }
      times.insert(now_ms);
      for (TimeMs at_ms : times) {
        Candidate skipped = c;
        skipped.done.insert(step->id);
        moveOn(sequence, skipped, at_ms);
        work.push_back(std::move(skipped));
      }
      return;
    }
    if (step->kind != ModelStepKind::kEmail) {
      ModelTask& task = c.tasks[step->id];  // a new task, or the one reopened
      task.state = ModelTaskState::kOpen;
      c.status = ModelStatus::kActive;
      c.wait_step = step->id;
      c.due.clear();
      out.push_back(std::move(c));
      return;
    }
    auto unresolved = c.unresolved.find(step->id);
    if (unresolved != c.unresolved.end() && unresolved->second == "bounced?") {
      // Open choice: whether a re-add sends a step that bounced while it waited again.
      Candidate resend = c;
      resend.unresolved.erase(step->id);
      fireDue(enrollment, sequence, resend, now_ms, work, out);
    }
    // Open choice: when several reasons block the email, which one the engine names.
    std::vector<std::pair<ModelStatus, std::string>> blocks;
    if (unresolved != c.unresolved.end()) {
      bool interrupted = unresolved->second == "interrupted";
      blocks.emplace_back(interrupted ? ModelStatus::kNotSent : ModelStatus::kBounced,
                          interrupted ? "interrupted" : "");
    }
    if (contact.email_opt_out) blocks.emplace_back(ModelStatus::kNotSent, "email_opt_out");
    if (sequence.block_stages.count(contact.stage) > 0) {
      blocks.emplace_back(ModelStatus::kNotSent, "stage_blocked");
    }
    if (blocks.empty()) {
      out.push_back(std::move(c));  // may send: the intent decides
      return;
    }
    for (const auto& [status, reason] : blocks) {
      Candidate blocked = c;
      if (status == ModelStatus::kBounced) blocked.unresolved[step->id] = "bounced?";
      blocked.status = status;
      blocked.not_sent_reason = reason;
      blocked.due.clear();
      out.push_back(std::move(blocked));
    }
  }

  std::string rowMismatch(const EnrollmentModel& enrollment, const ModelSequence& sequence,
                          const Candidate& c, const ObservedEnrollment& seen, TimeMs now_ms) const {
    const ModelStep* current = sequence.currentStep(c.done);
    const ModelSend* send = outstanding(enrollment.sequence, enrollment.contact);
    // The step shown: the current one; or the step in flight when a reload moved it.
    auto stepDiffers = [&](const std::string& shown) -> std::string {
      if (current == nullptr || shown == current->id || (send != nullptr && shown == send->step)) {
        return "";
      }
      return "step '" + shown + "', expected '" + current->id + "'";
    };
    auto differs = [](const std::string& field, const std::string& shown,
                      const std::string& expected) -> std::string {
      if (shown == expected) return "";
      return field + " '" + shown + "', expected '" + expected + "'";
    };
    std::string expected_status = modelStatusName(c.status);
    if (seen.status != expected_status) {
      // A due email the engine has not fired yet may wait `active` for a free slot.
      bool capacity = seen.status == "active" && mayFire(enrollment, sequence, c, now_ms, false);
      if (!capacity) return differs("status", seen.status, expected_status);
      return stepDiffers(seen.step);
    }
    switch (c.status) {
      case ModelStatus::kScheduled:
        if (std::string step = stepDiffers(seen.step); !step.empty()) return step;
        if (!c.due.empty() && c.due.count(kModelAnyDue) == 0 && c.due.count(kModelLateDue) == 0 &&
            c.due.count(seen.next_at_ms) == 0) {
          std::string options;
          for (TimeMs due : c.due) options += " " + modelTime(due, origin_ms_);
          return "next_at " + modelTime(seen.next_at_ms, origin_ms_) + ", expected one of" +
                 options;
        }
        return "";
      case ModelStatus::kActive:
        return differs("step", seen.step, c.wait_step);
      case ModelStatus::kPaused:
        if (std::string reason = differs("paused_reason", seen.paused_reason, c.paused_reason);
            !reason.empty()) {
          return reason;
        }
        if (std::string resume = differs("resume_at", modelTime(seen.resume_at_ms, origin_ms_),
                                         modelTime(c.resume_at_ms, origin_ms_));
            !resume.empty()) {
          return resume;
        }
        return stepDiffers(seen.step);
      case ModelStatus::kFinished:
        return differs("finish_reason", seen.finish_reason, c.finish_reason);
      case ModelStatus::kNotSent:
        if (std::string reason =
                differs("not_sent_reason", seen.not_sent_reason, c.not_sent_reason);
            !reason.empty()) {
          return reason;
        }
        return stepDiffers(seen.step);
      case ModelStatus::kBounced:
      case ModelStatus::kRemoved:
        return stepDiffers(seen.step);
    }
    return "";
  }

  // Sets `unbound` when a task's id is not known yet.
  static std::string taskMismatch(const Candidate& c, const ObservedEnrollment& seen,
                                  bool& unbound) {
    for (const auto& [step, task] : seen.tasks) {
      if (c.tasks.count(step) == 0) return "a task for step '" + step + "' the model has not";
    }
    for (const auto& [step, task] : c.tasks) {
      auto shown = seen.tasks.find(step);
      if (shown == seen.tasks.end()) return "no task for step '" + step + "'";
      static const char* const kStates[] = {"open", "completed", "skipped", "skipped"};
      if (shown->second.second != kStates[static_cast<int>(task.state)]) {
        return "task for '" + step + "' is " + shown->second.second + ", expected " +
               kStates[static_cast<int>(task.state)];
      }
      if (task.id != 0 && task.id != shown->second.first) {
        return "task for '" + step + "' is #" + std::to_string(shown->second.first) +
               ", expected #" + std::to_string(task.id) + " (one task per step, ever)";
      }
      if (task.id == 0) unbound = true;
    }
    return "";
  }

  std::map<std::string, ModelSequence> configured_;
  std::map<std::string, ModelContact> contacts_;
  std::map<Key, EnrollmentModel> enrollments_;
  std::map<std::string, ModelSend> sends_;               // in flight, by message id
  std::map<std::string, std::set<std::string>> shares_;  // sequence -> users it is shared with
  std::map<std::tuple<std::string, std::string, std::string>, Facts> facts_;
  DurationMs ooo_default_pause_ms_;
  TimeMs origin_ms_;
};

}  // namespace seqd::testing
