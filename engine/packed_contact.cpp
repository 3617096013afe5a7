#include "engine/packed_contact.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <type_traits>

#include "engine/assert.hpp"
#include "engine/contact_text_arena.hpp"

namespace seqd {
namespace {

static_assert(std::is_trivially_copyable_v<Symbol> && sizeof(Symbol) == 4,
              "PackedContact stores Symbols as their 4 bytes");
static_assert(PackedContact::kTexts == 6);
static_assert(sizeof(PackedContact) == 16, "the header layout packed_contact.hpp describes");
// The widest end that a block's texts fit: 1-byte ends up to this many bytes of text in all,
// 2-byte ones up to the next, else 4.
constexpr std::size_t kEnd1Max = UINT8_MAX;
constexpr std::size_t kEnd2Max = UINT16_MAX;

}  // namespace

ContactFields fieldsOf(const Contact& contact) {
  ContactFields fields;
  fields.key = contact.key;
  fields.email = contact.email;
  fields.email_status = contact.email_status;
  fields.first_name = contact.first_name;
  fields.last_name = contact.last_name;
  fields.company = contact.company;
  fields.title = contact.title;
  fields.phone = contact.phone;
  fields.timezone = contact.timezone;
  fields.score = contact.score;
  fields.owner = contact.owner;
  fields.stage = contact.stage;
  fields.dnc = contact.dnc;
  fields.call_opt_out = contact.call_opt_out;
  fields.email_opt_out = contact.email_opt_out;
  return fields;
}

ContactRef PackedContact::pack(const Contact& contact) {
  return packWith(Symbol(contact.key), fieldsOf(contact), contact.extra);
}

ContactRef PackedContact::pack(const ContactFields& fields) {
  return packWith(Symbol(fields.key), fields, fields.extra);
}

ContactRef PackedContact::pack(Symbol key, const ContactFields& fields) {
  return packWith(key, fields, fields.extra);
}

template <typename ExtraRange>
ContactRef PackedContact::packWith(Symbol key, const ContactFields& fields,
                                   const ExtraRange& extra) {
  const bool email_is_key = !fields.email.empty() && fields.email == key.view();
  const std::array<std::string_view, kTexts> texts = {
      email_is_key ? std::string_view() : fields.email,
      fields.first_name,
      fields.last_name,
      fields.company,
      fields.title,
      fields.phone};
  SEQD_ASSERT(std::size(extra) <= UINT16_MAX);
  const std::size_t extra_count = std::size(extra);
  std::size_t text_bytes = 0;
  for (std::string_view text : texts) text_bytes += text.size();
  for (const auto& [name, value] : extra) text_bytes += std::string_view(value).size();
  const std::size_t end_width = text_bytes > kEnd2Max ? 4 : text_bytes > kEnd1Max ? 2 : 1;
  // The fields' Symbols the block holds: those not at their default, in the order of their
  // flags.
  const std::array<std::pair<std::uint16_t, std::string_view>, 4> symbol_fields = {{
      {kFlagEmailStatus, fields.email_status},
      {kFlagTimezone, fields.timezone},
      {kFlagOwner, fields.owner},
      {kFlagStage, fields.stage},
  }};
  const auto held = [](std::uint16_t flag, std::string_view text) {
    return flag == kFlagEmailStatus ? text != kDefaultEmailStatus : !text.empty();
  };
  std::uint16_t flags = static_cast<std::uint16_t>(
      (fields.dnc ? kFlagDnc : 0) | (fields.call_opt_out ? kFlagCallOptOut : 0) |
      (fields.email_opt_out ? kFlagEmailOptOut : 0) | (email_is_key ? kFlagEmailIsKey : 0) |
      (end_width == 4   ? kFlagEnds4
       : end_width == 2 ? kFlagEnds2
                        : 0));
  std::size_t symbol_count = 0;
  for (const auto& [flag, text] : symbol_fields) {
    if (!held(flag, text)) continue;
    flags = static_cast<std::uint16_t>(flags | flag);
    ++symbol_count;
  }
  // The ends and the texts: in the block, or in the arena with a pointer to them in the
  // block when that makes the block smaller.
  const std::size_t region_bytes = end_width * (kTexts + extra_count) + text_bytes;
  unsigned char* far_region = nullptr;
  if (region_bytes > sizeof(far_region)) {
    if (ContactTextArena* arena = contactTextArena()) {
      far_region = reinterpret_cast<unsigned char*>(arena->allocate(region_bytes));
    }
  }
  if (far_region != nullptr) flags = static_cast<std::uint16_t>(flags | kFlagTextFar);
  const std::size_t block_bytes = sizeof(PackedContact) +
                                  sizeof(Symbol) * (symbol_count + extra_count) +
                                  (far_region != nullptr ? sizeof(far_region) : region_bytes);

  void* block = ::operator new(block_bytes);
  PackedContact* packed = new (block) PackedContact();
  packed->key_ = key;
  packed->score_ = fields.score;
  packed->flags_ = flags;
  packed->extra_count_ = static_cast<std::uint16_t>(extra_count);

  // Where fields(), tables(), ends() and bytes() read them.
  unsigned char* symbols = static_cast<unsigned char*>(block) + sizeof(PackedContact);
  for (const auto& [flag, text] : symbol_fields) {
    if (!held(flag, text)) continue;
    const Symbol symbol(text);
    std::memcpy(symbols, &symbol, sizeof(Symbol));
    symbols += sizeof(Symbol);
  }
  unsigned char* names = symbols;
  unsigned char* ends = names + sizeof(Symbol) * extra_count;
  if (far_region != nullptr) {
    std::memcpy(ends, &far_region, sizeof(far_region));
    ends = far_region;
  }
  char* bytes = reinterpret_cast<char*>(ends + end_width * (kTexts + extra_count));
  std::size_t end = 0;
  std::size_t index = 0;
  auto append = [&](std::string_view text) {
    if (!text.empty()) std::memcpy(bytes + end, text.data(), text.size());
    end += text.size();
    if (end_width == 4) {
      const std::uint32_t value = static_cast<std::uint32_t>(end);
      std::memcpy(ends + 4 * index, &value, 4);
    } else if (end_width == 2) {
      const std::uint16_t value = static_cast<std::uint16_t>(end);
      std::memcpy(ends + 2 * index, &value, 2);
    } else {
      ends[index] = static_cast<unsigned char>(end);
    }
    ++index;
  };
  for (std::string_view text : texts) append(text);
  for (const auto& [name, value] : extra) {
    const Symbol symbol{std::string_view(name)};
    std::memcpy(names + sizeof(Symbol) * (index - kTexts), &symbol, sizeof(Symbol));
    append(value);
  }
  SEQD_ASSERT(end == text_bytes);
  SEQD_ASSERT(packed->blockBytes() == block_bytes);
  return ContactRef(packed);
}

void PackedContact::destroy(const PackedContact* contact) noexcept {
  PackedContact* block = const_cast<PackedContact*>(contact);
  if ((block->flags_ & kFlagTextFar) != 0) {
    ContactTextArena* arena = contactTextArena();
    SEQD_ASSERT(arena != nullptr);  // never removed while blocks hold its texts
    arena->release(reinterpret_cast<char*>(const_cast<unsigned char*>(block->ends())),
                   block->regionBytes());
  }
  block->~PackedContact();
  ::operator delete(static_cast<void*>(block));
}

Contact PackedContact::unpack() const {
  Contact contact;
  contact.key = key();
  contact.email = std::string(email());
  contact.email_status = emailStatus();
  contact.first_name = std::string(firstName());
  contact.last_name = std::string(lastName());
  contact.company = std::string(company());
  contact.title = std::string(title());
  contact.phone = std::string(phone());
  contact.timezone = timezone();
  contact.score = score_;
  contact.owner = owner();
  contact.stage = stage();
  contact.dnc = dnc();
  contact.call_opt_out = callOptOut();
  contact.email_opt_out = emailOptOut();
  for (std::size_t i = 0; i < extra_count_; ++i) {
    contact.extra.emplace_hint(contact.extra.end(), extraName(i).str(), extraValue(i));
  }
  return contact;
}

std::size_t PackedContact::endAt(std::size_t index) const {
  const std::size_t width = endWidth();
  if (width == 1) return ends()[index];
  if (width == 4) {
    std::uint32_t value = 0;
    std::memcpy(&value, ends() + 4 * index, 4);
    return value;
  }
  std::uint16_t value = 0;
  std::memcpy(&value, ends() + 2 * index, 2);
  return value;
}

Symbol PackedContact::fieldSymbol(std::uint16_t flag) const {
  if ((flags_ & flag) == 0) {
    if (flag != kFlagEmailStatus) return Symbol();
    static const Symbol default_email_status{kDefaultEmailStatus};
    return default_email_status;
  }
  // The fields before it in the block: those present among the lower flags.
  const std::size_t before = fieldCount(static_cast<std::uint16_t>(flags_ & (flag - 1)));
  Symbol symbol;
  std::memcpy(static_cast<void*>(&symbol), fields() + sizeof(Symbol) * before, sizeof(Symbol));
  return symbol;
}

std::string_view PackedContact::textAt(std::size_t index) const {
  const std::size_t begin = index == 0 ? 0 : endAt(index - 1);
  return std::string_view(bytes() + begin, endAt(index) - begin);
}

Symbol PackedContact::extraName(std::size_t index) const {
  SEQD_ASSERT(index < extra_count_);
  Symbol name;
  std::memcpy(static_cast<void*>(&name), tables() + sizeof(Symbol) * index, sizeof(Symbol));
  return name;
}

std::optional<std::string_view> PackedContact::extra(std::string_view name) const {
  // In name order, as std::map<std::string, ...> ordered them: a binary search by text.
  std::size_t low = 0;
  std::size_t high = extra_count_;
  while (low < high) {
    const std::size_t middle = low + (high - low) / 2;
    const int order = extraName(middle).view().compare(name);
    if (order == 0) return extraValue(middle);
    if (order < 0) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return std::nullopt;
}

std::optional<std::string> PackedContact::field(std::string_view name) const {
  auto present = [](std::string_view value) -> std::optional<std::string> {
    if (value.empty()) return std::nullopt;
    return std::string(value);
  };
  if (name == "email") return present(email());
  if (name == "email_status") return present(emailStatus());
  if (name == "first_name") return present(firstName());
  if (name == "last_name") return present(lastName());
  if (name == "company") return present(company());
  if (name == "title") return present(title());
  if (name == "phone") return present(phone());
  if (name == "timezone") return present(timezone());
  if (name == "owner") return present(owner());
  if (name == "stage") return present(stage());
  if (name == "id" || name == "key") return present(key());
  if (name == "score") return std::to_string(score_);
  if (name == "dnc") return std::string(dnc() ? "true" : "false");
  if (name == "call_opt_out") return std::string(callOptOut() ? "true" : "false");
  if (name == "email_opt_out") return std::string(emailOptOut() ? "true" : "false");
  std::optional<std::string_view> value = extra(name);
  if (!value) return std::nullopt;
  return present(*value);
}

std::size_t PackedContact::regionBytes() const {
  return endWidth() * (kTexts + extra_count_) + endAt(kTexts + extra_count_ - 1);
}

bool PackedContact::textsInArena() const { return (flags_ & kFlagTextFar) != 0; }

std::size_t PackedContact::blockBytes() const {
  const std::size_t tables_end = static_cast<std::size_t>(
      tables() + sizeof(Symbol) * extra_count_ - reinterpret_cast<const unsigned char*>(this));
  return tables_end + (textsInArena() ? sizeof(const unsigned char*) : regionBytes());
}

}  // namespace seqd
