// DeliveryPool: worker threads that render and deliver messages and report results.
//
// The engine thread submits intents only after their kStepFired records committed; each
// worker takes its share of the queued intents (io/batch_queue.hpp), renders each message
// (SPEC §1: rendering is the workers' job, not the engine thread's) with its own
// MessageRenderer (engine/render.hpp: buffers reused between messages, the Date line formatted
// once per second), delivers it (Maildir, or discard for benchmarks, or SMTP through a
// per-worker SmtpTransport that keeps its connection) and pushes the results back. A worker's
// Maildir messages are written one by one and made durable together (io/maildir.hpp:
// MaildirBatch, one fsync of new/ per batch); none is reported before. A worker
// reads only what the intent holds: immutable snapshots of the contact and of the
// configuration's compiled templates, never the engine's state. Maildir delivery is idempotent
// by file name, so a crash before the result is recorded is repaired by delivering again at
// restart.
//
// Batches: submit() hands a round's intents over in one push (one wakeup); idle workers sleep
// on the queue, each takes ceil(queued / workers) intents (at most kWorkerBatchMax), so SMTP
// sends, released about one per worker, still spread over the workers. Results of idempotent
// deliveries (Maildir, discard) go back as one push per batch the worker took, i.e. they are
// acknowledged per batch; an SMTP result goes back as soon as its send ends. on_results runs
// when a push made the results queue non-empty: one engine wakeup per batch of results.
//
// Bounds: at most in_flight_max intents are submitted and not yet taken back as results;
// submit() refuses a batch that would exceed it (the engine's delivery slots never ask for
// more: Runtime::freeSlots). Both queues have that capacity, so neither can grow past it, and
// a worker's push of results always fits (results <= intents released).
//
// Stopping (SIGTERM): stopTaking() makes every worker finish the message it is on and start no
// other; the rest of its batch comes back as kReturned results. returnQueued() then hands every
// intent no worker took back as a kReturned result, so the engine records it as not attempted
// and queues the step again. A worker stuck on a relay that never answers is bounded by the
// SMTP timeout; busyWorkers() tells whether one still is.
//
// Thread-safety: submit() and takeResults() from the engine thread (one thread); workers are
// internal.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/delivery.hpp"
#include "engine/render.hpp"
#include "io/batch_queue.hpp"
#include "io/lateness_trace.hpp"
#include "io/maildir.hpp"
#include "io/smtp_transport.hpp"

namespace seqd {

inline constexpr int kDeliveryWorkersMax = 256;
// Intents one worker takes at once, at most.
inline constexpr std::size_t kWorkerBatchMax = 64;

class DeliveryPool {
 public:
  // in_flight_max: intents submitted and not yet answered, at most (REQUIRES: > 0).
  // on_results is called on a worker thread after a push that made the results non-empty.
  // on_sent, when given, is called on the worker thread with one line per email the transport
  // took (Maildir written, SMTP 2xx; not `discard`, a benchmark's transport): "sent: sequence
  // S step X contact C mailbox M <message-id>". It is formatted there, off the engine thread.
  // trace, when given (a benchmark's), gets a "D" line per delivery (io/lateness_trace.hpp);
  // it must outlive the pool.
  DeliveryPool(std::string maildir_root, SmtpSettings smtp, int workers, std::size_t in_flight_max,
               std::function<void()> on_results, std::function<void(std::string_view)> on_sent = {},
               LatenessTrace* trace = nullptr);
  ~DeliveryPool();
  DeliveryPool(const DeliveryPool&) = delete;
  DeliveryPool& operator=(const DeliveryPool&) = delete;

  // Moves every intent to the workers in one push and clears `intents`. Returns false and
  // takes none when they would put more than in_flight_max in flight, or after stopTaking().
  bool submit(std::vector<DeliveryIntent>& intents);
  // Moves every result ready onto the end of `out`; returns how many.
  std::size_t takeResults(std::vector<DeliveryResult>& out);
  // Intents submitted whose result was not taken yet.
  std::size_t inFlight() const { return in_flight_.load(); }
  std::size_t inFlightMax() const { return in_flight_max_; }
  // Workers finish the message they are on and start no other.
  void stopTaking();
  // Pushes a kReturned result for every intent no worker took. REQUIRES: stopTaking().
  void returnQueued();
  // Workers in the middle of a delivery.
  int busyWorkers() const { return busy_.load(); }
  // stopTaking(), returnQueued(), then joins the workers.
  // REQUIRES: busyWorkers() == 0, or the caller accepts waiting for them.
  void stop();

 private:
  void workerLoop();
  void pushResults(std::vector<DeliveryResult>& results);
  // A Maildir message is in new/ after it, durable once `maildir` is synced. message_id is
  // the intent's (DeliveryIntent::messageIdTo).
  DeliveryResult deliver(const DeliveryIntent& intent, std::string_view message_id,
                         SmtpTransport& smtp, MessageRenderer& renderer, MaildirBatch& maildir);

  MaildirWriter maildir_;
  SmtpSettings smtp_;
  const std::size_t in_flight_max_;
  const std::size_t workers_count_;
  BatchQueue<DeliveryIntent> intents_;
  BatchQueue<DeliveryResult> results_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> busy_{0};
  const std::function<void(std::string_view)> on_sent_;
  LatenessTrace* const trace_;
  std::vector<std::thread> workers_;
};

// The log line of an email the transport took (see DeliveryPool's on_sent); message_id is the
// intent's, which the worker built once.
std::string sentLine(const DeliveryIntent& intent, std::string_view message_id);

// The result that says `intent` was never attempted.
DeliveryResult returnedResult(const DeliveryIntent& intent);

}  // namespace seqd
