#include "engine/status_snapshot.hpp"

#include <algorithm>

#include "engine/assert.hpp"
#include "engine/text_prefix.hpp"

namespace seqd {

TextInterner::TextInterner(std::vector<std::string>& texts) : texts_(texts) {
  if (texts_.empty()) texts_.emplace_back();
  SEQD_ASSERT(texts_.front().empty());
}

std::uint32_t TextInterner::intern(std::string_view text) {
  if (text.empty()) return 0;
  if (recent_ != 0 && texts_[recent_] == text) return recent_;
  auto found = index_.find(text);
  if (found == index_.end()) {
    const auto index = static_cast<std::uint32_t>(texts_.size());
    texts_.emplace_back(text);
    found = index_.emplace(std::string(text), index).first;
  }
  recent_ = found->second;
  return recent_;
}

// The same filter and order as Engine::status(): the filter on the enrollment and contact
// first, then lightweight (score, contact key) keys ordered, partially when there is a limit.
std::vector<std::size_t> selectStatusRows(const StatusSnapshot& snapshot,
                                          const StatusFilter& filter) {
  // Sorted by score, then key: its prefix (engine/text_prefix.hpp), the whole key read again
  // only to break a tie of prefixes.
  struct Match {
    TextPrefix key_prefix;
    std::uint32_t index = 0;  // in snapshot.rows
    std::uint8_t score = 0;
  };
  SEQD_ASSERT(snapshot.rows.size() <= UINT32_MAX);
  std::vector<Match> matches;
  matches.reserve(snapshot.rows.size());
  const std::string needle = toLowerAscii(filter.search);
  const std::string& paused_reason = filter.paused_reason;
  for (std::size_t index = 0; index < snapshot.rows.size(); ++index) {
    const StatusSnapshotRow& row = snapshot.rows[index];
    if (filter.status && row.status != *filter.status) continue;
    if (!paused_reason.empty() && snapshot.texts[row.paused_text] != paused_reason) continue;
    if (filter.resume_scheduled && (row.resume_at_ms != kNoTime) != *filter.resume_scheduled) {
      continue;
    }
    const std::string_view key = snapshot.contactKey(row);
    const PackedContact* contact = row.contact.get();
    if (!needle.empty()) {
      std::string haystack(key);
      if (contact != nullptr) {
        for (std::string_view text :
             {contact->email(), contact->firstName(), contact->lastName(), contact->company()}) {
          haystack += ' ';
          haystack += text;
        }
      } else {
        haystack += " ";  // a row with no contact shows an empty email
      }
      if (toLowerAscii(haystack).find(needle) == std::string::npos) continue;
    }
    matches.push_back(Match{TextPrefix(key), static_cast<std::uint32_t>(index),
                            contact == nullptr ? std::uint8_t{0} : contact->score()});
  }
  const auto before = [&snapshot](const Match& a, const Match& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.key_prefix != b.key_prefix) return a.key_prefix < b.key_prefix;
    return snapshot.contactKey(snapshot.rows[a.index]) <
           snapshot.contactKey(snapshot.rows[b.index]);
  };
  std::size_t shown = matches.size();
  if (filter.limit > 0 && filter.limit < matches.size()) {
    shown = filter.limit;
    std::partial_sort(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(shown),
                      matches.end(), before);
  } else {
    std::sort(matches.begin(), matches.end(), before);
  }
  std::vector<std::size_t> selected;
  selected.reserve(shown);
  for (std::size_t i = 0; i < shown; ++i) selected.push_back(matches[i].index);
  return selected;
}

StatusRow statusRowAt(const StatusSnapshot& snapshot, std::size_t index,
                      SendingCalendar& calendar) {
  SEQD_ASSERT(index < snapshot.rows.size());
  const StatusSnapshotRow& source = snapshot.rows[index];
  const PackedContact* contact = source.contact.get();
  StatusRow row;
  row.contact = std::string(snapshot.contactKey(source));
  if (contact != nullptr) {
    row.email = contact->email();
    row.score = contact->score();
    row.owner = contact->owner();
  }
  row.status = enrollmentStatusName(source.status);
  row.step_index = source.step_index;
  if (snapshot.sequence_known && !snapshot.step_ids.empty()) {
    SEQD_ASSERT(source.step_index < snapshot.step_ids.size());
    row.step = snapshot.step_ids[source.step_index];
  }
  const bool running =
      source.status == EnrollmentStatus::kScheduled || source.status == EnrollmentStatus::kActive;
  if (running && source.next_at_ms != kNoTime) {
    // The engine's wheelTime(): the first open instant of the enrollment's window.
    ScheduleId schedule = kNoSchedule;
    ZoneId zone = kNoZone;
    if (snapshot.sequence_known) schedule = calendar.findSchedule(snapshot.schedule);
    if (schedule != kNoSchedule) {
      zone = calendar.scheduleZone(schedule);
      if (snapshot.timezone_from_contact && contact != nullptr && !contact->timezone().empty()) {
        const ZoneId contact_zone = calendar.findZone(contact->timezone());
        if (contact_zone != kNoZone) zone = contact_zone;
      }
    }
    const TimeMs open_ms = calendar.nextOpen(schedule, zone, source.next_at_ms);
    row.next_at_ms = open_ms == kNeverOpen ? kNoTime : open_ms;
  }
  row.paused_reason = snapshot.texts[source.paused_text];
  row.resume_at_ms = source.resume_at_ms;
  row.finish_reason = snapshot.texts[source.finish_text];
  if (source.status == EnrollmentStatus::kBounced) {
    row.bounce_reason = snapshot.texts[source.not_sent_text];
  } else {
    row.not_sent_reason = snapshot.texts[source.not_sent_text];
  }
  if (snapshot.render_sequence != nullptr && !row.step.empty() &&
      source.step_index < snapshot.render_sequence->steps.size()) {
    const RenderStep& step = snapshot.render_sequence->steps[source.step_index];
    const int variant = pickVariant(step, row.contact);
    if (variant >= 0) row.variant = step.variants[variant].id;
  }
  row.mailbox = snapshot.texts[source.mailbox_text];
  return row;
}

}  // namespace seqd
