// Text seqctl prints for people, made safe for a terminal: contact keys, names and every
// other value come from CSV files and other users, and a raw ESC or CSI in them would drive
// the reader's terminal (change colours, retitle it, rewrite what is on screen, or worse on
// some emulators).
//
// escapeForTerminal writes C0 control characters (but the line feed), DEL and C1 controls as
// visible escapes (\t, \r, \x1b, \x7f, \u009b) and every byte that is not part of valid UTF-8
// as \xNN; all other text, multibyte UTF-8 included, passes unchanged. A backslash is left as
// it is, so the escapes are for reading, not for parsing back.
//
// TerminalStreams::install routes std::cout (human output only: --json stays byte-exact, its
// strings already escaped by the JSON encoder) and std::cerr through that escaping for the
// life of the object; rawStderr() and rawStdout() write past it.
//
// Thread-safety: single-threaded, as seqctl is.
#pragma once

#include <iostream>
#include <memory>
#include <string>
#include <string_view>

namespace seqd {

std::string escapeForTerminal(std::string_view text);

class TerminalStreams {
 public:
  // Escapes std::cerr, and std::cout too when escape_stdout.
  explicit TerminalStreams(bool escape_stdout);
  // Restores the streams (flushing what is pending).
  ~TerminalStreams();
  TerminalStreams(const TerminalStreams&) = delete;
  TerminalStreams& operator=(const TerminalStreams&) = delete;

 private:
  struct Buffers;
  std::unique_ptr<Buffers> buffers_;
};

// std::cerr and std::cout without the escaping (their original stream buffers): for the
// progress bar's control codes and for file contents printed as they are (sequence clone).
std::ostream& rawStderr();
std::ostream& rawStdout();

}  // namespace seqd
