#include "io/inbound_mail.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "io/mail_text.hpp"
#include "io/return_date.hpp"

namespace seqd {
namespace {

// ---- GMime ownership -------------------------------------------------------------------------

struct GObjectUnref {
  void operator()(void* object) const {
    if (object != nullptr) g_object_unref(object);
  }
};
template <typename T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(void* memory) const { g_free(memory); }
};

struct OptionsFree {
  void operator()(GMimeParserOptions* options) const { g_mime_parser_options_free(options); }
};

struct ReferencesFree {
  void operator()(GMimeReferences* references) const { g_mime_references_free(references); }
};

// ---- Small text helpers ----------------------------------------------------------------------

std::string lowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && static_cast<unsigned char>(text.front()) <= ' ') text.remove_prefix(1);
  while (!text.empty() && static_cast<unsigned char>(text.back()) <= ' ') text.remove_suffix(1);
  return text;
}

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

template <typename List>
bool containsAny(std::string_view text, const List& needles) {
  for (std::string_view needle : needles) {
    if (text.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

std::string bracketed(std::string_view id) { return "<" + repairUtf8(id) + ">"; }

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// The value of a header of the top-level message, "" when absent.
std::string headerValue(GMimeMessage* message, const char* name) {
  const char* value = g_mime_object_get_header(GMIME_OBJECT(message), name);
  return value != nullptr ? repairUtf8(value) : std::string();
}

// ---- The MIME tree, read once ----------------------------------------------------------------

struct Leaf {
  GMimeObject* object = nullptr;  // owned by the message
  std::string type;               // "text/plain", lower-case
  bool attachment = false;
};

struct MimeTree {
  std::vector<Leaf> leaves;               // in document order
  std::vector<std::string> attached_ids;  // Message-IDs of message/rfc822 (or global) parts
  bool delivery_report = false;           // multipart/report; report-type=delivery-status
  std::size_t parts_seen = 0;
};

std::string mimeType(GMimeObject* object) {
  GMimeContentType* type = g_mime_object_get_content_type(object);
  if (type == nullptr) return "text/plain";
  std::unique_ptr<char, GFree> name(g_mime_content_type_get_mime_type(type));
  return name ? lowerAscii(name.get()) : std::string("text/plain");
}

void addUnique(std::vector<std::string>& ids, std::string id) {
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
}

void walk(GMimeObject* object, int depth, MimeTree& tree) {
  if (object == nullptr || depth > kInboundMailDepthMax) return;
  if (tree.parts_seen >= kInboundMailPartsMax) return;
  ++tree.parts_seen;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeContentType* type = g_mime_object_get_content_type(object);
    if (type != nullptr && g_mime_content_type_is_type(type, "multipart", "report")) {
      const char* report = g_mime_content_type_get_parameter(type, "report-type");
      std::string report_type = report != nullptr ? lowerAscii(trim(report)) : "";
      if (report_type.find("delivery-status") != std::string::npos) tree.delivery_report = true;
    }
    GMimeMultipart* multipart = GMIME_MULTIPART(object);
    int count = g_mime_multipart_get_count(multipart);
    for (int index = 0; index < count; ++index) {
      walk(g_mime_multipart_get_part(multipart, index), depth + 1, tree);
    }
    return;
  }
  if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage* attached = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    const char* id = attached != nullptr ? g_mime_message_get_message_id(attached) : nullptr;
    if (id != nullptr && id[0] != '\0') addUnique(tree.attached_ids, bracketed(id));
    return;
  }
  if (GMIME_IS_PART(object)) {
    GMimeContentDisposition* disposition = g_mime_object_get_content_disposition(object);
    bool attachment =
        disposition != nullptr && g_mime_content_disposition_is_attachment(disposition);
    tree.leaves.push_back({object, mimeType(object), attachment});
  }
}

// The decoded text of a leaf as UTF-8, at most kInboundMailTextBytesMax bytes of it.
std::string leafText(GMimeObject* object) {
  std::string bytes;
  if (GMIME_IS_TEXT_PART(object)) {
    std::unique_ptr<char, GFree> text(g_mime_text_part_get_text(GMIME_TEXT_PART(object)));
    if (text) bytes.assign(text.get(), strnlen(text.get(), kInboundMailTextBytesMax));
  } else {
    GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(object));
    if (content == nullptr) return bytes;
    GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, stream.get());
    GByteArray* array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream.get()));
    if (array != nullptr) {
      bytes.assign(reinterpret_cast<const char*>(array->data),
                   std::min<std::size_t>(array->len, kInboundMailTextBytesMax));
    }
  }
  return repairUtf8(bytes);
}

