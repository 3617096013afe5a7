// Message: builds an RFC 5322 email (SPEC §3 rule 9) from already-rendered parts.
//
// The Message-ID is deterministic, `<seq.step.contacthash@host>`, so a repeated delivery of
// the same step to the same contact is recognisably the same message.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "engine/time.hpp"

namespace seqd {

struct MessageParts {
  std::string from_name;
  std::string from_address;
  std::string to_name;  // may be empty
  std::string to_address;
  std::string subject;  // UTF-8; encoded as RFC 2047 when not ASCII
  std::string body;     // UTF-8 text/plain; quoted-printable when needed
  TimeMs date_ms = 0;
  std::string message_id;   // with angle brackets
  std::string in_reply_to;  // with angle brackets; empty: not threaded
  std::string references;
  std::string list_unsubscribe;  // the URI(s), e.g. "<mailto:unsubscribe@acme.test?subject=...>"
  std::string sequence_id;
  std::string step_id;
  std::string contact_key;
};

// `<sequence.step.contacthash@host>`; host is the from address's domain.
std::string makeMessageId(std::string_view sequence_id, std::string_view step_id,
                          std::string_view contact_key, std::string_view from_address);

// The whole message; line_ending is "\n" for Maildir and "\r\n" for SMTP.
std::string buildMessage(const MessageParts& parts, std::string_view line_ending);

}  // namespace seqd
