#include "io/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <vector>

#include "engine/assert.hpp"
#include "engine/contact.hpp"

namespace seqd {
namespace {

constexpr mode_t kDirectoryMode = 0750;
constexpr mode_t kFileMode = 0640;
// Retries of a system call interrupted by a signal before giving up.
constexpr int kInterruptedRetriesMax = 100;
// Entries of cur/ examined when looking for an already-delivered message.
constexpr std::size_t kCurEntriesMax = 10 * 1000 * 1000;
// Path components created by one makeDirectories().
constexpr std::size_t kPathComponentsMax = 256;

Status systemError(std::string_view action, const std::string& path, int error) {
  return Status::ioError("maildir: " + std::string(action) + " " + path + ": " +
                         std::error_code(error, std::generic_category()).message());
}

Status syncDirectory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return systemError("open", path, errno);
  int result = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (result != 0) return systemError("fsync", path, error);
  return Status::ok();
}

std::string parentOf(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p: creates each missing component with kDirectoryMode and fsyncs its parent. The
// common case, the folder already there, costs one mkdir().
Status makeDirectories(const std::string& path) {
  std::vector<std::string> missing;  // deepest first
  std::string current = path;
  for (std::size_t depth = 0; depth < kPathComponentsMax; ++depth) {
    if (::mkdir(current.c_str(), kDirectoryMode) == 0) {
      Status synced = syncDirectory(parentOf(current));
      if (!synced.isOk()) return synced;
      break;
    }
    int error = errno;
    if (error == EEXIST) {
      struct stat info;
      if (::stat(current.c_str(), &info) != 0) return systemError("stat", current, errno);
      if (!S_ISDIR(info.st_mode)) return systemError("mkdir", current, ENOTDIR);
      break;
    }
    std::string parent = parentOf(current);
    if (error != ENOENT || parent == current) return systemError("mkdir", current, error);
    missing.push_back(current);
    current = parent;
  }
  if (missing.size() >= kPathComponentsMax) {
    return Status::invalidArgument("maildir: path has too many components: " + path);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
      return systemError("mkdir", *it, errno);
    }
    Status synced = syncDirectory(parentOf(*it));
    if (!synced.isOk()) return synced;
  }
  return Status::ok();
}

Result<bool> pathExists(const std::string& path) {
  struct stat info;
  if (::lstat(path.c_str(), &info) == 0) return true;
  if (errno == ENOENT) return false;
  return systemError("stat", path, errno);
}

// Notes in `found` which of the `expected` names cur/ holds, bare or with an info suffix
// (":2,S"). A missing cur/ holds nothing.
Status scanCur(const std::string& cur_dir, const std::set<std::string>& expected,
               std::set<std::string>& found) {
  DIR* directory = ::opendir(cur_dir.c_str());
  if (directory == nullptr) {
    if (errno == ENOENT) return Status::ok();
    return systemError("opendir", cur_dir, errno);
  }
  for (std::size_t count = 0; count < kCurEntriesMax && found.size() < expected.size(); ++count) {
    errno = 0;
    const dirent* entry = ::readdir(directory);
    if (entry == nullptr) {
      int error = errno;
      ::closedir(directory);
      if (error != 0) return systemError("readdir", cur_dir, error);
      return Status::ok();
    }
    std::string_view name(entry->d_name);
    name = name.substr(0, name.find(':'));
    if (auto it = expected.find(std::string(name)); it != expected.end()) found.insert(*it);
  }
  ::closedir(directory);
  return Status::ok();
}

Status writeAll(int fd, std::string_view bytes, const std::string& path) {
  int interrupted = 0;
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR && ++interrupted < kInterruptedRetriesMax) continue;
      return systemError("write", path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return Status::ok();
}

// Writes and fsyncs a new file (replacing a leftover from an earlier crash); on failure the
// file is removed.
Status writeSyncedFile(const std::string& path, std::string_view contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, kFileMode);
  if (fd < 0) return systemError("create", path, errno);
  Status status = writeAll(fd, contents, path);
  if (status.isOk() && ::fsync(fd) != 0) status = systemError("fsync", path, errno);
  if (::close(fd) != 0 && status.isOk()) status = systemError("close", path, errno);
  if (!status.isOk()) ::unlink(path.c_str());
  return status;
}

