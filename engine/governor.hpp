// SendGovernor: each mailbox's send limits, counted once for the whole daemon (never per
// worker) over rolling windows (SPEC §3 rules 3 and 4).
//
//   daily_limit         at most this many sends in any rolling 24 h
//   hourly_limit        at most this many sends in any rolling 60 min
//   min_interval        at least this long between two sends, plus a jitter of
//                       0..jitter chosen by a hash of the message's Message-ID
//   domain_daily_limit  at most this many sends to one recipient domain in any rolling 24 h
//
// A limit of 0 allows no sends at all (the mailbox is closed); a domain_daily_limit of 0 means
// no per-domain limit. Every send that was handed to delivery counts, delivered or not: a
// limit is never exceeded, even when a relay answered late or the daemon restarted. At
// restart the engine counts the progress log's sends again: the store keeps the log's last
// 25 h at least (EngineSettings::history_keep_ms), longer than any window here.
//
// Memory: per mailbox, and per (mailbox, domain) with a domain limit, a SendTimes: the exact
// times of the last min(limit, kExactSendsMax) sends of the last day, and the day's sends
// counted per minute (at most 1,441 entries). So a mailbox takes at most about 100 KB however
// high its limits and however many it sends, and a send older than a day is forgotten. A
// limit up to kExactSendsMax is held to the millisecond (the limit-th most recent send's own
// time); a higher one is held from the minute counts, each minute's sends taken at the time of
// its last one: never exceeded, freed up to a minute late. A domain whose last send is a day
// old limits nothing and is pruned: each time a mailbox's
// domain table has doubled since its last pruning (plus kDomainsPruneSlack), and at the first
// send a day or more after the last pruning, the table is swept, so it holds at most about
// 2 x daily_limit + kDomainsPruneSlack domains (one send is one domain), at an amortized O(1)
// per send.
//
// State as a value (snapshot(), restore()): every field of every mailbox's and domain's
// SendTimes, so a governor restored from a snapshot is the governor it was taken from. The
// store keeps one (GovernorSnapshot, engine/records.hpp "History") so that a restart reads
// it and the log's sends after it instead of counting the whole day of sends again.
//
// Thread-safety: none; owned by the engine thread. Deterministic.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/mailbox.hpp"
#include "engine/time.hpp"

namespace seqd {

// One SendTimes (below) as a value.
struct SendTimesState {
  struct Minute {
    TimeMs last_ms = 0;  // the latest send counted in this minute
    std::uint32_t count = 0;
    bool operator==(const Minute&) const = default;
  };
  std::vector<TimeMs> exact;  // oldest first
  TimeMs exact_from_ms = INT64_MIN;
  std::vector<Minute> minutes;  // oldest first
  bool operator==(const SendTimesState&) const = default;
};

// One mailbox's counts, as a value.
struct MailboxSendState {
  std::string mailbox;
  SendTimesState sends;
  TimeMs interval_free_ms = INT64_MIN;
  std::vector<std::pair<std::string, SendTimesState>> domains;  // by domain
  std::uint64_t domains_after_prune = 0;
  TimeMs pruned_at_ms = INT64_MIN;
  bool operator==(const MailboxSendState&) const = default;
};

// What a snapshot may hold at most; the store's codec refuses more, so the engine writes no
// snapshot that exceeds one (the restart then counts the log's sends from the last one).
inline constexpr std::size_t kSnapshotMailboxesMax = std::size_t{1} << 16;
inline constexpr std::size_t kSnapshotDomainsMax = std::size_t{1} << 24;
inline constexpr std::size_t kSnapshotTimesMax = std::size_t{1} << 20;  // exact, and minutes
inline constexpr std::size_t kSnapshotOutMax = std::size_t{1} << 24;    // sends out

class SendGovernor {
 public:
  void configure(const std::vector<Mailbox>& mailboxes);

  // The earliest instant at or after now_ms at which mailbox may send to domain; kNoFreeSlot
  // for a mailbox that may never send (a limit of 0) or is unknown.
  TimeMs nextFree(std::string_view mailbox, std::string_view domain, TimeMs now_ms) const;
  // Counts a send. message_id seeds the jitter before the mailbox's next send.
  void recordSend(std::string_view mailbox, std::string_view domain, TimeMs at_ms,
                  std::string_view message_id);

  // What recordSend and forgetSend read of a send to mailbox: its Message-ID (the seed of a
  // jitter) and its recipient's domain (for a domain_daily_limit). Where one is not read, a
  // caller may pass "" instead of working it out: the count is the same.
  struct SendDetails {
    bool message_id = false;
    bool domain = false;
  };
  SendDetails detailsRead(std::string_view mailbox) const;

