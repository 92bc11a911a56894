// A Connector over scripted transports, one per host name, so a unit test
// can script a session that reaches several servers (IMAP, then a token
// endpoint or an SMTP server). Each host resolves to its own documentation
// address (192.0.2.N), and connect() hands out that host's transport.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "probe/session.hpp"
#include "support/scripted_transport.hpp"

namespace imapprobe::testing {

class ScriptedConnector final : public probe::Connector {
 public:
  ScriptedConnector() = default;
  // Every connection not to a served host (an IP literal, or any name:
  // names resolve to 192.0.2.1) uses `any`.
  explicit ScriptedConnector(ScriptedTransport& any) : any_(&any) {}

  // Connections to `host` use `transport` (which must outlive the connector).
  ScriptedConnector& serve(const std::string& host, ScriptedTransport& transport) {
    hosts_[host] = Host{&transport, std::nullopt, address_for(hosts_.size() + 2)};
    return *this;
  }
  // Connections to `host` fail with `kind` (Refused, TimedOut, ...).
  ScriptedConnector& refuse(const std::string& host, net::IoFailure kind) {
    hosts_[host] = Host{nullptr, kind, address_for(hosts_.size() + 2)};
    return *this;
  }

  boost::asio::awaitable<std::vector<net::Endpoint>> resolve(std::string host, std::uint16_t port,
                                                             probe::IpFamily,
                                                             net::Clock::time_point) override {
    resolved.push_back(host);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) {
      if (any_ == nullptr) co_return std::vector<net::Endpoint>{};
      co_return std::vector<net::Endpoint>{net::Endpoint(address_for(1), port)};
    }
    co_return std::vector<net::Endpoint>{net::Endpoint(it->second.address, port)};
  }
  boost::asio::awaitable<probe::Connection> connect(std::vector<net::Endpoint> endpoints,
                                                    net::Clock::time_point) override {
    ++connects;
    for (auto& [name, host] : hosts_) {
      if (host.address != endpoints.front().address()) continue;
      if (host.failure) throw net::IoError(*host.failure, "scripted failure for " + name);
      probe::Connection c;
      c.transport = std::make_unique<BorrowedTransport>(*host.transport);
      c.remote = endpoints.front();
      co_return c;
    }
    if (any_ != nullptr) {
      probe::Connection c;
      c.transport = std::make_unique<BorrowedTransport>(*any_);
      c.remote = endpoints.front();
      co_return c;
    }
    throw std::logic_error("no scripted host at " + endpoints.front().address().to_string());
  }

  std::vector<std::string> resolved;
  int connects = 0;

 private:
  struct Host {
    ScriptedTransport* transport;
    std::optional<net::IoFailure> failure;
    boost::asio::ip::address address;
  };
  static boost::asio::ip::address address_for(std::size_t n) {
    return boost::asio::ip::make_address("192.0.2." + std::to_string(n));
  }
  std::map<std::string, Host> hosts_;
  ScriptedTransport* any_ = nullptr;
};

}  // namespace imapprobe::testing
