#include "daemon/runtime.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "daemon/engine_start.hpp"
#include "daemon/log.hpp"
#include "daemon/systemd_notify.hpp"
#include "engine/assert.hpp"
#include "engine/permissions.hpp"
#include "io/contact_text_file.hpp"
#include "io/control_protocol.hpp"
#include "io/store_guard.hpp"
#include "io/thread_name.hpp"

namespace seqd {
namespace json = boost::json;

namespace {

bool boolArgument(const json::object& args, std::string_view name) {
  const json::value* value = args.if_contains(name);
  return value != nullptr && value->is_bool() && value->as_bool();
}

}  // namespace

EngineSettings engineSettingsFrom(const Config& config) {
  EngineSettings settings;
  settings.sequences = config.sequences;
  settings.schedules = config.schedules;
  settings.mailboxes = config.daemon.mailboxes;
  settings.tick_ms = config.daemon.tick_ms;
  settings.ooo_default_pause_ms = config.daemon.ooo_default_pause_ms;
  settings.unsubscribe = {config.daemon.unsubscribe_url, config.daemon.unsubscribe_secret};
  for (const auto& [sequence_id, workflows] : config.workflows) {
    for (const Workflow& workflow : workflows) {
      WorkflowSpec spec;
      spec.sequence_id = sequence_id;
      spec.from_list = workflow.from_list;
      spec.min_score = workflow.min_score;
      spec.where = workflow.where;
      if (!workflow.where.empty()) {
        Result<ContactQuery> query = ContactQuery::parse(workflow.where);
        if (query.isOk()) spec.query = std::move(query.value());  // config/ checked it
      }
      spec.every_ms = workflow.every_ms;
      spec.location = workflow.location;
      settings.workflows.push_back(std::move(spec));
    }
  }
  // Tests only: a smaller bound on done tasks in memory, so a few tasks reach it.
  if (const char* text = std::getenv("SEQD_TEST_DONE_TASKS_IN_MEMORY_MAX"); text && *text) {
    settings.done_tasks_in_memory_max = std::strtoull(text, nullptr, 10);
  }
  return settings;
}

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {
  if (const passwd* account = ::getpwuid(::geteuid())) own_user_ = account->pw_name;
}

Runtime::~Runtime() { stop(); }

namespace {

double msSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

std::string formatMs(double ms) { return std::to_string(static_cast<long long>(ms)) + " ms"; }

// The steady clock in ms: when StoreRoom probes.
std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status Runtime::start() {
  const std::string& state_dir = options_.config.daemon.state_dir;
  auto phase_start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<Store>> store = openLmdbStore(state_dir);
  if (!store.isOk()) {
    // The store holds an exclusive lock on its directory for as long as it is open.
    if (store.status().code() == StatusCode::kFailedPrecondition) {
      return Status::failedPrecondition("another seqd is already running on state dir " +
                                        state_dir + " (" + store.status().message() + ")");
    }
    return store.status();
  }
  store_ = std::move(store.value());
  // With the state dir locked by the store: the contacts loaded next keep their texts there.
  logInfo(installContactTextFile(state_dir));
  committer_ = std::make_unique<ThreadCommitter>(
      *store_, [this] { wakeup_.notify(); }, ThreadCommitter::kIdleAfterDefault,
      releaseContactTextPages);
  pipeline_ = std::make_unique<RoundPipeline>(*committer_);
  const double open_ms = msSince(phase_start);
  std::string loaded;
  Status load = loadEngine(loaded);
  if (!load.isOk()) return load;
  logInfo("loaded " + loaded.replace(loaded.find(" ("), 2,
                                     " (store open and walk " + formatMs(open_ms) + ", "));

  trace_ = LatenessTrace::fromEnvironment();
  delivery_ = std::make_unique<DeliveryPool>(
      options_.config.daemon.maildir_dir, options_.config.daemon.smtp,
      options_.config.daemon.workers, deliveryInFlightMax(), [this] { wakeup_.notify(); },
      [](std::string_view line) { logInfo(line); }, trace_.get());

  {
    std::lock_guard lock(admins_mutex_);
    connection_admins_ = options_.config.daemon.admins;
  }
  server_ = std::make_unique<ControlServer>(
      io_, options_.config.daemon.control_socket, options_.config.daemon.socket_group,
      [this](ControlRequest request, ControlSend send) {
        // Never full while every connection keeps to kPipelinedRequestsMax; the Asio thread
        // must not block, so a request that finds it full is answered busy.
        PendingCommand pending{std::move(request), std::move(send)};
        if (!commands_.tryPush(pending)) {
          pending.send(makeErrorReply(pending.request.id, "busy",
                                      "seqd's command queue is full; try again"));
        }
      },
      [](const std::string& line) { logWarning(line); }, ControlLimits::fromEnvironment(),
      [this](uid_t uid, const std::string& user) {
        if (uid == 0 || uid == ::geteuid()) return true;
        std::lock_guard lock(admins_mutex_);
        return std::find(connection_admins_.begin(), connection_admins_.end(), user) !=
               connection_admins_.end();
      });
  status_reader_ = std::make_unique<StatusReader>(StatusStreamLimits::fromEnvironment());
  Status listening = server_->start();
  if (listening.isOk()) listening = startHttp();
  if (listening.isOk()) listening = startMetrics();
  if (!listening.isOk()) return listening;

  commitAndFlush(true);  // hands re-deliveries found at restore to the pool
  if (!options_.config.daemon.inboxes.empty()) {
    inbox_ = std::make_unique<InboxPoller>(options_.config.daemon.inboxes);
    if (!virtual_clock_) {
      inbox_thread_ = std::thread([this] {
        nameThisThread("seqd-inbox");
        inboxLoop();
      });
    }
  }
  engine_thread_ = std::thread([this] {
    nameThisThread("seqd-engine");
    engineLoop();
  });
  io_thread_ = std::thread([this] {
    nameThisThread("seqd-control");
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
  logInfo("listening on " + options_.config.daemon.control_socket +
          (virtual_clock_ ? "; virtual time " + formatRfc3339(now()) : std::string()));
  sdNotify("READY=1\nSTATUS=serving " + std::to_string(engine_->enrollmentCount()) +
           " enrollments");
  return Status::ok();
}

// Loads the store and builds the engine from it: at start, and after a commit that failed for
// want of room, to go back to the last committed state. `loaded` says what and how long.
Status Runtime::loadEngine(std::string& loaded) {
  auto phase_start = std::chrono::steady_clock::now();
  LoadedState state;
  Status load = store_->load(state);
  if (!load.isOk()) return load;
  const double load_ms = msSince(phase_start);
  if (options_.virtual_start_ms) {
    TimeMs start_ms = std::max(*options_.virtual_start_ms, state.clock_ms.value_or(INT64_MIN));
    if (virtual_clock_ == nullptr) {
      auto clock = std::make_unique<VirtualClock>(start_ms);
      virtual_clock_ = clock.get();
      clock_ = std::move(clock);
    } else {
      virtual_clock_->rewindTo(start_ms);
    }
    committed_clock_ms_ = state.clock_ms.value_or(kNoTime);
  } else if (clock_ == nullptr) {
    clock_ = std::make_unique<SystemClock>();
  }
  phase_start = std::chrono::steady_clock::now();
  loaded = std::to_string(state.contacts.size()) + " contacts, " +
           std::to_string(state.enrollments.size()) + " enrollments, " +
           std::to_string(state.journal_ids.size()) + " journal entries, " +
           std::to_string(state.progress.size()) + " progress records, " +
           std::to_string(state.tasks.size()) + " tasks";
  Result<std::unique_ptr<Engine>> started =
      startEngine(std::move(state), engineSettingsFrom(options_.config), now());
  if (!started.isOk()) return started.status();
  engine_ = std::move(started.value());
  loaded +=
      " (load " + formatMs(load_ms) + ", engine restore " + formatMs(msSince(phase_start)) + ")";
  // The load read every page of the store through its map: drop them from seqd's resident
  // set, so that its RSS is the state it holds. (mi_collect(true) here as well changed
  // nothing measurable: perf/RESULTS.md, "Contacts decoded packed".)
  store_->releaseMappedPages();
  releaseContactTextPages();  // the same for the contacts' texts just written
  return Status::ok();
}

void Runtime::requestReload() {
  reload_requested_.store(true);
  wakeup_.notify();
}

void Runtime::stop() {
  if (stopping_.exchange(true)) return;
  sdNotify("STOPPING=1");
  if (server_) server_->stop();
  if (http_) http_->stop();
  if (metrics_http_) metrics_http_->stop();
  wakeup_.notify();
  inbox_rounds_.close();  // wakes a poller waiting for room
  inbox_wakeup_.notify();
  if (inbox_thread_.joinable()) inbox_thread_.join();
  if (engine_thread_.joinable()) engine_thread_.join();
  if (status_reader_) status_reader_->stop();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  if (delivery_ && delivery_->busyWorkers() > 0) {
    // A relay that never answers holds a worker past the SMTP timeout. Everything is
    // committed; leave without waiting for it (its send is uncertain at the next start).
    std::_Exit(0);
  }
  if (delivery_) delivery_->stop();
  delivery_.reset();
  trace_.reset();  // writes the trace, once the workers are done
}

// ---------------------------------------------------------------------------------------
// The engine thread

// WATCHDOG=1 when half the watchdog's timeout has passed since the last one. Called between
// rounds and inside the loops that can hold the engine thread longer (a virtual-time advance
// over many steps, a wait for deliveries), so a long `time advance` is not taken for a hang.
void Runtime::pingWatchdog() {
  if (!watchdog_interval_) return;
  const auto current = std::chrono::steady_clock::now();
  if (current - last_watchdog_ < *watchdog_interval_) return;
  sdNotify("WATCHDOG=1");
  last_watchdog_ = current;
}

void Runtime::engineLoop() {
  watchdog_interval_ = watchdogInterval();
  last_watchdog_ = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    runRound();
    std::chrono::microseconds timeout = std::chrono::seconds(1);
    if (!virtual_clock_) {
      if (std::optional<TimeMs> next = engine_->nextDue()) {
        // To the microsecond: a step due at a tick's start is taken then, not up to a
        // millisecond later. Work already due and held (delivery has no room) is looked at
        // again a millisecond later.
        const std::int64_t delay_us =
            *next * 1000 - std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
        timeout = std::chrono::microseconds(delay_us > 0 ? std::min<std::int64_t>(delay_us, 1000000)
                                                         : 1000);
      }
    }
    // A truncation of old history cut at its per-commit bound goes on at once. (A commit in
    // flight wakes the thread when it is done: its round is answered in the next.)
    if (pipeline_->historyTrimPending() && !pipeline_->inFlight()) {
      timeout = std::chrono::microseconds(0);
    }
    if (watchdog_interval_) {
      timeout = std::min<std::chrono::microseconds>(timeout, *watchdog_interval_);
    }
    pingWatchdog();
    wakeup_.waitFor(timeout);
  }
  shutDown();
}

// SIGTERM: no due work is taken any more; each worker finishes the message it is on (bounded
// by the SMTP timeout), every send never started comes back to the engine as not attempted,
// every result is recorded, and the last commit is made. Nothing is sent after it.
void Runtime::shutDown() {
  // The round in flight first: its sends reach the pool before it stops taking, and come back
  // from it as not attempted with the rest.
  drainRounds();
  delivery_->stopTaking();
  delivery_->returnQueued();
  const int wait_ms = static_cast<int>(options_.config.daemon.smtp.timeout_ms) + kShutdownGraceMs;
  waitForDeliveries(wait_ms, true);
  commitAndFlush(true);  // nothing in flight after it: the checkpoint writes on this thread
  checkpointAtShutdown();
  if (engine_->deliveriesInFlight() > 0) {
    logWarning(std::to_string(engine_->deliveriesInFlight()) +
               " sends got no answer in time; they count as interrupted at the next start");
  }
  logInfo("stopped; state committed");
}

// A round, as the commit pipeline allows: the round in flight, once durable, is answered and
// delivered first, before this one is decided; while it is still being committed this round
// is not ended but goes on into the next (group commit: the committer's wakeup starts that
// one), so a step that falls due meanwhile waits for one commit, its own, instead of for the
// one in flight, then its own, with the engine thread blocked between them.
void Runtime::runRound() {
  // The trace's phases: each mark is the end of one (io/lateness_trace.hpp, RoundTrace).
  std::int64_t mark_us = 0;
  auto since_mark_us = [&] {
    const std::int64_t before_us = std::exchange(mark_us, LatenessTrace::nowUs());
    return mark_us - before_us;
  };
  if (trace_) {
    round_trace_ = RoundTrace{};
    round_trace_.woke_us = mark_us = LatenessTrace::nowUs();
    round_usage_ = ThreadUsage::now();
  }
  if (pipeline_->inFlight() && committer_->ready()) drainRounds();
  if (trace_) round_trace_.drain_us = since_mark_us();
  if (reload_requested_.exchange(false)) {
    DispatchReply reply = reload(false, false);
    if (!reply.ok) logError(reply.error_message);
  }
  processResults();
  processCommands();
  // With the store full, no due step is taken and no inbox message applied: both would write.
  if (!room_.full()) processInbox();
  processUnsubscribes();
  if (trace_) round_trace_.inputs_us = since_mark_us();
  if (!virtual_clock_ && !room_.full()) {
    round_trace_.now_ms = now();
    engine_->advanceTo(round_trace_.now_ms);
  }
  if (trace_) {
    round_trace_.advance_us = since_mark_us();
    round_trace_.decided_us = mark_us;
  }
  if (!room_.full() && pipeline_->inFlight() && !committer_->ready()) return;
  commitAndFlush();
  publishMetrics();
}

// ---------------------------------------------------------------------------------------
// Inboxes

// The poller thread (real clock only): read, hand over, wait for the commit, mark, sleep.
void Runtime::inboxLoop() {
  const auto interval = std::chrono::milliseconds(options_.config.daemon.inbox_poll_ms);
  while (!stopping_.load()) {
    auto round = std::make_shared<InboxRound>();
    round->messages = inbox_->readAll();
    if (!round->messages.empty()) {
      std::future<bool> committed = round->committed.get_future();
      if (!inbox_rounds_.push(round)) return;  // closed: seqd is stopping
      // Unmarked if seqd stops first: read again at the next start, applied once.
      while (committed.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
        if (stopping_.load()) return;
      }
      if (committed.get()) inbox_->markHandled(round->messages);
    }
    inbox_wakeup_.waitFor(interval);
  }
}

void Runtime::processInbox() {
  inbox_batch_.clear();
  inbox_rounds_.popUpTo(inbox_batch_);
  for (std::shared_ptr<InboxRound>& round : inbox_batch_) {
    applyPolled(round->messages);
    inbox_committing_.push_back(std::move(round));
  }
}

// Under virtual time: one poll, applied and committed, before the clock moves.
void Runtime::pollInboxesNow() {
  if (!inbox_) return;
  std::vector<PolledMessage> messages = inbox_->readAll();
  if (messages.empty()) return;
  applyPolled(messages);
  if (commitAndFlush(true)) inbox_->markHandled(messages);
}

// Applies each message on the engine thread, logs it, and notes it for `seqctl inbox`.
void Runtime::applyPolled(std::vector<PolledMessage>& messages) {
  for (PolledMessage& polled : messages) {
    json::object entry{{"at", formatRfc3339(now())},
                       {"mailbox", polled.mailbox},
                       {"kind", inboundKindName(polled.mail.kind)},
                       {"from", polled.mail.from_address},
                       {"subject", polled.mail.subject},
                       {"message_id", polled.dedupe_id},
                       {"why", polled.mail.why},
                       {"contact", nullptr},
                       {"sequence", nullptr}};
    std::string action = "left alone";
    if (std::optional<InboundMessage> message = inboundMessageOf(polled)) {
      Result<InboundResult> applied = engine_->applyInbound(*message, now());
      if (!applied.isOk()) {
        action = "failed: " + applied.status().message();
      } else {
        const InboundResult& result = applied.value();
        action = result.action;
        if (!result.contact.empty()) entry["contact"] = result.contact;
        if (!result.sequence.empty()) entry["sequence"] = result.sequence;
        // Marked once committed; a message about nobody stays for a person to read.
        polled.handled = result.duplicate || !result.contact.empty();
      }
    }
    entry["action"] = action;
    std::string line = "inbox " + polled.mailbox + ": " + inboundKindName(polled.mail.kind) +
                       " from " +
                       (polled.mail.from_address.empty() ? "?" : polled.mail.from_address) + " " +
                       polled.dedupe_id;
    if (const json::value& contact = entry["contact"]; contact.is_string()) {
      line += " contact " + std::string(contact.as_string());
    }
    if (const json::value& sequence = entry["sequence"]; sequence.is_string()) {
      line += " sequence " + std::string(sequence.as_string());
    }
    logInfo(line + ": " + action + (polled.mail.why.empty() ? "" : " (" + polled.mail.why + ")"));
    inbox_log_.push_back(std::move(entry));
    if (inbox_log_.size() > kInboxLogMax) inbox_log_.pop_front();
  }
}

void Runtime::processResults() {
  result_batch_.clear();
  delivery_->takeResults(result_batch_);
  for (const DeliveryResult& result : result_batch_) {
    std::size_t& outstanding =
        isIdempotent(result.transport) ? idempotent_outstanding_ : smtp_outstanding_;
    SEQD_ASSERT(outstanding > 0);
    --outstanding;
    static constexpr const char* kResultNames[] = {"sent", "retry", "bounced", "returned"};
    // Read before onDeliveryResult, which clears the enrollment's sending mailbox.
    ++sends_[engine_->sendingMailbox(result.enrollment_id)]
            [kResultNames[static_cast<std::size_t>(result.outcome)]];
    if (result.outcome != DeliveryOutcome::kDelivered &&
        result.outcome != DeliveryOutcome::kReturned) {
      logWarning("delivery of " + engine_->outMessageId(result.enrollment_id) +
                 " failed: " + result.detail);
    }
    engine_->onDeliveryResult(result, now());
  }
}

// The most freeSlots() ever offers in all, and the delivery pool's bound.
std::size_t Runtime::deliveryInFlightMax() const {
  return static_cast<std::size_t>(std::max(1, options_.config.daemon.workers)) +
         kIdempotentQueueMax;
}

// Room in delivery: SMTP sends are released about one per worker, so a crash leaves at most
// that many uncertain; idempotent ones may queue deeper.
DeliverySlots Runtime::freeSlots() const {
  DeliverySlots slots;
  if (stopping_.load()) return DeliverySlots{0, 0};
  const std::size_t workers = static_cast<std::size_t>(std::max(1, options_.config.daemon.workers));
  slots.smtp = workers > smtp_outstanding_ ? workers - smtp_outstanding_ : 0;
  slots.idempotent = kIdempotentQueueMax > idempotent_outstanding_
                         ? kIdempotentQueueMax - idempotent_outstanding_
                         : 0;
  return slots;
}

void Runtime::processCommands() {
  if (command_next_ == command_batch_.size()) {
    command_batch_.clear();
    command_next_ = 0;
    commands_.popUpTo(command_batch_, kCommandsPerRoundMax);
  }
  // A round commits as one transaction: stop taking commands once it holds many records.
  while (command_next_ < command_batch_.size() &&
         engine_->pendingRecords() < kRoundRecordsSoftMax) {
    handleCommand(command_batch_[command_next_++]);
  }
  // Some are left (in the batch or queued): come straight back after this round's commit.
  if (command_next_ < command_batch_.size() || commands_.size() > 0) wakeup_.notify();
}

void Runtime::handleCommand(PendingCommand& command) {
  if (takeRead(command)) return;
  bool handled = false;
  DispatchReply reply = runtimeCommand(command.request, handled);
  if (!handled) {
    const BatchMark before = markOf(engine_->pendingBatch());
    reply = dispatchCommand(*engine_, command.request.cmd, command.request.args,
                            callerOf(command.request), now());
    // The request checks keep out what the store cannot hold; anything else is a bug, which
    // fails this command rather than the round's batch (io/store_guard.hpp).
    std::vector<std::string> refused = refusedRecords(engine_->pendingBatch(), before);
    if (!refused.empty()) {
      logError("bug: command " + command.request.cmd +
               " passed the request checks, but the store cannot hold " + refused.front());
      reply = replyFromStatus(Status::ioError("the store cannot hold " + refused.front() +
                                              " (a bug in seqd, logged); it is not stored"));
    }
  }
  // Logged once the round's commit decided the outcome (commitAndFlush), so a change the
  // commit then refuses is not logged "ok" first.
  std::string log_line = commandLogLine(command.request, reply);
  json::object frame =
      reply.ok ? makeOkReply(command.request.id, std::move(reply.result))
               : makeErrorReply(command.request.id, reply.error_code, reply.error_message);
  ReadAnswer streamed;
  if (reply.ok && reply.streamed != nullptr) {
    streamed = streamedAnswer(std::move(reply.streamed), command.request.id);
  }
  replies_.push_back(PendingReply{std::move(command.send), std::move(frame), std::move(log_line),
                                  reply.ok, std::move(streamed)});
}

// A good `status`, `report`, `tasks` or `contacts` request: the engine thread only takes the
// snapshot; the reader thread computes, orders and streams the answer once this round is
// committed (io/status_stream.hpp). Anything wrong with the request is answered by
// dispatchCommand, as any command.
bool Runtime::takeRead(PendingCommand& command) {
  const std::string& cmd = command.request.cmd;
  const json::object& args = command.request.args;
  const json::value* sequence_arg = args.if_contains("sequence");
  const std::string sequence = sequence_arg != nullptr && sequence_arg->is_string()
                                   ? std::string(sequence_arg->as_string())
                                   : std::string();
  StatusRead read;
  read.id = command.request.id;
  if (cmd == "status") {
    Result<StatusFilter> filter = statusFilterArg(args);
    if (!filter.isOk()) return false;
    Result<StatusSnapshot> snapshot =
        engine_->statusSnapshot(sequence, status_reader_->takeSpareRows(), filter.value().status);
    if (!snapshot.isOk()) return false;
    read.snapshot = std::make_unique<StatusSnapshot>(std::move(snapshot.value()));
    read.filter = std::move(filter.value());
    read.what = "status of sequence '" + sequence + "'";
  } else if (cmd == "report") {
    Result<ReportSnapshot> snapshot =
        engine_->reportSnapshot(sequence, now(), status_reader_->takeSpareRows());
    if (!snapshot.isOk()) return false;
    read.answer =
        reportAnswer(std::make_shared<ReportSnapshot>(std::move(snapshot.value())), read.id);
    read.what = "report of sequence '" + sequence + "'";
  } else if (cmd == "tasks") {
    // The engine holds open tasks and the latest done ones; the reader reads the rest from the
    // store (engine/task.hpp).
    Result<TaskFilter> filter = taskFilterArg(*engine_, args, now());
    if (!filter.isOk()) return false;
    read.answer = tasksAnswer(std::make_shared<TasksSnapshot>(engine_->tasksSnapshot(
                                  filter.value(), status_reader_->takeSpareTasks())),
                              store_.get(), read.id);
    read.what = "tasks";
  } else if (cmd == "contacts") {
    Result<ContactsArgs> parsed = contactsArgs(args);
    if (!parsed.isOk()) return false;
    Result<ContactsSnapshot> snapshot =
        engine_->contactsSnapshot(parsed.value().query, parsed.value().limit);
    if (!snapshot.isOk()) return false;
    read.answer = contactsAnswer(
        std::make_shared<const ContactsSnapshot>(std::move(snapshot.value())), read.id);
    read.what = "contacts";
  } else {
    return false;
  }
  read.send = std::move(command.send);
  status_reads_.push_back(std::move(read));
  return true;
}

// The log line of a command that changes something, without its outcome ("" for a read
// answered well: reads are not logged). logOutcome() adds the outcome once it is known.
std::string Runtime::commandLogLine(const ControlRequest& request, const DispatchReply& reply) {
  static const std::set<std::string> kReads = {
      "ping",  "version", "time",     "status", "sequences", "sequence_show", "contact_show",
      "inbox", "explain", "contacts", "lists",  "list_show", "report",        "tasks"};
  if (kReads.count(request.cmd) > 0 && reply.ok) return std::string();
  std::string line = "command " + request.cmd + " by " + request.peer_user;
  if (const json::value* sequence = request.args.if_contains("sequence");
      sequence != nullptr && sequence->is_string()) {
    line += " sequence " + std::string(sequence->as_string());
  }
  return reply.ok ? line : line + ": " + reply.error_code + ": " + reply.error_message;
}

// After the commit: "ok" for a change that is now stored; an answer that was an error already
// carries it. `failed`: the commit was refused, and the change with it.
void Runtime::logOutcome(const PendingReply& reply, const std::string* failed) {
  if (reply.log_line.empty()) return;
  if (failed != nullptr) {
    logLine(LogPriority::kNotice, reply.log_line + (reply.ok ? ": failed: " + *failed : ""));
  } else {
    logLine(reply.ok ? LogPriority::kInfo : LogPriority::kNotice,
            reply.ok ? reply.log_line + ": ok" : reply.log_line);
  }
}

// The admins of seqd.yaml, and seqd's own account: the unit's ExecReload runs `seqctl reload`
// as the service user, and nobody else runs as that user.
Caller Runtime::callerOf(const ControlRequest& request) const {
  const std::vector<std::string>& admins = options_.config.daemon.admins;
  bool admin = std::find(admins.begin(), admins.end(), request.peer_user) != admins.end() ||
               request.peer_user == own_user_;
  return Caller{request.peer_user, admin};
}

DispatchReply Runtime::runtimeCommand(const ControlRequest& request, bool& handled) {
  handled = true;
  DispatchReply reply;
  const std::string& cmd = request.cmd;
  if (cmd == "ping") {
    reply.result = json::object{{"pong", true}, {"version", SEQD_VERSION}};
  } else if (cmd == "version") {
    reply.result = json::object{{"version", SEQD_VERSION}};
  } else if (cmd == "reload") {
    Status allowed = checkAdmin(callerOf(request), "reload");
    reply = allowed.isOk()
                ? reload(boolArgument(request.args, "dry_run"), boolArgument(request.args, "force"))
                : replyFromStatus(allowed);
  } else if (cmd == "inbox") {
    std::string mailbox;
    if (const json::value* value = request.args.if_contains("mailbox");
        value && value->is_string()) {
      mailbox = std::string(value->as_string());
    }
    json::array messages;
    for (const json::object& entry : inbox_log_) {
      if (mailbox.empty() || entry.at("mailbox").as_string() == mailbox) messages.push_back(entry);
    }
    reply.result = json::object{{"inboxes", inbox_ ? options_.config.daemon.inboxes.size() : 0},
                                {"messages", std::move(messages)}};
  } else if (cmd == "time" || cmd == "time_advance" || cmd == "time_set") {
    if (cmd == "time") {
      reply.result =
          json::object{{"now", formatRfc3339(now())}, {"virtual", virtual_clock_ != nullptr}};
      return reply;
    }
    Status allowed = checkAdmin(callerOf(request), cmd == "time_set" ? "time set" : "time advance");
    if (!allowed.isOk()) return replyFromStatus(allowed);
    if (!virtual_clock_) {
      return replyFromStatus(Status::failedPrecondition(
          "the clock is real: time advance/set need seqd --virtual-time"));
    }
    const json::value* value = request.args.if_contains(cmd == "time_set" ? "time" : "duration");
    if (value == nullptr || !value->is_string()) {
      return replyFromStatus(Status::invalidArgument(cmd + ": missing argument"));
    }
    std::string text(value->as_string());
    Result<TimeMs> target = Status::invalidArgument("unreachable");
    if (cmd == "time_set") {
      target = parseTimeArgument(text, now());
    } else {
      Result<DurationMs> duration = parseDuration(text);
      target = duration.isOk() ? addDuration(now(), duration.value(), "time advance " + text)
                               : Result<TimeMs>(duration.status());
    }
    if (!target.isOk()) return replyFromStatus(target.status());
    return advanceVirtual(target.value());
  } else {
    handled = false;
  }
  return reply;
}

DispatchReply Runtime::advanceVirtual(TimeMs target_ms) {
  if (target_ms < now()) {
    return replyFromStatus(
        Status::failedPrecondition("the clock never moves backwards: " + formatRfc3339(target_ms) +
                                   " is before " + formatRfc3339(now())));
  }
  pollInboxesNow();
  auto stopped = [this] {
    return replyFromStatus(Status::ioError("time advance stopped at " + formatRfc3339(now()) +
                                           " (the last commit): " + room_.error()));
  };
  // Each turn, pipelined as the real clock's rounds are, and deterministic all the same:
  //   1. while the turn before's commit is written, the steps due are decided, and the sends
  //      decided and the records made since the last commit (the results applied in step 3
  //      of the turn before too) are taken into this turn's batch;
  //   2. once that commit is durable, this batch is handed to the committer, and the sends of
  //      the turn before go to delivery (RoundPipeline::end);
  //   3. while this turn's commit is written, every result of those sends is applied,
  //      whenever each comes back: the workers deliver beside the committer.
  // So what a turn decides never depends on a worker's timing: it has the results of every
  // send released before it, and none of the sends its commit in flight holds.
  bool commit_out = false;  // step 3's commit, not yet durable
  // A wait that ran out (kAdvanceDeliveryWaitMs) with sends still out: the clock no longer
  // stays for those, as before turns were pipelined; each turn still waits for them.
  bool stalled = false;
  const auto sends_out = [&] { return !stalled && deliveriesOut() > 0; };
  while (!stopping_.load()) {
    std::optional<TimeMs> next = engine_->nextDue();
    // Nothing left at this instant but the commit in flight: it is waited for before the
    // clock moves, as it may release sends.
    if (commit_out && !(next && *next <= now()) && !sends_out()) {
      if (!drainRounds()) return stopped();
      commit_out = false;
    }
    // With a send out, in the commit in flight or queued, the clock stays: a result is
    // recorded at the instant its send went, and a step that result makes due then runs then.
    const bool busy = commit_out || sends_out() || engine_->queuedIntents() > 0;
    TimeMs step_to = (next && *next <= target_ms) ? std::max(*next, now()) : target_ms;
    if (busy) step_to = now();
    virtual_clock_->setTo(step_to);
    engine_->advanceTo(step_to);
    if (!commitAndFlush()) return stopped();
    commit_out = true;
    stalled = !waitForDeliveries(kAdvanceDeliveryWaitMs, false, SendsWaited::kReleased);
    pingWatchdog();
    publishMetrics();
    if (step_to >= target_ms && engine_->queuedIntents() == 0 && !sends_out()) {
      std::optional<TimeMs> after = engine_->nextDue();
      if (!after || *after > target_ms) {
        // Done unless the last commit released sends: theirs are the results to wait for.
        // Results applied since it was handed over are committed with the round that answers
        // the command (or with the next turn's, when the clock moves on).
        const std::size_t out_before = deliveriesOut();
        if (!drainRounds()) return stopped();
        commit_out = false;
        if (deliveriesOut() <= out_before && engine_->queuedIntents() == 0) break;
      }
    }
  }
  if (!drainRounds()) return stopped();
  DispatchReply reply;
  reply.result = json::object{{"now", formatRfc3339(now())}};
  return reply;
}

// The pool counts too: an engine rebuilt after a refused commit may hold a send for its
// window (Engine::deliveriesInFlight() leaves those out) that a worker still has.
std::size_t Runtime::deliveriesOut() const {
  return std::max(engine_->deliveriesInFlight(), delivery_ ? delivery_->inFlight() : 0);
}

// Waits until every send out (`waited`) has its result recorded, at most timeout_ms. While
// seqd is stopping only shutDown()'s own wait may go on.
bool Runtime::waitForDeliveries(int timeout_ms, bool while_stopping, SendsWaited waited) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const auto out = [&] {
    return waited == SendsWaited::kReleased ? releasedOut() : deliveriesOut();
  };
  while (out() > 0) {
    if (stopping_.load() && !while_stopping) return false;
    processResults();
    if (out() == 0) break;
    pingWatchdog();
    if (std::chrono::steady_clock::now() >= deadline) {
      logWarning(std::to_string(out()) + " deliveries still in flight after " +
                 std::to_string(timeout_ms) + " ms");
      return false;
    }
    wakeup_.waitFor(std::chrono::milliseconds(50));
  }
  return true;
}

// Reload: a config with any error is rejected whole; one that would drop a step contacts wait
// on, or a sequence with live contacts, needs force. dry_run says what would move where.
DispatchReply Runtime::reload(bool dry_run, bool force) {
  if (!dry_run) sdNotify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonicMicros()));
  auto done = [&](DispatchReply reply) {
    if (!dry_run) sdNotify("READY=1");
    return reply;
  };
  Result<Config> config = loadConfig(options_.config.config_path, options_.defaults);
  if (!config.isOk()) {
    if (!dry_run) ++reloads_["rejected"];
    logError("reload rejected, the running config stays: " + config.status().message());
    return done(replyFromStatus(
        Status::failedPrecondition("reload rejected: " + config.status().message())));
  }
  Config next = options_.config;
  next.sequences = config.value().sequences;
  next.schedules = config.value().schedules;
  next.daemon.mailboxes = config.value().daemon.mailboxes;
  next.daemon.admins = config.value().daemon.admins;
  if (config.value().daemon.http_listen != next.daemon.http_listen) {
    if (!dry_run) ++reloads_["rejected"];
    logError("reload rejected, the running config stays: http_listen changed (restart seqd)");
    return done(replyFromStatus(Status::failedPrecondition(
        "reload rejected: http_listen is read at start; restart seqd to change it")));
  }
  next.daemon.unsubscribe_url = config.value().daemon.unsubscribe_url;
  next.daemon.unsubscribe_secret_file = config.value().daemon.unsubscribe_secret_file;
  next.daemon.unsubscribe_secret = config.value().daemon.unsubscribe_secret;
  next.workflows = config.value().workflows;
  EngineSettings settings = engineSettingsFrom(next);
  if (Status lists = engine_->checkWorkflowLists(settings); !lists.isOk()) {
    logError("reload rejected, the running config stays: " + lists.message());
    return done(replyFromStatus(Status::failedPrecondition("reload rejected: " + lists.message())));
  }
  ReloadPlan plan = engine_->planReload(settings);
  json::array moves;
  for (const ReloadMove& move : plan.moves) {
    moves.push_back(json::object{
        {"sequence", move.sequence},
        {"from", move.from_step.empty() ? json::value(nullptr) : json::value(move.from_step)},
        {"to", move.to_step.empty() ? json::value(nullptr) : json::value(move.to_step)},
        {"contacts", move.contacts}});
  }
  json::object result{
      {"reloaded", !dry_run},
      {"dry_run", dry_run},
      {"sequences", next.sequences.size()},
      {"moves", moves},
      {"needs_force", json::array(plan.needs_force.begin(), plan.needs_force.end())}};
  if (!dry_run && !plan.needs_force.empty() && !force) {
    std::string reasons;
    for (const std::string& reason : plan.needs_force) reasons += "; " + reason;
    ++reloads_["refused"];
    logError("reload refused, the running config stays" + reasons);
    return done(replyFromStatus(Status::failedPrecondition(
        "reload refused" + reasons + " (seqctl reload --force to apply anyway)")));
  }
  DispatchReply reply;
  if (!dry_run) {
    options_.config = std::move(next);
    {
      std::lock_guard lock(admins_mutex_);
      connection_admins_ = options_.config.daemon.admins;
    }
    engine_->reconfigure(std::move(settings), now());
    ++reloads_["ok"];
    logInfo("reloaded " + options_.config.config_path + ": " +
            std::to_string(options_.config.sequences.size()) + " sequences");
  }
  reply.result = std::move(result);
  return done(reply);
}

