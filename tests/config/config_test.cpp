// Proves loadConfig reads seqd.yaml, schedules.yaml and sequences/*.yaml into every field as
// SPEC §2.1-2.3 write them, and rejects each kind of bad config with "file:line:col: what".
#include "config/config.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>

#include "config/sequence_yaml.hpp"
#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;
namespace fs = std::filesystem;

namespace {

// A throwaway config folder: seqd.yaml, schedules.yaml and sequences/ inside a temp dir.
class ConfigDir {
 public:
  ConfigDir() {
    char pattern[] = "/tmp/seqd-config-test-XXXXXX";
    const char* made = mkdtemp(pattern);
    REQUIRE(made != nullptr);
    dir_ = made;
  }
  ~ConfigDir() {
    std::error_code error;
    fs::remove_all(dir_, error);
  }
  ConfigDir(const ConfigDir&) = delete;
  ConfigDir& operator=(const ConfigDir&) = delete;

  std::string path(const std::string& relative) const { return dir_ + "/" + relative; }

  void write(const std::string& relative, const std::string& text) const {
    fs::create_directories(fs::path(path(relative)).parent_path());
    std::ofstream out(path(relative), std::ios::binary);
    out << text;
    REQUIRE(out.good());
  }

  // Two mailboxes and one schedule, so sequence files have something to refer to.
  void writeBase() const {
    write("seqd.yaml",
          "mailboxes:\n"
          "  - address: alice@acme.test\n"
          "  - address: bob@acme.test\n");
    write("schedules.yaml",
          "business-hours:\n"
          "  timezone: America/New_York\n"
          "  windows:\n"
          "    mon-fri: [\"09:00-17:00\"]\n");
  }

  Result<Config> load(ConfigDefaults defaults = ConfigDefaults::kSystem) const {
    return loadConfig(path("seqd.yaml"), defaults);
  }

  // The message of a load that must fail; "loaded" when it did not fail.
  std::string error() const {
    Result<Config> config = load();
    if (config.isOk()) return "loaded";
    CHECK(config.status().code() == StatusCode::kInvalidArgument);
    return config.status().message();
  }

 private:
  std::string dir_;
};

// The first five lines of a valid sequence file; tests append steps from line 6.
const std::string kSequenceHead =
    "id: s1\n"
    "owner: alice\n"
    "schedule: business-hours\n"
    "mailboxes: [alice@acme.test]\n"
    "steps:\n";

const std::string kIntroStep =
    "  - id: intro\n"
    "    type: auto_email\n"
    "    subject: Hi\n"
    "    body: Hello\n";

// Writes sequences/s1.yaml from kSequenceHead plus steps, over the base config.
std::string sequenceError(const ConfigDir& dir, const std::string& steps) {
  dir.writeBase();
  dir.write("sequences/s1.yaml", kSequenceHead + steps);
  return dir.error();
}

const char* kFullSeqd = R"(state_dir: /srv/seqd/state
control_socket: /srv/seqd/control.sock
socket_group: seqd
admins: [root, ops]
metrics_listen: 127.0.0.1:9464
workers: 8
tick: 50ms
ooo_default_pause: 5d
delivery:
  maildir: {dir: /srv/seqd/outbox}
  smtp: {host: mail.acme.test, port: 587, starttls: required, username: "seqd",
         password_file: /etc/seqd/smtp.pass, timeout: 45s}
mailboxes:
  - address: alice@acme.test
    name: Alice Smith
    owner: alice
    transport: smtp
    daily_limit: 150
    hourly_limit: 30
    min_interval: 60s
    jitter: 30s
    domain_daily_limit: 20
  - address: alice2@acme.test
    transport: discard
  - address: Bob@Acme.test
)";

const char* kFullSchedules = R"(business-hours:
  timezone: America/New_York
  windows:
    mon-fri: ["13:00-17:00", "09:00-12:00"]
    sat: ["10:00-24:00"]
  holidays: [2027-01-01, 2026-12-25]
night-owl:
  timezone: Europe/Paris
  windows:
    fri-mon: ["20:00-24:00", "00:00-02:00"]
)";

const char* kFullSequence = R"(id: q4-vp-eng
name: Q4 outbound — VP Engineering
owner: alice
schedule: business-hours
timezone: contact
mailboxes: [alice@acme.test, ALICE2@acme.test]
rules:
  block_stages: [disqualified, bad_data, unqualified]
  finish_on: [reply, meeting_booked]
  pause_on_ooo: false
workflows:
  - {from_list: inbound, min_score: 60, every: 15m}
steps:
  - id: intro
    type: auto_email
    wait: 0m
    subject: "Quick question, {{first_name}}"
    body: |
      Hi {{first_name|there}}, ...
    variants:
      - {id: a, weight: 50}
      - {id: b, weight: 50, subject: "{{company}} + us?"}
  - id: call-1
    type: call
    wait: 2bd
    note: "Call about {{company}}"
  - id: bump
    type: auto_email
    wait: 3d
    thread: previous
    body: "Bumping this up, {{first_name}}."
)";

const char* kNurtureSequence = R"(id: nurture
owner: bob
schedule: night-owl
timezone: schedule
mailboxes: [bob@acme.test]
steps:
  - {id: connect, type: linkedin, wait: 90m, note: "Connect with {{first_name}}"}
  - {id: research, type: task, wait: 25h}
  - {id: personal, type: manual_email, wait: 1bd, subject: Hello, body: Hi there}
)";

}  // namespace

