// Engine: searching stored contacts (`seqctl contacts --where`, `add --where`) and the
// sequences one contact is in (`contact show`).
#include <algorithm>

#include "engine/engine.hpp"

namespace seqd {

Result<Engine::ContactSearch> Engine::searchContacts(const ContactQuery& query,
                                                     std::size_t limit) const {
  Result<ContactsSnapshot> snapshot = contactsSnapshot(query, limit);
  if (!snapshot.isOk()) return snapshot.status();
  ContactMatches matches = matchContacts(snapshot.value());
  return ContactSearch{std::move(matches.contacts), matches.matched};
}

Result<ContactsSnapshot> Engine::contactsSnapshot(const ContactQuery& query,
                                                  std::size_t limit) const {
  ContactsSnapshot snapshot;
  for (const std::string& sequence_id : query.sequencesNamed()) {
    if (findSequence(sequence_id) == nullptr) {
      return Status::notFound("where: in_sequence names an unknown sequence '" + sequence_id + "'");
    }
    auto& enrolled = snapshot.enrolled[sequence_id];
    auto ids = by_sequence_.find(sequence_id);
    if (ids == by_sequence_.end()) continue;
    enrolled.reserve(ids->second.size());
    for (EnrollmentId id : ids->second) {
      const Enrollment& enrollment = enrollments_[id];
      enrolled.emplace(enrollment.contact_key.view(),
                       enrollment.status != EnrollmentStatus::kRemoved);
    }
  }
  snapshot.query = query;
  snapshot.limit = limit;
  snapshot.contacts.reserve(contact_count_);
  for (const ContactRef& contact : contacts_) {
    if (contact != nullptr) snapshot.contacts.push_back(contact);
  }
  return snapshot;
}

std::vector<StatusRow> Engine::enrollmentsOf(const std::string& contact_key) const {
  std::vector<StatusRow> rows;
  for (const EnrollmentId id : contactEnrollments(contact_key)) {
    rows.push_back(statusRow(enrollments_[id]));
  }
  std::sort(rows.begin(), rows.end(), [](const StatusRow& left, const StatusRow& right) {
    return left.sequence < right.sequence;
  });
  return rows;
}

}  // namespace seqd
