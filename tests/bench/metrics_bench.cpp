// The /metrics page at scale, side by side: the operator's own exposition
// (RunMetrics keeps compact per-probe facts; metrics.cpp renders them at
// scrape time) against prometheus-cpp (Debian's libprometheus-cpp-core: one
// Gauge/Counter/Histogram object per series in a Registry, serialized by its
// TextSerializer), for the same families and label sets.
//
//   imapprobe_metrics_bench [--probes N] [--scrapes K]
//
// Prints key=value lines: heap bytes the per-probe state holds (glibc
// mallinfo2, so allocator overhead counts), per probe and per sample line,
// and the median wall time of one scrape (for ours: the snapshot copy under
// the lock plus rendering; for prometheus-cpp: Collect plus Serialize).
#include <malloc.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "controller/metrics.hpp"
#include "controller/run_metrics.hpp"

namespace {

using namespace std::chrono_literals;
using imapprobe::probe::Step;
namespace ctl = imapprobe::controller;

constexpr Step kSteps[] = {Step::Dns,    Step::Connect, Step::Tls,   Step::Greeting, Step::Login,
                           Step::Select, Step::Search,  Step::Fetch, Step::Logout};

imapprobe::probe::ProbeResult typical_result() {
  imapprobe::probe::ProbeResult r;
  r.outcome = imapprobe::probe::Outcome::Success;
  r.reason = imapprobe::probe::Reason::Succeeded;
  for (Step s : kSteps) r.durations[s] = 1200us;
  r.total = 11ms;
  imapprobe::probe::CertificateInfo c;
  c.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 60);
  r.certificate = c;
  return r;
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

template <typename F>
double median_ms(int k, F f) {
  std::vector<double> ms;
  for (int i = 0; i < k; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::size_t sample_lines(const std::string& text) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += !line.empty() && line[0] != '#';
  return n;
}

std::string ns_of(int i) { return "mail-" + std::to_string(i % 4); }
std::string name_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "p%05d", i);
  return buf;
}

void ours(int n, int scrapes) {
  const auto result = typical_result();
  const std::size_t before = heap_in_use();
  ctl::RunMetrics metrics;
  for (int i = 0; i < n; ++i) {
    const std::string key = ns_of(i) + "/" + name_of(i);
    metrics.probe_added(key);
    metrics.run_finished(key, result, 0, false, false);
  }
  const std::size_t held = heap_in_use() - before;
  std::string text;
  const double ms = median_ms(scrapes, [&] {
    ctl::OperatorMetrics m;
    m.stats = metrics.stats();
    m.probes = metrics.snapshot();
    text = ctl::render_metrics(m);
  });
  const std::size_t lines = sample_lines(text);
  std::printf("ours.heap_bytes=%zu\nours.heap_bytes_per_probe=%.0f\nours.sample_lines=%zu\n", held,
              double(held) / n, lines);
  std::printf("ours.heap_bytes_per_sample_line=%.1f\nours.scrape_ms=%.2f\nours.page_bytes=%zu\n",
              double(held) / double(lines), ms, text.size());
}

void prometheus_cpp(int n, int scrapes) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  const std::size_t before = heap_in_use();
  {
    auto registry = std::make_shared<prometheus::Registry>();
    auto& success = BuildGauge().Name("imapprobe_probe_success").Help("x").Register(*registry);
    auto& degraded = BuildGauge().Name("imapprobe_probe_degraded").Help("x").Register(*registry);
    auto& slow = BuildGauge().Name("imapprobe_probe_slow").Help("x").Register(*registry);
    auto& suspended = BuildGauge().Name("imapprobe_probe_suspended").Help("x").Register(*registry);
    auto& step =
        BuildGauge().Name("imapprobe_probe_step_duration_seconds").Help("x").Register(*registry);
    auto& duration =
        BuildHistogram().Name("imapprobe_probe_duration_seconds").Help("x").Register(*registry);
    auto& cert = BuildGauge()
                     .Name("imapprobe_probe_certificate_expiry_timestamp_seconds")
                     .Help("x")
                     .Register(*registry);
    auto& failures =
        BuildGauge().Name("imapprobe_probe_consecutive_failures").Help("x").Register(*registry);
    auto& runs = BuildCounter().Name("imapprobe_probe_runs_total").Help("x").Register(*registry);
    const prometheus::Histogram::BucketBoundaries buckets(std::begin(ctl::kDurationBuckets),
                                                          std::end(ctl::kDurationBuckets));
    for (int i = 0; i < n; ++i) {
      const prometheus::Labels l{{"namespace", ns_of(i)}, {"name", name_of(i)}};
      success.Add(l).Set(1);
      degraded.Add(l).Set(0);
      slow.Add(l).Set(0);
      suspended.Add(l).Set(0);
      for (Step s : kSteps) {
        auto with_step = l;
        with_step["step"] = std::string(imapprobe::probe::to_string(s));
        step.Add(with_step).Set(0.0012);
      }
      duration.Add(l, buckets).Observe(0.011);
      cert.Add(l).Set(1.8e9);
      failures.Add(l).Set(0);
      auto with_reason = l;
      with_reason["reason"] = "Succeeded";
      runs.Add(with_reason).Increment();
    }
    const std::size_t held = heap_in_use() - before;
    std::string text;
    const double ms = median_ms(scrapes, [&] {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, registry->Collect());
      text = out.str();
    });
    const std::size_t lines = sample_lines(text);
    std::printf("prometheus_cpp.heap_bytes=%zu\nprometheus_cpp.heap_bytes_per_probe=%.0f\n", held,
                double(held) / n);
    std::printf("prometheus_cpp.sample_lines=%zu\nprometheus_cpp.heap_bytes_per_sample_line=%.1f\n",
                lines, double(held) / double(lines));
    std::printf("prometheus_cpp.scrape_ms=%.2f\nprometheus_cpp.page_bytes=%zu\n", ms, text.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n = 10000, scrapes = 9;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--probes") == 0) n = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--scrapes") == 0) scrapes = std::atoi(argv[i + 1]);
  }
  if (n <= 0 || scrapes <= 0) {
    std::fprintf(stderr, "usage: imapprobe_metrics_bench [--probes N] [--scrapes K]\n");
    return 2;
  }
  std::printf("probes=%d\nscrapes=%d\n", n, scrapes);
  ours(n, scrapes);
  prometheus_cpp(n, scrapes);
  return 0;
}
