#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "config/schedule_yaml.hpp"
#include "config/sequence_yaml.hpp"
#include "config/yaml_walk.hpp"
#include "engine/unsubscribe_token.hpp"

namespace seqd {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDaemonKeys[] = {
    "state_dir", "control_socket",    "socket_group", "admins",    "metrics_listen", "workers",
    "tick",      "ooo_default_pause", "delivery",     "mailboxes", "inbox_poll"};
// One-click unsubscribe (readUnsubscribeField); kept apart from kDaemonKeys.
constexpr std::string_view kUnsubscribeKeys[] = {"http_listen", "unsubscribe_url",
                                                 "unsubscribe_secret_file"};
constexpr std::string_view kDeliveryKeys[] = {"maildir", "smtp"};
constexpr std::string_view kMaildirKeys[] = {"dir"};
constexpr std::string_view kSmtpKeys[] = {"host",     "port",          "starttls",
                                          "username", "password_file", "timeout"};
constexpr std::string_view kMailboxKeys[] = {
    "address",      "name",         "owner",  "transport",          "daily_limit",
    "hourly_limit", "min_interval", "jitter", "domain_daily_limit", "inbox"};
constexpr std::string_view kInboxKeys[] = {"maildir", "imap"};
constexpr std::string_view kImapKeys[] = {"url", "username", "password_file"};

constexpr std::int64_t kWorkersMax = 256;
constexpr DurationMs kTickMin = 1;
constexpr DurationMs kTickMax = kHourMs;
constexpr DurationMs kOooPauseMax = 365 * kDayMs;
constexpr DurationMs kSmtpTimeoutMin = kSecondMs;
constexpr DurationMs kSmtpTimeoutMax = 10 * kMinuteMs;
constexpr DurationMs kMailboxDelayMax = kDayMs;  // min_interval and jitter
constexpr DurationMs kInboxPollMin = kSecondMs;
constexpr DurationMs kInboxPollMax = kDayMs;
constexpr std::int64_t kSendLimitMax = 1'000'000'000;
constexpr std::int64_t kPortMax = 65535;
constexpr std::size_t kAdminsMax = 100;
constexpr std::size_t kAddressBytesMax = 254;     // RFC 5321 path limit, less the brackets
constexpr std::size_t kSocketPathBytesMax = 107;  // sockaddr_un.sun_path is 108 with the NUL

DaemonConfig defaultDaemonConfig(ConfigDefaults defaults) {
  DaemonConfig daemon;
  if (defaults == ConfigDefaults::kDev) {
    daemon.state_dir = "./var/lib";
    daemon.control_socket = "./var/control.sock";
    daemon.maildir_dir = "./var/outbox";
  } else {
    daemon.state_dir = "/var/lib/seqd";
    daemon.control_socket = "/run/seqd/control.sock";
    daemon.maildir_dir = "/var/lib/seqd/outbox";
  }
  return daemon;
}

bool sameAddress(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// "" when address can name a mailbox, else what is wrong. The address also names the
// mailbox's Maildir folder, so path separators are refused along with header specials.
std::string addressProblem(std::string_view address) {
  std::size_t at = address.find('@');
  if (at == std::string_view::npos) return "must contain '@'";
  if (at == 0 || at + 1 == address.size() || address.find('@', at + 1) != std::string_view::npos) {
    return "must be local-part@domain with one '@'";
  }
  if (address.size() > kAddressBytesMax) {
    return "is longer than " + std::to_string(kAddressBytesMax) + " bytes";
  }
  for (char c : address) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte == 0x7f ||
        std::string_view("/\\<>,;:\"()[]").find(c) != std::string_view::npos) {
      return "must not contain spaces, control characters or any of / \\ < > , ; : \" ( ) [ ]";
    }
  }
  return "";
}

// "" when text is host:port (port 0..65535; "[::1]:9464" works), else what is wrong.
std::string listenProblem(const std::string& text) {
  std::size_t colon = text.rfind(':');
  std::string bad = "expected host:port such as 127.0.0.1:9464, got " + quoteForMessage(text);
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return bad;
  std::string port = text.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return bad;
  }
  return std::stoll(port) > kPortMax ? bad : "";
}

