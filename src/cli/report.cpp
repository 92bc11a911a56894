#include "cli/report.hpp"

#include <cctype>
#include <cstdio>
#include <iomanip>
#include <optional>
#include <vector>

#include "encoding/time.hpp"
#include "probe/result_json.hpp"

namespace imapprobe::cli {
namespace {

std::optional<probe::Duration> find(const std::map<probe::Step, probe::Duration>& m,
                                    probe::Step s) {
  auto it = m.find(s);
  return it == m.end() ? std::nullopt : std::optional(it->second);
}

// A step's (or the total's) warning and critical thresholds, either optional.
struct Limits {
  std::optional<probe::Duration> warning;
  std::optional<probe::Duration> critical;
};

Limits limits_of(const probe::ProbeSpec& spec, probe::Step s) {
  return {find(spec.thresholds->warning, s), find(spec.thresholds->critical, s)};
}

Limits total_limits(const probe::ProbeSpec& spec) {
  return {spec.thresholds->total_warning, spec.thresholds->total_critical};
}

// Seconds, precise enough that a value over a threshold never prints equal
// to or below it (perfdata consumers compare the printed numbers).
std::string seconds(probe::Duration d, const Limits& l) {
  std::vector<probe::Duration> limits;
  if (l.warning) limits.push_back(*l.warning);
  if (l.critical) limits.push_back(*l.critical);
  return probe::format_seconds(d, limits);
}

std::string limit(const std::optional<probe::Duration>& d) {
  return d ? probe::format_limit_seconds(*d) : "";
}

// One perfdata value: " label=<s>s;<warn>;<crit>;0;".
void perfdata(std::ostream& out, std::string_view label, probe::Duration d, const Limits& l) {
  out << ' ' << label << '=' << seconds(d, l) << "s;" << limit(l.warning) << ';'
      << limit(l.critical) << ";0;";
}

std::string days(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", d);
  return buf;
}

// Perfdata must not contain '|' and the status line must be one line.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '|') c = ' ';
  }
  return s;
}

}  // namespace

PluginState plugin_state(const probe::ProbeResult& r) {
  // Our own bug says nothing about the server: neither OK nor CRITICAL.
  if (r.reason == probe::Reason::InternalError) return PluginState::Unknown;
  switch (r.outcome) {
    case probe::Outcome::Success:
      return PluginState::Ok;
    case probe::Outcome::Degraded:
      return PluginState::Warning;
    case probe::Outcome::Failure:
      return PluginState::Critical;
  }
  return PluginState::Unknown;
}

void write_nagios(std::ostream& out, const probe::ProbeSpec& spec, const probe::ProbeResult& r) {
  static constexpr const char* kState[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
  out << "IMAP " << kState[static_cast<int>(plugin_state(r))] << " - ";
  if (r.outcome != probe::Outcome::Success) out << to_string(r.reason) << ": ";
  out << one_line(r.message);
  if (r.failed_step) out << " (step " << to_string(*r.failed_step) << ")";
  const Limits total = total_limits(spec);
  out << ", total " << seconds(r.total, total) << "s";
  if (r.certificate) out << ", certificate " << days(r.certificate->days_remaining) << " days left";
  out << " |";
  for (const auto& [step, d] : r.durations)
    perfdata(out, to_string(step), d, limits_of(spec, step));
  perfdata(out, "total", r.total, total);
  // ipFamily Both: each family's total, so a graph shows which stack is slow.
  for (const auto& f : r.families) {
    std::string label = f.family + "_total";
    for (auto& c : label) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    perfdata(out, label, f.total, total);
  }
  if (r.certificate) {
    const double warn = std::chrono::duration<double>(spec.cert_warn_before).count() / 86400.0;
    const double crit = std::chrono::duration<double>(spec.cert_fail_before).count() / 86400.0;
    out << " cert_days=" << days(r.certificate->days_remaining) << ';' << days(warn) << ":;"
        << days(crit) << ":;;";
  }
  if (r.content) {
    const auto& f = *r.content;
    const auto& c = *spec.checks;
    if (f.message_count) {
      // Outside min:max is critical, as Nagios ranges read.
      out << " messages=" << *f.message_count << ";;";
      if (c.min_messages || c.max_messages) {
        out << (c.min_messages ? std::to_string(*c.min_messages) : std::string("~")) << ':'
            << (c.max_messages ? std::to_string(*c.max_messages) : std::string());
      }
      out << ";0;";
    }
    if (f.newest_age) {
      out << " newest_age="
          << static_cast<long long>(
                 std::chrono::duration_cast<std::chrono::seconds>(*f.newest_age).count())
          << "s;;";
      if (c.newest_max_age) {
        out << std::chrono::duration_cast<std::chrono::seconds>(*c.newest_max_age).count();
      }
      out << ";0;";
    }
    if (f.quota) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f", f.quota->percent());
      out << " quota=" << pct << "%;";
      if (c.quota_warn_percent) out << *c.quota_warn_percent;
      out << ';';
      if (c.quota_fail_percent) out << *c.quota_fail_percent;
      out << ";0;100";
    }
  }
  if (r.delivery && r.delivery->certificate) {
    const double warn = std::chrono::duration<double>(spec.cert_warn_before).count() / 86400.0;
    const double crit = std::chrono::duration<double>(spec.cert_fail_before).count() / 86400.0;
    out << " smtp_cert_days=" << days(r.delivery->certificate->days_remaining) << ';' << days(warn)
        << ":;" << days(crit) << ":;;";
  }
  out << '\n';
}

