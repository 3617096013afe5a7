// Engine: searching stored contacts (`seqctl contacts --where`, `add --where`) and the
// sequences one contact is in (`contact show`).
#include <algorithm>

#include "engine/engine.hpp"

namespace seqd {

Result<Engine::ContactSearch> Engine::searchContacts(const ContactQuery& query,
                                                     std::size_t limit) const {
  for (const std::string& sequence_id : query.sequencesNamed()) {
    if (findSequence(sequence_id) == nullptr) {
      return Status::notFound("where: in_sequence names an unknown sequence '" + sequence_id + "'");
    }
  }
  const ContactQuery::InSequence in_sequence = [this](const Contact& contact,
                                                      const std::string& sequence_id) {
    const Enrollment* enrollment = findEnrollment(sequence_id, contact.key);
    return enrollment != nullptr && enrollment->status != EnrollmentStatus::kRemoved;
  };
  ContactSearch search;
  for (const auto& [key, contact] : contacts_) {
    if (query.matches(*contact, in_sequence)) search.contacts.push_back(contact);
  }
  search.matched = search.contacts.size();
  auto by_key = [](const std::shared_ptr<const Contact>& left,
                   const std::shared_ptr<const Contact>& right) { return left->key < right->key; };
  if (limit > 0 && limit < search.contacts.size()) {
    std::partial_sort(search.contacts.begin(),
                      search.contacts.begin() + static_cast<std::ptrdiff_t>(limit),
                      search.contacts.end(), by_key);
    search.contacts.resize(limit);
  } else {
    std::sort(search.contacts.begin(), search.contacts.end(), by_key);
  }
  return search;
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
