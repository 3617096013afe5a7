#include "daemon/runtime.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "daemon/log.hpp"
#include "daemon/systemd_notify.hpp"
#include "engine/permissions.hpp"
#include "io/control_protocol.hpp"
#include "io/store_guard.hpp"

namespace seqd {
namespace json = boost::json;

EngineSettings engineSettingsFrom(const Config& config) {
  EngineSettings settings;
  settings.sequences = config.sequences;
  settings.schedules = config.schedules;
  settings.mailboxes = config.daemon.mailboxes;
  settings.tick_ms = config.daemon.tick_ms;
  settings.ooo_default_pause_ms = config.daemon.ooo_default_pause_ms;
  return settings;
}

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {}

Runtime::~Runtime() { stop(); }

Status Runtime::start() {
  const std::string& state_dir = options_.config.daemon.state_dir;
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
  LoadedState loaded;
  Status load = store_->load(loaded);
  if (!load.isOk()) return load;

  if (options_.virtual_start_ms) {
    TimeMs start_ms = std::max(*options_.virtual_start_ms, loaded.clock_ms.value_or(INT64_MIN));
    auto clock = std::make_unique<VirtualClock>(start_ms);
    virtual_clock_ = clock.get();
    clock_ = std::move(clock);
  } else {
    clock_ = std::make_unique<SystemClock>();
  }
  engine_ = std::make_unique<Engine>(engineSettingsFrom(options_.config), now());
  Status restored = engine_->restore(loaded, now());
  if (!restored.isOk()) return restored;
  logInfo("loaded " + std::to_string(loaded.contacts.size()) + " contacts, " +
          std::to_string(engine_->enrollmentCount()) + " enrollments, " +
          std::to_string(loaded.progress.size()) + " progress records");

  delivery_ = std::make_unique<DeliveryPool>(
      options_.config.daemon.maildir_dir, options_.config.daemon.smtp,
      options_.config.daemon.workers, [this] { wakeup_.notify(); });

  server_ = std::make_unique<ControlServer>(
      io_, options_.config.daemon.control_socket, options_.config.daemon.socket_group,
      [this](ControlRequest request, ControlSend send) {
        commands_.push(PendingCommand{std::move(request), std::move(send)});
        wakeup_.notify();
      });
  Status listening = server_->start();
  if (!listening.isOk()) return listening;

  commitAndFlush();  // hands re-deliveries found at restore to the pool
  engine_thread_ = std::thread([this] { engineLoop(); });
  io_thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
  logInfo("listening on " + options_.config.daemon.control_socket +
          (virtual_clock_ ? "; virtual time " + formatRfc3339(now()) : std::string()));
  sdNotify("READY=1\nSTATUS=serving " + std::to_string(engine_->enrollmentCount()) +
           " enrollments");
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
  wakeup_.notify();
  if (engine_thread_.joinable()) engine_thread_.join();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
  if (delivery_) delivery_->stop();
}

// ---------------------------------------------------------------------------------------
// The engine thread

void Runtime::engineLoop() {
  std::optional<std::chrono::milliseconds> watchdog = watchdogInterval();
  auto last_watchdog = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    runRound();
    std::chrono::milliseconds timeout(1000);
    if (!virtual_clock_) {
      if (std::optional<TimeMs> next = engine_->nextDue()) {
        TimeMs delay = std::clamp<TimeMs>(*next - now(), 1, 1000);
        timeout = std::chrono::milliseconds(delay);
      }
    }
    if (watchdog) {
      timeout = std::min(timeout, *watchdog);
      auto current = std::chrono::steady_clock::now();
      if (current - last_watchdog >= *watchdog) {
        sdNotify("WATCHDOG=1");
        last_watchdog = current;
      }
    }
    wakeup_.waitFor(timeout);
  }
  // Shutting down: no new commands; let in-flight deliveries finish and record them.
  waitForDeliveries(kShutdownDeliveryWaitMs);
  commitAndFlush();
  logInfo("stopped; state committed");
}

void Runtime::runRound() {
  if (reload_requested_.exchange(false)) {
    DispatchReply reply = reload();
    if (!reply.ok) logError(reply.error_message);
  }
  processResults();
  processCommands();
  if (!virtual_clock_) engine_->advanceTo(now());
  commitAndFlush();
}

void Runtime::processResults() {
  DeliveryResult result;
  while (delivery_->tryTakeResult(result)) {
    if (result.outcome != DeliveryOutcome::kDelivered) {
      logWarning("delivery of " + result.message_id + " failed: " + result.detail);
    }
    engine_->onDeliveryResult(result, now());
  }
}

void Runtime::processCommands() {
  PendingCommand command;
  for (std::size_t i = 0; i < kCommandsPerRoundMax && commands_.tryPop(command); ++i) {
    handleCommand(command);
  }
  if (!commands_.tryPop(command)) return;
  handleCommand(command);
  wakeup_.notify();  // more are waiting: come straight back
}

