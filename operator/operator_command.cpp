#include "operator_command.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

// After the standard headers: pplx pulls in Boost.Asio pieces that assume them.
#include <pplx/threadpool.h>

#include "controller/kube_cluster_api.hpp"
#include "controller/metrics.hpp"
#include "controller/reconciler.hpp"
#include "controller/shard_coordinator.hpp"
#include "controller/verdict_writer.hpp"
#include "kube/client.hpp"
#include "kube/config.hpp"
#include "kube/events.hpp"
#include "kube/leader_election.hpp"
#include "kube/lease_membership.hpp"
#include "kube/watch_loop.hpp"
#include "operator_flags.hpp"
#include "probe/prober.hpp"
#include "telemetry/http_server.hpp"
#include "telemetry/logging.hpp"

namespace imapprobe::operator_cmd {
namespace asio = boost::asio;

namespace {

// One word for the canary header: the identity with anything but
// [A-Za-z0-9._-] replaced, at most 63 characters.
std::string canary_origin(const std::string& identity) {
  std::string out;
  for (char c : identity.substr(0, 63)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "-" : out;
}

}  // namespace

int run_operator(const std::vector<std::string>& args) {
  auto parsed = parse_operator_flags(args);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  OperatorFlags& f = std::get<OperatorFlags>(parsed);
  telemetry::setup_logging(f.log_format, f.log_level);

  kube::ClusterConfig config;
  try {
    config = kube::ClusterConfig::discover(f.kubeconfig, f.context);
  } catch (const std::exception& e) {
    spdlog::error("cannot configure the Kubernetes client: {}", e.what());
    return 2;
  }
  if (f.lease_namespace.empty()) f.lease_namespace = config.default_namespace;
  spdlog::info(
      "imapprobe operator {} starting: API server {}, namespaces {}, location {}, {}",
      IMAPPROBE_VERSION, config.server,
      f.namespaces.empty() ? std::string("all") : fmt::format("{}", fmt::join(f.namespaces, ",")),
      f.location,
      f.shard          ? "sharded (Leases in " + f.lease_namespace + ")"
      : f.leader_elect ? "leader election on (" + f.lease_namespace + "/" + f.lease_name + ")"
                       : std::string("leader election off"));

  // Memory at 10,000 probes (docs/benchmarks.md): glibc gives each thread
  // that allocates an arena of its own (up to 8 per core), and freed memory
  // stays resident in each. Nearly all lasting state is made on the probe
  // thread; the API and HTTP threads make short-lived buffers, which in an
  // arena of their own kept about 5 MiB resident (one arena: 50.6 MiB at
  // 10,000 TLS probes against 56.2 MiB with two, and the same CPU per run,
  // so the arena lock is not contended). cpprestsdk runs its I/O
  // completions on 40 threads by default; the operator's requests come from
  // about a dozen threads of its own, and no completion blocks. glibc's own
  // MALLOC_ARENA_MAX, when set, is the administrator's choice and wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 1);
  // Large transient buffers (the 25 MB /metrics page at 10,000 probes, LIST
  // pages) are mapped and unmapped on their own: glibc would otherwise raise
  // its mmap threshold after the first such free and keep the next ones in
  // the heap, resident until the next trim.
  mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
  try {
    crossplat::threadpool::initialize_with_threads(8);
  } catch (const std::exception& e) {
    spdlog::warn("cpprestsdk thread pool already started: {}", e.what());
  }
  kube::Client client(config);
  asio::io_context io;
  asio::thread_pool api_pool(static_cast<std::size_t>(f.api_threads));
  kube::EventRecorder recorder(client, "imapprobe.dev/operator", f.identity);
  // Secrets the probes reference, kept current by a metadata-only watch
  // (below): a run reads no Secret from the API server unless it changed.
  controller::SecretCache secret_cache;
  controller::KubeClusterApi api(
      client, recorder, f.secret_cache ? &secret_cache : nullptr,
      f.multi_location
          ? controller::StatusApplier{controller::location_field_manager(f.location), false}
          : controller::StatusApplier{});
  probe::Prober prober(io.get_executor());
  controller::ReconcilerOptions options;
  options.concurrency = f.concurrency;
  if (f.shard) options.shard_identity = f.identity;
  if (f.multi_location) options.report_location = f.location;
  options.status_heartbeat = f.status_heartbeat;
  controller::Reconciler reconciler(
      io, api_pool, api,
      [&prober, origin = canary_origin(f.identity)](probe::ProbeSpec spec,
                                                    probe::Credentials creds) {
        // Delivery canaries say which operator sent them.
        if (spec.delivery && spec.delivery->origin.empty()) spec.delivery->origin = origin;
        return prober.run(std::move(spec), std::move(creds));
      },
      options);
  reconciler.set_active(!f.leader_elect);

  // Multi-location: the verdict. Every location keeps its state; the holder
  // of the hub-wide verdict Lease writes it.
  controller::KubeClusterApi verdict_api(
      client, recorder, nullptr, controller::StatusApplier{controller::kVerdictFieldManager, true});
  controller::RunMetrics verdict_metrics;
  // Its own API threads: the verdict's writes must not delay this
  // location's Secret reads and entry writes (measured at 3,000 probes: the
  // verdict writer's own runs starved for a minute at start-up).
  std::optional<asio::thread_pool> verdict_pool;
  std::optional<controller::StatusWriter> verdict_status;
  std::optional<controller::VerdictWriter> verdict;
  if (f.multi_location) {
    verdict_pool.emplace(2);
    verdict_status.emplace(*verdict_pool, verdict_api, verdict_metrics);
    controller::VerdictWriter::Options verdict_options;
    verdict_options.heartbeat = options.status_heartbeat;
    verdict_options.entry_retention = f.location_entry_retention;
    verdict.emplace(*verdict_status, verdict_options);
  }

  std::vector<std::string> scopes =
      f.namespaces.empty() ? std::vector<std::string>{""} : f.namespaces;
  std::vector<std::unique_ptr<kube::WatchLoop>> loops;
  std::vector<std::jthread> threads;
  for (const auto& ns : scopes) {
    kube::WatchLoop::Handlers h;
    // Streamed: a list of 10,000 probes is never held whole (start-up memory).
    h.on_page = [&reconciler, &verdict](std::vector<nlohmann::json> page) {
      if (verdict) {
        for (const auto& o : page) verdict->upsert(o);
      }
      reconciler.upsert_page(std::move(page));
    };
    h.on_listed = [&reconciler, &verdict, ns](const std::vector<std::string>& keys) {
      if (verdict) verdict->sync_keys(ns, keys);
      reconciler.sync_keys(ns, keys);
    };
    h.on_upsert = [&reconciler, &verdict](const nlohmann::json& o) {
      if (verdict) verdict->upsert(o);
      reconciler.upsert(o);
    };
    h.on_delete = [&reconciler, &verdict](const nlohmann::json& o) {
      const std::string ns_of = o["metadata"].value("namespace", "");
      const std::string name = o["metadata"].value("name", "");
      if (verdict) verdict->remove(ns_of + "/" + name);
      reconciler.remove(ns_of, name);
    };
    loops.push_back(
        std::make_unique<kube::WatchLoop>(client, controller::probes_path(ns), std::move(h)));
    threads.emplace_back([loop = loops.back().get()](std::stop_token st) { loop->run(st); });
  }
  // Not part of readiness: if list/watch on Secrets is refused, runs read
  // their Secret each time, as without the cache.
  std::vector<std::unique_ptr<kube::WatchLoop>> secret_loops;
  for (const auto& ns : f.secret_cache ? scopes : std::vector<std::string>{}) {
    kube::WatchLoop::Options metadata_only;
    metadata_only.metadata_only = true;
    secret_loops.push_back(std::make_unique<kube::WatchLoop>(
        client, controller::secrets_path(ns), controller::secret_cache_handlers(secret_cache, ns),
        metadata_only));
    threads.emplace_back([loop = secret_loops.back().get()](std::stop_token st) { loop->run(st); });
  }

  // Sharded: membership of the location's group, and the loop that keeps it.
  std::unique_ptr<kube::LeaseMembership> membership;
  std::unique_ptr<controller::ShardCoordinator> coordinator;
  std::jthread shard_thread;
  if (f.shard) {
    membership = std::make_unique<kube::LeaseMembership>(
        client, kube::LeaseMembership::Options{f.lease_namespace, f.location, f.identity});
    coordinator = std::make_unique<controller::ShardCoordinator>(
        *membership, reconciler, f.identity, controller::ShardCoordinator::Options{});
    shard_thread = std::jthread([&](std::stop_token st) { coordinator->run(st); });
  }

  // Multi-location: which locations are alive (their Leases), every 2 s, and
  // the verdict Lease.
  std::unique_ptr<kube::LocationDirectory> directory;
  std::unique_ptr<kube::LeaderElector> verdict_elector;
  std::jthread verdict_election;
  std::jthread verdict_thread;
  if (f.multi_location) {
    directory = std::make_unique<kube::LocationDirectory>(client, f.lease_namespace);
    verdict_elector = std::make_unique<kube::LeaderElector>(
        client, kube::LeaderElector::Options{f.lease_namespace, "imapprobe-verdict", f.identity});
    verdict_election = std::jthread([&](std::stop_token st) {
      verdict_elector->run(
          st,
          [&] {
            spdlog::info("verdict: {} (location {}) writes the verdict", f.identity, f.location);
            verdict->set_active(true);
          },
          [&] {
            spdlog::info("verdict: {} stopped writing the verdict", f.identity);
            verdict->set_active(false);
          });
    });
    verdict_thread = std::jthread([&](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      while (!st.stop_requested()) {
        try {
          verdict->set_live_locations(directory->live_locations());
          verdict->evaluate(std::chrono::system_clock::now());
        } catch (const std::exception& e) {
          // Not knowing the live locations, the verdict stays as it is.
          spdlog::warn("verdict: cannot list the locations' Leases: {}", e.what());
        }
        std::unique_lock lock(m);
        cv.wait_for(lock, st, std::chrono::seconds(2), [] { return false; });
      }
    });
  }

  std::unique_ptr<kube::LeaderElector> elector;
  std::jthread election;
  if (f.leader_elect) {
    elector = std::make_unique<kube::LeaderElector>(
        client, kube::LeaderElector::Options{f.lease_namespace, f.lease_name, f.identity});
    election = std::jthread([&](std::stop_token st) {
      elector->run(
          st,
          [&] {
            spdlog::info("leader election: {} is the leader", f.identity);
            reconciler.set_active(true);
          },
          [&] {
            spdlog::info("leader election: {} stopped leading", f.identity);
            reconciler.set_active(false);
          });
    });
  }

  // /healthz, /readyz and /metrics have their own thread: rendering 10,000
  // probes' series must never delay a probe run on the probe thread. The
  // handlers read only thread-safe state (RunMetrics, atomics, the client's
  // counters under its lock).
  asio::io_context telemetry_io;
  std::unique_ptr<telemetry::HttpServer> health;
  std::unique_ptr<telemetry::HttpServer> metrics;
  // Freed memory (a 25 MB /metrics page at 10,000 probes, status bodies,
  // watch events, finished sessions) goes back to the system every 30 s,
  // off the probe thread.
  asio::steady_timer trim_timer(telemetry_io);
  std::function<void()> arm_trim = [&] {
    trim_timer.expires_after(std::chrono::seconds(30));
    trim_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      malloc_trim(0);
      arm_trim();
    });
  };
  auto telemetry_work = asio::make_work_guard(telemetry_io);
  std::jthread telemetry_thread([&telemetry_io] { telemetry_io.run(); });
  // On every way out the thread stops and is joined before the servers (and
  // then the io_context) above it are destroyed.
  struct JoinTelemetry {
    asio::io_context& io;
    decltype(telemetry_work)& work;
    std::jthread& thread;
    ~JoinTelemetry() {
      work.reset();
      io.stop();
      if (thread.joinable()) thread.join();
    }
  } join_telemetry{telemetry_io, telemetry_work, telemetry_thread};
  asio::post(telemetry_io, arm_trim);
  try {
    health = std::make_unique<telemetry::HttpServer>(
        telemetry_io, f.health_addr,
        std::map<std::string, telemetry::HttpServer::Handler>{
            {"/healthz",
             [] {
               return telemetry::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
             }},
            {"/readyz",
             [&loops] {
               for (const auto& l : loops) {
                 if (!l->synced())
                   return telemetry::HttpResponse{503, "text/plain; charset=utf-8",
                                                  "watch not synced\n"};
               }
               return telemetry::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
             }},
        });
    spdlog::info("health endpoints on {} (port {})", f.health_addr, health->port());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }

