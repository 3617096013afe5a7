#include "daemon/seqctl_cli.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/display_width.hpp"
#include "daemon/report_html.hpp"
#include "daemon/seqctl_help.hpp"
#include "daemon/terminal_text.hpp"
#include "engine/contact.hpp"
#include "io/control_client.hpp"
#include "io/csv_reader.hpp"
#include "io/csv_upload.hpp"
#include "io/request_checks.hpp"

namespace seqd {
namespace {

namespace json = boost::json;

constexpr const char* kSystemSocket = "/run/seqd/control.sock";
constexpr const char* kDevSocket = "./var/control.sock";
// The progress bar is redrawn at most this often, and is this many cells wide.
constexpr auto kProgressRedrawInterval = std::chrono::milliseconds(100);
constexpr std::size_t kProgressBarCells = 30;
// Names of one `add --contact` request take at most this many bytes of JSON text (the rest of
// its frame holds the options).
constexpr std::size_t kContactsRequestBytesMax = kFrameBytesMax - 64 * 1024;

struct UsageError {
  std::string message;
};

// The bad rows of an import or add --csv: the first kCsvErrorsListedMax found, and how many
// more there were, so seqctl's memory does not grow with a file of bad rows.
struct RowErrors {
  json::array listed;
  std::size_t unlisted = 0;
};

struct Invocation {
  std::string socket_path;
  bool json_output = false;
  bool help = false;               // --help or -h anywhere
  std::vector<std::string> words;  // the command and its arguments
};

class Cli {
 public:
  explicit Cli(Invocation invocation) : invocation_(std::move(invocation)) {}
  int run();

 private:
  int connect();
  // Sends one request. On a failed reply prints the error and returns its exit code.
  int call(const std::string& cmd, json::object args, json::object& result);
  // Sends a read whose rows may stream (io/status_stream.hpp): "rows" events, each with the
  // answer's other fields as its "head", then the reply with the last rows in its array
  // `rows_key`. With --json it prints the one document the whole answer is as the rows come;
  // else it passes each batch of rows to print_rows, the reply's last (empty when none came
  // with it). It holds one frame's rows at a time, whatever the answer's size. `result` gets
  // the reply's result. On a failed reply prints the error and returns its exit code.
  int readRows(const std::string& cmd, json::object args, std::string_view rows_key,
               const std::function<void(const json::array&)>& print_rows, json::object& result);
  // Sends one request whose answer may come in "part" events (a long `add --where` or
  // `retry --all`: io/part_writer.hpp), passing each part's result, then the reply's, to
  // on_result. On a failed reply prints the error and returns its exit code.
  int callInParts(const std::string& cmd, json::object args,
                  const std::function<void(const json::object&)>& on_result);
  // The exit code of a reply frame: an ok reply's result goes to `result`, a failed one is
  // printed.
  int replyCode(const std::string& cmd, const json::object& frame, json::object& result);
  // Streams a CSV file as `cmd` requests (io/csv_upload.hpp), passing each reply's result to
  // on_result; the file's bad rows go to `errors`. Returns the exit code of the first failed
  // reply (no request is sent after it), else kExitOk.
  int uploadFile(const std::string& cmd, const std::string& path,
                 const std::vector<std::string>& maps, const json::object& base, bool first_alone,
                 RowErrors& errors, const std::function<void(const json::object&)>& on_result);
  // `add --contact`: the names in requests of at most kContactsRequestBytesMax, the first
  // alone, the rest pipelined.
  int sendContacts(const json::object& base, const json::array& contacts,
                   const std::function<void(const json::object&)>& on_result);
  int printResult(const json::object& result, int exit_code);
  int simple(const std::string& cmd, json::object args);

  int ping();
  int reload();
  int sequences();
  int sequence();
  int sequenceClone();
  int import();
  int contact();
  int add();
  int status();
  int time();
  int operate(const std::string& command);
  int event();
  int explain();
  int tasks();
  int mailboxes();
  int inbox();
  int contacts();
  int task();
  int lists();
  int list();
  int workflows();
  int report();
  int share(const std::string& action);

  const std::string& word(std::size_t index, const char* what) const;
  long limitArgument(std::size_t index) const;  // the N of --limit N

  Invocation invocation_;
  std::optional<ControlClient> client_;
};

// A call that got no reply: the daemon cannot be reached (an I/O error), seqctl refused to send
// the request (too large: a usage error), or the daemon's reply was refused (too large).
int exitCodeForCallFailure(const Status& status) {
  if (status.code() == StatusCode::kIOError) return kExitUnreachable;
  if (status.code() == StatusCode::kInvalidArgument) return kExitUsage;
  return kExitFailed;
}

// The command as the user typed it, for messages: "contact show", "status", "time advance".
std::string typedCommand(const std::vector<std::string>& words) {
  static const char* const kWithAction[] = {"sequence", "contact", "event", "task", "time", "list"};
  if (words.empty()) return "seqctl";
  std::string typed = words[0];
  for (const char* command : kWithAction) {
    if (typed == command && words.size() > 1 && words[1].rfind("-", 0) != 0) {
      typed += " " + words[1];
    }
  }
  return typed;
}

std::string textOf(const json::value& value) {
  if (value.is_string()) return std::string(value.as_string());
  if (value.is_null()) return "-";
  return json::serialize(value);
}

const json::value& member(const json::object& object, std::string_view name) {
  static const json::value kNull;
  const json::value* value = object.if_contains(name);
  return value == nullptr ? kNull : *value;
}

// Prints a table whose rows come in batches (a streamed answer): the header goes out with the
// first batch, and each column is as wide as its widest cell seen so far (one batch: as wide
// as its widest cell).
class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> headers) : headers_(std::move(headers)) {
    for (const std::string& header : headers_) widths_.push_back(displayWidth(header));
  }

  void print(const std::vector<std::vector<std::string>>& rows) {
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size() && i < widths_.size(); ++i) {
        widths_[i] = std::max(widths_[i], displayWidth(row[i]));
      }
    }
    if (!header_printed_) printRow(headers_);
    header_printed_ = true;
    for (const auto& row : rows) printRow(row);
    std::cout.flush();
  }

 private:
  void printRow(const std::vector<std::string>& cells) const {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) line += std::string(widths_[i] - displayWidth(cells[i]) + 2, ' ');
    }
    std::cout << line << "\n";
  }

  std::vector<std::string> headers_;
  std::vector<std::size_t> widths_;
  bool header_printed_ = false;
};

// Prints rows under headers in columns as wide as their widest cell.
void printTable(const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows) {
  TablePrinter(headers).print(rows);
}

// Normalises a CSV header ("First Name", "Email Address") to a contact field name.
std::string fieldForHeader(const std::string& header) {
  std::string name;
  for (char c : header) {
    if (c == ' ' || c == '-' || c == '.')
      name += '_';
    else if (c >= 'A' && c <= 'Z')
      name += static_cast<char>(c - 'A' + 'a');
    else
      name += c;
  }
  static const std::map<std::string, std::string> kAliases = {
      {"email_address", "email"},  {"e_mail", "email"},        {"company_name", "company"},
      {"time_zone", "timezone"},   {"tz", "timezone"},         {"prospect_score", "score"},
      {"firstname", "first_name"}, {"lastname", "last_name"},  {"job_title", "title"},
      {"contact_owner", "owner"},  {"contact_stage", "stage"}, {"do_not_call", "dnc"}};
  auto alias = kAliases.find(name);
  return alias == kAliases.end() ? name : alias->second;
}

int Cli::connect() {
  if (client_) return kExitOk;
  Result<ControlClient> client = ControlClient::connect(invocation_.socket_path);
  if (!client.isOk()) {
    std::cerr << "seqctl: " << client.status().message() << "\n";
    return kExitUnreachable;
  }
  client_.emplace(std::move(client.value()));
  return kExitOk;
}

int Cli::call(const std::string& cmd, json::object args, json::object& result) {
  int connected = connect();
  if (connected != kExitOk) return connected;
  Result<json::object> reply = client_->call(cmd, std::move(args));
  if (!reply.isOk()) {
    std::cerr << "seqctl: " << cmd << ": " << reply.status().message() << "\n";
    return exitCodeForCallFailure(reply.status());
  }
  return replyCode(cmd, reply.value(), result);
}