void readSmtp(YamlReader& reader, const YamlEntry& entry, SmtpSettings& smtp) {
  const std::string label = "delivery.smtp";
  for (const YamlEntry& field : reader.entries(entry.value, kSmtpKeys, label)) {
    if (field.key == "host") smtp.host = reader.nonEmptyText(field, label);
    if (field.key == "port")
      smtp.port = static_cast<int>(reader.integer(field, label, 1, kPortMax));
    if (field.key == "username") smtp.username = reader.text(field, label);
    if (field.key == "password_file") smtp.password_file = reader.text(field, label);
    if (field.key == "timeout") {
      smtp.timeout_ms = reader.duration(field, label, kSmtpTimeoutMin, kSmtpTimeoutMax);
    }
    if (field.key == "starttls") {
      smtp.starttls = reader.nonEmptyText(field, label);
      if (!reader.failed() && smtp.starttls != "off" && smtp.starttls != "optional" &&
          smtp.starttls != "required") {
        reader.failValue(
            field, label,
            "expected off, optional or required, got " + quoteForMessage(smtp.starttls));
      }
    }
  }
}

void readDelivery(YamlReader& reader, const YamlEntry& entry, DaemonConfig& daemon) {
  for (const YamlEntry& field : reader.entries(entry.value, kDeliveryKeys, "delivery")) {
    if (field.key == "smtp") readSmtp(reader, field, daemon.smtp);
    if (field.key != "maildir") continue;
    for (const YamlEntry& dir : reader.entries(field.value, kMaildirKeys, "delivery.maildir")) {
      daemon.maildir_dir = reader.nonEmptyText(dir, "delivery.maildir");
    }
  }
}

Transport readTransport(YamlReader& reader, const YamlEntry& entry, const std::string& label) {
  std::string name = reader.nonEmptyText(entry, label);
  if (name == "maildir") return Transport::kMaildir;
  if (name == "smtp") return Transport::kSmtp;
  if (name == "discard") return Transport::kDiscard;
  if (!reader.failed()) {
    reader.failValue(entry, label,
                     "expected maildir, smtp or discard, got " + quoteForMessage(name));
  }
  return Transport::kMaildir;
}

void readMailboxAddress(YamlReader& reader, const YamlEntry& entry, const std::string& label,
                        const std::vector<Mailbox>& earlier, Mailbox& mailbox) {
  mailbox.address = reader.nonEmptyText(entry, label);
  if (reader.failed()) return;
  std::string problem = addressProblem(mailbox.address);
  if (!problem.empty()) {
    return reader.failValue(entry, label, quoteForMessage(mailbox.address) + " " + problem);
  }
  for (const Mailbox& other : earlier) {
    if (sameAddress(other.address, mailbox.address)) {
      return reader.failValue(entry, label, quoteForMessage(mailbox.address) + " is defined twice");
    }
  }
}

// `inbox: {maildir: PATH}` or `inbox: {imap: {url, username, password_file}}`.
void readInbox(YamlReader& reader, const YamlEntry& entry, const std::string& label,
               InboxSettings& inbox) {
  const std::string inbox_label = label + ": inbox";
  std::vector<YamlEntry> entries = reader.entries(entry.value, kInboxKeys, inbox_label);
  if (!reader.failed() && entries.size() != 1) {
    return reader.fail(entry.key_node, inbox_label + ": expected exactly one of maildir or imap");
  }
  for (const YamlEntry& field : entries) {
    if (field.key == "maildir") inbox.maildir = reader.nonEmptyText(field, inbox_label);
    if (field.key != "imap") continue;
    const std::string imap_label = inbox_label + ".imap";
    std::vector<YamlEntry> imap = reader.entries(field.value, kImapKeys, imap_label);
    for (const YamlEntry& key : imap) {
      if (key.key == "url") {
        inbox.imap_url = reader.nonEmptyText(key, imap_label);
        if (!reader.failed() && !inbox.imap_url.starts_with("imap://") &&
            !inbox.imap_url.starts_with("imaps://")) {
          reader.failValue(key, imap_label,
                           "expected an imap:// or imaps:// URL such as "
                           "imaps://mail.acme.test/INBOX, got " +
                               quoteForMessage(inbox.imap_url));
        }
      }
      if (key.key == "username") inbox.imap_username = reader.text(key, imap_label);
      if (key.key == "password_file") inbox.imap_password_file = reader.text(key, imap_label);
    }
    if (!reader.failed() && findEntry(imap, "url") == nullptr) {
      reader.fail(field.key_node, imap_label + ": missing required key 'url'");
    }
  }
}