// The body a person wrote: the text/plain leaves that are not attachments, else the text/html
// ones with their tags dropped.
std::string bodyText(const MimeTree& tree) {
  std::string text;
  for (const Leaf& leaf : tree.leaves) {
    if (leaf.type == "text/plain" && !leaf.attachment) text += leafText(leaf.object) + "\n";
  }
  if (!text.empty()) return text;
  for (const Leaf& leaf : tree.leaves) {
    if (leaf.type == "text/html" && !leaf.attachment) text += htmlToText(leafText(leaf.object));
  }
  return text;
}

// ---- Addresses and ids -----------------------------------------------------------------------

std::string firstMailbox(InternetAddressList* list) {
  constexpr int kAddressesMax = 16;
  if (list == nullptr) return "";
  int count = std::min(internet_address_list_length(list), kAddressesMax);
  for (int index = 0; index < count; ++index) {
    InternetAddress* address = internet_address_list_get_address(list, index);
    if (INTERNET_ADDRESS_IS_MAILBOX(address)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
      if (addr != nullptr && addr[0] != '\0') return lowerAscii(repairUtf8(addr));
    } else if (INTERNET_ADDRESS_IS_GROUP(address)) {
      InternetAddressList* members =
          internet_address_group_get_members(INTERNET_ADDRESS_GROUP(address));
      int member_count = members != nullptr ? internet_address_list_length(members) : 0;
      for (int member = 0; member < std::min(member_count, kAddressesMax); ++member) {
        InternetAddress* inner = internet_address_list_get_address(members, member);
        if (!INTERNET_ADDRESS_IS_MAILBOX(inner)) continue;
        const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(inner));
        if (addr != nullptr && addr[0] != '\0') return lowerAscii(repairUtf8(addr));
      }
    }
  }
  return "";
}

std::vector<std::string> parseIds(GMimeParserOptions* options, const std::string& value) {
  std::vector<std::string> ids;
  if (value.empty()) return ids;
  std::unique_ptr<GMimeReferences, ReferencesFree> references(
      g_mime_references_parse(options, value.c_str()));
  if (!references) return ids;
  int count = g_mime_references_length(references.get());
  for (int index = 0; index < count; ++index) {
    const char* id = g_mime_references_get_message_id(references.get(), index);
    if (id != nullptr && id[0] != '\0') ids.push_back(bracketed(id));
  }
  return ids;
}

// In-Reply-To's ids, then References' (the newest when there are too many), without repeats.
// Only the first kReferenceHeaderBytesMax bytes of In-Reply-To and the last ones of References
// are read: the newest ids are at References' end.
std::vector<std::string> referencedIds(GMimeMessage* message, GMimeParserOptions* options) {
  constexpr std::size_t kReferenceHeaderBytesMax = 16 * 1024;
  std::vector<std::string> result;
  std::unordered_set<std::string> seen;
  std::string in_reply_to = headerValue(message, "In-Reply-To");
  if (in_reply_to.size() > kReferenceHeaderBytesMax) in_reply_to.resize(kReferenceHeaderBytesMax);
  std::string references_value = headerValue(message, "References");
  if (references_value.size() > kReferenceHeaderBytesMax) {
    std::size_t start =
        references_value.find('<', references_value.size() - kReferenceHeaderBytesMax);
    references_value.erase(0, start == std::string::npos ? references_value.size() : start);
  }
  for (std::string& id : parseIds(options, in_reply_to)) {
    if (result.size() < kInboundMailReferencesMax && seen.insert(id).second) result.push_back(id);
  }
  std::vector<std::string> references;
  for (std::string& id : parseIds(options, references_value)) {
    if (seen.insert(id).second) references.push_back(std::move(id));
  }
  std::size_t room = kInboundMailReferencesMax - result.size();
  std::size_t skip = references.size() > room ? references.size() - room : 0;
  result.insert(result.end(), references.begin() + static_cast<std::ptrdiff_t>(skip),
                references.end());
  return result;
}

bool isAddressByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '.' || c == '-' ||
         c == '_' || c == '+' || c == '%' || c == '\'';
}

