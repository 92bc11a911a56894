#include "net/deadline.hpp"

namespace imapprobe::net {

Deadline::Deadline(const boost::asio::any_io_executor& executor, std::function<void()> on_expiry)
    : state_(std::make_shared<State>(executor, std::move(on_expiry))) {}

Deadline::~Deadline() {
  state_->on_expiry = nullptr;
  state_->timer.cancel();
}

void Deadline::set(Clock::time_point at) {
  if (state_->expired) return;
  state_->timer.expires_at(at);
  state_->timer.async_wait([state = state_](const boost::system::error_code& ec) {
    if (ec || state->expired || !state->on_expiry) return;
    // A wait that completed just before the deadline was moved later is
    // already queued and cannot be cancelled; the expiry tells it apart.
    if (state->timer.expiry() > Clock::now()) return;
    state->expired = true;
    state->on_expiry();
  });
}

}  // namespace imapprobe::net