// --json prints {HEAD...,"KEY":[ when the first rows come, each row as it comes, and ]} after
// the reply's: the bytes json::serialize gives the whole result, as the daemon builds it
// (RowFrameWriter: the array last). An answer in one frame is printed as it came.
int Cli::readRows(const std::string& cmd, json::object args, std::string_view rows_key,
                  const std::function<void(const json::array&)>& print_rows, json::object& result) {
  int connected = connect();
  if (connected != kExitOk) return connected;
  std::optional<json::object> printed_head;  // set once "{HEAD...,"KEY":[" is printed
  bool first_row = true;
  const auto printBatch = [&](const json::array& rows) {
    if (!invocation_.json_output) return print_rows(rows);
    for (const json::value& row : rows) {
      if (!first_row) std::cout << ',';
      first_row = false;
      std::cout << json::serialize(row);
    }
  };
  const auto onEvent = [&](const json::object& frame) {
    const json::value& rows = member(frame, "rows");
    if (member(frame, "event") != "rows" || !rows.is_array()) return;
    if (invocation_.json_output && !printed_head) {
      const json::value& head = member(frame, "head");
      printed_head = head.is_object() ? head.as_object() : json::object();
      json::object shape = *printed_head;
      shape[rows_key] = json::array();
      const std::string text = json::serialize(shape);  // {HEAD...,"KEY":[]}
      std::cout << std::string_view(text).substr(0, text.size() - 2);
    }
    printBatch(rows.as_array());
  };
  Result<json::object> reply = client_->call(cmd, std::move(args), onEvent);
  if (!reply.isOk()) {
    if (printed_head) std::cout << std::endl;
    std::cerr << "seqctl: " << cmd << ": " << reply.status().message() << "\n";
    return exitCodeForCallFailure(reply.status());
  }
  const int code = replyCode(cmd, reply.value(), result);
  if (code != kExitOk) {
    if (printed_head) std::cout << std::endl;
    return code;
  }
  if (invocation_.json_output && !printed_head) return printResult(result, kExitOk);
  static const json::array kNoRows;
  const json::value* last = result.if_contains(rows_key);
  printBatch(last != nullptr && last->is_array() ? last->as_array() : kNoRows);
  if (!invocation_.json_output) return kExitOk;
  std::cout << "]}\n";
  // What was printed before the rows must be what the reply says (a seqd of another version
  // may not send the head).
  json::object head;
  for (const auto& field : result) {
    if (field.key() != rows_key) head[field.key()] = field.value();
  }
  if (head != *printed_head) {
    std::cerr << "seqctl: " << cmd << ": the answer's fields " << json::serialize(head)
              << " are not those printed before its rows, " << json::serialize(*printed_head)
              << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

int Cli::callInParts(const std::string& cmd, json::object args,
                     const std::function<void(const json::object&)>& on_result) {
  int connected = connect();
  if (connected != kExitOk) return connected;
  const auto onEvent = [&](const json::object& frame) {
    const json::value& part = member(frame, "result");
    if (member(frame, "event") == "part" && part.is_object()) on_result(part.as_object());
  };
  Result<json::object> reply = client_->call(cmd, std::move(args), onEvent);
  if (!reply.isOk()) {
    std::cerr << "seqctl: " << cmd << ": " << reply.status().message() << "\n";
    return exitCodeForCallFailure(reply.status());
  }
  json::object result;
  int code = replyCode(cmd, reply.value(), result);
  if (code == kExitOk) on_result(result);
  return code;
}

// Errors name the command as typed ("contact show:"), not its protocol name.
int Cli::replyCode(const std::string& /*cmd*/, const json::object& frame, json::object& result) {
  const json::value& ok = member(frame, "ok");
  if (ok.is_bool() && ok.as_bool()) {
    const json::value& payload = member(frame, "result");
    result = payload.is_object() ? payload.as_object() : json::object{};
    return kExitOk;
  }
  const json::value& error = member(frame, "error");
  std::string code = error.is_object() ? textOf(member(error.as_object(), "code")) : "failed";
  std::string message = error.is_object() ? textOf(member(error.as_object(), "message")) : "";
  std::cerr << "seqctl: " << typedCommand(invocation_.words) << ": " << message << "\n";
  return exitCodeForError(code);
}

int Cli::printResult(const json::object& result, int exit_code) {
  if (invocation_.json_output) std::cout << json::serialize(result) << "\n";
  return exit_code;
}

int Cli::simple(const std::string& cmd, json::object args) {
  json::object result;
  int code = call(cmd, std::move(args), result);
  if (code != kExitOk) return code;
  if (!invocation_.json_output) {
    for (const auto& field : result) {
      std::cout << field.key() << ": " << textOf(field.value()) << "\n";
    }
  }
  return printResult(result, kExitOk);
}

const std::string& Cli::word(std::size_t index, const char* what) const {
  if (index >= invocation_.words.size()) throw UsageError{std::string("missing ") + what};
  return invocation_.words[index];
}

long Cli::limitArgument(std::size_t index) const {
  const std::string& limit = word(index, "--limit N");
  char* end = nullptr;
  const long value = std::strtol(limit.c_str(), &end, 10);
  if (end == limit.c_str() || *end != '\0' || value < 0) throw UsageError{"--limit wants a number"};
  return value;
}

int Cli::run() {
  const std::string& command = word(0, "command");
  if (invocation_.help) {
    std::string text = seqctlHelp(command);
    if (text.empty()) throw UsageError{"unknown command '" + command + "'"};
    std::cout << text;
    return kExitOk;
  }
  if (command == "help") {
    if (invocation_.words.size() == 1) {
      std::cout << seqctlOverview();
      return kExitOk;
    }
    std::string text = seqctlHelp(invocation_.words[1]);
    if (text.empty()) throw UsageError{"help: unknown command '" + invocation_.words[1] + "'"};
    std::cout << text;
    return kExitOk;
  }
  if (command == "ping") return ping();
  if (command == "version") return simple("version", {});
  if (command == "reload") return reload();
  if (command == "sequences") return sequences();
  if (command == "sequence") return sequence();
  if (command == "import") return import();
  if (command == "contact") return contact();
  if (command == "contacts") return contacts();
  if (command == "lists") return lists();
  if (command == "workflows") return workflows();
  if (command == "list") return list();
  if (command == "add") return add();
  if (command == "status") return status();
  if (command == "time") return time();
  if (command == "remove" || command == "pause" || command == "resume" || command == "finish" ||
      command == "retry" || command == "set-mailbox") {
    return operate(command);
  }
  if (command == "event") return event();
  if (command == "explain") return explain();
  if (command == "tasks") return tasks();
  if (command == "mailboxes") return mailboxes();
  if (command == "report") return report();
  if (command == "inbox") return inbox();
  if (command == "task") return task();
  throw UsageError{"unknown command '" + command + "'"};
}

// reload [--dry-run] [--force]: what moves where, and what needs --force.
int Cli::reload() {
  json::object args;
  for (std::size_t i = 1; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--dry-run") {
      args["dry_run"] = true;
    } else if (current == "--force") {
      args["force"] = true;
    } else {
      throw UsageError{"reload: unknown argument '" + current + "'"};
    }
  }
  json::object result;
  int code = call("reload", std::move(args), result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  const bool dry_run = member(result, "dry_run").is_bool() && member(result, "dry_run").as_bool();
  std::cout << (dry_run ? "reload (dry run): " : "reloaded: ")
            << textOf(member(result, "sequences")) << " sequences\n";
  if (const json::value& moves = member(result, "moves"); moves.is_array()) {
    for (const json::value& item : moves.as_array()) {
      const json::object& move = item.as_object();
      auto stepName = [](const json::value& step) {
        return step.is_string() ? std::string(step.as_string()) : std::string("(none)");
      };
      std::cout << textOf(member(move, "sequence")) << ": " << textOf(member(move, "contacts"))
                << " contacts move from " << stepName(member(move, "from")) << " to "
                << (member(move, "to").is_string() ? stepName(member(move, "to"))
                                                   : std::string("(finished)"))
                << "\n";
    }
  }
  if (const json::value& force = member(result, "needs_force"); force.is_array()) {
    for (const json::value& item : force.as_array()) {
      std::cout << "needs --force: " << textOf(item) << "\n";
    }
  }
  return kExitOk;
}

int Cli::ping() {
  json::object result;
  int code = call("ping", {}, result);
  if (code != kExitOk) return code;
  if (!invocation_.json_output)
    std::cout << "pong (seqd " << textOf(member(result, "version")) << ")\n";
  return printResult(result, kExitOk);
}

int Cli::sequences() {
  json::object result;
  int code = call("sequences", {}, result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::vector<std::vector<std::string>> rows;
  for (const json::value& item : member(result, "sequences").as_array()) {
    const json::object& sequence = item.as_object();
    std::string counts;
    for (const auto& count : member(sequence, "counts").as_object()) {
      if (!counts.empty()) counts += ' ';
      counts += count.key();
      counts += '=';
      counts += textOf(count.value());
    }
    rows.push_back({textOf(member(sequence, "id")), textOf(member(sequence, "name")),
                    textOf(member(sequence, "owner")),
                    member(sequence, "active").as_bool() ? "yes" : "no", counts});
  }
  printTable({"ID", "NAME", "OWNER", "ACTIVE", "COUNTS"}, rows);
  return kExitOk;
}

int Cli::sequence() {
  const std::string& action = word(1, "sequence action (show, activate, deactivate)");
  json::object args{{"sequence", word(2, "sequence id")}};
  if (action == "activate" || action == "deactivate") {
    json::object result;
    int code = call("sequence_" + action, std::move(args), result);
    if (code != kExitOk) return code;
    if (!invocation_.json_output) {
      std::cout << "sequence " << textOf(member(result, "sequence")) << " "
                << (action == "activate" ? "activated" : "deactivated") << "\n";
    }
    return printResult(result, kExitOk);
  }
  if (action == "clone") return sequenceClone();
  if (action == "share" || action == "unshare") return share(action);
  if (action == "show") {
    json::object result;
    int code = call("sequence_show", std::move(args), result);
    if (code != kExitOk) return code;
    if (invocation_.json_output) return printResult(result, kExitOk);
    std::cout << textOf(member(result, "id")) << ": " << textOf(member(result, "name"))
              << " (owner " << textOf(member(result, "owner")) << ", "
              << (member(result, "active").as_bool() ? "active" : "inactive") << ")\n";
    for (const json::value& item : member(result, "steps").as_array()) {
      const json::object& step = item.as_object();
      std::cout << fmt::format("  {:>2}. {:<16} {:<13} wait {:<6} {}\n",
                               textOf(member(step, "step_index")), textOf(member(step, "id")),
                               textOf(member(step, "type")), textOf(member(step, "wait")),
                               textOf(member(step, "subject")));
    }
    std::string editors;
    if (const json::value& can_edit = member(result, "can_edit"); can_edit.is_array()) {
      for (const json::value& user : can_edit.as_array()) {
        editors += (editors.empty() ? "" : ", ") + textOf(user);
      }
    }
    std::cout << "can edit: " << editors << " (and admins)\n";
    return kExitOk;
  }
  throw UsageError{"unknown sequence action '" + action + "'"};
}

int Cli::sequenceClone() {
  json::object args{{"sequence", word(2, "sequence id")}, {"new_id", word(3, "NEW_ID")}};
  std::string output;
  for (std::size_t i = 4; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "-o" || current == "--output") {
      output = word(++i, "-o FILE");
    } else {
      throw UsageError{"sequence clone: unexpected '" + current + "'"};
    }
  }
  json::object result;
  int code = call("sequence_clone", std::move(args), result);
  if (code != kExitOk) return code;
  std::string yaml = textOf(member(result, "yaml"));
  if (output.empty()) {
    if (invocation_.json_output) return printResult(result, kExitOk);
    rawStdout() << yaml << std::flush;  // the file's bytes, as -o would write them
    return kExitOk;
  }
  // Never overwrite: the file may be a sequence with progress behind it.
  int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::cerr << "seqctl: sequence clone: cannot create " << output << ": " << std::strerror(errno)
              << "\n";
    return kExitFailed;
  }
  bool written = ::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size());
  written = ::close(fd) == 0 && written;
  if (!written) {
    std::cerr << "seqctl: sequence clone: cannot write " << output << "\n";
    return kExitFailed;
  }
  result.erase("yaml");
  result["file"] = output;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::cout << "wrote " << output << ": sequence " << textOf(member(result, "id")) << " (a copy of "
            << textOf(member(result, "from")) << "); `seqctl reload` to load it\n";
  return kExitOk;
}