TEST_CASE("a full config loads with every field as written") {
  ConfigDir dir;
  dir.write("seqd.yaml", kFullSeqd);
  dir.write("schedules.yaml", kFullSchedules);
  dir.write("sequences/q4-vp-eng.yaml", kFullSequence);
  dir.write("sequences/nurture.yaml", kNurtureSequence);
  dir.write("sequences/README.txt", "not a sequence: {{{\n");
  dir.write("sequences/.draft.yaml", "this: is: not: yaml: [\n");
  Result<Config> loaded = dir.load();
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  const Config& config = loaded.value();
  CHECK(config.config_path == dir.path("seqd.yaml"));
  CHECK(config.config_dir == dir.path("").substr(0, dir.path("").size() - 1));

  const DaemonConfig& daemon = config.daemon;
  CHECK(daemon.state_dir == "/srv/seqd/state");
  CHECK(daemon.control_socket == "/srv/seqd/control.sock");
  CHECK(daemon.socket_group == "seqd");
  CHECK(daemon.admins == std::vector<std::string>{"root", "ops"});
  CHECK(daemon.metrics_listen == "127.0.0.1:9464");
  CHECK(daemon.workers == 8);
  CHECK(daemon.tick_ms == 50);
  CHECK(daemon.ooo_default_pause_ms == 5 * kDayMs);
  CHECK(daemon.maildir_dir == "/srv/seqd/outbox");
  CHECK(daemon.smtp.host == "mail.acme.test");
  CHECK(daemon.smtp.port == 587);
  CHECK(daemon.smtp.starttls == "required");
  CHECK(daemon.smtp.username == "seqd");
  CHECK(daemon.smtp.password_file == "/etc/seqd/smtp.pass");
  CHECK(daemon.smtp.timeout_ms == 45 * kSecondMs);

  REQUIRE(daemon.mailboxes.size() == 3);
  const Mailbox& alice = daemon.mailboxes[0];
  CHECK(alice.address == "alice@acme.test");
  CHECK(alice.name == "Alice Smith");
  CHECK(alice.owner == "alice");
  CHECK(alice.transport == Transport::kSmtp);
  CHECK(alice.daily_limit == 150);
  CHECK(alice.hourly_limit == 30);
  CHECK(alice.min_interval_ms == 60 * kSecondMs);
  CHECK(alice.jitter_ms == 30 * kSecondMs);
  CHECK(alice.domain_daily_limit == 20);
  const Mailbox& alice2 = daemon.mailboxes[1];
  CHECK(alice2.transport == Transport::kDiscard);
  CHECK(alice2.daily_limit == 200);  // the model's defaults for absent keys
  CHECK(alice2.hourly_limit == 40);
  CHECK(alice2.domain_daily_limit == 0);
  CHECK(alice2.name.empty());
  CHECK(daemon.mailboxes[2].transport == Transport::kMaildir);

  REQUIRE(config.schedules.size() == 2);
  const Schedule& business = config.schedules.at("business-hours");
  CHECK(business.name == "business-hours");
  CHECK(business.timezone == "America/New_York");
  CHECK(business.windows[0].empty());  // Sunday
  for (int day = 1; day <= 5; ++day) {
    REQUIRE(business.windows[day].size() == 2);
    CHECK(business.windows[day][0].start_minute == 9 * 60);  // sorted by start
    CHECK(business.windows[day][0].end_minute == 12 * 60);
    CHECK(business.windows[day][1].start_minute == 13 * 60);
    CHECK(business.windows[day][1].end_minute == 17 * 60);
  }
  REQUIRE(business.windows[6].size() == 1);
  CHECK(business.windows[6][0].start_minute == 10 * 60);
  CHECK(business.windows[6][0].end_minute == 1440);
  CHECK(business.holidays == std::vector<LocalDate>{{2026, 12, 25}, {2027, 1, 1}});
  const Schedule& night = config.schedules.at("night-owl");
  CHECK(night.timezone == "Europe/Paris");
  for (int day : {5, 6, 0, 1}) {  // fri-mon wraps over the week's end
    REQUIRE(night.windows[day].size() == 2);
    CHECK(night.windows[day][0].start_minute == 0);
    CHECK(night.windows[day][0].end_minute == 120);
    CHECK(night.windows[day][1].start_minute == 20 * 60);
  }
  for (int day : {2, 3, 4}) CHECK(night.windows[day].empty());

  REQUIRE(config.sequences.size() == 2);
  const Sequence& q4 = config.sequences.at("q4-vp-eng");
  CHECK(q4.id == "q4-vp-eng");
  CHECK(q4.name == "Q4 outbound — VP Engineering");
  CHECK(q4.owner == "alice");
  CHECK(q4.schedule == "business-hours");
  CHECK(q4.timezone_from_contact);
  CHECK(q4.mailboxes == std::vector<std::string>{"alice@acme.test", "alice2@acme.test"});
  CHECK(q4.rules.block_stages ==
        std::vector<std::string>{"disqualified", "bad_data", "unqualified"});
  CHECK(q4.rules.finish_on == std::vector<std::string>{"reply", "meeting_booked"});
  CHECK_FALSE(q4.rules.pause_on_ooo);
  CHECK(q4.source_path == dir.path("sequences/q4-vp-eng.yaml"));
  REQUIRE(q4.steps.size() == 3);
  const Step& intro = q4.steps[0];
  CHECK(intro.id == "intro");
  CHECK(intro.type == StepType::kAutoEmail);
  CHECK(intro.wait_ms == 0);
  CHECK_FALSE(intro.wait_business_days);
  CHECK(intro.subject == "Quick question, {{first_name}}");
  CHECK(intro.body == "Hi {{first_name|there}}, ...\n");
  CHECK_FALSE(intro.thread_previous);
  REQUIRE(intro.variants.size() == 2);
  CHECK(intro.variants[0].id == "a");
  CHECK(intro.variants[0].weight == 50);
  CHECK(intro.variants[0].subject.empty());
  CHECK(intro.variants[1].id == "b");
  CHECK(intro.variants[1].subject == "{{company}} + us?");
  const Step& call = q4.steps[1];
  CHECK(call.type == StepType::kCall);
  CHECK(call.wait_business_days);
  CHECK(call.wait_ms == 2);
  CHECK(call.note == "Call about {{company}}");
  const Step& bump = q4.steps[2];
  CHECK(bump.wait_ms == 3 * kDayMs);
  CHECK(bump.thread_previous);
  CHECK(bump.subject.empty());
  CHECK(bump.body == "Bumping this up, {{first_name}}.");
  REQUIRE(config.workflows.count("q4-vp-eng") == 1);
  const std::vector<Workflow>& workflows = config.workflows.at("q4-vp-eng");
  REQUIRE(workflows.size() == 1);
  CHECK(workflows[0].from_list == "inbound");
  CHECK(workflows[0].min_score == 60);
  CHECK(workflows[0].every_ms == 15 * kMinuteMs);

  const Sequence& nurture = config.sequences.at("nurture");
  CHECK(nurture.name == "nurture");  // absent name: the id
  CHECK_FALSE(nurture.timezone_from_contact);
  CHECK(nurture.mailboxes == std::vector<std::string>{"Bob@Acme.test"});
  CHECK(nurture.rules.block_stages.empty());
  CHECK(nurture.rules.finish_on ==
        std::vector<std::string>{"reply", "meeting_booked", "unsubscribe"});
  CHECK(nurture.rules.pause_on_ooo);
  REQUIRE(nurture.steps.size() == 3);
  CHECK(nurture.steps[0].type == StepType::kLinkedin);
  CHECK(nurture.steps[0].wait_ms == 90 * kMinuteMs);
  CHECK(nurture.steps[1].type == StepType::kTask);
  CHECK(nurture.steps[1].wait_ms == 25 * kHourMs);
  CHECK(nurture.steps[2].type == StepType::kManualEmail);
  CHECK(nurture.steps[2].wait_business_days);
  CHECK(nurture.steps[2].wait_ms == 1);
  CHECK(config.workflows.count("nurture") == 0);
}

