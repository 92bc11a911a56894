#include "probe/spec.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "oauth/url.hpp"

namespace imapprobe::probe {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <typename E, std::size_t N>
E parse_enum(std::string_view what, std::string_view s,
             const std::array<std::pair<std::string_view, E>, N>& names) {
  for (const auto& [name, value] : names) {
    if (iequals(name, s)) return value;
  }
  std::string allowed;
  for (const auto& [name, value] : names) {
    if (!allowed.empty()) allowed += ", ";
    allowed += name;
  }
  throw std::invalid_argument("invalid " + std::string(what) + " \"" + std::string(s) +
                              "\" (allowed: " + allowed + ")");
}

constexpr std::array<std::pair<std::string_view, TlsMode>, 3> kTls{
    {{"Implicit", TlsMode::Implicit}, {"STARTTLS", TlsMode::StartTls}, {"None", TlsMode::None}}};
constexpr std::array<std::pair<std::string_view, IpFamily>, 4> kFamily{{{"Any", IpFamily::Any},
                                                                        {"IPv4", IpFamily::IPv4},
                                                                        {"IPv6", IpFamily::IPv6},
                                                                        {"Both", IpFamily::Both}}};
constexpr std::array<std::pair<std::string_view, Mechanism>, 7> kMech{
    {{"Login", Mechanism::Login},
     {"Plain", Mechanism::Plain},
     {"CramMD5", Mechanism::CramMD5},
     {"ScramSHA256", Mechanism::ScramSHA256},
     {"XOAuth2", Mechanism::XOAuth2},
     {"OAuthBearer", Mechanism::OAuthBearer},
     {"None", Mechanism::None}}};
constexpr std::array<std::pair<std::string_view, FetchWhat>, 3> kFetch{
    {{"Headers", FetchWhat::Headers},
     {"Envelope", FetchWhat::Envelope},
     {"Full", FetchWhat::Full}}};

template <typename E, std::size_t N>
std::string_view name_of(E value, const std::array<std::pair<std::string_view, E>, N>& names) {
  for (const auto& [name, v] : names) {
    if (v == value) return name;
  }
  return "?";
}

}  // namespace

std::string_view to_string(TlsMode m) { return name_of(m, kTls); }
std::string_view to_string(IpFamily f) { return name_of(f, kFamily); }
std::string_view to_string(Mechanism m) { return name_of(m, kMech); }
std::string_view to_string(FetchWhat w) { return name_of(w, kFetch); }
TlsMode parse_tls_mode(std::string_view s) { return parse_enum("tls mode", s, kTls); }
IpFamily parse_ip_family(std::string_view s) { return parse_enum("ip family", s, kFamily); }
Mechanism parse_mechanism(std::string_view s) { return parse_enum("auth mechanism", s, kMech); }
FetchWhat parse_fetch_what(std::string_view s) { return parse_enum("fetch what", s, kFetch); }

std::vector<SpecProblem> spec_problems(const ProbeSpec& spec) {
  std::vector<SpecProblem> problems;
  if (spec.mechanism == Mechanism::None) {
    // Parenthesised rather than after a semicolon: the operator joins
    // several problems into one message with "; ".
    const std::string why = "needs a logged-in session (auth mechanism is None)";
    if (!spec.search.empty()) problems.push_back({Setting::Search, why});
    if (spec.fetch_latest > 0) problems.push_back({Setting::Fetch, why});
    if (spec.round_trip) problems.push_back({Setting::RoundTrip, why});
    if (spec.delivery) problems.push_back({Setting::Delivery, why});
    if (spec.checks->any()) problems.push_back({Setting::Checks, why});
  }
  if (const auto& o = spec.oauth2) {
    if (spec.mechanism != Mechanism::XOAuth2 && spec.mechanism != Mechanism::OAuthBearer) {
      problems.push_back({Setting::OAuth2, "needs auth mechanism XOAuth2 or OAuthBearer, not " +
                                               std::string(to_string(spec.mechanism))});
    }
    if (o->client_id.empty()) problems.push_back({Setting::OAuth2, "needs a client id"});
    try {
      const oauth::HttpUrl url = oauth::parse_http_url(o->token_url);
      if (!url.https && !o->allow_insecure_http) {
        problems.push_back(
            {Setting::OAuth2, "token URL " + url.to_string() +
                                  " is not https: the client secret would travel in clear (allow "
                                  "insecure HTTP explicitly for a loopback test server)"});
      }
    } catch (const std::invalid_argument& e) {
      problems.push_back({Setting::OAuth2, std::string("token URL: ") + e.what()});
    }
  }
  const ContentChecks& c = *spec.checks;
  if (c.min_messages && c.max_messages && *c.min_messages > *c.max_messages) {
    problems.push_back(
        {Setting::Checks, "the minimum message count (" + std::to_string(*c.min_messages) +
                              ") is above the maximum (" + std::to_string(*c.max_messages) + ")"});
  }
  for (const auto* pct : {&c.quota_warn_percent, &c.quota_fail_percent}) {
    if (*pct && (**pct <= 0 || **pct > 100)) {
      problems.push_back(
          {Setting::Checks, "quota percentages must be more than 0 and at most 100"});
      break;
    }
  }
  if (c.quota_warn_percent && c.quota_fail_percent &&
      *c.quota_warn_percent > *c.quota_fail_percent) {
    problems.push_back({Setting::Checks, "the quota warning percentage is above the failure one"});
  }
  if (c.newest_max_age && *c.newest_max_age <= Duration::zero()) {
    problems.push_back({Setting::Checks, "the newest message's maximum age must be positive"});
  }
  if (c.newest_max_age && c.newest_search.empty()) {
    problems.push_back(
        {Setting::Checks, "the newest-message check needs search criteria (ALL for any)"});
  }
  if (const auto& d = spec.delivery) {
    if (d->host.empty()) problems.push_back({Setting::Delivery, "needs an SMTP host"});
    if (d->mechanism != Mechanism::Plain && d->mechanism != Mechanism::Login &&
        d->mechanism != Mechanism::XOAuth2 && d->mechanism != Mechanism::OAuthBearer &&
        d->mechanism != Mechanism::None) {
      problems.push_back({Setting::Delivery,
                          "SMTP AUTH supports Plain, Login, XOAuth2, OAuthBearer or None, not " +
                              std::string(to_string(d->mechanism))});
    }
    if (d->timeout <= Duration::zero() || d->timeout >= spec.timeout) {
      problems.push_back({Setting::Delivery, "delivery timeout (" + format_duration(d->timeout) +
                                                 ") must be more than 0 and less than the run's "
                                                 "timeout (" +
                                                 format_duration(spec.timeout) + ")"});
    }
  }
  return problems;
}

}  // namespace imapprobe::probe
