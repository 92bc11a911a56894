// An in-memory server for protocol code, in the manner of Boost.Beast's
// test::stream: a script of what the server sends and what the client must
// send, in order, and a failure injected at the Nth operation. No sockets,
// no clocks: a read the script cannot serve is a timeout, as it would be
// against a real server that waits.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/transport.hpp"

namespace imapprobe::testing {

class ScriptedTransport final : public net::Transport {
 public:
  // The server sends `bytes`; one read returns at most these bytes.
  ScriptedTransport& server(std::string bytes);
  // The client must send exactly `bytes` next (in one write or several).
  ScriptedTransport& client(std::string bytes);
  // The client sends anything up to and including `terminator` next (a
  // message body with a date in it, a random token); sent() keeps it.
  ScriptedTransport& client_until(std::string terminator);
  // start_tls() is expected here and succeeds with `facts`.
  ScriptedTransport& tls(net::TlsFacts facts = {});
  // The `op`th operation (1-based, reads, writes and start_tls alike)
  // fails with `kind`; `peer_bytes` as a failed handshake reports them.
  ScriptedTransport& fail_at(std::size_t op, net::IoFailure kind, std::string peer_bytes = {});

  boost::asio::awaitable<std::size_t> read_some(std::span<char> into) override;
  boost::asio::awaitable<void> write(std::string_view data) override;
  boost::asio::awaitable<net::TlsFacts> start_tls(std::string server_name) override;
  bool secure() const override { return secure_; }
  void set_deadline(net::Clock::time_point at) override { deadlines_.push_back(at); }
  void close() noexcept override { closed_ = true; }

  // Everything the client wrote, and the writes one by one.
  const std::string& sent() const { return sent_; }
  const std::vector<std::string>& writes() const { return writes_; }
  // The first place the client left the script, or empty.
  const std::string& mismatch() const { return mismatch_; }
  // Every step of the script was played.
  bool finished() const { return next_ == steps_.size(); }
  std::size_t operations() const { return ops_; }
  std::size_t deadlines_set() const { return deadlines_.size(); }
  bool closed() const { return closed_; }
  const std::string& tls_server_name() const { return tls_name_; }

 private:
  enum class Kind { Server, Client, ClientUntil, Tls };
  struct Step {
    Kind kind;
    std::string bytes;
    net::TlsFacts facts;
    std::size_t done = 0;  // bytes of this step already played
    std::string seen{};    // ClientUntil: what came so far
  };
  void count_operation();
  [[noreturn]] void leave_script(const std::string& what);

  std::vector<Step> steps_;
  std::size_t next_ = 0;
  std::size_t ops_ = 0;
  std::size_t fail_op_ = 0;
  net::IoFailure fail_kind_ = net::IoFailure::Other;
  std::string fail_peer_bytes_;
  std::string sent_;
  std::vector<std::string> writes_;
  std::string mismatch_;
  std::vector<net::Clock::time_point> deadlines_;
  std::string tls_name_;
  bool secure_ = false;
  bool closed_ = false;
};

// Lends a test-owned transport to code that wants to own one (a session).
class BorrowedTransport final : public net::Transport {
 public:
  explicit BorrowedTransport(net::Transport& t) : t_(t) {}
  boost::asio::awaitable<std::size_t> read_some(std::span<char> into) override {
    return t_.read_some(into);
  }
  boost::asio::awaitable<void> write(std::string_view data) override { return t_.write(data); }
  boost::asio::awaitable<net::TlsFacts> start_tls(std::string name) override {
    return t_.start_tls(std::move(name));
  }
  bool secure() const override { return t_.secure(); }
  void set_deadline(net::Clock::time_point at) override { t_.set_deadline(at); }
  void close() noexcept override { t_.close(); }

 private:
  net::Transport& t_;
};

// Runs an awaitable to completion on a private io_context; exceptions
// propagate to the test.
template <typename T>
T run_awaitable(boost::asio::awaitable<T> work) {
  boost::asio::io_context io;
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T value) {
    if (e) {
      error = e;
    } else {
      out.emplace(std::move(value));
    }
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline void run_awaitable(boost::asio::awaitable<void> work) {
  boost::asio::io_context io;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

}  // namespace imapprobe::testing
