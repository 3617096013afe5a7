#include "daemon/log.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace seqd {

void logLine(LogPriority priority, std::string_view message) {
  static const bool under_journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line;
  line.reserve(message.size() + 8);
  if (under_journal) {
    line += '<';
    line += std::to_string(static_cast<int>(priority));
    line += '>';
  }
  line += "seqd: ";
  line += message;
  line += '\n';
  // One write() per line keeps lines whole across threads.
  ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
  (void)written;
}

}  // namespace seqd
