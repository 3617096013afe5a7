// Log: one line per event on stderr. Under systemd (JOURNAL_STREAM set) each line carries a
// `<N>` syslog priority prefix, which journald reads as the priority.
//
// Thread-safety: logLine may be called from any thread; lines are written whole.
#pragma once

#include <string_view>

namespace seqd {

enum class LogPriority { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

void logLine(LogPriority priority, std::string_view message);
inline void logInfo(std::string_view message) { logLine(LogPriority::kInfo, message); }
inline void logWarning(std::string_view message) { logLine(LogPriority::kWarning, message); }
inline void logError(std::string_view message) { logLine(LogPriority::kError, message); }

}  // namespace seqd
