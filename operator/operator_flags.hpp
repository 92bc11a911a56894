// The flags of `imapprobe operator`: parsed, checked and made consistent
// before anything connects to the cluster, so a mistyped flag fails at once
// with exit code 2, whatever the cluster's state.
#pragma once

#include <chrono>
#include <string>
#include <variant>
#include <vector>

namespace imapprobe::operator_cmd {

struct OperatorFlags {
  std::string kubeconfig;
  std::string context;
  std::vector<std::string> namespaces;
  bool leader_elect = true;
  bool shard = false;
  bool multi_location = false;
  std::string location = "default";
  std::string lease_name = "imap-probe-operator";
  std::string lease_namespace;
  std::string identity;
  int concurrency = 64;
  std::chrono::seconds status_heartbeat{600};
  std::chrono::seconds location_entry_retention{24 * 3600};
  bool secret_cache = false;
  std::string health_addr = ":8081";
  std::string metrics_addr = ":8080";
  std::string log_format = "text";
  std::string log_level = "info";
  int api_threads = 4;
};

// args[0] is "operator". The flags, or the exit code to end with once the
// help (0) or the error (2) has been printed. Made consistent: an empty
// identity becomes host name + random suffix, --multi-location implies
// --shard, and sharded replicas elect no leader.
std::variant<OperatorFlags, int> parse_operator_flags(const std::vector<std::string>& args);

}  // namespace imapprobe::operator_cmd
