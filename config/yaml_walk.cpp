#include "config/yaml_walk.hpp"

#include <yaml-cpp/eventhandler.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <vector>

#include "config/config.hpp"

namespace seqd {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;
constexpr std::size_t kQuotedBytesMax = 60;

Status parseError(const std::string& path, const YAML::Mark& mark, const std::string& what) {
  return Status::invalidArgument(yamlPosition(path, mark) + what);
}

// Sees the documents of a stream without building them: where each one starts.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> marks;
};

// The marks of the stream's first documents, at most kDocumentsSeenMax of them. Bounded on
// purpose: yaml-cpp 0.7's own loop over documents (YAML::LoadAll) never ends on input such
// as a lone "," and allocates until the process is killed (yaml-cpp issue #1040, fixed
// upstream in 0.8.0 by PR #1319); Debian 12 ships 0.7.
std::vector<YAML::Mark> firstDocuments(const std::string& text) {
  constexpr int kDocumentsSeenMax = 2;
  std::istringstream input(text);
  YAML::Parser parser(input);
  DocumentCounter counter;
  for (int i = 0; i < kDocumentsSeenMax && parser.HandleNextDocument(counter); ++i) {
  }
  return counter.marks;
}

// Counts every node as often as it is reached (aliases included) and limits the nesting.
// Recursion depth is bounded by kYamlDepthMax + 1.
Status checkBounds(const std::string& path, const YAML::Node& node, int depth, int& nodes) {
  if (++nodes > kYamlNodesMax) {
    return parseError(path, node.Mark(),
                      "the YAML tree has more than " + std::to_string(kYamlNodesMax) +
                          " nodes once aliases are expanded");
  }
  if (depth > kYamlDepthMax) {
    return parseError(path, node.Mark(),
                      "YAML nesting is deeper than " + std::to_string(kYamlDepthMax) + " levels");
  }
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      Status status = checkBounds(path, it->first, depth + 1, nodes);
      if (!status.isOk()) return status;
      status = checkBounds(path, it->second, depth + 1, nodes);
      if (!status.isOk()) return status;
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      Status status = checkBounds(path, *it, depth + 1, nodes);
      if (!status.isOk()) return status;
    }
  }
  return Status::ok();
}

Status openError(const std::string& path, int error) {
  std::string what = path + ": cannot read config file: " + std::strerror(error);
  if (error == ENOENT) return Status::notFound(what);
  if (error == EACCES || error == EPERM) return Status::permissionDenied(what);
  return Status::ioError(what);
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

bool parseInt64(std::string_view text, std::int64_t& value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end;
}

std::string joined(std::span<const std::string_view> names) {
  std::string text;
  for (std::string_view name : names) {
    if (!text.empty()) text += ", ";
    text += name;
  }
  return text;
}

std::string prefixed(const std::string& label, const std::string& what) {
  return label.empty() ? what : label + ": " + what;
}

}  // namespace

std::string yamlPosition(const std::string& path, const YAML::Mark& mark) {
  int line = mark.is_null() || mark.line < 0 ? 1 : mark.line + 1;
  int column = mark.is_null() || mark.column < 0 ? 1 : mark.column + 1;
  return path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

Result<YamlFile> parseYamlText(const std::string& path, const std::string& text) {
  YAML::Node root;
  std::vector<YAML::Mark> documents;
  try {
    documents = firstDocuments(text);
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    return parseError(path, error.mark, "YAML syntax error: " + error.msg);
  } catch (const std::exception& error) {
    return Status::invalidArgument(path + ": cannot parse YAML: " + error.what());
  }
  if (documents.size() > 1) {
    const YAML::Mark& second = documents[1];
    std::size_t at = second.pos >= 0 ? static_cast<std::size_t>(second.pos) : text.size();
    if (text.compare(at, 3, "---") == 0 || at >= text.size()) {
      return parseError(path, second, "expected one YAML document, found more");
    }
    // yaml-cpp reads a stray flow indicator (",") outside [] or {} as a new document.
    return parseError(path, second,
                      "YAML syntax error: unexpected '" + std::string(1, text[at]) + "'");
  }
  YamlFile file{path, root};
  int nodes = 0;
  Status bounds = checkBounds(path, file.root, 1, nodes);
  if (!bounds.isOk()) return bounds;
  return file;
}

Result<YamlFile> loadYamlFile(const std::string& path) {
  errno = 0;
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return openError(path, errno);
  std::string text;
  char buffer[kReadChunkBytes];
  while (text.size() <= kConfigFileBytesMax) {
    std::size_t count = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, count);
    if (count < sizeof buffer) break;
  }
  if (std::ferror(file.get())) return openError(path, errno != 0 ? errno : EIO);
  if (text.size() > kConfigFileBytesMax) {
    return Status::invalidArgument(path + ": config file is larger than " +
                                   std::to_string(kConfigFileBytesMax) + " bytes");
  }
  return parseYamlText(path, text);
}

std::string quoteForMessage(std::string_view text) {
  std::string quoted = "'";
  for (std::size_t i = 0; i < text.size() && i < kQuotedBytesMax; ++i) {
    unsigned char byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      quoted += "\\n";
    } else if (byte < ' ' || byte == 0x7f) {
      quoted += '?';
    } else {
      quoted += text[i];
    }
  }
  return quoted + (text.size() > kQuotedBytesMax ? "...'" : "'");
}

std::string describeNode(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return quoteForMessage(node.Scalar());
  return "nothing";
}

