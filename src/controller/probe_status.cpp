#include "controller/probe_status.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace imapprobe::controller {
namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename T>
T num(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<T>() : fallback;
}

std::optional<probe::Duration> latency(const std::string& text) {
  try {
    return probe::parse_duration(text);
  } catch (const std::invalid_argument&) {
    return std::nullopt;  // a value edited by hand is dropped, not fatal
  }
}

std::string seconds_to_latency(double s) {
  return format_latency(
      std::chrono::duration_cast<probe::Duration>(std::chrono::duration<double>(s)));
}

LastRun last_run_from_json(const json& j) {
  LastRun r;
  r.time = encoding::Timestamp::parse(str(j, "time"));
  r.outcome = str(j, "outcome");
  r.reason = str(j, "reason");
  r.message = str(j, "message");
  r.failed_step = str(j, "failedStep");
  r.location = str(j, "location");
  if (auto d = j.find("durations"); d != j.end() && d->is_object()) {
    for (const auto& [k, v] : d->items()) {
      if (!v.is_string()) continue;
      if (auto parsed = latency(v.get<std::string>())) r.durations.set_if_step(k, *parsed);
    }
  }
  if (auto m = j.find("messages"); m != j.end() && m->is_number_unsigned()) {
    r.messages = m->get<std::uint32_t>();
  }
  r.remote_address = str(j, "remoteAddress");
  if (auto f = j.find("families"); f != j.end() && f->is_array()) {
    for (const auto& item : *f) {
      if (!item.is_object()) continue;
      FamilyRun run{str(item, "family"),
                    str(item, "outcome"),
                    str(item, "reason"),
                    str(item, "remoteAddress"),
                    {}};
      if (auto t = item.find("total"); t != item.end() && t->is_string()) {
        if (auto parsed = latency(t->get<std::string>())) run.total = *parsed;
      }
      r.families.push_back(std::move(run));
    }
  }
  if (auto d = j.find("delivery"); d != j.end() && d->is_object()) {
    DeliveryRun run;
    if (auto l = d->find("latency"); l != d->end() && l->is_string()) {
      run.latency = latency(l->get<std::string>());
    }
    run.queue_id = str(*d, "queueId");
    run.found_in = str(*d, "foundIn");
    run.smtp_address = str(*d, "smtpAddress");
    r.delivery = std::move(run);
  }
  if (auto c = j.find("content"); c != j.end() && c->is_object()) {
    ContentRun run;
    if (auto m = c->find("messageCount"); m != c->end() && m->is_number_unsigned()) {
      run.message_count = m->get<std::uint32_t>();
    }
    if (auto a = c->find("newestMessageAge"); a != c->end() && a->is_string()) {
      run.newest_age = latency(a->get<std::string>());
    }
    if (auto q = c->find("quota"); q != c->end() && q->is_object()) {
      run.quota_resource = str(*q, "resource");
      if (auto u = q->find("usage"); u != q->end() && u->is_number_unsigned()) {
        run.quota_usage = u->get<std::uint64_t>();
      }
      if (auto l = q->find("limit"); l != q->end() && l->is_number_unsigned()) {
        run.quota_limit = l->get<std::uint64_t>();
      }
    }
    r.content = std::move(run);
  }
  return r;
}

json last_run_to_json(const LastRun& r) {
  json j = {{"time", r.time.to_string()},
            {"outcome", r.outcome},
            {"reason", r.reason},
            {"message", r.message}};
  if (!r.failed_step.empty()) j["failedStep"] = r.failed_step;
  if (!r.location.empty()) j["location"] = r.location;
  json durations = json::object();
  r.durations.for_each([&](std::string_view k, probe::Duration v) {
    durations[std::string(k)] = format_latency(v);
  });
  j["durations"] = durations;
  if (r.messages) j["messages"] = *r.messages;
  if (!r.remote_address.empty()) j["remoteAddress"] = r.remote_address;
  if (!r.families.empty()) {
    json families = json::array();
    for (const auto& f : r.families) {
      json item = {{"family", f.family},
                   {"outcome", f.outcome},
                   {"reason", f.reason},
                   {"total", format_latency(f.total)}};
      if (!f.remote_address.empty()) item["remoteAddress"] = f.remote_address;
      families.push_back(std::move(item));
    }
    j["families"] = std::move(families);
  }
  if (r.delivery) {
    json delivery = json::object();
    if (r.delivery->latency) delivery["latency"] = format_latency(*r.delivery->latency);
    if (!r.delivery->queue_id.empty()) delivery["queueId"] = r.delivery->queue_id;
    if (!r.delivery->found_in.empty()) delivery["foundIn"] = r.delivery->found_in;
    if (!r.delivery->smtp_address.empty()) delivery["smtpAddress"] = r.delivery->smtp_address;
    j["delivery"] = std::move(delivery);
  }
  if (r.content) {
    json content = json::object();
    if (r.content->message_count) content["messageCount"] = *r.content->message_count;
    if (r.content->newest_age) {
      content["newestMessageAge"] = probe::format_duration(*r.content->newest_age);
    }
    if (r.content->quota_usage && r.content->quota_limit) {
      const double percent = *r.content->quota_limit == 0
                                 ? 0
                                 : std::round(1000.0 * double(*r.content->quota_usage) /
                                              double(*r.content->quota_limit)) /
                                       10.0;
      content["quota"] = {{"resource", r.content->quota_resource},
                          {"usage", *r.content->quota_usage},
                          {"limit", *r.content->quota_limit},
                          {"percent", percent}};
    }
    j["content"] = std::move(content);
  }
  return j;
}

