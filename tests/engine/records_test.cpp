// Proves a large write batch splits into store-sized batches that keep every record, in
// order, with the clock last.
#include "engine/records.hpp"

#include <doctest/doctest.h>

using namespace seqd;

TEST_CASE("a small batch stays whole") {
  WriteBatch batch;
  batch.contacts.resize(3);
  batch.clock_ms = 5;
  std::vector<WriteBatch> parts = splitBatch(batch, 10);
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].recordCount() == 4);
}

TEST_CASE("a large batch splits at the limit, keeping order and the clock last") {
  WriteBatch batch;
  for (std::uint64_t i = 1; i <= 25; ++i) {
    ProgressRecord record;
    record.seq = i;
    batch.progress.push_back(record);
  }
  batch.contacts.resize(4);
  batch.enrollments.resize(6);
  batch.clock_ms = 42;
  std::vector<WriteBatch> parts = splitBatch(batch, 10);
  REQUIRE(parts.size() == 4);
  std::size_t total = 0;
  std::uint64_t last_seq = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    CHECK(parts[i].recordCount() <= 10);
    CHECK(parts[i].clock_ms.has_value() == (i + 1 == parts.size()));
    total += parts[i].recordCount();
    for (const ProgressRecord& record : parts[i].progress) {
      CHECK(record.seq == last_seq + 1);
      last_seq = record.seq;
    }
  }
  CHECK(total == 36);
  CHECK(parts.front().contacts.size() == 4);
  CHECK(parts.back().clock_ms.value() == 42);
}
