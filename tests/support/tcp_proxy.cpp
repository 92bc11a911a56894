#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace imapprobe::testing {
namespace {

// Per direction: stop reading from a side while this much waits to be written to the other.
constexpr std::size_t kMaxBuffered = 256 * 1024;
constexpr int kPollTimeoutMs = 100;

sockaddr_in ipv4(const std::string& ip, int port) {
  if (port < 0 || port > 65535)
    throw std::runtime_error("TcpProxy: bad port " + std::to_string(port));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("TcpProxy: not an IPv4 address: " + ip);
  }
  return addr;
}

std::string errno_text(const char* what) {
  return std::string("TcpProxy: ") + what + ": " + std::strerror(errno);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

TcpProxy::TcpProxy(std::string bind_ip, int port, std::string target_ip, int target_port)
    : bind_addr_(ipv4(bind_ip, port)), target_addr_(ipv4(target_ip, target_port)) {
  listen_fd_ = listen_socket();
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    const std::string err = errno_text("getsockname");
    close_fd(listen_fd_);
    throw std::runtime_error(err);
  }
  port_ = ntohs(bound.sin_port);
  bind_addr_.sin_port = bound.sin_port;  // heal() binds the same port
  if (::pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
    const std::string err = errno_text("pipe2");
    close_fd(listen_fd_);
    throw std::runtime_error(err);
  }
  thread_ = std::thread([this] { loop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  const char byte = 's';
  [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);
  thread_.join();  // the loop closes the listener and every connection on its way out
  close_fd(wake_[0]);
  close_fd(wake_[1]);
}

int TcpProxy::listen_socket() const {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(errno_text("socket"));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_addr_), sizeof bind_addr_) != 0 ||
      ::listen(fd, 64) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &bind_addr_.sin_addr, ip, sizeof ip);
    throw std::system_error(saved, std::generic_category(),
                            std::string("TcpProxy: bind/listen on ") + ip + ":" +
                                std::to_string(ntohs(bind_addr_.sin_port)));
  }
  return fd;
}

void TcpProxy::cut() {
  run_on_loop([this] {
    close_fd(listen_fd_);
    close_connections();
    cut_ = true;
  });
}

void TcpProxy::heal() {
  if (!cut_) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int fd = -1;
  for (;;) {
    try {
      fd = listen_socket();
      break;
    } catch (const std::system_error& e) {
      if (e.code().value() != EADDRINUSE || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  run_on_loop([this, fd] {
    listen_fd_ = fd;
    cut_ = false;
  });
}

void TcpProxy::run_on_loop(std::function<void()> fn) {
  std::future<void> done;
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(Task{std::move(fn), {}});
    done = tasks_.back().done.get_future();
  }
  const char byte = 't';
  [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);  // full pipe: already woken
  done.get();
}

void TcpProxy::close_connections() {
  for (auto& c : connections_) {
    ::shutdown(c.client, SHUT_RDWR);
    ::shutdown(c.server, SHUT_RDWR);
    close_fd(c.client);
    close_fd(c.server);
  }
  connections_.clear();
}

void TcpProxy::accept_all() {
  for (;;) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN (all taken) or an aborted connection: next poll
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (server < 0) {
      ::close(client);
      continue;
    }
    Connection c;
    c.client = client;
    c.server = server;
    if (::connect(server, reinterpret_cast<const sockaddr*>(&target_addr_), sizeof target_addr_) ==
        0) {
      c.connecting = false;
    } else if (errno != EINPROGRESS) {
      ::close(server);
      ::close(client);  // the target refuses: so does the proxy, with an EOF
      continue;
    }
    connections_.push_back(std::move(c));
  }
}

void TcpProxy::loop() {
  std::vector<pollfd> fds;
  while (!stop_) {
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, static_cast<short>(listen_fd_ >= 0 ? POLLIN : 0), 0});
    for (const auto& c : connections_) {
      short client_events = 0;
      short server_events = 0;
      if (!c.up.eof && c.up.buffer.size() < kMaxBuffered) client_events |= POLLIN;
      if (!c.down.buffer.empty()) client_events |= POLLOUT;
      if (c.connecting) {
        server_events = POLLOUT;
      } else {
        if (!c.down.eof && c.down.buffer.size() < kMaxBuffered) server_events |= POLLIN;
        if (!c.up.buffer.empty()) server_events |= POLLOUT;
      }
      fds.push_back({c.client, client_events, 0});
      fds.push_back({c.server, server_events, 0});
    }
    // A negative fd (listener while cut) is ignored by poll().
    if (::poll(fds.data(), fds.size(), kPollTimeoutMs) < 0) continue;  // EINTR

    if (fds[0].revents != 0) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    std::vector<Task> tasks;
    {
      std::lock_guard lock(mu_);
      tasks.swap(tasks_);
    }
    if (!tasks.empty()) {
      for (auto& t : tasks) {
        t.run();
        t.done.set_value();
      }
      continue;  // fds may have changed: poll again
    }
    if (stop_) break;

    const std::size_t polled = connections_.size();
    for (std::size_t i = 0; i < polled; ++i) {
      Connection& c = connections_[i];
      const short client_rev = fds[2 + 2 * i].revents;
      const short server_rev = fds[3 + 2 * i].revents;
      bool ok = true;
      if (c.connecting) {
        if (server_rev != 0) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c.server, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            ok = false;
          } else {
            c.connecting = false;
          }
        }
      } else if (server_rev & POLLERR) {
        ok = false;
      }
      if (client_rev & POLLERR) ok = false;
      // Reading is tried on POLLHUP too, whatever the buffer holds, so a hang-up is
      // noticed (recv returns 0 or the error) instead of being reported forever.
      if (ok && (client_rev & (POLLIN | POLLHUP)) && !c.up.eof) ok = read_side(c.client, c.up);
      if (ok && !c.connecting && (server_rev & (POLLIN | POLLHUP)) && !c.down.eof) {
        ok = read_side(c.server, c.down);
      }
      if (ok && !c.connecting) ok = write_side(c.server, c.up);
      if (ok) ok = write_side(c.client, c.down);
      if (!ok || (c.up.shut_down && c.down.shut_down)) {
        close_fd(c.client);
        close_fd(c.server);
      }
    }
    std::erase_if(connections_, [](const Connection& c) { return c.client < 0; });

    if (listen_fd_ >= 0 && (fds[1].revents & POLLIN)) accept_all();
  }
  // Stopping: answer any caller still waiting, then close everything.
  {
    std::lock_guard lock(mu_);
    for (auto& t : tasks_) t.done.set_value();
    tasks_.clear();
  }
  close_fd(listen_fd_);
  close_connections();
}

bool TcpProxy::read_side(int from, Direction& dir) {
  char buf[16 * 1024];
  const ssize_t n = ::recv(from, buf, sizeof buf, 0);
  if (n > 0) {
    dir.buffer.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  if (n == 0) {
    dir.eof = true;
    return true;
  }
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

bool TcpProxy::write_side(int to, Direction& dir) {
  while (!dir.buffer.empty()) {
    const ssize_t n = ::send(to, dir.buffer.data(), dir.buffer.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return false;
    }
    dir.buffer.erase(0, static_cast<std::size_t>(n));
  }
  if (dir.eof && dir.buffer.empty() && !dir.shut_down) {
    ::shutdown(to, SHUT_WR);
    dir.shut_down = true;
  }
  return true;
}

}  // namespace imapprobe::testing
