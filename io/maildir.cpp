#include "io/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <vector>

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

// True when cur/ holds the message, bare or with an info suffix (":2,S"). A missing cur/
// holds nothing.
Result<bool> inCur(const std::string& cur_dir, const std::string& name) {
  Result<bool> bare = pathExists(cur_dir + "/" + name);
  if (!bare.isOk() || bare.value()) return bare;
  DIR* directory = ::opendir(cur_dir.c_str());
  if (directory == nullptr) {
    if (errno == ENOENT) return false;
    return systemError("opendir", cur_dir, errno);
  }
  std::string prefix = name + ":";
  bool found = false;
  for (std::size_t count = 0; count < kCurEntriesMax && !found; ++count) {
    errno = 0;
    const dirent* entry = ::readdir(directory);
    if (entry == nullptr) {
      int error = errno;
      ::closedir(directory);
      if (error != 0) return systemError("readdir", cur_dir, error);
      return false;
    }
    found = std::string_view(entry->d_name).substr(0, prefix.size()) == prefix;
  }
  ::closedir(directory);
  return found;
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
// target already existed (the message was delivered meanwhile); tmp is then removed.
Status moveIntoNew(const std::string& tmp_path, const std::string& new_path, bool& moved) {
  moved = true;
  const char* source = tmp_path.c_str();
  const char* target = new_path.c_str();
  if (::renameat2(AT_FDCWD, source, AT_FDCWD, target, RENAME_NOREPLACE) == 0) return Status::ok();
  int error = errno;
  if (error == EEXIST) {
    moved = false;
    ::unlink(source);
    return Status::ok();
  }
  // File systems without RENAME_NOREPLACE: the existence check before writing has to do.
  if (error == EINVAL || error == ENOSYS) {
    if (::rename(source, target) == 0) return Status::ok();
    error = errno;
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
  Status status = checkAddress(mailbox_address);
  if (!status.isOk()) return status;
  if (message_id.empty()) return Status::invalidArgument("maildir: empty Message-ID");
  if (message.size() > kMaildirMessageBytesMax) {
    return Status::invalidArgument("maildir: message " + std::string(message_id) + " is " +
                                   std::to_string(message.size()) + " bytes, more than " +
                                   std::to_string(kMaildirMessageBytesMax));
  }
  std::string mailbox_dir = root_dir_ + "/" + std::string(mailbox_address);
  std::string name = fileNameFor(message_id);
  std::string new_path = mailbox_dir + "/new/" + name;
  Result<bool> in_new = pathExists(new_path);
  if (!in_new.isOk()) return in_new.status();
  if (in_new.value()) return Status::ok();
  Result<bool> in_cur = inCur(mailbox_dir + "/cur", name);
  if (!in_cur.isOk()) return in_cur.status();
  if (in_cur.value()) return Status::ok();
  for (const char* folder : {"/tmp", "/new", "/cur"}) {
    status = makeDirectories(mailbox_dir + folder);
    if (!status.isOk()) return status;
  }

  std::string tmp_path = mailbox_dir + "/tmp/" + name;
  status = writeSyncedFile(tmp_path, message);
  if (!status.isOk()) return status;
  bool moved = false;
  status = moveIntoNew(tmp_path, new_path, moved);
  if (!status.isOk() || !moved) return status;
  return syncDirectory(mailbox_dir + "/new");
}

}  // namespace seqd
