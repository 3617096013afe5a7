#include "daemon/seqctl_help.hpp"

#include <array>

namespace seqd {
namespace {

constexpr std::string_view kTimeValues =
    "TIME: RFC 3339 (2026-12-01T09:00:00-05:00, 2026-12-01T14:00:00Z) or relative to the\n"
    "  daemon's clock (+90m, +2d).\n";
constexpr std::string_view kDurationValues =
    "DURATION: an integer and a unit s, m, h or d (90m, 25h, 8d).\n";
constexpr std::string_view kStatuses =
    "STATUS: scheduled, active, paused, finished, bounced, not_sent, removed.\n";

struct CommandHelp {
  std::string_view name;
  std::string_view text;
};

// Each text: synopsis, what it does, options, values, example.
const std::array kCommands = {
    CommandHelp{"ping", R"help(Usage: seqctl ping

Checks that seqd answers on the control socket; prints its version. Exit 5 when it does not.

Example:
  seqctl ping
)help"},
    CommandHelp{"version", R"help(Usage: seqctl version

Prints the running seqd's version.

Example:
  seqctl version
)help"},
    CommandHelp{"reload", R"help(Usage: seqctl reload [--dry-run] [--force]

Re-reads seqd.yaml, schedules.yaml and sequences/*.yaml. A config with any error is rejected
whole and the old one keeps running. Needs an admin.

Options:
  --dry-run   say which contacts would move to which step, change nothing
  --force     apply even when it removes steps or sequences that contacts wait on

Example:
  seqctl reload --dry-run
)help"},
    CommandHelp{"help", R"help(Usage: seqctl help [COMMAND]

Prints the command list, or what COMMAND does, its options, the values it accepts and an
example. `seqctl COMMAND --help` does the same.

Example:
  seqctl help add
)help"},
    CommandHelp{"sequences", R"help(Usage: seqctl sequences

Lists every sequence: id, name, owner, whether it is active, and its contacts by status.

Example:
  seqctl --json sequences
)help"},
    CommandHelp{"sequence", R"help(Usage: seqctl sequence show SEQ
       seqctl sequence activate SEQ | sequence deactivate SEQ
       seqctl sequence clone SEQ NEW_ID [-o FILE]
       seqctl sequence share SEQ USER | sequence unshare SEQ USER

show: the sequence's steps (step_index from 0, id, type, wait, subject).
activate: starts it (new sequences are inactive); contacts added while inactive start now.
deactivate: stops firing steps; contacts keep their place.
clone: writes a copy's YAML with a new id (to stdout, or to FILE, never overwritten), to
  start contacts over; `seqctl reload` loads it.
share: USER (an OS user) may then do everything the owner may with the sequence's
  contacts, but not share it further; unshare takes that back. show lists who can edit.
activate, deactivate, share and unshare need the sequence's owner or an admin.

Example:
  seqctl sequence clone q4-vp-eng q1-vp-eng -o /etc/seqd/sequences/q1-vp-eng.yaml
)help"},
    CommandHelp{"import", R"help(Usage: seqctl import FILE.csv [--map COLUMN=field]... [--list NAME]

Adds or updates contacts from a CSV file with a header row; only the file's columns change
on an existing contact. The key is the `id` column, else the lower-cased email. Headers are
matched without regard to case, spaces as underscores (First Name -> first_name); bad rows
are listed as `line N: reason` (exit 3) and every good row is imported.

Options:
  --map COLUMN=field   read COLUMN into field (the column must be in the header)
  --list NAME          also add every imported contact to list NAME (made if new;
                       nobody is removed from it)

Fields: email, email_status (verified|unverified|unknown), first_name, last_name, company,
  title, phone, timezone (IANA, e.g. Europe/Berlin), score (0-100), owner, stage, dnc,
  call_opt_out, email_opt_out (true|false), and any other column as a template variable.

Example:
  seqctl import leads.csv --map "Prospect Score=score"
)help"},
    CommandHelp{"contact", R"help(Usage: seqctl contact show CONTACT
       seqctl contact set CONTACT field=value...

show: the contact's fields and the sequences it is in.
set: changes fields; needs the contact's owner or an admin. An unknown time zone is refused.

Fields: email, email_status (verified|unverified|unknown), first_name, last_name, company,
  title, phone, timezone (IANA), score (0-100), owner (an OS user), stage, dnc,
  call_opt_out, email_opt_out (true|false), or any other name (a template variable).

Example:
  seqctl contact set rita@example.test stage=qualified timezone=America/Chicago
)help"},
    CommandHelp{"contacts", R"help(Usage: seqctl contacts [--where EXPR] [--limit N]

Searches stored contacts, in key order.

Options:
  --where EXPR   field comparisons joined by and/or, with parentheses:
                 = != (numbers as numbers, text without case), > >= < <= (numbers),
                 ~ contains, !~ does not contain; in_sequence=SEQ
  --limit N      show at most N ("N of M matching contacts shown")

Example:
  seqctl contacts --where "score>=60 and (stage=new or company~acme)" --limit 20
)help"},
    CommandHelp{"add",
                R"help(Usage: seqctl add SEQ (--contact ID... | --list NAME... | --where EXPR |
                   --csv FILE [--map C=f]...)
                  [--mailbox ADDR | --rotate [ADDR,...]] [--at TIME]
                  [--force | --skip-validation] [--dry-run]

Enrolls contacts in SEQ. Each is checked first; a contact with warnings is not added unless
--force (stage_blocked and email_opt_out never are). Skipped contacts make the exit code 3.
Needs the sequence's owner or an admin.

Options:
  --contact ID...      contact keys (an email or an id)
  --list NAME...       every member of these lists
  --where EXPR         every stored contact matching EXPR (see `seqctl help contacts`)
  --csv FILE           import FILE first (as `seqctl import`), then add its rows
  --mailbox ADDR       send from this mailbox; --rotate ADDR,... rotates among several,
                       bare --rotate among every mailbox you may use
  --at TIME            start the first step's wait at TIME instead of now
  --force              add despite warnings; --skip-validation adds without checking
  --dry-run            show what would happen and when each first email would go out

Warnings: in_other_sequence, unverified_email, invalid_email, no_email, owner_mismatch,
  mailbox_owner, stage_blocked, email_opt_out, already_finished, already_in_sequence,
  unknown_contact. invalid_email is added only with --force.
)help"
                "TIME: RFC 3339 or +90m, +2d (relative to the daemon's clock).\n"
                R"help(
Example:
  seqctl add q4-vp-eng --where "score>=60" --rotate alice@acme.test,bob@acme.test --dry-run
)help"},
    CommandHelp{"remove", R"help(Usage: seqctl remove SEQ CONTACT...

Removes contacts from the sequence; their progress is kept, so adding them again resumes
after the last step done. Needs the sequence's owner or an admin.

Example:
  seqctl remove q4-vp-eng rita@example.test
)help"},
    CommandHelp{"pause", R"help(Usage: seqctl pause SEQ CONTACT... [--resume-at TIME]

Pauses contacts (paused_reason manual); with --resume-at they resume by themselves then.
Resuming puts a contact back on the step it was on: missed steps never go out in a burst.

Example:
  seqctl pause q4-vp-eng rita@example.test --resume-at +7d
)help"},
    CommandHelp{"resume", R"help(Usage: seqctl resume SEQ CONTACT... [--at TIME]

Resumes paused contacts now, or sets their auto-resume date with --at.

Example:
  seqctl resume q4-vp-eng rita@example.test --at 2027-01-04T09:00:00-05:00
)help"},
    CommandHelp{"finish", R"help(Usage: seqctl finish SEQ CONTACT... [--reason TEXT]

Finishes contacts (finish_reason manual, or manual:TEXT with --reason).

Example:
  seqctl finish q4-vp-eng rita@example.test --reason "signed up"
)help"},
    CommandHelp{"retry", R"help(Usage: seqctl retry SEQ (CONTACT... | --all)

Runs again, now, the step that bounced or was not sent (--all: every such contact). Retrying
`not_sent: interrupted` may send that email twice; seqctl warns for each such contact.

Example:
  seqctl retry q4-vp-eng --all
)help"},
    CommandHelp{"set-mailbox",
                R"help(Usage: seqctl set-mailbox SEQ CONTACT... (--mailbox ADDR | --rotate ADDR,...)

Changes the mailboxes the contacts' next emails go from.

Example:
  seqctl set-mailbox q4-vp-eng rita@example.test --mailbox bob@acme.test
)help"},
    CommandHelp{"status",
                R"help(Usage: seqctl status SEQ [--status S] [--paused-reason manual|ooo]
                     [--resume-scheduled yes|no] [--search TEXT] [--limit N]

Where each contact of the sequence is: status, step, when the next step goes out (inside
its window), mailbox, resume_at for paused contacts, and the reason of a pause, finish,
bounce or not_sent. Times are UTC.

Options:
  --status S              only contacts with status S
  --paused-reason R       only paused contacts paused for R (manual or ooo)
  --resume-scheduled yes  only paused contacts with (yes) or without (no) a resume date
  --search TEXT           contacts whose key, email or name contains TEXT
  --limit N               at most N rows
)help"
                "STATUS: scheduled, active, paused, finished, bounced, not_sent, removed.\n"
                R"help(
Example:
  seqctl status q4-vp-eng --status not_sent
)help"},
    CommandHelp{"explain", R"help(Usage: seqctl explain SEQ CONTACT

Why the contact is where it is in the sequence, and what happens next and when (the step's
due time, the window or mailbox limit that holds it, the message that paused or finished it).

Example:
  seqctl explain q4-vp-eng rita@example.test
)help"},
    CommandHelp{
        "event",
        R"help(Usage: seqctl event reply|meeting_booked|unsubscribe|bounce CONTACT [--seq SEQ]
       seqctl event ooo CONTACT [--until TIME]
       seqctl event stage CONTACT STAGE

Records something that happened to a contact. reply, meeting_booked and unsubscribe finish it
in every sequence whose finish_on lists them (or only SEQ with --seq); unsubscribe also sets
email_opt_out. ooo pauses it until TIME (default: ooo_default_pause). bounce marks its last
email bounced. stage changes its stage; a blocked stage stops its emails.
)help"
        "TIME: RFC 3339 or +90m, +2d (relative to the daemon's clock).\n"
        R"help(
Example:
  seqctl event ooo rita@example.test --until 2027-01-04T00:00:00Z
)help"},
    CommandHelp{"tasks", R"help(Usage: seqctl tasks [--owner USER] [--seq SEQ] [--due-before TIME]
                   [--state open|completed|skipped]

Lists tasks from manual steps (manual_email, call, linkedin, task), open ones first.
--state keeps the tasks in that state (an addition to SPEC); `--state open` is the to-do
list, and costs what it returns: done tasks are not read.
)help"
                         "TIME: RFC 3339 or +90m, +2d (relative to the daemon's clock).\n"
                         R"help(
Example:
  seqctl tasks --owner alice --due-before +1d
)help"},
    CommandHelp{"task", R"help(Usage: seqctl task complete ID | task skip ID

Completes or skips a task (ID from `seqctl tasks`); the contact moves on to its next step.

Example:
  seqctl task complete 42
)help"},
    CommandHelp{"mailboxes", R"help(Usage: seqctl mailboxes

Each mailbox's sends today (rolling 24 h) and this hour (rolling 60 min) against its limits,
and when it may send next.

Example:
  seqctl mailboxes
)help"},
    CommandHelp{"report", R"help(Usage: seqctl report SEQ [--html FILE]

How a sequence performs, per step: sent, delivered, bounced, replied, meetings,
unsubscribed (with rates of sent), not_sent, tasks_done, tasks_skipped; the same per A/B
variant of each step; per mailbox: sent and bounced by this sequence, and its sends in the
last 24 h against its daily limit; and the contacts that need a person (bounced, not sent,
waiting on a task). Counts are kept by the daemon as they happen, so they are exact across
restarts and however old the sends are.

  sent        emails that went out: delivered, refused (5xx), or cut off after their data
  bounced     refused at sending (5xx) or a bounce later (event, or a notice in the inbox)
  replied, meetings, unsubscribed
              events that finished the contact, counted for the last email it was sent
              (that email's step, variant and mailbox)
  not_sent, tasks_done, tasks_skipped
              per step only (no email, so no variant or mailbox)

Options:
  --html FILE   write the report as one self-contained HTML page (no network, no script):
                a funnel per step, variants side by side, each mailbox's sends per hour over
                the last 24 h against its hourly limit, the contacts that need attention
  --json        the numbers as JSON (the page is drawn from the same document)

Example:
  seqctl report q4-vp-eng --html /tmp/q4.html
)help"},
    CommandHelp{"lists", R"help(Usage: seqctl lists

Every list: name, owner, members.

Example:
  seqctl lists
)help"},
    CommandHelp{"list", R"help(Usage: seqctl list show NAME
       seqctl list add NAME [CONTACT...] | list remove NAME CONTACT...

show: the list's members. add: adds contacts (a new NAME makes an empty list, owned by
you). remove: takes contacts off the list (they stay stored and enrolled). add and remove
need the list's owner or an admin.

Example:
  seqctl list add inbound-q4 ada@example.test bob@example.test
)help"},
    CommandHelp{"workflows", R"help(Usage: seqctl workflows

Each sequence's workflows (`workflows:` in its file): the list, the filter, how often it
runs, its last run, and how many contacts it added and skipped.

Example:
  seqctl workflows
)help"},
    CommandHelp{"inbox", R"help(Usage: seqctl inbox [--mailbox ADDR]

The latest messages read from the mailboxes' inboxes and what seqd did with each (a reply
finished, an out-of-office paused, a bounce marked, ...).

Example:
  seqctl inbox --mailbox alice@acme.test
)help"},
    CommandHelp{"time", R"help(Usage: seqctl time
       seqctl time advance DURATION | time set TIME

Prints the daemon's clock. advance and set move it, only when seqd runs with --virtual-time,
and return once every step due up to then has run. Needs an admin.
)help"
                        "DURATION: an integer and a unit s, m, h or d (90m, 25h, 8d).\n"
                        "TIME: RFC 3339 (2026-12-01T09:00:00-05:00, 2026-12-01T14:00:00Z).\n"
                        R"help(
Example:
  seqctl time advance 2d
)help"},
};

}  // namespace

std::string seqctlOverview() {
  std::string text = R"help(Usage: seqctl [--socket PATH] [--json] COMMAND ...

Commands:
  ping | version                 is seqd there, and which version
  reload [--dry-run] [--force]   re-read the config
  sequences                      every sequence with its counts
  sequence show|activate|deactivate|clone|share|unshare SEQ ...
  import FILE.csv [--map C=f]... add or update contacts
  contact show|set CONTACT ...   one contact
  contacts [--where EXPR]        search contacts
  lists | list show|add|remove NAME ...   named sets of contacts
  add SEQ ...                    enroll contacts
  remove|pause|resume|finish|retry|set-mailbox SEQ CONTACT...
  status SEQ [filters]           where each contact is
  explain SEQ CONTACT            why, and what happens next
  event KIND CONTACT ...         reply, meeting_booked, unsubscribe, bounce, ooo, stage
  tasks [filters] | task complete|skip ID
  mailboxes                      sends against limits
  report SEQ [--html FILE]       per step, A/B variant and mailbox: sent, replied, ...
  inbox [--mailbox ADDR]         what seqd read from the inboxes
  workflows                      automatic adds: last run, added and skipped
  time | time advance DURATION | time set TIME
  help [COMMAND]                 what a command does, its options and values, an example

Global options: --socket PATH (default $SEQD_SOCKET, else /run/seqd/control.sock),
  --json (one JSON document on stdout), --help.
)help";
  text += kTimeValues;
  text += kDurationValues;
  text += kStatuses;
  text +=
      "Exit codes: 0 done, 1 failed, 2 usage, 3 done in part, 4 permission denied, "
      "5 unreachable.\n";
  return text;
}

std::string seqctlHelp(std::string_view command) {
  for (const CommandHelp& help : kCommands) {
    if (help.name == command) return std::string(help.text);
  }
  return "";
}

}  // namespace seqd
