// add --dry-run over contacts that are not stored yet: `add SEQ --csv FILE --dry-run` must
// store nothing, its contacts included, yet say what the add would do with the contacts as
// the file would leave them. decideAdd() makes every add decision, changing nothing, for
// contacts taken from `pending` first (previewAdd() is it without a plan); add()
// (engine/engine.cpp) calls it with no pending contacts and enrolls the plan it returns, so
// the two cannot disagree.
#include <algorithm>

#include "engine/engine.hpp"
#include "engine/permissions.hpp"

namespace seqd {
namespace {

bool listed(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

// findContact() over the stored contacts with `pending` laid on top: an exact key first,
// then the lower-cased one. A pending contact is packed for the look (a dry run only).
ContactRef Engine::findContactWith(const std::string& key,
                                   const std::unordered_map<std::string, Contact>& pending) const {
  auto under = [&](const std::string& candidate) -> ContactRef {
    if (!pending.empty()) {
      if (auto found = pending.find(candidate); found != pending.end()) {
        return PackedContact::pack(found->second);
      }
    }
    const ContactRef* found = exactContact(candidate);
    return found == nullptr ? nullptr : *found;
  };
  ContactRef found = under(key);
  return found != nullptr ? found : under(toLowerAscii(key));
}

Result<AddResult> Engine::previewAdd(const std::string& sequence_id,
                                     const std::vector<std::string>& keys,
                                     const std::unordered_map<std::string, Contact>& pending,
                                     const AddOptions& options, const Caller& caller,
                                     TimeMs now_ms) const {
  return decideAdd(sequence_id, keys, pending, options, caller, now_ms, nullptr);
}

Result<AddResult> Engine::decideAdd(const std::string& sequence_id,
                                    const std::vector<std::string>& keys,
                                    const std::unordered_map<std::string, Contact>& pending,
                                    const AddOptions& options, const Caller& caller, TimeMs now_ms,
                                    std::vector<AddPlan>* plan) const {
  const Sequence* sequence = findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  Status allowed = checkCanEditSequence(*sequence, caller, shares_);
  if (!allowed.isOk()) return allowed;
  for (const std::string& mailbox : options.mailboxes) {
    if (findMailbox(mailbox) == nullptr) {
      return Status::notFound("unknown mailbox '" + mailbox + "'");
    }
  }
  AddResult result;
  if (plan != nullptr) plan->reserve(keys.size());
  // The sequence and each contact are looked up once: the rest of the decision, and add()'s
  // enrolling, go by Symbol.
  const Symbol sequence_symbol(sequence->id);
  const bool active = isActive(sequence->id);
  boost::unordered_flat_set<std::uint32_t> seen;  // contact keys' Symbol indexes
  seen.reserve(keys.size());
  for (const std::string& requested : keys) {
    const ContactRef contact = findContactWith(requested, pending);
    if (contact == nullptr) {
      result.skipped.push_back({requested, {"unknown_contact"}, {}});
      continue;
    }
    const Symbol contact_key = contact->keySymbol();
    if (!seen.insert(contact_key.index()).second) continue;
    const Enrollment* existing = findPairBySymbol(sequence_symbol, contact_key);
    if (existing != nullptr && existing->status != EnrollmentStatus::kRemoved &&
        existing->status != EnrollmentStatus::kFinished) {
      result.skipped.push_back({std::string(contact->key()), {"already_in_sequence"}, {}});
      continue;
    }
    std::vector<std::string> other_sequences;
    std::vector<std::string> warnings =
        addWarnings(*sequence, *contact, existing, options, caller, other_sequences);
    bool hard_block = listed(warnings, "stage_blocked") || listed(warnings, "email_opt_out");
    // An address that is not an addr-spec is enrolled only with --force: --skip-validation
    // skips the review, not this.
    bool invalid = !options.force && listed(warnings, "invalid_email");
    bool reviewed_out = !options.force && !options.skip_validation && !warnings.empty();
    if (hard_block || invalid || reviewed_out) {
      result.skipped.push_back(
          {std::string(contact->key()), std::move(warnings), std::move(other_sequences)});
      continue;
    }
    // Every step done (finished, or removed after the last step): nothing left to run.
    if (existing != nullptr && !existing->sending &&
        currentStepIndex(*sequence, *existing) >= sequence->steps.size()) {
      result.skipped.push_back({std::string(contact->key()), {"already_finished"}, {}});
      continue;
    }
    result.added.emplace_back(contact->key());
    result.first_at.push_back(
        firstSendAt(*sequence, active, *contact, existing, options.at_ms.value_or(now_ms)));
    if (plan != nullptr) {
      plan->push_back({contact_key, existing != nullptr ? existing->id : kNoEnrollment});
    }
  }
  return result;
}

// When an added contact's next step would go out: a new contact's first step after its wait,
// a returning one's current step when it was due (or now), each inside its window.
TimeMs Engine::firstSendAt(const Sequence& sequence, bool active, const PackedContact& contact,
                           const Enrollment* existing, TimeMs start_ms) const {
  if (!active) return kNoTime;
  const Window window = windowFor(sequence, &contact);
  TimeMs due_ms = kNoTime;
  if (existing == nullptr) {
    if (sequence.steps.empty()) return kNoTime;
    due_ms = stepDueAt(window, sequence.steps.front(), start_ms);
  } else {
    if (existing->sending) return kNoTime;  // waits on the send still out
    const std::uint32_t index = currentStepIndex(sequence, *existing);
    if (index >= sequence.steps.size()) return kNoTime;
    due_ms = existing->next_at_ms != kNoTime ? std::max(existing->next_at_ms, start_ms)
                                             : stepDueAt(window, sequence.steps[index], start_ms);
  }
  const TimeMs open_ms = calendar_.nextOpen(window.schedule, window.zone, due_ms);
  return open_ms == kNeverOpen ? kNoTime : open_ms;
}

}  // namespace seqd
