#include "probe/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace imapprobe::probe {
namespace {

std::string over(std::string_view what, Duration took, Duration limit) {
  return std::string(what) + " took " + format_measured(took, limit) + " (threshold " +
         format_duration(limit) + ")";
}

// A slow total says little on its own: the steps that spent most of it,
// slowest first, until they cover 80% of the total (at most three), e.g.
// "login 3.00s, select 12.1ms".
std::string slowest_steps(const ProbeResult& r) {
  std::vector<std::pair<Step, Duration>> steps(r.durations.begin(), r.durations.end());
  // Stable: equal steps keep the session's order.
  std::stable_sort(steps.begin(), steps.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  Duration covered{};
  int listed = 0;
  for (const auto& [step, took] : steps) {
    if (listed == 3 || took <= Duration::zero() || covered * 5 >= r.total * 4) break;
    if (!out.empty()) out += ", ";
    out += std::string(to_string(step)) + " " + format_measured(took);
    covered += took;
    ++listed;
  }
  return out;
}

std::string over_total(const ProbeResult& r, Duration limit) {
  std::string out = over("total", r.total, limit);
  if (const std::string steps = slowest_steps(r); !steps.empty()) out += ": " + steps;
  return out;
}

std::string days_text(double days) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f days", days);
  return buf;
}

}  // namespace

void evaluate(const ProbeSpec& spec, ProbeResult& result) {
  if (result.outcome == Outcome::Failure) return;

  std::vector<std::string> critical;
  std::vector<std::string> warning;
  Reason critical_reason = Reason::SlowResponse;
  Reason warning_reason = Reason::SlowResponse;

  // What the mailbox holds: a failed bound is the run's reason before any
  // slowness, because it is what the check was asked to watch.
  if (result.content) {
    const ContentFacts& f = *result.content;
    const ContentChecks& c = *spec.checks;
    auto fail_with = [&](Reason reason, std::string text) {
      if (critical.empty()) critical_reason = reason;
      critical.push_back(std::move(text));
    };
    const std::string where =
        c.count_search.empty() ? "in " + spec.mailbox : "matching " + c.count_search;
    if (f.message_count && c.min_messages && *f.message_count < *c.min_messages) {
      fail_with(Reason::MessageCountOutOfRange, std::to_string(*f.message_count) + " messages " +
                                                    where + " (min " +
                                                    std::to_string(*c.min_messages) + ")");
    }
    if (f.message_count && c.max_messages && *f.message_count > *c.max_messages) {
      fail_with(Reason::MessageCountOutOfRange, std::to_string(*f.message_count) + " messages " +
                                                    where + " (max " +
                                                    std::to_string(*c.max_messages) + ")");
    }
    if (f.newest_checked && c.newest_max_age) {
      if (!f.newest_age) {
        fail_with(Reason::NewestMessageTooOld, "no message matches " + c.newest_search + " in " +
                                                   spec.mailbox + " (maxAge " +
                                                   format_duration(*c.newest_max_age) + ")");
      } else if (*f.newest_age > *c.newest_max_age) {
        fail_with(
            Reason::NewestMessageTooOld,
            "newest message matching " + c.newest_search + " is " +
                format_duration(std::chrono::duration_cast<std::chrono::seconds>(*f.newest_age)) +
                " old (maxAge " + format_duration(*c.newest_max_age) + ")");
      }
    }
    if (f.quota) {
      const QuotaUsage& q = *f.quota;
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f%%", q.percent());
      const std::string text = q.resource + " at " + pct + " of quota \"" + q.root + "\" (" +
                               std::to_string(q.usage) + " of " + std::to_string(q.limit) +
                               (q.resource == "STORAGE" ? " KiB" : "") + ")";
      auto pct_text = [](double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%g%%", v);
        return std::string(b);
      };
      if (c.quota_fail_percent && q.percent() >= *c.quota_fail_percent) {
        fail_with(Reason::QuotaExceeded, text + ", failPercent " + pct_text(*c.quota_fail_percent));
      } else if (c.quota_warn_percent && q.percent() >= *c.quota_warn_percent) {
        if (warning.empty()) warning_reason = Reason::QuotaNearlyFull;
        warning.push_back(text + ", warnPercent " + pct_text(*c.quota_warn_percent));
      }
    }
  }

  // The IMAP server's certificate, and the SMTP server's of the delivery check.
  struct Checked {
    const CertificateInfo* cert;
    std::string_view whose;
  };
  std::vector<Checked> certificates;
  if (result.certificate && spec.tls != TlsMode::None)
    certificates.push_back({&*result.certificate, "certificate"});
  if (result.delivery && result.delivery->certificate)
    certificates.push_back({&*result.delivery->certificate, "SMTP server certificate"});
  for (const auto& [cert, whose] : certificates) {
    const double days = cert->days_remaining;
    const double fail_days = std::chrono::duration<double>(spec.cert_fail_before).count() / 86400.0;
    const double warn_days = std::chrono::duration<double>(spec.cert_warn_before).count() / 86400.0;
    if (days < fail_days) {
      if (critical.empty()) critical_reason = Reason::CertificateExpiringSoon;
      critical.push_back(std::string(whose) + " expires in " + days_text(days) + " (failBefore " +
                         format_duration(spec.cert_fail_before) + ")");
    } else if (days < warn_days) {
      if (warning.empty()) warning_reason = Reason::CertificateExpiringSoon;
      warning.push_back(std::string(whose) + " expires in " + days_text(days) + " (warnBefore " +
                        format_duration(spec.cert_warn_before) + ")");
    }
  }

  for (const auto& [step, took] : result.durations) {
    const auto name = to_string(step);
    if (auto it = spec.thresholds->critical.find(step);
        it != spec.thresholds->critical.end() && took > it->second) {
      if (critical.empty()) critical_reason = Reason::SlowResponse;
      critical.push_back(over(name, took, it->second));
      result.over_threshold = true;
    } else if (auto wt = spec.thresholds->warning.find(step);
               wt != spec.thresholds->warning.end() && took > wt->second) {
      if (warning.empty()) warning_reason = Reason::SlowResponse;
      warning.push_back(over(name, took, wt->second));
      result.over_threshold = true;
    }
  }
  if (spec.thresholds->total_critical && result.total > *spec.thresholds->total_critical) {
    if (critical.empty()) critical_reason = Reason::SlowResponse;
    critical.push_back(over_total(result, *spec.thresholds->total_critical));
    result.over_threshold = true;
  } else if (spec.thresholds->total_warning && result.total > *spec.thresholds->total_warning) {
    if (warning.empty()) warning_reason = Reason::SlowResponse;
    warning.push_back(over_total(result, *spec.thresholds->total_warning));
    result.over_threshold = true;
  }

  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
      if (!out.empty()) out += "; ";
      out += p;
    }
    return out;
  };
  if (!critical.empty()) {
    result.outcome = Outcome::Failure;
    result.reason = critical_reason;
    result.message = join(critical);
    result.warnings = warning;
  } else if (!warning.empty()) {
    result.outcome = Outcome::Degraded;
    result.reason = warning_reason;
    result.message = join(warning);
    result.warnings = warning;
  }
}

}  // namespace imapprobe::probe
