// Fuzz target: the YAML loaders (config/): the daemon config, schedules.yaml and a sequence
// file. The input is three texts separated by 0x1e: seqd.yaml, schedules.yaml and
// sequences/q4-vp-eng.yaml. They are written to a private temporary folder and loaded with
// loadConfig, as seqd does at start; the schedules and the sequence are also read straight
// from memory (parseYamlText, readSchedules, readSequence against a fixed config with the
// mailboxes and schedule the example sequence names), where no yaml-cpp exception may escape.
// Checked: every error starts "path:line:col: " or "path: "; a loaded config holds at most
// the capped numbers of things.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "config/schedule_yaml.hpp"
#include "config/sequence_yaml.hpp"
#include "config/yaml_walk.hpp"
#include "fuzz_input.hpp"

using namespace seqd;
namespace fs = std::filesystem;

namespace {

const char* const kSequenceId = "q4-vp-eng";

// A folder of this process's own, removed at exit.
const fs::path& workDir() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "seqd-fuzz-yaml-XXXXXX").string();
    FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
    fs::create_directory(fs::path(pattern) / "sequences");
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(workDir(), ignored);
    });
    return fs::path(pattern);
  }();
  return dir;
}

void writeFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  FUZZ_CHECK(out.good());
}

// Whether message starts with path and a position or a colon.
bool namesFile(const std::string& message, const std::string& path) {
  return message.rfind(path + ":", 0) == 0;
}

const Config& baseConfig() {
  static const Config config = [] {
    Config base;
    for (const char* address : {"alice@acme.test", "alice2@acme.test"}) {
      Mailbox mailbox;
      mailbox.address = address;
      mailbox.owner = "alice";
      base.daemon.mailboxes.push_back(mailbox);
    }
    Result<YamlFile> file =
        parseYamlText("schedules.yaml",
                      "business-hours:\n  timezone: America/New_York\n  windows:\n    mon-fri: "
                      "[\"09:00-12:00\", \"13:00-17:00\"]\n");
    FUZZ_CHECK(file.isOk());
    Result<std::map<std::string, Schedule>> schedules = readSchedules(file.value());
    FUZZ_CHECK(schedules.isOk());
    base.schedules = schedules.value();
    return base;
  }();
  return config;
}

void loadFromFiles(const std::string& daemon, const std::string& schedules,
                   const std::string& sequence) {
  const fs::path& dir = workDir();
  writeFile(dir / "seqd.yaml", daemon);
  writeFile(dir / "schedules.yaml", schedules);
  writeFile(dir / "sequences" / (std::string(kSequenceId) + ".yaml"), sequence);
  Result<Config> config = loadConfig((dir / "seqd.yaml").string(), ConfigDefaults::kDev);
  if (!config.isOk()) {
    FUZZ_CHECK(config.status().message().rfind(dir.string() + "/", 0) == 0);
    return;
  }
  FUZZ_CHECK(config.value().daemon.mailboxes.size() <= kMailboxesMax);
  FUZZ_CHECK(config.value().schedules.size() <= kSchedulesMax);
  for (const auto& [id, loaded] : config.value().sequences) {
    FUZZ_CHECK(id == kSequenceId);
    FUZZ_CHECK(loaded.steps.size() <= kStepsMax);
  }
}

void readFromMemory(const std::string& schedules, const std::string& sequence) {
  Result<YamlFile> schedules_file = parseYamlText("schedules.yaml", schedules);
  if (schedules_file.isOk()) {
    Result<std::map<std::string, Schedule>> read = readSchedules(schedules_file.value());
    if (!read.isOk()) FUZZ_CHECK(namesFile(read.status().message(), "schedules.yaml"));
  } else {
    FUZZ_CHECK(namesFile(schedules_file.status().message(), "schedules.yaml"));
  }
  Result<YamlFile> sequence_file = parseYamlText("s.yaml", sequence);
  if (!sequence_file.isOk()) {
    FUZZ_CHECK(namesFile(sequence_file.status().message(), "s.yaml"));
    return;
  }
  Result<SequenceFile> read =
      readSequence(sequence_file.value(), kSequenceId, baseConfig(), "schedules.yaml");
  if (!read.isOk()) {
    const std::string& message = read.status().message();
    FUZZ_CHECK(namesFile(message, "s.yaml") || namesFile(message, "schedules.yaml"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> texts = fuzz::splitInput(fuzz::asText(data, size), 3);
  readFromMemory(texts[1], texts[2]);
  loadFromFiles(texts[0], texts[1], texts[2]);
  return 0;
}