// One round's end: release what delivery has room for (their records join the batch) and hand
// the whole batch to the committer, which writes it in ONE transaction while the next round is
// decided; the round in flight before it is answered and delivered once its commit returned
// ok, never before (RoundPipeline). While the store is full (room_) there is no pipelining:
// nothing is released and a round writes only when it is due (commitRoundMindingRoom).
bool Runtime::commitAndFlush(bool drain) {
  std::optional<TimeMs> clock_ms;
  if (virtual_clock_ && now() != committed_clock_ms_) clock_ms = now();
  RoundOutputs outputs = takeUnended();
  outputs.trace = std::exchange(round_trace_, RoundTrace{});
  awaiting_.push_back(std::move(outputs));
  std::vector<FinishedRound> ended =
      pipeline_->end(*engine_, *store_, room_, freeSlots(), now(), clock_ms, steadyMs());
  if (trace_ && awaiting_.back().trace.woke_us != 0) {
    RoundTrace& trace = awaiting_.back().trace;
    trace.submitted_us = LatenessTrace::nowUs();
    trace.usage = ThreadUsage::now() - round_usage_;
    const RoundPipeline::EndStats& end = pipeline_->lastEnd();
    trace.take_us = end.take_us;
    trace.wait_us = end.wait_us;
    trace.records = end.records;
    trace.enrollments = end.enrollments;
    trace.progress = end.progress;
    trace.checkpoint_rows = end.checkpoint_rows;
    trace.governor = end.governor;
  }
  // Handed to the store (a refusal loads the clock back with the engine).
  if (clock_ms) committed_clock_ms_ = *clock_ms;
  if (drain) {
    if (std::optional<FinishedRound> last = pipeline_->drain(*engine_)) {
      ended.push_back(std::move(*last));
    }
  }
  return finishRounds(ended);
}

