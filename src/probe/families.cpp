#include "probe/families.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "probe/evaluate.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;
using Clock = net::Clock;

namespace {

int severity(Outcome o) {
  switch (o) {
    case Outcome::Success:
      return 0;
    case Outcome::Degraded:
      return 1;
    case Outcome::Failure:
      return 2;
  }
  return 2;
}

ProbeResult lookup_failure(const StepFailure& f, Duration took) {
  ProbeResult r;
  r.outcome = Outcome::Failure;
  r.reason = f.reason;
  r.message = f.message;
  r.failed_step = Step::Dns;
  r.durations[Step::Dns] = took;
  r.total = took;
  return r;
}

}  // namespace

ProbeResult combine_families(std::vector<ProbeResult> per_family,
                             std::vector<std::string> family_names, std::optional<Duration> lookup,
                             Duration total) {
  std::vector<FamilyResult> families;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < per_family.size(); ++i) {
    const ProbeResult& r = per_family[i];
    families.push_back(FamilyResult{family_names[i], r.remote_address, r.outcome, r.reason,
                                    r.message, r.failed_step, r.total});
    if (severity(r.outcome) > severity(per_family[worst].outcome)) worst = i;
  }
  ProbeResult out = std::move(per_family[worst]);
  if (families.size() > 1) {
    std::string others;
    for (std::size_t i = 0; i < families.size(); ++i) {
      if (i == worst) continue;
      others +=
          "; " + families[i].family + " " +
          (families[i].outcome == Outcome::Success ? std::string("ok")
                                                   : std::string(to_string(families[i].reason)));
    }
    if (out.outcome == Outcome::Success) {
      out.message += " (IPv4 and IPv6)";
    } else {
      out.message = families[worst].family + " (" + families[worst].remote_address +
                    "): " + out.message + others;
    }
  }
  if (lookup) out.durations[Step::Dns] = *lookup;
  out.total = total;
  out.families = std::move(families);
  return out;
}

asio::awaitable<ProbeResult> run_each_family(const ProbeSpec& spec, const Credentials& credentials,
                                             Connector& connector, imap::Limits limits,
                                             TokenCache* tokens) {
  const auto started = Clock::now();
  Lookup found;
  try {
    found = co_await look_up(spec, IpFamily::Any, connector,
                             started + std::min(spec.step_timeout, spec.timeout));
  } catch (const StepFailure& f) {
    co_return lookup_failure(f, Clock::now() - started);
  }
  std::optional<Duration> lookup;
  if (found.resolved) lookup = Clock::now() - started;
  const std::vector<net::Endpoint>& endpoints = found.endpoints;

  std::vector<std::vector<net::Endpoint>> groups;
  std::vector<std::string> names;
  for (const bool v4 : {true, false}) {
    std::vector<net::Endpoint> group;
    for (const auto& e : endpoints) {
      if (e.address().is_v4() == v4) group.push_back(e);
    }
    if (group.empty()) continue;
    groups.push_back(std::move(group));
    names.emplace_back(v4 ? "IPv4" : "IPv6");
  }

  // The families run at once, so a Both run takes as long as its slowest
  // family, not their sum, and each keeps the whole timeout.
  const auto executor = co_await asio::this_coro::executor;
  std::vector<ProbeResult> results(groups.size());
  std::exception_ptr error;
  std::size_t remaining = groups.size();
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    asio::co_spawn(executor, run_session(spec, credentials, connector, limits, groups[i], tokens),
                   [&, i](std::exception_ptr e, ProbeResult r) {
                     if (e && !error) error = e;
                     if (!e) results[i] = std::move(r);
                     if (--remaining == 0) all_done.cancel();
                   });
  }
  boost::system::error_code ignored;
  while (remaining > 0) {
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  if (error) std::rethrow_exception(error);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ProbeResult& r = results[i];
    // A family that never connected still names the address it tried.
    if (r.remote_address.empty()) r.remote_address = net::host_port(groups[i].front());
    if (r.outcome != Outcome::Failure) evaluate(spec, r);
  }
  co_return combine_families(std::move(results), std::move(names), lookup, Clock::now() - started);
}

}  // namespace imapprobe::probe