void printRowErrors(const RowErrors& errors) {
  for (const json::value& item : errors.listed) {
    const json::object& error = item.as_object();
    std::cout << "line " << textOf(member(error, "line")) << ": " << textOf(member(error, "reason"))
              << "\n";
  }
  if (errors.unlisted > 0) {
    std::cout << "and " << errors.unlisted << " more bad rows, not listed (the first "
              << kCsvErrorsListedMax << " are)\n";
  }
}

// Keeps the first kCsvErrorsListedMax bad rows and counts the rest.
void appendRowErrors(RowErrors& errors, const json::value& source) {
  if (!source.is_array()) return;
  for (const json::value& item : source.as_array()) {
    if (errors.listed.size() < kCsvErrorsListedMax) {
      errors.listed.push_back(item);
    } else {
      ++errors.unlisted;
    }
  }
}

// SPEC §4's "errors", and "errors_unlisted" beside it when the list was cut.
void putRowErrors(json::object& result, const RowErrors& errors) {
  result["errors"] = errors.listed;
  if (errors.unlisted > 0) result["errors_unlisted"] = errors.unlisted;
}

// Adds a part of a streamed answer (io/part_writer.hpp) to the answer so far: its arrays'
// entries after those before, its objects' members beside them, its other fields as they are.
void mergeAnswer(json::object& answer, const json::object& part) {
  for (const auto& field : part) {
    json::value& into = answer[field.key()];
    if (field.value().is_array()) {
      if (!into.is_array()) into = json::array();
      for (const json::value& item : field.value().as_array()) into.as_array().push_back(item);
    } else if (field.value().is_object()) {
      if (!into.is_object()) into = json::object();
      for (const auto& entry : field.value().as_object()) {
        into.as_object()[entry.key()] = entry.value();
      }
    } else {
      into = field.value();
    }
  }
}

void appendAll(json::array& target, const json::value& source) {
  if (!source.is_array()) return;
  for (const json::value& item : source.as_array()) target.push_back(item);
}

// The `added` and `first_at` of an add, kept as JSON text as the replies come, a piece per
// reply: a json::object of 200k members, rehashed as it grew, copied and then serialized
// whole, was a third of seqctl's CPU in `add --csv --json` (perf/RESULTS.md). A key given
// twice in `first_at` (a dry run naming a contact twice) keeps its first place and takes its
// last time, as json::object's operator[] did; keys are told apart by a 64-bit hash of their
// text (two different keys with one hash, about 1 in 10^9 at 200k keys, would put the second
// at the end of the object instead of in its place: the same JSON object).
class AddedText {
 public:
  void appendAdded(const json::value& keys) {
    if (!keys.is_array() || keys.as_array().empty()) return;
    std::string& piece = added_.emplace_back();
    piece.reserve(keys.as_array().size() * 32);
    for (const json::value& key : keys.as_array()) {
      if (!piece.empty()) piece += ',';
      append(piece, key);
    }
  }
  void putFirstAt(const json::value& times) {
    if (!times.is_object() || times.as_object().empty()) return;
    std::string& piece = first_at_.emplace_back();
    piece.reserve(times.as_object().size() * 64);
    for (const auto& entry : times.as_object()) {
      const json::string_view key = entry.key();
      if (!first_at_keys_.insert(fnv1a64({key.data(), key.size()})).second) {
        first_at_again_.emplace_back(key, entry.value());
        continue;
      }
      if (!piece.empty()) piece += ',';
      serializer_.reset(key);
      drain(piece);
      piece += ':';
      append(piece, entry.value());
    }
  }
  void printAdded(std::ostream& out) const { printJoined(out, '[', added_, ']'); }
  void printFirstAt(std::ostream& out) const {
    if (first_at_again_.empty()) return printJoined(out, '{', first_at_, '}');
    std::ostringstream text;
    printJoined(text, '{', first_at_, '}');
    json::object merged = json::parse(text.str()).as_object();
    for (const auto& [key, at] : first_at_again_) merged[key] = at;
    out << json::serialize(merged);
  }
  json::value added() const { return parsed(&AddedText::printAdded); }
  json::value firstAt() const { return parsed(&AddedText::printFirstAt); }

 private:
  static void printJoined(std::ostream& out, char open, const std::vector<std::string>& pieces,
                          char close) {
    out << open;
    bool first = true;
    for (const std::string& piece : pieces) {
      if (piece.empty()) continue;  // a reply whose keys all came before
      out << (first ? "" : ",") << piece;
      first = false;
    }
    out << close;
  }
  json::value parsed(void (AddedText::*print)(std::ostream&) const) const {
    std::ostringstream text;
    (this->*print)(text);
    return json::parse(text.str());
  }
  void append(std::string& out, const json::value& value) {
    serializer_.reset(&value);
    drain(out);
  }
  void drain(std::string& out) {
    char buffer[512];
    while (!serializer_.done()) {
      const json::string_view piece = serializer_.read(buffer, sizeof buffer);
      out.append(piece.data(), piece.size());
    }
  }

