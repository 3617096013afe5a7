#include "io/map_fault_guard.hpp"

#include <setjmp.h>
#include <signal.h>

#include <cstring>
#include <mutex>

namespace seqd {
namespace {

// One guarded call on one thread.
struct Scope {
  sigjmp_buf jump;
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  MapFault* fault = nullptr;
};

thread_local Scope* tls_scope = nullptr;

// The dispositions are process-wide: installed by the first guarded call that starts and
// put back by the last that ends, under guard_mutex.
std::mutex guard_mutex;
int guarded_calls = 0;
struct sigaction previous_bus {};
struct sigaction previous_segv {};

// Hands a fault that is not ours to whoever handled it before.
void passOn(int signal_number, siginfo_t* info, void* ucontext) {
  const struct sigaction& previous = signal_number == SIGBUS ? previous_bus : previous_segv;
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(signal_number, info, ucontext);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal_number);
    return;
  }
  // Default (an ignored SIGBUS/SIGSEGV would only fault again): returning re-runs the
  // faulting instruction, which now ends the process the usual way.
  ::signal(signal_number, SIG_DFL);
}

void onFault(int signal_number, siginfo_t* info, void* ucontext) {
  Scope* scope = tls_scope;
  const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const bool ours = scope != nullptr &&
                    ((address >= scope->begin && address < scope->end) || address < kNullPageBytes);
  if (!ours) {
    passOn(signal_number, info, ucontext);
    return;
  }
  tls_scope = nullptr;
  scope->fault->signal_number = signal_number;
  scope->fault->address = address;
  siglongjmp(scope->jump, 1);
}

// Keeps onFault installed for SIGBUS and SIGSEGV while any guarded call runs.
class Installed {
 public:
  Installed() {
    std::lock_guard<std::mutex> lock(guard_mutex);
    if (guarded_calls++ > 0) return;
    struct sigaction action {};
    action.sa_sigaction = onFault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &previous_bus);
    ::sigaction(SIGSEGV, &action, &previous_segv);
  }
  ~Installed() {
    std::lock_guard<std::mutex> lock(guard_mutex);
    if (--guarded_calls > 0) return;
    ::sigaction(SIGBUS, &previous_bus, nullptr);
    ::sigaction(SIGSEGV, &previous_segv, nullptr);
  }
  Installed(const Installed&) = delete;
  Installed& operator=(const Installed&) = delete;
};

}  // namespace

bool runGuarded(const void* range_begin, std::size_t range_bytes, void (*body)(void* context),
                void* context, MapFault& fault) {
  Installed installed;
  Scope scope;
  scope.begin = reinterpret_cast<std::uintptr_t>(range_begin);
  scope.end = scope.begin + range_bytes;
  scope.fault = &fault;
  fault = MapFault();
  // savemask 1: the jump out of a handler restores the mask, so SIGBUS is not left blocked.
  if (sigsetjmp(scope.jump, 1) != 0) return false;
  tls_scope = &scope;
  body(context);
  tls_scope = nullptr;
  return true;
}

void mapFaultAssert(MDB_env* /*env*/, const char* message) {
  Scope* scope = tls_scope;
  if (scope == nullptr) return;  // LMDB prints the message and aborts
  tls_scope = nullptr;
  std::strncpy(scope->fault->detail, message, kMapFaultDetailBytesMax - 1);
  scope->fault->detail[kMapFaultDetailBytesMax - 1] = '\0';
  siglongjmp(scope->jump, 1);
}

}  // namespace seqd
