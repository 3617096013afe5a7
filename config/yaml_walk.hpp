// Bounded, position-aware reading of YAML config files.
//
// Owns three things config/ needs for every file:
//  - loadYamlFile: reads a file (at most kConfigFileBytesMax bytes), parses it with yaml-cpp
//    and walks the whole tree once against kYamlDepthMax and kYamlNodesMax *before* anything
//    interprets it. yaml-cpp shares an aliased node instead of copying it, so a few hundred
//    bytes can describe 9^9 nodes ("billion laughs"); the walk counts a node every time it is
//    reached, so such a file fails in at most kYamlNodesMax steps with a message.
//  - positions: every message starts "file:line:col: " with 1-based line and column
//    (yaml-cpp's Mark is 0-based). A node without a position (an empty document) is 1:1.
//  - YamlReader: turns nodes into checked values (text, integers, durations, lists, maps
//    with unknown-key and duplicate-key detection). It keeps the first error only; after a
//    failure its readers return neutral values, so callers check failed() once per section
//    instead of after every value.
//
// No yaml-cpp exception leaves these functions: parse errors become Status values, and the
// readers use only type-checked iteration (never Node::as<T> or operator[]).
//
// Thread-safety: the free functions are reentrant; a YamlReader belongs to one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.hpp"
#include "engine/time.hpp"

namespace seqd {

inline constexpr std::size_t kConfigFileBytesMax = 4 * 1024 * 1024;

// One parsed YAML file. root is a Null node when the file holds no document.
struct YamlFile {
  std::string path;  // as given by the caller; used verbatim in messages
  YAML::Node root;
};

// Reads, parses and bounds-checks path. Missing file: NotFound; unreadable: PermissionDenied
// or IOError; bad YAML, more than one document, too deep or too many nodes: InvalidArgument.
Result<YamlFile> loadYamlFile(const std::string& path);

// The same from text already in memory; path is only used in messages.
Result<YamlFile> parseYamlText(const std::string& path, const std::string& text);

// "path:line:col: " for a yaml-cpp mark, 1-based.
std::string yamlPosition(const std::string& path, const YAML::Mark& mark);

// One key/value pair of a YAML map, with the nodes kept for their positions.
struct YamlEntry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// One scalar item of a YAML list, with its node kept for its position.
struct YamlText {
  std::string text;
  YAML::Node node;
};

// Text in single quotes for a one-line message: newlines shown as \n, other control bytes
// as '?', and cut after a few dozen bytes ("...").
std::string quoteForMessage(std::string_view text);

// Describes a node's kind for messages: "a map", "a list", "'text'", "nothing".
std::string describeNode(const YAML::Node& node);

// The scalar value of key in map, or "" when map is not a map, has no such key, or the value
// is not a scalar. Never fails; used to name a map ("step 'bump'") before checking it.
std::string peekScalar(const YAML::Node& map, std::string_view key);

// Turns nodes of one file into values, keeping the first error.
//
// `label` arguments name the map a value sits in, for messages: "step 'bump'", "delivery",
// or "" at a file's top level. A value error reads "<label>: <key>: <problem>".
class YamlReader {
 public:
  explicit YamlReader(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  bool failed() const { return !status_.isOk(); }
  // The first error, or ok.
  const Status& status() const { return status_; }

  // Records "path:line:col: what" unless an error is already recorded.
  void fail(const YAML::Mark& mark, const std::string& what);
  void fail(const YAML::Node& node, const std::string& what) { fail(node.Mark(), what); }
  // At the value, or at the key when the value is empty (an empty value has no useful mark).
  void fail(const YamlEntry& entry, const std::string& what);
  // As fail(entry, ...), with the message "<label>: <key>: <problem>".
  void failValue(const YamlEntry& entry, const std::string& label, const std::string& problem);

  // The entries of a map in document order. Fails on a non-map, a non-scalar or repeated
  // key, and (with `allowed`) on a key not listed there. A null node is an empty map.
  std::vector<YamlEntry> entries(const YAML::Node& map, const std::string& label);
  std::vector<YamlEntry> entries(const YAML::Node& map, std::span<const std::string_view> allowed,
                                 const std::string& label);

  // The items of a list value (null: no items). Fails on a non-list or more than items_max.
  std::vector<YAML::Node> items(const YamlEntry& entry, const std::string& label,
                                std::size_t items_max);

  // A scalar value as text; null gives "". Fails on a map or list.
  std::string text(const YamlEntry& entry, const std::string& label);
  // As text(), and fails when the result is empty.
  std::string nonEmptyText(const YamlEntry& entry, const std::string& label);
  // A list of non-empty scalars.
  std::vector<YamlText> texts(const YamlEntry& entry, const std::string& label,
                              std::size_t items_max);
  // A decimal integer in [min, max].
  std::int64_t integer(const YamlEntry& entry, const std::string& label, std::int64_t min,
                       std::int64_t max);
  // true/True/TRUE or false/False/FALSE.
  bool boolean(const YamlEntry& entry, const std::string& label);
  // A DURATION (engine/time.hpp parseDuration) in [min, max].
  DurationMs duration(const YamlEntry& entry, const std::string& label, DurationMs min,
                      DurationMs max);

 private:
  std::string path_;
  Status status_;
};

// The entry named key, or nullptr.
const YamlEntry* findEntry(const std::vector<YamlEntry>& entries, std::string_view key);

}  // namespace seqd