bool Runtime::drainRounds() {
  std::vector<FinishedRound> ended;
  if (std::optional<FinishedRound> last = pipeline_->drain(*engine_)) {
    ended.push_back(std::move(*last));
  }
  return finishRounds(ended);
}

// Answers each ended round, oldest first, as its commit came out. A commit that failed for
// want of room refuses its round and the one decided on top of it, and the engine is built
// again from the store once both are answered; any other failure ends seqd.
bool Runtime::finishRounds(std::vector<FinishedRound>& ended) {
  std::optional<Status> out_of_room;
  for (FinishedRound& finished : ended) {
    RoundCommit& committed = finished.round;
    if (committed.committed) commit_duration_.observe(committed.commit_seconds);
    for (const std::string& record : committed.dropped) {
      logError("bug: the store cannot hold " + record + "; that record is not stored");
    }
    if (finished.end == RoundEnd::kFailed) {
      // Nothing after this point may be acknowledged or delivered. Exiting keeps the last
      // committed state authoritative; systemd restarts us and the store is loaded again.
      logError("store commit failed, exiting: " + finished.status.message());
      std::_Exit(1);
    }
    SEQD_ASSERT(!awaiting_.empty() && awaiting_.front().number == finished.number);
    RoundOutputs outputs = std::move(awaiting_.front());
    awaiting_.pop_front();
    if (finished.end == RoundEnd::kOutOfRoom) {
      if (!out_of_room) {
        logError(finished.status.message() +
                 "; nothing of this round is kept, seqd goes on from the last "
                 "commit and refuses changes until there is room");
        out_of_room = finished.status;
      }
      refuseRound(outputs, *out_of_room);
      continue;
    }
    if (finished.end == RoundEnd::kResumed) {
      logInfo("state dir " + options_.config.daemon.state_dir +
              ": the store takes writes again; sending resumes");
      wakeup_.notify();
    }
    if (trace_) traceRound(outputs, committed);
    releaseRound(outputs, committed.intents);
  }
  if (!out_of_room) return true;
  // What was decided since, not yet in an ended round (runRound lets a round go on while a
  // commit is in flight), was decided on top of the refused rounds: refused with them.
  RoundOutputs unended = takeUnended();
  refuseRound(unended, *out_of_room);
  recoverFromFullStore(*out_of_room);
  return false;
}