// The first addr-spec looking word ("local@domain.tld") in text, lower-cased, or "".
std::string firstAddressIn(std::string_view text) {
  std::size_t at = 0;
  while ((at = text.find('@', at)) != std::string_view::npos) {
    std::size_t begin = at, end = at + 1;
    while (begin > 0 && isAddressByte(text[begin - 1])) --begin;
    while (end < text.size() && isAddressByte(text[end]) && text[end] != '\'') ++end;
    std::string_view domain = text.substr(at + 1, end - at - 1);
    while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    if (begin < at && domain.find('.') != std::string_view::npos) {
      return lowerAscii(std::string(text.substr(begin, at - begin)) + "@" + std::string(domain));
    }
    ++at;
  }
  return "";
}

// Message-IDs of "Message-ID:" lines (folded values included) in quoted headers.
std::vector<std::string> quotedMessageIds(std::string_view text) {
  constexpr std::size_t kQuotedIdsMax = 8;
  std::vector<std::string> ids;
  std::size_t at = 0;
  while (at < text.size() && ids.size() < kQuotedIdsMax) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(at, end - at));
    at = end + 1;
    if (lowerAscii(line.substr(0, 11)) != "message-id:") continue;
    std::string_view value = trim(line.substr(11));
    if (value.empty() && at < text.size()) {  // folded onto the next line
      std::size_t next_end = text.find('\n', at);
      if (next_end == std::string_view::npos) next_end = text.size();
      value = trim(text.substr(at, next_end - at));
    }
    std::size_t open = value.find('<');
    std::size_t close = value.find('>', open == std::string_view::npos ? 0 : open);
    if (open == std::string_view::npos || close == std::string_view::npos || close <= open + 1) {
      continue;
    }
    addUnique(ids, std::string(value.substr(open, close - open + 1)));
  }
  return ids;
}

// ---- Status codes ----------------------------------------------------------------------------

// The first RFC 3463 enhanced status code of class 4 or 5 ("5.1.1") in text, or "".
std::string enhancedStatusIn(std::string_view text) {
  for (std::size_t at = 0; at + 5 <= text.size(); ++at) {
    char c = text[at];
    if ((c != '4' && c != '5') || text[at + 1] != '.') continue;
    if (at > 0 && (isDigit(text[at - 1]) || text[at - 1] == '.')) continue;
    std::size_t end = at + 2;
    std::size_t subject_digits = 0, detail_digits = 0;
    while (end < text.size() && isDigit(text[end]) && subject_digits < 4) ++end, ++subject_digits;
    if (subject_digits == 0 || subject_digits > 3 || end >= text.size() || text[end] != '.') {
      continue;
    }
    ++end;
    while (end < text.size() && isDigit(text[end]) && detail_digits < 4) ++end, ++detail_digits;
    if (detail_digits == 0 || detail_digits > 3) continue;
    if (end < text.size() && (isDigit(text[end]) || (text[end] == '.' && end + 1 < text.size() &&
                                                     isDigit(text[end + 1])))) {
      continue;
    }
    return std::string(text.substr(at, end - at));
  }
  return "";
}

// "5.0.0" / "4.0.0" for the first bare SMTP reply code that fails or delays a delivery (421,
// 450-452, 550-554) written where servers write one: first on its line, or after "#" or
// "said:"; else "". Other numbers ("450 MB used") are not codes.
std::string smtpCodeStatusIn(std::string_view text) {
  constexpr std::string_view kCodes[] = {"421", "450", "451", "452", "550",
                                         "551", "552", "553", "554"};
  for (std::size_t at = 0; at + 4 <= text.size(); ++at) {
    std::string_view code = text.substr(at, 3);
    if (std::find(std::begin(kCodes), std::end(kCodes), code) == std::end(kCodes)) continue;
    if (text[at + 3] != ' ' && text[at + 3] != '-') continue;
    std::size_t before = at;
    while (before > 0 && (text[before - 1] == ' ' || text[before - 1] == '\t')) --before;
    bool line_start = before == 0 || text[before - 1] == '\n';
    bool after_mark = before > 0 && text[before - 1] == '#';
    bool after_said = before >= 5 && lowerAscii(text.substr(before - 5, 5)) == "said:";
    if (line_start || after_mark || after_said) return std::string(1, code[0]) + ".0.0";
  }
  return "";
}

// ---- RFC 3464 delivery status ----------------------------------------------------------------

struct RecipientStatus {
  std::string action;  // lower-case: failed, delayed, delivered, relayed, expanded
  std::string status;
  std::string recipient;
};