TEST_CASE("findMailbox matches addresses ignoring case") {
  ConfigDir dir;
  dir.write("seqd.yaml", kFullSeqd);
  Result<Config> loaded = dir.load();
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  const Config& config = loaded.value();
  REQUIRE(config.findMailbox("ALICE@acme.TEST") != nullptr);
  CHECK(config.findMailbox("ALICE@acme.TEST")->name == "Alice Smith");
  REQUIRE(config.findMailbox("bob@acme.test") != nullptr);
  CHECK(config.findMailbox("bob@acme.test")->address == "Bob@Acme.test");
  CHECK(config.findMailbox("carol@acme.test") == nullptr);
  CHECK(config.findMailbox("") == nullptr);
}

TEST_CASE("system and dev defaults fill absent keys; relative paths stay as written") {
  ConfigDir dir;
  dir.write("seqd.yaml", "");
  Result<Config> system = dir.load(ConfigDefaults::kSystem);
  REQUIRE_MESSAGE(system.isOk(), system.status().message());
  CHECK(system.value().daemon.state_dir == "/var/lib/seqd");
  CHECK(system.value().daemon.control_socket == "/run/seqd/control.sock");
  CHECK(system.value().daemon.maildir_dir == "/var/lib/seqd/outbox");
  CHECK(system.value().daemon.workers == 4);
  CHECK(system.value().daemon.tick_ms == 100);
  CHECK(system.value().daemon.ooo_default_pause_ms == 7 * kDayMs);
  CHECK(system.value().daemon.admins == std::vector<std::string>{"root"});
  CHECK(system.value().daemon.smtp.port == 25);
  CHECK(system.value().daemon.mailboxes.empty());
  CHECK(system.value().schedules.empty());  // no schedules.yaml, no sequences/: none
  CHECK(system.value().sequences.empty());

  Result<Config> dev = dir.load(ConfigDefaults::kDev);
  REQUIRE_MESSAGE(dev.isOk(), dev.status().message());
  CHECK(dev.value().daemon.state_dir == "./var/lib");
  CHECK(dev.value().daemon.control_socket == "./var/control.sock");
  CHECK(dev.value().daemon.maildir_dir == "./var/outbox");

  dir.write("seqd.yaml", "state_dir: state\ndelivery: {maildir: {dir: ../out}}\n");
  Result<Config> relative = dir.load(ConfigDefaults::kDev);
  REQUIRE_MESSAGE(relative.isOk(), relative.status().message());
  CHECK(relative.value().daemon.state_dir == "state");
  CHECK(relative.value().daemon.maildir_dir == "../out");
  CHECK(relative.value().daemon.control_socket == "./var/control.sock");
}

TEST_CASE("a config path without a folder finds its files in the working directory") {
  ConfigDir dir;
  dir.writeBase();
  dir.write("sequences/s1.yaml", kSequenceHead + kIntroStep);
  std::error_code error;
  fs::path previous = fs::current_path();
  fs::current_path(dir.path(""));
  Result<Config> loaded = loadConfig("seqd.yaml", ConfigDefaults::kDev);
  fs::current_path(previous, error);
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  CHECK(loaded.value().config_dir == ".");
  CHECK(loaded.value().sequences.at("s1").source_path == "sequences/s1.yaml");
}

TEST_CASE("a missing seqd.yaml is NotFound and names the file") {
  ConfigDir dir;
  Result<Config> loaded = dir.load();
  REQUIRE_FALSE(loaded.isOk());
  CHECK(loaded.status().code() == StatusCode::kNotFound);
  CHECK(loaded.status().message() ==
        dir.path("seqd.yaml") + ": cannot read config file: No such file or directory");
}

TEST_CASE("YAML syntax errors name file, line and column") {
  ConfigDir dir;
  dir.write("seqd.yaml", "workers: 4\nadmins: [root, ops\ntick: 100ms\n");
  std::string message = dir.error();
  CHECK(message.rfind(dir.path("seqd.yaml") + ":3:5: YAML syntax error: ", 0) == 0);

  dir.writeBase();
  dir.write("sequences/s1.yaml", kSequenceHead + "  - id: intro\n    type: *nope\n");
  CHECK(dir.error() == dir.path("sequences/s1.yaml") +
                           ":7:11: YAML syntax error: the referenced anchor is not defined");
}

TEST_CASE("more than one YAML document in a file is an error") {
  ConfigDir dir;
  dir.write("seqd.yaml", "workers: 4\n---\nworkers: 5\n");
  CHECK(dir.error() == dir.path("seqd.yaml") + ":2:1: expected one YAML document, found more");
}

