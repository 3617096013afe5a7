#include "engine/governor.hpp"

#include <algorithm>

#include "engine/assert.hpp"
#include "engine/contact.hpp"

namespace seqd {
namespace {

TimeMs minuteOf(TimeMs at_ms) {
  return at_ms >= 0 ? at_ms / kMinuteMs : -((-at_ms + kMinuteMs - 1) / kMinuteMs);
}

std::int64_t exactMax(std::int64_t limit) {
  return std::clamp<std::int64_t>(limit, 0, SendGovernor::kExactSendsMax);
}

}  // namespace

void SendGovernor::SendTimes::add(TimeMs at_ms, std::int64_t exact_max) {
  exact_.push_back(at_ms);
  while (static_cast<std::int64_t>(exact_.size()) > exact_max) {
    exact_from_ms_ = std::max(exact_from_ms_, exact_.front());
    exact_.pop_front();
  }
  // A send decided before the last minute's (at_ms is when it was decided) counts in that
  // later minute: taken as later than it was, it holds a limit longer, never shorter.
  if (!minutes_.empty() && minuteOf(at_ms) <= minuteOf(minutes_.back().last_ms)) {
    Minute& minute = minutes_.back();
    minute.last_ms = std::max(minute.last_ms, at_ms);
    ++minute.count;
  } else {
    minutes_.push_back({at_ms, 1});
  }
  ++total_;
}

void SendGovernor::SendTimes::forget(TimeMs at_ms) {
  for (auto it = exact_.rbegin(); it != exact_.rend(); ++it) {
    if (*it == at_ms) {
      exact_.erase(std::next(it).base());
      break;
    }
  }
  // The send counts in the first minute at or after its own (add() above).
  auto minute = std::find_if(minutes_.begin(), minutes_.end(), [&](const Minute& m) {
    return minuteOf(m.last_ms) >= minuteOf(at_ms);
  });
  if (minute == minutes_.end()) return;
  --minute->count;
  --total_;
  if (minute->count == 0) minutes_.erase(minute);
}

void SendGovernor::SendTimes::dropThrough(TimeMs before_ms) {
  while (!exact_.empty() && exact_.front() <= before_ms) exact_.pop_front();
  while (!minutes_.empty() && minutes_.front().last_ms <= before_ms) {
    total_ -= minutes_.front().count;
    minutes_.pop_front();
  }
}

TimeMs SendGovernor::SendTimes::windowFree(std::int64_t limit, DurationMs window_ms,
                                           TimeMs now_ms) const {
  if (limit <= 0) return SendGovernor::kNoFreeSlot;
  if (static_cast<std::int64_t>(exact_.size()) >= limit) {
    // The window frees when the limit-th most recent send leaves it.
    TimeMs oldest_counted = exact_[exact_.size() - static_cast<std::size_t>(limit)];
    return std::max(now_ms, oldest_counted + window_ms);
  }
  if (exact_from_ms_ == INT64_MIN || total_ < static_cast<std::uint64_t>(limit)) return now_ms;
  // Past the exact times: the minute holding the limit-th most recent send, at its last one.
  std::uint64_t counted = 0;
  for (auto it = minutes_.rbegin(); it != minutes_.rend(); ++it) {
    counted += it->count;
    if (counted >= static_cast<std::uint64_t>(limit)) {
      return std::max(now_ms, it->last_ms + window_ms);
    }
  }
  return now_ms;
}

template <typename F>
void SendGovernor::SendTimes::forEach(TimeMs from_ms, F&& f) const {
  if (from_ms >= exact_from_ms_) {
    for (TimeMs at : exact_) f(at, std::uint64_t{1});
  } else {
    for (const Minute& minute : minutes_) f(minute.last_ms, std::uint64_t{minute.count});
  }
}

std::size_t SendGovernor::SendTimes::countIn(TimeMs from_ms, TimeMs to_ms) const {
  std::size_t count = 0;
  forEach(from_ms, [&](TimeMs at, std::uint64_t n) {
    if (at > from_ms && at <= to_ms) count += n;
  });
  return count;
}

std::string recipientDomain(std::string_view address) {
  std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : toLowerAscii(address.substr(at + 1));
}

void SendGovernor::configure(const std::vector<Mailbox>& mailboxes) {
  std::map<std::string, MailboxState, std::less<>> configured;
  for (const Mailbox& mailbox : mailboxes) {
    MailboxState state;
    auto existing = mailboxes_.find(mailbox.address);
    if (existing != mailboxes_.end()) state = std::move(existing->second);
    state.limits = mailbox;
    configured[mailbox.address] = std::move(state);
  }
  mailboxes_ = std::move(configured);
}

TimeMs SendGovernor::nextFree(std::string_view mailbox, std::string_view domain,
                              TimeMs now_ms) const {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return kNoFreeSlot;
  const MailboxState& state = found->second;
  TimeMs free_ms = std::max(now_ms, state.interval_free_ms);
  free_ms = std::max(free_ms, state.sends.windowFree(state.limits.hourly_limit, kHourMs, now_ms));
  free_ms = std::max(free_ms, state.sends.windowFree(state.limits.daily_limit, kDayMs, now_ms));
  if (state.limits.domain_daily_limit > 0) {
    auto domain_sends = state.domain_sends.find(domain);
    if (domain_sends != state.domain_sends.end()) {
      free_ms = std::max(free_ms, domain_sends->second.windowFree(state.limits.domain_daily_limit,
                                                                  kDayMs, now_ms));
    }
  }
  return free_ms;
}

void SendGovernor::recordSend(std::string_view mailbox, std::string_view domain, TimeMs at_ms,
                              std::string_view message_id) {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return;
  MailboxState& state = found->second;
  // No window is longer than a day: older sends limit nothing.
  state.sends.dropThrough(at_ms - kDayMs);
  state.sends.add(at_ms, exactMax(std::max(state.limits.daily_limit, state.limits.hourly_limit)));
  DurationMs jitter_ms = 0;
  if (state.limits.jitter_ms > 0) {
    jitter_ms = static_cast<DurationMs>(fnv1a64(message_id) %
                                        static_cast<std::uint64_t>(state.limits.jitter_ms + 1));
  }
  state.interval_free_ms =
      std::max(state.interval_free_ms, at_ms + state.limits.min_interval_ms + jitter_ms);
  if (state.limits.domain_daily_limit > 0) {
    auto& sends = state.domain_sends[std::string(domain)];
    sends.dropThrough(at_ms - kDayMs);
    sends.add(at_ms, exactMax(state.limits.domain_daily_limit));
  }
  if (state.domain_sends.size() >= 2 * state.domains_after_prune + kDomainsPruneSlack ||
      (!state.domain_sends.empty() && at_ms - kDayMs >= state.pruned_at_ms)) {
    pruneDomains(state, at_ms);
  }
}

void SendGovernor::pruneDomains(MailboxState& state, TimeMs now_ms) {
  for (auto it = state.domain_sends.begin(); it != state.domain_sends.end();) {
    // A domain's sends are oldest first; its last one more than a day ago counts no more.
    if (it->second.empty() || it->second.last() <= now_ms - kDayMs) {
      it = state.domain_sends.erase(it);
    } else {
      ++it;
    }
  }
  state.domains_after_prune = state.domain_sends.size();
  state.pruned_at_ms = now_ms;
}

std::size_t SendGovernor::domainsTracked(std::string_view mailbox) const {
  auto found = mailboxes_.find(mailbox);
  return found == mailboxes_.end() ? 0 : found->second.domain_sends.size();
}

std::size_t SendGovernor::sentWithin(std::string_view mailbox, DurationMs window_ms,
                                     TimeMs now_ms) const {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return 0;
  return found->second.sends.countIn(now_ms - window_ms, now_ms);
}

std::vector<std::uint32_t> SendGovernor::sentByHour(std::string_view mailbox, int hours,
                                                    TimeMs now_ms) const {
  std::vector<std::uint32_t> counts(static_cast<std::size_t>(std::max(hours, 0)), 0);
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return counts;
  found->second.sends.forEach(now_ms - hours * kHourMs, [&](TimeMs at, std::uint64_t n) {
    if (at > now_ms) return;
    const std::int64_t hours_ago = at == now_ms ? 0 : (now_ms - at - 1) / kHourMs;
    if (hours_ago < hours) {
      counts[static_cast<std::size_t>(hours - 1 - hours_ago)] += static_cast<std::uint32_t>(n);
    }
  });
  return counts;
}

std::size_t SendGovernor::timesRemembered(std::string_view mailbox) const {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return 0;
  std::size_t times = found->second.sends.remembered();
  for (const auto& [domain, sends] : found->second.domain_sends) times += sends.remembered();
  return times;
}

std::size_t SendGovernor::timesRemembered() const {
  std::size_t times = 0;
  for (const auto& [address, state] : mailboxes_) times += timesRemembered(address);
  return times;
}

SendTimesState SendGovernor::SendTimes::state() const {
  SendTimesState state;
  state.exact.assign(exact_.begin(), exact_.end());
  state.exact_from_ms = exact_from_ms_;
  state.minutes.reserve(minutes_.size());
  for (const Minute& minute : minutes_) state.minutes.push_back({minute.last_ms, minute.count});
  return state;
}

void SendGovernor::SendTimes::setState(const SendTimesState& state, std::int64_t exact_max) {
  exact_.assign(state.exact.begin(), state.exact.end());
  exact_from_ms_ = state.exact_from_ms;
  while (static_cast<std::int64_t>(exact_.size()) > exact_max) {
    exact_from_ms_ = std::max(exact_from_ms_, exact_.front());
    exact_.pop_front();
  }
  minutes_.clear();
  total_ = 0;
  for (const SendTimesState::Minute& minute : state.minutes) {
    SEQD_ASSERT(minute.count > 0);
    minutes_.push_back({minute.last_ms, minute.count});
    total_ += minute.count;
  }
}

std::vector<MailboxSendState> SendGovernor::snapshot() const {
  std::vector<MailboxSendState> mailboxes;
  mailboxes.reserve(mailboxes_.size());
  for (const auto& [address, state] : mailboxes_) {
    MailboxSendState& out = mailboxes.emplace_back();
    out.mailbox = address;
    out.sends = state.sends.state();
    out.interval_free_ms = state.interval_free_ms;
    out.domains.reserve(state.domain_sends.size());
    for (const auto& [domain, sends] : state.domain_sends) {
      out.domains.emplace_back(domain, sends.state());
    }
    out.domains_after_prune = state.domains_after_prune;
    out.pruned_at_ms = state.pruned_at_ms;
  }
  return mailboxes;
}

void SendGovernor::restore(const std::vector<MailboxSendState>& mailboxes) {
  for (const MailboxSendState& saved : mailboxes) {
    auto found = mailboxes_.find(saved.mailbox);
    if (found == mailboxes_.end()) continue;
    MailboxState& state = found->second;
    const Mailbox& limits = state.limits;
    state.sends.setState(saved.sends, exactMax(std::max(limits.daily_limit, limits.hourly_limit)));
    state.interval_free_ms = saved.interval_free_ms;
    state.domain_sends.clear();
    for (const auto& [domain, sends] : saved.domains) {
      state.domain_sends[domain].setState(sends, exactMax(limits.domain_daily_limit));
    }
    state.domains_after_prune = static_cast<std::size_t>(saved.domains_after_prune);
    state.pruned_at_ms = saved.pruned_at_ms;
  }
}

bool SendGovernor::fitsSnapshotBounds(const std::vector<MailboxSendState>& mailboxes) {
  const auto fits = [](const SendTimesState& times) {
    return times.exact.size() <= kSnapshotTimesMax && times.minutes.size() <= kSnapshotTimesMax;
  };
  if (mailboxes.size() > kSnapshotMailboxesMax) return false;
  for (const MailboxSendState& mailbox : mailboxes) {
    if (!fits(mailbox.sends) || mailbox.domains.size() > kSnapshotDomainsMax) return false;
    for (const auto& [domain, sends] : mailbox.domains) {
      if (!fits(sends)) return false;
    }
  }
  return true;
}

SendGovernor::SendDetails SendGovernor::detailsRead(std::string_view mailbox) const {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return SendDetails{};
  const MailboxState& state = found->second;
  // A domain's sends counted under an earlier limit are still forgotten by their domain.
  return SendDetails{state.limits.jitter_ms > 0,
                     state.limits.domain_daily_limit > 0 || !state.domain_sends.empty()};
}

void SendGovernor::forgetSend(std::string_view mailbox, std::string_view domain, TimeMs at_ms) {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return;
  found->second.sends.forget(at_ms);
  auto domain_sends = found->second.domain_sends.find(domain);
  if (domain_sends != found->second.domain_sends.end()) domain_sends->second.forget(at_ms);
}

}  // namespace seqd
