// DeliveryPool: worker threads that render and deliver messages and report results.
//
// The engine thread submits intents only after their kStepFired records committed; each
// worker takes intents from a lock-free channel, renders the message (SPEC §1: rendering is
// the workers' job, not the engine thread's) with its own MessageRenderer (engine/render.hpp:
// buffers reused between messages, the Date line formatted once per second), delivers it
// (Maildir, or discard for benchmarks, or SMTP through a per-worker SmtpTransport that keeps
// its connection), and pushes a DeliveryResult back, then wakes the engine thread through the
// callback. A worker reads only what the intent holds: immutable snapshots of the contact and
// of the configuration's compiled templates, never the engine's state. Maildir delivery is
// idempotent by file name, so a crash before the result is recorded is repaired by delivering again
// at restart.
//
// Stopping (SIGTERM): stopTaking() makes every worker finish the message it is on and take
// no other; returnQueued() then hands every intent never started back as a kReturned result,
// so the engine records it as not attempted and queues the step again. A worker stuck on a
// relay that never answers is bounded by the SMTP timeout; busyWorkers() tells whether one
// still is.
//
// Thread-safety: submit() and tryTakeResult() from the engine thread; workers are internal.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/delivery.hpp"
#include "engine/render.hpp"
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
  // Workers finish the message they are on and start no other.
  void stopTaking();
  // Pushes a kReturned result for every intent no worker started. REQUIRES: stopTaking().
  void returnQueued();
  // Workers in the middle of a delivery.
  int busyWorkers() const { return busy_.load(); }
  // stopTaking(), returnQueued(), then joins the workers.
  // REQUIRES: busyWorkers() == 0, or the caller accepts waiting for them.
  void stop();

 private:
  void workerLoop();
  DeliveryResult deliver(const DeliveryIntent& intent, SmtpTransport& smtp,
                         MessageRenderer& renderer);

  MaildirWriter maildir_;
  SmtpSettings smtp_;
  std::function<void()> on_result_;
  Channel<DeliveryIntent> intents_;
  Channel<DeliveryResult> results_;
  Wakeup work_ready_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> busy_{0};
  std::vector<std::thread> workers_;
};

}  // namespace seqd
