// Proves the caps every YAML config file is held to (config/yaml_walk.hpp) at their edges:
// nesting up to kYamlDepthMax levels loads and one more fails, a tree of kYamlNodesMax nodes
// loads and one more node fails, aliases counted each time they are reached (yaml-cpp shares
// an aliased node instead of copying it; the test's tree is mostly aliases, which also keeps
// it fast), each failure a "file:line:col: " message at the node that went over; and the same
// through loadConfig for a sequence file.
#include "config/yaml_walk.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

using namespace seqd;
namespace fs = std::filesystem;

namespace {

// n lists, each inside the one before: "[[[]]]" for n = 3. The innermost list is at depth n.
std::string nestedLists(int n) { return std::string(n, '[') + std::string(n, ']'); }

// A list of n scalars: 1 + n nodes.
std::string flatList(int n) {
  std::string text = "[";
  for (int i = 0; i < n; ++i) text += i == 0 ? "1" : ",1";
  return text + "]";
}

std::string errorOf(const std::string& text) {
  Result<YamlFile> file = parseYamlText("t.yaml", text);
  return file.isOk() ? "" : file.status().message();
}

}  // namespace

TEST_CASE("nesting of kYamlDepthMax levels loads; one more level fails where it starts") {
  static_assert(kYamlDepthMax == 32);
  CHECK(errorOf(nestedLists(kYamlDepthMax)) == "");
  CHECK(errorOf(nestedLists(kYamlDepthMax + 1)) ==
        "t.yaml:1:33: YAML nesting is deeper than 32 levels");
  // Maps count the same way: the root map is level 1, each value one level deeper.
  std::string maps = "a: ";
  for (int level = 2; level < kYamlDepthMax; ++level) maps += "{a: ";
  maps += "1" + std::string(kYamlDepthMax - 2, '}');
  CHECK(errorOf(maps) == "");
  CHECK(errorOf("b: {" + maps.substr(3) + "}").find("t.yaml:1:") == 0);
  CHECK(errorOf("b: {" + maps.substr(3) + "}").find("deeper than 32 levels") != std::string::npos);
}

TEST_CASE("a tree of kYamlNodesMax nodes, aliases expanded, loads; one more node fails") {
  static_assert(kYamlNodesMax == 100000);
  // root map 1, keys a and b 2, the anchored list 1 + 24998, list b 1, and three aliases of
  // the anchored list at 1 + 24998 each: 4 + 4 * 24999 = 100000 nodes, from about 50 KB.
  const std::string anchored = "a: &x " + flatList(24998) + "\n";
  CHECK(errorOf(anchored + "b: [*x, *x, *x]\n") == "");
  const std::string error = errorOf(anchored + "b: [*x, *x, *x, 1]\n");
  CHECK(error.find("t.yaml:2:") == 0);
  CHECK(error.find("more than 100000 nodes once aliases are expanded") != std::string::npos);
}

TEST_CASE("a sequence file over a cap fails loadConfig with the file's position") {
  char pattern[] = "/tmp/seqd-yaml-walk-test-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const fs::path dir = pattern;
  fs::create_directory(dir / "sequences");
  std::ofstream(dir / "seqd.yaml") << "mailboxes: []\n";
  std::ofstream(dir / "sequences" / "s.yaml")
      << "id: s\nowner: alice\nsteps: " << nestedLists(kYamlDepthMax) << "\n";
  Result<Config> config = loadConfig((dir / "seqd.yaml").string(), ConfigDefaults::kDev);
  REQUIRE_FALSE(config.isOk());
  CHECK(config.status().message() ==
        (dir / "sequences" / "s.yaml").string() + ":3:39: YAML nesting is deeper than 32 levels");
  fs::remove_all(dir);
}