std::string peekScalar(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return "";
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key && it->second.IsScalar()) {
      return it->second.Scalar();
    }
  }
  return "";
}

const YamlEntry* findEntry(const std::vector<YamlEntry>& entries, std::string_view key) {
  for (const YamlEntry& entry : entries) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

void YamlReader::fail(const YAML::Mark& mark, const std::string& what) {
  if (failed()) return;
  status_ = Status::invalidArgument(yamlPosition(path_, mark) + what);
}

void YamlReader::fail(const YamlEntry& entry, const std::string& what) {
  fail(entry.value.IsNull() ? entry.key_node.Mark() : entry.value.Mark(), what);
}

void YamlReader::failValue(const YamlEntry& entry, const std::string& label,
                           const std::string& problem) {
  fail(entry, prefixed(label, entry.key + ": " + problem));
}

std::vector<YamlEntry> YamlReader::entries(const YAML::Node& map, const std::string& label) {
  return entries(map, {}, label);
}

std::vector<YamlEntry> YamlReader::entries(const YAML::Node& map,
                                           std::span<const std::string_view> allowed,
                                           const std::string& label) {
  std::vector<YamlEntry> result;
  if (failed() || map.IsNull()) return result;
  if (!map.IsMap()) {
    fail(map, prefixed(label, "expected a map, got " + describeNode(map)));
    return result;
  }
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      fail(it->first, prefixed(label, "a key must be plain text, got " + describeNode(it->first)));
      return {};
    }
    std::string key = it->first.Scalar();
    bool known = allowed.empty();
    for (std::string_view name : allowed) known = known || name == key;
    std::string where = label.empty() ? "" : " in " + label;
    if (!known) {
      fail(it->first, "unknown key " + quoteForMessage(key) + where + " (expected one of " +
                          joined(allowed) + ")");
      return {};
    }
    if (const YamlEntry* earlier = findEntry(result, key)) {
      fail(it->first, "duplicate key " + quoteForMessage(key) + where + " (first at line " +
                          std::to_string(earlier->key_node.Mark().line + 1) + ")");
      return {};
    }
    result.push_back(YamlEntry{key, it->first, it->second});
  }
  return result;
}

std::vector<YAML::Node> YamlReader::items(const YamlEntry& entry, const std::string& label,
                                          std::size_t items_max) {
  std::vector<YAML::Node> result;
  if (failed() || entry.value.IsNull()) return result;
  if (!entry.value.IsSequence()) {
    failValue(entry, label, "expected a list, got " + describeNode(entry.value));
    return result;
  }
  if (entry.value.size() > items_max) {
    failValue(entry, label, "more than " + std::to_string(items_max) + " items");
    return result;
  }
  for (auto it = entry.value.begin(); it != entry.value.end(); ++it) result.push_back(*it);
  return result;
}

std::string YamlReader::text(const YamlEntry& entry, const std::string& label) {
  if (failed() || entry.value.IsNull()) return "";
  if (!entry.value.IsScalar()) {
    failValue(entry, label, "expected text, got " + describeNode(entry.value));
    return "";
  }
  return entry.value.Scalar();
}

std::string YamlReader::nonEmptyText(const YamlEntry& entry, const std::string& label) {
  std::string value = text(entry, label);
  if (!failed() && value.empty()) failValue(entry, label, "must not be empty");
  return value;
}

std::vector<YamlText> YamlReader::texts(const YamlEntry& entry, const std::string& label,
                                        std::size_t items_max) {
  std::vector<YamlText> result;
  for (const YAML::Node& item : items(entry, label, items_max)) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      fail(item.IsNull() ? entry.key_node : item,
           prefixed(label, entry.key + ": expected non-empty text, got " + describeNode(item)));
      return {};
    }
    result.push_back(YamlText{item.Scalar(), item});
  }
  return result;
}

std::int64_t YamlReader::integer(const YamlEntry& entry, const std::string& label, std::int64_t min,
                                 std::int64_t max) {
  if (failed()) return min;
  std::int64_t value = 0;
  if (!entry.value.IsScalar() || !parseInt64(entry.value.Scalar(), value) || value < min ||
      value > max) {
    failValue(entry, label,
              "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                  ", got " + describeNode(entry.value));
    return min;
  }
  return value;
}

bool YamlReader::boolean(const YamlEntry& entry, const std::string& label) {
  if (failed()) return false;
  std::string value = entry.value.IsScalar() ? entry.value.Scalar() : "";
  if (value == "true" || value == "True" || value == "TRUE") return true;
  if (value == "false" || value == "False" || value == "FALSE") return false;
  failValue(entry, label, "expected true or false, got " + describeNode(entry.value));
  return false;
}

DurationMs YamlReader::duration(const YamlEntry& entry, const std::string& label, DurationMs min,
                                DurationMs max) {
  if (failed()) return min;
  if (!entry.value.IsScalar()) {
    failValue(entry, label, "expected a duration such as 30s, got " + describeNode(entry.value));
    return min;
  }
  Result<DurationMs> parsed = parseDuration(entry.value.Scalar());
  if (!parsed.isOk()) {
    failValue(entry, label, parsed.status().message());
    return min;
  }
  if (parsed.value() < min || parsed.value() > max) {
    failValue(entry, label,
              "must be from " + formatDuration(min) + " to " + formatDuration(max) + ", got " +
                  quoteForMessage(entry.value.Scalar()));
    return min;
  }
  return parsed.value();
}

}  // namespace seqd