void Runtime::handleCommand(PendingCommand& command) {
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
  logCommand(command.request, reply);
  json::object frame =
      reply.ok ? makeOkReply(command.request.id, std::move(reply.result))
               : makeErrorReply(command.request.id, reply.error_code, reply.error_message);
  replies_.push_back(PendingReply{std::move(command.send), std::move(frame)});
}

// One log line per command that changes something; reads are not logged.
void Runtime::logCommand(const ControlRequest& request, const DispatchReply& reply) const {
  static const std::set<std::string> kReads = {
      "ping", "version", "time", "status", "sequences", "sequence_show", "contact_show"};
  if (kReads.count(request.cmd) > 0 && reply.ok) return;
  std::string line = "command " + request.cmd + " by " + request.peer_user;
  if (const json::value* sequence = request.args.if_contains("sequence");
      sequence != nullptr && sequence->is_string()) {
    line += " sequence " + std::string(sequence->as_string());
  }
  line += reply.ok ? ": ok" : ": " + reply.error_code + ": " + reply.error_message;
  logLine(reply.ok ? LogPriority::kInfo : LogPriority::kNotice, line);
}

Caller Runtime::callerOf(const ControlRequest& request) const {
  const std::vector<std::string>& admins = options_.config.daemon.admins;
  bool admin = std::find(admins.begin(), admins.end(), request.peer_user) != admins.end();
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
    reply = allowed.isOk() ? reload() : replyFromStatus(allowed);
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
      target = duration.isOk() ? Result<TimeMs>(now() + duration.value())
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
        Status::invalidArgument("the clock never moves backwards: " + formatRfc3339(target_ms) +
                                " is before " + formatRfc3339(now())));
  }
  for (;;) {
    std::optional<TimeMs> next = engine_->nextDue();
    TimeMs step_to = (next && *next <= target_ms) ? std::max(*next, now()) : target_ms;
    virtual_clock_->setTo(step_to);
    engine_->advanceTo(step_to);
    commitAndFlush();
    waitForDeliveries(kAdvanceDeliveryWaitMs);
    commitAndFlush();
    if (step_to >= target_ms) {
      std::optional<TimeMs> after = engine_->nextDue();
      if (!after || *after > target_ms) break;
    }
  }
  DispatchReply reply;
  reply.result = json::object{{"now", formatRfc3339(now())}};
  return reply;
}

void Runtime::waitForDeliveries(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (engine_->deliveriesInFlight() > 0) {
    processResults();
    if (engine_->deliveriesInFlight() == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      logWarning(std::to_string(engine_->deliveriesInFlight()) +
                 " deliveries still in flight after " + std::to_string(timeout_ms) + " ms");
      return;
    }
    wakeup_.waitFor(std::chrono::milliseconds(50));
  }
}

DispatchReply Runtime::reload() {
  sdNotify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonicMicros()));
  Result<Config> config = loadConfig(options_.config.config_path, options_.defaults);
  DispatchReply reply;
  if (!config.isOk()) {
    sdNotify("READY=1");
    logError("reload rejected, the running config stays: " + config.status().message());
    return replyFromStatus(
        Status::failedPrecondition("reload rejected: " + config.status().message()));
  }
  options_.config.sequences = config.value().sequences;
  options_.config.schedules = config.value().schedules;
  options_.config.daemon.mailboxes = config.value().daemon.mailboxes;
  options_.config.daemon.admins = config.value().daemon.admins;
  engine_->reconfigure(engineSettingsFrom(options_.config));
  logInfo("reloaded " + options_.config.config_path + ": " +
          std::to_string(options_.config.sequences.size()) + " sequences");
  sdNotify("READY=1");
  reply.result = json::object{{"reloaded", true}, {"sequences", options_.config.sequences.size()}};
  return reply;
}

void Runtime::commitAndFlush() {
  WriteBatch batch = engine_->takeBatch();
  if (virtual_clock_ && now() != committed_clock_ms_) batch.clock_ms = now();
  if (!batch.empty()) {
    for (const WriteBatch& part : splitBatch(std::move(batch), kStoreBatchRecordsMax)) {
      std::vector<std::string> dropped;
      Status committed = commitKeepingHoldable(*store_, part, dropped);
      for (const std::string& record : dropped) {
        logError("bug: the store cannot hold " + record + "; that record is not stored");
      }
      if (!committed.isOk()) {
        // Nothing after this point may be acknowledged or delivered. Exiting keeps the last
        // committed state authoritative; systemd restarts us and the store is replayed.
        logError("store commit failed, exiting: " + committed.message());
        std::_Exit(1);
      }
      if (part.clock_ms) committed_clock_ms_ = *part.clock_ms;
    }
  }
  for (PendingReply& reply : replies_) reply.send(std::move(reply.frame));
  replies_.clear();
  for (DeliveryIntent& intent : engine_->takeIntents()) delivery_->submit(std::move(intent));
}

}  // namespace seqd
