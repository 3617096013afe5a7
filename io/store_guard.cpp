#include "io/store_guard.hpp"

#include "io/record_codec.hpp"
#include "io/request_checks.hpp"

namespace seqd {
namespace {

// Why the store would refuse this key, or "" when it would not.
std::string keyRefusal(const char* db, std::string_view key) {
  if (key.empty()) return std::string(db) + ": empty key";
  if (key.size() <= kContactKeyBytesMax) return std::string();
  return std::string(db) + " key '" + printableKey(key) + "' is " + std::to_string(key.size()) +
         " bytes; at most " + std::to_string(kContactKeyBytesMax);
}

std::string contactRefusal(const PackedContact& contact, std::string& scratch) {
  std::string refusal = keyRefusal("contacts", contact.key());
  if (!refusal.empty()) return refusal;
  Status status = encodeContact(contact, scratch);
  if (status.isOk()) return std::string();
  return "contacts key '" + printableKey(contact.key()) + "': " + status.message();
}

std::string enrollmentRefusal(const EnrollmentRecord& record, std::string& scratch) {
  Status status = encodeEnrollment(record, scratch);
  if (status.isOk()) return std::string();
  return "enrollments id " + std::to_string(record.row.id) + " (contact '" +
         printableKey(record.row.contact_key) + "'): " + status.message();
}

std::string progressRefusal(const ProgressRecord& record, std::string& scratch) {
  Status status = encodeProgress(record, scratch);
  if (status.isOk()) return std::string();
  return "progress seq " + std::to_string(record.seq) + ": " + status.message();
}

}  // namespace

BatchMark markOf(const WriteBatch& batch) {
  return BatchMark{batch.contacts.size(), batch.enrollments.size(), batch.progress.size(),
                   batch.sequences.size()};
}

std::vector<std::string> refusedRecords(const WriteBatch& batch, const BatchMark& from) {
  std::vector<std::string> refused;
  std::string scratch;
  auto note = [&refused](std::string refusal) {
    if (!refusal.empty()) refused.push_back(std::move(refusal));
  };
  for (std::size_t i = from.contacts; i < batch.contacts.size(); ++i) {
    note(contactRefusal(*batch.contacts[i], scratch));
  }
  for (std::size_t i = from.enrollments; i < batch.enrollments.size(); ++i) {
    note(enrollmentRefusal(batch.enrollments[i], scratch));
  }
  for (std::size_t i = from.progress; i < batch.progress.size(); ++i) {
    note(progressRefusal(batch.progress[i], scratch));
  }
  for (std::size_t i = from.sequences; i < batch.sequences.size(); ++i) {
    note(keyRefusal("sequences", batch.sequences[i].sequence_id));
  }
  return refused;
}

Status commitKeepingHoldable(Store& store, const WriteBatch& batch,
                             std::vector<std::string>& dropped) {
  Status committed = store.commit(batch);
  if (committed.isOk() || committed.code() != StatusCode::kInvalidArgument) return committed;
  const std::size_t dropped_before = dropped.size();
  std::string scratch;
  for (const ProgressRecord& record : batch.progress) {
    if (!progressRefusal(record, scratch).empty()) return committed;
  }
  WriteBatch holdable;
  holdable.clock_ms = batch.clock_ms;
  holdable.sequences = batch.sequences;
  holdable.progress = batch.progress;
  for (const ContactRef& contact : batch.contacts) {
    std::string refusal = contactRefusal(*contact, scratch);
    if (refusal.empty()) {
      holdable.contacts.push_back(contact);
    } else {
      dropped.push_back(std::move(refusal));
    }
  }
  holdable.checkpoint_start = batch.checkpoint_start;
  holdable.checkpoint_finish = batch.checkpoint_finish;
  for (const auto& [from, to] : {std::pair{&batch.enrollments, &holdable.enrollments},
                                 std::pair{&batch.checkpoint_rows, &holdable.checkpoint_rows}}) {
    for (const EnrollmentRecord& record : *from) {
      std::string refusal = enrollmentRefusal(record, scratch);
      if (refusal.empty()) {
        to->push_back(record);
      } else {
        dropped.push_back(std::move(refusal));
      }
    }
  }
  if (dropped.size() == dropped_before) return committed;
  return store.commit(holdable);
}

}  // namespace seqd
