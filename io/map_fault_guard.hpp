// MapFaultGuard: runs a read of an LMDB map so that damage in the file ends the read with a
// value instead of killing the process.
//
// LMDB reads its data through a shared read-only mmap and trusts what it finds. A data.mdb
// cut short makes a read of a page past the end raise SIGBUS; garbage offsets inside a page
// can send a read past the end too (SIGBUS) or off the map (SIGSEGV); and LMDB's own
// assertions (built in on Debian) call abort(). Garbled node flags can also make LMDB follow
// a null pointer: a SIGSEGV at a small address (seen here: a DUPDATA flag on a node of a DB
// that has no duplicates makes it write through its null sub-cursor at offset 0x190).
// runGuarded() installs SIGBUS and SIGSEGV handlers for the length of one call and hands
// LMDB an assert callback: a fault at an address inside the given range or in the null page
// (below kNullPageBytes), or an LMDB assertion, on the calling thread jumps back out
// (siglongjmp) and runGuarded() returns false with what happened in `fault`. Faults anywhere
// else, and faults on threads outside a guarded call, go to the handler that was installed
// before (default: the process dies as it would have). The previous handlers are restored
// when the last guarded call ends.
//
// The jump skips the frames between runGuarded() and the fault without running destructors,
// so the body must be written like C: only trivially destructible locals (integers,
// pointers, string_view, MDB_val, fixed arrays) in its own frames and in anything it calls
// that can fault. Resources the body acquires (an LMDB cursor) are recorded in its context
// so the caller releases them after a fault. A read transaction the body used must be
// aborted after a fault: LMDB's view of it is undefined.
//
// Thread-safety: runGuarded() may be called from several threads at once (the store's walk
// runs on two): each call catches the faults of its own thread, and the handlers stay
// installed until the last call ends (the signal disposition is process-wide). Handlers of
// other libraries (ASan's included) keep working: faults that are not ours are passed on.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>

namespace seqd {

inline constexpr std::size_t kMapFaultDetailBytesMax = 256;
// Linux never maps the first 64 KiB (vm.mmap_min_addr): a fault there is a null pointer
// plus an offset.
inline constexpr std::uintptr_t kNullPageBytes = 65536;

struct MapFault {
  int signal_number = 0;                      // SIGBUS or SIGSEGV; 0 for an LMDB assertion
  std::uintptr_t address = 0;                 // the faulting address (signals only)
  char detail[kMapFaultDetailBytesMax] = {};  // LMDB's assertion text, NUL-terminated
};

// Calls body(context). Returns true when it returned normally; false when a SIGBUS or
// SIGSEGV at an address in [range_begin, range_begin + range_bytes) or below
// kNullPageBytes, or an LMDB assertion, on this thread interrupted it, with `fault` filled
// in.
// REQUIRES: body and what it calls hold only trivially destructible locals (see above);
// the LMDB env(s) it reads have mapFaultAssert set with mdb_env_set_assert.
bool runGuarded(const void* range_begin, std::size_t range_bytes, void (*body)(void* context),
                void* context, MapFault& fault);

// The mdb_env_set_assert callback: inside runGuarded() it ends the guarded call; outside it
// returns and LMDB aborts the process as it always does.
void mapFaultAssert(MDB_env* env, const char* message);

}  // namespace seqd