// "rfc822; Bob@Example.org" -> "bob@example.org"
std::string recipientField(std::string_view value) {
  std::size_t semicolon = value.find(';');
  std::string_view address =
      trim(semicolon == std::string_view::npos ? value : value.substr(semicolon + 1));
  if (!address.empty() && address.front() == '<') address.remove_prefix(1);
  if (!address.empty() && address.back() == '>') address.remove_suffix(1);
  return lowerAscii(trim(address));
}

// The per-recipient blocks of a message/delivery-status body (blocks are separated by blank
// lines; continuation lines fold into the field before).
std::vector<RecipientStatus> readDeliveryStatus(std::string_view text) {
  constexpr std::size_t kRecipientsMax = 256;
  std::vector<RecipientStatus> recipients;
  RecipientStatus block;
  std::string original;
  auto finish = [&] {
    if (block.recipient.empty()) block.recipient = original;
    if ((!block.action.empty() || !block.status.empty()) && recipients.size() < kRecipientsMax) {
      recipients.push_back(block);
    }
    block = RecipientStatus{};
    original.clear();
  };
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (trim(line).empty()) {
      finish();
      continue;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || line[0] == ' ' || line[0] == '\t') continue;
    std::string name = lowerAscii(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "action") {
      block.action = lowerAscii(value.substr(0, value.find_first_of(" \t(;")));
    } else if (name == "status") {
      block.status = enhancedStatusIn(value);
    } else if (name == "final-recipient") {
      block.recipient = recipientField(value);
    } else if (name == "original-recipient") {
      original = recipientField(value);
    }
  }
  finish();
  return recipients;
}

// ---- Phrases ---------------------------------------------------------------------------------

// Subject beginnings of bounce and delay notices (folded; checked after trimming).
constexpr std::string_view kBounceSubjects[] = {
    "undeliverable",
    "undelivered mail",
    "mail delivery failed",
    "mail delivery failure",
    "delivery status notification",
    "returned mail",
    "failure notice",
    "delivery failure",
    "delivery failed",
    "delayed mail",
    "warning: message",
    "warning: could not send message",
    "delivery delayed",
    "mail delivery delayed",
    "non remis",
    "unzustellbar",
    "non recapitabile",
    "no se puede entregar",
    "onbestelbaar",
    "nao entregue",
    "mail system error - returned mail",
};

// Text that only delivery software writes.
constexpr std::string_view kBounceMarkers[] = {
    "this message was created automatically by mail delivery software",
    "this is the mail system at host",
    "this is the postfix program at host",
    "this is the qmail-send program",
    "diagnostic information for administrators",
    "delivery to the following recipient failed permanently",
    "delivery to the following recipient has been delayed",
    "your message wasn't delivered",
    "your message couldn't be delivered",
    "your message did not reach some or all of the intended recipients",
    "the following message to <",
};

constexpr std::string_view kFailurePhrases[] = {
    "could not be delivered",
    "couldn't be delivered",
    "wasn't delivered",
    "was not delivered",
    "failed permanently",
    "permanent error",
    "permanent failure",
    "permanent fatal error",
    "delivery has failed",
    "address not found",
    "returning message to sender",
    "returned to sender",
    "undeliverable",
    "did not reach some or all",
    "could not be reached",
    "status notification (failure)",
    "unzustellbar",
    "non remis",
    "non recapitabile",
    "onbestelbaar",
};

constexpr std::string_view kDelayPhrases[] = {
    "status notification (delay)",
    "delayed mail",
    "delivery delayed",
    "delivery incomplete",
    "still being retried",
    "has not yet been delivered",
    "has been delayed",
    "temporary problem",
    "will retry",
    "will be retried",
    "could not send message for past",
    "message delayed",
    "delivery is delayed",
};

// Where the copy of the original message (or its headers) begins in a bounce's text.
constexpr std::string_view kOriginalMarkers[] = {
    "this is a copy of the message",
    "below this line is a copy of the message",
    "original message",
    "undelivered message",
    "headers of the message follow",
    "message headers follow",
    "returned message follows",
    "original message headers",
};

// After one of these, the first address is the failed recipient.
constexpr std::string_view kRecipientAnchors[] = {
    "wasn't delivered to",        "was not delivered to", "your message to",
    "failed permanently:",        "address(es) failed:",  "recipients or groups:",
    "could not be reached:",      "following recipient",  "following address",
    "delivered to the following", "has been delayed to",  "problem delivering your message to",
};