TEST_CASE("an alias bomb fails fast with a message instead of expanding") {
  ConfigDir dir;
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string previous = "a";
  for (char name = 'b'; name <= 'i'; ++name) {
    bomb += std::string(1, name) + ": &" + name + " [";
    for (int i = 0; i < 9; ++i) bomb += (i > 0 ? ",*" : "*") + previous;
    bomb += "]\n";
    previous = std::string(1, name);
  }
  dir.write("seqd.yaml", bomb);  // 9^9 strings once expanded
  auto start = std::chrono::steady_clock::now();
  std::string message = dir.error();
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(message.find("the YAML tree has more than 100000 nodes once aliases are expanded") !=
        std::string::npos);
  CHECK(message.rfind(dir.path("seqd.yaml") + ":", 0) == 0);
  CHECK(elapsed < std::chrono::seconds(5));  // a hang detector, not a benchmark
}

TEST_CASE("nesting deeper than kYamlDepthMax is rejected") {
  ConfigDir dir;
  std::string deep = "admins: " + std::string(40, '[') + std::string(40, ']') + "\n";
  dir.write("seqd.yaml", deep);
  CHECK(dir.error().find("YAML nesting is deeper than 32 levels") != std::string::npos);
}

TEST_CASE("unknown and duplicate keys are errors at the key") {
  ConfigDir dir;
  dir.write("seqd.yaml", "workers: 4\nstat_dir: /x\n");
  CHECK(dir.error() == dir.path("seqd.yaml") +
                           ":2:1: unknown key 'stat_dir' (expected one of state_dir, "
                           "control_socket, socket_group, admins, metrics_listen, workers, tick, "
                           "ooo_default_pause, delivery, mailboxes, inbox_poll, http_listen, "
                           "unsubscribe_url, unsubscribe_secret_file)");

  dir.write("seqd.yaml", "workers: 4\nworkers: 5\n");
  CHECK(dir.error() == dir.path("seqd.yaml") + ":2:1: duplicate key 'workers' (first at line 1)");

  dir.write("seqd.yaml", "delivery:\n  smtp: {host: x, prot: 25}\n");
  CHECK(dir.error() == dir.path("seqd.yaml") +
                           ":2:19: unknown key 'prot' in delivery.smtp (expected one of host, "
                           "port, starttls, username, password_file, timeout)");

  std::string steps = kIntroStep + "  - id: bump\n    type: auto_email\n    foo: 1\n";
  CHECK(sequenceError(dir, steps) == dir.path("sequences/s1.yaml") +
                                         ":12:5: unknown key 'foo' in step 'bump' (expected one "
                                         "of id, type, wait, subject, body, note, thread, "
                                         "variants)");
}

TEST_CASE("seqd.yaml values are range-checked") {
  ConfigDir dir;
  const std::string file = dir.path("seqd.yaml");
  dir.write("seqd.yaml", "tick: 100\n");
  CHECK(dir.error() == file +
                           ":1:7: tick: bad duration '100': unknown unit '' "
                           "(expected ms, s, m, h or d)");
  dir.write("seqd.yaml", "tick: 2h\n");
  CHECK(dir.error() == file + ":1:7: tick: must be from 1ms to 1h, got '2h'");
  dir.write("seqd.yaml", "tick: 0ms\n");
  CHECK(dir.error() == file + ":1:7: tick: must be from 1ms to 1h, got '0ms'");
  dir.write("seqd.yaml", "tick: 1h\n");
  CHECK(dir.load().isOk());
  dir.write("seqd.yaml", "ooo_default_pause: 7 days\n");
  CHECK(dir.error().rfind(file + ":1:20: ooo_default_pause: bad duration '7 days'", 0) == 0);
  dir.write("seqd.yaml", "workers: 0\n");
  CHECK(dir.error() == file + ":1:10: workers: expected an integer from 1 to 256, got '0'");
  dir.write("seqd.yaml", "workers: 257\n");
  CHECK(dir.error() == file + ":1:10: workers: expected an integer from 1 to 256, got '257'");
  dir.write("seqd.yaml", "workers: [4]\n");
  CHECK(dir.error() == file + ":1:10: workers: expected an integer from 1 to 256, got a list");
  dir.write("seqd.yaml", "workers: 256\n");
  CHECK(dir.load().isOk());
  dir.write("seqd.yaml", "delivery: {smtp: {starttls: maybe}}\n");
  CHECK(dir.error() ==
        file + ":1:29: delivery.smtp: starttls: expected off, optional or required, got 'maybe'");
  dir.write("seqd.yaml", "metrics_listen: localhost\n");
  CHECK(dir.error() == file +
                           ":1:17: metrics_listen: expected host:port such as "
                           "127.0.0.1:9464, got 'localhost'");
  dir.write("seqd.yaml", "control_socket: /" + std::string(120, 's') + "\n");
  CHECK(dir.error() == file +
                           ":1:17: control_socket: the path is 121 bytes; a Unix socket "
                           "path must be at most 107");
  dir.write("seqd.yaml", "state_dir:\n");
  CHECK(dir.error() == file + ":1:1: state_dir: must not be empty");
}

