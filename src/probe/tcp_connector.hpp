// The production Connector: name resolution, TCP and TLS through
// net::TcpTransport, with the prober's shared TLS context.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "probe/session.hpp"

namespace imapprobe::probe {

class TcpConnector : public Connector {
 public:
  TcpConnector(boost::asio::any_io_executor executor,
               std::shared_ptr<boost::asio::ssl::context> tls);

  boost::asio::awaitable<std::vector<net::Endpoint>> resolve(
      std::string host, std::uint16_t port, IpFamily family,
      net::Clock::time_point deadline) override;
  boost::asio::awaitable<Connection> connect(std::vector<net::Endpoint> endpoints,
                                             net::Clock::time_point deadline) override;

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace imapprobe::probe
