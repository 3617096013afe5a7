// ContactTextFile: the contact text arena seqd installs (engine/contact_text_arena.hpp): the
// packed contacts' texts in a scratch file of the state dir, mapped shared, so that they live
// in the page cache, which the kernel may write out and take back, rather than in the heap.
//
// The file: made with O_TMPFILE in the state dir (a file without a name: nothing to clean up
// after a crash, and no two processes can share one), or where the filesystem lacks that, a
// named one unlinked at once. Nothing in it outlives the process: each start packs every
// contact again from the store. It holds the texts of the contacts held, plus what was freed
// and not yet reused; it counts in `df`, not in a `du` of the state dir (fileBytes() says
// how large it is; the start's log line says only where the texts went).
//
// Memory: a range of address space is reserved once (reserve_bytes, no memory behind it) and
// the file is mapped into it as it grows: doubling from kFirstChunkBytes up to kChunkBytes,
// then kChunkBytes at a time (a small state dir is not handed to texts ahead of need), each
// chunk's disk blocks allocated first (fallocate), so that a write into the map never meets a
// full disk (which would be SIGBUS). When the disk is full, the filesystem cannot allocate
// ahead or the reserve is used up, the file grows no more: allocate() still hands out what was
// released, else nullptr, and those contacts keep their texts in their blocks. What a thread writes
// or reads is mapped into the process (RssFile) until releaseMappedPages() drops the mappings: the
// pages stay in the page cache (dirty ones are written out by the kernel), and the next read maps
// them again with the same bytes.
//
// Allocation: sizes are rounded up to 8 bytes; each size up to kSmallMax has a list of what
// was released, reused first; a larger one gets nullptr (a contact with over 4 KiB of text
// keeps it in its block). A thread takes fresh space a run (kRunBytes) at a time and carves it
// without the lock while no list holds anything.
//
// Thread-safety: every member may be called from any thread at once. A drop beside a write or
// a read is safe: the mapping is of the page cache's own page, which the drop leaves there.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/contact_text_arena.hpp"
#include "engine/status.hpp"

namespace seqd {

class ContactTextFile final : public ContactTextArena {
 public:
  static constexpr std::size_t kFirstChunkBytes = std::size_t{1} << 20;
  static constexpr std::size_t kChunkBytes = std::size_t{64} << 20;
  static constexpr std::size_t kRunBytes = std::size_t{64} << 10;
  static constexpr std::size_t kSmallMax = 4096;
  static constexpr std::size_t kReserveBytesDefault = std::size_t{256} << 30;

  // A file in `dir`; reserve_bytes (a multiple of kRunBytes) bounds how large it may grow.
  static Result<std::unique_ptr<ContactTextFile>> open(
      const std::string& dir, std::size_t reserve_bytes = kReserveBytesDefault);
  ~ContactTextFile() override;
  ContactTextFile(const ContactTextFile&) = delete;
  ContactTextFile& operator=(const ContactTextFile&) = delete;

  char* allocate(std::size_t bytes) noexcept override;
  void release(char* text, std::size_t bytes) noexcept override;

  // Drops every page of the file from this process's page tables (see Memory above).
  void releaseMappedPages() noexcept;
  // How large the file is (its chunks so far).
  std::size_t fileBytes() const { return mapped_bytes_.load(std::memory_order_acquire); }
  // True once a chunk could not be added: the file grows no more.
  bool full() const { return full_.load(std::memory_order_acquire); }

 private:
  ContactTextFile(int fd, char* base, std::size_t reserve_bytes);
  // Under mutex_: `bytes` of fresh space, growing the file when needed; nullptr when full.
  char* takeFresh(std::size_t bytes);

  const int fd_;
  char* const base_;
  const std::size_t reserve_bytes_;
  const std::uint64_t serial_;  // tells this arena's runs from another's in a thread's cache
  std::mutex mutex_;
  std::size_t fresh_ = 0;  // under mutex_: the first byte never handed out
  std::atomic<std::size_t> mapped_bytes_{0};
  std::atomic<bool> full_{false};
  std::atomic<std::size_t> released_count_{0};  // entries in free_, read without the lock
  std::vector<std::vector<char*>> free_;        // under mutex_: by size / 8
};

// Opens a ContactTextFile in `dir` and installs it for the process, once: later calls (a
// second runtime in one test process) keep the first. Returns a line to log: where the texts
// go, or why they stay in the heap. SEQD_CONTACT_TEXT_IN_HEAP=1 in the environment keeps them
// in the heap (for measuring one against the other).
std::string installContactTextFile(const std::string& dir);
// Drops the installed file's pages from the resident set (a no-op without one).
void releaseContactTextPages();

}  // namespace seqd
