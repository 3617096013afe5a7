// seqd: parses options, loads the config, starts the Runtime and waits for signals.
#if SEQD_MIMALLOC
#include <mimalloc.h>
#endif
#include <signal.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>

#include "config/config.hpp"
#include "daemon/log.hpp"
#include "daemon/runtime.hpp"
#include "io/smtp_transport.hpp"

namespace po = boost::program_options;
using namespace seqd;

namespace {

constexpr const char* kSystemConfig = "/etc/seqd/seqd.yaml";
constexpr const char* kDevConfig = "./examples/seqd.yaml";
// mimalloc hands freed pages back to the kernel (madvise) after this delay; its default,
// 100 ms, made a bulk import return and re-fault the same pages round after round (5 s cut
// seqd's CPU time for a 200k-row import by 38%). It applies only to segments outside large OS
// pages (below), and then once the thread takes a page from that segment again: a thread
// that goes idle keeps what it freed (perf/RESULTS.md, "Tried, not kept: handing a quiet
// thread's free heap back").
[[maybe_unused]] constexpr long kAllocatorDecommitDelayMs = 5000;

#if SEQD_MIMALLOC
// mimalloc takes its memory from the OS in large pages (transparent huge pages, where the
// kernel's setting is `always` or `madvise`): the heap faults in 2 MiB at a time instead of
// 4 KiB, and a 1M-enrollment restart is ready 17-27% sooner, for ~3 B an enrollment of heap
// and 9 MB more in an empty daemon (perf/RESULTS.md). mimalloc 2.0 never decommits inside a
// segment in large pages, only whole segments that empty, so a thread's heap stays at the
// most it held. MIMALLOC_LARGE_OS_PAGES in the environment decides instead.
void setAllocatorOptions() {
  mi_option_set(mi_option_decommit_delay, kAllocatorDecommitDelayMs);
  if (std::getenv("MIMALLOC_LARGE_OS_PAGES") == nullptr) {
    mi_option_enable(mi_option_large_os_pages);
  }
}
#endif

struct Options {
  std::string config_path;
  bool dev = false;
  bool check_config = false;
  std::string virtual_time;
};

// Returns -1 to continue, else the exit code.
int parseOptions(int argc, char** argv, Options& options) {
  po::options_description description("Usage: seqd [options]");
  description.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(&options.config_path),
      "daemon config file (default /etc/seqd/seqd.yaml; with --dev ./examples/seqd.yaml)")(
      "dev", po::bool_switch(&options.dev),
      "development defaults: ./examples/seqd.yaml, state under ./var")(
      "check-config", po::bool_switch(&options.check_config),
      "validate the config and exit 0 (valid) or 1 (invalid)")(
      "virtual-time", po::value<std::string>(&options.virtual_time),
      "run on a virtual clock starting at TIME (RFC 3339); it moves only on seqctl time")(
      "foreground", "stay in the foreground (seqd always does; systemd supervises it)");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, description), values);
    po::notify(values);
  } catch (const po::error& error) {
    std::cerr << "seqd: " << error.what() << "\n" << description;
    return 2;
  }
  if (values.count("help")) {
    std::cout << description;
    return 0;
  }
  if (options.config_path.empty()) options.config_path = options.dev ? kDevConfig : kSystemConfig;
  return -1;
}

int waitForSignals(Runtime& runtime, const sigset_t& signals) {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      logInfo("SIGHUP: reloading");
      runtime.requestReload();
      continue;
    }
    logInfo(std::string("stopping on ") + (signal_number == SIGTERM ? "SIGTERM" : "SIGINT"));
    runtime.stop();
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
#if SEQD_MIMALLOC
  setAllocatorOptions();
#endif
  Options options;
  int early_exit = parseOptions(argc, argv, options);
  if (early_exit >= 0) return early_exit;

  ConfigDefaults defaults = options.dev ? ConfigDefaults::kDev : ConfigDefaults::kSystem;
  Result<Config> config = loadConfig(options.config_path, defaults);
  if (!config.isOk()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  if (options.check_config) {
    std::cout << options.config_path << ": ok (" << config.value().sequences.size()
              << " sequences, " << config.value().schedules.size() << " schedules, "
              << config.value().daemon.mailboxes.size() << " mailboxes)\n";
    return 0;
  }
  RuntimeOptions runtime_options{std::move(config.value()), defaults, std::nullopt};
  if (!options.virtual_time.empty()) {
    Result<TimeMs> start = parseRfc3339(options.virtual_time);
    if (!start.isOk()) {
      std::cerr << "seqd: --virtual-time: " << start.status().message() << "\n";
      return 2;
    }
    runtime_options.virtual_start_ms = start.value();
  }

  Status curl = smtpGlobalInit();  // before any thread starts
  if (!curl.isOk()) {
    logError(curl.message());
    return 1;
  }

  // Signals are taken by sigwait() on this thread only; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Runtime runtime(std::move(runtime_options));
  Status started = runtime.start();
  if (!started.isOk()) {
    logError(started.message());
    return 1;
  }
  return waitForSignals(runtime, signals);
}
