// Proves `--where` expressions parse with `and` binding tighter than `or`, match contacts as
// engine/contact_query.hpp says (numbers as numbers, text without regard to case, contains,
// in_sequence), and name the position of a syntax error; and, for random expressions over
// random contacts, agree with a direct evaluation of the expression tree they were printed
// from.
#include "engine/contact_query.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

Contact makeContact(std::string key, int score, std::string stage, std::string company) {
  Contact contact;
  contact.key = key;
  contact.email = key;
  contact.score = static_cast<std::uint8_t>(score);
  contact.stage = std::move(stage);
  contact.company = std::move(company);
  return contact;
}

bool matches(const std::string& where, const Contact& contact,
             const std::set<std::string>& sequences = {}) {
  Result<ContactQuery> query = ContactQuery::parse(where);
  REQUIRE_MESSAGE(query.isOk(), where << ": " << query.status().message());
  const ContactRef packed = PackedContact::pack(contact);
  return query.value().matches(*packed, [&](const PackedContact&, const std::string& sequence) {
    return sequences.count(sequence) > 0;
  });
}

std::string errorOf(const std::string& where) {
  Result<ContactQuery> query = ContactQuery::parse(where);
  REQUIRE_FALSE(query.isOk());
  return query.status().message();
}

}  // namespace

TEST_CASE("comparisons: numbers as numbers, text without case, contains, booleans") {
  Contact ada = makeContact("ada@x.test", 72, "New", "Acme Corp");
  ada.extra["industry"] = "Fintech";
  ada.timezone = "Asia/Tokyo";
  CHECK(matches("score>=60", ada));
  CHECK(matches("score > 71", ada));
  CHECK_FALSE(matches("score>72", ada));
  CHECK(matches("score<=72 and score<73", ada));
  CHECK(matches("score=72.0", ada));
  CHECK(matches("score!=9", ada));
  CHECK(matches("stage=new", ada));
  CHECK(matches("STAGE = NEW", ada));
  CHECK_FALSE(matches("stage!=new", ada));
  CHECK(matches("company~acme", ada));
  CHECK(matches("company~'ME CO'", ada));
  CHECK(matches("company!~globex", ada));
  CHECK(matches("industry=fintech", ada));
  CHECK(matches("timezone=Asia/Tokyo", ada));
  CHECK(matches("owner=\"\"", ada));  // no owner: the empty text
  CHECK_FALSE(matches("owner=alice", ada));
  CHECK(matches("dnc=no", ada));
  CHECK(matches("dnc=false", ada));
  CHECK_FALSE(matches("dnc=yes", ada));
  // A text field is never a number: ordering comparisons do not match it.
  CHECK_FALSE(matches("company>1", ada));
}

TEST_CASE("and binds tighter than or; parentheses group") {
  const Contact low_new = makeContact("a", 10, "new", "Acme");
  const Contact high_old = makeContact("b", 90, "won", "Globex");
  CHECK(matches("stage=won or score<20 and company~acme", low_new));
  CHECK(matches("stage=won or score<20 and company~acme", high_old));
  CHECK_FALSE(matches("(stage=won or score<20) and company~globex", low_new));
  CHECK(matches("(stage=won or score<20) and company~globex", high_old));
  CHECK(matches("score>5 AND (stage=new OR stage=won)", low_new));
}

TEST_CASE("in_sequence asks the caller, with the id as written") {
  const Contact contact = makeContact("a", 10, "new", "Acme");
  CHECK(matches("in_sequence=Q4-outbound", contact, {"Q4-outbound"}));
  CHECK_FALSE(matches("in_sequence=q4-outbound", contact, {"Q4-outbound"}));
  CHECK(matches("in_sequence!=q4", contact, {"other"}));
  Result<ContactQuery> query = ContactQuery::parse("in_sequence=a or in_sequence!=b");
  REQUIRE(query.isOk());
  CHECK(query.value().sequencesNamed() == std::vector<std::string>{"a", "b"});
  CHECK(errorOf("in_sequence~q4") == "where: position 12: in_sequence takes = or != only");
}

TEST_CASE("no expression matches every contact") {
  CHECK(ContactQuery().matches(*PackedContact::pack(makeContact("a", 1, "", "")), nullptr));
}