  json::serializer serializer_;
  std::vector<std::string> added_;
  std::vector<std::string> first_at_;
  boost::unordered_flat_set<std::uint64_t> first_at_keys_;  // fnv1a64 of each key
  std::vector<std::pair<std::string, json::value>> first_at_again_;
};

std::int64_t countOf(const json::object& object, std::string_view name) {
  const json::value& value = member(object, name);
  return value.is_int64() ? value.as_int64()
                          : (value.is_uint64() ? static_cast<std::int64_t>(value.as_uint64()) : 0);
}

// Row errors from several requests and from the file itself, in the file's line order.
void sortByLine(json::array& errors) {
  std::stable_sort(errors.begin(), errors.end(), [](const json::value& a, const json::value& b) {
    return countOf(a.as_object(), "line") < countOf(b.as_object(), "line");
  });
}

// A progress bar on stderr: the share of the file read, rows sent and their rate, redrawn in
// place at most every kProgressRedrawInterval and cleared at the end. Does nothing when
// disabled (stderr is not a terminal, or --json).
class ProgressBar {
 public:
  ProgressBar(bool enabled, std::string label, std::size_t file_bytes)
      : enabled_(enabled),
        label_(std::move(label)),
        file_bytes_(file_bytes),
        started_(std::chrono::steady_clock::now()) {}
  ~ProgressBar() { clear(); }

  void update(std::size_t bytes_read, std::size_t rows_sent) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_drawn_ < kProgressRedrawInterval) return;
    drawn_ = true;
    last_drawn_ = now;
    double share =
        file_bytes_ == 0
            ? 1.0
            : std::min(1.0, static_cast<double>(bytes_read) / static_cast<double>(file_bytes_));
    auto cells = static_cast<std::size_t>(share * kProgressBarCells);
    double seconds = std::chrono::duration<double>(now - started_).count();
    auto rate = seconds > 0 ? static_cast<std::uint64_t>(static_cast<double>(rows_sent) / seconds)
                            : std::uint64_t{0};
    rawStderr() << fmt::format("\r{} [{}{}] {:3}% {} rows, {} rows/s\x1b[K", label_,
                               std::string(cells, '#'), std::string(kProgressBarCells - cells, '.'),
                               static_cast<int>(share * 100), rows_sent, rate)
                << std::flush;
  }

  void clear() {
    if (!enabled_ || !drawn_) return;
    rawStderr() << "\r\x1b[K" << std::flush;
    drawn_ = false;
  }

 private:
  bool enabled_;
  std::string label_;
  std::size_t file_bytes_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_drawn_;
  bool drawn_ = false;
};

constexpr const char* kFileReadError = "cannot read the file: ";

// The file's bytes for the CSV reader, read as it asks.
class FileSource {
 public:
  explicit FileSource(int fd) : fd_(fd) {}
  Result<std::size_t> operator()(char* buffer, std::size_t size) const {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      ssize_t got = ::read(fd_, buffer, size);
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) break;
    }
    return Status::ioError(std::string(kFileReadError) + std::strerror(errno));
  }

 private:
  int fd_;
};

int Cli::uploadFile(const std::string& cmd, const std::string& path,
                    const std::vector<std::string>& maps, const json::object& base,
                    bool first_alone, RowErrors& errors,
                    const std::function<void(const json::object&)>& on_result) {
  std::map<std::string, std::string> mapping;
  for (const std::string& map : maps) {
    std::size_t equals = map.find('=');
    if (equals == std::string::npos)
      throw UsageError{"--map wants COLUMN=field, got '" + map + "'"};
    mapping[map.substr(0, equals)] = map.substr(equals + 1);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::cerr << "seqctl: " << cmd << ": cannot read " << path << ": " << std::strerror(errno)
              << "\n";
    return kExitFailed;
  }
  struct stat info {};
  std::size_t file_bytes = ::fstat(fd, &info) == 0 ? static_cast<std::size_t>(info.st_size) : 0;
  int connected = connect();
  if (connected != kExitOk) {
    ::close(fd);
    return connected;
  }
  ProgressBar bar(isatty(STDERR_FILENO) && !invocation_.json_output,
                  cmd == "import" ? "importing" : "adding", file_bytes);
  int failed = kExitOk;
  UploadOptions options;
  options.cmd = cmd;
  options.base_args = base;
  options.first_alone = first_alone;
  options.field_for_column = [&](const std::string& column) {
    auto mapped = mapping.find(column);
    return mapped != mapping.end() ? mapped->second : fieldForHeader(column);
  };
  // A --map for a column the file does not have would map nothing, silently: refused.
  options.check_header = [&](const std::vector<std::string>& header) {
    for (const auto& [column, field] : mapping) {
      if (std::find(header.begin(), header.end(), column) != header.end()) continue;
      std::string columns;
      for (const std::string& name : header) columns += (columns.empty() ? "" : ", ") + name;
      return Status::invalidArgument("--map " + column + "=" + field +
                                     ": the header has no column '" + column +
                                     "' (its columns: " + columns + ")");
    }
    return Status::ok();
  };
  options.on_reply = [&](const json::object& frame) {
    json::object result;
    int code = failed == kExitOk ? replyCode(cmd, frame, result) : kExitOk;
    if (failed != kExitOk || code != kExitOk) {
      if (failed == kExitOk) failed = code;
      return false;
    }
    on_result(result);
    return true;
  };
  options.on_progress = [&](std::size_t bytes_read, std::size_t rows_sent) {
    bar.update(bytes_read, rows_sent);
  };
  Result<UploadResult> uploaded = uploadCsv(*client_, FileSource(fd), options);
  ::close(fd);
  bar.clear();
  if (!uploaded.isOk()) {
    const Status& status = uploaded.status();
    bool transport =
        status.code() == StatusCode::kIOError && status.message().rfind(kFileReadError, 0) != 0;
    std::cerr << "seqctl: " << cmd << ": " << (transport ? "" : path + ": ") << status.message()
              << "\n";
    return transport ? kExitUnreachable : kExitFailed;
  }
  if (failed != kExitOk) return failed;
  json::array reader_errors;
  for (const CsvError& error : uploaded.value().errors) {
    reader_errors.push_back(json::object{{"line", error.line}, {"reason", error.reason}});
  }
  appendRowErrors(errors, reader_errors);
  errors.unlisted += uploaded.value().errors_unlisted;
  return kExitOk;
}

int Cli::sendContacts(const json::object& base, const json::array& contacts,
                      const std::function<void(const json::object&)>& on_result) {
  int connected = connect();
  if (connected != kExitOk) return connected;
  std::string tail = json::serialize(base);
  tail = tail.size() > 2 ? "," + tail.substr(1) : std::string("}");
  std::vector<std::string> requests;
  std::string names;
  std::size_t count = 0;
  auto close = [&] {
    if (count == 0) return;
    requests.push_back(R"({"contacts":[)" + names + "]" + tail);
    names.clear();
    count = 0;
  };
  for (const json::value& contact : contacts) {
    std::string name = json::serialize(contact);
    if (count > 0 && (names.size() + name.size() + 1 > kContactsRequestBytesMax ||
                      count >= kContactsPerRequestMax)) {
      close();
    }
    if (count > 0) names += ',';
    names += name;
    ++count;
  }
  close();
  std::size_t in_flight = 0;
  int failed = kExitOk;
  bool no_reply = false;  // the connection failed: no more replies will come
  auto receive = [&]() -> bool {
    Result<json::object> reply = client_->receiveReply();
    if (!reply.isOk()) {
      std::cerr << "seqctl: add: " << reply.status().message() << "\n";
      failed = exitCodeForCallFailure(reply.status());
      no_reply = true;
      return false;
    }
    --in_flight;
    json::object result;
    const json::value& ok = member(reply.value(), "ok");
    if (failed != kExitOk && !(ok.is_bool() && ok.as_bool())) return false;  // printed one
    int code = replyCode("add", reply.value(), result);
    if (code != kExitOk) {
      failed = code;
      return false;
    }
    on_result(result);  // committed before the failure was read: still counted
    return true;
  };
  for (std::size_t i = 0; i < requests.size() && failed == kExitOk; ++i) {
    while (in_flight >= (i <= 1 ? 1 : kUploadInFlightMax) && receive()) {
    }
    if (failed != kExitOk) break;
    Result<std::uint64_t> sent = client_->sendRequest("add", requests[i]);
    if (!sent.isOk()) {
      std::cerr << "seqctl: add: " << sent.status().message() << "\n";
      return exitCodeForCallFailure(sent.status());
    }
    ++in_flight;
  }
  while (in_flight > 0) {
    if (!receive() && no_reply) return failed;
  }
  return failed;
}

