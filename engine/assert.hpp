// SEQD_ASSERT: the loud check for invariants (never for conditions the environment can
// cause: those are Status values). On failure it writes the expression, file and line to
// stderr and aborts, in every build type: a broken invariant must not run on.
//
// Thread-safety: any thread.
#pragma once

namespace seqd {

[[noreturn]] void assertionFailed(const char* expression, const char* file, int line);

}  // namespace seqd

#define SEQD_ASSERT(condition) \
  ((condition) ? static_cast<void>(0) : ::seqd::assertionFailed(#condition, __FILE__, __LINE__))