TEST_CASE("syntax errors name the position") {
  CHECK(errorOf("") == "where: position 1: expected a comparison such as score>=60");
  CHECK(errorOf("score") ==
        "where: position 6: expected an operator (=, !=, >, >=, <, <=, ~, "
        "!~) after 'score'");
  CHECK(errorOf("score => 5") ==
        "where: position 7: expected an operator (=, !=, >, >=, <, "
        "<=, ~, !~) after 'score', found '=>'");
  CHECK(errorOf("score>=") == "where: position 8: expected a value at the end");
  CHECK(errorOf("score>=high") ==
        "where: position 8: 'high' is not a number; >= compares "
        "numbers");
  CHECK(errorOf("stage=new and") == "where: position 14: expected a field name at the end");
  CHECK(errorOf("stage=new score>1") ==
        "where: position 11: expected 'and', 'or' or the end, found 'score>1'");
  CHECK(errorOf("(stage=new or score>1") == "where: position 1: '(' is never closed");
  CHECK(errorOf("stage=new)") == "where: position 10: ')' without a matching '('");
  CHECK(errorOf("company='acme") == "where: position 9: the quote is never closed");
  CHECK(errorOf("dnc=maybe") == "where: position 5: dnc is true or false, not 'maybe'");
  CHECK(errorOf(std::string(40, '(') + "a=1" + std::string(40, ')')).find("nested deeper") !=
        std::string::npos);
  CHECK(errorOf(std::string(kQueryBytesMax + 1, 'a')) == "where: at most 4096 bytes");
}

// A random expression tree, printed as text, evaluated directly.
namespace {

struct Node {
  enum Kind { kLeaf, kAnd, kOr } kind = kLeaf;
  std::string field;
  std::string op;
  std::string value;
  std::unique_ptr<Node> left, right;
};

const std::vector<std::string> kStages = {"new", "won", "lost", ""};
const std::vector<std::string> kCompanies = {"Acme", "acme labs", "Globex", ""};

std::unique_ptr<Node> randomTree(std::mt19937_64& random, int depth) {
  auto node = std::make_unique<Node>();
  if (depth == 0 || random() % 3 == 0) {
    switch (random() % 3) {
      case 0:
        node->field = "score";
        node->op = std::vector<std::string>{"=", "!=", ">", ">=", "<", "<="}[random() % 6];
        node->value = std::to_string(random() % 101);
        break;
      case 1:
        node->field = "stage";
        node->op = random() % 2 ? "=" : "!=";
        node->value = kStages[random() % kStages.size()];
        break;
      default:
        node->field = "company";
        node->op = random() % 2 ? "~" : "!~";
        node->value = std::vector<std::string>{"acme", "ACME", "glob", "labs"}[random() % 4];
    }
    return node;
  }
  node->kind = random() % 2 ? Node::kAnd : Node::kOr;
  node->left = randomTree(random, depth - 1);
  node->right = randomTree(random, depth - 1);
  return node;
}

// Fully parenthesized, so the text means exactly the tree whatever the precedence.
std::string print(const Node& node) {
  if (node.kind == Node::kLeaf) return node.field + node.op + "'" + node.value + "'";
  return "(" + print(*node.left) + (node.kind == Node::kAnd ? " and " : " or ") +
         print(*node.right) + ")";
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool evaluate(const Node& node, const Contact& contact) {
  if (node.kind == Node::kAnd)
    return evaluate(*node.left, contact) && evaluate(*node.right, contact);
  if (node.kind == Node::kOr)
    return evaluate(*node.left, contact) || evaluate(*node.right, contact);
  if (node.field == "score") {
    const int value = std::stoi(node.value);
    const int score = contact.score;
    if (node.op == "=") return score == value;
    if (node.op == "!=") return score != value;
    if (node.op == ">") return score > value;
    if (node.op == ">=") return score >= value;
    if (node.op == "<") return score < value;
    return score <= value;
  }
  if (node.field == "stage") return (lower(contact.stage) == node.value) == (node.op == "=");
  const bool contains = lower(contact.company).find(lower(node.value)) != std::string::npos;
  return contains == (node.op == "~");
}

}  // namespace

TEST_CASE("random expressions agree with evaluating their tree") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  std::vector<Contact> contacts;
  for (int i = 0; i < 40; ++i) {
    contacts.push_back(makeContact("c" + std::to_string(i), static_cast<int>(random() % 101),
                                   kStages[random() % kStages.size()],
                                   kCompanies[random() % kCompanies.size()]));
  }
  for (int round = 0; round < 400; ++round) {
    const std::unique_ptr<Node> tree = randomTree(random, static_cast<int>(random() % 5));
    const std::string text = print(*tree);
    INFO("seed " << seed << " where " << text);
    Result<ContactQuery> query = ContactQuery::parse(text);
    REQUIRE(query.isOk());
    for (const Contact& contact : contacts) {
      REQUIRE(query.value().matches(*PackedContact::pack(contact), nullptr) ==
              evaluate(*tree, contact));
    }
  }
}
