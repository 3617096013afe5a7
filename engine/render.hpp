// Render: the email of a fired step, rendered by a delivery worker from immutable snapshots.
//
// SPEC §1 gives rendering to the worker pool: the engine thread only decides. The split:
//
//   engine thread (Engine::fireEmail)           delivery worker (MessageRenderer)
//   -------------------------------------       ------------------------------------------
//   due, mailbox with capacity, A/B variant,     templates substituted, RFC 5322 headers,
//   not_sent reasons (templates checked          threading, List-Unsubscribe token,
//   without rendering: checkStepText()),         quoted-printable body
//   the Message-ID, the records
//
// What the worker reads is never engine-owned mutable state. A DeliveryIntent carries:
//  - a RenderSettings: every sequence's templates parsed once (at load and at each reload)
//    into pieces, each step's constant X-Seqd header lines, each mailbox's From line and the
//    unsubscribe link settings. One per configuration; a reload builds a new one and the
//    intents still out keep the old one alive (shared_ptr), so nothing they point into is
//    freed under them.
//  - the contact as it was when the step fired: the engine holds contacts as
//    immutable PackedContacts (engine/packed_contact.hpp) and replaces them, never mutates them in
//    place, so an edit after the fire does not reach an email already decided.
//
// The message is a pure function of (sequence, step, variant, contact snapshot, mailbox, fire
// time, unsubscribe settings): a redelivery after a restart renders it byte-identically, and
// renderMessage(intent, "\n") equals buildMessage() (engine/message.hpp) on parts built the
// way the engine built them before rendering moved (tests/engine/render_test.cpp checks it).
//
// Costs (perf/render_bench.cpp, perf/RESULTS.md): a worker keeps one MessageRenderer, its
// buffers reused from message to message and the Date line formatted once per second of fire
// time; the From line and the X-Seqd-Sequence/-Step lines are built once per configuration.
// A ~630-byte message then takes about two heap allocations (the To line, a threaded step's
// In-Reply-To id) where the engine thread's rendering took about thirty; a one-click
// unsubscribe token adds its own (its HMAC-SHA256 is then most of the time).
//
// The check on the engine thread walks the parsed pieces, looking each field up without
// copying it, rather than only testing the fields that have no fallback: walking them also
// finds the "rendered text too long" error at the very piece a render would, so the reasons
// are exactly a full render's, and a template has a handful of pieces.
//
// Thread-safety: RenderSettings, CompiledTemplate and the snapshots are immutable once built
// and safe to read from any thread. A MessageRenderer belongs to one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/mailbox.hpp"
#include "engine/packed_contact.hpp"
#include "engine/sequence.hpp"
#include "engine/symbol.hpp"
#include "engine/time.hpp"
#include "engine/unsubscribe_token.hpp"

namespace seqd {

struct DeliveryIntent;

// A `{{field}}` template (engine/template.hpp syntax) parsed once.
class CompiledTemplate {
 public:
  CompiledTemplate() = default;
  explicit CompiledTemplate(std::string text);

  // Whether it renders for this contact, deciding as renderTemplate() would without
  // building the text: "" when it does, else "missing_variable:<name>" or
  // "template_error:<message>".
  std::string problem(const PackedContact& contact) const;
  // Appends the rendered text. REQUIRES: problem(contact) is empty.
  void renderTo(const PackedContact& contact, std::string& out) const;
  const std::string& text() const { return text_; }

 private:
  // A contact field a tag names, resolved once at parse time.
  enum class Field : std::uint8_t {
    kEmail,
    kEmailStatus,
    kFirstName,
    kLastName,
    kCompany,
    kTitle,
    kPhone,
    kTimezone,
    kOwner,
    kStage,
    kKey,
    kScore,
    kDnc,
    kCallOptOut,
    kEmailOptOut,
    kExtra
  };
  struct Piece {
    bool is_variable = false;
    bool has_fallback = false;
    Field field = Field::kExtra;
    std::uint32_t offset = 0;  // literal text, or the name, inside text_
    std::uint32_t size = 0;
    std::uint32_t fallback_offset = 0;
    std::uint32_t fallback_size = 0;
  };
  // The field's value as Contact::field() gives it ("" when missing); score is written into
  // digits, which must outlive the view.
  std::string_view valueOf(const Piece& piece, const PackedContact& contact,
                           char (&digits)[4]) const;
  std::string_view view(std::uint32_t offset, std::uint32_t size) const {
    return std::string_view(text_).substr(offset, size);
  }

