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
  std::string location;
  // Multi-location: every probe series carries location="..." too, so the
  // locations' series of one probe stay apart in one Prometheus.
  bool location_label = false;
  // Sharding (shard_assignment.hpp): the live members of the location and
  // whether they all act on the same view; unsharded, one member, agreed.
  std::size_t shard_members = 1;
  bool shard_agreed = true;
};

// The page, written part by part: a scrape of 10,000 probes holds one part
// (about `budget` bytes) at a time, not the 25 MB page. Keep it where it
// was made (it points into its own snapshot).
class MetricsPage {
 public:
  explicit MetricsPage(OperatorMetrics m);
  ~MetricsPage();
  MetricsPage(const MetricsPage&) = delete;
  MetricsPage& operator=(const MetricsPage&) = delete;
  // Appends the next part of the page to `out`: at least `budget` bytes
  // unless the page ends first. False once the page is complete.
  bool next(std::string& out, std::size_t budget);

  struct Row;

 private:
  OperatorMetrics m_;
  std::vector<Row> rows_;
  std::size_t section_ = 0;
  std::size_t row_ = 0;
  bool done_ = false;
};

// The whole page as one string.
std::string render_metrics(const OperatorMetrics& m);

}  // namespace imapprobe::controller
