// Maildir delivery: writes a message to <root>/<mailbox address>/new/<name> with the
// standard write-to-tmp, fsync, rename-to-new dance. The file name is derived from the
// Message-ID, so delivering the same message twice is a no-op (already in new/ or cur/).
//
// Thread-safety: deliver() is safe to call from several threads for different messages.
#pragma once

#include <string>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

class MaildirWriter {
 public:
  explicit MaildirWriter(std::string root_dir);

  // REQUIRES: message_id non-empty. Returns ok when the message is in new/ (or was already
  // in new/ or cur/). Creates the mailbox's tmp/new/cur folders as needed.
  Status deliver(std::string_view mailbox_address, std::string_view message_id,
                 std::string_view message);

  // The file name used for a Message-ID (stable across runs).
  static std::string fileNameFor(std::string_view message_id);

  const std::string& root() const { return root_dir_; }

 private:
  std::string root_dir_;
};

}  // namespace seqd
