#include "controller/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdio>
#include <limits>
#include <string_view>

namespace imapprobe::controller {
namespace {

// Label values may hold anything a user named a namespace or probe; the
// text format needs \, " and newline escaped.
std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Appends to a string: at 10,000 probes the page is about 25 MB, so it is
// written part by part (MetricsPage) and never held whole by a scrape, and
// no ostringstream doubles and copies it.
class Page {
 public:
  explicit Page(std::string& out) : text_(out) {}
  Page& operator<<(std::string_view s) {
    text_.append(s);
    return *this;
  }
  Page& operator<<(char c) {
    text_.push_back(c);
    return *this;
  }
  template <std::integral T>
  requires(!std::same_as<T, char> && !std::same_as<T, bool>) Page& operator<<(T v) {
    char buf[24];
    const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    text_.append(buf, end);
    return *this;
  }
  std::size_t size() const { return text_.size(); }

 private:
  std::string& text_;
};

void header(Page& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// A family of one sample without labels (the operator's own counters).
template <typename T>
void sample(Page& o, const char* name, const char* type, const char* help, T value) {
  header(o, name, type, help);
  o << name << ' ' << value << '\n';
}

std::string labels_of(const ProbeSnapshot& p, const std::string& location) {
  std::string out = "namespace=\"" + escape(p.namespace_) + "\",name=\"" + escape(p.name) + "\"";
  if (!location.empty()) out += ",location=\"" + escape(location) + "\"";
  return out;
}

}  // namespace

// A probe in page order, with its label text made once (not once per line).
struct MetricsPage::Row {
  const ProbeSnapshot* snap;
  std::string labels;
  const ProbeSnapshot* operator->() const { return snap; }
};

namespace {
using Row = MetricsPage::Row;

// A section of the page with a line (or lines) per probe.
struct ProbeSection {
  void (*header)(Page&);
  void (*lines)(Page&, const Row&);
};

const ProbeSection kProbeSections[] = {
    {[](Page& o) {
       header(o, "imapprobe_probe_success", "gauge",
              "Whether the last run of the probe passed (1) or failed (0).");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run) return;
       o << "imapprobe_probe_success{" << p.labels << "} " << (p->last_run->passed ? 1 : 0) << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_degraded", "gauge",
              "Whether the last run passed but was slow, over its baseline or saw an expiring "
              "certificate.");
     },
     [](Page& o, const Row& p) {
       if (p->last_run)
         o << "imapprobe_probe_degraded{" << p.labels << "} " << (p->degraded ? 1 : 0) << '\n';
     }},
    {[](Page& o) {
       header(
           o, "imapprobe_probe_slow", "gauge",
           "Whether the last run took longer than a threshold (warning or critical) or far longer "
           "than its baseline, whatever else it found.");
     },
     [](Page& o, const Row& p) {
       if (p->last_run)
         o << "imapprobe_probe_slow{" << p.labels << "} " << (p->last_run->slow ? 1 : 0) << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_failure_reason", "gauge",
              "1 with the reason of the last run when it failed; absent while it passes.");
     },
     [](Page& o, const Row& p) {
       if (p->last_run && !p->last_run->passed) {
         o << "imapprobe_probe_failure_reason{" << p.labels << ",reason=\""
           << escape(p->last_run->failure_reason) << "\"} 1\n";
       }
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_stalled", "gauge",
              "1 with the reason while the probe cannot run (Stalled=True: invalid spec, Secret "
              "missing or unreadable, bad CA bundle); absent otherwise.");
     },
     [](Page& o, const Row& p) {
       if (!p->stalled_reason.empty()) {
         o << "imapprobe_probe_stalled{" << p.labels << ",reason=\""
           << escape(p->stalled_reason.str()) << "\"} 1\n";
       }
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_suspended", "gauge", "Whether spec.suspend holds the probe.");
     },
     [](Page& o, const Row& p) {
       o << "imapprobe_probe_suspended{" << p.labels << "} " << (p->suspended ? 1 : 0) << '\n';
     }},
    // Only probes with ipFamily Both have these series: the family label
    // tells which stack broke while the other kept clients happy.
    {[](Page& o) {
       header(o, "imapprobe_probe_family_success", "gauge",
              "ipFamily Both: whether the last run passed (1) or failed (0) over each address "
              "family.");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run) return;
       for (const auto& f : *p->last_run->families) {
         o << "imapprobe_probe_family_success{" << p.labels << ",family=\"" << f.family << "\"} "
           << (f.passed ? 1 : 0) << '\n';
       }
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_family_duration_seconds", "gauge",
              "ipFamily Both: total duration of the last run over each address family.");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run) return;
       for (const auto& f : *p->last_run->families) {
         o << "imapprobe_probe_family_duration_seconds{" << p.labels << ",family=\"" << f.family
           << "\"} " << num(f.seconds) << '\n';
       }
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_step_duration_seconds", "gauge",
              "Duration of each step of the last run.");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run) return;
       p->last_run->step_seconds.for_each([&](probe::Step step, double seconds) {
         o << "imapprobe_probe_step_duration_seconds{" << p.labels << ",step=\""
           << probe::to_string(step) << "\"} " << num(seconds) << '\n';
       });
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_duration_seconds", "histogram", "Total duration of probe runs.");
     },
     [](Page& o, const Row& p) {
       if (p->duration_count == 0) return;
       std::uint64_t cumulative = 0;
       for (std::size_t i = 0; i < std::size(kDurationBuckets); ++i) {
         cumulative += p->duration_buckets[i];
         o << "imapprobe_probe_duration_seconds_bucket{" << p.labels << ",le=\""
           << num(kDurationBuckets[i]) << "\"} " << cumulative << '\n';
       }
       o << "imapprobe_probe_duration_seconds_bucket{" << p.labels << ",le=\"+Inf\"} "
         << p->duration_count << '\n';
       o << "imapprobe_probe_duration_seconds_sum{" << p.labels << "} " << num(p->duration_sum)
         << '\n';
       o << "imapprobe_probe_duration_seconds_count{" << p.labels << "} " << p->duration_count
         << '\n';
     }},
    {[](Page& o) {
       header(
           o, "imapprobe_probe_delivery_latency_seconds", "histogram",
           "Delivery check: time from SMTP accepting the canary until it was visible over IMAP.");
     },
     [](Page& o, const Row& p) {
       const DeliveryHistogram& h = *p->delivery;
       if (h.count == 0) return;
       std::uint64_t cumulative = 0;
       for (std::size_t i = 0; i < std::size(kDeliveryBuckets); ++i) {
         cumulative += h.buckets[i];
         o << "imapprobe_probe_delivery_latency_seconds_bucket{" << p.labels << ",le=\""
           << num(kDeliveryBuckets[i]) << "\"} " << cumulative << '\n';
       }
       o << "imapprobe_probe_delivery_latency_seconds_bucket{" << p.labels << ",le=\"+Inf\"} "
         << h.count << '\n';
       o << "imapprobe_probe_delivery_latency_seconds_sum{" << p.labels << "} " << num(h.sum)
         << '\n';
       o << "imapprobe_probe_delivery_latency_seconds_count{" << p.labels << "} " << h.count
         << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_mailbox_messages", "gauge",
              "Content checks: messages in the mailbox (or matching the count's search).");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run || !p->last_run->extra->message_count) return;
       o << "imapprobe_probe_mailbox_messages{" << p.labels << "} "
         << *p->last_run->extra->message_count << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_newest_message_age_seconds", "gauge",
              "Content checks: age of the newest message matching the search.");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run || !p->last_run->extra->newest_age_seconds) return;
       o << "imapprobe_probe_newest_message_age_seconds{" << p.labels << "} "
         << num(*p->last_run->extra->newest_age_seconds) << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_quota_usage_ratio", "gauge",
              "Content checks: usage over limit of the fullest quota resource (GETQUOTAROOT).");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run || !p->last_run->extra->quota_ratio) return;
       o << "imapprobe_probe_quota_usage_ratio{" << p.labels << ",resource=\""
         << (p->last_run->extra->quota_storage ? "STORAGE" : "MESSAGE") << "\"} "
         << num(*p->last_run->extra->quota_ratio) << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_smtp_certificate_expiry_timestamp_seconds", "gauge",
              "Delivery check: notAfter of the SMTP server's certificate, as Unix time.");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run || !p->last_run->extra->smtp_certificate_not_after) return;
       o << "imapprobe_probe_smtp_certificate_expiry_timestamp_seconds{" << p.labels << "} "
         << *p->last_run->extra->smtp_certificate_not_after << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_certificate_expiry_timestamp_seconds", "gauge",
              "notAfter of the server certificate seen by the last TLS handshake, as a Unix time.");
     },
     [](Page& o, const Row& p) {
       if (!p->last_run || !p->last_run->certificate_not_after) return;
       o << "imapprobe_probe_certificate_expiry_timestamp_seconds{" << p.labels << "} "
         << *p->last_run->certificate_not_after << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_consecutive_failures", "gauge", "Failed runs in a row.");
     },
     [](Page& o, const Row& p) {
       if (p->last_run)
         o << "imapprobe_probe_consecutive_failures{" << p.labels << "} " << p->consecutive_failures
           << '\n';
     }},
    {[](Page& o) {
       header(o, "imapprobe_probe_runs_total", "counter", "Probe runs by outcome reason.");
     },
     [](Page& o, const Row& p) {
       for (const auto& [reason, n] : p->runs_by_reason) {
         o << "imapprobe_probe_runs_total{" << p.labels << ",reason=\"" << escape(reason) << "\"} "
           << n << '\n';
       }
     }},
};

