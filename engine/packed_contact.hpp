// PackedContact: a contact as the engine holds it, immutable, in one heap block.
//
// `Contact` (engine/contact.hpp) is the mutable form: what an import row or `contact set`
// edits and what the store encodes. The engine keeps each contact packed instead: a mutable
// Contact is one std::string per field (32 bytes each, plus a heap block for any over 15
// bytes) and a std::map node per custom column, about 500 bytes for a short contact; a
// PackedContact of the same contact is a block of about 80. pack() makes one from a Contact,
// unpack() gives the Contact back (an edit unpacks, changes the copy and packs it again).
// pack() also takes ContactFields, the same fields as views into someone else's bytes: the
// store's decoder fills one straight from a record (io/record_codec.hpp), so a restart builds
// each contact's block without a Contact and its strings in between.
//
// What is cheap to reach: the fields the engine decides on (key, score, zone, stage, owner,
// the flags) are in the fixed header, the bounded ones as Symbols (engine/symbol.hpp). The
// free text (email, names, company, title, phone, the custom columns' values) is read as
// views into the block's bytes.
//
// Layout (pack() sizes it and makes it with one allocation):
//
//   header  16 bytes: the reference count; the key as a Symbol; flags; the number of custom
//           columns; score
//   fields  4 bytes for each of email_status, timezone, owner and stage that is not at its
//           default ("unknown" for email_status, else empty), in that order: its Symbol (a
//           flag says which are here; most contacts have few)
//   names   4 bytes a custom column: its name's Symbol, in name order (as Contact::extra)
//   ends    1 byte a text, or 2 when the texts are over 255 bytes together, or 4 when over
//           65,535: where each text ends in `bytes`: email, first_name, last_name, company,
//           title, phone, then each custom column's value
//   bytes   the texts back to back, without terminators
//
// A bench contact (perf/bench.py: four short fields) is a block of 56 bytes; with the four
// Symbols always there and 2-byte ends it was 74, which the allocator rounds up to 80.
//
// Texts in an arena: when the process installed a contact text arena
// (engine/contact_text_arena.hpp; seqd's is a file in its state dir, in the page cache rather
// than the heap) and the ends and bytes are over 8 bytes together, they go there instead, and
// the block holds, after the names, an 8-byte pointer to them (a flag says so): a bench
// contact's block is 24 bytes, its 40 bytes of ends and texts in the arena. The block gives
// them back to the arena when it is freed. Nothing else changes: the texts are read as views
// as before, now into the arena's memory, valid as long as the block.
//
// An email that is the key's very text (the key of a contact imported without an `id` column
// is its lower-cased email: most contacts) is not stored again: a flag says so, its text is
// empty in the block, and email() reads the key's (16 bytes a bench contact).
//
// Column names are Symbols: a bounded set (a file's headers), stored once for all contacts.
// Their values, like the names and the email, are not: interning them would grow the
// process-wide table with every distinct value, and it never forgets.
//
// Lifetime: held by ContactRef, an intrusive reference-counted pointer (one block for the
// count and the contact, 8 bytes a holder). The engine replaces a contact's block when it
// changes and never edits one, so a delivery worker or a read snapshot that holds a ref reads
// the contact as it was when it took it; the block is freed when the last ref goes. A raw
// `const PackedContact*` the engine hands out is valid while the engine keeps that contact
// (until the next change to it); ContactRef(pointer) makes it a ref of its own.
//
// Thread-safety: immutable once packed; any thread may read it and copy or drop refs to it
// (the count is atomic; Symbols are readable from any thread).
#pragma once

#include <atomic>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "engine/contact.hpp"
#include "engine/symbol.hpp"

namespace seqd {

class PackedContact;
using ContactRef = boost::intrusive_ptr<const PackedContact>;

// A contact's fields as views (the members of Contact, by the same names): what pack() copies.
// The views must stay valid until pack() returns.
struct ContactFields {
  using Extra = std::pair<std::string_view, std::string_view>;  // a custom column: name, value

