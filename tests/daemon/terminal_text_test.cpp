// Proves text printed for people cannot drive their terminal: control characters, ESC and
// CSI sequences, C1 controls and bytes that are not UTF-8 come out as visible escapes, while
// ordinary UTF-8 text passes unchanged.
#include "daemon/terminal_text.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>

using namespace seqd;

TEST_CASE("escapes control characters, ESC, DEL, C1 and bad bytes; keeps UTF-8 text") {
  CHECK(escapeForTerminal("plain text, Zoë 東京\n") == "plain text, Zoë 東京\n");
  CHECK(escapeForTerminal("\x1b]0;owned\x07") == "\\x1b]0;owned\\x07");
  CHECK(escapeForTerminal("\x1b[2J\x1b[31mred") == "\\x1b[2J\\x1b[31mred");
  CHECK(escapeForTerminal("a\tb\rc") == "a\\tb\\rc");
  CHECK(escapeForTerminal(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(escapeForTerminal("del\x7f") == "del\\x7f");
  CHECK(escapeForTerminal("csi\xc2\x9b"
                          "31m") == "csi\\u009b31m");  // U+009B, the 8-bit CSI
  CHECK(escapeForTerminal("raw\x9b"
                          "31m") == "raw\\x9b31m");  // a bare 0x9B byte is not UTF-8
  CHECK(escapeForTerminal("cut\xe6\x9d") == "cut\\xe6\\x9d");
}

TEST_CASE("std::cout and std::cerr go through the escaping while installed, then not") {
  std::ostringstream out, err;
  std::streambuf* cout_before = std::cout.rdbuf(out.rdbuf());
  std::streambuf* cerr_before = std::cerr.rdbuf(err.rdbuf());
  {
    TerminalStreams terminal(true);
    std::cout << "key \x1b[31mred\x1b[0m\n";
    std::cerr << "seqctl: contact 'x\x1b]2;t\x07' not found\n";
    rawStderr() << "\r\x1b[K";
    std::cout << "no line feed \x1b";
  }
  std::cout << "\x1b after";
  std::cout.rdbuf(cout_before);
  std::cerr.rdbuf(cerr_before);
  CHECK(out.str() == "key \\x1b[31mred\\x1b[0m\nno line feed \\x1b\x1b after");
  CHECK(err.str() == "seqctl: contact 'x\\x1b]2;t\\x07' not found\n\r\x1b[K");
}
