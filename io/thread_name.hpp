// nameThisThread: the name a seqd thread shows in top -H, ps -L, gdb and
// /proc/PID/task/TID/comm. Each thread names itself as it starts, by its role:
//
//   seqd           the main thread (signals, start and stop)
//   seqd-engine    the engine loop: decides rounds (daemon/runtime.cpp)
//   seqd-commit    the store's committer (daemon/engine_start.cpp)
//   seqd-control   Asio: the control socket, HTTP and metrics servers
//   seqd-deliver   a delivery worker (io/delivery_pool.cpp)
//   seqd-inbox     the inbox poller (daemon/runtime.cpp)
//   seqd-status    the streamed reads of status and contacts (io/status_stream.cpp)
//   seqd-walk      the store's check at open, for its largest DB (io/lmdb_store.cpp)
//
// perf/advance_threads.py and tests/integration/walking_skeleton_test.py read these names.
#pragma once

#include <pthread.h>

namespace seqd {

// REQUIRES: name is at most 15 bytes (the kernel's limit); a longer one is left unset.
inline void nameThisThread(const char* name) { ::pthread_setname_np(::pthread_self(), name); }

}  // namespace seqd