Mailbox readMailbox(YamlReader& reader, const YAML::Node& node, std::size_t index,
                    const std::vector<Mailbox>& earlier, std::vector<InboxSettings>& inboxes) {
  Mailbox mailbox;
  std::string address = peekScalar(node, "address");
  std::string label = address.empty() ? "mailbox " + std::to_string(index + 1)
                                      : "mailbox " + quoteForMessage(address);
  if (node.IsNull()) reader.fail(node, label + ": expected a map, got nothing");
  std::vector<YamlEntry> entries = reader.entries(node, kMailboxKeys, label);
  for (const YamlEntry& field : entries) {
    const std::string& key = field.key;
    if (key == "address") readMailboxAddress(reader, field, label, earlier, mailbox);
    if (key == "name") mailbox.name = reader.text(field, label);
    if (key == "owner") mailbox.owner = reader.text(field, label);
    if (key == "transport") mailbox.transport = readTransport(reader, field, label);
    if (key == "daily_limit") mailbox.daily_limit = reader.integer(field, label, 0, kSendLimitMax);
    if (key == "hourly_limit") {
      mailbox.hourly_limit = reader.integer(field, label, 0, kSendLimitMax);
    }
    if (key == "domain_daily_limit") {
      mailbox.domain_daily_limit = reader.integer(field, label, 0, kSendLimitMax);
    }
    if (key == "min_interval") {
      mailbox.min_interval_ms = reader.duration(field, label, 0, kMailboxDelayMax);
    }
    if (key == "jitter") mailbox.jitter_ms = reader.duration(field, label, 0, kMailboxDelayMax);
    if (key == "inbox") {
      InboxSettings inbox;
      readInbox(reader, field, label, inbox);
      inbox.mailbox = peekScalar(node, "address");
      inboxes.push_back(std::move(inbox));
    }
  }
  if (!reader.failed() && findEntry(entries, "address") == nullptr) {
    reader.fail(node, label + ": missing required key 'address'");
  }
  return mailbox;
}

void readControlSocket(YamlReader& reader, const YamlEntry& entry, DaemonConfig& daemon) {
  daemon.control_socket = reader.nonEmptyText(entry, "");
  if (!reader.failed() && daemon.control_socket.size() > kSocketPathBytesMax) {
    reader.failValue(entry, "",
                     "the path is " + std::to_string(daemon.control_socket.size()) +
                         " bytes; a Unix socket path must be at most " +
                         std::to_string(kSocketPathBytesMax));
  }
}

void readDaemonField(YamlReader& reader, const YamlEntry& field, DaemonConfig& daemon) {
  const std::string& key = field.key;
  if (key == "state_dir") daemon.state_dir = reader.nonEmptyText(field, "");
  if (key == "control_socket") readControlSocket(reader, field, daemon);
  if (key == "socket_group") daemon.socket_group = reader.text(field, "");
  if (key == "workers")
    daemon.workers = static_cast<int>(reader.integer(field, "", 1, kWorkersMax));
  if (key == "tick") daemon.tick_ms = reader.duration(field, "", kTickMin, kTickMax);
  if (key == "ooo_default_pause") {
    daemon.ooo_default_pause_ms = reader.duration(field, "", 0, kOooPauseMax);
  }
  if (key == "delivery") readDelivery(reader, field, daemon);
  if (key == "inbox_poll") {
    daemon.inbox_poll_ms = reader.duration(field, "", kInboxPollMin, kInboxPollMax);
  }
  if (key == "admins") {
    daemon.admins.clear();
    for (const YamlText& admin : reader.texts(field, "", kAdminsMax)) {
      daemon.admins.push_back(admin.text);
    }
  }
  if (key == "metrics_listen") {
    daemon.metrics_listen = reader.text(field, "");
    std::string problem = daemon.metrics_listen.empty() ? "" : listenProblem(daemon.metrics_listen);
    if (!reader.failed() && !problem.empty()) reader.failValue(field, "", problem);
  }
  if (key == "mailboxes") {
    std::vector<YAML::Node> items = reader.items(field, "", kMailboxesMax);
    for (std::size_t i = 0; i < items.size() && !reader.failed(); ++i) {
      daemon.mailboxes.push_back(
          readMailbox(reader, items[i], i, daemon.mailboxes, daemon.inboxes));
    }
  }
}

