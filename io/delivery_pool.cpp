#include "io/delivery_pool.hpp"

#include <algorithm>

namespace seqd {

namespace {
constexpr int kIdlePollMs = 50;
}  // namespace

DeliveryPool::DeliveryPool(std::string maildir_root, SmtpSettings smtp, int workers,
                           std::function<void()> on_result)
    : maildir_(std::move(maildir_root)), smtp_(std::move(smtp)), on_result_(std::move(on_result)) {
  int count = std::clamp(workers, 1, kDeliveryWorkersMax);
  for (int i = 0; i < count; ++i) workers_.emplace_back([this] { workerLoop(); });
}

DeliveryPool::~DeliveryPool() { stop(); }

void DeliveryPool::submit(DeliveryIntent intent) {
  intents_.push(std::move(intent));
  work_ready_.notify();
}

bool DeliveryPool::tryTakeResult(DeliveryResult& out) { return results_.tryPop(out); }

void DeliveryPool::stopTaking() {
  stopping_.store(true);
  work_ready_.notify();
}

void DeliveryPool::returnQueued() {
  DeliveryIntent intent;
  while (intents_.tryPop(intent)) {
    DeliveryResult result;
    result.enrollment_id = intent.enrollment_id;
    result.step_index = intent.step_index;
    result.message_id = intent.message_id;
    result.transport = intent.transport;
    result.outcome = DeliveryOutcome::kReturned;
    result.detail = "seqd stopped before this send was attempted";
    results_.push(std::move(result));
  }
}

void DeliveryPool::stop() {
  stopTaking();
  returnQueued();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

void DeliveryPool::workerLoop() {
  SmtpTransport smtp(smtp_);  // one per worker: owns a libcurl handle and its connection
  MessageRenderer renderer;   // one per worker: its buffers are reused message to message
  for (;;) {
    DeliveryIntent intent;
    // The flag is read before each take: once stopping, a worker starts nothing new.
    while (!stopping_.load() && intents_.tryPop(intent)) {
      busy_.fetch_add(1);
      results_.push(deliver(intent, smtp, renderer));
      busy_.fetch_sub(1);
      on_result_();
    }
    if (stopping_.load()) return;
    // Only one sleeping worker takes a notification; the others look again after the
    // timeout, so a busy moment never leaves queued work unseen for long.
    work_ready_.waitFor(std::chrono::milliseconds(kIdlePollMs));
  }
}

DeliveryResult DeliveryPool::deliver(const DeliveryIntent& intent, SmtpTransport& smtp,
                                     MessageRenderer& renderer) {
  DeliveryResult result;
  result.enrollment_id = intent.enrollment_id;
  result.step_index = intent.step_index;
  result.message_id = intent.message_id;
  result.transport = intent.transport;
  switch (intent.transport) {
    case Transport::kDiscard:
      renderer.render(intent);  // rendered all the same: a benchmark measures that work too
      result.outcome = DeliveryOutcome::kDelivered;
      break;
    case Transport::kMaildir: {
      Status status = maildir_.deliver(intent.mailbox, intent.message_id, renderer.render(intent));
      result.outcome =
          status.isOk() ? DeliveryOutcome::kDelivered : DeliveryOutcome::kFailedTemporary;
      result.detail = status.message();
      break;
    }
    case Transport::kSmtp: {
      SmtpSendResult sent = smtp.send(intent.mailbox, intent.recipient, renderer.render(intent));
      result.outcome = sent.outcome;
      result.detail = std::move(sent.detail);
      result.maybe_delivered = sent.maybe_delivered;
      break;
    }
  }
  return result;
}

}  // namespace seqd
