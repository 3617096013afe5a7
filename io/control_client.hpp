// ControlClient: a blocking client of the control socket, used by seqctl and the tests.
//
// Thread-safety: one client per thread.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "engine/status.hpp"

namespace seqd {

class ControlClient {
 public:
  ~ControlClient();
  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;

  // Fails with kIOError when nothing listens at socket_path (seqctl exit code 5).
  static Result<ControlClient> connect(const std::string& socket_path);

  // Sends one request and waits for its reply, passing progress events to on_progress.
  // Returns the reply object ({"id","ok",...}); a transport failure is kIOError.
  Result<boost::json::object> call(
      std::string_view cmd, boost::json::object args,
      const std::function<void(const boost::json::object&)>& on_progress = {});

 private:
  explicit ControlClient(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::uint64_t next_id_ = 1;
  std::string buffer_;
};

}  // namespace seqd
