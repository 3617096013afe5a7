// Config: the daemon config (seqd.yaml), the schedules (schedules.yaml) and the sequences
// (sequences/*.yaml), loaded and validated as a whole.
//
// Every error is a Status whose message starts "file:line:col: " (1-based line and column,
// as yaml-cpp's Mark gives them 0-based) and says what is wrong. A config either loads whole
// or not at all; a reload that fails leaves the running config untouched (that is the
// caller's part: it simply keeps its old Config).
//
// YAML walking is bounded: nesting depth and node count are capped (kYamlDepthMax,
// kYamlNodesMax) because yaml-cpp follows aliases without copying.
//
// Paths are kept as written: a relative state_dir or control_socket is relative to the
// working directory of the process, not to the config file.
//
// Thread-safety: loadConfig is reentrant; a Config is a plain value.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "engine/mailbox.hpp"
#include "engine/schedule.hpp"
#include "engine/sequence.hpp"
#include "engine/status.hpp"
#include "engine/time.hpp"

namespace seqd {

inline constexpr int kYamlDepthMax = 32;
inline constexpr int kYamlNodesMax = 100000;
inline constexpr std::size_t kMailboxesMax = 1000;
inline constexpr std::size_t kSchedulesMax = 1000;
inline constexpr std::size_t kSequenceFilesMax = 10000;
inline constexpr std::size_t kStepsMax = 200;
static_assert(kStepsMax <= kSequenceStepsMax);  // an enrollment's step_index is a byte
inline constexpr std::size_t kWorkflowsMax = 32;

struct SmtpSettings {
  std::string host = "127.0.0.1";
  int port = 25;
  std::string starttls = "optional";  // off | optional | required
  std::string username;
  std::string password_file;
  DurationMs timeout_ms = 30 * kSecondMs;
};

// A sending mailbox's inbox, where replies, auto-replies and bounces arrive (`inbox:` of a
// mailbox): a Maildir the local MTA delivers to, or an IMAP folder.
struct InboxSettings {
  std::string mailbox;   // the sending mailbox's address
  std::string maildir;   // set: read this Maildir
  std::string imap_url;  // set: imap:// or imaps://host[:port]/FOLDER
  std::string imap_username;
  std::string imap_password_file;
};

struct DaemonConfig {
  std::string state_dir;
  std::string control_socket;
  std::string socket_group;  // empty: the daemon's own group
  std::vector<std::string> admins = {"root"};
  std::string metrics_listen;  // empty: disabled
  // One-click unsubscribe (SPEC §2.1). http_listen empty: no HTTP listener. unsubscribe_url
  // empty: emails carry only the mailto: link. The secret is the file's contents less
  // trailing whitespace, read at every load; it is never logged.
  std::string http_listen;
  std::string unsubscribe_url;
  std::string unsubscribe_secret_file;
  std::string unsubscribe_secret;
  int workers = 4;
  DurationMs tick_ms = 100;
  DurationMs ooo_default_pause_ms = 7 * kDayMs;
  std::string maildir_dir;  // delivery.maildir.dir
  SmtpSettings smtp;
  std::vector<Mailbox> mailboxes;
  std::vector<InboxSettings> inboxes;  // in mailbox order, only the mailboxes that have one
  DurationMs inbox_poll_ms = kMinuteMs;
};

// Automatic adding (SPEC §3.13, `workflows:` in a sequence file): every every_ms, new members
// of the list from_list whose score is at least min_score are enrolled.
// With `where`, members must also match that EXPR (engine/contact_query.hpp). `location` is
// "file:line:col" of from_list: seqd checks the list exists against its store at start and
// at each reload (--check-config cannot see the store).
struct Workflow {
  std::string from_list;
  int min_score = 0;
  std::string where;
  DurationMs every_ms = 15 * kMinuteMs;
  std::string location;
};

struct Config {
  std::string config_path;  // the seqd.yaml that was loaded
  std::string config_dir;   // its directory; schedules.yaml and sequences/ are found here
  DaemonConfig daemon;
  std::map<std::string, Schedule> schedules;
  Sequences sequences;                                     // by id
  std::map<std::string, std::vector<Workflow>> workflows;  // by sequence id; only non-empty

  // The mailbox with this address (compared ignoring ASCII case), or nullptr.
  const Mailbox* findMailbox(const std::string& address) const;
};

// Defaults for keys seqd.yaml leaves out: a system install or a --dev/demo run.
enum class ConfigDefaults { kSystem, kDev };

// Loads seqd.yaml at path, then schedules.yaml and sequences/*.yaml beside it, and checks
// cross references (a sequence's schedule and mailboxes exist, ids match file names, ...).
// A missing schedules.yaml or sequences/ folder defines none; a missing seqd.yaml is
// NotFound. Sequence files are read in name order; hidden files are skipped. Unknown keys
// anywhere are errors, so typos are caught. The first error found is returned.
// Details of each file: config/schedule_yaml.hpp and config/sequence_yaml.hpp.
Result<Config> loadConfig(const std::string& path, ConfigDefaults defaults);

}  // namespace seqd
