#include "engine/records.hpp"

#include "engine/assert.hpp"

namespace seqd {
namespace {

template <typename T>
void moveInto(std::vector<T>& source, std::vector<T> WriteBatch::*list,
              std::vector<WriteBatch>& out, std::size_t records_max) {
  for (T& value : source) {
    if (out.empty() || out.back().recordCount() >= records_max) out.emplace_back();
    (out.back().*list).push_back(std::move(value));
  }
}

}  // namespace

std::vector<WriteBatch> splitBatch(WriteBatch batch, std::size_t records_max) {
  SEQD_ASSERT(records_max > 0);
  std::vector<WriteBatch> out;
  if (batch.recordCount() <= records_max) {
    out.push_back(std::move(batch));
    return out;
  }
  moveInto(batch.contacts, &WriteBatch::contacts, out, records_max);
  moveInto(batch.sequences, &WriteBatch::sequences, out, records_max);
  moveInto(batch.progress, &WriteBatch::progress, out, records_max);
  moveInto(batch.enrollments, &WriteBatch::enrollments, out, records_max);
  if (batch.clock_ms) {
    if (out.back().recordCount() >= records_max) out.emplace_back();
    out.back().clock_ms = batch.clock_ms;
  }
  return out;
}

}  // namespace seqd