// ---------------------------------------------------------------------------------------
// One-click unsubscribe: http_listen, unsubscribe_url, unsubscribe_secret_file.

void readUnsubscribeField(YamlReader& reader, const YamlEntry& field, DaemonConfig& daemon) {
  const std::string& key = field.key;
  if (key == "http_listen") {
    daemon.http_listen = reader.text(field, "");
    std::string problem = daemon.http_listen.empty() ? "" : listenProblem(daemon.http_listen);
    if (!reader.failed() && !problem.empty()) reader.failValue(field, "", problem);
  }
  if (key == "unsubscribe_url") {
    daemon.unsubscribe_url = reader.text(field, "");
    std::string problem =
        daemon.unsubscribe_url.empty() ? "" : unsubscribeUrlProblem(daemon.unsubscribe_url);
    if (!reader.failed() && !problem.empty()) {
      reader.failValue(field, "", quoteForMessage(daemon.unsubscribe_url) + " " + problem);
    }
  }
  if (key == "unsubscribe_secret_file") daemon.unsubscribe_secret_file = reader.text(field, "");
}

// The secret: the file's bytes less trailing whitespace (so an editor's final newline does
// not change every link). Its messages name the file, never its contents.
std::string readUnsubscribeSecret(const std::string& path, std::string& secret) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return "cannot read " + path + ": " + std::strerror(errno);
  secret.assign(kUnsubscribeSecretBytesMax + 1, '\0');
  std::size_t length = std::fread(secret.data(), 1, secret.size(), file);
  bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return "cannot read " + path;
  secret.resize(length);
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (length > kUnsubscribeSecretBytesMax) {
    return path + " is larger than " + std::to_string(kUnsubscribeSecretBytesMax) +
           " bytes; is it the right file?";
  }
  if (secret.size() < kUnsubscribeSecretBytesMin) {
    return path + " holds " + std::to_string(secret.size()) + " bytes; the secret needs at least " +
           std::to_string(kUnsubscribeSecretBytesMin) +
           " (make one with: head -c 32 /dev/urandom | base64 > " + path + ")";
  }
  return "";
}

// unsubscribe_url needs a listener and a secret; the secret file is read whenever it is named.
void checkUnsubscribe(YamlReader& reader, const std::vector<YamlEntry>& entries,
                      DaemonConfig& daemon) {
  const YamlEntry* url = findEntry(entries, "unsubscribe_url");
  if (url != nullptr && !daemon.unsubscribe_url.empty()) {
    if (daemon.http_listen.empty()) {
      return reader.failValue(*url, "", "needs http_listen: HOST:PORT for the links to reach");
    }
    if (daemon.unsubscribe_secret_file.empty()) {
      return reader.failValue(*url, "",
                              "needs unsubscribe_secret_file: the key links are signed with");
    }
  }
  const YamlEntry* secret_file = findEntry(entries, "unsubscribe_secret_file");
  if (secret_file == nullptr || daemon.unsubscribe_secret_file.empty()) return;
  std::string problem =
      readUnsubscribeSecret(daemon.unsubscribe_secret_file, daemon.unsubscribe_secret);
  if (!problem.empty()) reader.failValue(*secret_file, "", problem);
}

