// Proves EnrollmentSnapshots reads back every record as it was put, by position and in
// order: the rows without a send out or extras and the few with them, mixed at random, and
// the edge cases around them (a record whose send or extras alone are set, the first and the
// last, after clear() and swap()).
#include "engine/enrollment_snapshots.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "test_seed.hpp"

using namespace seqd;
using seqd::testing::testSeed;

namespace {

bool sameRecord(const EnrollmentRecord& left, const EnrollmentRecord& right) {
  return left.row.id == right.row.id && left.row.status == right.row.status &&
         left.row.sending == right.row.sending && left.row.step_index == right.row.step_index &&
         left.row.contact_key == right.row.contact_key &&
         left.row.next_at_ms == right.row.next_at_ms && left.send == right.send &&
         left.extras == right.extras;
}

EnrollmentRecord randomRecord(std::mt19937_64& random, EnrollmentId id) {
  Enrollment row;
  row.id = id;
  row.status = static_cast<EnrollmentStatus>(random() % 7);
  row.step_index = static_cast<std::uint8_t>(random() % 5);
  row.contact_key = Symbol("snapshots/c" + std::to_string(random() % 50));
  row.next_at_ms = static_cast<TimeMs>(random() % 1000);
  EnrollmentRecord record(row);
  switch (random() % 8) {
    case 0:  // a send out
      record.row.sending = true;
      record.send = SendOut{Symbol("step-1"), Symbol("a@acme.test"),
                            static_cast<TimeMs>(random() % 1000), random() % 2 == 0};
      break;
    case 1:  // extras alone
      record.extras.resume_at_ms = static_cast<TimeMs>(random() % 1000);
      break;
    case 2:  // both
      record.row.sending = true;
      record.send.step = Symbol("step-2");
      record.extras.mailboxes = SymbolList(std::vector<Symbol>{Symbol("b@acme.test")});
      break;
    case 3:  // a send that only says it was released (the encoder refuses it; kept as put)
      record.send.released = true;
      break;
    default:  // most rows: neither
      break;
  }
  return record;
}

void checkReadsBack(const EnrollmentSnapshots& snapshots,
                    const std::vector<EnrollmentRecord>& expected) {
  REQUIRE(snapshots.size() == expected.size());
  CHECK(snapshots.empty() == expected.empty());
  std::size_t index = 0;
  for (const EnrollmentRecord& record : snapshots) {
    REQUIRE(index < expected.size());
    CHECK_MESSAGE(sameRecord(record, expected[index]), "in order, at ", index);
    ++index;
  }
  CHECK(index == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK_MESSAGE(sameRecord(snapshots[i], expected[i]), "by position, at ", i);
  }
}

}  // namespace

TEST_CASE("snapshots read back as put, by position and in order, for random mixes") {
  const std::uint64_t seed = testSeed();
  std::mt19937_64 random(seed);
  for (int round = 0; round < 200; ++round) {
    const std::size_t count = random() % 40;
    std::vector<EnrollmentRecord> expected;
    EnrollmentSnapshots snapshots;
    for (std::size_t i = 0; i < count; ++i) {
      expected.push_back(randomRecord(random, static_cast<EnrollmentId>(i)));
      snapshots.push_back(expected.back());
    }
    checkReadsBack(snapshots, expected);
    EnrollmentSnapshots assigned;
    assigned.assign(expected.begin(), expected.end());
    checkReadsBack(assigned, expected);
  }
}

TEST_CASE("a rare record first, last and alone; clear and swap take the rare ones along") {
  EnrollmentRecord plain(Enrollment{});
  EnrollmentRecord with_send = plain;
  with_send.row.id = 7;
  with_send.row.sending = true;
  with_send.send.step = Symbol("intro");
  EnrollmentRecord with_extras = plain;
  with_extras.row.id = 8;
  with_extras.extras.resume_at_ms = 42;

  EnrollmentSnapshots snapshots{with_send, plain, plain, with_extras};
  checkReadsBack(snapshots, {with_send, plain, plain, with_extras});
  EnrollmentSnapshots alone{with_extras};
  checkReadsBack(alone, {with_extras});

  EnrollmentSnapshots other{plain};
  other.swap(snapshots);
  checkReadsBack(other, {with_send, plain, plain, with_extras});
  checkReadsBack(snapshots, {plain});
  other.clear();
  checkReadsBack(other, {});
  other.push_back(plain);  // no rare record left from before the clear
  checkReadsBack(other, {plain});
}