Runtime::RoundOutputs Runtime::takeUnended() {
  RoundOutputs outputs;
  outputs.number = pipeline_->current();
  outputs.replies = std::move(replies_);
  outputs.status_reads = std::move(status_reads_);
  outputs.inbox = std::move(inbox_committing_);
  outputs.http_replies = std::move(http_replies_);
  replies_.clear();
  status_reads_.clear();
  inbox_committing_.clear();
  http_replies_.clear();
  return outputs;
}

// An "R" line and an "I" line per intent (io/lateness_trace.hpp), for a loop's round that
// releases intents; the release itself is a moment later.
void Runtime::traceRound(const RoundOutputs& outputs, const RoundCommit& committed) {
  if (committed.intents.empty() || outputs.trace.woke_us == 0) return;
  RoundTrace round = outputs.trace;
  round.round = outputs.number;
  round.commit_done_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             committed.commit_finished.time_since_epoch())
                             .count();
  round.released_us = LatenessTrace::nowUs();
  round.intents = committed.intents.size();
  round.commit_us = std::llround(committed.commit_seconds * 1e6);
  round.commit_usage = committed.commit_usage;
  std::string lines = formatRoundTrace(round);
  for (const DeliveryIntent& intent : committed.intents) {
    lines += fmt::format("I {} {} {}\n", outputs.number,
                         intent.contact ? intent.contact->key() : std::string_view("?"),
                         intent.step_index);
  }
  trace_->append(lines, committed.intents.size() + 1);
}

