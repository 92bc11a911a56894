// The operator's /metrics page in the Prometheus text format: per-probe
// results and the operator's own health. A pure renderer over snapshots, so
// it is tested (and checked by promtool) without a cluster.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "controller/run_metrics.hpp"

namespace imapprobe::controller {

struct OperatorMetrics {
  ReconcilerStats stats;
  std::vector<ProbeSnapshot> probes;
  std::map<std::pair<std::string, int>, std::uint64_t> api_requests;    // (verb, code)
  std::map<std::string, std::pair<double, std::uint64_t>> api_latency;  // verb -> (sum s, count)
  std::uint64_t watch_restarts = 0;
  std::uint64_t relists = 0;
  bool leader = false;
  std::string version;
};

std::string render_metrics(const OperatorMetrics& m);

}  // namespace imapprobe::controller
