// Runtime: wires the daemon's threads around the engine.
//
//   Asio thread     control socket; parses requests and pushes them to the engine thread.
//                   Also the HTTP listener (http_listen): unsubscribe links go to the engine
//                   thread the same way and are answered after the round's commit.
//   engine thread   owns the Engine: drains commands and delivery results, advances the
//                   clock, takes one batch per round (group commit) and hands it to the
//                   committer; once that round's commit is durable it answers its commands
//                   and hands its intents to delivery (daemon/engine_start.hpp:
//                   RoundPipeline). It writes to the Store itself only with no commit in
//                   flight (the checkpoint at shutdown, a probe while the store is full).
//   committer       encodes and commits each round's batch in ONE transaction while the
//                   engine thread decides the next round; one batch in flight at most.
//   status reader   answers `status`, `report`, `tasks` and `contacts` from a snapshot the
//                   engine thread took between rounds, streaming it to the connection
//                   (io/status_stream.hpp).
//   delivery pool   decides nothing: renders each message from the immutable snapshots its
//                   intent holds (engine/render.hpp), delivers it and reports back.
//   inbox poller    reads and classifies the mailboxes' inboxes every inbox_poll, hands the
//                   messages to the engine thread and marks them once that round committed
//                   (daemon/inbox_poller.hpp).
// Between them: bounded by-value batch queues (io/batch_queue.hpp) and one Wakeup for the
// engine thread, notified once per batch (when a queue turns non-empty). The bounds, and what
// a producer does when one is reached:
//
//   queue                     capacity                           when full
//   control -> engine         kCommandsQueueMax                  cannot fill: each connection
//     commands                = kConnectionsMax x                stops reading at
//                               kPipelinedRequestsMax            kPipelinedRequestsMax
//                                                                unanswered requests, so the
//                                                                socket pushes back
//   HTTP -> engine            kHttpConnectionsMax                one request per connection
//     unsubscribe links                                          and the listener reads no
//                                                                other; a request that finds
//                                                                it full gets 503 (the Asio
//                                                                thread never blocks)
//   inbox poller -> engine    1 round                            the poller waits (it waits
//                                                                for the round's commit anyway)
//   engine -> delivery        workers + kIdempotentQueueMax      cannot fill: the engine
//     intents                 (the engine's delivery slots)      releases no more than its
//                                                                slots (freeSlots), checked
//   delivery -> engine        the same                           cannot fill: results <=
//     results                                                    intents released
//
// A full delivery queue pushes back on the engine: with no free slots it releases no intent,
// so due work stays due in the engine (no queue grows). Nothing spins.
//
// Under --virtual-time, `time advance` runs every due step in time order, waiting for each
// turn's deliveries and committing their results, before it answers; it reads the inboxes
// first, so a reply that arrived "before" the new time is applied before the steps run. Its
// turns are pipelined (the next sends decided while a commit is written, and the sends before
// rendered and delivered while it is) on a fixed schedule, so what it decides never depends
// on a worker's timing (Runtime::advanceVirtual).
//
// Thread-safety: start/stop/requestReload from the main thread; the rest is internal.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "daemon/engine_start.hpp"
#include "daemon/inbox_poller.hpp"
#include "engine/clock.hpp"
#include "engine/engine.hpp"
#include "io/batch_queue.hpp"
#include "io/command_dispatch.hpp"
#include "io/control_server.hpp"
#include "io/delivery_pool.hpp"
#include "io/http_server.hpp"
#include "io/lateness_trace.hpp"
#include "io/metrics.hpp"
#include "io/status_stream.hpp"
#include "io/store.hpp"
#include "io/unsubscribe_endpoint.hpp"

namespace seqd {

inline constexpr std::size_t kCommandsPerRoundMax = 256;
// A round stops taking commands once its batch holds this many records (one command may go
// over it: the store takes any number in one transaction).
inline constexpr std::size_t kRoundRecordsSoftMax = 65536;
// At SIGTERM the workers get the SMTP timeout plus this to finish the message they are on.
inline constexpr int kShutdownGraceMs = 5000;
// After the last commit at SIGTERM, the checkpoint that lets the next start read no journal
// tail runs for at most this long; what it has not written stays in the journal.
inline constexpr int kShutdownCheckpointMs = 20000;
// Idempotent (Maildir, discard) sends released to delivery and not yet answered, at most:
// two rounds' (RoundPipeline releases at most kIdempotentRoundMax a round). A `time advance`
// turn's sends are delivered while the next turn's commit is written.
inline constexpr std::size_t kIdempotentQueueMax = 2 * kIdempotentRoundMax;
inline constexpr int kAdvanceDeliveryWaitMs = 120000;
// `seqctl inbox` shows this many of the latest inbox messages.
inline constexpr std::size_t kInboxLogMax = 500;
// The metrics snapshot is taken at most this often (it counts every enrollment).
inline constexpr int kMetricsPublishIntervalMs = 1000;
// Unsubscribe links taken per round (the HTTP listener holds at most kHttpConnectionsMax).
inline constexpr std::size_t kUnsubscribesPerRoundMax = kHttpConnectionsMax;
// Commands queued for the engine thread, at most: every connection's unanswered requests.
inline constexpr std::size_t kCommandsQueueMax = kConnectionsMax * kPipelinedRequestsMax;

// After a commit fails for want of room (a full disk, or the store's map), the engine goes back
// to the last committed state, loaded from the store, and seqd keeps serving: commands that
// change nothing are answered, no due step is taken, and a write is tried again with each
// command that changes something and every kStoreFullProbeMs until one succeeds
// (daemon/engine_start.hpp: StoreRoom, shared with the simulation).

struct RuntimeOptions {
  Config config;
  ConfigDefaults defaults = ConfigDefaults::kSystem;
  std::optional<TimeMs> virtual_start_ms;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options);
  ~Runtime();

