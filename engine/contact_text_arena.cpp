#include "engine/contact_text_arena.hpp"

#include <atomic>

namespace seqd {
namespace {

std::atomic<ContactTextArena*> installed{nullptr};

}  // namespace

void installContactTextArena(ContactTextArena* arena) {
  installed.store(arena, std::memory_order_release);
}

ContactTextArena* contactTextArena() { return installed.load(std::memory_order_acquire); }

}  // namespace seqd