int Cli::import() {
  std::string path;
  std::string list;
  std::vector<std::string> maps;
  for (std::size_t i = 1; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--map")
      maps.push_back(word(++i, "--map COLUMN=field"));
    else if (current == "--list")
      list = word(++i, "--list NAME");
    else if (path.empty())
      path = current;
    else
      throw UsageError{"import: unexpected '" + current + "'"};
  }
  if (path.empty()) throw UsageError{"import: missing FILE.csv"};
  std::int64_t imported = 0, updated = 0, list_added = 0;
  RowErrors errors;
  json::object base;
  if (!list.empty()) base["list"] = list;
  // With --list the first request goes alone: a list the caller may not change is refused
  // before any other row is sent.
  int code = uploadFile("import", path, maps, base, !list.empty(), errors,
                        [&](const json::object& result) {
                          imported += countOf(result, "imported");
                          updated += countOf(result, "updated");
                          list_added += countOf(result, "list_added");
                          appendRowErrors(errors, member(result, "errors"));
                        });
  if (code != kExitOk) return code;
  sortByLine(errors.listed);
  int exit_code = errors.listed.empty() ? kExitOk : kExitPartial;
  json::object result{{"imported", imported}, {"updated", updated}};
  putRowErrors(result, errors);
  if (!list.empty()) {
    result["list"] = list;
    result["list_added"] = list_added;
  }
  if (invocation_.json_output) return printResult(result, exit_code);
  std::cout << "imported " << imported << ", updated " << updated << "\n";
  if (!list.empty()) std::cout << "list " << list << ": " << list_added << " added\n";
  printRowErrors(errors);
  return exit_code;
}

// contacts [--where EXPR] [--limit N]: the stored contacts a search matches.
int Cli::contacts() {
  json::object args;
  for (std::size_t i = 1; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--where") {
      args["where"] = word(++i, "--where EXPR");
    } else if (current == "--limit") {
      args["limit"] = limitArgument(++i);
    } else {
      throw UsageError{"contacts: unexpected '" + current + "'"};
    }
  }
  TablePrinter table({"CONTACT", "NAME", "COMPANY", "SCORE", "STAGE", "OWNER", "TIMEZONE"});
  std::size_t shown = 0;
  const auto printRows = [&table, &shown](const json::array& items) {
    std::vector<std::vector<std::string>> rows;
    for (const json::value& item : items) {
      const json::object& row = item.as_object();
      std::string name = textOf(member(row, "first_name"));
      if (const std::string last = textOf(member(row, "last_name")); !last.empty()) {
        name += (name.empty() ? "" : " ") + last;
      }
      rows.push_back({textOf(member(row, "contact")), name, textOf(member(row, "company")),
                      textOf(member(row, "score")), textOf(member(row, "stage")),
                      textOf(member(row, "owner")), textOf(member(row, "timezone"))});
    }
    shown += rows.size();
    table.print(rows);
  };
  json::object result;
  int code = readRows("contacts", std::move(args), "contacts", printRows, result);
  if (code != kExitOk || invocation_.json_output) return code;
  const std::size_t matched =
      static_cast<std::size_t>(member(result, "matched").to_number<double>());
  if (matched > shown) std::cout << shown << " of " << matched << " matching contacts shown\n";
  return kExitOk;
}