Result<DaemonConfig> readDaemonConfig(const YamlFile& file, ConfigDefaults defaults) {
  YamlReader reader(file.path);
  DaemonConfig daemon = defaultDaemonConfig(defaults);
  std::vector<std::string_view> keys(std::begin(kDaemonKeys), std::end(kDaemonKeys));
  keys.insert(keys.end(), std::begin(kUnsubscribeKeys), std::end(kUnsubscribeKeys));
  std::vector<YamlEntry> entries = reader.entries(file.root, keys, "");
  for (const YamlEntry& field : entries) {
    readDaemonField(reader, field, daemon);
    readUnsubscribeField(reader, field, daemon);
  }
  if (!reader.failed()) checkUnsubscribe(reader, entries, daemon);
  if (reader.failed()) return reader.status();
  return daemon;
}

// The *.yaml names in dir, sorted; hidden files (editor backups) and folders are skipped.
// A missing dir holds none.
Result<std::vector<std::string>> listSequenceFiles(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error == std::errc::no_such_file_or_directory) return names;
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    std::string name = it->path().filename().string();
    if (name.size() <= 5 || name[0] == '.' || !name.ends_with(".yaml")) continue;
    std::error_code kind_error;
    if (it->is_directory(kind_error)) continue;
    if (names.size() >= kSequenceFilesMax) {
      return Status::invalidArgument(dir.string() + ": more than " +
                                     std::to_string(kSequenceFilesMax) + " sequence files");
    }
    names.push_back(std::move(name));
  }
  if (error) {
    return Status::ioError(dir.string() + ": cannot list sequence files: " + error.message());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status loadSequences(const fs::path& dir, const std::string& schedules_path, Config& config) {
  Result<std::vector<std::string>> names = listSequenceFiles(dir);
  if (!names.isOk()) return names.status();
  for (const std::string& name : names.value()) {
    Result<YamlFile> file = loadYamlFile((dir / name).string());
    if (!file.isOk()) return file.status();
    std::string id = name.substr(0, name.size() - std::string_view(".yaml").size());
    Result<SequenceFile> loaded = readSequence(file.value(), id, config, schedules_path);
    if (!loaded.isOk()) return loaded.status();
    if (!loaded.value().workflows.empty()) {
      config.workflows[id] = std::move(loaded.value().workflows);
    }
    config.sequences[id] = std::move(loaded.value().sequence);
  }
  return Status::ok();
}

Result<Config> loadConfigUnguarded(const std::string& path, ConfigDefaults defaults) {
  Config config;
  config.config_path = path;
  fs::path dir = fs::path(path).parent_path();
  config.config_dir = dir.empty() ? "." : dir.string();

  Result<YamlFile> daemon_file = loadYamlFile(path);
  if (!daemon_file.isOk()) return daemon_file.status();
  Result<DaemonConfig> daemon = readDaemonConfig(daemon_file.value(), defaults);
  if (!daemon.isOk()) return daemon.status();
  config.daemon = std::move(daemon.value());

  std::string schedules_path = (dir / "schedules.yaml").string();
  Result<YamlFile> schedules_file = loadYamlFile(schedules_path);
  if (schedules_file.isOk()) {
    Result<std::map<std::string, Schedule>> schedules = readSchedules(schedules_file.value());
    if (!schedules.isOk()) return schedules.status();
    config.schedules = std::move(schedules.value());
  } else if (schedules_file.status().code() != StatusCode::kNotFound) {
    return schedules_file.status();
  }

  Status sequences = loadSequences(dir / "sequences", schedules_path, config);
  if (!sequences.isOk()) return sequences;
  return config;
}

}  // namespace

const Mailbox* Config::findMailbox(const std::string& address) const {
  for (const Mailbox& mailbox : daemon.mailboxes) {
    if (sameAddress(mailbox.address, address)) return &mailbox;
  }
  return nullptr;
}

Result<Config> loadConfig(const std::string& path, ConfigDefaults defaults) {
  try {
    return loadConfigUnguarded(path, defaults);
  } catch (const YAML::Exception& error) {
    return Status::invalidArgument(yamlPosition(path, error.mark) + error.msg);
  } catch (const std::exception& error) {
    return Status::ioError(path + ": cannot load config: " + error.what());
  }
}

}  // namespace seqd
