// What a store's open takes (the walk that checks every page and value, io/store_check.hpp),
// with its pages mapped in one call first (StoreOptions::map_pages_ahead, the default) and
// without, alternated. seqd's restart opens the store before it loads it; at 10M enrollments
// the open is a sixth of the restart (perf/RESULTS.md).
//
//   build/perf/store_open_bench STATE_DIR [RUNS [cold]]     (default 3 of each)
//
// STATE_DIR is a state dir no seqd has open: a copy (cp -r of one that perf/restart_state.py
// made), as the open takes its lock. Each open maps the file afresh, so each pays the first
// touch of every page again. The page cache is left as it is, unless `cold` (root only):
// then it is dropped before each open (sync, then 3 into /proc/sys/vm/drop_caches), to time a
// store read from disk.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/store.hpp"

namespace {

// Empties the page cache of clean pages (after a sync); false when it cannot.
bool dropPageCache() {
  std::fflush(nullptr);
  if (std::system("sync") != 0) return false;
  std::FILE* drop = std::fopen("/proc/sys/vm/drop_caches", "w");
  if (drop == nullptr) return false;
  const bool written = std::fputs("3\n", drop) >= 0;
  return std::fclose(drop) == 0 && written;
}

// Opens the store once; returns the seconds it took, or a negative number when it failed.
double openOnce(const std::string& dir, bool map_pages_ahead, bool cold) {
  if (cold && !dropPageCache()) {
    std::fprintf(stderr, "store_open_bench: cannot drop the page cache (root only)\n");
    return -1;
  }
  seqd::StoreOptions options;
  options.map_pages_ahead = map_pages_ahead;
  const auto start = std::chrono::steady_clock::now();
  auto store = seqd::openLmdbStore(dir, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!store.isOk()) {
    std::fprintf(stderr, "store_open_bench: %s\n", store.status().message().c_str());
    return -1;
  }
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: store_open_bench STATE_DIR [RUNS [cold]]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const bool cold = argc > 3 && std::string_view(argv[3]) == "cold";
  std::printf("open of %s (page cache %s), ms: pages mapped ahead / not\n", argv[1],
              cold ? "dropped before each" : "as it is");
  for (int run = 0; run < runs; ++run) {
    const double ahead = openOnce(dir, true, cold);
    const double not_ahead = openOnce(dir, false, cold);
    if (ahead < 0 || not_ahead < 0) return 1;
    std::printf("%8.1f / %8.1f\n", ahead * 1e3, not_ahead * 1e3);
  }
  return 0;
}