// The operator's own series, after the probes'.
void operator_series(Page& o, const OperatorMetrics& m) {
  header(o, "imapprobe_operator_info", "gauge", "Build information.");
  o << "imapprobe_operator_info{version=\"" << escape(m.version) << "\",location=\""
    << escape(m.location) << "\"} 1\n";
  sample(o, "imapprobe_operator_leader", "gauge",
         "Whether this replica holds the leader Lease and runs probes.", (m.leader ? 1 : 0));
  sample(o, "imapprobe_operator_probes", "gauge",
         "ImapProbes this replica runs (every probe, unless the location is sharded).",
         m.stats.probes);
  sample(o, "imapprobe_operator_shard_members", "gauge",
         "Live replicas of this location that share its probes (1 unless sharded).",
         m.shard_members);
  sample(o, "imapprobe_operator_shard_view_agreed", "gauge",
         "Whether every replica of the location acts on the same membership (probes changing "
         "replica wait for it).",
         (m.shard_agreed ? 1 : 0));
  sample(o, "imapprobe_operator_runs_in_flight", "gauge", "Probe runs in progress.",
         m.stats.in_flight);
  sample(o, "imapprobe_operator_status_writes_total", "counter", "Status writes to the API server.",
         m.stats.status_writes);
  sample(o, "imapprobe_operator_status_writes_skipped_total", "counter",
         "Status writes left out because nothing a reader acts on changed since the last one "
         "(written at the heartbeat instead).",
         m.stats.status_writes_skipped);
  sample(o, "imapprobe_operator_status_write_errors_total", "counter",
         "Failed status write attempts (each is retried with backoff until it lands or is "
         "superseded).",
         m.stats.status_write_errors);
  sample(o, "imapprobe_operator_events_total", "counter", "Kubernetes Events recorded.",
         m.stats.events);
  sample(o, "imapprobe_operator_event_errors_total", "counter",
         "Kubernetes Events that could not be recorded.", m.stats.event_errors);
  sample(o, "imapprobe_operator_secret_read_errors_total", "counter",
         "Secret reads the API server did not answer usefully (no response, 429, 5xx).",
         m.stats.api_read_errors);
  sample(o, "imapprobe_operator_runs_skipped_total", "counter",
         "Runs skipped because no credentials could be read and none were known.",
         m.stats.runs_skipped_api_down);
  sample(o, "imapprobe_operator_watch_restarts_total", "counter",
         "Watches re-established after ending or failing.", m.watch_restarts);
  sample(o, "imapprobe_operator_relists_total", "counter",
         "Full relists (after 410 Gone or a lost resourceVersion).", m.relists);
  header(o, "imapprobe_operator_api_requests_total", "counter",
         "Kubernetes API requests by verb and HTTP code (0: no response).");
  for (const auto& [key, n] : m.api_requests) {
    o << "imapprobe_operator_api_requests_total{verb=\"" << escape(key.first) << "\",code=\""
      << key.second << "\"} " << n << '\n';
  }
  header(o, "imapprobe_operator_api_request_duration_seconds", "summary",
         "Kubernetes API request latency by verb (watches excluded).");
  for (const auto& [verb, sc] : m.api_latency) {
    o << "imapprobe_operator_api_request_duration_seconds_sum{verb=\"" << escape(verb) << "\"} "
      << num(sc.first) << '\n';
    o << "imapprobe_operator_api_request_duration_seconds_count{verb=\"" << escape(verb) << "\"} "
      << sc.second << '\n';
  }
  header(o, "imapprobe_operator_schedule_lag_seconds", "histogram",
         "How late probe runs started against their planned time; run=\"first\" is a probe's "
         "first run after start-up, a change, a take-over or a stall, run=\"next\" the steady "
         "rhythm.");
  for (const auto& [kind, h] :
       {std::pair{"first", &m.stats.lag_first}, std::pair{"next", &m.stats.lag_next}}) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < std::size(kLagBuckets); ++i) {
      cumulative += h->buckets[i];
      o << "imapprobe_operator_schedule_lag_seconds_bucket{run=\"" << kind << "\",le=\""
        << num(kLagBuckets[i]) << "\"} " << cumulative << '\n';
    }
    o << "imapprobe_operator_schedule_lag_seconds_bucket{run=\"" << kind << "\",le=\"+Inf\"} "
      << h->count << '\n';
    o << "imapprobe_operator_schedule_lag_seconds_sum{run=\"" << kind << "\"} " << num(h->sum)
      << '\n';
    o << "imapprobe_operator_schedule_lag_seconds_count{run=\"" << kind << "\"} " << h->count
      << '\n';
  }
  header(o, "imapprobe_operator_schedule_lag_max_seconds", "gauge",
         "The latest start against plan since the operator started, by run kind.");
  o << "imapprobe_operator_schedule_lag_max_seconds{run=\"first\"} " << num(m.stats.lag_first.max)
    << '\n';
  o << "imapprobe_operator_schedule_lag_max_seconds{run=\"next\"} " << num(m.stats.lag_next.max)
    << '\n';
}

}  // namespace

