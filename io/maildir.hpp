// Maildir delivery: writes a message to <root>/<mailbox address>/new/<name> with the
// standard write-to-tmp, fsync, rename-to-new dance. The file name is derived from the
// Message-ID, so delivering the same message twice is a no-op (already in new/ or cur/).
//
// Durability: each file is fsynced before its rename, and new/ is fsynced after the renames,
// so once deliver() (or MaildirBatch::sync()) returns ok the message survives a crash.
// Folders created on the way are made with mode 0750 (before the umask) and their parents
// fsynced.
//
// Batches: a delivery worker hands its whole batch to a MaildirBatch, which makes each
// mailbox's folders and reads its cur/ once for all of the batch's messages, and fsyncs each
// new/ once after the batch's renames instead of once per message (a message is durable only
// then; the worker reports none of them before). A message then costs open, write, fsync,
// close and rename: five system calls instead of about twenty (perf/RESULTS.md, "Lateness").
//
// The name is fileNameFor(Message-ID): 16 hex digits of FNV-1a 64 + ".seqd". Maildir readers
// accept any name without '/' or ':'; a reader that moves it to cur/ appends ":2,<flags>",
// which the check of cur/ recognises. The rename into new/ never replaces an existing file
// (RENAME_NOREPLACE; where the file system lacks it, the target is looked for first), which is
// also how a message already in new/ is found.
//
// Cost: besides the fsyncs, each batch reads the names in cur/ once per mailbox to find
// "<name>:2,...", so a mailbox whose reader keeps many thousands of messages in cur/ makes
// delivery slower.
//
// Thread-safety: MaildirWriter::deliver() is safe to call from several threads for different
// messages, and so are several MaildirBatch (one per thread); the same Message-ID must not be
// delivered by two threads at once (they share tmp/<name>).
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

// A bigger message is refused (InvalidArgument) rather than written.
inline constexpr std::size_t kMaildirMessageBytesMax = 64 * 1024 * 1024;

class MaildirWriter {
 public:
  explicit MaildirWriter(std::string root_dir);

  // REQUIRES: message_id non-empty. Returns ok when the message is in new/ (or was already
  // in new/ or cur/). Creates the mailbox's tmp/new/cur folders as needed.
  // InvalidArgument: an empty address, one holding '/' or a NUL, or starting with '.'; an empty
  // Message-ID; a message over kMaildirMessageBytesMax. IOError: any file system failure,
  // with the path and the system's reason.
  Status deliver(std::string_view mailbox_address, std::string_view message_id,
                 std::string_view message);

  // The file name used for a Message-ID (stable across runs).
  static std::string fileNameFor(std::string_view message_id);

  const std::string& root() const { return root_dir_; }

 private:
  std::string root_dir_;
};

// One worker's batch: expect() every message, prepare(), deliver() each (written and in new/,
// not yet durable), then sync() and ask synced() per mailbox before reporting any of them.
// Errors are as MaildirWriter::deliver()'s.
class MaildirBatch {
 public:
  explicit MaildirBatch(const MaildirWriter& writer) : root_dir_(writer.root()) {}

  // Names a message deliver() will be asked for. REQUIRES: before prepare().
  void expect(std::string_view mailbox_address, std::string_view message_id);
  // Creates each expected mailbox's tmp/new/cur folders as needed and reads its cur/ once for
  // the expected messages already there.
  void prepare();
  // Delivers one expected message: ok when it is in new/ (durable after sync()) or was already
  // in new/ or cur/. REQUIRES: prepare().
  Status deliver(std::string_view mailbox_address, std::string_view message_id,
                 std::string_view message);
  // fsyncs new/ of every mailbox deliver() moved a message into.
  void sync();
  // Whether the messages delivered to this mailbox are durable. REQUIRES: sync().
  Status synced(std::string_view mailbox_address) const;

 private:
  struct Mailbox {
    Status ready;                    // its address checked and its folders made
    std::set<std::string> expected;  // file names
    std::set<std::string> in_cur;    // expected names found in cur/
    bool moved = false;              // something renamed into new/ since the last sync
    Status synced;
  };
  std::string root_dir_;
  std::map<std::string, Mailbox, std::less<>> mailboxes_;
};

}  // namespace seqd