void Runtime::releaseRound(RoundOutputs& outputs, std::vector<DeliveryIntent>& intents) {
  for (PendingReply& reply : outputs.replies) {
    logOutcome(reply, nullptr);
    if (reply.streamed) {
      StatusRead read;
      read.answer = std::move(reply.streamed);
      read.id = reply.frame["id"];
      read.what = "a command's list of contacts";
      read.send = std::move(reply.send);
      status_reader_->submitAnswer(std::move(read));
      continue;
    }
    reply.send(std::move(reply.frame));
  }
  for (StatusRead& read : outputs.status_reads) {
    const json::value id = read.id;
    const ControlSend send = read.send;
    if (!status_reader_->submit(std::move(read))) {
      send(makeErrorReply(id, "busy",
                          "seqd is answering " + std::to_string(kStatusReadsPendingMax) +
                              " status, report, tasks or contacts requests already; try again"));
    }
  }
  for (std::shared_ptr<InboxRound>& round : outputs.inbox) round->committed.set_value(true);
  for (auto& [respond, response] : outputs.http_replies) respond(std::move(response));
  for (const DeliveryIntent& intent : intents) {
    ++(isIdempotent(intent.transport) ? idempotent_outstanding_ : smtp_outstanding_);
  }
  // takeIntents() released no more than freeSlots(), whose sum is the pool's bound.
  const bool submitted = delivery_->submit(intents);
  SEQD_ASSERT(submitted);
}

