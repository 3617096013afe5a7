// sd_notify: the readiness protocol of Type=notify units, without libsystemd.
//
// Sends one datagram to $NOTIFY_SOCKET (a leading '@' names an abstract socket). Does
// nothing when the variable is unset (not started by systemd).
//
// Thread-safety: any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace seqd {

void sdNotify(std::string_view state);
// Half of $WATCHDOG_USEC, when the watchdog is on.
std::optional<std::chrono::milliseconds> watchdogInterval();
// CLOCK_MONOTONIC in microseconds, for RELOADING=1 MONOTONIC_USEC=.
long long monotonicMicros();

}  // namespace seqd
