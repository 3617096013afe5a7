// DeliveryPool: worker threads that deliver rendered messages and report results.
//
// The engine thread submits intents only after their kStepFired records committed; each
// worker takes intents from a lock-free channel, delivers (Maildir, or discard for
// benchmarks, or SMTP through a per-worker SmtpTransport that keeps its connection), and
// pushes a DeliveryResult back, then wakes the engine thread through the
// callback. Maildir delivery is idempotent by file name, so a crash before the result is
// recorded is repaired by delivering again at restart.
//
// Thread-safety: submit() and tryTakeResult() from the engine thread; workers are internal.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/delivery.hpp"
#include "io/channel.hpp"
#include "io/maildir.hpp"
#include "io/smtp_transport.hpp"

namespace seqd {

inline constexpr int kDeliveryWorkersMax = 256;

class DeliveryPool {
 public:
  // on_result is called on a worker thread after each result is pushed.
  DeliveryPool(std::string maildir_root, SmtpSettings smtp, int workers,
               std::function<void()> on_result);
  ~DeliveryPool();
  DeliveryPool(const DeliveryPool&) = delete;
  DeliveryPool& operator=(const DeliveryPool&) = delete;

  void submit(DeliveryIntent intent);
  bool tryTakeResult(DeliveryResult& out);
  // Finishes what is queued, then joins the workers.
  void stop();

 private:
  void workerLoop();
  DeliveryResult deliver(const DeliveryIntent& intent, SmtpTransport& smtp);

  MaildirWriter maildir_;
  SmtpSettings smtp_;
  std::function<void()> on_result_;
  Channel<DeliveryIntent> intents_;
  Channel<DeliveryResult> results_;
  Wakeup work_ready_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

}  // namespace seqd
