// seqctl's help: what each command does, its options, the values it accepts and an example,
// for `seqctl help COMMAND`, `seqctl COMMAND --help` and the pointer a usage error prints.
// docs/man/seqctl.1.md is the manual page's summary of the same commands.
//
// Thread-safety: constant data and pure functions.
#pragma once

#include <string>
#include <string_view>

namespace seqd {

// The command list `seqctl help` and `seqctl --help` print.
std::string seqctlOverview();
// The help of the command `words` names ("contact", or "contact set"; the first word decides),
// or empty when there is no such command.
std::string seqctlHelp(std::string_view command);

}  // namespace seqd
