#include "config/sequence_yaml.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <utility>

#include "engine/contact_query.hpp"
#include "engine/team_records.hpp"
#include "engine/template.hpp"

namespace seqd {
namespace {

constexpr std::string_view kSequenceKeys[] = {"id",        "name",  "owner", "schedule", "timezone",
                                              "mailboxes", "rules", "steps", "workflows"};
constexpr std::string_view kRulesKeys[] = {"block_stages", "finish_on", "pause_on_ooo"};
constexpr std::string_view kStepKeys[] = {"id",   "type", "wait",   "subject",
                                          "body", "note", "thread", "variants"};
constexpr std::string_view kVariantKeys[] = {"id", "weight", "subject", "body"};
constexpr std::string_view kWorkflowKeys[] = {"from_list", "min_score", "where", "every"};
constexpr std::string_view kFinishEvents[] = {"reply", "meeting_booked", "unsubscribe"};
constexpr std::array<StepType, 5> kStepTypes = {StepType::kAutoEmail, StepType::kManualEmail,
                                                StepType::kCall, StepType::kLinkedin,
                                                StepType::kTask};
constexpr std::size_t kSequenceMailboxesMax = 100;
constexpr std::size_t kStagesMax = 100;
constexpr std::size_t kVariantsMax = 100;
constexpr std::int64_t kVariantWeightTotal = 100;
constexpr std::int64_t kStepWaitDaysMax = 3650;
constexpr DurationMs kWorkflowEveryMin = kSecondMs;
constexpr DurationMs kWorkflowEveryMax = 365 * kDayMs;

bool isEmailStep(StepType type) {
  return type == StepType::kAutoEmail || type == StepType::kManualEmail;
}

// A label naming a list item by its id when it has one: "step 'bump'", else "step 3".
std::string itemLabel(const char* kind, const YAML::Node& node, std::size_t index) {
  std::string id = peekScalar(node, "id");
  if (id.empty()) return std::string(kind) + " " + std::to_string(index + 1);
  return std::string(kind) + " " + quoteForMessage(id);
}

std::string readId(YamlReader& reader, const YamlEntry& entry, const std::string& label) {
  std::string id = reader.nonEmptyText(entry, label);
  if (!reader.failed() && !isValidId(id)) {
    reader.failValue(entry, label,
                     "bad id " + quoteForMessage(id) + " (use 1 to " + std::to_string(kIdBytesMax) +
                         " letters, digits, '-' and '_')");
  }
  return id;
}

// Text that will be rendered as a template: size-capped and syntax-checked.
std::string readTemplate(YamlReader& reader, const YamlEntry& entry, const std::string& label) {
  std::string text = reader.text(entry, label);
  if (reader.failed()) return text;
  if (text.size() > kTemplateBytesMax) {
    reader.failValue(entry, label, "longer than " + std::to_string(kTemplateBytesMax) + " bytes");
    return text;
  }
  Status syntax = checkTemplate(text);
  if (!syntax.isOk()) reader.failValue(entry, label, syntax.message());
  return text;
}

void failMissing(YamlReader& reader, const YAML::Node& node, const std::string& label,
                 std::string_view key, const std::string& why = "") {
  std::string what = "missing required key '" + std::string(key) + "'" + why;
  reader.fail(node, label.empty() ? what : label + ": " + what);
}

SequenceRules readRules(YamlReader& reader, const YamlEntry& entry) {
  SequenceRules rules;
  rules.finish_on.assign(std::begin(kFinishEvents), std::end(kFinishEvents));
  for (const YamlEntry& field : reader.entries(entry.value, kRulesKeys, "rules")) {
    if (field.key == "block_stages") {
      for (const YamlText& stage : reader.texts(field, "rules", kStagesMax)) {
        rules.block_stages.push_back(stage.text);
      }
    } else if (field.key == "finish_on") {
      rules.finish_on.clear();
      for (const YamlText& event : reader.texts(field, "rules", std::size(kFinishEvents) * 4)) {
        if (std::find(std::begin(kFinishEvents), std::end(kFinishEvents), event.text) ==
            std::end(kFinishEvents)) {
          reader.fail(event.node, "rules: finish_on: unknown event " + quoteForMessage(event.text) +
                                      " (expected one of reply, meeting_booked, unsubscribe)");
        } else if (std::find(rules.finish_on.begin(), rules.finish_on.end(), event.text) ==
                   rules.finish_on.end()) {
          rules.finish_on.push_back(event.text);
        }
      }
    } else if (field.key == "pause_on_ooo") {
      rules.pause_on_ooo = reader.boolean(field, "rules");
    }
  }
  return rules;
}

StepType readStepType(YamlReader& reader, const YamlEntry& entry, const std::string& label) {
  std::string name = reader.nonEmptyText(entry, label);
  for (StepType type : kStepTypes) {
    if (name == stepTypeName(type)) return type;
  }
  if (!reader.failed()) {
    reader.fail(entry, label + ": unknown type " + quoteForMessage(name) +
                           " (expected one of auto_email, manual_email, call, linkedin, task)");
  }
  return StepType::kAutoEmail;
}

// "<n>m", "<n>h", "<n>d" or "<n>bd" (business days: wait_ms then holds the day count).
void readWait(YamlReader& reader, const YamlEntry& entry, const std::string& label, Step& step) {
  std::string text = reader.nonEmptyText(entry, label);
  if (reader.failed()) return;
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  std::string bad =
      "bad wait " + quoteForMessage(text) + " (expected an integer and a unit: m, h, d or bd)";
  if (digits == 0 || (unit != "m" && unit != "h" && unit != "d" && unit != "bd")) {
    reader.failValue(entry, label, bad);
    return;
  }
  if (unit == "bd") {
    step.wait_business_days = true;
    step.wait_ms = digits > 6 ? kStepWaitDaysMax + 1 : std::stoll(text.substr(0, digits));
  } else {
    Result<DurationMs> wait = parseDuration(text);
    step.wait_ms = wait.isOk() ? wait.value() : kStepWaitDaysMax * kDayMs + 1;
  }
  DurationMs limit = step.wait_business_days ? kStepWaitDaysMax : kStepWaitDaysMax * kDayMs;
  if (step.wait_ms > limit) {
    reader.failValue(entry, label,
                     "wait " + quoteForMessage(text) + " is longer than " +
                         std::to_string(kStepWaitDaysMax) + " days");
  }
}

Variant readVariant(YamlReader& reader, const YAML::Node& node, const std::string& label,
                    const std::vector<Variant>& earlier) {
  Variant variant;
  std::vector<YamlEntry> entries = reader.entries(node, kVariantKeys, label);
  for (const YamlEntry& field : entries) {
    if (field.key == "id") {
      variant.id = readId(reader, field, label);
      for (const Variant& other : earlier) {
        if (!reader.failed() && other.id == variant.id) {
          reader.fail(field,
                      label + ": variant id " + quoteForMessage(variant.id) + " is used twice");
        }
      }
    } else if (field.key == "weight") {
      variant.weight = static_cast<int>(reader.integer(field, label, 1, kVariantWeightTotal));
    } else if (field.key == "subject") {
      variant.subject = readTemplate(reader, field, label);
    } else if (field.key == "body") {
      variant.body = readTemplate(reader, field, label);
    }
  }
  for (std::string_view required : {"id", "weight"}) {
    if (!reader.failed() && findEntry(entries, required) == nullptr) {
      failMissing(reader, node, label, required);
    }
  }
  return variant;
}

std::vector<Variant> readVariants(YamlReader& reader, const YamlEntry& entry,
                                  const std::string& step_label) {
  std::vector<Variant> variants;
  std::vector<YAML::Node> items = reader.items(entry, step_label, kVariantsMax);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < items.size() && !reader.failed(); ++i) {
    std::string label = itemLabel("variant", items[i], i) + " of " + step_label;
    variants.push_back(readVariant(reader, items[i], label, variants));
    total += variants.back().weight;
  }
  if (!reader.failed() && !variants.empty() && total != kVariantWeightTotal) {
    reader.fail(entry, step_label + ": variant weights sum to " + std::to_string(total) +
                           ", expected " + std::to_string(kVariantWeightTotal));
  }
  return variants;
}

// The checks that depend on the step's type, after all its keys are read.
void checkStepShape(YamlReader& reader, const YAML::Node& node,
                    const std::vector<YamlEntry>& entries, const std::string& label,
                    const Step& step, bool earlier_email) {
  for (std::string_view required : {"id", "type"}) {
    if (!reader.failed() && findEntry(entries, required) == nullptr) {
      failMissing(reader, node, label, required);
    }
  }
  if (reader.failed()) return;
  if (!isEmailStep(step.type)) {
    for (std::string_view email_only : {"subject", "body", "thread", "variants"}) {
      if (const YamlEntry* entry = findEntry(entries, email_only)) {
        reader.fail(entry->key_node, label + ": '" + entry->key +
                                         "' is only for email steps (this step's type is " +
                                         stepTypeName(step.type) + ")");
        return;
      }
    }
    return;
  }
  const YamlEntry* subject = findEntry(entries, "subject");
  const YamlEntry* body = findEntry(entries, "body");
  if (body == nullptr) return failMissing(reader, node, label, "body");
  if (step.body.empty()) return reader.failValue(*body, label, "must not be empty");
  if (step.thread_previous) {
    if (!earlier_email) {
      reader.fail(*findEntry(entries, "thread"),
                  label + ": 'thread: previous' needs an earlier email step");
    }
    return;
  }
  if (subject == nullptr) {
    return failMissing(reader, node, label, "subject",
                       " (only a 'thread: previous' step may leave it out)");
  }
  if (step.subject.empty()) reader.failValue(*subject, label, "must not be empty");
}

Step readStep(YamlReader& reader, const YAML::Node& node, std::size_t index,
              const std::vector<Step>& earlier) {
  Step step;
  std::string label = itemLabel("step", node, index);
  if (node.IsNull()) reader.fail(node, label + ": expected a map, got nothing");
  std::vector<YamlEntry> entries = reader.entries(node, kStepKeys, label);
  for (const YamlEntry& field : entries) {
    if (field.key == "id") {
      step.id = readId(reader, field, label);
      for (const Step& other : earlier) {
        if (!reader.failed() && other.id == step.id) {
          reader.fail(field, label + ": step id " + quoteForMessage(step.id) + " is used twice");
        }
      }
    } else if (field.key == "type") {
      step.type = readStepType(reader, field, label);
    } else if (field.key == "wait") {
      readWait(reader, field, label, step);
    } else if (field.key == "subject") {
      step.subject = readTemplate(reader, field, label);
    } else if (field.key == "body") {
      step.body = readTemplate(reader, field, label);
    } else if (field.key == "note") {
      step.note = readTemplate(reader, field, label);
    } else if (field.key == "thread") {
      std::string thread = reader.text(field, label);
      if (!reader.failed() && thread != "previous") {
        reader.failValue(field, label, "expected 'previous', got " + describeNode(field.value));
      }
      step.thread_previous = true;
    } else if (field.key == "variants") {
      step.variants = readVariants(reader, field, label);
    }
  }
  bool earlier_email = std::any_of(earlier.begin(), earlier.end(),
                                   [](const Step& other) { return isEmailStep(other.type); });
  checkStepShape(reader, node, entries, label, step, earlier_email);
  return step;
}

std::vector<Step> readSteps(YamlReader& reader, const YamlEntry& entry) {
  std::vector<Step> steps;
  std::vector<YAML::Node> items = reader.items(entry, "", kStepsMax);
  for (std::size_t i = 0; i < items.size() && !reader.failed(); ++i) {
    steps.push_back(readStep(reader, items[i], i, steps));
  }
  if (!reader.failed() && steps.empty()) reader.fail(entry, "steps: list at least one step");
  return steps;
}

std::vector<std::string> readMailboxRefs(YamlReader& reader, const YamlEntry& entry,
                                         const Config& config) {
  std::vector<std::string> addresses;
  for (const YamlText& item : reader.texts(entry, "", kSequenceMailboxesMax)) {
    const Mailbox* mailbox = config.findMailbox(item.text);
    if (mailbox == nullptr) {
      reader.fail(item.node, "mailboxes: " + quoteForMessage(item.text) + " is not a mailbox in " +
                                 config.config_path);
      return addresses;
    }
    if (std::find(addresses.begin(), addresses.end(), mailbox->address) != addresses.end()) {
      reader.fail(item.node, "mailboxes: " + quoteForMessage(item.text) + " is listed twice");
      return addresses;
    }
    addresses.push_back(mailbox->address);
  }
  if (!reader.failed() && addresses.empty()) {
    reader.fail(entry, "mailboxes: list at least one mailbox");
  }
  return addresses;
}

std::vector<Workflow> readWorkflows(YamlReader& reader, const YamlEntry& entry) {
  std::vector<Workflow> workflows;
  std::vector<YAML::Node> items = reader.items(entry, "", kWorkflowsMax);
  for (std::size_t i = 0; i < items.size() && !reader.failed(); ++i) {
    std::string label = "workflow " + std::to_string(i + 1);
    Workflow workflow;
    std::vector<YamlEntry> entries = reader.entries(items[i], kWorkflowKeys, label);
    for (const YamlEntry& field : entries) {
      if (field.key == "from_list") {
        workflow.from_list = reader.nonEmptyText(field, label);
        const std::string problem = listNameProblem(workflow.from_list);
        if (!reader.failed() && !problem.empty()) reader.failValue(field, label, problem);
        const std::string position = yamlPosition(reader.path(), field.value.Mark());
        workflow.location = position.substr(0, position.size() - 2);  // without ": "
      }
      if (field.key == "where") {
        workflow.where = reader.nonEmptyText(field, label);
        Result<ContactQuery> query = ContactQuery::parse(workflow.where);
        if (!reader.failed() && !query.isOk()) {
          std::string problem = query.status().message();  // "where: position N: ..."
          if (problem.rfind("where: ", 0) == 0) problem.erase(0, 7);
          reader.failValue(field, label, problem);
        }
      }
      if (field.key == "min_score") {
        workflow.min_score = static_cast<int>(reader.integer(field, label, 0, 100));
      }
      if (field.key == "every") {
        workflow.every_ms = reader.duration(field, label, kWorkflowEveryMin, kWorkflowEveryMax);
      }
    }
    if (!reader.failed() && findEntry(entries, "from_list") == nullptr) {
      failMissing(reader, items[i], label, "from_list");
    }
    for (std::size_t j = 0; j < i && !reader.failed(); ++j) {
      if (workflows[j].from_list == workflow.from_list) {
        reader.fail(items[i], label + ": a second workflow from list '" + workflow.from_list +
                                  "' (one per list)");
      }
    }
    workflows.push_back(workflow);
  }
  return workflows;
}

void readScheduleRef(YamlReader& reader, const YamlEntry& entry, const Config& config,
                     const std::string& schedules_path, Sequence& sequence) {
  sequence.schedule = reader.nonEmptyText(entry, "");
  if (!reader.failed() && config.schedules.count(sequence.schedule) == 0) {
    reader.failValue(
        entry, "", quoteForMessage(sequence.schedule) + " is not a schedule in " + schedules_path);
  }
}

void readTimezoneChoice(YamlReader& reader, const YamlEntry& entry, Sequence& sequence) {
  std::string choice = reader.nonEmptyText(entry, "");
  if (reader.failed()) return;
  if (choice != "contact" && choice != "schedule") {
    reader.failValue(entry, "", "expected contact or schedule, got " + quoteForMessage(choice));
  }
  sequence.timezone_from_contact = choice == "contact";
}

void checkSequenceId(YamlReader& reader, const YamlEntry& entry, const std::string& expected_id,
                     Sequence& sequence) {
  sequence.id = readId(reader, entry, "");
  if (!reader.failed() && sequence.id != expected_id) {
    reader.failValue(entry, "",
                     quoteForMessage(sequence.id) + " does not match the file name (expected id " +
                         quoteForMessage(expected_id) + ")");
  }
}

}  // namespace