  if (!f.metrics_addr.empty()) {
    try {
      metrics = std::make_unique<telemetry::HttpServer>(
          telemetry_io, f.metrics_addr,
          std::map<std::string, telemetry::HttpServer::Handler>{
              {"/metrics",
               [&] {
                 controller::OperatorMetrics m;
                 m.version = IMAPPROBE_VERSION;
                 m.stats = reconciler.stats();
                 m.probes = reconciler.snapshot();
                 m.api_requests = client.request_counts();
                 m.api_latency = client.request_latency();
                 for (const auto& l : loops) {
                   m.watch_restarts += l->watch_restarts();
                   m.relists += l->relists();
                 }
                 m.leader = f.leader_elect ? (elector && elector->is_leader()) : true;
                 m.location = f.location;
                 m.location_label = f.multi_location;
                 if (f.shard) {
                   const auto progress = reconciler.shard_progress();
                   m.shard_members = progress.members;
                   m.shard_agreed = progress.agreed;
                 }
                 // Written part by part: a scrape of 10,000 probes holds a
                 // 256 KB part, not the 25 MB page.
                 auto page = std::make_shared<controller::MetricsPage>(std::move(m));
                 telemetry::HttpResponse r{200, "text/plain; version=0.0.4; charset=utf-8", ""};
                 r.next_part = [page](std::string& out) { return page->next(out, 256 * 1024); };
                 return r;
               }},
          });
      spdlog::info("metrics on {} (port {})", f.metrics_addr, metrics->port());
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return 2;
    }
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  // Keeps io.run() going until the drain below has finished: with no run in
  // flight it would otherwise return at once, before the last status writes
  // land and before the Lease is released or deleted.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> draining;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    draining.emplace(io.get_executor());
    spdlog::info("signal {}: finishing in-flight runs and status writes", sig);
    for (auto& t : threads) t.request_stop();
    // The servers live on the telemetry thread: stopped there.
    asio::post(telemetry_io, [&] {
      health->stop();
      if (metrics) metrics->stop();
    });
    reconciler.shutdown([&] {
      if (verdict_thread.joinable()) {
        verdict_thread.request_stop();
        verdict_thread.join();
      }
      if (verdict_status) {
        // The verdict's last writes land before its Lease is released.
        std::promise<void> drained;
        verdict_status->drain([&drained] { drained.set_value(); });
        drained.get_future().wait();
      }
      if (verdict_election.joinable()) {
        verdict_election.request_stop();
        verdict_election.join();
      }
      // Releasing the Lease last: a successor starts only once our writes are done.
      if (election.joinable()) {
        election.request_stop();
        election.join();
      }
      // The same for a shard: its peers take its probes over at once.
      if (shard_thread.joinable()) {
        shard_thread.request_stop();
        shard_thread.join();
        coordinator->leave();
      }
      draining.reset();
      io.stop();
    });
  });

  io.run();
  for (auto& t : threads) {
    t.request_stop();
    if (t.joinable()) t.join();
  }
  api_pool.join();
  if (verdict_pool) verdict_pool->join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace imapprobe::operator_cmd