TEST_CASE("one-click unsubscribe: http_listen, unsubscribe_url and the secret file") {
  ConfigDir dir;
  const std::string file = dir.path("seqd.yaml");
  const std::string key = dir.path("unsubscribe.key");
  dir.write("unsubscribe.key", "0123456789abcdef0123456789abcdef\n");
  const std::string listen = "http_listen: 127.0.0.1:8080\n";
  const std::string secret = "unsubscribe_secret_file: " + key + "\n";

  // Absent: no listener, mailto: only.
  dir.write("seqd.yaml", "workers: 2\n");
  Result<Config> loaded = dir.load();
  REQUIRE(loaded.isOk());
  CHECK(loaded.value().daemon.http_listen.empty());
  CHECK(loaded.value().daemon.unsubscribe_url.empty());
  CHECK(loaded.value().daemon.unsubscribe_secret.empty());

  // All three: the secret is the file less its trailing newline.
  dir.write("seqd.yaml", listen + "unsubscribe_url: \"https://acme.test/u/{token}\"\n" + secret);
  loaded = dir.load();
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  CHECK(loaded.value().daemon.http_listen == "127.0.0.1:8080");
  CHECK(loaded.value().daemon.unsubscribe_url == "https://acme.test/u/{token}");
  CHECK(loaded.value().daemon.unsubscribe_secret_file == key);
  CHECK(loaded.value().daemon.unsubscribe_secret == "0123456789abcdef0123456789abcdef");

  // A listener and a secret without a URL: old links keep working, new emails carry mailto:.
  dir.write("seqd.yaml", listen + secret);
  loaded = dir.load();
  REQUIRE(loaded.isOk());
  CHECK(loaded.value().daemon.unsubscribe_secret.size() == 32);

  dir.write("seqd.yaml", "http_listen: localhost\n");
  CHECK(dir.error() == file +
                           ":1:14: http_listen: expected host:port such as 127.0.0.1:9464, got "
                           "'localhost'");
  dir.write("seqd.yaml", "http_listen: 127.0.0.1:70000\n");
  CHECK(dir.error().rfind(file + ":1:14: http_listen: expected host:port", 0) == 0);

  dir.write("seqd.yaml", listen + secret + "unsubscribe_url: http://acme.test/u/{token}\n");
  CHECK(dir.error() == file +
                           ":3:18: unsubscribe_url: 'http://acme.test/u/{token}' must be an "
                           "https:// URL (RFC 8058 one-click unsubscribe needs HTTPS)");
  dir.write("seqd.yaml", listen + secret + "unsubscribe_url: https://acme.test/u/\n");
  CHECK(dir.error() == file +
                           ":3:18: unsubscribe_url: 'https://acme.test/u/' must contain {token} "
                           "once, where the token goes");
  dir.write("seqd.yaml", listen + secret + "unsubscribe_url: https://acme.test/{token}/{token}\n");
  CHECK(dir.error() == file +
                           ":3:18: unsubscribe_url: 'https://acme.test/{token}/{token}' must "
                           "contain {token} exactly once");
  dir.write("seqd.yaml", listen + secret + "unsubscribe_url: https://{token}.acme.test/u\n");
  CHECK(dir.error().rfind(file + ":3:18: unsubscribe_url: 'https://{token}.acme.test/u' must name "
                                 "a host, then a path holding {token}",
                          0) == 0);
  dir.write("seqd.yaml", listen + secret + "unsubscribe_url: \"https://acme.test/u /{token}\"\n");
  CHECK(dir.error().find("must be printable ASCII without spaces") != std::string::npos);
  dir.write("seqd.yaml", listen + secret + "unsubscribe_url: https://acme.test/" +
                             std::string(200, 'u') + "/{token}\n");
  CHECK(dir.error().find("unsubscribe_url: 'https://acme.test/uuu") != std::string::npos);
  CHECK(dir.error().find("bytes; at most 192 are allowed") != std::string::npos);

  // The URL needs a listener and a secret.
  dir.write("seqd.yaml", secret + "unsubscribe_url: https://acme.test/u/{token}\n");
  CHECK(dir.error() == file +
                           ":2:18: unsubscribe_url: needs http_listen: HOST:PORT for the links "
                           "to reach");
  dir.write("seqd.yaml", listen + "unsubscribe_url: https://acme.test/u/{token}\n");
  CHECK(dir.error() == file +
                           ":2:18: unsubscribe_url: needs unsubscribe_secret_file: the key links "
                           "are signed with");

  // The secret file: missing, too short (whitespace does not count), too long. The messages
  // name the file and never show what it holds.
  dir.write("seqd.yaml", listen + "unsubscribe_secret_file: " + dir.path("absent.key") + "\n");
  CHECK(dir.error() == file + ":2:26: unsubscribe_secret_file: cannot read " +
                           dir.path("absent.key") + ": No such file or directory");
  dir.write("unsubscribe.key", "short-secret   \n\n");
  dir.write("seqd.yaml", listen + secret);
  std::string error = dir.error();
  CHECK(error.rfind(file + ":2:26: unsubscribe_secret_file: " + key +
                        " holds 12 bytes; the secret needs at least 16",
                    0) == 0);
  CHECK(error.find("short-secret") == std::string::npos);
  dir.write("unsubscribe.key", std::string(5000, 'k'));
  CHECK(dir.error() == file + ":2:26: unsubscribe_secret_file: " + key +
                           " is larger than 4096 bytes; is it the right file?");
  dir.write("unsubscribe.key", std::string(16, 'k'));
  CHECK(dir.load().isOk());
}

TEST_CASE("mailboxes: transport, limits and addresses are checked") {
  ConfigDir dir;
  const std::string file = dir.path("seqd.yaml");
  dir.write("seqd.yaml", "mailboxes:\n  - address: a@x.test\n    transport: sendmail\n");
  CHECK(dir.error() == file +
                           ":3:16: mailbox 'a@x.test': transport: expected maildir, smtp or "
                           "discard, got 'sendmail'");
  dir.write("seqd.yaml", "mailboxes:\n  - address: a@x.test\n    daily_limit: -5\n");
  CHECK(dir.error() == file +
                           ":3:18: mailbox 'a@x.test': daily_limit: expected an integer "
                           "from 0 to 1000000000, got '-5'");
  dir.write("seqd.yaml", "mailboxes:\n  - address: a@x.test\n    hourly_limit: 1.5\n");
  CHECK(dir.error().find(":3:19: mailbox 'a@x.test': hourly_limit: expected an integer") !=
        std::string::npos);
  dir.write("seqd.yaml", "mailboxes:\n  - address: a@x.test\n    jitter: 2d\n");
  CHECK(dir.error() == file +
                           ":3:13: mailbox 'a@x.test': jitter: must be from 0s to 1d, "
                           "got '2d'");
  dir.write("seqd.yaml", "mailboxes:\n  - address: alice.acme.test\n");
  CHECK(dir.error() == file +
                           ":2:14: mailbox 'alice.acme.test': address: 'alice.acme.test' "
                           "must contain '@'");
  dir.write("seqd.yaml", "mailboxes:\n  - address: ../../etc@x.test/new\n");
  CHECK(dir.error().find("must not contain spaces") != std::string::npos);
  dir.write("seqd.yaml",
            "mailboxes:\n  - address: a@x.test\n  - {address: b@x.test}\n  - address: A@X.test\n");
  CHECK(dir.error() == file + ":4:14: mailbox 'A@X.test': address: 'A@X.test' is defined twice");
  dir.write("seqd.yaml", "mailboxes:\n  - name: Nobody\n");
  CHECK(dir.error() == file + ":2:5: mailbox 1: missing required key 'address'");
  dir.write("seqd.yaml", "mailboxes:\n  - address: a@x.test\n    limit: 5\n");
  CHECK(dir.error().rfind(file + ":3:5: unknown key 'limit' in mailbox 'a@x.test'", 0) == 0);
}

