// displayWidth: how many terminal columns UTF-8 text takes, so seqctl's tables line up with
// names in Chinese, Japanese or Korean and with emoji.
//
// East Asian Wide and Fullwidth characters and emoji take two columns; combining marks,
// zero-width joiners and variation selectors none; everything else one. This is the part of
// wcwidth(3) tables need, without depending on the locale seqctl runs in. A byte that is not
// valid UTF-8 counts as one column.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string_view>

namespace seqd {

std::size_t displayWidth(std::string_view text);

}  // namespace seqd
