#include "operator_flags.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <random>
#include <stdexcept>

#include "probe/duration.hpp"

namespace imapprobe::operator_cmd {

namespace {

std::string default_identity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%06x", rd() & 0xffffff);
  return std::string(host) + "_" + suffix;
}

bool dns_label(const std::string& v, std::size_t max) {
  return !v.empty() && v.size() <= max && std::isalnum(static_cast<unsigned char>(v.front())) &&
         std::isalnum(static_cast<unsigned char>(v.back())) &&
         std::all_of(v.begin(), v.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return std::islower(u) || std::isdigit(u) || c == '-';
         });
}

// A Go duration flag of at least `min`; throws std::invalid_argument naming the flag.
std::chrono::seconds duration_flag(const char* name, const std::string& text,
                                   std::chrono::seconds min) {
  try {
    const auto d = std::chrono::duration_cast<std::chrono::seconds>(probe::parse_duration(text));
    if (d < min)
      throw std::invalid_argument("must be at least " + std::to_string(min.count()) + "s");
    return d;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(name) + " " + text + ": " + e.what());
  }
}

}  // namespace

std::variant<OperatorFlags, int> parse_operator_flags(const std::vector<std::string>& args) {
  OperatorFlags f;
  std::string status_heartbeat = "10m";
  std::string location_entry_retention = "24h";
  CLI::App app{
      "Run the ImapProbe controller: watch ImapProbes, run them on schedule, report status.",
      "operator"};
  app.add_option("--kubeconfig", f.kubeconfig,
                 "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  app.add_option("--context", f.context, "kubeconfig context (default: current)");
  app.add_option("-n,--namespace", f.namespaces,
                 "watch only these namespaces (repeatable; default: all)");
  app.add_option("--leader-elect", f.leader_elect, "use a Lease so only one replica runs probes")
      ->capture_default_str();
  app.add_option("--shard", f.shard,
                 "split the location's probes over its replicas (a Lease per replica; replaces "
                 "leader election)")
      ->capture_default_str();
  app.add_option("--multi-location", f.multi_location,
                 "one of several locations: write this location's entry of status.locations "
                 "(implies --shard); the verdict is formed by the holder of the imapprobe-verdict "
                 "Lease (docs/multi-location.md)")
      ->capture_default_str();
  app.add_option("--location", f.location,
                 "this deployment's location: names its replicas' shard group and labels metrics")
      ->check([](const std::string& v) {
        return dns_label(v, 40) ? std::string()
                                : "a DNS label of at most 40 characters (a-z, 0-9, -)";
      })
      ->capture_default_str();
  app.add_option("--leader-election-name", f.lease_name, "Lease name")->capture_default_str();
  app.add_option("--leader-election-namespace", f.lease_namespace,
                 "Lease namespace (default: the pod's namespace, else the kubeconfig's)");
  app.add_option("--identity", f.identity,
                 "leader election identity (default: host name + random)");
  app.add_option("--concurrency", f.concurrency, "probe runs in flight at once")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--status-heartbeat", status_heartbeat,
                 "write an unchanged status at most this often (Go duration; at least the "
                 "probe's interval; 0: after every run); any change a reader acts on is "
                 "written at once")
      ->capture_default_str();
  app.add_option("--location-entry-retention", location_entry_retention,
                 "multi-location: the verdict writer removes the entry of a location with no "
                 "live Lease once it is this old (Go duration; 0: never)")
      ->capture_default_str();
  app.add_option("--secret-cache", f.secret_cache,
                 "keep referenced Secrets in memory, current by a metadata-only watch of Secrets "
                 "(needs list/watch on Secrets); off: one Secret GET per run")
      ->capture_default_str();
  app.add_option("--health-addr", f.health_addr, "address for /healthz and /readyz")
      ->capture_default_str();
  app.add_option("--metrics-addr", f.metrics_addr, "address for /metrics (Prometheus); empty: off")
      ->capture_default_str();
  app.add_option("--log-format", f.log_format, "text | json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
    app.parse(reversed);
    f.status_heartbeat =
        duration_flag("--status-heartbeat", status_heartbeat, std::chrono::seconds(0));
    // 0 writes after every run; any other heartbeat under a second would be
    // rounded down to it.
    if (f.status_heartbeat == std::chrono::seconds(0) &&
        probe::parse_duration(status_heartbeat) != probe::Duration::zero()) {
      throw std::invalid_argument("--status-heartbeat " + status_heartbeat +
                                  ": must be 0 or at least 1s");
    }
    f.location_entry_retention = duration_flag("--location-entry-retention",
                                               location_entry_retention, std::chrono::seconds(0));
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "imapprobe operator: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "imapprobe operator: " << e.what() << "\n";
    return 2;
  }
  if (f.identity.empty()) f.identity = default_identity();
  // A location announces itself by its replicas' Leases: a single replica
  // is a shard group of one.
  if (f.multi_location) f.shard = true;
  // Sharded, every replica runs its part: there is no leader to elect.
  if (f.shard) f.leader_elect = false;
  return f;
}

}  // namespace imapprobe::operator_cmd
