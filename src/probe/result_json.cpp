#include "probe/result_json.hpp"

#include <cmath>
#include <ctime>

#include "encoding/time.hpp"

namespace imapprobe::probe {

nlohmann::json to_json(const CertificateInfo& cert) {
  return {
      {"subject", cert.subject},
      {"issuer", cert.issuer},
      {"dnsNames", cert.dns_names},
      {"notBefore", encoding::format_rfc3339(cert.not_before)},
      {"notAfter", encoding::format_rfc3339(cert.not_after)},
      {"daysRemaining", std::floor(cert.days_remaining * 10) / 10},
      {"verified", cert.verified},
      {"verifyError", cert.verify_error},
      {"tlsVersion", cert.tls_version},
      {"cipher", cert.cipher},
  };
}

nlohmann::json to_json(const ProbeResult& r) {
  nlohmann::json durations = nlohmann::json::object();
  for (const auto& [step, d] : r.durations) {
    durations[std::string(to_string(step))] = std::stod(format_seconds(d));
  }
  durations["total"] = std::stod(format_seconds(r.total));
  nlohmann::json out = {
      {"outcome", to_string(r.outcome)},
      {"reason", to_string(r.reason)},
      {"message", r.message},
      {"durations", durations},
  };
  if (r.failed_step) out["failedStep"] = to_string(*r.failed_step);
  if (r.certificate) out["certificate"] = to_json(*r.certificate);
  if (!r.remote_address.empty()) out["remoteAddress"] = r.remote_address;
  if (r.messages) out["messages"] = *r.messages;
  if (r.search_matches) out["searchMatches"] = *r.search_matches;
  if (r.fetched) out["fetched"] = *r.fetched;
  if (!r.alerts.empty()) out["alerts"] = r.alerts;
  if (!r.warnings.empty()) out["warnings"] = r.warnings;
  if (!r.capabilities.empty()) out["capabilities"] = r.capabilities;
  if (r.content) {
    const auto& f = *r.content;
    nlohmann::json content = nlohmann::json::object();
    if (f.message_count) content["messageCount"] = *f.message_count;
    if (f.newest_checked) {
      content["newestAge"] = f.newest_age ? nlohmann::json(std::stod(format_seconds(*f.newest_age)))
                                          : nlohmann::json();
    }
    if (f.quota) {
      content["quota"] = {{"root", f.quota->root},
                          {"resource", f.quota->resource},
                          {"usage", f.quota->usage},
                          {"limit", f.quota->limit},
                          {"percent", std::round(f.quota->percent() * 10) / 10}};
    }
    out["content"] = std::move(content);
  }
  if (r.delivery) {
    const auto& d = *r.delivery;
    nlohmann::json delivery = nlohmann::json::object();
    if (!d.smtp_address.empty()) delivery["smtpAddress"] = d.smtp_address;
    if (!d.queue_id.empty()) delivery["queueId"] = d.queue_id;
    if (d.latency) delivery["latency"] = std::stod(format_seconds(*d.latency));
    if (!d.found_in.empty()) delivery["foundIn"] = d.found_in;
    if (d.certificate) delivery["certificate"] = to_json(*d.certificate);
    out["delivery"] = std::move(delivery);
  }
  if (!r.families.empty()) {
    nlohmann::json families = nlohmann::json::array();
    for (const auto& f : r.families) {
      nlohmann::json item = {{"family", f.family},
                             {"outcome", to_string(f.outcome)},
                             {"reason", to_string(f.reason)},
                             {"message", f.message},
                             {"total", std::stod(format_seconds(f.total))}};
      if (!f.remote_address.empty()) item["remoteAddress"] = f.remote_address;
      if (f.failed_step) item["failedStep"] = to_string(*f.failed_step);
      families.push_back(std::move(item));
    }
    out["families"] = std::move(families);
  }
  return out;
}

}  // namespace imapprobe::probe
