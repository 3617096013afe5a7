// ContactTextFile hands out disjoint, lasting space in an unnamed file of the state dir, takes
// back and reuses what is released, says it is full instead of failing a write, and can drop
// its pages from the process while keeping every byte.
#include "io/contact_text_file.hpp"

#include <doctest/doctest.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace seqd {
namespace {

using testing::TempDir;

std::unique_ptr<ContactTextFile> openIn(
    const TempDir& dir, std::size_t reserve_bytes = ContactTextFile::kReserveBytesDefault) {
  Result<std::unique_ptr<ContactTextFile>> file = ContactTextFile::open(dir.path(), reserve_bytes);
  REQUIRE(file.isOk());
  return std::move(file.value());
}

// This process's RssFile, in bytes.
std::size_t rssFileBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoull(line.substr(8)) * 1024;
  }
  FAIL("no RssFile in /proc/self/status");
  return 0;
}

TEST_CASE("space handed out is disjoint, keeps its bytes, and leaves no file behind by name") {
  TempDir dir;
  std::unique_ptr<ContactTextFile> file = openIn(dir);
  CHECK(std::filesystem::is_empty(dir.path()));  // unnamed: nothing to clean up after a crash
  std::vector<std::pair<char*, std::string>> given;
  for (std::size_t i = 0; i < 5000; ++i) {
    const std::string text = "text " + std::to_string(i) + std::string(i % 61, 'x');
    char* at = file->allocate(text.size());
    REQUIRE(at != nullptr);
    std::memcpy(at, text.data(), text.size());
    given.emplace_back(at, text);
  }
  std::sort(given.begin(), given.end());
  for (std::size_t i = 0; i + 1 < given.size(); ++i) {
    CHECK(given[i].first + given[i].second.size() <= given[i + 1].first);
  }
  for (const auto& [at, text] : given) CHECK(std::string(at, text.size()) == text);
  // ~350 KB handed out: the first chunk only.
  CHECK(file->fileBytes() == ContactTextFile::kFirstChunkBytes);
  CHECK(file->allocate(ContactTextFile::kSmallMax + 1) == nullptr);  // a block keeps it
  CHECK(file->allocate(0) == nullptr);
}

TEST_CASE("released space is reused for the same size, rounded to 8 bytes") {
  TempDir dir;
  std::unique_ptr<ContactTextFile> file = openIn(dir);
  char* first = file->allocate(37);
  char* second = file->allocate(40);
  REQUIRE(first != nullptr);
  REQUIRE(second != nullptr);
  file->release(first, 37);
  CHECK(file->allocate(100) != first);  // another size: fresh space
  CHECK(file->allocate(33) == first);   // 33 and 37 are both 40 bytes
  CHECK(file->allocate(40) != first);
  file->release(second, 40);
  CHECK(file->allocate(40) == second);
}

TEST_CASE("the file grows a chunk at a time, and says full when the reserve is used up") {
  TempDir dir;
  // 1, 1, 2, 4, ..., 64 MiB: 128 MiB in all, then 64 MiB more; the reserve stops it at 160.
  std::unique_ptr<ContactTextFile> file = openIn(dir, 160 << 20);
  std::vector<char*> given;
  const std::size_t size = ContactTextFile::kSmallMax;
  for (;;) {
    char* at = file->allocate(size);
    if (at == nullptr) break;
    std::memset(at, static_cast<int>(given.size() % 251), size);
    given.push_back(at);
  }
  CHECK(file->full());
  CHECK(file->fileBytes() == std::size_t{160} << 20);
  CHECK(given.size() == (std::size_t{160} << 20) / size);
  for (std::size_t i = 0; i < given.size(); i += 997) {
    CHECK(given[i][0] == static_cast<char>(i % 251));
    CHECK(given[i][size - 1] == static_cast<char>(i % 251));
  }
  // Full stays full for fresh space; released space is still handed out again.
  file->release(given.back(), size);
  CHECK(file->allocate(size) == given.back());
  CHECK(file->allocate(size) == nullptr);
}

TEST_CASE("a file the filesystem will not let grow says full instead of failing a write") {
  // The file size limit stands in for a full disk: fallocate() past it fails (EFBIG) as it
  // would with ENOSPC, before anything is mapped or written there.
  TempDir dir;
  std::unique_ptr<ContactTextFile> file = openIn(dir);
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = before;
  limited.rlim_cur = 2 << 20;  // the first two chunks (1 + 1 MiB) fit, the third does not
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::size_t given = 0;
  while (char* at = file->allocate(ContactTextFile::kSmallMax)) {
    std::memset(at, 'z', ContactTextFile::kSmallMax);
    ++given;
  }
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
  std::signal(SIGXFSZ, old_handler);
  CHECK(file->full());
  CHECK(file->fileBytes() == std::size_t{2} << 20);
  CHECK(given == (std::size_t{2} << 20) / ContactTextFile::kSmallMax);
}

TEST_CASE("dropping the pages takes them out of the resident set and keeps every byte") {
  TempDir dir;
  std::unique_ptr<ContactTextFile> file = openIn(dir);
  constexpr std::size_t kBytes = std::size_t{16} << 20;
  std::vector<char*> given;
  for (std::size_t written = 0; written < kBytes; written += ContactTextFile::kSmallMax) {
    char* at = file->allocate(ContactTextFile::kSmallMax);
    REQUIRE(at != nullptr);
    std::memset(at, static_cast<int>(given.size() % 127) + 1, ContactTextFile::kSmallMax);
    given.push_back(at);
  }
  const std::size_t before = rssFileBytes();
  file->releaseMappedPages();
  const std::size_t after = rssFileBytes();
  INFO("RssFile before the drop " << before << ", after " << after);
  CHECK(before >= after + kBytes / 2);
  for (std::size_t i = 0; i < given.size(); ++i) {
    CHECK(given[i][0] == static_cast<char>(i % 127 + 1));
    CHECK(given[i][ContactTextFile::kSmallMax - 1] == static_cast<char>(i % 127 + 1));
  }
}

TEST_CASE("threads allocating and releasing at once get disjoint space") {
  TempDir dir;
  std::unique_ptr<ContactTextFile> file = openIn(dir);
  constexpr std::size_t kThreads = 4;
  constexpr std::size_t kEach = 20000;
  std::vector<std::vector<std::pair<char*, std::size_t>>> kept(kThreads);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < kEach; ++i) {
        const std::size_t size = 8 + (i * 7 + t) % 120;
        char* at = file->allocate(size);
        if (at == nullptr) continue;
        std::memset(at, static_cast<int>('a' + t), size);
        if (i % 3 == 0) {
          file->release(at, size);  // reused by any thread
        } else {
          kept[t].emplace_back(at, size);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<std::pair<char*, std::size_t>> all;
  for (std::size_t t = 0; t < kThreads; ++t) {
    REQUIRE(kept[t].size() == kEach - (kEach + 2) / 3);
    for (const auto& [at, size] : kept[t]) {
      CHECK(at[0] == static_cast<char>('a' + t));  // nobody else wrote over it
      CHECK(at[size - 1] == static_cast<char>('a' + t));
      all.emplace_back(at, size);
    }
  }
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    CHECK(all[i].first + all[i].second <= all[i + 1].first);
  }
}

}  // namespace
}  // namespace seqd
