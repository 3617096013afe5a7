#include "io/delivery_pool.hpp"

#include <algorithm>

#include "engine/assert.hpp"
#include "engine/contact.hpp"
#include "io/thread_name.hpp"

namespace seqd {

namespace {
// A worker with nothing to do sleeps on the intents queue; submit() and stopTaking() wake it.
// The timeout only bounds a sleep: no work depends on it.
constexpr auto kIdleWait = std::chrono::seconds(1);
}  // namespace

std::string sentLine(const DeliveryIntent& intent, std::string_view message_id) {
  std::string line = "sent: sequence ";
  const RenderSequence* sequence = intent.sequence;
  line += sequence != nullptr ? sequence->id : std::string("?");
  line += " step ";
  line += sequence != nullptr && intent.step_index < sequence->steps.size()
              ? sequence->steps[intent.step_index].id
              : std::to_string(intent.step_index);
  line += " contact ";
  line += intent.contact != nullptr ? intent.contact->key() : std::string_view("?");
  line += " mailbox ";
  line += intent.mailbox();
  line += ' ';
  line += message_id;
  return line;
}

DeliveryResult returnedResult(const DeliveryIntent& intent) {
  DeliveryResult result;
  result.enrollment_id = intent.enrollment_id;
  result.step_index = intent.step_index;
  result.send = intent.send;
  result.transport = intent.transport;
  result.outcome = DeliveryOutcome::kReturned;
  result.redelivery = intent.redelivery;
  result.detail = "seqd stopped before this send was attempted";
  return result;
}

DeliveryPool::DeliveryPool(std::string maildir_root, SmtpSettings smtp, int workers,
                           std::size_t in_flight_max, std::function<void()> on_results,
                           std::function<void(std::string_view)> on_sent, LatenessTrace* trace)
    : maildir_(std::move(maildir_root)),
      smtp_(std::move(smtp)),
      in_flight_max_(in_flight_max),
      workers_count_(static_cast<std::size_t>(std::clamp(workers, 1, kDeliveryWorkersMax))),
      intents_(in_flight_max),
      results_(in_flight_max, std::move(on_results)),
      on_sent_(std::move(on_sent)),
      trace_(trace) {
  SEQD_ASSERT(in_flight_max > 0);
  for (std::size_t i = 0; i < workers_count_; ++i) {
    workers_.emplace_back([this] {
      nameThisThread("seqd-deliver");
      workerLoop();
    });
  }
}

DeliveryPool::~DeliveryPool() { stop(); }

bool DeliveryPool::submit(std::vector<DeliveryIntent>& intents) {
  if (intents.empty()) return true;
  if (stopping_.load()) return false;
  const std::size_t count = intents.size();
  if (in_flight_.load() + count > in_flight_max_) return false;
  in_flight_.fetch_add(count);
  // Fits: what is queued is part of what is in flight.
  const std::size_t pushed = intents_.tryPushBatch(intents);
  SEQD_ASSERT(pushed == count);
  return true;
}

std::size_t DeliveryPool::takeResults(std::vector<DeliveryResult>& out) {
  const std::size_t taken = results_.popUpTo(out);
  in_flight_.fetch_sub(taken);
  return taken;
}

void DeliveryPool::stopTaking() {
  stopping_.store(true);
  intents_.close();  // wakes the sleeping workers; the queued intents stay for returnQueued()
}

void DeliveryPool::returnQueued() {
  std::vector<DeliveryIntent> queued;
  intents_.popUpTo(queued);
  std::vector<DeliveryResult> results;
  results.reserve(queued.size());
  for (const DeliveryIntent& intent : queued) results.push_back(returnedResult(intent));
  pushResults(results);
}

void DeliveryPool::stop() {
  stopTaking();
  returnQueued();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

// Results never outnumber the intents in flight, and both are bounded by the queue's
// capacity, so the push always fits.
void DeliveryPool::pushResults(std::vector<DeliveryResult>& results) {
  if (results.empty()) return;
  results_.tryPushBatch(results);
  SEQD_ASSERT(results.empty());
}

namespace {

// Each message reads its contact's block and its key's text (the Message-ID's hash, and the
// To: address when the email is the key): cache misses, each known only once the one before
// is read. Asked for the whole batch at once, level by level, they are fetched side by side.
void prefetchContacts(const std::vector<DeliveryIntent>& batch) {
  for (const DeliveryIntent& intent : batch) {
    if (intent.contact != nullptr) __builtin_prefetch(intent.contact.get());
  }
  for (const DeliveryIntent& intent : batch) {
    if (intent.contact != nullptr) intent.contact->keySymbol().prefetchEntry();
  }
  for (const DeliveryIntent& intent : batch) {
    if (intent.contact != nullptr) intent.contact->keySymbol().prefetchText();
  }
}

}  // namespace

void DeliveryPool::workerLoop() {
  SmtpTransport smtp(smtp_);  // one per worker: owns a libcurl handle and its connection
  MessageRenderer renderer;   // one per worker: its buffers are reused message to message
  std::vector<DeliveryIntent> batch;
  std::vector<DeliveryResult> results;       // idempotent ones, pushed once the batch is durable
  std::vector<const DeliveryIntent*> sends;  // the intent of each of `results`
  std::vector<DeliveryResult> smtp_result;
  std::vector<std::string> message_ids;  // of the batch's intents, by position; reused
  std::string trace_lines;
  for (;;) {
    batch.clear();
    if (stopping_.load()) return;
    if (intents_.waitPopShare(batch, workers_count_, kWorkerBatchMax, kIdleWait) == 0) {
      if (intents_.closed()) return;
      continue;
    }
    const std::int64_t taken_us = trace_ ? LatenessTrace::nowUs() : 0;
    MaildirBatch maildir(maildir_);
    prefetchContacts(batch);
    if (message_ids.size() < batch.size()) message_ids.resize(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const DeliveryIntent& intent = batch[i];
      intent.messageIdTo(message_ids[i]);
      if (intent.transport == Transport::kMaildir) maildir.expect(intent.mailbox(), message_ids[i]);
    }
    maildir.prepare();
    sends.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const DeliveryIntent& intent = batch[i];
      // The flag is read before each send: once stopping, a worker starts nothing new.
      if (stopping_.load()) {
        results.push_back(returnedResult(intent));
        sends.push_back(nullptr);
        continue;
      }
      busy_.fetch_add(1);
      DeliveryResult result = deliver(intent, message_ids[i], smtp, renderer, maildir);
      busy_.fetch_sub(1);
      if (isIdempotent(intent.transport)) {
        results.push_back(std::move(result));
        sends.push_back(&intent);
        continue;
      }
      // An SMTP send takes long and is not idempotent: its result goes back at once.
      if (on_sent_ && result.outcome == DeliveryOutcome::kDelivered) {
        on_sent_(sentLine(intent, message_ids[i]));
      }
      smtp_result.push_back(std::move(result));
      pushResults(smtp_result);
    }
    // The batch's Maildir deliveries are durable once their new/ folders are synced.
    maildir.sync();
    const std::int64_t done_us = trace_ ? LatenessTrace::nowUs() : 0;
    trace_lines.clear();
    for (std::size_t i = 0; i < results.size(); ++i) {
      const DeliveryIntent* intent = sends[i];
      if (intent == nullptr) continue;  // returned
      DeliveryResult& result = results[i];
      if (intent->transport == Transport::kMaildir &&
          result.outcome == DeliveryOutcome::kDelivered) {
        if (Status synced = maildir.synced(intent->mailbox()); !synced.isOk()) {
          result.outcome = DeliveryOutcome::kFailedTemporary;
          result.detail = synced.message();
        }
      }
      if (on_sent_ && result.outcome == DeliveryOutcome::kDelivered &&
          intent->transport != Transport::kDiscard) {
        on_sent_(sentLine(*intent, message_ids[static_cast<std::size_t>(intent - batch.data())]));
      }
      if (trace_) {
        trace_lines += "D ";
        trace_lines += intent->contact ? intent->contact->key() : std::string_view("?");
        trace_lines += ' ' + std::to_string(intent->step_index) + ' ' + std::to_string(taken_us) +
                       ' ' + std::to_string(done_us) + '\n';
      }
    }
    pushResults(results);  // the batch's idempotent deliveries, acknowledged together
    if (trace_) {
      trace_->append(trace_lines, static_cast<std::size_t>(
                                      std::count(trace_lines.begin(), trace_lines.end(), '\n')));
    }
  }
}

DeliveryResult DeliveryPool::deliver(const DeliveryIntent& intent, std::string_view message_id,
                                     SmtpTransport& smtp, MessageRenderer& renderer,
                                     MaildirBatch& maildir) {
  DeliveryResult result;
  result.enrollment_id = intent.enrollment_id;
  result.step_index = intent.step_index;
  result.send = intent.send;
  result.transport = intent.transport;
  switch (intent.transport) {
    case Transport::kDiscard:
      // Rendered all the same: a benchmark measures that work too.
      renderer.render(intent, message_id);
      result.outcome = DeliveryOutcome::kDelivered;
      break;
    case Transport::kMaildir: {
      Status status =
          maildir.deliver(intent.mailbox(), message_id, renderer.render(intent, message_id));
      result.outcome =
          status.isOk() ? DeliveryOutcome::kDelivered : DeliveryOutcome::kFailedTemporary;
      result.detail = status.message();
      break;
    }
    case Transport::kSmtp: {
      SmtpSendResult sent =
          smtp.send(intent.mailbox(), intent.recipient(), renderer.render(intent, message_id));
      result.outcome = sent.outcome;
      result.detail = std::move(sent.detail);
      result.maybe_delivered = sent.maybe_delivered;
      break;
    }
  }
  return result;
}

}  // namespace seqd
