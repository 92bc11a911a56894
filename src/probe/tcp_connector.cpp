#include "probe/tcp_connector.hpp"

#include "net/tcp_transport.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;

namespace {

net::Family net_family(IpFamily f) {
  switch (f) {
    case IpFamily::IPv4:
      return net::Family::IPv4;
    case IpFamily::IPv6:
      return net::Family::IPv6;
    default:
      return net::Family::Any;
  }
}

}  // namespace

TcpConnector::TcpConnector(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls)
    : executor_(std::move(executor)), tls_(std::move(tls)) {}

asio::awaitable<std::vector<net::Endpoint>> TcpConnector::resolve(std::string host,
                                                                  std::uint16_t port,
                                                                  IpFamily family,
                                                                  net::Clock::time_point deadline) {
  co_return co_await net::resolve(executor_, std::move(host), port, net_family(family), deadline);
}

asio::awaitable<Connection> TcpConnector::connect(std::vector<net::Endpoint> endpoints,
                                                  net::Clock::time_point deadline) {
  auto transport = std::make_unique<net::TcpTransport>(executor_, tls_);
  transport->set_deadline(deadline);
  Connection c;
  c.remote = co_await transport->connect(std::move(endpoints));
  c.transport = std::move(transport);
  co_return c;
}

}  // namespace imapprobe::probe
