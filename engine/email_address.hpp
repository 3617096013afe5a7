// Email addresses as contacts carry them: one RFC 5322 addr-spec (local-part "@" domain), the
// form that goes into a To: header alone. Checked where an address enters (import rows,
// contact set), so a display name ("Evil" <evil@evil.test>), a list (a@x.test, b@y.test),
// comments or line breaks never reach a message header.
//
// Accepted: a dot-atom local part (RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~,
// dots between atoms) or a quoted-string one (printable ASCII and spaces, with backslash
// escapes); a domain of dot-separated labels of letters, digits and '-' (not at a label's
// ends), or a domain literal [IPv4 or IPv6:...]. Bytes 0x80 and above are taken as UTF-8 text
// (RFC 6532) in both parts; the reader checks UTF-8 before this. At most
// kEmailAddressBytesMax bytes (RFC 5321's path limit less the angle brackets), a local part of
// at most 64 and a label of at most 63.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

inline constexpr std::size_t kEmailAddressBytesMax = 254;
inline constexpr std::size_t kEmailLocalPartBytesMax = 64;
inline constexpr std::size_t kEmailLabelBytesMax = 63;

// Ok when `address` is one addr-spec as above; otherwise kInvalidArgument saying what is wrong
// (without repeating the address).
Status checkEmailAddress(std::string_view address);

// What a contact's email may hold (import rows, `contact set`): an addr-spec as above, or any
// other text of the shape local@domain that cannot name a second recipient or a display name,
// or break a header: no control characters, white space, or any of <>,;:() unless it is a
// valid addr-spec (a quoted local part may hold them). A malformed address of that kind
// ("a..b@x.test") is kept, so
// the row is not lost, and is the add-time warning `invalid_email`: never enrolled without
// --force. Ok, or kInvalidArgument saying what is wrong.
Status checkContactEmail(std::string_view address);

}  // namespace seqd