  // Opens and loads the store (which locks the state dir), binds the socket and starts the
  // threads. A failure here is fatal: the message says what and where.
  Status start();
  // Asks for a reload as if `seqctl reload` had been sent (SIGHUP).
  void requestReload();
  // Stops taking work, lets in-flight deliveries finish, commits, and joins the threads.
  void stop();

 private:
  struct PendingCommand {
    ControlRequest request;
    ControlSend send;
  };
  struct PendingReply {
    ControlSend send;
    boost::json::object frame;
    std::string log_line;  // "" : not logged (a read answered well)
    bool ok = true;        // the command itself succeeded
    // A long answer listing contacts (io/status_stream.hpp's streamedAnswer), streamed by the
    // reader thread after the commit instead of `frame`.
    ReadAnswer streamed;
  };
  struct PendingUnsubscribe {
    UnsubscribeCall call;
    HttpRespond respond;
  };

  // A poll's messages on their way to the engine thread; `committed` is set once what they
  // changed is committed, and only then are they marked in their inboxes.
  struct InboxRound {
    std::vector<PolledMessage> messages;
    std::promise<bool> committed;  // false: the commit failed; they stay unmarked
  };

  void engineLoop();
  void inboxLoop();
  void processInbox();
  void applyPolled(std::vector<PolledMessage>& messages);
  void pollInboxesNow();
  void runRound();
  void processCommands();
  void processResults();
  void handleCommand(PendingCommand& command);
  bool takeRead(PendingCommand& command);
  static std::string commandLogLine(const ControlRequest& request, const DispatchReply& reply);
  static void logOutcome(const PendingReply& reply, const std::string* failed);
  DispatchReply runtimeCommand(const ControlRequest& request, bool& handled);
  DispatchReply advanceVirtual(TimeMs target_ms);
  DispatchReply reload(bool dry_run, bool force);
  void shutDown();
  void checkpointAtShutdown();
  Status startHttp();
  Status startMetrics();
  // Between rounds, at most every kMetricsPublishIntervalMs: a new snapshot for scrapes.
  void publishMetrics();
  void notifyStatus(const MetricsSnapshot& snapshot);
  void pingWatchdog();
  void processUnsubscribes();
  DeliverySlots freeSlots() const;
  std::size_t deliveryInFlightMax() const;
  // Sends released to delivery whose results are not recorded yet (the engine's count, or
  // the pool's when larger: waitForDeliveries).
  std::size_t deliveriesOut() const;
  // Sends handed to the delivery pool whose results are not applied yet (the decided ones in
  // the commit in flight are not: they go to the pool once it is durable).
  std::size_t releasedOut() const { return smtp_outstanding_ + idempotent_outstanding_; }
  // Which sends waitForDeliveries() waits for: deliveriesOut() or releasedOut().
  enum class SendsWaited { kAll, kReleased };
  // True when none is out after it (false: the time ran out, or seqd is stopping).
  bool waitForDeliveries(int timeout_ms, bool while_stopping = false,
                         SendsWaited waited = SendsWaited::kAll);
  // What a round answers once its commit is durable (or refuses when it is not kept).
  struct RoundOutputs {
    std::uint64_t number = 0;  // RoundPipeline's
    std::vector<PendingReply> replies;
    std::vector<StatusRead> status_reads;
    std::vector<std::shared_ptr<InboxRound>> inbox;
    std::vector<std::pair<HttpRespond, HttpResponse>> http_replies;
    // For the lateness trace (io/lateness_trace.hpp), when on: woke_us 0 when not a loop's
    // round. Filled in up to submitted_us; the commit's figures join when it returned.
    RoundTrace trace;
  };
  // Ends the round: its batch goes to the committer, and the round before it (in flight) is
  // answered and delivered once durable. `drain`: this round too, before returning. False
  // when a round was refused for want of room (recoverFromFullStore).
  bool commitAndFlush(bool drain = false);
  // Waits for the round in flight and answers it; false as commitAndFlush.
  bool drainRounds();
  bool finishRounds(std::vector<FinishedRound>& ended);
  void releaseRound(RoundOutputs& outputs, std::vector<DeliveryIntent>& intents);
  // The answers gathered since the last round ended, tagged with the round now decided.
  RoundOutputs takeUnended();
  void traceRound(const RoundOutputs& outputs, const RoundCommit& committed);
  void refuseRound(RoundOutputs& outputs, const Status& error);
  // Builds engine_ from what the store holds (at start, and after a failed commit).
  Status loadEngine(std::string& counts);
  // The rounds refused were answered (refuseRound); builds the engine again from the store.
  void recoverFromFullStore(const Status& error);
  Caller callerOf(const ControlRequest& request) const;
  TimeMs now() const { return clock_->now(); }