TEST_CASE("schedules: days, windows, time zones and holidays are checked") {
  ConfigDir dir;
  dir.write("seqd.yaml", "");
  const std::string file = dir.path("schedules.yaml");
  auto scheduleError = [&](const std::string& text) {
    dir.write("schedules.yaml", text);
    return dir.error();
  };
  const std::string head = "bh:\n  timezone: America/New_York\n  windows:\n";
  CHECK(scheduleError(head + "    mon-fro: [\"09:00-17:00\"]\n") ==
        file +
            ":4:5: schedule 'bh': bad day 'mon-fro' (expected sun, mon, tue, wed, thu, "
            "fri, sat or a range such as mon-fri)");
  CHECK(scheduleError(head + "    mon: [\"09:00-17:00\", \"9-17\"]\n") ==
        file +
            ":4:26: schedule 'bh': bad window '9-17' (expected HH:MM-HH:MM, e.g. "
            "09:00-17:00)");
  CHECK(scheduleError(head + "    mon: [\"09:00-09:00\"]\n") ==
        file +
            ":4:11: schedule 'bh': bad window '09:00-09:00': the start equals the end (use "
            "00:00-24:00 for a whole day)");
  CHECK(scheduleError(head + "    mon: [\"22:00-02:00\", \"23:00-23:30\"]\n") ==
        file + ":4:26: schedule 'bh': windows overlap on mon (22:00-02:00 and 23:00-23:30)");
  CHECK(scheduleError(head + "    mon: [\"24:00-24:00\"]\n") ==
        file + ":4:11: schedule 'bh': bad window '24:00-24:00': 24:00 can only end a window");
  CHECK(scheduleError(head + "    mon: [\"09:00-24:30\"]\n").find("bad window '09:00-24:30'") !=
        std::string::npos);
  CHECK(scheduleError(head + "    mon-fri: [\"09:00-12:00\"]\n    wed: [\"11:00-13:00\"]\n") ==
        file + ":5:11: schedule 'bh': windows overlap on wed (09:00-12:00 and 11:00-13:00)");
  CHECK(scheduleError(head + "    mon: []\n") ==
        file + ":3:3: schedule 'bh': windows: no open window on any day");
  CHECK(
      scheduleError("bh:\n  timezone: Mars/Olympus_Mons\n  windows: {mon: [\"09:00-17:00\"]}\n") ==
      file +
          ":2:13: schedule 'bh': timezone: unknown time zone 'Mars/Olympus_Mons' (expected "
          "an IANA name such as America/New_York)");
  CHECK(scheduleError("bh:\n  windows: {mon: [\"09:00-17:00\"]}\n") ==
        file + ":1:1: schedule 'bh': missing required key 'timezone'");
  CHECK(scheduleError(head + "    mon: [\"09:00-17:00\"]\n  holidays: [2026-02-30]\n") ==
        file + ":5:14: schedule 'bh': bad holiday '2026-02-30' (expected YYYY-MM-DD)");
  CHECK(scheduleError(head + "    mon: [\"09:00-17:00\"]\n  holiday: [2026-12-25]\n") ==
        file +
            ":5:3: unknown key 'holiday' in schedule 'bh' (expected one of timezone, "
            "windows, holidays)");
  CHECK(scheduleError(head + "    mon: [\"09:00-12:00\", \"12:00-24:00\"]\n") == "loaded");
}

TEST_CASE("schedules: a window whose end is before its start crosses midnight") {
  ConfigDir dir;
  dir.write("seqd.yaml", "");
  dir.write("schedules.yaml",
            "late:\n  timezone: Europe/Paris\n  windows:\n"
            "    fri: [\"22:00-02:00\", \"09:00-17:00\"]\n    sat: [\"00:00-01:00\"]\n");
  Result<Config> loaded = dir.load();
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  const Schedule& late = loaded.value().schedules.at("late");
  REQUIRE(late.windows[5].size() == 2);
  CHECK(late.windows[5][0].start_minute == 9 * 60);
  CHECK(late.windows[5][0].end_minute == 17 * 60);
  CHECK(late.windows[5][1].start_minute == 22 * 60);
  CHECK(late.windows[5][1].end_minute == 1560);  // 02:00 on Saturday
  REQUIRE(late.windows[6].size() == 1);          // Saturday's own window may overlap Friday's
  CHECK(late.windows[6][0].end_minute == 60);
}

TEST_CASE("sequence steps: types, waits, subjects, bodies and ids") {
  ConfigDir dir;
  const std::string file = dir.path("sequences/s1.yaml");
  CHECK(sequenceError(dir, kIntroStep) == "loaded");
  CHECK(sequenceError(dir, "  - id: bump\n    type: autoemail\n") ==
        file +
            ":7:11: step 'bump': unknown type 'autoemail' (expected one of auto_email, "
            "manual_email, call, linkedin, task)");
  CHECK(sequenceError(dir, kIntroStep + "  - {id: c, type: call, wait: 30s}\n") ==
        file +
            ":10:31: step 'c': wait: bad wait '30s' (expected an integer and a unit: m, h, "
            "d or bd)");
  CHECK(sequenceError(dir, kIntroStep + "  - {id: c, type: call, wait: bd}\n")
            .find("bad wait 'bd'") != std::string::npos);
  CHECK(sequenceError(dir, "  - id: intro\n    type: auto_email\n    body: Hello\n") ==
        file +
            ":6:5: step 'intro': missing required key 'subject' (only a 'thread: previous' "
            "step may leave it out)");
  CHECK(sequenceError(dir, "  - id: intro\n    type: auto_email\n    subject: Hi\n") ==
        file + ":6:5: step 'intro': missing required key 'body'");
  CHECK(sequenceError(dir,
                      "  - id: intro\n    type: manual_email\n    subject: \"\"\n"
                      "    body: Hi\n") ==
        file + ":8:14: step 'intro': subject: must not be empty");
  CHECK(sequenceError(dir, "  - type: task\n") == file + ":6:5: step 1: missing required key 'id'");
  CHECK(sequenceError(dir, "  - {id: t, type: task, subject: Hi}\n") ==
        file + ":6:25: step 't': 'subject' is only for email steps (this step's type is task)");
  CHECK(sequenceError(dir, kIntroStep + "  - {id: intro, type: task}\n") ==
        file + ":10:10: step 'intro': step id 'intro' is used twice");
  CHECK(sequenceError(dir, "  - {id: \"a b\", type: task}\n") ==
        file + ":6:10: step 'a b': id: bad id 'a b' (use 1 to 64 letters, digits, '-' and '_')");
  CHECK(sequenceError(dir, "") == file + ":5:1: steps: list at least one step");
}

