// A point in time after which something is cancelled, re-armed as a
// session moves from step to step.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "net/transport.hpp"

namespace imapprobe::net {

class Deadline {
 public:
  // `on_expiry` runs at most once, on the executor, and never after this
  // object is destroyed.
  Deadline(const boost::asio::any_io_executor& executor, std::function<void()> on_expiry);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void set(Clock::time_point at);
  // Sticky: once what it guards was cancelled, it stays cancelled.
  bool expired() const { return state_->expired; }

 private:
  struct State {
    State(const boost::asio::any_io_executor& executor, std::function<void()> f)
        : timer(executor), on_expiry(std::move(f)) {}
    boost::asio::steady_timer timer;
    std::function<void()> on_expiry;
    bool expired = false;
  };
  // Shared with the pending wait, which may still be queued when this
  // object goes away.
  std::shared_ptr<State> state_;
};

}  // namespace imapprobe::net
