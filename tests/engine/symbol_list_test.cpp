#include "engine/symbol_list.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/enrollment.hpp"
#include "engine/message.hpp"

namespace seqd {
namespace {

TEST_CASE("a SymbolList keeps its elements in order, and equal lists are one Symbol") {
  SymbolList empty;
  CHECK(empty.empty());
  CHECK(empty.size() == 0);
  CHECK(empty.begin() == empty.end());

  SymbolList a{"list-one", "list-two"};
  SymbolList b = SymbolList{"list-one"}.with("list-two");
  CHECK(a == b);
  CHECK(a.size() == 2);
  CHECK(a.front() == "list-one");
  CHECK(a.back() == "list-two");
  CHECK(a[1] == "list-two");
  CHECK(a.contains(Symbol("list-one")));
  CHECK_FALSE(a.contains(Symbol("list-three")));
  CHECK(a.items() == std::vector<Symbol>{"list-one", "list-two"});
  CHECK(a.strings() == std::vector<std::string>{"list-one", "list-two"});
  CHECK_FALSE(a == SymbolList{"list-two", "list-one"});  // order counts
  CHECK(SymbolList(std::vector<std::string>{"", "list-one"}).front().empty());

  std::vector<std::string> seen;
  for (Symbol item : a) seen.push_back(item.str());
  CHECK(seen == std::vector<std::string>{"list-one", "list-two"});
}

TEST_CASE("with() gives the list built whole, however often the same list is extended") {
  // with() remembers (list, item) -> list per thread; asking again, for random lists, must
  // give what building the list whole gives, also after the memo was cleared.
  const std::uint64_t seed = std::random_device()();
  INFO("seed " << seed);
  std::mt19937_64 random(seed);
  const std::vector<Symbol> items = {"memo-a", "memo-b", "memo-c", "memo-d"};
  for (int i = 0; i < 2000; ++i) {
    std::vector<Symbol> built;
    SymbolList list;
    const std::size_t length = random() % 5;
    for (std::size_t k = 0; k < length; ++k) {
      built.push_back(items[random() % items.size()]);
      list = list.with(built.back());
      REQUIRE(list == SymbolList(built));
      REQUIRE(list.items() == built);
    }
  }
  // More distinct (list, item) pairs than the memo keeps: it starts over and stays right.
  const SymbolList base{"memo-base"};
  for (int i = 0; i < (1 << 16) + 100; ++i) {
    const Symbol item = "memo-item-" + std::to_string(i);
    REQUIRE(base.with(item) == SymbolList{"memo-base", item});
  }
  CHECK(base.with("memo-item-7").back() == "memo-item-7");
}

TEST_CASE("a SymbolMap behaves as a std::map<Symbol, Symbol>, for random edits") {
  const std::uint64_t seed = std::random_device()();
  INFO("seed " << seed);
  std::mt19937_64 random(seed);
  const std::vector<std::string> keys = {"", "a", "b", "step-2", "step-10", "Zoë"};
  const std::vector<std::string> values = {"", "bounced", "interrupted"};
  SymbolMap map;
  std::map<Symbol, Symbol> model;
  for (int i = 0; i < 500; ++i) {
    const Symbol key = keys[random() % keys.size()];
    const Symbol value = values[random() % values.size()];
    map.set(key, value);
    if (value.empty()) {
      model.erase(key);
    } else {
      model[key] = value;
    }
    REQUIRE(map.size() == model.size());
    std::vector<std::pair<Symbol, Symbol>> want(model.begin(), model.end());
    REQUIRE(map.pairs() == want);
    for (const std::string& probe : keys) {
      auto found = model.find(probe);
      REQUIRE(map.get(probe) == (found == model.end() ? Symbol() : found->second));
    }
    // Canonical: a map built again from the model's pairs is the same value.
    SymbolMap again;
    for (const auto& [k, v] : want) again.set(k, v);
    REQUIRE(again == map);
  }
}

TEST_CASE("an enrollment row is fixed-width: copied as bytes, no heap block") {
  CHECK(std::is_trivially_copyable_v<Enrollment>);
  CHECK(sizeof(Enrollment) <= 56);
}

TEST_CASE(
    "the Message-ID out is computed from the row and its send: sequence, step, contact, "
    "mailbox") {
  Enrollment enrollment;
  enrollment.sequence_id = "q4";
  enrollment.contact_key = "ana@example.test";
  SendOut send;
  CHECK(sendingMessageId(enrollment, send).empty());
  send.step = "intro";
  send.mailbox = "sales@seller.example";
  CHECK(sendingMessageId(enrollment, send) ==
        makeMessageId("q4", "intro", "ana@example.test", "sales@seller.example"));
}

}  // namespace
}  // namespace seqd
