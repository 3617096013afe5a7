// Mailbox: a send-from address with its transport and send limits (seqd.yaml `mailboxes`).
//
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <string>

#include "engine/time.hpp"

namespace seqd {

enum class Transport { kMaildir, kSmtp, kDiscard };

struct Mailbox {
  std::string address;
  std::string name;
  std::string owner;
  Transport transport = Transport::kMaildir;
  std::int64_t daily_limit = 200;
  std::int64_t hourly_limit = 40;
  DurationMs min_interval_ms = 0;
  DurationMs jitter_ms = 0;
  std::int64_t domain_daily_limit = 0;  // 0: no per-domain limit
};

}  // namespace seqd
