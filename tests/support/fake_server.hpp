// Small misbehaving IMAP servers for fault tests: each listens on
// 127.0.0.1 on a port the kernel picks and runs one behaviour per
// connection on its own thread. Bounded: every behaviour stops by itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imapprobe::testing {

// A connected client socket as the behaviour sees it.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  // false once the client is gone
  bool send(const std::string& data);
  // One line (without CRLF) or nullopt-like empty+false on EOF/timeout.
  bool read_line(std::string& line, int timeout_ms = 5000);
  // Everything received so far on this connection.
  const std::string& received() const { return received_; }

 private:
  int fd_;
  std::string buffer_;
  std::string received_;
};

// A loopback port nothing listens on (bound, read, released): for
// "connection refused" cases and for servers started on a chosen port.
std::uint16_t unused_loopback_port();

class FakeServer {
 public:
  using Behaviour = std::function<void(Peer&)>;
  explicit FakeServer(Behaviour behaviour);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::uint16_t port() const { return port_; }
  // Bytes every finished connection received, for "nothing secret was sent" checks.
  std::string all_received();
  bool stopping() const { return stop_; }

 private:
  void serve();
  Behaviour behaviour_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string received_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace imapprobe::testing
