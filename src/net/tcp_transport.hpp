// The real transport: name resolution, TCP connect and TLS over
// Boost.Asio and OpenSSL, each bounded by a deadline.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/deadline.hpp"
#include "net/transport.hpp"

namespace imapprobe::net {

using Endpoint = boost::asio::ip::tcp::endpoint;
enum class Family { Any, IPv4, IPv6 };

// "192.0.2.1:993", "[2001:db8::1]:993".
std::string host_port(const Endpoint& e);

// `host` as an address when it is an IP literal, which needs no lookup.
std::optional<boost::asio::ip::address> ip_literal(const std::string& host);

// The addresses of host:port in the resolver's order. Throws IoError:
// TimedOut at `deadline`, Other with the resolver's text otherwise. An
// empty answer is "no address of that family".
boost::asio::awaitable<std::vector<Endpoint>> resolve(boost::asio::any_io_executor executor,
                                                      std::string host, std::uint16_t port,
                                                      Family family, Clock::time_point deadline);

class TcpTransport final : public Transport {
 public:
  // A plain-text connection still takes a context: the stream type is the
  // same for both; it is only used by start_tls().
  TcpTransport(const boost::asio::any_io_executor& executor,
               std::shared_ptr<boost::asio::ssl::context> tls_context);

  // Tries the endpoints in order until one accepts. Throws IoError
  // (Refused when the last one refused).
  boost::asio::awaitable<Endpoint> connect(std::vector<Endpoint> endpoints);

  boost::asio::awaitable<std::size_t> read_some(std::span<char> into) override;
  boost::asio::awaitable<void> write(std::string_view data) override;
  boost::asio::awaitable<TlsFacts> start_tls(std::string server_name) override;
  bool secure() const override { return tls_; }
  void set_deadline(Clock::time_point at) override { deadline_.set(at); }
  void close() noexcept override;

 private:
  [[noreturn]] void fail(const boost::system::error_code& ec) const;
  static void on_tls_message(int write_p, int version, int content_type, const void* buf,
                             std::size_t len, SSL* ssl, void* arg);

  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
  Deadline deadline_;
  bool tls_ = false;
  long verify_error_ = X509_V_OK;
  std::string peer_first_bytes_;
};

}  // namespace imapprobe::net
