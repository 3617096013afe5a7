// Commands: the plain-value inputs and outputs of the engine's operator commands.
//
// The control protocol (io/command_dispatch) turns JSON into these and back; the engine
// never sees JSON. Field names follow SPEC §4.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/enrollment.hpp"
#include "engine/schedule.hpp"
#include "engine/time.hpp"

namespace seqd {

// One CSV row (or one `contact set`) as field name -> text, with where it came from.
struct ContactRow {
  std::size_t line = 0;  // CSV line, 0 when not from a file
  std::map<std::string, std::string> fields;
};

struct RowError {
  std::size_t line = 0;
  std::string reason;
};

struct ImportResult {
  std::size_t imported = 0;       // new contacts
  std::size_t updated = 0;        // existing contacts changed
  std::vector<std::string> keys;  // contact keys of the good rows, in row order
  std::vector<RowError> errors;
};

struct Caller {
  std::string user;
  bool admin = false;
};

struct AddOptions {
  bool force = false;
  bool skip_validation = false;
  bool dry_run = false;
  std::optional<TimeMs> at_ms;         // start at this time instead of now
  std::vector<std::string> mailboxes;  // --mailbox / --rotate; empty: the sequence's
  // Bare --rotate: every mailbox the caller may use (Engine::mailboxesFor).
  bool rotate_all = false;
};

struct SkippedContact {
  std::string contact;
  std::vector<std::string> warnings;
  // With in_other_sequence: the sequences it is in (scheduled, active, paused, ...), by id.
  std::vector<std::string> other_sequences;
};

struct AddResult {
  std::vector<std::string> added;
  std::vector<SkippedContact> skipped;
  // Per added contact (same order): when its next step would go out, inside its sending
  // window; kNoTime when not known yet (inactive sequence, or it waits on a send or task).
  std::vector<TimeMs> first_at;
};

// The outcome of a command over named contacts (pause, resume, finish, remove, retry,
// set-mailbox): who it was done for, and who was skipped and why.
struct SkippedReason {
  std::string contact;
  std::string reason;  // unknown_contact, not_in_sequence, finished, not_paused, ...
};

struct ContactsResult {
  std::vector<std::string> done;
  std::vector<SkippedReason> skipped;
  // retry of `not_sent: interrupted`: the first send may have gone out, so this one may be a
  // duplicate.
  std::vector<std::string> may_duplicate;
};

enum class OperatorAction { kRemove, kPause, kResume, kFinish, kRetry, kSetMailbox };

struct OperatorRequest {
  OperatorAction action = OperatorAction::kPause;
  std::vector<std::string> contacts;
  bool all = false;                    // retry --all
  std::optional<TimeMs> at_ms;         // pause --resume-at, resume --at
  std::string reason;                  // finish --reason
  std::vector<std::string> mailboxes;  // set-mailbox
};

enum class EventKind { kReply, kMeetingBooked, kUnsubscribe, kBounce, kOoo, kStage };

struct ContactEvent {
  EventKind kind = EventKind::kReply;
  std::string contact;
  std::string sequence_id;         // empty: every sequence
  std::optional<TimeMs> until_ms;  // ooo --until
  std::string stage;               // stage
};

// A message that arrived in a sending mailbox's inbox, classified by io/ (the MIME parsing
// happens there): what it means for seqd. applyInbound() finds the contact and sequence and
// applies the event, once per message.
enum class InboundKind { kReply, kAutoReply, kBounce, kUnsubscribe };
struct InboundMessage {
  InboundKind kind = InboundKind::kReply;
  std::string mailbox;     // the sending mailbox whose inbox it came from
  std::string message_id;  // the message's own Message-ID (or a digest of it): applied once
  std::string from_address;
  // Reply, auto-reply, unsubscribe: its In-Reply-To and References. Bounce: the Message-IDs
  // of the original the report carries.
  std::vector<std::string> referenced_ids;
  std::optional<LocalDate> return_date;  // auto-reply: "back on ..."
  std::string why;                       // what decided the kind, for the log and explain
};

// What applyInbound() did.
struct InboundResult {
  bool duplicate = false;  // this message was applied before: nothing done again
  std::string contact;     // "" when no contact matched
  std::string sequence;    // the sequence of the email it answers, when known
  std::string action;      // "finished: replied", "paused: ooo until ...", "no contact", ...
  std::vector<std::pair<std::string, std::string>> changed;  // sequence id, new status
};

// Which enrollments an event changed: "<sequence>: <new status>".
struct EventResult {
  std::string contact;
  std::vector<std::pair<std::string, std::string>> changed;  // sequence id, new status
};

// One line of `seqctl mailboxes`: use against limits in the rolling windows.
struct MailboxRow {
  std::string address;
  std::string name;
  std::string transport;
  std::size_t sent_last_24h = 0;
  std::int64_t daily_limit = 0;
  std::size_t sent_last_hour = 0;
  std::int64_t hourly_limit = 0;
  TimeMs next_free_ms = 0;  // kNoTime: the mailbox may not send (a limit of 0)
};

struct StatusFilter {
  std::optional<EnrollmentStatus> status;
  std::string paused_reason;
  std::optional<bool> resume_scheduled;
  std::string search;
  std::size_t limit = 0;  // 0: no limit
};

struct StatusRow {
  std::string sequence;
  std::string contact;
  std::string email;
  int score = 0;
  std::string status;
  std::string step;  // the next step to run, or for finished the last one done
  std::uint32_t step_index = 0;
  TimeMs next_at_ms = kNoTime;
  std::string paused_reason;
  TimeMs resume_at_ms = kNoTime;
  std::string finish_reason;
  std::string not_sent_reason;
  std::string bounce_reason;  // bounced: smtp_5NN, bounce_event, bounce_notice, ...
  std::string variant;        // the step's A/B variant for this contact; "" : none
  std::string mailbox;
  std::string owner;
};

struct SequenceSummary {
  std::string id;
  std::string name;
  std::string owner;
  bool active = false;
  std::map<std::string, std::size_t> counts;  // by status name
};

}  // namespace seqd
