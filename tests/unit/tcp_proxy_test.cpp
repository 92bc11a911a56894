// The loopback TCP proxy (tests/support/tcp_proxy.hpp) in front of a line echo
// server: bytes pass both ways; cut() refuses new connections and breaks open
// ones; heal() listens again on the same port.
#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "support/fake_server.hpp"

namespace imapprobe::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kProxyIp = "127.0.0.11";

// Echoes each line back until the client goes away (or is idle for 5 s).
FakeServer::Behaviour echo() {
  return [](Peer& peer) {
    std::string line;
    while (peer.read_line(line, 5000)) {
      if (!peer.send(line + "\r\n")) return;
    }
  };
}

// A connected socket, closed on scope exit.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {}
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  int fd() const { return fd_; }

  bool send_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads exactly `size` bytes; stops early on EOF, error or a 5 s silence.
  std::string read_exactly(std::size_t size) {
    std::string out;
    while (out.size() < size) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      char buf[16 * 1024];
      const ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, size - out.size()), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  // What the next read sees within `timeout`: 0 for EOF, -errno for an error,
  // 1 for data, -ETIMEDOUT for nothing.
  int next_read(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -ETIMEDOUT;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n < 0) return -errno;
    return n == 0 ? 0 : 1;
  }

 private:
  int fd_;
};

// Connects to ip:port: the socket, or -errno.
int connect_to(const char* ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, ip, &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

std::unique_ptr<Client> connect_client(int port) {
  const int fd = connect_to(kProxyIp, port);
  if (fd < 0) {
    ADD_FAILURE() << "connect to " << kProxyIp << ":" << port << ": " << std::strerror(-fd);
    return nullptr;
  }
  return std::make_unique<Client>(fd);
}

// One line there and back through the proxy.
void expect_echo(Client& client, const std::string& line) {
  ASSERT_TRUE(client.send_all(line + "\r\n"));
  EXPECT_EQ(client.read_exactly(line.size() + 2), line + "\r\n");
}

TEST(TcpProxyTest, ListensOnTheGivenAddressAndForwardsBothWays) {
  FakeServer server(echo());
  TcpProxy proxy(kProxyIp, 0, "127.0.0.1", server.port());
  ASSERT_GT(proxy.port(), 0);
  EXPECT_NE(proxy.port(), server.port());
  EXPECT_FALSE(proxy.is_cut());

  auto client = connect_client(proxy.port());
  ASSERT_TRUE(client);
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  ASSERT_EQ(::getpeername(client->fd(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  EXPECT_STREQ(ip, kProxyIp);

  expect_echo(*client, "a1 NOOP");
  expect_echo(*client, "a2 LOGOUT");
  // More than the proxy buffers per direction, so it must hold back and go on.
  expect_echo(*client, std::string(1024 * 1024, 'x'));

  // Two connections at once, each its own pair.
  auto second = connect_client(proxy.port());
  ASSERT_TRUE(second);
  expect_echo(*second, "b1 CAPABILITY");
  expect_echo(*client, "a3 NOOP");
}

TEST(TcpProxyTest, ClientCloseReachesTheServer) {
  FakeServer server(echo());
  TcpProxy proxy(kProxyIp, 0, "127.0.0.1", server.port());
  {
    auto client = connect_client(proxy.port());
    ASSERT_TRUE(client);
    expect_echo(*client, "a1 NOOP");
  }
  // The echo behaviour ends on EOF, long before its 5 s idle limit.
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (server.all_received().find("a1 NOOP") != std::string::npos) break;
    ASSERT_LT(std::chrono::steady_clock::now() - start, 3s) << "server never saw the close";
    std::this_thread::sleep_for(10ms);
  }
}

TEST(TcpProxyTest, CutRefusesNewConnectionsAndBreaksOpenOnesHealListensAgain) {
  FakeServer server(echo());
  TcpProxy proxy(kProxyIp, 0, "127.0.0.1", server.port());
  const int port = proxy.port();

  auto open = connect_client(port);
  ASSERT_TRUE(open);
  expect_echo(*open, "a1 NOOP");

  proxy.cut();
  EXPECT_TRUE(proxy.is_cut());
  EXPECT_EQ(connect_to(kProxyIp, port), -ECONNREFUSED);
  const int seen = open->next_read(2s);
  EXPECT_TRUE(seen == 0 || seen == -ECONNRESET)
      << "open connection after cut: " << (seen < 0 ? std::strerror(-seen) : "data");
  proxy.cut();  // again: no-op
  EXPECT_TRUE(proxy.is_cut());

  proxy.heal();
  EXPECT_FALSE(proxy.is_cut());
  EXPECT_EQ(proxy.port(), port);
  auto fresh = connect_client(port);
  ASSERT_TRUE(fresh);
  expect_echo(*fresh, "b1 NOOP");
  proxy.heal();  // not cut: no-op
  expect_echo(*fresh, "b2 NOOP");

  // And once more around.
  proxy.cut();
  EXPECT_EQ(connect_to(kProxyIp, port), -ECONNREFUSED);
  const int seen_fresh = fresh->next_read(2s);
  EXPECT_TRUE(seen_fresh == 0 || seen_fresh == -ECONNRESET);
  proxy.heal();
  auto third = connect_client(port);
  ASSERT_TRUE(third);
  expect_echo(*third, "c1 NOOP");
}

TEST(TcpProxyTest, TargetRefusingClosesTheClient) {
  TcpProxy proxy(kProxyIp, 0, "127.0.0.1", unused_loopback_port());
  auto client = connect_client(proxy.port());
  ASSERT_TRUE(client);
  const int seen = client->next_read(2s);
  EXPECT_TRUE(seen == 0 || seen == -ECONNRESET);
}

TEST(TcpProxyTest, DestructorReturnsQuicklyWithOpenConnections) {
  FakeServer server(echo());
  auto proxy = std::make_unique<TcpProxy>(kProxyIp, 0, "127.0.0.1", server.port());
  auto a = connect_client(proxy->port());
  auto b = connect_client(proxy->port());
  ASSERT_TRUE(a && b);
  expect_echo(*a, "a1 NOOP");
  ASSERT_TRUE(b->send_all("half a li"));  // the server waits for the rest

  const auto start = std::chrono::steady_clock::now();
  proxy.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(a->next_read(2s), 0);
  const int seen = b->next_read(2s);
  EXPECT_TRUE(seen == 0 || seen == -ECONNRESET);
}

std::size_t open_fds() {
  const std::filesystem::directory_iterator dir("/proc/self/fd");
  return static_cast<std::size_t>(std::distance(begin(dir), end(dir)));
}

TEST(TcpProxyTest, LeavesNoFileDescriptorOpen) {
  const std::size_t before = open_fds();
  {
    FakeServer server(echo());
    TcpProxy proxy(kProxyIp, 0, "127.0.0.1", server.port());
    auto a = connect_client(proxy.port());
    ASSERT_TRUE(a);
    expect_echo(*a, "a1 NOOP");
    proxy.cut();
    proxy.heal();
    auto b = connect_client(proxy.port());
    ASSERT_TRUE(b);
    expect_echo(*b, "b1 NOOP");
  }
  EXPECT_EQ(open_fds(), before);
}

TEST(TcpProxyTest, RejectsABadAddress) {
  EXPECT_THROW(TcpProxy("not-an-ip", 0, "127.0.0.1", 1), std::runtime_error);
  EXPECT_THROW(TcpProxy("127.0.0.1", 0, "127.0.0.1", 70000), std::runtime_error);
}

}  // namespace
}  // namespace imapprobe::testing