bool isValidId(std::string_view id) {
  if (id.empty() || id.size() > kIdBytesMax) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Result<SequenceFile> readSequence(const YamlFile& file, const std::string& expected_id,
                                  const Config& config, const std::string& schedules_path) {
  YamlReader reader(file.path);
  SequenceFile result;
  Sequence& sequence = result.sequence;
  sequence.source_path = file.path;
  sequence.rules.finish_on.assign(std::begin(kFinishEvents), std::end(kFinishEvents));
  if (file.root.IsNull()) reader.fail(file.root, "the sequence file is empty");
  std::vector<YamlEntry> entries = reader.entries(file.root, kSequenceKeys, "");
  for (const YamlEntry& field : entries) {
    if (field.key == "id") checkSequenceId(reader, field, expected_id, sequence);
    if (field.key == "name") sequence.name = reader.nonEmptyText(field, "");
    if (field.key == "owner") sequence.owner = reader.nonEmptyText(field, "");
    if (field.key == "schedule") readScheduleRef(reader, field, config, schedules_path, sequence);
    if (field.key == "timezone") readTimezoneChoice(reader, field, sequence);
    if (field.key == "mailboxes") sequence.mailboxes = readMailboxRefs(reader, field, config);
    if (field.key == "rules") sequence.rules = readRules(reader, field);
    if (field.key == "steps") sequence.steps = readSteps(reader, field);
    if (field.key == "workflows") result.workflows = readWorkflows(reader, field);
  }
  for (std::string_view required : {"id", "owner", "schedule", "mailboxes", "steps"}) {
    if (!reader.failed() && findEntry(entries, required) == nullptr) {
      failMissing(reader, file.root, "", required);
    }
  }
  if (reader.failed()) return reader.status();
  if (sequence.name.empty()) sequence.name = sequence.id;
  return result;
}

}  // namespace seqd