MetricsPage::MetricsPage(OperatorMetrics m) : m_(std::move(m)) {
  rows_.reserve(m_.probes.size());
  const std::string location = m_.location_label ? m_.location : std::string();
  for (const auto& p : m_.probes) rows_.push_back({&p, labels_of(p, location)});
  std::sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) {
    return std::tie(a->namespace_, a->name) < std::tie(b->namespace_, b->name);
  });
}

MetricsPage::~MetricsPage() = default;

bool MetricsPage::next(std::string& out, std::size_t budget) {
  Page o(out);
  const std::size_t start = o.size();
  while (section_ < std::size(kProbeSections)) {
    const ProbeSection& section = kProbeSections[section_];
    if (row_ == 0) section.header(o);
    while (row_ < rows_.size()) {
      section.lines(o, rows_[row_++]);
      if (o.size() - start >= budget) return true;
    }
    ++section_;
    row_ = 0;
    if (o.size() - start >= budget) return true;
  }
  if (done_) return false;
  // The operator's own series (a few KB, whatever the probe count) are a
  // part of their own.
  if (o.size() > start) return true;
  operator_series(o, m_);
  done_ = true;
  return false;
}

std::string render_metrics(const OperatorMetrics& m) {
  MetricsPage page(m);
  std::string out;
  // About 2.6 KB of text per probe with a run (31 sample lines).
  out.reserve(m.probes.size() * 2800 + 16 * 1024);
  while (page.next(out, std::numeric_limits<std::size_t>::max())) {
  }
  return out;
}

}  // namespace imapprobe::controller
