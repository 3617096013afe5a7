// stopServer: the stop of a listening server (ControlServer, HttpServer) over its shared
// state: marks it stopped once, closes the acceptor and its retry timer on the acceptor's
// strand, and closes every open connection.
//
// Shared holds: `mutex`, `stopped`, `started`, `connections` (shared_ptrs to connections
// with postClose()), `acceptor` and `accept_retry_timer`. Thread-safety: from any thread;
// the second and later calls do nothing.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <mutex>
#include <vector>

namespace seqd {

// `on_stopped` runs once, after the server is marked stopped and before anything is closed.
template <typename Shared, typename OnStopped>
void stopServer(const std::shared_ptr<Shared>& shared, OnStopped&& on_stopped) {
  using ConnectionPtr = typename decltype(shared->connections)::value_type;
  std::vector<ConnectionPtr> open;
  bool was_started = false;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return;
    shared->stopped = true;
    was_started = shared->started;
    open.assign(shared->connections.begin(), shared->connections.end());
  }
  on_stopped();
  if (was_started) {
    boost::asio::post(shared->acceptor.get_executor(), [shared] {
      boost::system::error_code ignored;
      shared->acceptor.close(ignored);
      shared->accept_retry_timer.cancel();
    });
  }
  for (const ConnectionPtr& connection : open) connection->postClose();
}

}  // namespace seqd
