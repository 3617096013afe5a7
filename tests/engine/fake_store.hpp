// FakeStore: keeps committed WriteBatches the way the LMDB store would (upserts by key,
// appends to the progress log, tasks by id, team records by key, kInbound records copied to the
// inbound table, the last governor snapshot; nothing is ever truncated: the engine skips the
// records a snapshot covers), so engine tests can restart an Engine from what was
// committed without touching the disk.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "engine/records.hpp"

namespace seqd::testing {

// Where id's entry is or would go in `side` (pairs by id ascending).
template <typename Side>
auto positionIn(Side& side, EnrollmentId id) {
  return std::lower_bound(side.begin(), side.end(), id, [](const auto& entry, EnrollmentId target) {
    return entry.first < target;
  });
}

// The entry for id in `side` (pairs by id ascending), or null.
template <typename Value>
const Value* sideOf(const std::vector<std::pair<EnrollmentId, Value>>& side, EnrollmentId id) {
  const auto at = positionIn(side, id);
  return at != side.end() && at->first == id ? &at->second : nullptr;
}

// Sets id's entry in `side` (pairs by id ascending) to value, or takes it out when `has` is
// false.
template <typename Value>
void putSide(std::vector<std::pair<EnrollmentId, Value>>& side, EnrollmentId id, bool has,
             const Value& value) {
  const auto at = positionIn(side, id);
  const bool there = at != side.end() && at->first == id;
  if (!has) {
    if (there) side.erase(at);
  } else if (there) {
    at->second = value;
  } else {
    side.insert(at, {id, value});
  }
}

// The row at `at` (in state.enrollments) with its send out and extras, as the store was given
// it.
inline EnrollmentRecord recordAt(const LoadedState& state, std::size_t at) {
  const Enrollment& row = state.enrollments[at];
  const SendOut* send = sideOf(state.sends_out, row.id);
  const EnrollmentExtras* extras = sideOf(state.extras, row.id);
  return EnrollmentRecord{row, send != nullptr ? *send : SendOut(),
                          extras != nullptr ? *extras : EnrollmentExtras()};
}

// Puts the record's row at its id (growing state.enrollments to it) and its send and extras
// beside it, as a store keeping its whole state in a LoadedState takes a snapshot.
inline void putRecord(LoadedState& state, const EnrollmentRecord& record) {
  const EnrollmentId id = record.row.id;
  if (id >= state.enrollments.size()) state.enrollments.resize(id + 1);
  state.enrollments[id] = record.row;
  putSide(state.sends_out, id, record.row.sending, record.send);
  putSide(state.extras, id, !record.extras.empty(), record.extras);
}

// How many of records are of kind.
inline std::size_t countProgress(const std::vector<ProgressRecord>& records, ProgressKind kind) {
  return static_cast<std::size_t>(std::count_if(
      records.begin(), records.end(), [kind](const ProgressRecord& r) { return r.kind == kind; }));
}

// How many of records are kStepFired records a start wrote for a send it handed out again.
inline std::size_t countRedelivered(const std::vector<ProgressRecord>& records) {
  return static_cast<std::size_t>(
      std::count_if(records.begin(), records.end(), [](const ProgressRecord& r) {
        return r.kind == ProgressKind::kStepFired && r.detail == kRedeliveredDetail;
      }));
}

struct FakeStore {
  LoadedState state;

  void commit(WriteBatch batch) {
    for (const ContactRef& contact : batch.contacts) {
      auto it = std::find_if(state.contacts.begin(), state.contacts.end(),
                             [&](const ContactRef& c) { return c->key() == contact->key(); });
      if (it != state.contacts.end()) {
        *it = contact;
      } else {
        state.contacts.push_back(contact);
      }
    }
    for (const EnrollmentRecord& record : batch.enrollments) putRecord(state, record);
    for (ProgressRecord& record : batch.progress) {
      if (!state.progress.empty()) REQUIRE(record.seq > state.progress.back().seq);
      if (record.kind == ProgressKind::kInbound) state.inbound.push_back(record);
      state.progress.push_back(std::move(record));
    }
    for (Task& task : batch.tasks) {
      auto it = std::lower_bound(state.tasks.begin(), state.tasks.end(), task.id,
                                 [](const Task& t, std::uint64_t id) { return t.id < id; });
      if (it != state.tasks.end() && it->id == task.id) {
        *it = std::move(task);
      } else {
        state.tasks.insert(it, std::move(task));
      }
    }
    for (TeamRecord& record : batch.team) {
      auto it =
          std::lower_bound(state.team.begin(), state.team.end(), record.key,
                           [](const TeamRecord& r, const std::string& key) { return r.key < key; });
      const bool found = it != state.team.end() && it->key == record.key;
      if (record.erase) {
        if (found) state.team.erase(it);
      } else if (found) {
        *it = std::move(record);
      } else {
        state.team.insert(it, std::move(record));
      }
    }
    if (batch.governor) state.governor = std::move(batch.governor);
    for (SequenceState& sequence : batch.sequences) {
      auto it = std::find_if(
          state.sequences.begin(), state.sequences.end(),
          [&](const SequenceState& s) { return s.sequence_id == sequence.sequence_id; });
      if (it != state.sequences.end()) {
        *it = sequence;
      } else {
        state.sequences.push_back(sequence);
      }
    }
  }
};

}  // namespace seqd::testing