// A commit failed for want of room: nothing of the round is acknowledged or delivered. Every
// answer becomes the error, the inbox messages stay unmarked, the intents were dropped (due
// again in the state reloaded).
void Runtime::refuseRound(RoundOutputs& outputs, const Status& error) {
  for (PendingReply& reply : outputs.replies) {
    logOutcome(reply, &error.message());
    const json::value* id = reply.frame.if_contains("id");
    reply.send(
        makeErrorReply(id != nullptr ? *id : json::value(nullptr), "failed", error.message()));
  }
  for (StatusRead& read : outputs.status_reads) {
    read.send(makeErrorReply(read.id, "failed", error.message()));
  }
  for (std::shared_ptr<InboxRound>& round : outputs.inbox) round->committed.set_value(false);
  for (auto& [respond, response] : outputs.http_replies) {
    HttpResponse busy;
    busy.status = 503;
    busy.headers.emplace_back("Retry-After", "60");
    busy.body = "seqd cannot write its state now; try again later\n";
    respond(std::move(busy));
  }
}

// After the refused rounds were answered: the engine is built again from the store, so what
// is served is what is committed. SMTP sends in flight count as interrupted, as after a crash
// (their results, when they come, are late results); Maildir ones are delivered again.
void Runtime::recoverFromFullStore(const Status& error) {
  SEQD_ASSERT(!pipeline_->inFlight());
  std::string loaded;
  Status reloaded = loadEngine(loaded);
  if (!reloaded.isOk()) {
    logError("cannot go back to the last commit, exiting: " + reloaded.message());
    std::_Exit(1);
  }
  logInfo("went back to the last commit: " + loaded);
  room_.enter(error, *engine_, steadyMs());
}

