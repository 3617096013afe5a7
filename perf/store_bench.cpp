// The store's write path alone, without the engine: what a virtual-time advance asks of it.
//
//   build/perf/store_bench [ENROLLMENTS [RUNS]]     (default 200000 and 5)
//
// 1. encode: encodeEnrollment() (format 4, as the store writes it) of ENROLLMENTS rows shaped
//    as the end-to-end bench's (a three-step sequence, a contact key of ~20 bytes, half of
//    them with a send out), and
//    encodeProgress() of as many kStepFired records: ns per record and bytes per record, the
//    fastest of RUNS passes (CPU only, so the fastest pass is the least disturbed by the load).
// 2. commit: the same rows appended to the journal with one progress record each, in durable
//    commits of 2,000 enrollments (about one round of the advance) into a fresh LMDB store
//    under $TMPDIR: records/s and ms per commit, every run (disk-bound: give the load).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/enrollment.hpp"
#include "engine/records.hpp"
#include "io/record_codec.hpp"
#include "io/store.hpp"

namespace seqd {
namespace {

constexpr std::size_t kRoundEnrollments = 2000;

std::vector<EnrollmentRecord> makeEnrollments(std::size_t count) {
  static const char* const kSteps[] = {"intro", "bump", "breakup"};
  std::vector<EnrollmentRecord> rows(count);
  for (std::size_t i = 0; i < count; ++i) {
    Enrollment& row = rows[i].row;
    row.id = static_cast<EnrollmentId>(i);
    row.status = EnrollmentStatus::kActive;
    row.sequence_id = "bench";
    row.contact_key = "c" + std::to_string(1000000 + i) + "@example.test";
    row.step_index = static_cast<std::uint8_t>(i % 3);
    row.done_steps = SymbolList(std::vector<std::string>(kSteps, kSteps + i % 3));
    row.waits_from_ms = 1796133600000;
    row.next_at_ms = row.waits_from_ms + 60000;
    row.last_mailbox = "bench@acme.test";
    if (i % 2 == 0) {
      row.sending = true;
      rows[i].send = SendOut{kSteps[i % 3], "bench@acme.test", row.waits_from_ms, true};
    }
  }
  return rows;
}

ProgressRecord progressFor(const EnrollmentRecord& snapshot, std::uint64_t seq) {
  const Enrollment& row = snapshot.row;
  ProgressRecord record;
  record.seq = seq;
  record.enrollment_id = row.id;
  record.step_index = row.step_index;
  record.kind = ProgressKind::kStepFired;
  record.at_ms = row.waits_from_ms;
  record.mailbox = "bench@acme.test";
  record.step_id = "intro";
  record.message_id = sendingMessageId(row, snapshot.send);
  return record;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void encodeBench(const std::vector<EnrollmentRecord>& rows, int runs) {
  std::vector<ProgressRecord> progress;
  progress.reserve(rows.size());
  for (const EnrollmentRecord& row : rows) progress.push_back(progressFor(row, row.row.id + 1));
  std::string out;
  double enrollment_best = 1e30;
  double progress_best = 1e30;
  std::size_t enrollment_bytes = 0;
  std::size_t progress_bytes = 0;
  for (int run = 0; run < runs; ++run) {
    enrollment_bytes = 0;
    auto start = std::chrono::steady_clock::now();
    SymbolCodes codes;  // the store's encoding: strings as codes (the first rows hand them out)
    for (const EnrollmentRecord& row : rows) {
      if (!encodeEnrollment(row, out, codes).isOk()) std::abort();
      enrollment_bytes += out.size();
    }
    enrollment_best = std::min(enrollment_best, secondsSince(start));
    progress_bytes = 0;
    start = std::chrono::steady_clock::now();
    for (const ProgressRecord& record : progress) {
      if (!encodeProgress(record, out).isOk()) std::abort();
      progress_bytes += out.size();
    }
    progress_best = std::min(progress_best, secondsSince(start));
  }
  const double count = static_cast<double>(rows.size());
  std::printf("encode enrollment   %8.1f ns/record  %6.1f bytes/record  (fastest of %d)\n",
              enrollment_best * 1e9 / count, static_cast<double>(enrollment_bytes) / count, runs);
  std::printf("encode progress     %8.1f ns/record  %6.1f bytes/record  (fastest of %d)\n",
              progress_best * 1e9 / count, static_cast<double>(progress_bytes) / count, runs);
}

int commitBench(const std::vector<EnrollmentRecord>& rows, int runs) {
  const std::string dir = std::filesystem::temp_directory_path() / "seqd-store-bench";
  for (int run = 0; run < runs; ++run) {
    std::filesystem::remove_all(dir);
    Result<std::unique_ptr<Store>> opened = openLmdbStore(dir);
    if (!opened.isOk()) {
      std::fprintf(stderr, "%s\n", opened.status().message().c_str());
      return 1;
    }
    Store& store = *opened.value();
    std::uint64_t seq = 0;
    std::size_t commits = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t first = 0; first < rows.size(); first += kRoundEnrollments) {
      WriteBatch batch;
      const std::size_t last = std::min(rows.size(), first + kRoundEnrollments);
      batch.enrollments.assign(rows.begin() + static_cast<std::ptrdiff_t>(first),
                               rows.begin() + static_cast<std::ptrdiff_t>(last));
      for (std::size_t i = first; i < last; ++i)
        batch.progress.push_back(progressFor(rows[i], ++seq));
      Status committed = store.commit(batch);
      if (!committed.isOk()) {
        std::fprintf(stderr, "%s\n", committed.message().c_str());
        return 1;
      }
      ++commits;
    }
    const double seconds = secondsSince(start);
    std::printf(
        "commit run %d        %8.0f enrollments+records/s  %6.2f ms/commit  (%zu commits)\n",
        run + 1, static_cast<double>(rows.size()) / seconds,
        seconds * 1e3 / static_cast<double>(commits), commits);
    opened.value().reset();
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace seqd

int main(int argc, char** argv) {
  const std::size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  std::printf("store: %zu enrollments, %d runs\n", count, runs);
  const std::vector<seqd::EnrollmentRecord> rows = seqd::makeEnrollments(count);
  seqd::encodeBench(rows, runs);
  return seqd::commitBench(rows, runs);
}
