// Maildir delivery: writes a message to <root>/<mailbox address>/new/<name> with the
// standard write-to-tmp, fsync, rename-to-new dance. The file name is derived from the
// Message-ID, so delivering the same message twice is a no-op (already in new/ or cur/).
//
// Durability: the file is fsynced before the rename, and new/ is fsynced after it, so once
// deliver() returns ok the message survives a crash. Folders created on the way are made
// with mode 0750 (before the umask) and their parents fsynced.
//
// The name is fileNameFor(Message-ID): 16 hex digits of FNV-1a 64 + ".seqd". Maildir readers
// accept any name without '/' or ':'; a reader that moves it to cur/ appends ":2,<flags>",
// which deliver() recognises. The rename into new/ never replaces an existing file
// (RENAME_NOREPLACE where the file system has it).
//
// Cost: besides the two fsyncs, each delivery reads the names in cur/ to find "<name>:2,...",
// so a mailbox whose reader keeps many thousands of messages in cur/ makes delivery slower.
//
// Thread-safety: deliver() is safe to call from several threads for different messages; the
// same Message-ID must not be delivered by two threads at once (they share tmp/<name>).
#pragma once

#include <cstddef>
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

}  // namespace seqd
