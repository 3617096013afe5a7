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
// Thread-safety: loadConfig is reentrant; a Config is a plain value.
#pragma once

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

struct SmtpSettings {
  std::string host = "127.0.0.1";
  int port = 25;
  std::string starttls = "optional";  // off | optional | required
  std::string username;
  std::string password_file;
  DurationMs timeout_ms = 30 * kSecondMs;
};

struct DaemonConfig {
  std::string state_dir;
  std::string control_socket;
  std::string socket_group;          // empty: the daemon's own group
  std::vector<std::string> admins = {"root"};
  std::string metrics_listen;        // empty: disabled
  int workers = 4;
  DurationMs tick_ms = 100;
  DurationMs ooo_default_pause_ms = 7 * kDayMs;
  std::string maildir_dir;           // delivery.maildir.dir
  SmtpSettings smtp;
  std::vector<Mailbox> mailboxes;
};

struct Config {
  std::string config_path;  // the seqd.yaml that was loaded
  std::string config_dir;   // its directory; schedules.yaml and sequences/ are found here
  DaemonConfig daemon;
  std::map<std::string, Schedule> schedules;
  std::map<std::string, Sequence> sequences;  // by id

  const Mailbox* findMailbox(const std::string& address) const;
};

// Defaults for keys seqd.yaml leaves out: a system install or a --dev/demo run.
enum class ConfigDefaults { kSystem, kDev };

// Loads seqd.yaml at path, then schedules.yaml and sequences/*.yaml beside it, and checks
// cross references (a sequence's schedule and mailboxes exist, ids match file names, ...).
Result<Config> loadConfig(const std::string& path, ConfigDefaults defaults);

}  // namespace seqd