// lists: every list, its owner and how many contacts it holds.
int Cli::lists() {
  json::object result;
  int code = call("lists", {}, result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::vector<std::vector<std::string>> rows;
  for (const json::value& item : member(result, "lists").as_array()) {
    const json::object& list = item.as_object();
    rows.push_back({textOf(member(list, "name")), textOf(member(list, "owner")),
                    textOf(member(list, "contacts"))});
  }
  printTable({"NAME", "OWNER", "CONTACTS"}, rows);
  return kExitOk;
}

// workflows: each sequence's automatic adding, its last run and what it added and skipped.
int Cli::workflows() {
  json::object result;
  int code = call("workflows", {}, result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::vector<std::vector<std::string>> rows;
  for (const json::value& item : member(result, "workflows").as_array()) {
    const json::object& row = item.as_object();
    std::string filter = "score>=" + textOf(member(row, "min_score"));
    if (const json::value& where = member(row, "where"); where.is_string()) {
      filter += " and (" + textOf(where) + ")";
    }
    const json::value& last_run = member(row, "last_run");
    rows.push_back({textOf(member(row, "sequence")), textOf(member(row, "from_list")), filter,
                    textOf(member(row, "every")), last_run.is_string() ? textOf(last_run) : "never",
                    textOf(member(row, "added")), textOf(member(row, "skipped"))});
  }
  printTable({"SEQUENCE", "FROM_LIST", "FILTER", "EVERY", "LAST_RUN", "ADDED", "SKIPPED"}, rows);
  return kExitOk;
}

// list show NAME | list add NAME [CONTACT...] | list remove NAME CONTACT...
int Cli::list() {
  const std::string& action = word(1, "list action (show, add, remove)");
  const std::string& name = word(2, "list name");
  if (action == "show") {
    json::object result;
    int code = call("list_show", json::object{{"list", name}}, result);
    if (code != kExitOk) return code;
    if (invocation_.json_output) return printResult(result, kExitOk);
    std::vector<std::vector<std::string>> rows;
    for (const json::value& item : member(result, "contacts").as_array()) {
      const json::object& row = item.as_object();
      rows.push_back({textOf(member(row, "contact")), textOf(member(row, "email")),
                      textOf(member(row, "company")), textOf(member(row, "score")),
                      textOf(member(row, "owner"))});
    }
    std::cout << "list " << name << " (owner " << textOf(member(result, "owner"))
              << "): " << rows.size() << " contacts\n";
    if (!rows.empty()) printTable({"CONTACT", "EMAIL", "COMPANY", "SCORE", "OWNER"}, rows);
    return kExitOk;
  }
  if (action != "add" && action != "remove") {
    throw UsageError{"unknown list action '" + action + "'"};
  }
  json::array contacts;
  for (std::size_t i = 3; i < invocation_.words.size(); ++i) {
    contacts.push_back(json::value(invocation_.words[i]));
  }
  if (action == "remove" && contacts.empty()) throw UsageError{"list remove: name a contact"};
  json::object result;
  int code = call("list_" + action, json::object{{"list", name}, {"contacts", contacts}}, result);
  if (code != kExitOk) return code;
  const json::array& skipped = member(result, "skipped").as_array();
  const int exit_code = skipped.empty() ? kExitOk : kExitPartial;
  if (invocation_.json_output) return printResult(result, exit_code);
  std::cout << (action == "add" ? "added " : "removed ") << member(result, "done").as_array().size()
            << (action == "add" ? " to list " : " from list ") << name << "\n";
  for (const json::value& item : skipped) {
    const json::object& skip = item.as_object();
    std::cout << "skipped " << textOf(member(skip, "contact")) << ": "
              << textOf(member(skip, "reason")) << "\n";
  }
  return exit_code;
}

// sequence share|unshare SEQ USER
int Cli::share(const std::string& action) {
  json::object args{{"sequence", word(2, "sequence id")}, {"user", word(3, "USER")}};
  if (invocation_.words.size() > 4) throw UsageError{"sequence " + action + ": one USER"};
  json::object result;
  int code = call("sequence_" + action, std::move(args), result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::cout << "sequence " << textOf(member(result, "sequence"))
            << (action == "share" ? " shared with " : " no longer shared with ")
            << textOf(member(result, "user")) << "\n";
  return kExitOk;
}

int Cli::contact() {
  const std::string& action = word(1, "contact action (show, set)");
  const std::string& key = word(2, "contact");
  if (action == "show") {
    json::object result;
    int code = call("contact_show", json::object{{"contact", key}}, result);
    if (code != kExitOk) return code;
    if (invocation_.json_output) return printResult(result, kExitOk);
    for (const auto& field : result) {
      if (field.key() == "sequences") continue;
      std::cout << fmt::format("{:<14} {}\n", std::string(field.key()), textOf(field.value()));
    }
    std::vector<std::vector<std::string>> rows;
    if (const json::value& sequences = member(result, "sequences"); sequences.is_array()) {
      for (const json::value& item : sequences.as_array()) {
        const json::object& row = item.as_object();
        rows.push_back({textOf(member(row, "sequence")), textOf(member(row, "status")),
                        textOf(member(row, "step")), textOf(member(row, "next_at"))});
      }
    }
    if (rows.empty()) {
      std::cout << "sequences      none\n";
    } else {
      std::cout << "\n";
      printTable({"SEQUENCE", "STATUS", "STEP", "NEXT_AT"}, rows);
    }
    return kExitOk;
  }
  if (action == "set") {
    json::object fields;
    for (std::size_t i = 3; i < invocation_.words.size(); ++i) {
      const std::string& assignment = invocation_.words[i];
      std::size_t equals = assignment.find('=');
      if (equals == std::string::npos)
        throw UsageError{"contact set wants field=value, got '" + assignment + "'"};
      fields[assignment.substr(0, equals)] = assignment.substr(equals + 1);
    }
    if (fields.empty()) throw UsageError{"contact set: no field=value given"};
    json::array rows{json::object{{"line", 0}, {"fields", std::move(fields)}}};
    return simple("contact_set", json::object{{"contact", key}, {"rows", std::move(rows)}});
  }
  throw UsageError{"unknown contact action '" + action + "'"};
}

std::vector<std::string> splitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

int Cli::add() {
  const std::string& sequence_id = word(1, "sequence id");
  json::object base{{"sequence", sequence_id}};
  json::array contacts, mailboxes, lists;
  std::string csv_path;
  std::string where;
  std::vector<std::string> maps;
  for (std::size_t i = 2; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--contact") {
      contacts.push_back(json::value(word(++i, "--contact ID")));
      while (i + 1 < invocation_.words.size() && invocation_.words[i + 1].rfind("--", 0) != 0) {
        contacts.push_back(json::value(invocation_.words[++i]));
      }
    } else if (current == "--csv")
      csv_path = word(++i, "--csv FILE");
    else if (current == "--map")
      maps.push_back(word(++i, "--map COLUMN=field"));
    else if (current == "--list") {
      lists.push_back(json::value(word(++i, "--list NAME")));
      while (i + 1 < invocation_.words.size() && invocation_.words[i + 1].rfind("--", 0) != 0) {
        lists.push_back(json::value(invocation_.words[++i]));
      }
    } else if (current == "--where")
      where = word(++i, "--where EXPR");
    else if (current == "--mailbox")
      mailboxes.push_back(json::value(word(++i, "--mailbox ADDR")));
    else if (current == "--rotate") {
      // Bare --rotate (nothing after it, or another option): every mailbox the caller may use.
      if (i + 1 >= invocation_.words.size() || invocation_.words[i + 1].rfind("--", 0) == 0) {
        base["rotate_all"] = true;
        continue;
      }
      for (const std::string& address : splitCommas(word(++i, "--rotate ADDR,..."))) {
        mailboxes.push_back(json::value(address));
      }
    } else if (current == "--at")
      base["at"] = word(++i, "--at TIME");
    else if (current == "--force")
      base["force"] = true;
    else if (current == "--skip-validation")
      base["skip_validation"] = true;
    else if (current == "--dry-run")
      base["dry_run"] = true;
    else
      throw UsageError{"add: unexpected '" + current + "'"};
  }
  if (contacts.empty() && csv_path.empty() && where.empty() && lists.empty()) {
    throw UsageError{"add: give --contact, --list, --where or --csv"};
  }
  if (!mailboxes.empty()) base["mailboxes"] = mailboxes;
  // The added contacts are listed only where they are printed (--json, --dry-run), so a big
  // add keeps seqctl's memory to the counts.
  const bool list_added = invocation_.json_output || base.contains("dry_run");
  json::array skipped;
  RowErrors errors;
  std::size_t added_count = 0;
  AddedText added_text;
  auto merge = [&](const json::object& result) {
    if (const json::value& keys = member(result, "added"); keys.is_array()) {
      added_count += keys.as_array().size();
      if (list_added) added_text.appendAdded(keys);
    }
    appendAll(skipped, member(result, "skipped"));
    appendRowErrors(errors, member(result, "errors"));
    if (list_added) added_text.putFirstAt(member(result, "first_at"));
  };
  // The first request goes alone: a command refused whole (unknown sequence or mailbox,
  // permissions, bad options) is refused before any row of a second request is sent.
  if (!csv_path.empty()) {
    int code = uploadFile("add", csv_path, maps, base, true, errors, merge);
    if (code != kExitOk) return code;
  }
  if (!contacts.empty()) {
    int code = sendContacts(base, contacts, merge);
    if (code != kExitOk) return code;
  }
  if (!where.empty() || !lists.empty()) {
    json::object args = base;
    if (!where.empty()) args["where"] = where;
    if (!lists.empty()) args["lists"] = lists;
    int code = callInParts("add", std::move(args), merge);
    if (code != kExitOk) return code;
  }
  sortByLine(errors.listed);
  int exit_code = (skipped.empty() && errors.listed.empty()) ? kExitOk : kExitPartial;
  if (invocation_.json_output) {
    // {"added":[...],"skipped":[...],"first_at":{...}} and the row errors, as serializing one
    // json::object of them printed it.
    std::cout << "{\"added\":";
    added_text.printAdded(std::cout);
    std::cout << ",\"skipped\":" << json::serialize(skipped) << ",\"first_at\":";
    added_text.printFirstAt(std::cout);
    if (!errors.listed.empty()) {
      json::object tail;
      putRowErrors(tail, errors);
      const std::string fields = json::serialize(tail);
      std::cout << "," << std::string_view(fields).substr(1, fields.size() - 2);
    }
    std::cout << "}\n";
    return exit_code;
  }
  std::cout << "added " << added_count << " to " << sequence_id
            << (base.contains("dry_run") ? " (dry run: nothing changed)" : "") << "\n";
  if (base.contains("dry_run")) {
    // When each one's first email or task would go out, inside its sending window.
    const json::value first_at_value = added_text.firstAt();
    const json::object& first_at = first_at_value.as_object();
    const json::value added = added_text.added();
    for (const json::value& key : added.as_array()) {
      const json::value& at = member(first_at, textOf(key));
      std::cout << "  " << textOf(key) << ": "
                << (at.is_string() ? "first step at " + textOf(at)
                                   : std::string("first step when the sequence is active"))
                << "\n";
    }
  }
  for (const json::value& item : skipped) {
    const json::object& skip = item.as_object();
    std::string warnings;
    for (const json::value& warning : member(skip, "warnings").as_array()) {
      warnings += (warnings.empty() ? "" : ", ") + textOf(warning);
    }
    std::string others;
    if (const json::value& sequences = member(skip, "other_sequences"); sequences.is_array()) {
      for (const json::value& other : sequences.as_array()) {
        others += (others.empty() ? " (in " : ", ") + textOf(other);
      }
      others += ")";
    }
    std::cout << "skipped " << textOf(member(skip, "contact")) << ": " << warnings << others
              << "\n";
  }
  printRowErrors(errors);
  return exit_code;
}

int Cli::status() {
  json::object args{{"sequence", word(1, "sequence id")}};
  for (std::size_t i = 2; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--status")
      args["status"] = word(++i, "--status S");
    else if (current == "--paused-reason")
      args["paused_reason"] = word(++i, "--paused-reason");
    else if (current == "--resume-scheduled")
      args["resume_scheduled"] = word(++i, "yes|no");
    else if (current == "--search")
      args["search"] = word(++i, "--search TEXT");
    else if (current == "--limit") {
      args["limit"] = limitArgument(++i);
    } else
      throw UsageError{"status: unexpected '" + current + "'"};
  }
  TablePrinter table(
      {"CONTACT", "SCORE", "STATUS", "STEP", "NEXT_AT", "RESUME_AT", "MAILBOX", "REASON"});
  const auto printRows = [&table](const json::array& items) {
    std::vector<std::vector<std::string>> rows;
    for (const json::value& item : items) {
      const json::object& row = item.as_object();
      std::string reason;
      for (const char* name :
           {"finish_reason", "not_sent_reason", "bounce_reason", "paused_reason"}) {
        if (!member(row, name).is_null()) reason = textOf(member(row, name));
      }
      rows.push_back({textOf(member(row, "contact")), textOf(member(row, "score")),
                      textOf(member(row, "status")), textOf(member(row, "step")),
                      textOf(member(row, "next_at")), textOf(member(row, "resume_at")),
                      textOf(member(row, "mailbox")), reason.empty() ? "-" : reason});
    }
    table.print(rows);
  };
  json::object result;
  return readRows("status", std::move(args), "contacts", printRows, result);
}

int Cli::time() {
  if (invocation_.words.size() == 1) return simple("time", {});
  const std::string& action = invocation_.words[1];
  if (action == "advance") {
    return simple("time_advance", json::object{{"duration", word(2, "DURATION")}});
  }
  if (action == "set") return simple("time_set", json::object{{"time", word(2, "TIME")}});
  throw UsageError{"unknown time action '" + action + "'"};
}

// remove, pause, resume, finish, retry, set-mailbox: SEQ CONTACT... [flags].
int Cli::operate(const std::string& command) {
  const std::string& sequence_id = word(1, "sequence id");
  json::object args{{"sequence", sequence_id}};
  json::array contacts, mailboxes;
  auto flagAllowed = [&](const char* flag, std::initializer_list<const char*> commands) {
    for (const char* allowed : commands) {
      if (command == allowed) return;
    }
    throw UsageError{command + ": unexpected " + flag};
  };
  for (std::size_t i = 2; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--resume-at") {
      flagAllowed("--resume-at", {"pause"});
      args["at"] = word(++i, "--resume-at TIME");
    } else if (current == "--at") {
      flagAllowed("--at", {"resume"});
      args["at"] = word(++i, "--at TIME");
    } else if (current == "--reason") {
      flagAllowed("--reason", {"finish"});
      args["reason"] = word(++i, "--reason TEXT");
    } else if (current == "--all") {
      flagAllowed("--all", {"retry"});
      args["all"] = true;
    } else if (current == "--mailbox") {
      flagAllowed("--mailbox", {"set-mailbox"});
      mailboxes.push_back(json::value(word(++i, "--mailbox ADDR")));
    } else if (current == "--rotate") {
      flagAllowed("--rotate", {"set-mailbox"});
      for (const std::string& address : splitCommas(word(++i, "--rotate ADDR,..."))) {
        mailboxes.push_back(json::value(address));
      }
    } else if (current.rfind("--", 0) == 0) {
      throw UsageError{command + ": unknown option '" + current + "'"};
    } else {
      contacts.push_back(json::value(current));
    }
  }
  if (contacts.empty() && !args.contains("all")) throw UsageError{command + ": name a CONTACT"};
  if (command == "set-mailbox" && mailboxes.empty()) {
    throw UsageError{"set-mailbox: give --mailbox ADDR or --rotate ADDR,..."};
  }
  args["contacts"] = std::move(contacts);
  if (!mailboxes.empty()) args["mailboxes"] = std::move(mailboxes);
  std::string cmd = command == "set-mailbox" ? "set_mailbox" : command;
  json::object result;
  // `retry --all` may list more contacts than one reply holds: its lists come in parts.
  int code = args.contains("all")
                 ? callInParts(cmd, std::move(args),
                               [&result](const json::object& part) { mergeAnswer(result, part); })
                 : call(cmd, std::move(args), result);
  if (code != kExitOk) return code;
  const json::array& skipped = member(result, "skipped").as_array();
  int exit_code = skipped.empty() ? kExitOk : kExitPartial;
  if (invocation_.json_output) return printResult(result, exit_code);
  std::cout << command << ": " << member(result, "done").as_array().size() << " done in "
            << sequence_id << "\n";
  for (const json::value& item : skipped) {
    const json::object& skip = item.as_object();
    std::cout << "skipped " << textOf(member(skip, "contact")) << ": "
              << textOf(member(skip, "reason")) << "\n";
  }
  if (const json::value& duplicates = member(result, "may_duplicate"); duplicates.is_array()) {
    for (const json::value& contact : duplicates.as_array()) {
      std::cout << "warning: " << textOf(contact)
                << ": its last send was interrupted and may have gone out; this retry may "
                   "send it twice\n";
    }
  }
  return exit_code;
}

int Cli::event() {
  const std::string& kind = word(1, "event kind");
  json::object args{{"kind", kind}, {"contact", word(2, "contact")}};
  std::size_t i = 3;
  if (kind == "stage") args["stage"] = word(i++, "STAGE");
  for (; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--seq" && kind != "ooo" && kind != "stage") {
      args["sequence"] = word(++i, "--seq SEQ");
    } else if (current == "--until" && kind == "ooo") {
      args["until"] = word(++i, "--until TIME");
    } else {
      throw UsageError{"event " + kind + ": unexpected '" + current + "'"};
    }
  }
  json::object result;
  int code = call("event", std::move(args), result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  const json::array& changed = member(result, "changed").as_array();
  std::cout << kind << " for " << textOf(member(result, "contact")) << ": "
            << (changed.empty() ? "no sequence changed" : "") << "\n";
  for (const json::value& item : changed) {
    const json::object& change = item.as_object();
    std::cout << "  " << textOf(member(change, "sequence")) << " -> "
              << textOf(member(change, "status")) << "\n";
  }
  return kExitOk;
}

int Cli::explain() {
  json::object args{{"sequence", word(1, "sequence id")}, {"contact", word(2, "contact")}};
  json::object result;
  int code = call("explain", std::move(args), result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::cout << textOf(member(result, "explanation")) << "\n";
  return kExitOk;
}

int Cli::tasks() {
  json::object args;
  for (std::size_t i = 1; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--owner")
      args["owner"] = word(++i, "--owner USER");
    else if (current == "--seq")
      args["sequence"] = word(++i, "--seq SEQ");
    else if (current == "--due-before")
      args["due_before"] = word(++i, "--due-before TIME");
    else if (current == "--state")
      args["state"] = word(++i, "--state STATE");
    else
      throw UsageError{"tasks: unexpected '" + current + "'"};
  }
  TablePrinter table(
      {"ID", "STATE", "OWNER", "DUE_AT", "SEQUENCE", "STEP", "TYPE", "CONTACT", "NOTE"});
  const auto printRows = [&table](const json::array& items) {
    std::vector<std::vector<std::string>> rows;
    for (const json::value& item : items) {
      const json::object& task = item.as_object();
      rows.push_back({textOf(member(task, "id")), textOf(member(task, "state")),
                      textOf(member(task, "owner")), textOf(member(task, "due_at")),
                      textOf(member(task, "sequence")), textOf(member(task, "step")),
                      textOf(member(task, "type")), textOf(member(task, "contact")),
                      textOf(member(task, "note"))});
    }
    table.print(rows);
  };
  json::object result;
  return readRows("tasks", std::move(args), "tasks", printRows, result);
}

int Cli::mailboxes() {
  json::object result;
  int code = call("mailboxes", {}, result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::vector<std::vector<std::string>> rows;
  for (const json::value& item : member(result, "mailboxes").as_array()) {
    const json::object& mailbox = item.as_object();
    rows.push_back(
        {textOf(member(mailbox, "address")), textOf(member(mailbox, "transport")),
         textOf(member(mailbox, "sent_today")) + "/" + textOf(member(mailbox, "daily_limit")),
         textOf(member(mailbox, "sent_this_hour")) + "/" + textOf(member(mailbox, "hourly_limit")),
         textOf(member(mailbox, "next_free"))});
  }
  printTable({"MAILBOX", "TRANSPORT", "TODAY", "THIS_HOUR", "NEXT_FREE"}, rows);
  return kExitOk;
}

namespace {

// "n (p%)" of sent, or "n" when nothing was sent.
std::string withRate(const json::object& row, const char* name) {
  const json::value& sent = member(row, "sent");
  const json::value& value = member(row, name);
  std::string cell = textOf(value);
  if (!sent.is_number() || !value.is_number() || sent.to_number<double>() <= 0) return cell;
  return cell +
         fmt::format(" ({:.1f}%)", 100.0 * value.to_number<double>() / sent.to_number<double>());
}

std::vector<std::string> countCells(const json::object& row, bool per_step) {
  std::vector<std::string> cells = {textOf(member(row, "sent")), withRate(row, "delivered"),
                                    withRate(row, "bounced"),    withRate(row, "replied"),
                                    withRate(row, "meetings"),   withRate(row, "unsubscribed")};
  if (per_step) {
    for (const char* name : {"not_sent", "tasks_done", "tasks_skipped"}) {
      cells.push_back(textOf(member(row, name)));
    }
  }
  return cells;
}

// Writes the file through a temporary beside it, renamed over it once whole.
bool writeWhole(const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool written = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  written = ::close(fd) == 0 && written;
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    errno = saved;
    return false;
  }
  return true;
}

}  // namespace

// report SEQ [--html FILE]: counts per step, per variant and per mailbox; --html writes them
// as one self-contained page (daemon/report_html.hpp).
int Cli::report() {
  json::object args{{"sequence", word(1, "sequence id")}};
  std::string html_path;
  for (std::size_t i = 2; i < invocation_.words.size(); ++i) {
    const std::string& current = invocation_.words[i];
    if (current == "--html") {
      html_path = word(++i, "--html FILE");
    } else {
      throw UsageError{"report: unexpected '" + current + "'"};
    }
  }
  json::object result;
  int code = call("report", std::move(args), result);
  if (code != kExitOk) return code;
  if (!html_path.empty()) {
    if (!writeWhole(html_path, renderReportHtml(result))) {
      std::cerr << "seqctl: report: cannot write " << html_path << ": " << std::strerror(errno)
                << "\n";
      return kExitFailed;
    }
    if (invocation_.json_output) return printResult(result, kExitOk);
    std::cout << "wrote " << html_path << "\n";
    return kExitOk;
  }
  if (invocation_.json_output) return printResult(result, kExitOk);
  std::cout << "report " << textOf(member(result, "sequence")) << " at "
            << textOf(member(result, "generated_at")) << "\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::string>> variant_rows;
  for (const json::value& item : member(result, "steps").as_array()) {
    const json::object& step = item.as_object();
    std::vector<std::string> row = {textOf(member(step, "step")), textOf(member(step, "type"))};
    for (std::string& cell : countCells(step, true)) row.push_back(std::move(cell));
    rows.push_back(std::move(row));
    for (const json::value& variant_item : member(step, "variants").as_array()) {
      const json::object& variant = variant_item.as_object();
      std::vector<std::string> variant_row = {textOf(member(step, "step")),
                                              textOf(member(variant, "variant"))};
      for (std::string& cell : countCells(variant, false)) variant_row.push_back(std::move(cell));
      variant_rows.push_back(std::move(variant_row));
    }
  }
  if (member(result, "totals").is_object()) {
    std::vector<std::string> row = {"(all)", ""};
    for (std::string& cell : countCells(member(result, "totals").as_object(), true)) {
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  }
  printTable({"STEP", "TYPE", "SENT", "DELIVERED", "BOUNCED", "REPLIED", "MEETINGS", "UNSUBSCRIBED",
              "NOT_SENT", "TASKS_DONE", "TASKS_SKIPPED"},
             rows);
  if (!variant_rows.empty()) {
    std::cout << "\n";
    printTable(
        {"STEP", "VARIANT", "SENT", "DELIVERED", "BOUNCED", "REPLIED", "MEETINGS", "UNSUBSCRIBED"},
        variant_rows);
  }
  std::vector<std::vector<std::string>> mailbox_rows;
  for (const json::value& item : member(result, "mailboxes").as_array()) {
    const json::object& mailbox = item.as_object();
    std::uint64_t day = 0;
    for (const json::value& count : member(mailbox, "sent_by_hour").as_array()) {
      if (count.is_number()) day += count.to_number<std::uint64_t>();
    }
    mailbox_rows.push_back({textOf(member(mailbox, "mailbox")), textOf(member(mailbox, "sent")),
                            withRate(mailbox, "bounced"),
                            std::to_string(day) + "/" + textOf(member(mailbox, "daily_limit"))});
  }
  if (!mailbox_rows.empty()) {
    std::cout << "\n";
    printTable({"MAILBOX", "SENT", "BOUNCED", "LAST_24H"}, mailbox_rows);
  }
  std::cout << "\n"
            << textOf(member(result, "attention_total"))
            << " contacts need attention (bounced, not sent, waiting on a task)";
  const json::array& attention = member(result, "attention").as_array();
  std::cout << (attention.empty() ? "\n" : ":\n");
  std::vector<std::vector<std::string>> attention_rows;
  for (const json::value& item : attention) {
    const json::object& row = item.as_object();
    attention_rows.push_back({textOf(member(row, "contact")), textOf(member(row, "status")),
                              textOf(member(row, "step")), textOf(member(row, "reason"))});
  }
  if (!attention_rows.empty()) printTable({"CONTACT", "STATUS", "STEP", "REASON"}, attention_rows);
  return kExitOk;
}

// inbox [--mailbox ADDR]: what seqd read from the inboxes and what it did with each.
int Cli::inbox() {
  json::object args;
  for (std::size_t i = 1; i < invocation_.words.size(); ++i) {
    if (invocation_.words[i] == "--mailbox") {
      args["mailbox"] = word(++i, "--mailbox ADDR");
    } else {
      throw UsageError{"inbox: unexpected '" + invocation_.words[i] + "'"};
    }
  }
  json::object result;
  int code = call("inbox", std::move(args), result);
  if (code != kExitOk) return code;
  if (invocation_.json_output) return printResult(result, kExitOk);
  if (member(result, "inboxes").is_int64() && member(result, "inboxes").as_int64() == 0) {
    std::cout << "no mailbox has an inbox: configure `inbox:` for a mailbox in seqd.yaml\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json::value& item : member(result, "messages").as_array()) {
    const json::object& message = item.as_object();
    rows.push_back({textOf(member(message, "at")), textOf(member(message, "mailbox")),
                    textOf(member(message, "kind")), textOf(member(message, "from")),
                    textOf(member(message, "contact")), textOf(member(message, "sequence")),
                    textOf(member(message, "action"))});
  }
  printTable({"AT", "MAILBOX", "KIND", "FROM", "CONTACT", "SEQUENCE", "ACTION"}, rows);
  return kExitOk;
}

int Cli::task() {
  const std::string& action = word(1, "task action (complete, skip)");
  if (action != "complete" && action != "skip") {
    throw UsageError{"unknown task action '" + action + "'"};
  }
  const std::string& id_text = word(2, "task ID");
  char* end = nullptr;
  unsigned long long id = std::strtoull(id_text.c_str(), &end, 10);
  if (id_text.empty() || *end != '\0' || id == 0) throw UsageError{"task ID must be a number"};
  return simple("task_" + action, json::object{{"id", id}});
}

Invocation parseGlobal(int argc, char** argv) {
  Invocation invocation;
  const char* from_env = std::getenv("SEQD_SOCKET");
  invocation.socket_path = from_env != nullptr ? from_env : kSystemSocket;
  // Beside a `seqd --dev` in this directory and no system daemon: talk to the dev one.
  if (from_env == nullptr && access(kSystemSocket, F_OK) != 0 && access(kDevSocket, F_OK) == 0) {
    invocation.socket_path = kDevSocket;
  }
  for (int i = 1; i < argc; ++i) {
    std::string current = argv[i];
    if (current == "--socket") {
      if (i + 1 >= argc) throw UsageError{"--socket needs a PATH"};
      invocation.socket_path = argv[++i];
    } else if (current.rfind("--socket=", 0) == 0) {
      invocation.socket_path = current.substr(9);
    } else if (current == "--json") {
      invocation.json_output = true;
    } else if (current == "--help" || current == "-h") {
      invocation.help = true;
    } else {
      invocation.words.push_back(current);
    }
  }
  return invocation;
}

}  // namespace

// A usage error is one line naming the command as typed, and where its help is.
int runSeqctl(int argc, char** argv) {
  std::vector<std::string> words;
  try {
    Invocation invocation = parseGlobal(argc, argv);
    words = invocation.words;
    if (invocation.words.empty()) {
      if (invocation.help) {
        std::cout << seqctlOverview();
        return kExitOk;
      }
      throw UsageError{"missing command"};
    }
    // What the daemon sends back (keys, names, messages quoting them) is printed escaped.
    TerminalStreams terminal(!invocation.json_output);
    Cli cli(std::move(invocation));
    return cli.run();
  } catch (const UsageError& error) {
    const std::string typed = typedCommand(words);
    const bool known = !words.empty() && !seqctlHelp(words[0]).empty() && words[0] != "help";
    std::string message = error.message;
    if (known && message.rfind(typed + ":", 0) != 0 && message.rfind(words[0] + ":", 0) != 0) {
      message = typed + ": " + message;
    }
    std::cerr << "seqctl: " << message << "\n"
              << (known ? "Run 'seqctl help " + words[0] + "' for its options and an example."
                        : std::string("Run 'seqctl help' for the commands."))
              << "\n";
    return kExitUsage;
  }
}

int exitCodeForError(const std::string& error_code) {
  if (error_code == "permission_denied") return kExitPermission;
  if (error_code == "bad_request" || error_code == "unknown_command") return kExitUsage;
  return kExitFailed;
}

}  // namespace seqd