  // Takes back a send counted at at_ms that never left (withdrawn before delivery had it).
  // The min_interval wait it started stays: erring on the slow side.
  void forgetSend(std::string_view mailbox, std::string_view domain, TimeMs at_ms);

  // Sends in the rolling hour and day before now_ms (for `seqctl mailboxes`).
  std::size_t sentWithin(std::string_view mailbox, DurationMs window_ms, TimeMs now_ms) const;

  // Sends in each of the `hours` whole hours before now_ms, oldest first: [0] counts the sends
  // in (now - hours h, now - (hours - 1) h], the last one those in the hour up to now_ms.
  // The governor keeps the times of the last max(daily_limit, hourly_limit) sends, which is
  // every send of the last 24 h: do not ask for more than 24.
  std::vector<std::uint32_t> sentByHour(std::string_view mailbox, int hours, TimeMs now_ms) const;
  // Recipient domains remembered for mailbox (its domain table's size).
  std::size_t domainsTracked(std::string_view mailbox) const;

  // Times a mailbox's (and each domain's) sends are remembered by, at most: the exact times
  // plus the minute counts (memory is about 8 bytes a time, 16 a minute).
  std::size_t timesRemembered(std::string_view mailbox) const;
  // The same over every mailbox: about the entries a snapshot() holds.
  std::size_t timesRemembered() const;

  // Every configured mailbox's state, by address.
  std::vector<MailboxSendState> snapshot() const;
  // Replaces the state of each configured mailbox the snapshot names (others are left as
  // they are; a mailbox no longer configured is ignored). Exact times beyond what the current
  // limits keep are dropped oldest first, as add() would.
  void restore(const std::vector<MailboxSendState>& mailboxes);
  // True when every list in the snapshot is within the kSnapshot*Max bounds.
  static bool fitsSnapshotBounds(const std::vector<MailboxSendState>& mailboxes);

  static constexpr TimeMs kNoFreeSlot = INT64_MAX;
  static constexpr std::size_t kDomainsPruneSlack = 64;
  // Sends whose exact times are kept, at most, per mailbox and per (mailbox, domain).
  static constexpr std::int64_t kExactSendsMax = 10000;

  // The sends of one mailbox (or one of its domains) in the last day: see "Memory" above.
  class SendTimes {
   public:
    // Counts a send at at_ms; keeps exact times for the last exact_max sends.
    void add(TimeMs at_ms, std::int64_t exact_max);
    // Takes back the latest send counted at at_ms.
    void forget(TimeMs at_ms);
    // Forgets the sends at or before before_ms.
    void dropThrough(TimeMs before_ms);
    // The earliest instant at or after now_ms when fewer than `limit` sends are in the
    // window before it (never earlier than the exact answer).
    TimeMs windowFree(std::int64_t limit, DurationMs window_ms, TimeMs now_ms) const;
    // Sends in (from_ms, to_ms]: exact when the exact times cover from_ms, else from the
    // minute counts (the minute holding from_ms counted whole when its last send is after).
    std::size_t countIn(TimeMs from_ms, TimeMs to_ms) const;
    // Calls f(at_ms, count) for each exact time (count 1), or each minute when the exact times
    // do not cover from_ms.
    template <typename F>
    void forEach(TimeMs from_ms, F&& f) const;
    TimeMs last() const { return minutes_.empty() ? INT64_MIN : minutes_.back().last_ms; }
    bool empty() const { return total_ == 0; }
    std::size_t remembered() const { return exact_.size() + minutes_.size(); }
    SendTimesState state() const;
    // REQUIRES: every minute's count > 0.
    void setState(const SendTimesState& state, std::int64_t exact_max);

   private:
    struct Minute {
      TimeMs last_ms;  // the latest send counted in this minute
      std::uint32_t count;
    };
    std::deque<TimeMs> exact_;  // oldest first
    // Every send after this is in exact_ (the last one dropped from exact_ for room).
    TimeMs exact_from_ms_ = INT64_MIN;
    std::deque<Minute> minutes_;  // oldest first, one entry per minute with sends
    std::uint64_t total_ = 0;     // the sends in minutes_
  };

 private:
  struct MailboxState {
    Mailbox limits;
    SendTimes sends;
    TimeMs interval_free_ms = INT64_MIN;
    std::map<std::string, SendTimes, std::less<>> domain_sends;
    std::size_t domains_after_prune = 0;  // domain_sends.size() after the last pruning
    TimeMs pruned_at_ms = INT64_MIN;      // when the last pruning was
  };

  // Drops the domains with no send in the day before now_ms.
  static void pruneDomains(MailboxState& state, TimeMs now_ms);

  std::map<std::string, MailboxState, std::less<>> mailboxes_;
};

// The recipient domain of an address, lower-cased ("" when it has no '@').
std::string recipientDomain(std::string_view address);

}  // namespace seqd
