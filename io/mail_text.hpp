// Mail text: the small text transforms the inbound-mail classifier reads through. Turning bytes
// of unknown quality into valid UTF-8, folding text so that "Réponse automatique" and
// "REPONSE AUTOMATIQUE" compare equal, and reading the words out of an HTML body.
//
// Each function is linear in its input and allocates only its result, whatever the bytes hold
// (NULs, stray UTF-8 continuation bytes, unclosed tags). None of them knows about MIME.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace seqd {

// Valid UTF-8 passes through unchanged; every byte that does not start a valid, shortest-form
// sequence is taken as Latin-1 and re-encoded (so a mislabelled ISO-8859-1 text still reads).
// NUL bytes become spaces.
std::string repairUtf8(std::string_view bytes);

// For matching only, never for display. ASCII letters are lower-cased; Latin letters with
// accents lose them ("É" -> "e", "ß" -> "ss", "œ" -> "oe"); typographic apostrophes become
// '\'', dashes and the minus sign '-', the no-break space ' ', and the ordinal indicators "º"
// "ª" and the degree sign (written for ordinals in Italian and Portuguese) "o" / "a" / "o".
// Every other character is kept as it is. REQUIRES: text is UTF-8 (see repairUtf8); a stray
// byte is copied through.
std::string foldForMatching(std::string_view text);

// The readable text of an HTML document: tags dropped (block-level ones become line breaks),
// <script>/<style>/<head> content dropped, character references decoded (numeric ones and the
// named ones mail clients write for Western European text). Not a renderer: good enough for
// reading a sentence such as "back on <b>January 5</b>".
std::string htmlToText(std::string_view html);

}  // namespace seqd