// Out-of-office subject beginnings (folded), after reply prefixes and [tags] are stripped.
constexpr std::string_view kAutoReplySubjects[] = {
    // English
    "out of office", "out of the office", "automatic reply", "auto-reply", "auto reply",
    "autoreply", "auto-response", "automatic response", "away from the office", "away from office",
    "auto:", "on vacation", "on leave",
    // German
    "abwesenheitsnotiz", "automatische antwort", "abwesend", "automatische abwesenheitsnotiz",
    // French
    "reponse automatique", "absence du bureau", "absent du bureau", "absent(e) du bureau",
    "message d'absence",
    // Spanish
    "respuesta automatica", "fuera de la oficina", "ausente de la oficina",
    // Italian
    "risposta automatica", "fuori ufficio", "fuori sede",
    // Portuguese
    "resposta automatica", "ausente do escritorio", "fora do escritorio",
    // Dutch
    "afwezigheidsbericht", "automatisch antwoord", "afwezig", "niet aanwezig"};

// Reply and forward prefixes stripped before matching subjects.
constexpr std::string_view kSubjectPrefixes[] = {"re", "aw",   "fw", "fwd", "wg",  "tr",  "sv",
                                                 "vs", "antw", "r",  "rif", "res", "enc", "odp"};

// ---- Decisions -------------------------------------------------------------------------------

std::string foldedSubject(std::string_view subject) { return foldForMatching(trim(subject)); }

// "Re: AW: [EXT] Automatic reply: x" -> "automatic reply: x" (folded input).
std::string_view strippedSubject(std::string_view folded) {
  constexpr int kPrefixesMax = 8;
  constexpr std::size_t kTagBytesMax = 40;
  std::string_view text = trim(folded);
  for (int round = 0; round < kPrefixesMax; ++round) {
    bool stripped = false;
    if (!text.empty() && text[0] == '[') {
      std::size_t close = text.find(']');
      if (close != std::string_view::npos && close <= kTagBytesMax) {
        text = trim(text.substr(close + 1));
        stripped = true;
      }
    }
    for (std::string_view prefix : kSubjectPrefixes) {
      if (!startsWith(text, prefix)) continue;
      std::string_view rest = text.substr(prefix.size());
      std::size_t at = 0;
      if (at < rest.size() && rest[at] == '[') {  // "Re[2]:"
        std::size_t close = rest.find(']');
        if (close == std::string_view::npos || close > 4) continue;
        at = close + 1;
      }
      while (at < rest.size() && rest[at] == ' ') ++at;
      if (at < rest.size() && rest[at] == ':') {
        text = trim(rest.substr(at + 1));
        stripped = true;
        break;
      }
    }
    if (!stripped) break;
  }
  return text;
}

bool isDaemonAddress(std::string_view address) {
  std::string_view local = address.substr(0, address.find('@'));
  return local == "mailer-daemon" || local == "postmaster" || local == "mailerdaemon" ||
         local == "mail-daemon";
}

// Where the copy of the original begins in a bounce's lower-cased text, or npos.
std::size_t originalMarkerAt(std::string_view lower_text) {
  std::size_t first = std::string_view::npos;
  for (std::string_view marker : kOriginalMarkers) {
    first = std::min(first, lower_text.find(marker));
  }
  return first;
}

std::string recipientFromText(std::string_view diagnostic) {
  constexpr std::size_t kRecipientTextBytesMax = 64 * 1024;
  std::string lower = lowerAscii(diagnostic.substr(0, kRecipientTextBytesMax));
  std::size_t best = std::string::npos;
  for (std::string_view anchor : kRecipientAnchors) {
    std::size_t at = lower.find(anchor);
    if (at != std::string::npos) best = std::min(best, at + anchor.size());
  }
  if (best != std::string::npos) {
    std::string address = firstAddressIn(std::string_view(lower).substr(best));
    if (!address.empty()) return address;
  }
  // Postfix: a line "<bob@example.org>: host ... said: ..."
  std::size_t at = 0;
  while (at < lower.size()) {
    std::size_t end = lower.find('\n', at);
    if (end == std::string::npos) end = lower.size();
    std::string_view line = std::string_view(lower).substr(at, end - at);
    at = end + 1;
    std::size_t close = line.find(">:");
    if (line.empty() || line[0] != '<' || close == std::string_view::npos) continue;
    std::string address = firstAddressIn(line.substr(1, close - 1));
    if (!address.empty()) return address;
  }
  return "";
}

struct Analysis {
  GMimeMessage* message = nullptr;
  const MimeTree* tree = nullptr;
  std::string from_address;
  std::string folded_subject;
  LocalDate arrival_day;
};