// An enrollment keeps its step's position in a byte (engine/enrollment.hpp): a sequence file
// holds at most kStepsMax steps, and the next one is refused where the list is.
TEST_CASE("a sequence has at most kStepsMax steps") {
  static_assert(kStepsMax <= kSequenceStepsMax);
  ConfigDir dir;
  std::string steps;
  for (std::size_t i = 0; i < kStepsMax; ++i) {
    steps += "  - {id: t" + std::to_string(i) + ", type: task}\n";
  }
  CHECK(sequenceError(dir, steps) == "loaded");
  steps += "  - {id: one-more, type: task}\n";
  CHECK(sequenceError(dir, steps) == dir.path("sequences/s1.yaml") + ":6:3: steps: more than " +
                                         std::to_string(kStepsMax) + " items");
}

TEST_CASE("thread: previous needs an earlier email step and may leave the subject out") {
  ConfigDir dir;
  const std::string file = dir.path("sequences/s1.yaml");
  const std::string bump =
      "  - id: bump\n    type: auto_email\n    thread: previous\n"
      "    body: Bumping\n";
  CHECK(sequenceError(dir, kIntroStep + bump) == "loaded");
  CHECK(sequenceError(dir, "  - {id: c, type: call}\n" + bump) ==
        file + ":9:13: step 'bump': 'thread: previous' needs an earlier email step");
  CHECK(sequenceError(dir, kIntroStep + "  - id: bump\n    type: auto_email\n"
                                        "    thread: next\n    body: Bumping\n") ==
        file + ":12:13: step 'bump': thread: expected 'previous', got 'next'");
}

TEST_CASE("variants: positive weights summing to 100 with unique ids") {
  ConfigDir dir;
  const std::string file = dir.path("sequences/s1.yaml");
  CHECK(sequenceError(dir, kIntroStep + "    variants:\n      - {id: a, weight: 60}\n"
                                        "      - {id: b, weight: 30}\n") ==
        file + ":11:7: step 'intro': variant weights sum to 90, expected 100");
  CHECK(sequenceError(dir, kIntroStep + "    variants:\n      - {id: a, weight: 100}\n"
                                        "      - {id: b, weight: 0}\n") ==
        file +
            ":12:25: variant 'b' of step 'intro': weight: expected an integer from 1 to "
            "100, got '0'");
  CHECK(sequenceError(dir, kIntroStep + "    variants:\n      - {id: a, weight: 50}\n"
                                        "      - {id: a, weight: 50}\n") ==
        file + ":12:14: variant 'a' of step 'intro': variant id 'a' is used twice");
  CHECK(sequenceError(dir, kIntroStep + "    variants:\n      - {weight: 100}\n") ==
        file + ":11:9: variant 1 of step 'intro': missing required key 'id'");
  CHECK(sequenceError(dir, kIntroStep + "    variants:\n      - {id: a, weight: 100, "
                                        "subject: \"{{company\"}\n") ==
        file + ":11:39: variant 'a' of step 'intro': subject: template: unclosed '{{' at offset 0");
}

TEST_CASE("templates: every {{ is closed and names a variable") {
  ConfigDir dir;
  CHECK(sequenceError(dir,
                      "  - id: intro\n    type: auto_email\n    subject: Hi\n"
                      "    body: \"Hi {{ }} there\"\n") ==
        dir.path("sequences/s1.yaml") +
            ":9:11: step 'intro': body: template: empty variable name at offset 3");
}

TEST_CASE("sequence references: schedule, mailboxes, id and file name") {
  ConfigDir dir;
  dir.writeBase();
  const std::string file = dir.path("sequences/s1.yaml");
  auto error = [&](const std::string& text) {
    dir.write("sequences/s1.yaml", text);
    return dir.error();
  };
  const std::string steps = "steps:\n" + kIntroStep;
  CHECK(error("id: s2\nowner: alice\nschedule: business-hours\nmailboxes: [alice@acme.test]\n" +
              steps) == file + ":1:5: id: 's2' does not match the file name (expected id 's1')");
  CHECK(
      error("id: s1\nowner: alice\nschedule: biz-hours\nmailboxes: [alice@acme.test]\n" + steps) ==
      file + ":3:11: schedule: 'biz-hours' is not a schedule in " + dir.path("schedules.yaml"));
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\n"
              "mailboxes: [alice@acme.test, carol@acme.test]\n" +
              steps) ==
        file + ":4:30: mailboxes: 'carol@acme.test' is not a mailbox in " + dir.path("seqd.yaml"));
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\n"
              "mailboxes: [alice@acme.test, ALICE@acme.test]\n" +
              steps) == file + ":4:30: mailboxes: 'ALICE@acme.test' is listed twice");
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\nmailboxes: []\n" + steps) ==
        file + ":4:12: mailboxes: list at least one mailbox");
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\n" + steps) ==
        file + ":1:1: missing required key 'mailboxes'");
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\nmailboxes: [alice@acme.test]\n"
              "timezone: local\n" +
              steps) == file + ":5:11: timezone: expected contact or schedule, got 'local'");
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\nmailboxes: [alice@acme.test]\n"
              "rules: {finish_on: [replied]}\n" +
              steps) ==
        file +
            ":5:21: rules: finish_on: unknown event 'replied' (expected one of reply, "
            "meeting_booked, unsubscribe)");
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\nmailboxes: [alice@acme.test]\n"
              "rules: {pause_on_ooo: maybe}\n" +
              steps) == file + ":5:23: rules: pause_on_ooo: expected true or false, got 'maybe'");
  CHECK(error("id: s1\nowner: alice\nschedule: business-hours\nmailboxes: [alice@acme.test]\n"
              "workflows: [{min_score: 101, from_list: x}]\n" +
              steps) ==
        file + ":5:25: workflow 1: min_score: expected an integer from 0 to 100, got '101'");
  CHECK(error("") == file + ":1:1: the sequence file is empty");
}