  std::string text_;
  std::vector<Piece> pieces_;
  std::string error_;  // the syntax error; pieces_ is empty then
};

struct RenderVariant {
  std::string id;
  int weight = 0;
  bool own_subject = false;  // false: the step's subject
  bool own_body = false;     // false: the step's body
  CompiledTemplate subject;
  CompiledTemplate body;
};

struct RenderStep {
  std::string id;
  bool is_email = false;
  bool thread_previous = false;
  // The email step before this one in the sequence, the one a threaded step replies to;
  // kNoStep when none.
  static constexpr std::uint32_t kNoStep = UINT32_MAX;
  std::uint32_t previous_email = kNoStep;
  CompiledTemplate subject;
  CompiledTemplate body;
  std::vector<RenderVariant> variants;
  // "X-Seqd-Sequence: ...\nX-Seqd-Step: ...\n" as buildMessage writes them, '\n' endings.
  std::string fixed_headers;

  const CompiledTemplate& subjectOf(int variant) const;
  const CompiledTemplate& bodyOf(int variant) const;
};

struct RenderSequence {
  std::string id;
  std::vector<RenderStep> steps;  // parallel to Sequence::steps
};

// A send-from mailbox as the renderer needs it.
struct RenderSender {
  std::string address;
  Symbol address_symbol;  // the same, interned: what a send names its mailbox by
  std::string name;
  Transport transport = Transport::kMaildir;
  std::string from_header;  // "From: ...\n", '\n' endings
};

// Everything a worker needs from the configuration; built at load and at each reload.
struct RenderSettings {
  TextHashMap<RenderSequence> sequences;
  TextHashMap<RenderSender> senders;
  UnsubscribeLinks unsubscribe;
  // Made from unsubscribe.secret when emails carry the one-click link.
  std::optional<HmacSha256> unsubscribe_signer;

  const RenderSequence* findSequence(std::string_view id) const;
  const RenderSender* findSender(std::string_view address) const;
};

std::shared_ptr<const RenderSettings> compileRenderSettings(const Sequences& sequences,
                                                            const std::vector<Mailbox>& mailboxes,
                                                            const UnsubscribeLinks& unsubscribe);

// The A/B variant for (contact, step): a deterministic hash over the weights; -1 for the
// step's own text.
int pickVariant(const RenderStep& step, std::string_view contact_key);

// Why a step's email (subject, then body, of its variant) cannot be rendered for the
// contact: "" when it can, else the not_sent reason, exactly as rendering would give it.
std::string checkStepText(const RenderStep& step, int variant, const PackedContact& contact);

// Renders intents the way a delivery worker does, reusing its buffers between messages.
// REQUIRES: each intent came from Engine::takeIntents() (it holds its render snapshots).
class MessageRenderer {
 public:
  // The whole RFC 5322 message with '\n' line endings; valid until the next call.
  // message_id: the intent's (DeliveryIntent::messageId; a worker builds it once for both the
  // message and its Maildir file name).
  std::string_view render(const DeliveryIntent& intent, std::string_view message_id);

 private:
  // Subject and body into subject_ and body_; previous: the email a threaded step answers.
  void renderText(const RenderStep& step, int variant, const RenderStep* previous,
                  const PackedContact& contact);
  void appendDate(TimeMs at_ms);

  std::string message_;
  std::string subject_;
  std::string body_;
  std::string scratch_;
  std::int64_t date_second_ = INT64_MIN;
  std::string date_header_;  // "Date: ...\n" of date_second_
};

// One intent's message with the given line endings ("\n" for Maildir, "\r\n" for SMTP).
std::string renderMessage(const DeliveryIntent& intent, std::string_view line_ending);

}  // namespace seqd