  RuntimeOptions options_;
  std::string own_user_;  // the account seqd runs as: an admin too (ExecReload)
  // A copy of the config's admins for the Asio thread (reserved connection slots); a reload
  // replaces it under admins_mutex_.
  mutable std::mutex admins_mutex_;
  std::vector<std::string> connection_admins_;
  std::unique_ptr<Clock> clock_;
  VirtualClock* virtual_clock_ = nullptr;  // clock_ when virtual
  TimeMs committed_clock_ms_ = kNoTime;    // the clock reading last written to the store
  // Whether the store has no room, and when to try again; engine thread only.
  StoreRoom room_;
  std::unique_ptr<Store> store_;
  // Commits each round's batch on its own thread; rounds in flight, answered in order.
  std::unique_ptr<ThreadCommitter> committer_;
  std::unique_ptr<RoundPipeline> pipeline_;
  std::deque<RoundOutputs> awaiting_;
  std::unique_ptr<Engine> engine_;
  // SEQD_LATENESS_TRACE's (a benchmark's), or null; outlives delivery_.
  std::unique_ptr<LatenessTrace> trace_;
  RoundTrace round_trace_;   // this round's, for the trace, as far as decided_us
  ThreadUsage round_usage_;  // the engine thread's at round_trace_.woke_us
  std::unique_ptr<DeliveryPool> delivery_;
  boost::asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  Wakeup wakeup_;
  BatchQueue<PendingCommand> commands_{kCommandsQueueMax, [this] { wakeup_.notify(); }};
  std::vector<PendingCommand> command_batch_;  // taken from commands_, not yet handled
  std::size_t command_next_ = 0;               // the next one to handle in command_batch_
  std::vector<DeliveryResult> result_batch_;   // reused round to round
  std::vector<PendingReply> replies_;
  // `status`, `report`, `tasks` and `contacts` answers: snapshots taken this round, handed to
  // the reader after the commit.
  std::unique_ptr<StatusReader> status_reader_;
  std::vector<StatusRead> status_reads_;
  std::unique_ptr<HttpServer> http_;  // when http_listen is set
  BatchQueue<PendingUnsubscribe> unsubscribes_{kHttpConnectionsMax, [this] { wakeup_.notify(); }};
  std::vector<PendingUnsubscribe> unsubscribe_batch_;
  std::vector<std::pair<HttpRespond, HttpResponse>> http_replies_;  // sent after the commit
  // Metrics (io/metrics.hpp): counted on the engine thread, published as a snapshot the
  // metrics listener reads under metrics_mutex_.
  std::unique_ptr<HttpServer> metrics_http_;                           // when metrics_listen is set
  std::map<std::string, std::map<std::string, std::uint64_t>> sends_;  // mailbox -> result
  Histogram commit_duration_ = commitDurationHistogram();
  std::map<std::string, std::uint64_t> reloads_;  // ok | rejected | refused
  std::chrono::steady_clock::time_point metrics_published_{};
  std::mutex metrics_mutex_;
  std::shared_ptr<const MetricsSnapshot> metrics_;
  std::string last_status_;                                     // the last STATUS= sent
  std::optional<std::chrono::milliseconds> watchdog_interval_;  // half WATCHDOG_USEC
  std::chrono::steady_clock::time_point last_watchdog_{};
  std::size_t smtp_outstanding_ = 0;        // SMTP intents submitted, no result yet
  std::size_t idempotent_outstanding_ = 0;  // the same for Maildir and discard
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reload_requested_{false};
  std::thread engine_thread_;
  std::thread io_thread_;
  std::unique_ptr<InboxPoller> inbox_;  // null: no mailbox has an inbox
  // One round at a time: the poller waits for its commit before it reads again.
  BatchQueue<std::shared_ptr<InboxRound>> inbox_rounds_{1, [this] { wakeup_.notify(); }};
  std::vector<std::shared_ptr<InboxRound>> inbox_batch_;
  std::vector<std::shared_ptr<InboxRound>> inbox_committing_;  // applied, not yet committed
  std::deque<boost::json::object> inbox_log_;                  // `seqctl inbox`, newest last
  Wakeup inbox_wakeup_;
  std::thread inbox_thread_;
};

// Builds the engine's view of a loaded config.
EngineSettings engineSettingsFrom(const Config& config);

}  // namespace seqd
