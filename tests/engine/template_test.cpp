// Proves templates substitute fields and fallbacks, refuse to render around a missing
// variable, and report syntax errors with the offset where they are.
#include "engine/template.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace seqd;

namespace {

FieldLookup lookupIn(const std::map<std::string, std::string, std::less<>>& fields) {
  return [&fields](std::string_view name) -> std::optional<std::string> {
    auto it = fields.find(name);
    if (it == fields.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("fields are substituted and the rest is copied") {
  std::map<std::string, std::string, std::less<>> fields{{"first_name", "Ada"},
                                                         {"company", "Acme"}};
  RenderResult result = renderTemplate("Hi {{first_name}}, how is {{company}}?", lookupIn(fields));
  REQUIRE(result.ok);
  CHECK(result.text == "Hi Ada, how is Acme?");
  CHECK(result.missing_variable.empty());

  result = renderTemplate("no tags at all", lookupIn(fields));
  REQUIRE(result.ok);
  CHECK(result.text == "no tags at all");

  result = renderTemplate("", lookupIn(fields));
  REQUIRE(result.ok);
  CHECK(result.text.empty());
}

TEST_CASE("a fallback is used when the field is absent or empty, not when present") {
  std::map<std::string, std::string, std::less<>> fields{{"first_name", "Ada"}, {"title", ""}};
  CHECK(renderTemplate("Hi {{first_name|there}}", lookupIn(fields)).text == "Hi Ada");
  CHECK(renderTemplate("Hi {{nickname|there}}", lookupIn(fields)).text == "Hi there");
  CHECK(renderTemplate("As {{title|a leader}}", lookupIn(fields)).text == "As a leader");
  RenderResult empty_fallback = renderTemplate("[{{nickname|}}]", lookupIn(fields));
  REQUIRE(empty_fallback.ok);
  CHECK(empty_fallback.text == "[]");
  // The fallback is literal text, not a template of its own.
  CHECK(renderTemplate("{{x|a {b} c}}", lookupIn(fields)).text == "a {b} c");
}

TEST_CASE("whitespace inside the braces is trimmed around name and fallback") {
  std::map<std::string, std::string, std::less<>> fields{{"first_name", "Ada"}};
  CHECK(renderTemplate("Hi {{ first_name }}!", lookupIn(fields)).text == "Hi Ada!");
  CHECK(renderTemplate("Hi {{ nickname | there }}!", lookupIn(fields)).text == "Hi there!");
  CHECK(renderTemplate("Hi {{\tnickname\t|\tmy friend\t}}!", lookupIn(fields)).text ==
        "Hi my friend!");
}

TEST_CASE("a missing variable without fallback fails with its name") {
  std::map<std::string, std::string, std::less<>> fields{{"first_name", "Ada"}, {"company", ""}};
  RenderResult absent = renderTemplate("Hi {{first_name}} at {{ company_size }}", lookupIn(fields));
  CHECK_FALSE(absent.ok);
  CHECK(absent.missing_variable == "company_size");
  CHECK(absent.text.empty());

  RenderResult empty = renderTemplate("{{company}} rocks", lookupIn(fields));
  CHECK_FALSE(empty.ok);
  CHECK(empty.missing_variable == "company");

  // The first missing one is named.
  RenderResult two = renderTemplate("{{a}} {{b}}", lookupIn(fields));
  CHECK(two.missing_variable == "a");
}

TEST_CASE("unclosed braces and empty names are reported with their offset") {
  CHECK(checkTemplate("Hi {{first_name}}, {{company|x}}").isOk());
  CHECK(checkTemplate("a lone }} and { are text").isOk());

  Status unclosed = checkTemplate("Hi {{first_name}}, {{company");
  CHECK_FALSE(unclosed.isOk());
  CHECK(unclosed.code() == StatusCode::kInvalidArgument);
  CHECK(unclosed.message().find("unclosed '{{' at offset 19") != std::string::npos);

  Status empty_name = checkTemplate("ab{{ |fallback}}");
  CHECK_FALSE(empty_name.isOk());
  CHECK(empty_name.message().find("empty variable name at offset 2") != std::string::npos);
  CHECK_FALSE(checkTemplate("{{}}").isOk());
  CHECK_FALSE(checkTemplate("{{{name}}").isOk());

  // render() refuses a bad template instead of half-rendering it.
  std::map<std::string, std::string, std::less<>> fields;
  RenderResult bad = renderTemplate("Hi {{first_name", lookupIn(fields));
  CHECK_FALSE(bad.ok);
  CHECK(bad.missing_variable.empty());
  CHECK(bad.error.find("offset 3") != std::string::npos);
}

TEST_CASE("templates over the size limit are refused") {
  std::string big(kTemplateBytesMax + 1, 'x');
  CHECK_FALSE(checkTemplate(big).isOk());
  CHECK(checkTemplate(std::string_view(big).substr(1)).isOk());
}

TEST_CASE("non-ASCII text and values pass through byte for byte") {
  std::map<std::string, std::string, std::less<>> fields{{"first_name", "Zoë"}, {"city", "東京"}};
  RenderResult result =
      renderTemplate("Grüße, {{first_name}} — {{city}} {{ort|München}} ✓", lookupIn(fields));
  REQUIRE(result.ok);
  CHECK(result.text == "Grüße, Zoë — 東京 München ✓");
}
