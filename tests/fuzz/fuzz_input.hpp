// Helpers shared by the fuzz targets (tests/fuzz/*.cpp): the libFuzzer entry point's
// declaration and a splitter that cuts one input into several values.
//
// An input that feeds several values (a template and a contact's fields, a message's parts)
// holds them separated by kFuzzSeparator (0x1e, ASCII's record separator), so a corpus file
// stays readable and libFuzzer's mutations move bytes between values freely.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

// A property the target checks on every input; when it does not hold, the input is a crasher.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

namespace seqd::fuzz {

inline constexpr char kFuzzSeparator = '\x1e';

inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// The input cut at every kFuzzSeparator; always `count` values, missing ones empty, the last
// one holding the rest of the input (separators included).
inline std::vector<std::string> splitInput(std::string_view input, std::size_t count) {
  std::vector<std::string> values;
  while (values.size() + 1 < count) {
    std::size_t at = input.find(kFuzzSeparator);
    if (at == std::string_view::npos) break;
    values.emplace_back(input.substr(0, at));
    input.remove_prefix(at + 1);
  }
  values.emplace_back(input);
  values.resize(count);
  return values;
}

// The first byte of the input as a small number in [0, choices), and the rest of the input.
inline std::size_t takeChoice(std::string_view& input, std::size_t choices) {
  if (input.empty()) return 0;
  std::size_t choice = static_cast<unsigned char>(input[0]) % choices;
  input.remove_prefix(1);
  return choice;
}

}  // namespace seqd::fuzz