// After the last commit at SIGTERM: finishes the checkpoint going on and runs one more over
// everything journaled since, a slice per commit, so the next start loads the enrollment table
// and no journal tail. Stops after kShutdownCheckpointMs (the rest is read from the journal at
// the next start, as after a crash) or at a failed commit (nothing is lost: the journal holds
// every snapshot).
void Runtime::checkpointAtShutdown() {
  const auto started = std::chrono::steady_clock::now();
  std::size_t rows = 0;
  std::size_t commits = 0;
  for (bool done = false; !done;) {
    if (msSince(started) > kShutdownCheckpointMs) {
      logWarning("checkpoint at shutdown stopped after " + formatMs(msSince(started)) + " (" +
                 std::to_string(rows) + " rows in " + std::to_string(commits) +
                 " commits); the next start reads the journal's tail");
      return;
    }
    WriteBatch batch;
    done = engine_->addShutdownCheckpointSlice(batch);
    if (batch.empty()) continue;
    Status committed = store_->commit(batch);
    if (!committed.isOk()) {
      logError("checkpoint at shutdown failed: " + committed.message());
      return;
    }
    rows += batch.checkpoint_rows.size();
    ++commits;
  }
  logInfo("checkpoint at shutdown: " + std::to_string(rows) + " rows in " +
          std::to_string(commits) + " commits, " + formatMs(msSince(started)));
}

