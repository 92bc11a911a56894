// A loopback TCP proxy for integration tests: gives one process its own
// network path to a server (e.g. listen on 127.0.0.11, forward to the server
// on 127.0.0.1) so a test can break the path (cut) and restore it (heal).
// IPv4 only. One thread runs a poll() loop over the listener and every
// forwarded connection; cut() and heal() may be called from any one other
// thread (the test's), not concurrently with each other or the destructor.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imapprobe::testing {

class TcpProxy {
 public:
  // Listens on bind_ip:port (port 0: any free port; SO_REUSEADDR) and forwards each
  // accepted connection to target_ip:target_port, both directions, until either side closes.
  // A side's FIN is passed on to the other (half-close); an error or reset on either side
  // closes both. A target that refuses gets the client an EOF.
  // Throws std::runtime_error if an address is invalid or cannot be bound.
  TcpProxy(std::string bind_ip, int port, std::string target_ip, int target_port);
  ~TcpProxy();  // stops everything, joins threads, closes every fd
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Breaks the path: closes the listening socket (new connects get ECONNREFUSED) and
  // every forwarded connection open now (both ends shut down and closed). Returns once done.
  void cut();
  // Listens again on the same ip:port (retry bind for up to 5 s if EADDRINUSE).
  // No-op unless cut. Throws std::runtime_error if the port cannot be bound again.
  void heal();
  bool is_cut() const { return cut_; }

 private:
  struct Direction {
    std::string buffer;      // read from one side, not yet written to the other
    bool eof = false;        // the reading side sent FIN
    bool shut_down = false;  // FIN passed on to the writing side
  };
  struct Connection {
    int client = -1;
    int server = -1;
    bool connecting = true;  // non-blocking connect to the target in progress
    Direction up;            // client -> server
    Direction down;          // server -> client
  };
  struct Task {
    std::function<void()> run;
    std::promise<void> done;
  };

  // Reads what `from` has into dir.buffer. false: the connection is broken.
  static bool read_side(int from, Direction& dir);
  // Writes what it can of dir.buffer to `to`; passes the FIN on once all is written.
  static bool write_side(int to, Direction& dir);
  int listen_socket() const;  // bound and listening on bind_addr_, or throws std::system_error
  void run_on_loop(std::function<void()> fn);
  void loop();
  void accept_all();
  void close_connections();

  sockaddr_in bind_addr_{};
  sockaddr_in target_addr_{};
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stop_{false};
  int wake_[2] = {-1, -1};  // self-pipe: [0] polled by the loop, [1] written by callers

  // Owned by the loop thread once it runs.
  int listen_fd_ = -1;
  std::vector<Connection> connections_;

  std::mutex mu_;
  std::vector<Task> tasks_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace imapprobe::testing