// Original Message-IDs a report carries: attached messages, else quoted header parts.
std::vector<std::string> reportedOriginalIds(const MimeTree& tree) {
  std::vector<std::string> ids = tree.attached_ids;
  if (!ids.empty()) return ids;
  for (const Leaf& leaf : tree.leaves) {
    bool headers = leaf.type == "text/rfc822-headers" || leaf.type == "message/global-headers" ||
                   leaf.type == "message/global";  // when GMime leaves it unparsed
    if (!headers) continue;
    for (std::string& id : quotedMessageIds(leafText(leaf.object))) addUnique(ids, id);
  }
  return ids;
}

// The diagnostic text of a bounce and the quoted original after it.
struct BounceText {
  std::string diagnostic;         // before the copy of the original (all of it when none)
  std::string quoted;             // from the copy of the original on (all of it when none)
  std::string folded_diagnostic;  // foldForMatching(diagnostic)
};

BounceText splitBounceText(const MimeTree& tree) {
  std::string text = bodyText(tree);
  for (const Leaf& leaf : tree.leaves) {
    if (leaf.type == "text/rfc822-headers" || leaf.type == "message/global-headers") {
      text += '\n';
      text += leafText(leaf.object);
    }
  }
  BounceText split;
  // The markers are ASCII, so lower-casing keeps offsets.
  std::size_t marker = originalMarkerAt(lowerAscii(text));
  if (marker == std::string::npos) {
    split.diagnostic = text;
    split.quoted = text;
  } else {
    split.diagnostic = text.substr(0, marker);
    split.quoted = text.substr(marker);
  }
  split.folded_diagnostic = foldForMatching(split.diagnostic);
  return split;
}

bool fillFromDeliveryStatus(const Analysis& analysis, InboundMail& mail) {
  std::vector<RecipientStatus> recipients;
  for (const Leaf& leaf : analysis.tree->leaves) {
    if (leaf.type != "message/delivery-status" && leaf.type != "message/global-delivery-status") {
      continue;
    }
    for (RecipientStatus& recipient : readDeliveryStatus(leafText(leaf.object))) {
      recipients.push_back(std::move(recipient));
    }
  }
  if (recipients.empty()) return false;
  auto failed = std::find_if(recipients.begin(), recipients.end(), [](const RecipientStatus& r) {
    return r.action == "failed" || (r.action.empty() && startsWith(r.status, "5"));
  });
  auto delayed = std::find_if(recipients.begin(), recipients.end(), [](const RecipientStatus& r) {
    return r.action == "delayed" || startsWith(r.status, "4");
  });
  const RecipientStatus* chosen = nullptr;
  if (failed != recipients.end()) {
    mail.kind = InboundMail::Kind::kBounce;
    chosen = &*failed;
  } else if (delayed != recipients.end()) {
    mail.kind = InboundMail::Kind::kDelay;
    chosen = &*delayed;
  } else {
    mail.kind = InboundMail::Kind::kOther;
    mail.why = "DSN Action: " + recipients.front().action;
    return true;
  }
  mail.status = chosen->status;
  mail.recipient = chosen->recipient;
  mail.why = "DSN Action: " + (chosen->action.empty() ? std::string("-") : chosen->action) +
             (mail.status.empty() ? "" : " " + mail.status);
  mail.original_ids = reportedOriginalIds(*analysis.tree);
  if (mail.original_ids.empty()) {
    mail.original_ids = quotedMessageIds(splitBounceText(*analysis.tree).quoted);
  }
  return true;
}

