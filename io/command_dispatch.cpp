#include "io/command_dispatch.hpp"

#include <algorithm>
#include <boost/unordered/unordered_flat_set.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "config/sequence_yaml.hpp"
#include "engine/contact_row.hpp"
#include "engine/permissions.hpp"
#include "io/control_protocol.hpp"
#include "io/request_checks.hpp"

namespace seqd {
namespace {

namespace json = boost::json;

DispatchReply fail(std::string code, std::string message) {
  DispatchReply reply;
  reply.ok = false;
  reply.error_code = std::move(code);
  reply.error_message = std::move(message);
  return reply;
}

DispatchReply succeed(json::value result) {
  DispatchReply reply;
  reply.result = std::move(result);
  return reply;
}

std::string stringArg(const json::object& args, std::string_view name) {
  const json::value* value = args.if_contains(name);
  if (value == nullptr || !value->is_string()) return std::string();
  return std::string(value->as_string());
}

bool boolArg(const json::object& args, std::string_view name) {
  const json::value* value = args.if_contains(name);
  return value != nullptr && value->is_bool() && value->as_bool();
}

std::vector<std::string> stringListArg(const json::object& args, std::string_view name) {
  std::vector<std::string> values;
  const json::value* value = args.if_contains(name);
  if (value == nullptr || !value->is_array()) return values;
  for (const json::value& item : value->as_array()) {
    if (item.is_string()) values.emplace_back(item.as_string());
  }
  return values;
}

// rows: [{"line": N, "fields": {"email": "...", ...}}]
Result<std::vector<ContactRow>> rowsArg(const json::object& args) {
  std::vector<ContactRow> rows;
  const json::value* value = args.if_contains("rows");
  if (value == nullptr) return rows;
  if (!value->is_array()) return Status::invalidArgument("'rows' must be an array");
  if (value->as_array().size() > kRowsPerRequestMax) {
    return Status::invalidArgument("too many rows in one request (max " +
                                   std::to_string(kRowsPerRequestMax) + ")");
  }
  rows.reserve(value->as_array().size());
  for (const json::value& item : value->as_array()) {
    if (!item.is_object()) return Status::invalidArgument("each row must be an object");
    const json::object& row_object = item.as_object();
    ContactRow row;
    if (const json::value* line = row_object.if_contains("line"); line && line->is_int64()) {
      row.line = static_cast<std::size_t>(line->as_int64());
    }
    const json::value* fields = row_object.if_contains("fields");
    if (fields == nullptr || !fields->is_object()) {
      return Status::invalidArgument("each row needs a 'fields' object");
    }
    for (const auto& field : fields->as_object()) {
      if (!field.value().is_string()) {
        return Status::invalidArgument("field '" + std::string(field.key()) + "' must be text");
      }
      row.fields[std::string(field.key())] = std::string(field.value().as_string());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

json::array errorsJson(const std::vector<RowError>& errors) {
  json::array array;
  for (const RowError& error : errors) {
    array.push_back(json::object{{"line", error.line}, {"reason", error.reason}});
  }
  return array;
}

json::object contactJson(const PackedContact& contact) {
  json::object object{{"contact", contact.key()},
                      {"email", contact.email()},
                      {"email_status", contact.emailStatus()},
                      {"first_name", contact.firstName()},
                      {"last_name", contact.lastName()},
                      {"company", contact.company()},
                      {"title", contact.title()},
                      {"phone", contact.phone()},
                      {"timezone", contact.timezone()},
                      {"score", contact.score()},
                      {"owner", contact.owner()},
                      {"stage", contact.stage()},
                      {"dnc", contact.dnc()},
                      {"call_opt_out", contact.callOptOut()},
                      {"email_opt_out", contact.emailOptOut()}};
  json::object extra;
  for (std::size_t i = 0; i < contact.extraCount(); ++i) {
    extra[contact.extraName(i).view()] = contact.extraValue(i);
  }
  object["fields"] = std::move(extra);
  return object;
}

void putCounts(json::object& object, const ReportCounts& counts) {
  for (std::size_t i = 0; i < kReportCountKinds; ++i) {
    object[reportCountName(static_cast<ReportCount>(i))] = counts[i];
  }
}

json::value textOrNull(const std::string& text) {
  if (text.empty()) return nullptr;
  return json::value(text);
}

}  // namespace

json::object reportJson(const SequenceReport& report) {
  json::array steps;
  for (const ReportStepRow& step : report.steps) {
    json::object row{
        {"step", step.step}, {"step_index", step.step_index}, {"type", textOrNull(step.type)}};
    putCounts(row, step.counts);
    json::array variants;
    for (const ReportVariantRow& variant : step.variants) {
      json::object variant_row{{"variant", variant.variant}};
      putCounts(variant_row, variant.counts);
      variants.push_back(std::move(variant_row));
    }
    row["variants"] = std::move(variants);
    steps.push_back(std::move(row));
  }
  json::array mailboxes;
  for (const ReportMailboxRow& mailbox : report.mailboxes) {
    json::object row{
        {"mailbox", mailbox.mailbox}, {"sent", mailbox.sent}, {"bounced", mailbox.bounced}};
    row["daily_limit"] = mailbox.daily_limit < 0 ? json::value(nullptr) : mailbox.daily_limit;
    row["hourly_limit"] = mailbox.hourly_limit < 0 ? json::value(nullptr) : mailbox.hourly_limit;
    row["sent_by_hour"] = json::array(mailbox.sent_by_hour.begin(), mailbox.sent_by_hour.end());
    mailboxes.push_back(std::move(row));
  }
  json::array attention;
  for (const ReportAttentionRow& contact : report.attention) {
    attention.push_back(json::object{{"contact", contact.contact},
                                     {"email", contact.email},
                                     {"status", contact.status},
                                     {"step", textOrNull(contact.step)},
                                     {"reason", textOrNull(contact.reason)}});
  }
  json::object totals;
  putCounts(totals, report.totals);
  return json::object{{"sequence", report.sequence},
                      {"name", report.name},
                      {"generated_at", timeOrNull(report.generated_at_ms)},
                      {"hours", kReportHours},
                      {"totals", std::move(totals)},
                      {"steps", std::move(steps)},
                      {"mailboxes", std::move(mailboxes)},
                      {"attention", std::move(attention)},
                      {"attention_total", report.attention_total}};
}

json::object contactRowJson(const PackedContact& contact) {
  // The table's columns by their names (SPEC §4: --json uses the table's field names), and
  // every stored field as `contact show` prints them.
  json::object row = contactJson(contact);
  std::string name(contact.firstName());
  if (!contact.lastName().empty()) {
    if (!name.empty()) name += ' ';
    name += contact.lastName();
  }
  row["name"] = name;
  return row;
}

Result<ContactsArgs> contactsArgs(const json::object& args) {
  Result<ContactQuery> query = ContactQuery::parse(stringArg(args, "where"));
  if (stringArg(args, "where").empty()) query = ContactQuery();
  if (!query.isOk()) return Status::invalidArgument(query.status().message());
  std::size_t limit = 0;
  if (const json::value* value = args.if_contains("limit"); value != nullptr) {
    if (!value->is_int64() || value->as_int64() < 0) {
      return Status::invalidArgument("contacts: 'limit' must be a number >= 0");
    }
    limit = static_cast<std::size_t>(value->as_int64());
  }
  return ContactsArgs{std::move(query.value()), limit};
}

json::object statusRowJson(const StatusRow& row) {
  return json::object{{"contact", row.contact},
                      {"email", row.email},
                      {"score", row.score},
                      {"status", row.status},
                      {"step", textOrNull(row.step)},
                      {"step_index", row.step_index},
                      {"next_at", timeOrNull(row.next_at_ms)},
                      {"paused_reason", textOrNull(row.paused_reason)},
                      {"resume_at", timeOrNull(row.resume_at_ms)},
                      {"finish_reason", textOrNull(row.finish_reason)},
                      {"not_sent_reason", textOrNull(row.not_sent_reason)},
                      {"bounce_reason", textOrNull(row.bounce_reason)},
                      {"variant", textOrNull(row.variant)},
                      {"mailbox", textOrNull(row.mailbox)},
                      {"owner", textOrNull(row.owner)}};
}

namespace {

// A request's row errors by line (a client may send rows out of file order).
std::vector<RowError> byLine(std::vector<RowError> errors) {
  std::stable_sort(errors.begin(), errors.end(),
                   [](const RowError& a, const RowError& b) { return a.line < b.line; });
  return errors;
}

// The screened rows' contacts as they leave them, one per key, for Engine::putContacts.
// Screening works each row out as upsertContacts would (contactAfterRow), so the engine does
// not do it again.
std::vector<Contact> takeContacts(ScreenedRows& screened) {
  std::vector<Contact> contacts;
  contacts.reserve(screened.after.size());
  for (auto& [key, contact] : screened.after) contacts.push_back(std::move(contact));
  screened.after.clear();
  return contacts;
}

// Rows over a limit, with a value a field cannot take, or touching an existing contact the
// caller may not edit, are row errors (`line N: reason`); the other rows are imported.
DispatchReply importCommand(Engine& engine, const json::object& args, const Caller& caller) {
  Result<std::vector<ContactRow>> rows = rowsArg(args);
  if (!rows.isOk()) return fail("bad_request", rows.status().message());
  // --list NAME: the list is checked before any row is imported; the good rows' contacts
  // join it (nobody leaves it).
  const std::string list = stringArg(args, "list");
  if (!list.empty()) {
    Status editable = engine.checkListEditable(list, caller);
    if (!editable.isOk()) return replyFromStatus(editable);
  }
  ScreenedRows screened = screenRows(engine, std::move(rows.value()), caller);
  engine.putContacts(takeContacts(screened));
  json::object reply{{"imported", screened.imported},
                     {"updated", screened.updated},
                     {"errors", errorsJson(byLine(std::move(screened.errors)))}};
  if (!list.empty()) {
    Result<ContactsResult> joined = engine.changeList(list, screened.keys, true, caller);
    if (!joined.isOk()) return replyFromStatus(joined.status());
    reply["list"] = list;
    reply["list_added"] = joined.value().done.size();
  }
  return succeed(std::move(reply));
}

// Unknown mailboxes are refused before anything is imported.
Status checkKnownMailboxes(const Engine& engine, const std::vector<std::string>& mailboxes,
                           TimeMs now_ms) {
  if (mailboxes.empty()) return Status::ok();
  std::vector<MailboxRow> known = engine.mailboxes(now_ms);
  for (const std::string& mailbox : mailboxes) {
    if (std::none_of(known.begin(), known.end(),
                     [&](const MailboxRow& row) { return row.address == mailbox; })) {
      return Status::notFound("unknown mailbox '" + mailbox + "'");
    }
  }
  return Status::ok();
}

// The sequence a changing command names, once the caller may change it.
Result<const Sequence*> editableSequence(const Engine& engine, const std::string& sequence_id,
                                         const Caller& caller) {
  Status status = checkSequenceId(sequence_id);
  if (!status.isOk()) return status;
  const Sequence* sequence = engine.findSequence(sequence_id);
  if (sequence == nullptr) return Status::notFound("unknown sequence '" + sequence_id + "'");
  status = checkCanEditSequence(*sequence, caller, engine.shares());
  if (!status.isOk()) return status;
  return sequence;
}

// The options of an add, checked against the limits and the configured mailboxes.
Result<AddOptions> addOptionsArg(const Engine& engine, const json::object& args, TimeMs now_ms,
                                 const Caller& caller) {
  AddOptions options;
  options.force = boolArg(args, "force");
  options.skip_validation = boolArg(args, "skip_validation");
  options.dry_run = boolArg(args, "dry_run");
  options.mailboxes = stringListArg(args, "mailboxes");
  // Bare --rotate: every mailbox the caller owns, and those nobody owns.
  if (boolArg(args, "rotate_all")) {
    if (!options.mailboxes.empty()) {
      return Status::invalidArgument("add: bare --rotate names no mailbox; drop --mailbox");
    }
    options.rotate_all = true;
    options.mailboxes = engine.mailboxesFor(caller);
    if (options.mailboxes.empty()) {
      return Status::failedPrecondition("add --rotate: '" + caller.user +
                                        "' owns no mailbox and every mailbox has an owner; "
                                        "name them with --rotate ADDR,...");
    }
  }
  Status checked = checkMailboxList(options.mailboxes);
  if (!checked.isOk()) return Status::invalidArgument("add: " + checked.message());
  checked = checkKnownMailboxes(engine, options.mailboxes, now_ms);
  if (!checked.isOk()) return checked;
  std::string at = stringArg(args, "at");
  if (!at.empty()) {
    Result<TimeMs> at_ms = parseTimeArgument(at, now_ms);
    if (!at_ms.isOk()) return Status::invalidArgument("--at: " + at_ms.status().message());
    options.at_ms = at_ms.value();
  }
  return options;
}

json::object skippedContactJson(const SkippedContact& skip) {
  json::object entry{{"contact", skip.contact},
                     {"warnings", json::array(skip.warnings.begin(), skip.warnings.end())}};
  if (!skip.other_sequences.empty()) {
    entry["other_sequences"] =
        json::array(skip.other_sequences.begin(), skip.other_sequences.end());
  }
  return entry;
}

// About the bytes an add's lists take in its reply: each added key twice (in "added" and
// "first_at") with a time, each skipped key with its warnings.
std::size_t addListsBytes(const AddResult& result) {
  std::size_t bytes = 0;
  for (const std::string& key : result.added) bytes += 2 * key.size() + 32;
  for (const SkippedContact& skip : result.skipped) {
    bytes += skip.contact.size() + 32;
    for (const std::string& warning : skip.warnings) bytes += warning.size() + 3;
    for (const std::string& other : skip.other_sequences) bytes += other.size() + 3;
  }
  return bytes;
}

// A long add's answer: "added" with "first_at" beside it, then "skipped", then the reply with
// the import's counts and errors when rows came with it.
class StreamedAdd : public StreamedAnswer {
 public:
  StreamedAdd(AddResult lists, json::object imported)
      : lists_(std::move(lists)), imported_(std::move(imported)) {}

  void write(PartWriter& writer) const override {
    for (std::size_t i = 0; i < lists_.added.size(); ++i) {
      const TimeMs at = i < lists_.first_at.size() ? lists_.first_at[i] : kNoTime;
      if (!writer.put("added", json::serialize(json::string_view(lists_.added[i])), "first_at",
                      json::serialize(timeOrNull(at)))) {
        return;
      }
    }
    for (const SkippedContact& skip : lists_.skipped) {
      if (!writer.put("skipped", json::serialize(skippedContactJson(skip)))) return;
    }
    json::object reply{
        {"added", json::array()}, {"skipped", json::array()}, {"first_at", json::object()}};
    for (const auto& field : imported_) reply[field.key()] = field.value();
    writer.finish(std::move(reply));
  }

 private:
  AddResult lists_;
  json::object imported_;
};

// The add's reply: its lists, and for rows imported with it SPEC's import counts and errors.
// The lists of an add by --where or --list, which no request bounds, are streamed after the
// commit instead when longer than about a frame (StreamedAdd); an add naming its contacts or
// rows is answered in one reply, bounded by its request's size.
DispatchReply addReply(AddResult result, const ImportResult* imported, bool may_stream) {
  json::object counts;
  if (imported != nullptr) {
    counts["imported"] = imported->imported;
    counts["updated"] = imported->updated;
    counts["errors"] = errorsJson(imported->errors);
  }
  if (may_stream && addListsBytes(result) > kFrameBytesMax) {
    DispatchReply streamed = succeed(json::object{});
    streamed.streamed = std::make_shared<StreamedAdd>(std::move(result), std::move(counts));
    return streamed;
  }
  json::array skipped;
  for (const SkippedContact& skip : result.skipped) skipped.push_back(skippedContactJson(skip));
  // When each added contact's next step goes out (null: not known until the sequence is
  // active, or it waits on a send or task).
  json::object first_at;
  first_at.reserve(result.added.size());  // no rehash as it grows
  for (std::size_t i = 0; i < result.added.size() && i < result.first_at.size(); ++i) {
    first_at[result.added[i]] = timeOrNull(result.first_at[i]);
  }
  json::object reply{{"added", json::array(result.added.begin(), result.added.end())},
                     {"skipped", std::move(skipped)},
                     {"first_at", std::move(first_at)}};
  for (const auto& field : counts) reply[field.key()] = field.value();
  return succeed(std::move(reply));
}

// Everything that can refuse an add is checked before its rows are imported, so a refused
// add changes nothing; a dry run stores nothing, its rows included: it previews them.
// The keys of the contacts a --where EXPR matches (engine/contact_query.hpp), in key order.
Result<std::vector<std::string>> keysWhere(const Engine& engine, const std::string& where) {
  Result<ContactQuery> query = ContactQuery::parse(where);
  if (!query.isOk()) return query.status();
  Result<Engine::ContactSearch> found = engine.searchContacts(query.value(), 0);
  if (!found.isOk()) return found.status();
  std::vector<std::string> keys;
  keys.reserve(found.value().contacts.size());
  for (const auto& contact : found.value().contacts) keys.emplace_back(contact->key());
  return keys;
}

DispatchReply addCommand(Engine& engine, const json::object& args, const Caller& caller,
                         TimeMs now_ms) {
  std::string sequence_id = stringArg(args, "sequence");
  if (sequence_id.empty()) return fail("bad_request", "add: 'sequence' is required");
  Result<const Sequence*> sequence = editableSequence(engine, sequence_id, caller);
  if (!sequence.isOk()) return replyFromStatus(sequence.status());
  Result<std::vector<ContactRow>> rows = rowsArg(args);
  if (!rows.isOk()) return fail("bad_request", rows.status().message());
  std::vector<std::string> keys = stringListArg(args, "contacts");
  Status checked = checkContactList(keys);
  if (!checked.isOk()) return fail("bad_request", "add: " + checked.message());
  const std::string where = stringArg(args, "where");
  if (!where.empty()) {
    Result<std::vector<std::string>> found = keysWhere(engine, where);
    if (!found.isOk()) return replyFromStatus(found.status());
    keys.insert(keys.end(), found.value().begin(), found.value().end());
  }
  // --list NAME...: every member of each list, in key order (a contact in two lists once).
  const std::vector<std::string> lists = stringListArg(args, "lists");
  if (!lists.empty()) {
    boost::unordered_flat_set<std::string> named(keys.begin(), keys.end());
    for (const std::string& name : lists) {
      const ContactList* list = engine.lists().find(name);
      if (list == nullptr) return fail("not_found", "unknown list '" + name + "'");
      for (const std::string& key : list->members) {
        if (named.insert(key).second) keys.push_back(key);
      }
    }
  }
  Result<AddOptions> options = addOptionsArg(engine, args, now_ms, caller);
  if (!options.isOk()) return replyFromStatus(options.status());
  const bool dry_run = options.value().dry_run;
  const bool has_rows = !rows.value().empty();
  ScreenedRows screened = screenRows(engine, std::move(rows.value()), caller);
  ImportResult imported;
  imported.imported = screened.imported;
  imported.updated = screened.updated;
  imported.keys = screened.keys;
  imported.errors = byLine(std::move(screened.errors));
  if (!dry_run) engine.putContacts(takeContacts(screened));
  keys.insert(keys.end(), imported.keys.begin(), imported.keys.end());
  Result<AddResult> result =
      dry_run
          ? engine.previewAdd(sequence_id, keys, screened.after, options.value(), caller, now_ms)
          : engine.add(sequence_id, keys, options.value(), caller, now_ms);
  if (!result.isOk()) return replyFromStatus(result.status());
  return addReply(std::move(result.value()), has_rows ? &imported : nullptr,
                  !where.empty() || !lists.empty());
}

DispatchReply statusCommand(Engine& engine, const json::object& args) {
  Result<StatusFilter> filter = statusFilterArg(args);
  if (!filter.isOk()) return replyFromStatus(filter.status());
  std::string sequence_id = stringArg(args, "sequence");
  Result<std::vector<StatusRow>> rows = engine.status(sequence_id, filter.value());
  if (!rows.isOk()) return replyFromStatus(rows.status());
  json::array contacts;
  for (const StatusRow& row : rows.value()) contacts.push_back(statusRowJson(row));
  return succeed(json::object{{"sequence", sequence_id}, {"contacts", std::move(contacts)}});
}

json::object summaryJson(const SequenceSummary& summary) {
  json::object counts;
  for (const auto& [status, count] : summary.counts) counts[status] = count;
  return json::object{{"id", summary.id},
                      {"name", summary.name},
                      {"owner", summary.owner},
                      {"active", summary.active},
                      {"counts", std::move(counts)}};
}

DispatchReply sequencesCommand(Engine& engine) {
  json::array sequences;
  for (const SequenceSummary& summary : engine.sequences()) {
    sequences.push_back(summaryJson(summary));
  }
  return succeed(json::object{{"sequences", std::move(sequences)}});
}

DispatchReply sequenceShowCommand(Engine& engine, const json::object& args) {
  std::string id = stringArg(args, "sequence");
  const Sequence* sequence = engine.findSequence(id);
  if (sequence == nullptr) return fail("not_found", "unknown sequence '" + id + "'");
  json::object result;
  for (const SequenceSummary& summary : engine.sequences()) {
    if (summary.id == id) result = summaryJson(summary);
  }
  result["schedule"] = sequence->schedule;
  result["timezone"] = sequence->timezone_from_contact ? "contact" : "schedule";
  result["mailboxes"] = json::array(sequence->mailboxes.begin(), sequence->mailboxes.end());
  json::array steps;
  for (std::size_t i = 0; i < sequence->steps.size(); ++i) {
    const Step& step = sequence->steps[i];
    std::string wait = step.wait_business_days ? std::to_string(step.wait_ms) + "bd"
                                               : formatDuration(step.wait_ms);
    steps.push_back(json::object{{"step_index", i},
                                 {"id", step.id.view()},
                                 {"type", stepTypeName(step.type)},
                                 {"wait", wait},
                                 {"subject", step.subject}});
  }
  result["steps"] = std::move(steps);
  // Who can edit: the owner and every user it is shared with (admins always can).
  const std::vector<std::string> shared = engine.shares().usersOf(id);
  json::array can_edit{json::value(sequence->owner)};
  for (const std::string& user : shared) {
    if (user != sequence->owner) can_edit.push_back(json::value(user));
  }
  result["shared_with"] = json::array(shared.begin(), shared.end());
  result["can_edit"] = std::move(can_edit);
  return succeed(std::move(result));
}

// The YAML of a new sequence NEW_ID: the source file of SEQ with its top-level `id:` replaced,
// comments and layout kept. Nothing is written: the operator saves it under sequences/ and
// reloads; the clone starts with no progress (rule 1: to start over, clone).
DispatchReply sequenceCloneCommand(Engine& engine, const json::object& args) {
  std::string id = stringArg(args, "sequence");
  std::string new_id = stringArg(args, "new_id");
  const Sequence* sequence = engine.findSequence(id);
  if (sequence == nullptr) return fail("not_found", "unknown sequence '" + id + "'");
  if (!isValidId(new_id)) {
    return fail("bad_request", "clone: '" + new_id +
                                   "' is not a valid id (letters, digits, '-' and '_', at most "
                                   "64 bytes)");
  }
  if (engine.findSequence(new_id) != nullptr) {
    return fail("failed", "clone: sequence '" + new_id + "' already exists");
  }
  std::ifstream file(sequence->source_path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  if (!file) return fail("failed", "clone: cannot read " + sequence->source_path);
  std::string text = contents.str();
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    if (text.compare(line_start, 3, "id:") == 0) {
      text.replace(line_start, line_end - line_start, "id: " + new_id);
      return succeed(json::object{{"id", new_id}, {"from", id}, {"yaml", text}});
    }
    line_start = line_end + 1;
  }
  return fail("failed", "clone: no top-level 'id:' line in " + sequence->source_path);
}

DispatchReply activationCommand(Engine& engine, const json::object& args, const Caller& caller,
                                TimeMs now_ms, bool activate) {
  std::string id = stringArg(args, "sequence");
  Result<const Sequence*> sequence = editableSequence(engine, id, caller);
  if (!sequence.isOk()) return replyFromStatus(sequence.status());
  Status status = activate ? engine.activate(id, caller, now_ms) : engine.deactivate(id, caller);
  if (!status.isOk()) return replyFromStatus(status);
  return succeed(json::object{{"sequence", id}, {"active", activate}});
}

DispatchReply contactShowCommand(Engine& engine, const json::object& args) {
  std::string key = stringArg(args, "contact");
  const PackedContact* contact = engine.findContact(key);
  if (contact == nullptr) return fail("not_found", "unknown contact '" + key + "'");
  json::object shown = contactJson(*contact);
  json::array sequences;
  for (const StatusRow& row : engine.enrollmentsOf(key)) {
    sequences.push_back(json::object{{"sequence", row.sequence},
                                     {"status", row.status},
                                     {"step", textOrNull(row.step)},
                                     {"step_index", row.step_index},
                                     {"next_at", timeOrNull(row.next_at_ms)}});
  }
  shown["sequences"] = std::move(sequences);
  return succeed(std::move(shown));
}

// contacts [--where EXPR] [--limit N]: stored contacts in key order, and how many matched.
DispatchReply contactsCommand(Engine& engine, const json::object& args) {
  Result<ContactsArgs> parsed = contactsArgs(args);
  if (!parsed.isOk()) return replyFromStatus(parsed.status());
  Result<Engine::ContactSearch> found =
      engine.searchContacts(parsed.value().query, parsed.value().limit);
  if (!found.isOk()) return replyFromStatus(found.status());
  json::array contacts;
  for (const auto& contact : found.value().contacts) contacts.push_back(contactRowJson(*contact));
  return succeed(
      json::object{{"matched", found.value().matched}, {"contacts", std::move(contacts)}});
}

// Editing a contact needs its owner or an admin (anyone when it has no owner); every field
// and the contact as it would be stored are checked against the limits first.
DispatchReply contactSetCommand(Engine& engine, const json::object& args, const Caller& caller) {
  std::string key = stringArg(args, "contact");
  Status checked = checkContactKey(key);
  if (!checked.isOk()) return fail("bad_request", "contact set: " + checked.message());
  Result<std::vector<ContactRow>> rows = rowsArg(args);
  if (!rows.isOk()) return fail("bad_request", rows.status().message());
  if (rows.value().size() != 1) return fail("bad_request", "contact set: one row of fields");
  const ContactRow& row = rows.value().front();
  const PackedContact* contact = engine.findContact(key);
  if (contact == nullptr) return fail("not_found", "unknown contact '" + key + "'");
  checked = checkRowFields(row);
  if (checked.isOk()) {
    const Contact before = contact->unpack();
    Result<Contact> after = contactAfterRow(&before, std::string(contact->key()), row);
    if (after.isOk()) checked = checkContactSize(after.value());
  }
  if (!checked.isOk()) {
    return fail("bad_request",
                "contact '" + std::string(contact->key()) + "': " + checked.message());
  }
  checked = checkCanEditContact(*contact, caller);
  if (!checked.isOk()) return replyFromStatus(checked);
  Status status = engine.setContactFields(key, row);
  // A value the field cannot take (a score of 120, an unknown time zone) is refused: exit 1.
  if (status.code() == StatusCode::kInvalidArgument) return fail("failed", status.message());
  if (!status.isOk()) return replyFromStatus(status);
  return succeed(contactJson(*engine.findContact(key)));
}

const std::map<std::string, OperatorAction, std::less<>> kOperatorCommands = {
    {"remove", OperatorAction::kRemove}, {"pause", OperatorAction::kPause},
    {"resume", OperatorAction::kResume}, {"finish", OperatorAction::kFinish},
    {"retry", OperatorAction::kRetry},   {"set_mailbox", OperatorAction::kSetMailbox}};

json::object skippedReasonJson(const SkippedReason& skip) {
  return json::object{{"contact", skip.contact}, {"reason", skip.reason}};
}

std::size_t contactsResultBytes(const ContactsResult& result) {
  std::size_t bytes = 0;
  for (const std::string& key : result.done) bytes += key.size() + 3;
  for (const std::string& key : result.may_duplicate) bytes += key.size() + 3;
  for (const SkippedReason& skip : result.skipped) {
    bytes += skip.contact.size() + skip.reason.size() + 32;
  }
  return bytes;
}

// A long answer of a command over contacts (`retry --all`): "done", "skipped" and, for a
// retry, "may_duplicate", then the reply with the sequence and those lists empty.
class StreamedContacts : public StreamedAnswer {
 public:
  StreamedContacts(std::string sequence_id, ContactsResult lists, bool retry)
      : sequence_id_(std::move(sequence_id)), lists_(std::move(lists)), retry_(retry) {}

  void write(PartWriter& writer) const override {
    for (const std::string& key : lists_.done) {
      if (!writer.put("done", json::serialize(json::string_view(key)))) return;
    }
    for (const SkippedReason& skip : lists_.skipped) {
      if (!writer.put("skipped", json::serialize(skippedReasonJson(skip)))) return;
    }
    for (const std::string& key : lists_.may_duplicate) {
      if (!writer.put("may_duplicate", json::serialize(json::string_view(key)))) return;
    }
    json::object reply{
        {"sequence", sequence_id_}, {"done", json::array()}, {"skipped", json::array()}};
    if (retry_) reply["may_duplicate"] = json::array();
    writer.finish(std::move(reply));
  }

 private:
  std::string sequence_id_;
  ContactsResult lists_;
  bool retry_;
};

DispatchReply operatorCommand(Engine& engine, OperatorAction action, const json::object& args,
                              const Caller& caller, TimeMs now_ms) {
  std::string sequence_id = stringArg(args, "sequence");
  OperatorRequest request;
  request.action = action;
  request.contacts = stringListArg(args, "contacts");
  request.all = boolArg(args, "all");
  request.reason = stringArg(args, "reason");
  request.mailboxes = stringListArg(args, "mailboxes");
  Status checked = checkContactList(request.contacts);
  if (checked.isOk()) checked = checkMailboxList(request.mailboxes);
  if (checked.isOk()) checked = checkText("--reason", request.reason, kFinishReasonBytesMax);
  if (!checked.isOk()) return fail("bad_request", checked.message());
  Result<const Sequence*> sequence = editableSequence(engine, sequence_id, caller);
  if (!sequence.isOk()) return replyFromStatus(sequence.status());
  std::string at = stringArg(args, "at");
  if (!at.empty()) {
    Result<TimeMs> at_ms = parseTimeArgument(at, now_ms);
    if (!at_ms.isOk()) return fail("bad_request", at_ms.status().message());
    request.at_ms = at_ms.value();
  }
  if (request.contacts.empty() && !request.all) {
    return fail("bad_request", "name at least one contact");
  }
  if (action == OperatorAction::kSetMailbox && request.mailboxes.empty()) {
    return fail("bad_request", "set-mailbox needs --mailbox or --rotate");
  }
  Result<ContactsResult> result = engine.operate(sequence_id, request, caller, now_ms);
  if (!result.isOk()) return replyFromStatus(result.status());
  const bool retry = action == OperatorAction::kRetry;
  // `--all` is the one form no request bounds: its lists stream when long.
  if (request.all && contactsResultBytes(result.value()) > kFrameBytesMax) {
    DispatchReply streamed = succeed(json::object{});
    streamed.streamed =
        std::make_shared<StreamedContacts>(sequence_id, std::move(result.value()), retry);
    return streamed;
  }
  json::array skipped;
  for (const SkippedReason& skip : result.value().skipped) {
    skipped.push_back(skippedReasonJson(skip));
  }
  const ContactsResult& done = result.value();
  json::object reply{{"sequence", sequence_id},
                     {"done", json::array(done.done.begin(), done.done.end())},
                     {"skipped", std::move(skipped)}};
  if (retry) {
    reply["may_duplicate"] = json::array(done.may_duplicate.begin(), done.may_duplicate.end());
  }
  return succeed(std::move(reply));
}

const std::map<std::string, EventKind, std::less<>> kEventKinds = {
    {"reply", EventKind::kReply},
    {"meeting_booked", EventKind::kMeetingBooked},
    {"unsubscribe", EventKind::kUnsubscribe},
    {"bounce", EventKind::kBounce},
    {"ooo", EventKind::kOoo},
    {"stage", EventKind::kStage}};

// An event needs edit rights on every sequence it would change, and `stage` (an edit of the
// contact's stage field) the right to edit the contact; without them nothing changes.
Status checkEventAllowed(const Engine& engine, const ContactEvent& event, const Caller& caller) {
  const PackedContact* contact = engine.findContact(event.contact);
  if (contact == nullptr) return Status::ok();  // applyEvent answers not_found
  if (event.kind == EventKind::kStage) {
    Contact staged = contact->unpack();
    staged.stage = event.stage;
    Status size = checkContactSize(staged);
    if (!size.isOk()) {
      return Status::invalidArgument("contact '" + std::string(contact->key()) +
                                     "': " + size.message());
    }
    Status allowed = checkCanEditContact(*contact, caller);
    if (!allowed.isOk()) return allowed;
  }
  for (const std::string& sequence_id : engine.sequencesChangedBy(event)) {
    const Sequence* sequence = engine.findSequence(sequence_id);
    if (sequence == nullptr) continue;
    Status allowed = checkCanEditSequence(*sequence, caller, engine.shares());
    if (!allowed.isOk()) return allowed;
  }
  return Status::ok();
}

DispatchReply eventCommand(Engine& engine, const json::object& args, const Caller& caller,
                           TimeMs now_ms) {
  std::string kind = stringArg(args, "kind");
  auto found = kEventKinds.find(kind);
  if (found == kEventKinds.end()) {
    return fail("bad_request", "unknown event '" + kind +
                                   "' (expected reply, meeting_booked, unsubscribe, bounce, ooo, "
                                   "stage)");
  }
  ContactEvent event;
  event.kind = found->second;
  event.contact = stringArg(args, "contact");
  event.sequence_id = stringArg(args, "sequence");
  event.stage = stringArg(args, "stage");
  if (event.kind == EventKind::kStage && event.stage.empty()) {
    return fail("bad_request", "event stage needs a STAGE");
  }
  Status checked = checkContactKey(event.contact);
  if (checked.isOk()) checked = checkText("STAGE", event.stage, kFieldValueBytesMax);
  if (!checked.isOk()) return fail("bad_request", "event: " + checked.message());
  checked = checkSequenceId(event.sequence_id);
  if (!checked.isOk()) return replyFromStatus(checked);
  std::string until = stringArg(args, "until");
  if (!until.empty()) {
    Result<TimeMs> until_ms = parseTimeArgument(until, now_ms);
    if (!until_ms.isOk()) return fail("bad_request", "--until: " + until_ms.status().message());
    event.until_ms = until_ms.value();
  }
  checked = checkEventAllowed(engine, event, caller);
  if (!checked.isOk()) return replyFromStatus(checked);
  Result<EventResult> result = engine.applyEvent(event, now_ms);
  if (!result.isOk()) return replyFromStatus(result.status());
  json::array changed;
  for (const auto& [sequence, status] : result.value().changed) {
    changed.push_back(json::object{{"sequence", sequence}, {"status", status}});
  }
  return succeed(json::object{
      {"contact", result.value().contact}, {"event", kind}, {"changed", std::move(changed)}});
}

}  // namespace

Result<TaskFilter> taskFilterArg(const Engine& engine, const json::object& args, TimeMs now_ms) {
  TaskFilter filter;
  filter.owner = stringArg(args, "owner");
  filter.sequence_id = stringArg(args, "sequence");
  if (!filter.sequence_id.empty() && engine.findSequence(filter.sequence_id) == nullptr) {
    return Status::notFound("unknown sequence '" + filter.sequence_id + "'");
  }
  std::string due_before = stringArg(args, "due_before");
  if (!due_before.empty()) {
    Result<TimeMs> due_before_ms = parseTimeArgument(due_before, now_ms);
    if (!due_before_ms.isOk()) {
      return Status::invalidArgument("--due-before: " + due_before_ms.status().message());
    }
    filter.due_before_ms = due_before_ms.value();
  }
  std::string state = stringArg(args, "state");
  if (!state.empty()) {
    filter.state = parseTaskState(state);
    if (!filter.state) {
      return Status::invalidArgument("--state: unknown task state '" + state +
                                     "' (open, completed or skipped)");
    }
  }
  return filter;
}

json::object taskRowJson(const TaskRow& row) {
  return json::object{{"id", row.id},
                      {"sequence", row.sequence},
                      {"contact", row.contact},
                      {"step", row.step},
                      {"type", row.type},
                      {"owner", row.owner},
                      {"due_at", timeOrNull(row.due_at_ms)},
                      {"state", row.state},
                      {"note", row.note}};
}

DispatchReply tasksCommand(Engine& engine, const json::object& args, TimeMs now_ms,
                           const std::vector<Task>& archived) {
  Result<TaskFilter> filter = taskFilterArg(engine, args, now_ms);
  if (!filter.isOk()) return replyFromStatus(filter.status());
  json::array tasks;
  for (const TaskRow& row : engine.tasks(filter.value(), archived)) {
    tasks.push_back(taskRowJson(row));
  }
  return succeed(json::object{{"tasks", std::move(tasks)}});
}

namespace {

DispatchReply finishTaskCommand(Engine& engine, const json::object& args, const Caller& caller,
                                TimeMs now_ms, bool skip) {
  const json::value* id = args.if_contains("id");
  if (id == nullptr || !(id->is_int64() || id->is_uint64()) ||
      (id->is_int64() && id->as_int64() <= 0)) {
    return fail("bad_request", "task: 'id' must be a positive number");
  }
  std::uint64_t task_id =
      id->is_uint64() ? id->as_uint64() : static_cast<std::uint64_t>(id->as_int64());
  Status status = engine.finishTask(task_id, skip, caller, now_ms);
  if (!status.isOk()) return replyFromStatus(status);
  return succeed(json::object{{"id", task_id}, {"state", skip ? "skipped" : "completed"}});
}

DispatchReply mailboxesCommand(Engine& engine, TimeMs now_ms) {
  json::array mailboxes;
  for (const MailboxRow& row : engine.mailboxes(now_ms)) {
    mailboxes.push_back(json::object{{"address", row.address},
                                     {"name", row.name},
                                     {"transport", row.transport},
                                     {"sent_today", row.sent_last_24h},
                                     {"daily_limit", row.daily_limit},
                                     {"sent_this_hour", row.sent_last_hour},
                                     {"hourly_limit", row.hourly_limit},
                                     {"next_free", timeOrNull(row.next_free_ms)}});
  }
  return succeed(json::object{{"mailboxes", std::move(mailboxes)}});
}

// report: a sequence's counts by step, variant and mailbox (engine/report.hpp), its mailboxes'
// sends per hour over the last day, and the contacts that need a person.
DispatchReply reportCommand(Engine& engine, const json::object& args, TimeMs now_ms) {
  Result<SequenceReport> built = engine.report(stringArg(args, "sequence"), now_ms);
  if (!built.isOk()) return replyFromStatus(built.status());
  return succeed(reportJson(built.value()));
}

// lists: every list with its owner and member count, by name.
DispatchReply listsCommand(Engine& engine) {
  json::array lists;
  for (const auto& [name, list] : engine.lists().all()) {
    lists.push_back(
        json::object{{"name", name}, {"owner", list.owner}, {"contacts", list.members.size()}});
  }
  return succeed(json::object{{"lists", std::move(lists)}});
}

// list show NAME: the list's members as contact rows, in key order.
DispatchReply listShowCommand(Engine& engine, const json::object& args) {
  const std::string name = stringArg(args, "list");
  const ContactList* list = engine.lists().find(name);
  if (list == nullptr) return fail("not_found", "unknown list '" + name + "'");
  json::array contacts;
  for (const std::string& key : list->members) {
    if (const PackedContact* contact = engine.findContact(key); contact != nullptr) {
      contacts.push_back(contactJson(*contact));
    }
  }
  return succeed(
      json::object{{"name", name}, {"owner", list->owner}, {"contacts", std::move(contacts)}});
}

// list add|remove NAME CONTACT...: by the list's owner or an admin; `list add NAME` alone
// makes an empty list.
DispatchReply listChangeCommand(Engine& engine, const json::object& args, const Caller& caller,
                                bool add) {
  const std::string name = stringArg(args, "list");
  std::vector<std::string> keys = stringListArg(args, "contacts");
  Status checked = checkContactList(keys);
  if (!checked.isOk()) return fail("bad_request", "list: " + checked.message());
  if (!add && keys.empty()) return fail("bad_request", "list remove: name at least one contact");
  Result<ContactsResult> result = engine.changeList(name, keys, add, caller);
  if (!result.isOk()) return replyFromStatus(result.status());
  json::array skipped;
  for (const SkippedReason& skip : result.value().skipped) {
    skipped.push_back(json::object{{"contact", skip.contact}, {"reason", skip.reason}});
  }
  const std::vector<std::string>& done = result.value().done;
  return succeed(json::object{{"list", name},
                              {"done", json::array(done.begin(), done.end())},
                              {"skipped", std::move(skipped)}});
}

// sequence share|unshare SEQ USER: by the sequence's owner or an admin.
DispatchReply shareCommand(Engine& engine, const json::object& args, const Caller& caller,
                           bool shared) {
  const std::string sequence_id = stringArg(args, "sequence");
  const std::string user = stringArg(args, "user");
  Status checked = checkSequenceId(sequence_id);
  if (!checked.isOk()) return replyFromStatus(checked);
  Status status = engine.share(sequence_id, user, shared, caller);
  if (!status.isOk()) return replyFromStatus(status);
  const std::vector<std::string> users = engine.shares().usersOf(sequence_id);
  return succeed(json::object{{"sequence", sequence_id},
                              {"user", user},
                              {"shared", shared},
                              {"shared_with", json::array(users.begin(), users.end())}});
}

// workflows: each one's filter, last and next run, and what its runs added and skipped.
DispatchReply workflowsCommand(Engine& engine) {
  json::array workflows;
  for (const Engine::WorkflowRow& row : engine.workflows()) {
    workflows.push_back(json::object{{"sequence", row.spec->sequence_id},
                                     {"from_list", row.spec->from_list},
                                     {"min_score", row.spec->min_score},
                                     {"where", textOrNull(row.spec->where)},
                                     {"every", formatDuration(row.spec->every_ms)},
                                     {"last_run", timeOrNull(row.run.last_run_ms)},
                                     {"next_run", timeOrNull(row.next_run_ms)},
                                     {"added", row.run.added_total},
                                     {"skipped", row.run.skipped_total},
                                     {"last_added", row.run.last_added},
                                     {"last_skipped", row.run.last_skipped}});
  }
  return succeed(json::object{{"workflows", std::move(workflows)}});
}

DispatchReply explainCommand(Engine& engine, const json::object& args) {
  Result<std::string> text =
      engine.explain(stringArg(args, "sequence"), stringArg(args, "contact"));
  if (!text.isOk()) return replyFromStatus(text.status());
  return succeed(json::object{{"explanation", text.value()}});
}

}  // namespace

Result<StatusFilter> statusFilterArg(const json::object& args) {
  StatusFilter filter;
  std::string status = stringArg(args, "status");
  if (!status.empty()) {
    EnrollmentStatus parsed;
    if (!parseEnrollmentStatus(status, parsed)) {
      return Status::invalidArgument("--status: unknown status '" + status + "'");
    }
    filter.status = parsed;
  }
  filter.paused_reason = stringArg(args, "paused_reason");
  std::string resume = stringArg(args, "resume_scheduled");
  if (resume == "yes") filter.resume_scheduled = true;
  if (resume == "no") filter.resume_scheduled = false;
  filter.search = stringArg(args, "search");
  if (const json::value* limit = args.if_contains("limit"); limit && limit->is_int64()) {
    filter.limit = static_cast<std::size_t>(std::max<std::int64_t>(0, limit->as_int64()));
  }
  return filter;
}

json::value timeOrNull(TimeMs time_ms) {
  if (time_ms == kNoTime) return nullptr;
  return json::value(formatRfc3339(time_ms));
}

DispatchReply replyFromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return succeed(json::object{});
    case StatusCode::kNotFound:
      return fail("not_found", status.message());
    case StatusCode::kPermissionDenied:
      return fail("permission_denied", status.message());
    case StatusCode::kInvalidArgument:
      return fail("bad_request", status.message());
    default:
      return fail("failed", status.message());
  }
}

DispatchReply dispatchCommand(Engine& engine, const std::string& cmd, const json::object& args,
                              const Caller& caller, TimeMs now_ms) {
  if (cmd == "import") return importCommand(engine, args, caller);
  if (cmd == "add") return addCommand(engine, args, caller, now_ms);
  if (cmd == "status") return statusCommand(engine, args);
  if (cmd == "sequences") return sequencesCommand(engine);
  if (cmd == "sequence_show") return sequenceShowCommand(engine, args);
  if (cmd == "sequence_clone") return sequenceCloneCommand(engine, args);
  if (cmd == "sequence_activate") return activationCommand(engine, args, caller, now_ms, true);
  if (cmd == "sequence_deactivate") {
    return activationCommand(engine, args, caller, now_ms, false);
  }
  if (cmd == "contact_show") return contactShowCommand(engine, args);
  if (cmd == "contacts") return contactsCommand(engine, args);
  if (cmd == "contact_set") return contactSetCommand(engine, args, caller);
  if (auto action = kOperatorCommands.find(cmd); action != kOperatorCommands.end()) {
    return operatorCommand(engine, action->second, args, caller, now_ms);
  }
  if (cmd == "event") return eventCommand(engine, args, caller, now_ms);
  if (cmd == "explain") return explainCommand(engine, args);
  if (cmd == "lists") return listsCommand(engine);
  if (cmd == "workflows") return workflowsCommand(engine);
  if (cmd == "list_show") return listShowCommand(engine, args);
  if (cmd == "list_add") return listChangeCommand(engine, args, caller, true);
  if (cmd == "list_remove") return listChangeCommand(engine, args, caller, false);
  if (cmd == "sequence_share") return shareCommand(engine, args, caller, true);
  if (cmd == "sequence_unshare") return shareCommand(engine, args, caller, false);
  if (cmd == "tasks") return tasksCommand(engine, args, now_ms, {});
  if (cmd == "mailboxes") return mailboxesCommand(engine, now_ms);
  if (cmd == "report") return reportCommand(engine, args, now_ms);
  if (cmd == "task_complete") return finishTaskCommand(engine, args, caller, now_ms, false);
  if (cmd == "task_skip") return finishTaskCommand(engine, args, caller, now_ms, true);
  return fail("unknown_command", "unknown command '" + cmd + "'");
}

}  // namespace seqd
