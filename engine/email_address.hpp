// Whether a contact's email is an RFC 5322 addr-spec (section 3.4.1), the check behind the
// add-time warning `invalid_email`.
//
//   addr-spec      = local-part "@" domain
//   local-part     = dot-atom / quoted-string
//   domain         = dot-atom / domain-literal
//   dot-atom       = atext+ *("." atext+)
//   atext          = ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~", and UTF-8 beyond ASCII (RFC 6532)
//   quoted-string  = DQUOTE *(qtext / "\" (VCHAR / WSP)) DQUOTE
//   domain-literal = "[" *dtext "]"
//
// Comments, folding white space and the obsolete forms are not accepted: an address with
// them cannot be typed into a To: header as it is, and no CRM exports one. Also refused: a
// local part over 64 bytes or an address over 254 (RFC 5321's limits, what relays enforce).
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace seqd {

bool isValidAddrSpec(std::string_view address);

}  // namespace seqd