CertificateStatus certificate_from_json(const json& j) {
  CertificateStatus c;
  c.subject = str(j, "subject");
  c.issuer = str(j, "issuer");
  c.not_before = str(j, "notBefore");
  c.not_after = str(j, "notAfter");
  c.days_remaining = num<long>(j, "daysRemaining", 0);
  if (auto v = j.find("verified"); v != j.end() && v->is_boolean()) c.verified = v->get<bool>();
  c.tls_version = str(j, "tlsVersion");
  c.cipher = str(j, "cipher");
  if (auto n = j.find("dnsNames"); n != j.end() && n->is_array()) {
    for (const auto& name : *n) {
      if (name.is_string()) c.dns_names.push_back(name.get<std::string>());
    }
  }
  return c;
}

json certificate_to_json(const CertificateStatus& c) {
  return {{"subject", c.subject},
          {"issuer", c.issuer},
          {"notBefore", c.not_before},
          {"notAfter", c.not_after},
          {"daysRemaining", c.days_remaining},
          {"verified", c.verified},
          {"tlsVersion", c.tls_version},
          {"cipher", c.cipher},
          {"dnsNames", c.dns_names}};
}

}  // namespace

std::string format_latency(probe::Duration d) {
  const double ms = std::chrono::duration<double, std::milli>(d).count();
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%.1fms", ms);
  } else {
    std::snprintf(buf, sizeof buf, "%.3fs", ms / 1000);
  }
  return buf;
}

ProbeStatus ProbeStatus::from_json(const json& status) {
  ProbeStatus s;
  if (!status.is_object()) return s;
  s.observed_generation = num<std::int64_t>(status, "observedGeneration", 0);
  s.conditions = conditions_from_json(status);
  if (auto r = status.find("lastRun"); r != status.end() && r->is_object()) {
    s.last_run = last_run_from_json(*r);
  }
  if (auto c = status.find("certificate"); c != status.end() && c->is_object()) {
    s.certificate = certificate_from_json(*c);
  }
  s.consecutive_failures = num<int>(status, "consecutiveFailures", 0);
  s.consecutive_successes = num<int>(status, "consecutiveSuccesses", 0);
  s.last_success_time = encoding::Timestamp::parse(str(status, "lastSuccessTime"));
  s.last_failure_time = encoding::Timestamp::parse(str(status, "lastFailureTime"));
  s.next_run_time = encoding::Timestamp::parse(str(status, "nextRunTime"));
  s.last_handled_run_request = str(status, "lastHandledRunRequest");
  if (auto b = status.find("baseline"); b != status.end() && b->is_object()) {
    for (const auto& [k, v] : b->items()) {
      if (k == "samples" && v.is_number_integer()) {
        s.baseline.samples = v.get<int>();
      } else if (v.is_string()) {
        // A baseline someone edited into nonsense restarts from scratch.
        s.baseline.seconds.set_if_step(
            k,
            std::chrono::duration<float>(latency(v.get<std::string>()).value_or(probe::Duration{}))
                .count());
      }
    }
  }
  return s;
}

json ProbeStatus::to_json() const {
  json j = json::object();
  j["observedGeneration"] = observed_generation;
  json conds = json::array();
  for (const auto& c : conditions) conds.push_back(controller::to_json(c));
  j["conditions"] = conds;
  if (last_run) j["lastRun"] = last_run_to_json(*last_run);
  if (certificate) j["certificate"] = certificate_to_json(*certificate);
  j["consecutiveFailures"] = consecutive_failures;
  j["consecutiveSuccesses"] = consecutive_successes;
  if (!last_success_time.empty()) j["lastSuccessTime"] = last_success_time.to_string();
  if (!last_failure_time.empty()) j["lastFailureTime"] = last_failure_time.to_string();
  if (!next_run_time.empty()) j["nextRunTime"] = next_run_time.to_string();
  if (!last_handled_run_request.empty())
    j["lastHandledRunRequest"] = last_handled_run_request.str();
  if (baseline.samples > 0) {
    json b = json::object();
    baseline.seconds.for_each(
        [&](std::string_view k, float v) { b[std::string(k)] = seconds_to_latency(v); });
    b["samples"] = baseline.samples;
    j["baseline"] = b;
  }
  return j;
}

}  // namespace imapprobe::controller