// ---------------------------------------------------------------------------------------
// One-click unsubscribe links (io/unsubscribe_endpoint.hpp)

// The HTTP listener shares the control socket's io_context; what needs the engine goes to
// the engine thread and is answered in commitAndFlush(), after the commit.
Status Runtime::startHttp() {
  const std::string& listen = options_.config.daemon.http_listen;
  if (listen.empty()) return Status::ok();
  http_ =
      std::make_unique<HttpServer>(io_, listen, [this](HttpRequest request, HttpRespond respond) {
        UnsubscribeRoute route = routeUnsubscribe(request);
        if (route.answer) return respond(std::move(*route.answer));
        // At most one request per connection is waiting, so this is full only when answers
        // timed out and their connections were replaced; the Asio thread must not block.
        PendingUnsubscribe pending{std::move(route.call), std::move(respond)};
        if (!unsubscribes_.tryPush(pending)) {
          HttpResponse busy;
          busy.status = 503;
          busy.headers.emplace_back("Retry-After", "1");
          busy.body = "busy; try again\n";
          pending.respond(std::move(busy));
        }
      });
  Status started = http_->start();
  if (started.isOk()) {
    logInfo("http_listen " + listen + ": unsubscribe links served on port " +
            std::to_string(http_->port()));
  }
  return started;
}

// The metrics listener answers from the last published snapshot on the Asio thread: a
// scrape never waits for the engine thread.
Status Runtime::startMetrics() {
  const std::string& listen = options_.config.daemon.metrics_listen;
  if (listen.empty()) return Status::ok();
  publishMetrics();
  metrics_http_ =
      std::make_unique<HttpServer>(io_, listen, [this](HttpRequest request, HttpRespond respond) {
        std::shared_ptr<const MetricsSnapshot> snapshot;
        {
          std::lock_guard<std::mutex> lock(metrics_mutex_);
          snapshot = metrics_;
        }
        respond(answerMetrics(request, snapshot.get()));
      });
  Status started = metrics_http_->start();
  if (started.isOk()) {
    logInfo("metrics_listen " + listen + ": Prometheus metrics at /metrics on port " +
            std::to_string(metrics_http_->port()));
  }
  return started;
}

void Runtime::publishMetrics() {
  const bool notify = std::getenv("NOTIFY_SOCKET") != nullptr;
  if (options_.config.daemon.metrics_listen.empty() && !notify) return;
  const auto current = std::chrono::steady_clock::now();
  if (metrics_published_ != std::chrono::steady_clock::time_point{} &&
      current - metrics_published_ < std::chrono::milliseconds(kMetricsPublishIntervalMs)) {
    return;
  }
  metrics_published_ = current;
  auto snapshot = std::make_shared<MetricsSnapshot>();
  snapshot->version = SEQD_VERSION;
  const TimeMs now_ms = now();
  snapshot->taken_at_seconds = static_cast<double>(now_ms) / 1000.0;
  snapshot->sends = sends_;
  for (const Mailbox& mailbox : options_.config.daemon.mailboxes) {
    snapshot->sends[mailbox.address];  // every mailbox shows, with or without sends
  }
  const Engine::Census census = engine_->census(now_ms);
  for (std::size_t i = 0; i < kEnrollmentStatusCount; ++i) {
    snapshot->enrollments[enrollmentStatusName(static_cast<EnrollmentStatus>(i))] =
        census.by_status[i];
  }
  snapshot->due_backlog = census.due;
  snapshot->wheel_entries = engine_->wheelEntries();
  snapshot->commit_duration_seconds = commit_duration_;
  snapshot->firing_lateness_seconds = engine_->firingLateness();
  snapshot->reloads = reloads_;
  if (notify) notifyStatus(*snapshot);
  std::lock_guard<std::mutex> lock(metrics_mutex_);
  metrics_ = std::move(snapshot);
}

// STATUS= for `systemctl status seqd`: live counts, sent only when they changed.
void Runtime::notifyStatus(const MetricsSnapshot& snapshot) {
  std::uint64_t sent = 0;
  for (const auto& [mailbox, results] : snapshot.sends) {
    auto found = results.find("sent");
    if (found != results.end()) sent += found->second;
  }
  std::string status = "STATUS=serving";
  for (const char* name : {"scheduled", "active", "paused", "bounced", "not_sent"}) {
    auto found = snapshot.enrollments.find(name);
    status += fmt::format(" {} {},", name, found == snapshot.enrollments.end() ? 0 : found->second);
  }
  status += fmt::format(" due {}; {} sent since start", snapshot.due_backlog, sent);
  if (status == last_status_) return;
  last_status_ = status;
  sdNotify(status);
}

void Runtime::processUnsubscribes() {
  unsubscribe_batch_.clear();
  const std::size_t taken = unsubscribes_.popUpTo(unsubscribe_batch_, kUnsubscribesPerRoundMax);
  for (PendingUnsubscribe& pending : unsubscribe_batch_) {
    UnsubscribeAnswer answer = answerUnsubscribe(*engine_, pending.call, now());
    if (!answer.log_line.empty()) {
      logLine(answer.refused ? LogPriority::kNotice : LogPriority::kInfo, answer.log_line);
    }
    http_replies_.emplace_back(std::move(pending.respond), std::move(answer.response));
  }
  if (taken == kUnsubscribesPerRoundMax) wakeup_.notify();  // more may wait: come straight back
}

}  // namespace seqd
