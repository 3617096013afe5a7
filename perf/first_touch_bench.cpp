// What a fresh heap costs to fault in: the first write of anonymous memory in 4 KiB pages and
// in 2 MiB (transparent huge) pages, alternated. A restart's time follows its heap (the kernel
// zeroing fresh pages is a quarter to a third of a 10M restart's samples), and which page size
// faults in faster depends on the machine: see perf/RESULTS.md.
//
//   build/perf/first_touch_bench [MB [RUNS [PAUSE_S]]]     (default 1024, 3 and 6)
//
// Each run maps MB of anonymous memory, asks for huge pages or not (madvise), writes every
// byte once (the page faults and the zeroing, then the write) and again (the write alone),
// and unmaps it. Before each run it sleeps PAUSE_S seconds: on a virtual machine whose balloon
// driver reports free pages (virtio, /sys/module/page_reporting), that hands the memory just
// freed back to the host, as the heap of a seqd killed before its restart was.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Writes `bytes` of fresh memory twice; returns false when it cannot be mapped.
bool touch(std::size_t bytes, bool huge, double& first_s, double& again_s) {
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return false;
  if (huge) madvise(memory, bytes, MADV_HUGEPAGE);
  auto start = std::chrono::steady_clock::now();
  std::memset(memory, 1, bytes);
  first_s = secondsSince(start);
  start = std::chrono::steady_clock::now();
  std::memset(memory, 2, bytes);
  again_s = secondsSince(start);
  munmap(memory, bytes);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t megabytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const unsigned pause_s = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 6;
  const std::size_t bytes = megabytes << 20;
  std::printf("%zu MB, %d runs of each, %u s before each\n", megabytes, runs, pause_s);
  std::printf("%-10s %12s %12s %12s\n", "pages", "first, s", "MB/s", "again, s");
  for (int run = 0; run < runs; ++run) {
    for (const bool huge : {false, true}) {
      sleep(pause_s);
      double first_s = 0;
      double again_s = 0;
      if (!touch(bytes, huge, first_s, again_s)) {
        std::fprintf(stderr, "first_touch_bench: cannot map %zu MB\n", megabytes);
        return 1;
      }
      std::printf("%-10s %12.3f %12.0f %12.3f\n", huge ? "2 MiB" : "4 KiB", first_s,
                  static_cast<double>(megabytes) / first_s, again_s);
      std::fflush(stdout);
    }
  }
  return 0;
}
