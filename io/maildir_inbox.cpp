// The Maildir inbox (io/inbox.hpp): reads new/, marks a handled message by moving it to
// cur/ as "NAME:2," (unread for a person reading the same Maildir).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/inbox.hpp"

namespace seqd {
namespace {

namespace fs = std::filesystem;

std::string systemError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

class MaildirInbox : public InboxSource {
 public:
  explicit MaildirInbox(std::string dir) : dir_(std::move(dir)) {}

  Result<std::vector<InboxItem>> fetch(std::size_t max_items) override {
    const std::string new_dir = dir_ + "/new";
    std::error_code error;
    struct Entry {
      std::string name;
      TimeMs mtime_ms;
      std::uintmax_t size;
    };
    std::vector<Entry> entries;
    fs::directory_iterator it(new_dir, error);
    if (error == std::errc::no_such_file_or_directory) return std::vector<InboxItem>();
    for (; !error && it != fs::directory_iterator(); it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      struct stat info;
      if (::stat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
      entries.push_back(
          {name,
           static_cast<TimeMs>(info.st_mtim.tv_sec) * kSecondMs + info.st_mtim.tv_nsec / 1000000,
           static_cast<std::uintmax_t>(info.st_size)});
    }
    if (error) return Status::ioError("cannot list " + new_dir + ": " + error.message());
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.mtime_ms != b.mtime_ms ? a.mtime_ms < b.mtime_ms : a.name < b.name;
    });
    std::vector<InboxItem> items;
    for (const Entry& entry : entries) {
      if (items.size() >= max_items) break;
      InboxItem item{entry.name, std::string(), entry.mtime_ms};
      if (entry.size <= kInboxItemBytesMax) {
        const std::string path = new_dir + "/" + entry.name;
        std::ifstream in(path, std::ios::binary);
        if (!in) continue;  // taken by someone else meanwhile
        item.raw.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (item.raw.size() > kInboxItemBytesMax) item.raw.clear();
      }
      items.push_back(std::move(item));
    }
    return items;
  }

  Status markHandled(const std::string& id) override {
    if (id.empty() || id.find('/') != std::string::npos || id[0] == '.') {
      return Status::invalidArgument("not a Maildir message name: '" + id + "'");
    }
    const std::string from = dir_ + "/new/" + id;
    const std::string to = dir_ + "/cur/" + id + ":2,";
    if (::rename(from.c_str(), to.c_str()) != 0) {
      if (errno == ENOENT) return Status::ok();  // moved by someone else: not in new/ any more
      return Status::ioError(systemError("cannot move", from) + " to cur/");
    }
    return Status::ok();
  }

  std::string describe() const override { return "maildir " + dir_; }

 private:
  std::string dir_;
};

}  // namespace

std::unique_ptr<InboxSource> openMaildirInbox(const std::string& dir) {
  return std::make_unique<MaildirInbox>(dir);
}

std::unique_ptr<InboxSource> openInboxSource(const InboxSettings& settings) {
  if (!settings.maildir.empty()) return openMaildirInbox(settings.maildir);
  return openImapInbox(settings);
}

}  // namespace seqd
