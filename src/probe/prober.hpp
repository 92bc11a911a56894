// The check itself: one IMAP session as a mail client performs it, every
// step timed with a monotonic clock. Asynchronous: one io_context runs any
// number of probes at once, without a thread per probe.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <boost/asio/io_context.hpp>
#include <exception>
#include <memory>

#include "imap/response.hpp"
#include "probe/result.hpp"
#include "probe/spec.hpp"
#include "probe/tls.hpp"
#include "probe/token_cache.hpp"

namespace imapprobe::probe {

class Prober {
 public:
  explicit Prober(boost::asio::any_io_executor executor, imap::Limits limits = {});

  // Runs one probe. Never throws for anything the server or network does:
  // every failure becomes a ProbeResult with a reason and the failed step.
  // Thresholds and certificate windows are applied (see evaluate.hpp).
  boost::asio::awaitable<ProbeResult> run(ProbeSpec spec, Credentials credentials);

 private:
  boost::asio::any_io_executor executor_;
  imap::Limits limits_;
  std::shared_ptr<TlsContextCache> tls_;
  // auth.oauth2 tokens, shared by the runs of each probe (OAuth2Spec::cache_key).
  std::shared_ptr<TokenCache> tokens_;
};

// The result for an exception that escaped the engine: reason InternalError,
// the exception's text, never blamed on the server.
ProbeResult internal_error_result(std::exception_ptr error);

// Convenience for one-shot callers (the CLI): runs a private io_context.
// An escaped exception (a bug) becomes internal_error_result.
ProbeResult run_probe(const ProbeSpec& spec, const Credentials& credentials);

}  // namespace imapprobe::probe