  std::string_view key;
  std::string_view email;
  std::string_view email_status;
  std::string_view first_name;
  std::string_view last_name;
  std::string_view company;
  std::string_view title;
  std::string_view phone;
  std::string_view timezone;
  std::uint8_t score = 0;
  std::string_view owner;
  std::string_view stage;
  bool dnc = false;
  bool call_opt_out = false;
  bool email_opt_out = false;
  std::span<const Extra> extra;  // names strictly ascending, as Contact::extra orders them
};

// The fields of `contact` as views into it, all but the custom columns (`extra` is left
// empty: a Contact keeps them in a map, not as views).
ContactFields fieldsOf(const Contact& contact);

class PackedContact {
 public:
  // The free-text fields, in the order of their ends in the block.
  enum class Text : std::uint8_t { kEmail, kFirstName, kLastName, kCompany, kTitle, kPhone };
  static constexpr std::size_t kTexts = 6;

  // REQUIRES: contact.extra.size() <= UINT16_MAX (the store and the request limits keep it
  // at kContactExtraFieldsMax, 4096).
  static ContactRef pack(const Contact& contact);
  // REQUIRES: as above, and fields.extra's names strictly ascending.
  static ContactRef pack(const ContactFields& fields);
  // The same with the key interned already (a load interns a batch of keys under one lock);
  // fields.key is not read.
  static ContactRef pack(Symbol key, const ContactFields& fields);
  Contact unpack() const;

  PackedContact(const PackedContact&) = delete;
  PackedContact& operator=(const PackedContact&) = delete;

  Symbol keySymbol() const { return key_; }
  std::string_view key() const { return key_.view(); }
  std::string_view text(Text which) const {
    return which == Text::kEmail ? email() : textAt(static_cast<std::size_t>(which));
  }
  std::string_view email() const {
    return (flags_ & kFlagEmailIsKey) != 0 ? key() : textAt(static_cast<std::size_t>(Text::kEmail));
  }
  std::string_view firstName() const { return text(Text::kFirstName); }
  std::string_view lastName() const { return text(Text::kLastName); }
  std::string_view company() const { return text(Text::kCompany); }
  std::string_view title() const { return text(Text::kTitle); }
  std::string_view phone() const { return text(Text::kPhone); }
  std::string_view emailStatus() const { return fieldSymbol(kFlagEmailStatus).view(); }
  std::string_view timezone() const { return timezoneSymbol().view(); }
  Symbol timezoneSymbol() const { return fieldSymbol(kFlagTimezone); }
  std::string_view owner() const { return fieldSymbol(kFlagOwner).view(); }
  std::string_view stage() const { return fieldSymbol(kFlagStage).view(); }
  std::uint8_t score() const { return score_; }
  bool dnc() const { return (flags_ & kFlagDnc) != 0; }
  bool callOptOut() const { return (flags_ & kFlagCallOptOut) != 0; }
  bool emailOptOut() const { return (flags_ & kFlagEmailOptOut) != 0; }

  // The custom columns, in name order.
  std::size_t extraCount() const { return extra_count_; }
  Symbol extraName(std::size_t index) const;
  std::string_view extraValue(std::size_t index) const { return textAt(kTexts + index); }
  // A custom column's value by name; nullopt when the contact has no such column.
  std::optional<std::string_view> extra(std::string_view name) const;

  // As Contact::field(): the value of a field by name ("first_name", "score", or a custom
  // column); an empty string counts as missing.
  std::optional<std::string> field(std::string_view name) const;

  // The block's size in bytes: the header, the tables, and the texts or the pointer to them.
  std::size_t blockBytes() const;
  // True when the texts are in the contact text arena (engine/contact_text_arena.hpp), not in
  // the block.
  bool textsInArena() const;