bool fillFromBounceText(const Analysis& analysis, InboundMail& mail) {
  bool daemon = isDaemonAddress(analysis.from_address);
  std::string_view subject = analysis.folded_subject;
  bool bounce_subject = false;
  for (std::string_view start : kBounceSubjects) bounce_subject |= startsWith(subject, start);
  BounceText text = splitBounceText(*analysis.tree);
  bool marker =
      analysis.tree->delivery_report || containsAny(text.folded_diagnostic, kBounceMarkers);
  if (!daemon && !bounce_subject && !marker) return false;

  std::string signals = std::string(subject) + "\n" + text.folded_diagnostic;
  bool failure = containsAny(signals, kFailurePhrases);
  bool delay = containsAny(signals, kDelayPhrases);
  std::string status = enhancedStatusIn(text.diagnostic);
  if (status.empty()) status = smtpCodeStatusIn(text.diagnostic);
  std::vector<std::string> ids = analysis.tree->attached_ids;
  if (ids.empty()) ids = quotedMessageIds(text.quoted);

  if (!failure && (delay || startsWith(status, "4"))) {
    mail.kind = InboundMail::Kind::kDelay;
    mail.why = "delay text" + (status.empty() ? "" : ": " + status);
  } else if (failure || startsWith(status, "5")) {
    mail.kind = InboundMail::Kind::kBounce;
    mail.why = "bounce text" + (status.empty() ? "" : ": " + status);
  } else if (!ids.empty() && (daemon || bounce_subject || marker)) {
    mail.kind = InboundMail::Kind::kBounce;
    mail.why = daemon ? "mailer-daemon with a quoted Message-ID" : "bounce text, quoted Message-ID";
  } else {
    return false;
  }
  mail.status = status;
  mail.original_ids = std::move(ids);
  std::string failed = headerValue(analysis.message, "X-Failed-Recipients");
  mail.recipient = firstAddressIn(failed);
  if (mail.recipient.empty()) mail.recipient = recipientFromText(text.diagnostic);
  return true;
}

// The header or subject that makes the message an auto-reply, or "".
std::string autoReplyReason(const Analysis& analysis) {
  std::string auto_submitted = lowerAscii(trim(headerValue(analysis.message, "Auto-Submitted")));
  std::string_view token = std::string_view(auto_submitted).substr(0, auto_submitted.find(';'));
  token = trim(token);
  if (!token.empty() && token != "no") return "Auto-Submitted: " + std::string(token);
  if (g_mime_object_get_header(GMIME_OBJECT(analysis.message), "X-Autoreply") != nullptr) {
    return "X-Autoreply";
  }
  if (g_mime_object_get_header(GMIME_OBJECT(analysis.message), "X-Autorespond") != nullptr) {
    return "X-Autorespond";
  }
  std::string precedence = lowerAscii(trim(headerValue(analysis.message, "Precedence")));
  if (precedence == "auto_reply") return "Precedence: auto_reply";
  std::string_view subject = strippedSubject(analysis.folded_subject);
  for (std::string_view start : kAutoReplySubjects) {
    if (startsWith(subject, start)) return "subject: " + std::string(start);
  }
  return "";
}

// Mailing lists and bulk mail are not replies: the header that says so, or "".
std::string listReason(const Analysis& analysis) {
  if (g_mime_object_get_header(GMIME_OBJECT(analysis.message), "List-Id") != nullptr) {
    return "List-Id";
  }
  std::string precedence = lowerAscii(trim(headerValue(analysis.message, "Precedence")));
  if (precedence == "bulk" || precedence == "list" || precedence == "junk") {
    return "Precedence: " + precedence;
  }
  return "";
}

void decide(const Analysis& analysis, InboundMail& mail) {
  if (fillFromDeliveryStatus(analysis, mail)) return;
  if (fillFromBounceText(analysis, mail)) return;
  if (trim(analysis.folded_subject) == "unsubscribe") {
    mail.kind = InboundMail::Kind::kUnsubscribe;
    mail.why = "subject: unsubscribe";
    return;
  }
  if (std::string reason = autoReplyReason(analysis); !reason.empty()) {
    mail.kind = InboundMail::Kind::kAutoReply;
    mail.why = reason;
    mail.return_date = findReturnDate(bodyText(*analysis.tree), analysis.arrival_day);
    return;
  }
  if (std::string reason = listReason(analysis); !reason.empty()) {
    mail.kind = InboundMail::Kind::kOther;
    mail.why = reason;
    return;
  }
  if (isDaemonAddress(analysis.from_address)) {
    mail.kind = InboundMail::Kind::kOther;
    mail.why = "mailer-daemon, not a bounce";
    return;
  }
  if (!mail.referenced_ids.empty() || !mail.from_address.empty()) {
    mail.kind = InboundMail::Kind::kReply;
    mail.why = mail.referenced_ids.empty() ? "From only" : "In-Reply-To/References";
    return;
  }
  mail.kind = InboundMail::Kind::kOther;
  mail.why = "no From and no references";
}

LocalDate utcDay(TimeMs time_ms) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_time<milliseconds>{milliseconds{time_ms}});
  const year_month_day date{day};
  return {static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
          static_cast<unsigned>(date.day())};
}

