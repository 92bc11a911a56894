#include "support/scripted_transport.hpp"

#include <algorithm>
#include <cstring>

#include "imap/text.hpp"

namespace imapprobe::testing {

ScriptedTransport& ScriptedTransport::server(std::string bytes) {
  steps_.push_back(Step{Kind::Server, std::move(bytes), {}});
  return *this;
}

ScriptedTransport& ScriptedTransport::client(std::string bytes) {
  steps_.push_back(Step{Kind::Client, std::move(bytes), {}});
  return *this;
}

ScriptedTransport& ScriptedTransport::client_until(std::string terminator) {
  steps_.push_back(Step{Kind::ClientUntil, std::move(terminator), {}});
  return *this;
}

ScriptedTransport& ScriptedTransport::tls(net::TlsFacts facts) {
  steps_.push_back(Step{Kind::Tls, {}, std::move(facts)});
  return *this;
}

ScriptedTransport& ScriptedTransport::fail_at(std::size_t op, net::IoFailure kind,
                                              std::string peer_bytes) {
  fail_op_ = op;
  fail_kind_ = kind;
  fail_peer_bytes_ = std::move(peer_bytes);
  return *this;
}

void ScriptedTransport::count_operation() {
  ++ops_;
  if (closed_) throw net::IoError(net::IoFailure::Other, "script: used after close");
  if (ops_ == fail_op_) {
    throw net::IoError(fail_kind_, "script: failure injected at operation " + std::to_string(ops_),
                       fail_peer_bytes_);
  }
}

void ScriptedTransport::leave_script(const std::string& what) {
  if (mismatch_.empty()) mismatch_ = what;
  // A server that gets what it did not expect hangs up.
  throw net::IoError(net::IoFailure::Reset, "script: " + what);
}

boost::asio::awaitable<std::size_t> ScriptedTransport::read_some(std::span<char> into) {
  count_operation();
  if (next_ == steps_.size() || steps_[next_].kind != Kind::Server) {
    // The server waits (for the client, or forever): what a real one does
    // until the deadline passes.
    throw net::IoError(net::IoFailure::TimedOut, "script: the server sends nothing here");
  }
  Step& step = steps_[next_];
  const std::size_t n = std::min(into.size(), step.bytes.size() - step.done);
  std::memcpy(into.data(), step.bytes.data() + step.done, n);
  step.done += n;
  if (step.done == step.bytes.size()) ++next_;
  co_return n;
}

boost::asio::awaitable<void> ScriptedTransport::write(std::string_view data) {
  count_operation();
  sent_ += data;
  writes_.emplace_back(data);
  while (!data.empty()) {
    if (next_ < steps_.size() && steps_[next_].kind == Kind::ClientUntil) {
      Step& step = steps_[next_];
      const std::size_t before = step.seen.size();
      step.seen += data;
      const auto at = step.seen.find(step.bytes);
      if (at == std::string::npos) break;
      const std::size_t used = at + step.bytes.size() - before;
      data.remove_prefix(used);
      ++next_;
      continue;
    }
    if (next_ == steps_.size() || steps_[next_].kind != Kind::Client) {
      leave_script("unexpected write \"" + imap::escape_excerpt(data, 200) + "\"");
    }
    Step& step = steps_[next_];
    const std::size_t n = std::min(data.size(), step.bytes.size() - step.done);
    if (data.substr(0, n) != std::string_view(step.bytes).substr(step.done, n)) {
      leave_script("client sent \"" + imap::escape_excerpt(data, 200) + "\", script expects \"" +
                   imap::escape_excerpt(std::string_view(step.bytes).substr(step.done), 200) +
                   "\"");
    }
    step.done += n;
    data.remove_prefix(n);
    if (step.done == step.bytes.size()) ++next_;
  }
  co_return;
}

boost::asio::awaitable<net::TlsFacts> ScriptedTransport::start_tls(std::string server_name) {
  count_operation();
  tls_name_ = server_name;
  if (next_ == steps_.size() || steps_[next_].kind != Kind::Tls) {
    leave_script("unexpected TLS handshake");
  }
  secure_ = true;
  co_return steps_[next_++].facts;
}

}  // namespace imapprobe::testing
