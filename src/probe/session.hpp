// The session script: one IMAP session as a mail client performs it,
// from connect to LOGOUT, every step timed with a monotonic clock. It
// only sequences and times; the dialogues live in imap_client,
// authenticate and mailbox_steps, the bytes behind a net::Transport.
#pragma once

#include <memory>
#include <vector>

#include "imap/response.hpp"
#include "net/tcp_transport.hpp"
#include "net/transport.hpp"
#include "probe/result.hpp"
#include "probe/spec.hpp"

namespace imapprobe::probe {

class TokenCache;

struct Connection {
  std::unique_ptr<net::Transport> transport;
  net::Endpoint remote;
};

// How a session reaches its server: over TCP in production, a scripted
// in-memory transport in unit tests. Both throw net::IoError.
class Connector {
 public:
  virtual ~Connector() = default;
  // An empty answer is "no address of that family".
  virtual boost::asio::awaitable<std::vector<net::Endpoint>> resolve(
      std::string host, std::uint16_t port, IpFamily family, net::Clock::time_point deadline) = 0;
  virtual boost::asio::awaitable<Connection> connect(std::vector<net::Endpoint> endpoints,
                                                     net::Clock::time_point deadline) = 0;
};

// Where to connect. An IP literal is used as it is (`resolved` false: no
// lookup, no resolver thread); a name goes to the connector's resolver.
// Fails DNSFailed (a StepFailure) when the lookup fails, times out or finds
// no address of `family`.
struct Lookup {
  std::vector<net::Endpoint> endpoints;
  bool resolved = false;
};
// The same for any host: throws net::IoError when the lookup fails; an
// empty list is "no address of `family`". The caller names the failure.
boost::asio::awaitable<Lookup> resolve_host(std::string host, std::uint16_t port, IpFamily family,
                                            Connector& connector, net::Clock::time_point deadline);
boost::asio::awaitable<Lookup> look_up(const ProbeSpec& spec, IpFamily family, Connector& connector,
                                       net::Clock::time_point deadline);

// Runs one session. `endpoints`, when given, were resolved by the caller
// (one address family of ipFamily Both) and the session does no lookup;
// an IP literal host needs none either, and its result has no dns step.
// Never throws for what the server or network does: every failure is the
// result's reason and failed step. Thresholds are not applied here.
// `tokens` keeps auth.oauth2 tokens between runs (null: one per run).
boost::asio::awaitable<ProbeResult> run_session(const ProbeSpec& spec,
                                                const Credentials& credentials,
                                                Connector& connector, imap::Limits limits,
                                                std::vector<net::Endpoint> endpoints = {},
                                                TokenCache* tokens = nullptr);

}  // namespace imapprobe::probe
