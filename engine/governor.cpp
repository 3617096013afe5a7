#include "engine/governor.hpp"

#include <algorithm>

#include "engine/contact.hpp"

namespace seqd {
namespace {

// When the window of `limit` sends frees up: the limit-th most recent send plus the window.
TimeMs windowFree(const std::deque<TimeMs>& sends, std::int64_t limit, DurationMs window_ms,
                  TimeMs now_ms) {
  if (limit <= 0) return SendGovernor::kNoFreeSlot;
  if (static_cast<std::int64_t>(sends.size()) < limit) return now_ms;
  TimeMs oldest_counted = sends[sends.size() - static_cast<std::size_t>(limit)];
  return std::max(now_ms, oldest_counted + window_ms);
}

void keepLast(std::deque<TimeMs>& sends, std::int64_t count) {
  while (!sends.empty() && static_cast<std::int64_t>(sends.size()) > count) sends.pop_front();
}

}  // namespace

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
  free_ms = std::max(free_ms, windowFree(state.sends, state.limits.hourly_limit, kHourMs, now_ms));
  free_ms = std::max(free_ms, windowFree(state.sends, state.limits.daily_limit, kDayMs, now_ms));
  if (state.limits.domain_daily_limit > 0) {
    auto domain_sends = state.domain_sends.find(domain);
    if (domain_sends != state.domain_sends.end()) {
      free_ms = std::max(free_ms, windowFree(domain_sends->second, state.limits.domain_daily_limit,
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
  state.sends.push_back(at_ms);
  keepLast(state.sends, std::max(state.limits.daily_limit, state.limits.hourly_limit));
  DurationMs jitter_ms = 0;
  if (state.limits.jitter_ms > 0) {
    jitter_ms = static_cast<DurationMs>(fnv1a64(message_id) %
                                        static_cast<std::uint64_t>(state.limits.jitter_ms + 1));
  }
  state.interval_free_ms =
      std::max(state.interval_free_ms, at_ms + state.limits.min_interval_ms + jitter_ms);
  if (state.limits.domain_daily_limit > 0) {
    auto& sends = state.domain_sends[std::string(domain)];
    sends.push_back(at_ms);
    keepLast(sends, state.limits.domain_daily_limit);
  }
  if (state.domain_sends.size() >= 2 * state.domains_after_prune + kDomainsPruneSlack ||
      (!state.domain_sends.empty() && at_ms - kDayMs >= state.pruned_at_ms)) {
    pruneDomains(state, at_ms);
  }
}

void SendGovernor::pruneDomains(MailboxState& state, TimeMs now_ms) {
  for (auto it = state.domain_sends.begin(); it != state.domain_sends.end();) {
    // A domain's sends are oldest first; its last one more than a day ago counts no more.
    if (it->second.empty() || it->second.back() <= now_ms - kDayMs) {
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
  const std::deque<TimeMs>& sends = found->second.sends;
  return static_cast<std::size_t>(std::count_if(sends.begin(), sends.end(), [&](TimeMs at) {
    return at > now_ms - window_ms && at <= now_ms;
  }));
}

std::vector<std::uint32_t> SendGovernor::sentByHour(std::string_view mailbox, int hours,
                                                    TimeMs now_ms) const {
  std::vector<std::uint32_t> counts(static_cast<std::size_t>(std::max(hours, 0)), 0);
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return counts;
  for (TimeMs at : found->second.sends) {
    if (at > now_ms) continue;
    const std::int64_t hours_ago = at == now_ms ? 0 : (now_ms - at - 1) / kHourMs;
    if (hours_ago < hours) ++counts[static_cast<std::size_t>(hours - 1 - hours_ago)];
  }
  return counts;
}

namespace {

void eraseLast(std::deque<TimeMs>& sends, TimeMs at_ms) {
  for (auto it = sends.rbegin(); it != sends.rend(); ++it) {
    if (*it == at_ms) {
      sends.erase(std::next(it).base());
      return;
    }
  }
}

}  // namespace

void SendGovernor::forgetSend(std::string_view mailbox, std::string_view domain, TimeMs at_ms) {
  auto found = mailboxes_.find(mailbox);
  if (found == mailboxes_.end()) return;
  eraseLast(found->second.sends, at_ms);
  auto domain_sends = found->second.domain_sends.find(domain);
  if (domain_sends != found->second.domain_sends.end()) eraseLast(domain_sends->second, at_ms);
}

}  // namespace seqd