 private:
  static constexpr std::uint16_t kFlagDnc = 1;
  static constexpr std::uint16_t kFlagCallOptOut = 2;
  static constexpr std::uint16_t kFlagEmailOptOut = 4;
  static constexpr std::uint16_t kFlagEmailIsKey = 8;  // the email is the key's text
  static constexpr std::uint16_t kFlagEnds2 = 16;      // ends are 2 bytes each, not 1
  static constexpr std::uint16_t kFlagEnds4 = 32;      // ends are 4 bytes each, not 1
  // Which of the fields' Symbols the block holds, in this order.
  static constexpr std::uint16_t kFlagEmailStatus = 64;
  static constexpr std::uint16_t kFlagTimezone = 128;
  static constexpr std::uint16_t kFlagOwner = 256;
  static constexpr std::uint16_t kFlagStage = 512;
  static constexpr std::uint16_t kFlagTextFar = 1024;  // the ends and texts are in the arena
  static constexpr std::uint16_t kFieldFlags =
      kFlagEmailStatus | kFlagTimezone | kFlagOwner | kFlagStage;
  // Contact::email_status's default: not held in the block.
  static constexpr std::string_view kDefaultEmailStatus = "unknown";

  PackedContact() = default;
  ~PackedContact() = default;

  // The pack()s: `key`, the fields but the key and the custom columns from `fields`, those
  // from `extra`, a range of (name, value) pairs in name order.
  template <typename ExtraRange>
  static ContactRef packWith(Symbol key, const ContactFields& fields, const ExtraRange& extra);

  const unsigned char* fields() const { return reinterpret_cast<const unsigned char*>(this + 1); }
  // The Symbol of the field `flag` names ("" when the block holds none).
  Symbol fieldSymbol(std::uint16_t flag) const;
  // How many of the field flags in `flags` are set: a table, not std::popcount, which builds
  // for a generic x86-64 to a library call (a few percent of the engine thread's fires).
  static std::size_t fieldCount(std::uint16_t flags) {
    static_assert(kFieldFlags == 0xF << 6);
    constexpr std::uint8_t kCounts[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
    return kCounts[(flags & kFieldFlags) >> 6];
  }
  const unsigned char* tables() const { return fields() + sizeof(Symbol) * fieldCount(flags_); }
  // Where the ends begin, the texts right after them: in the block after the tables, or
  // where the pointer after the tables says.
  const unsigned char* ends() const {
    const unsigned char* in_block = tables() + sizeof(Symbol) * extra_count_;
    if ((flags_ & kFlagTextFar) == 0) return in_block;
    const unsigned char* far_region = nullptr;
    std::memcpy(static_cast<void*>(&far_region), in_block, sizeof(far_region));
    return far_region;
  }
  // The bytes of the ends and the texts together.
  std::size_t regionBytes() const;
  std::size_t endWidth() const {
    return (flags_ & kFlagEnds4) != 0 ? 4 : (flags_ & kFlagEnds2) != 0 ? 2 : 1;
  }
  const char* bytes() const {
    return reinterpret_cast<const char*>(ends() + endWidth() * (kTexts + extra_count_));
  }
  std::size_t endAt(std::size_t index) const;
  std::string_view textAt(std::size_t index) const;

  friend void intrusive_ptr_add_ref(const PackedContact* contact) noexcept {
    contact->references_.fetch_add(1, std::memory_order_relaxed);
  }
  friend void intrusive_ptr_release(const PackedContact* contact) noexcept {
    if (contact->references_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(contact);
  }
  static void destroy(const PackedContact* contact) noexcept;

  mutable std::atomic<std::uint32_t> references_{0};
  Symbol key_;
  std::uint16_t flags_ = 0;
  std::uint16_t extra_count_ = 0;
  std::uint8_t score_ = 0;
  // The header's last bytes, zeroed: two packs of one contact are the same bytes (but for
  // the pointer to texts in an arena).
  [[maybe_unused]] std::uint8_t padding_[3] = {};
};

}  // namespace seqd