// GMime's parser checks every body line against the whole stack of open boundaries, so a
// message nesting many thousands of multiparts costs seconds. Real mail declares a handful.
bool tooManyBoundaries(std::string_view bytes) {
  constexpr std::string_view kParameter = "boundary";
  std::size_t count = 0;
  for (std::size_t at = 0; at + kParameter.size() <= bytes.size(); ++at) {
    if ((bytes[at] | 0x20) != 'b') continue;
    if (lowerAscii(bytes.substr(at, kParameter.size())) != kParameter) continue;
    if (++count > kInboundMailBoundariesMax) return true;
  }
  return false;
}

// The length of the header section, the blank line that ends it included.
std::size_t headerSectionBytes(std::string_view bytes) {
  std::size_t lf = bytes.find("\n\n");
  std::size_t crlf = bytes.find("\r\n\r\n");
  std::size_t end = std::min(lf == std::string_view::npos ? bytes.size() : lf + 2,
                             crlf == std::string_view::npos ? bytes.size() : crlf + 4);
  return end;
}

std::unique_ptr<GMimeParserOptions, OptionsFree> makeParserOptions() {
  std::unique_ptr<GMimeParserOptions, OptionsFree> options(g_mime_parser_options_new());
  g_mime_parser_options_set_address_compliance_mode(options.get(), GMIME_RFC_COMPLIANCE_LOOSE);
  g_mime_parser_options_set_parameter_compliance_mode(options.get(), GMIME_RFC_COMPLIANCE_LOOSE);
  g_mime_parser_options_set_rfc2047_compliance_mode(options.get(), GMIME_RFC_COMPLIANCE_LOOSE);
  g_mime_parser_options_set_allow_addresses_without_domain(options.get(), TRUE);
  // Raw 8-bit header text: UTF-8 when it is valid, else Latin-1.
  const char* fallback_charsets[] = {"UTF-8", "ISO-8859-1", nullptr};
  g_mime_parser_options_set_fallback_charsets(options.get(), fallback_charsets);
  return options;
}

// REQUIRES: raw.size() <= kInboundMailBytesMax.
InboundMail classifyParsed(std::string_view raw, TimeMs received_ms) {
  InboundMail mail;
  // GMime keeps header values as C strings: a NUL would cut them short, so NULs become spaces.
  std::string bytes(raw);
  std::replace(bytes.begin(), bytes.end(), '\0', ' ');
  bool body_skipped = tooManyBoundaries(bytes);
  if (body_skipped) bytes.resize(headerSectionBytes(bytes));
  GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  GObjectPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  auto options = makeParserOptions();
  GObjectPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), options.get()));
  if (!message) {
    mail.why = "unparsable";
    return mail;
  }
  const char* id = g_mime_message_get_message_id(message.get());
  if (id != nullptr && id[0] != '\0') mail.message_id = bracketed(id);
  mail.from_address = firstMailbox(g_mime_message_get_from(message.get()));
  if (mail.from_address.empty()) {
    mail.from_address = firstMailbox(g_mime_message_get_sender(message.get()));
  }
  const char* subject = g_mime_message_get_subject(message.get());
  mail.subject = subject != nullptr ? repairUtf8(subject) : "";
  mail.referenced_ids = referencedIds(message.get(), options.get());

  MimeTree tree;
  walk(g_mime_message_get_mime_part(message.get()), 1, tree);
  Analysis analysis{message.get(), &tree, mail.from_address, foldedSubject(mail.subject),
                    utcDay(received_ms)};
  decide(analysis, mail);
  if (body_skipped) mail.why += "; body not read (too many MIME boundaries)";
  return mail;
}

}  // namespace

const char* inboundKindName(InboundMail::Kind kind) {
  switch (kind) {
    case InboundMail::Kind::kReply:
      return "reply";
    case InboundMail::Kind::kAutoReply:
      return "auto_reply";
    case InboundMail::Kind::kBounce:
      return "bounce";
    case InboundMail::Kind::kDelay:
      return "delay";
    case InboundMail::Kind::kUnsubscribe:
      return "unsubscribe";
    case InboundMail::Kind::kOther:
      return "other";
  }
  return "other";
}

void initInboundMailParser() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

InboundMail classifyInboundMail(std::string_view raw, TimeMs received_ms) {
  if (raw.size() > kInboundMailBytesMax) {
    InboundMail mail;
    mail.why = "too big";
    return mail;
  }
  try {
    return classifyParsed(raw, received_ms);
  } catch (const std::exception& error) {
    // Only memory exhaustion is expected here; the tests treat any such result as a failure.
    InboundMail mail;
    mail.why = std::string("not classified: ") + error.what();
    return mail;
  }
}

}  // namespace seqd
