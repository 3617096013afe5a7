// ContactTextArena: where packed contacts keep their free text when the process has one.
//
// A PackedContact (engine/packed_contact.hpp) keeps its texts (the email when it is not the
// key, the names, company, title, phone and the custom columns' values) in its own heap block,
// unless an arena is installed: then the block keeps a pointer to them, and the texts live in
// memory the arena hands out. seqd installs one backed by a scratch file in its state dir
// (io/contact_text_file.hpp), so that the texts sit in the page cache, which the kernel may
// write out and take back, rather than in the process's heap: the block of a contact with
// four short fields goes from 56 bytes to 24. Without an arena (the engine's tests, the
// simulation, a state dir where the file cannot be made) every block keeps its texts.
//
// Contract for an arena: allocate() returns `bytes` of writable memory, readable and
// unchanged until release() of it, or nullptr when it has none to give (the block then keeps
// its texts itself); release() takes back exactly what one allocate() returned, with the same
// size. Both may be called from any thread at once.
//
// Installing: once, before the first contact is packed that should use it. A block that took
// its texts from an arena gives them back to that arena (it keeps no pointer to it: the arena
// installed when it is freed), so an installed arena is never removed or replaced while such
// blocks live; in practice it lives as long as the process. Tests that install one remove it
// only once every block they packed is gone.
//
// Thread-safety: installContactTextArena() must not race with packing; the arena's own calls
// are thread-safe by the contract above.
#pragma once

#include <cstddef>

namespace seqd {

class ContactTextArena {
 public:
  virtual ~ContactTextArena() = default;
  virtual char* allocate(std::size_t bytes) noexcept = 0;
  virtual void release(char* text, std::size_t bytes) noexcept = 0;
};

// The arena contacts packed from now on take their texts from; nullptr: none (their blocks
// keep them).
void installContactTextArena(ContactTextArena* arena);
ContactTextArena* contactTextArena();

}  // namespace seqd