TEST_CASE("an empty rules.finish_on finishes on no event") {
  ConfigDir dir;
  dir.writeBase();
  dir.write("sequences/s1.yaml", "rules: {finish_on: []}\n" + kSequenceHead + kIntroStep);
  Result<Config> loaded = dir.load();
  REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  CHECK(loaded.value().sequences.at("s1").rules.finish_on.empty());
}

TEST_CASE("unreadable schedules.yaml or sequence file is an error, not 'none'") {
  ConfigDir dir;
  dir.writeBase();
  fs::remove(dir.path("schedules.yaml"));
  fs::create_directories(dir.path("schedules.yaml"));  // a folder cannot be read as a file
  Result<Config> loaded = dir.load();
  REQUIRE_FALSE(loaded.isOk());
  CHECK(loaded.status().code() == StatusCode::kIOError);
  CHECK(loaded.status().message().rfind(dir.path("schedules.yaml") + ": cannot read", 0) == 0);
}

TEST_CASE("a lone comma, which sends yaml-cpp 0.7's LoadAll into an endless loop, is an error") {
  // Regression: a damaged sequence file starting with "," ate all memory (yaml-cpp #1040).
  const std::pair<const char*, const char*> cases[] = {
      {",", ":1:1: YAML syntax error: unexpected ','"},
      {",d: q4-vp-eng\n", ":1:1: YAML syntax error: unexpected ','"},
      {"id: x\n---\n,\n", ":2:1: expected one YAML document, found more"}};
  for (const auto& [text, message] : cases) {
    CAPTURE(text);
    ConfigDir dir;
    dir.writeBase();
    dir.write("sequences/s1.yaml", text);
    CHECK(dir.error() == dir.path("sequences/s1.yaml") + message);
  }
}

TEST_CASE("randomly damaged sequence files fail with a positioned message, never a throw") {
  const std::uint64_t seed = testSeed();
  INFO("SEQD_SEED=" << seed);
  std::mt19937_64 random(seed);
  constexpr int kRoundsMax = 300;
  const std::string alphabet = " \n:-[]{}&*!|>'\"#@,?%0123456789abcdXYZ";
  ConfigDir dir;
  dir.write("seqd.yaml", kFullSeqd);
  dir.write("schedules.yaml", kFullSchedules);
  const std::regex positioned(".*sequences/q4-vp-eng\\.yaml:[0-9]+:[0-9]+: .+");
  for (int round = 0; round < kRoundsMax; ++round) {
    std::string text = kFullSequence;
    int edits = 1 + static_cast<int>(random() % 4);
    for (int edit = 0; edit < edits; ++edit) {
      std::size_t at = random() % text.size();
      char byte = alphabet[random() % alphabet.size()];
      if (random() % 2 == 0) {
        text[at] = byte;
      } else {
        text.insert(at, 1, byte);
      }
    }
    dir.write("sequences/q4-vp-eng.yaml", text);
    Result<Config> loaded = Result<Config>(Status::invalidArgument("unset"));
    CHECK_NOTHROW(loaded = dir.load());
    if (!loaded.isOk()) {
      INFO("round " << round << ": " << loaded.status().message() << "\n" << text);
      CHECK(std::regex_match(loaded.status().message(), positioned));
    }
  }
}

TEST_CASE("a mailbox's inbox and inbox_poll are read, and a bad inbox is an error where it is") {
  ConfigDir dir;
  dir.write("seqd.yaml",
            "inbox_poll: 30s\n"
            "mailboxes:\n"
            "  - address: alice@acme.test\n"
            "    inbox: {maildir: /var/mail/alice}\n"
            "  - address: bob@acme.test\n");
  Result<Config> config = dir.load();
  REQUIRE(config.isOk());
  CHECK(config.value().daemon.inbox_poll_ms == 30 * kSecondMs);
  REQUIRE(config.value().daemon.inboxes.size() == 1);
  CHECK(config.value().daemon.inboxes[0].mailbox == "alice@acme.test");
  CHECK(config.value().daemon.inboxes[0].maildir == "/var/mail/alice");

  dir.write("seqd.yaml",
            "mailboxes:\n"
            "  - address: alice@acme.test\n"
            "    inbox: {maildir: /a, imap: {url: imaps://x/INBOX}}\n");
  CHECK(dir.error() == dir.path("seqd.yaml") +
                           ":3:5: mailbox 'alice@acme.test': inbox: expected exactly one of "
                           "maildir or imap");
  dir.write("seqd.yaml",
            "mailboxes:\n"
            "  - address: alice@acme.test\n"
            "    inbox: {mbox: /a}\n");
  CHECK(dir.error() == dir.path("seqd.yaml") +
                           ":3:13: unknown key 'mbox' in mailbox 'alice@acme.test': inbox "
                           "(expected one of maildir, imap)");
  dir.write("seqd.yaml", "inbox_poll: 0s\n");
  CHECK(dir.error().find(":1:13:") != std::string::npos);
}

TEST_CASE("a missing schedules.yaml is reported as a missing file with its path") {
  // Regression: it read "'business-hours' is not a schedule in .../schedules.yaml".
  ConfigDir dir;
  dir.writeBase();
  dir.write("sequences/s1.yaml", kSequenceHead + kIntroStep);
  fs::remove(dir.path("schedules.yaml"));
  Result<Config> loaded = dir.load();
  REQUIRE_FALSE(loaded.isOk());
  CHECK(loaded.status().message().find("schedule 'business-hours': the schedules file " +
                                       dir.path("schedules.yaml") + " does not exist") !=
        std::string::npos);
}
