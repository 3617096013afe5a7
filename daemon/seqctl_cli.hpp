// seqctl's command line: parses SPEC §4's commands, sends them over the control socket and
// prints the reply as a table or, with --json, as one JSON document.
//
// Exit codes: 0 done; 1 failed/refused; 2 usage error; 3 done in part; 4 permission denied;
// 5 daemon unreachable.
//
// Thread-safety: single-threaded program.
#pragma once

#include <string>

namespace seqd {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPartial = 3;
inline constexpr int kExitPermission = 4;
inline constexpr int kExitUnreachable = 5;

int runSeqctl(int argc, char** argv);

// The exit code of a failed reply, by its error code (permission_denied: 4, bad_request and
// unknown_command: 2, anything else: 1).
int exitCodeForError(const std::string& error_code);

}  // namespace seqd