// Moves tmp into place without replacing an existing file. Sets `moved` false when the
// target already existed (the message was delivered before); tmp is then removed.
Status moveIntoNew(const std::string& tmp_path, const std::string& new_path, bool& moved) {
  moved = true;
  const char* source = tmp_path.c_str();
  const char* target = new_path.c_str();
  if (::renameat2(AT_FDCWD, source, AT_FDCWD, target, RENAME_NOREPLACE) == 0) return Status::ok();
  int error = errno;
  if (error == EINVAL || error == ENOSYS) {
    // File systems without RENAME_NOREPLACE: look for the target first.
    Result<bool> exists = pathExists(new_path);
    if (!exists.isOk()) {
      ::unlink(source);
      return exists.status();
    }
    if (!exists.value()) {
      if (::rename(source, target) == 0) return Status::ok();
      error = errno;
    } else {
      error = EEXIST;
    }
  }
  if (error == EEXIST) {
    moved = false;
    ::unlink(source);
    return Status::ok();
  }
  ::unlink(source);
  return systemError("rename " + tmp_path + " to", new_path, error);
}

Status checkAddress(std::string_view address) {
  if (address.empty()) return Status::invalidArgument("maildir: empty mailbox address");
  if (address.find('/') != std::string_view::npos || address.front() == '.' ||
      address.find('\0') != std::string_view::npos) {
    return Status::invalidArgument("maildir: mailbox address '" + std::string(address) +
                                   "' cannot name a folder (it holds '/' or starts with '.')");
  }
  return Status::ok();
}

}  // namespace

MaildirWriter::MaildirWriter(std::string root_dir) : root_dir_(std::move(root_dir)) {}

std::string MaildirWriter::fileNameFor(std::string_view message_id) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.seqd",
                static_cast<unsigned long long>(fnv1a64(message_id)));
  return name;
}

Status MaildirWriter::deliver(std::string_view mailbox_address, std::string_view message_id,
                              std::string_view message) {
  MaildirBatch batch(*this);
  batch.expect(mailbox_address, message_id);
  batch.prepare();
  Status status = batch.deliver(mailbox_address, message_id, message);
  if (!status.isOk()) return status;
  batch.sync();
  return batch.synced(mailbox_address);
}

void MaildirBatch::expect(std::string_view mailbox_address, std::string_view message_id) {
  Mailbox& mailbox = mailboxes_[std::string(mailbox_address)];
  if (!message_id.empty()) mailbox.expected.insert(MaildirWriter::fileNameFor(message_id));
}

void MaildirBatch::prepare() {
  for (auto& [address, mailbox] : mailboxes_) {
    mailbox.ready = checkAddress(address);
    // Nothing to deliver there (an empty Message-ID, refused by deliver()): no folders.
    if (!mailbox.ready.isOk() || mailbox.expected.empty()) continue;
    const std::string mailbox_dir = root_dir_ + "/" + address;
    for (const char* folder : {"/tmp", "/new", "/cur"}) {
      mailbox.ready = makeDirectories(mailbox_dir + folder);
      if (!mailbox.ready.isOk()) break;
    }
    if (!mailbox.ready.isOk()) continue;
    mailbox.ready = scanCur(mailbox_dir + "/cur", mailbox.expected, mailbox.in_cur);
  }
}

Status MaildirBatch::deliver(std::string_view mailbox_address, std::string_view message_id,
                             std::string_view message) {
  auto found = mailboxes_.find(mailbox_address);
  SEQD_ASSERT(found != mailboxes_.end());
  Mailbox& mailbox = found->second;
  if (!mailbox.ready.isOk()) return mailbox.ready;
  if (message_id.empty()) return Status::invalidArgument("maildir: empty Message-ID");
  if (message.size() > kMaildirMessageBytesMax) {
    return Status::invalidArgument("maildir: message " + std::string(message_id) + " is " +
                                   std::to_string(message.size()) + " bytes, more than " +
                                   std::to_string(kMaildirMessageBytesMax));
  }
  const std::string name = MaildirWriter::fileNameFor(message_id);
  if (mailbox.in_cur.count(name) > 0) return Status::ok();
  const std::string mailbox_dir = root_dir_ + "/" + std::string(mailbox_address);
  const std::string tmp_path = mailbox_dir + "/tmp/" + name;
  Status status = writeSyncedFile(tmp_path, message);
  if (!status.isOk()) return status;
  bool moved = false;
  status = moveIntoNew(tmp_path, mailbox_dir + "/new/" + name, moved);
  if (status.isOk() && moved) mailbox.moved = true;
  return status;
}

void MaildirBatch::sync() {
  for (auto& [address, mailbox] : mailboxes_) {
    if (!mailbox.moved) continue;
    mailbox.synced = syncDirectory(root_dir_ + "/" + address + "/new");
    mailbox.moved = false;
  }
}

Status MaildirBatch::synced(std::string_view mailbox_address) const {
  auto found = mailboxes_.find(mailbox_address);
  if (found == mailboxes_.end()) return Status::ok();
  return found->second.synced;
}

}  // namespace seqd