void write_json(std::ostream& out, const probe::ProbeSpec& spec, const probe::ProbeResult& r) {
  nlohmann::json j = probe::to_json(r);
  j["target"] = {{"host", spec.host},
                 {"port", spec.effective_port()},
                 {"tls", probe::to_string(spec.tls)},
                 {"mechanism", probe::to_string(spec.mechanism)},
                 {"mailbox", spec.mailbox}};
  j["exitCode"] = static_cast<int>(plugin_state(r));
  out << j.dump(2) << '\n';
}

void write_text(std::ostream& out, const probe::ProbeSpec& spec, const probe::ProbeResult& r) {
  out << "target:  " << spec.host << ':' << spec.effective_port() << " ("
      << probe::to_string(spec.tls) << ", " << probe::to_string(spec.mechanism) << ")\n";
  out << "outcome: " << to_string(r.outcome) << " (" << to_string(r.reason) << ")\n";
  out << "message: " << r.message << '\n';
  out << '\n'
      << std::left << std::setw(16) << "STEP" << std::right << std::setw(10) << "SECONDS"
      << "  NOTE\n";
  for (const auto& [step, d] : r.durations) {
    out << std::left << std::setw(16) << to_string(step) << std::right << std::setw(10)
        << seconds(d, limits_of(spec, step)) << "  " << (r.failed_step == step ? "failed" : "")
        << '\n';
  }
  out << std::left << std::setw(16) << "total" << std::right << std::setw(10)
      << seconds(r.total, total_limits(spec)) << '\n';
  if (!r.families.empty()) {
    out << '\n'
        << std::left << std::setw(8) << "FAMILY" << std::setw(26) << "ADDRESS" << std::right
        << std::setw(10) << "SECONDS"
        << "  OUTCOME\n";
    for (const auto& f : r.families) {
      out << std::left << std::setw(8) << f.family << std::setw(26) << f.remote_address
          << std::right << std::setw(10) << seconds(f.total, total_limits(spec)) << "  "
          << to_string(f.outcome) << " (" << to_string(f.reason) << ")\n";
    }
  }
  if (r.certificate) {
    const auto& c = *r.certificate;
    out << "\ncertificate:\n"
        << "  subject:   " << c.subject << '\n'
        << "  issuer:    " << c.issuer << '\n'
        << "  notAfter:  " << encoding::format_rfc3339(c.not_after) << " ("
        << days(c.days_remaining) << " days)\n"
        << "  verified:  " << (c.verified ? "yes" : "no, " + c.verify_error) << '\n'
        << "  tls:       " << c.tls_version << ' ' << c.cipher << '\n';
  }
  if (r.content) {
    const auto& f = *r.content;
    out << "\ncontent:\n";
    if (f.message_count) out << "  messages:  " << *f.message_count << '\n';
    if (f.newest_checked) {
      out << "  newest:    "
          << (f.newest_age ? probe::format_measured(*f.newest_age) + " old" : "no match") << '\n';
    }
    if (f.quota) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f%%", f.quota->percent());
      out << "  quota:     " << f.quota->resource << ' ' << f.quota->usage << " of "
          << f.quota->limit << " (" << pct << ", root " << f.quota->root << ")\n";
    }
  }
  if (r.delivery) {
    const auto& d = *r.delivery;
    out << "\ndelivery:\n"
        << "  smtp:      " << (d.smtp_address.empty() ? "-" : d.smtp_address) << '\n'
        << "  queue id:  " << (d.queue_id.empty() ? "-" : d.queue_id) << '\n'
        << "  latency:   " << (d.latency ? probe::format_measured(*d.latency) : "-")
        << (d.found_in.empty() ? "" : " (found in " + d.found_in + ")") << '\n';
    if (d.certificate) {
      out << "  smtp cert: " << d.certificate->subject << ", "
          << days(d.certificate->days_remaining) << " days, "
          << (d.certificate->verified ? "verified" : "not verified") << '\n';
    }
  }
  for (const auto& a : r.alerts) out << "server alert: " << a << '\n';
}

}  // namespace imapprobe::cli
