// imapprobe_bench: the probe engine's cost per probe against a real IMAP
// server (tests/bench/run.sh starts a private Dovecot for it).
//
// Runs --count probes, --concurrency of them at a time, every one on ONE
// io_context thread (as the operator runs them), each concurrent slot logged
// in as its own user (<prefix><slot>). Prints key=value lines: throughput,
// CPU per probe (getrusage of this process: the engine plus OpenSSL, nothing
// else runs here), peak RSS, failures and duration percentiles.
//
//   imapprobe_bench --port 20993 --ca-file ca.pem --count 2000 --concurrency 10
//
// Modes:
//   full      implicit TLS, AUTHENTICATE PLAIN, EXAMINE INBOX, SEARCH ALL,
//             FETCH of the newest 5 messages' headers, LOGOUT
//   tls-only  implicit TLS, greeting, LOGOUT (no login): the engine's floor
//             per connection, comparable with check_imap -S
//
// Exit status: 0 when every probe succeeded, 1 when any failed, 2 on bad flags.
#include <sys/resource.h>

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "probe/prober.hpp"
#include "probe/spec.hpp"

namespace {

namespace asio = boost::asio;
using namespace imapprobe;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string ca_file;
  std::string server_name;  // empty: host (the harness certificate has IP:127.0.0.1)
  std::string user_prefix = "bench";
  std::string password = "bench-secret";
  long count = 1000;
  int concurrency = 1;
  std::string mode = "full";
  long warmup = 1;           // probes before the measurement (TLS context, trust store)
  bool system_trust = true;  // as the operator: system store plus the CA bundle
  int timeout_s = 30;        // per probe (ProbeSpec.timeout)
  bool per_step = true;
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "imapprobe_bench: " << error << "\n"
            << "usage: imapprobe_bench --port P --ca-file F [--host H] [--server-name N]\n"
               "         [--user-prefix bench] [--password bench-secret] [--count N]\n"
               "         [--concurrency C] [--mode full|tls-only] [--warmup N]\n"
               "         [--system-trust 0|1] [--timeout S]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> a(argv + 1, argv + argc);
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::string key = a[i], value;
    if (key == "-h" || key == "--help") usage("help");
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else {
      if (i + 1 >= a.size()) usage("missing value for " + key);
      value = a[++i];
    }
    auto number = [&](long lo, long hi) {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < lo || v > hi)
        usage(key + " needs a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return v;
    };
    if (key == "--host") {
      o.host = value;
    } else if (key == "--port") {
      o.port = static_cast<int>(number(1, 65535));
    } else if (key == "--ca-file") {
      o.ca_file = value;
    } else if (key == "--server-name") {
      o.server_name = value;
    } else if (key == "--user-prefix") {
      o.user_prefix = value;
    } else if (key == "--password") {
      o.password = value;
    } else if (key == "--count") {
      o.count = number(1, 10'000'000);
    } else if (key == "--concurrency") {
      o.concurrency = static_cast<int>(number(1, 10'000));
    } else if (key == "--mode") {
      if (value != "full" && value != "tls-only") usage("--mode is full or tls-only");
      o.mode = value;
    } else if (key == "--warmup") {
      o.warmup = number(0, 100'000);
    } else if (key == "--system-trust") {
      o.system_trust = number(0, 1) == 1;
    } else if (key == "--timeout") {
      o.timeout_s = static_cast<int>(number(1, 3600));
    } else {
      usage("unknown flag " + key);
    }
  }
  if (o.port == 0) usage("--port is required");
  return o;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "imapprobe_bench: cannot read " << path << "\n";
    std::exit(2);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

probe::ProbeSpec make_spec(const Options& o, const std::string& ca_pem) {
  probe::ProbeSpec spec;
  spec.host = o.host;
  spec.port = static_cast<std::uint16_t>(o.port);
  spec.tls = probe::TlsMode::Implicit;
  spec.server_name = o.server_name;
  spec.ca_pem = ca_pem;
  spec.use_system_trust = o.system_trust;
  spec.timeout = std::chrono::seconds(o.timeout_s);
  spec.step_timeout = std::chrono::seconds(std::min(o.timeout_s, 10));
  if (o.mode == "full") {
    spec.mechanism = probe::Mechanism::Plain;
    spec.mailbox = "INBOX";  // EXAMINE (read-only): no round trip
    spec.search = "ALL";
    spec.fetch_latest = 5;
    spec.fetch_what = probe::FetchWhat::Headers;
  } else {
    spec.mechanism = probe::Mechanism::None;
  }
  return spec;
}

struct Usage {
  double cpu_s = 0;
  long maxrss_kib = 0;
};

Usage usage_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return {secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss};
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // nearest rank
  std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

struct Run {
  long target = 0;
  long started = 0;
  long finished = 0;
  long failures = 0;
  std::optional<probe::ProbeResult> first_failure;
  std::string first_failure_user;
  std::vector<double> totals_ms;
  std::map<probe::Step, std::vector<double>> steps_ms;
  bool record = true;
};

// One concurrency slot: probes one after another as its own user until the
// run's count is reached.
asio::awaitable<void> slot(probe::Prober& prober, const probe::ProbeSpec& spec,
                           probe::Credentials creds, Run& run) {
  while (run.started < run.target) {
    ++run.started;
    probe::ProbeSpec s = spec;
    probe::Credentials c = creds;
    probe::ProbeResult r = co_await prober.run(std::move(s), std::move(c));
    ++run.finished;
    if (r.outcome == probe::Outcome::Failure) {
      ++run.failures;
      if (!run.first_failure) {
        run.first_failure = r;
        run.first_failure_user = creds.username;
      }
    }
    if (run.record) {
      run.totals_ms.push_back(std::chrono::duration<double, std::milli>(r.total).count());
      for (const auto& [step, d] : r.durations)
        run.steps_ms[step].push_back(std::chrono::duration<double, std::milli>(d).count());
    }
  }
}

// Runs `count` probes with `concurrency` slots to completion on `io`.
void execute(asio::io_context& io, probe::Prober& prober, const Options& o,
             const probe::ProbeSpec& spec, Run& run) {
  std::exception_ptr error;
  const int slots = static_cast<int>(std::min<long>(o.concurrency, run.target));
  for (int i = 0; i < slots; ++i) {
    probe::Credentials creds;
    if (o.mode == "full") creds = {o.user_prefix + std::to_string(i), o.password};
    asio::co_spawn(io, slot(prober, spec, std::move(creds), run), [&](std::exception_ptr e) {
      if (e && !error) error = e;
    });
  }
  io.run();
  io.restart();
  if (error) std::rethrow_exception(error);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string ca_pem = o.ca_file.empty() ? std::string() : read_file(o.ca_file);
  const probe::ProbeSpec spec = make_spec(o, ca_pem);

  asio::io_context io(1);  // one thread: this one
  probe::Prober prober(io.get_executor());

  try {
    if (o.warmup > 0) {
      Run warm;
      warm.target = o.warmup;
      warm.record = false;
      execute(io, prober, o, spec, warm);
      if (warm.failures > 0) {
        const auto& f = *warm.first_failure;
        std::cout << "warmup_failures=" << warm.failures << "\n"
                  << "first_failure_user=" << warm.first_failure_user << "\n"
                  << "first_failure_reason=" << probe::to_string(f.reason) << "\n"
                  << "first_failure_message=" << f.message << "\n";
        return 1;
      }
    }

    Run run;
    run.target = o.count;
    run.totals_ms.reserve(static_cast<std::size_t>(o.count));
    const Usage u0 = usage_now();
    const auto t0 = Clock::now();
    execute(io, prober, o, spec, run);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const Usage u1 = usage_now();
    const double cpu = u1.cpu_s - u0.cpu_s;

    std::printf("mode=%s\n", o.mode.c_str());
    std::printf("probes=%ld\n", run.finished);
    std::printf("concurrency=%d\n", o.concurrency);
    std::printf("wall_seconds=%.3f\n", wall);
    std::printf("probes_per_second=%.1f\n", wall > 0 ? run.finished / wall : 0.0);
    std::printf("cpu_seconds=%.3f\n", cpu);
    std::printf("cpu_ms_per_probe=%.3f\n", run.finished > 0 ? cpu * 1000.0 / run.finished : 0.0);
    std::printf("peak_rss_kib=%ld\n", u1.maxrss_kib);
    std::printf("failures=%ld\n", run.failures);
    if (run.first_failure) {
      const auto& f = *run.first_failure;
      std::printf("first_failure_user=%s\n", run.first_failure_user.c_str());
      std::printf("first_failure_reason=%s\n", std::string(probe::to_string(f.reason)).c_str());
      std::printf("first_failure_step=%s\n",
                  f.failed_step ? std::string(probe::to_string(*f.failed_step)).c_str() : "");
      std::printf("first_failure_message=%s\n", f.message.c_str());
    }
    std::printf("total_ms_p50=%.3f\n", percentile(run.totals_ms, 0.50));
    std::printf("total_ms_p99=%.3f\n", percentile(run.totals_ms, 0.99));
    std::printf("total_ms_max=%.3f\n", percentile(run.totals_ms, 1.0));
    if (o.per_step) {
      for (const auto& [step, v] : run.steps_ms) {
        const std::string name(probe::to_string(step));
        std::printf("step_%s_ms_p50=%.3f\n", name.c_str(), percentile(v, 0.50));
        std::printf("step_%s_ms_p99=%.3f\n", name.c_str(), percentile(v, 0.99));
      }
    }
    std::fflush(stdout);
    return run.failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("failures=-1\nfirst_failure_reason=InternalError\nfirst_failure_message=%s\n",
                e.what());
    return 1;
  }
}
