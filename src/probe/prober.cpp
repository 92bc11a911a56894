#include "probe/prober.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "probe/evaluate.hpp"
#include "probe/families.hpp"
#include "probe/session.hpp"
#include "probe/tcp_connector.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;

Prober::Prober(asio::any_io_executor executor, imap::Limits limits)
    : executor_(std::move(executor)),
      limits_(limits),
      tls_(std::make_shared<TlsContextCache>()),
      tokens_(std::make_shared<TokenCache>()) {}

asio::awaitable<ProbeResult> Prober::run(ProbeSpec spec, Credentials credentials) {
  // A plain-text probe still gets a (trust-less, cheap) context because the
  // stream type is the same for both; it never handshakes.
  std::shared_ptr<asio::ssl::context> ctx;
  {
    // An https token endpoint is verified with the probe's trust too.
    const bool tls = spec.tls != TlsMode::None ||
                     (spec.delivery && spec.delivery->tls != TlsMode::None) ||
                     (spec.oauth2 && !spec.oauth2->token_url.starts_with("http:"));
    try {
      ctx = tls_->get(tls ? spec.ca_pem : std::string(), tls && spec.use_system_trust,
                      spec.min_tls_version);
    } catch (const std::exception& e) {
      ProbeResult r;
      r.reason = Reason::TLSHandshakeFailed;
      r.message = e.what();
      r.failed_step = Step::Tls;
      co_return r;
    }
  }
  TcpConnector connector(executor_, std::move(ctx));
  if (spec.ip_family == IpFamily::Both) {
    co_return co_await run_each_family(spec, credentials, connector, limits_, tokens_.get());
  }
  ProbeResult result =
      co_await run_session(spec, credentials, connector, limits_, {}, tokens_.get());
  if (result.outcome != Outcome::Failure) evaluate(spec, result);
  co_return result;
}

ProbeResult internal_error_result(std::exception_ptr error) {
  ProbeResult r;
  r.outcome = Outcome::Failure;
  r.reason = Reason::InternalError;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    r.message = std::string("internal error in imapprobe (not the server's fault): ") + e.what();
  } catch (...) {
    r.message = "internal error in imapprobe (not the server's fault): unknown exception";
  }
  return r;
}

ProbeResult run_probe(const ProbeSpec& spec, const Credentials& credentials) {
  asio::io_context io;
  Prober prober(io.get_executor());
  std::optional<ProbeResult> result;
  std::exception_ptr error;
  asio::co_spawn(io, prober.run(spec, credentials), [&](std::exception_ptr e, ProbeResult r) {
    if (e) {
      error = e;
    } else {
      result = std::move(r);
    }
  });
  io.run();
  if (error) return internal_error_result(error);
  return std::move(*result);
}

}  // namespace imapprobe::probe
