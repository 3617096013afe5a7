#include "io/contact_text_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "engine/assert.hpp"

namespace seqd {
namespace {

Status errnoStatus(const std::string& what, int error) {
  return Status::ioError(what + ": " + std::strerror(error));
}

std::size_t roundUp8(std::size_t bytes) { return (bytes + 7) & ~std::size_t{7}; }

// A thread's run of fresh space: [at, end) of the arena whose serial it names.
struct Run {
  std::uint64_t serial = 0;
  char* at = nullptr;
  char* end = nullptr;
};
thread_local Run run;

std::atomic<std::uint64_t> next_serial{1};

// A file without a name in `dir`: O_TMPFILE, else a named one unlinked at once. -1 and errno
// when neither works.
int openUnnamed(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  std::string path = dir + "/.contact-text-XXXXXX";
  fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return fd;
  ::unlink(path.c_str());
  return fd;
}

}  // namespace

Result<std::unique_ptr<ContactTextFile>> ContactTextFile::open(const std::string& dir,
                                                               std::size_t reserve_bytes) {
  SEQD_ASSERT(reserve_bytes >= kRunBytes && reserve_bytes % kRunBytes == 0);
  const int fd = openUnnamed(dir);
  if (fd < 0) return errnoStatus("cannot make a contact text file in " + dir, errno);
  void* base =
      ::mmap(nullptr, reserve_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    const int error = errno;
    ::close(fd);
    return errnoStatus("cannot reserve address space for contact texts", error);
  }
  return std::unique_ptr<ContactTextFile>(
      new ContactTextFile(fd, static_cast<char*>(base), reserve_bytes));
}

ContactTextFile::ContactTextFile(int fd, char* base, std::size_t reserve_bytes)
    : fd_(fd),
      base_(base),
      reserve_bytes_(reserve_bytes),
      serial_(next_serial.fetch_add(1)),
      free_(kSmallMax / 8 + 1) {}

ContactTextFile::~ContactTextFile() {
  ::munmap(base_, reserve_bytes_);
  ::close(fd_);
}

char* ContactTextFile::allocate(std::size_t bytes) noexcept {
  const std::size_t size = roundUp8(bytes);
  if (size == 0 || size > kSmallMax) return nullptr;
  if (released_count_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(mutex_);
    std::vector<char*>& list = free_[size / 8];
    if (!list.empty()) {
      char* text = list.back();
      list.pop_back();
      released_count_.fetch_sub(1, std::memory_order_relaxed);
      return text;
    }
  }
  if (run.serial != serial_ || static_cast<std::size_t>(run.end - run.at) < size) {
    if (full()) return nullptr;
    std::lock_guard lock(mutex_);
    char* fresh = takeFresh(kRunBytes);
    if (fresh == nullptr) return nullptr;
    run = Run{serial_, fresh, fresh + kRunBytes};
  }
  char* text = run.at;
  run.at += size;
  return text;
}

void ContactTextFile::release(char* text, std::size_t bytes) noexcept {
  const std::size_t size = roundUp8(bytes);
  SEQD_ASSERT(size > 0 && size <= kSmallMax);
  SEQD_ASSERT(text >= base_ && text + size <= base_ + fileBytes());
  std::lock_guard lock(mutex_);
  try {
    free_[size / 8].push_back(text);
  } catch (const std::bad_alloc&) {
    return;  // not reused: the file keeps it until the process ends
  }
  released_count_.fetch_add(1, std::memory_order_relaxed);
}

char* ContactTextFile::takeFresh(std::size_t bytes) {
  const std::size_t mapped = mapped_bytes_.load(std::memory_order_relaxed);
  if (fresh_ + bytes > mapped) {
    // Doubling from kFirstChunkBytes, then kChunkBytes at a time.
    const std::size_t step = std::clamp(mapped, kFirstChunkBytes, kChunkBytes);
    const std::size_t grown = std::min(mapped + step, reserve_bytes_);
    if (fresh_ + bytes > grown ||
        ::fallocate(fd_, 0, static_cast<off_t>(mapped), static_cast<off_t>(grown - mapped)) != 0) {
      full_.store(true, std::memory_order_release);
      return nullptr;
    }
    void* chunk = ::mmap(base_ + mapped, grown - mapped, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(mapped));
    if (chunk == MAP_FAILED) {
      full_.store(true, std::memory_order_release);
      return nullptr;
    }
    mapped_bytes_.store(grown, std::memory_order_release);
  }
  char* fresh = base_ + fresh_;
  fresh_ += bytes;
  return fresh;
}

void ContactTextFile::releaseMappedPages() noexcept {
  const std::size_t mapped = fileBytes();
  if (mapped > 0) ::madvise(base_, mapped, MADV_DONTNEED);
}

namespace {

// The process's file, once installed: never freed, as blocks point into it until the end.
std::atomic<ContactTextFile*> installed_file{nullptr};

}  // namespace

std::string installContactTextFile(const std::string& dir) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  if (installed_file.load() != nullptr) return "contact texts in the file made at the first start";
  if (const char* heap = std::getenv("SEQD_CONTACT_TEXT_IN_HEAP"); heap && *heap == '1') {
    return "contact texts in the heap (SEQD_CONTACT_TEXT_IN_HEAP=1)";
  }
  if (contactTextArena() != nullptr) return "contact texts in the arena installed before";
  Result<std::unique_ptr<ContactTextFile>> file = ContactTextFile::open(dir);
  if (!file.isOk()) {
    return "contact texts in the heap: " + file.status().message();
  }
  ContactTextFile* arena = file.value().release();
  installed_file.store(arena);
  installContactTextArena(arena);
  return "contact texts in an unnamed file in " + dir + " (in the page cache, not the heap)";
}

void releaseContactTextPages() {
  if (ContactTextFile* file = installed_file.load()) file->releaseMappedPages();
}

}  // namespace seqd
