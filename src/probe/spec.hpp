// What to check and how: the engine's input, independent of where it came
// from (CLI flags or an ImapProbe resource).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oauth/token_request.hpp"
#include "probe/duration.hpp"
#include "probe/optional_box.hpp"
#include "probe/result.hpp"

namespace imapprobe::probe {

enum class TlsMode { Implicit, StartTls, None };
// Both: every family the name resolves to, each in its own session.
enum class IpFamily { Any, IPv4, IPv6, Both };
enum class Mechanism { Login, Plain, CramMD5, ScramSHA256, XOAuth2, OAuthBearer, None };
enum class FetchWhat { Headers, Envelope, Full };

// Spellings match the CRD enums ("Implicit", "STARTTLS", "ScramSHA256", ...).
std::string_view to_string(TlsMode m);
std::string_view to_string(IpFamily f);
std::string_view to_string(Mechanism m);
std::string_view to_string(FetchWhat w);
// Case-insensitive; throw std::invalid_argument listing the allowed values.
TlsMode parse_tls_mode(std::string_view s);
IpFamily parse_ip_family(std::string_view s);
Mechanism parse_mechanism(std::string_view s);
FetchWhat parse_fetch_what(std::string_view s);

// Secrets are kept apart from the spec so a spec can be logged or copied
// into status without ever carrying them.
// The credentials most probes do not have.
struct ExtraCredentials {
  // SMTP AUTH of the delivery check; empty: the IMAP ones.
  std::string smtp_username;
  std::string smtp_secret;
  // auth.oauth2: what the token request needs (Credentials::secret is then
  // the token the engine obtains, not read from anywhere).
  std::string oauth_client_secret;
  std::string oauth_refresh_token;
  std::string oauth_client_certificate_pem;
  std::string oauth_client_key_pem;
};

struct Credentials {
  std::string username;
  std::string secret;  // password, or the OAuth 2.0 bearer token (XOAuth2, OAuthBearer)
  // One pointer for the probes without them: the operator keeps the last
  // credentials of every probe (for API outages), six empty strings each.
  DefaultedBox<ExtraCredentials> extra{};
};

// auth.oauth2: the engine obtains the bearer token itself (the token step)
// and keeps it in memory for later runs of the same probe.
struct OAuth2Spec {
  std::string token_url;
  oauth::Grant grant = oauth::Grant::ClientCredentials;
  oauth::ClientAuth client_auth = oauth::ClientAuth::Basic;
  std::string client_id;
  std::vector<std::string> scopes;
  bool allow_insecure_http = false;
  // Whose token it is: runs with the same key share a cached token (the
  // operator uses the probe's uid). Empty: not cached across runs.
  std::string cache_key;
};

struct Thresholds {
  std::map<Step, Duration> warning;   // exceeding one: Degraded, SlowResponse
  std::map<Step, Duration> critical;  // exceeding one: Failure, SlowResponse
  std::optional<Duration> total_warning;
  std::optional<Duration> total_critical;
};

// The delivery check: a canary submitted over SMTP and found over IMAP.
struct DeliverySpec {
  std::string host;
  std::uint16_t port = 0;  // 0: 465 for Implicit, 587 otherwise
  TlsMode tls = TlsMode::StartTls;
  std::string server_name;                      // empty: host
  Mechanism mechanism = Mechanism::Plain;       // Plain, Login, XOAuth2, OAuthBearer or None
  std::string from;                             // envelope sender; empty: the IMAP user name
  std::string to;                               // recipient; empty: the IMAP user name
  std::string mailbox = "INBOX";                // where the canary is expected
  std::vector<std::string> junk_folders;        // empty: \Junk by SPECIAL-USE, then common names
  Duration timeout = std::chrono::seconds(20);  // accepted by SMTP until found
  // Where the canaries say they come from (the operator's location), so
  // cleanup of abandoned ones can be told apart in a shared mailbox.
  std::string origin;

  std::uint16_t effective_port() const {
    if (port != 0) return port;
    return tls == TlsMode::Implicit ? 465 : 587;
  }
  const std::string& effective_server_name() const {
    return server_name.empty() ? host : server_name;
  }
};

// Assertions on what the mailbox holds. Each is off until set.
struct ContentChecks {
  std::optional<std::uint32_t> min_messages;
  std::optional<std::uint32_t> max_messages;
  std::string count_search;  // empty: every message in the mailbox (EXISTS)
  std::optional<Duration> newest_max_age;
  std::string newest_search = "ALL";
  std::optional<double> quota_warn_percent;
  std::optional<double> quota_fail_percent;

  bool counting() const { return min_messages || max_messages; }
  bool quota() const { return quota_warn_percent || quota_fail_percent; }
  bool any() const { return counting() || newest_max_age || quota(); }
};

struct ProbeSpec {
  std::string host;
  std::uint16_t port = 0;  // 0: 993 for Implicit, 143 otherwise
  TlsMode tls = TlsMode::Implicit;
  IpFamily ip_family = IpFamily::Any;
  std::string server_name;  // SNI and name verification; empty: host
  std::string ca_pem;       // extra trust, PEM text (added to the system store)
  bool use_system_trust = true;
  bool insecure_skip_verify = false;
  std::string min_tls_version = "TLSv1.2";  // TLSv1.2 | TLSv1.3

  Mechanism mechanism = Mechanism::Plain;
  bool allow_plaintext = false;  // credentials over an unencrypted connection
  // Shared, not copied per run, and one pointer for the many probes without it.
  std::shared_ptr<const OAuth2Spec> oauth2;

  std::string mailbox = "INBOX";
  std::string search;              // IMAP SEARCH criteria; empty: no SEARCH
  std::uint32_t fetch_latest = 0;  // 0: no FETCH
  FetchWhat fetch_what = FetchWhat::Headers;
  bool round_trip = false;
  DefaultedBox<ContentChecks> checks;  // most probes have none: not inline
  OptionalBox<DeliverySpec> delivery;  // most probes have none: not inline

  Duration timeout = std::chrono::seconds(30);       // whole run
  Duration step_timeout = std::chrono::seconds(10);  // any single step
  DefaultedBox<Thresholds> thresholds;
  Duration cert_warn_before = std::chrono::hours(14 * 24);
  Duration cert_fail_before = std::chrono::hours(3 * 24);

  std::uint16_t effective_port() const {
    if (port != 0) return port;
    return tls == TlsMode::Implicit ? 993 : 143;
  }
  const std::string& effective_server_name() const {
    return server_name.empty() ? host : server_name;
  }
};

// A setting a SpecProblem is about. The CLI and the operator each spell it
// their own way (--round-trip, spec.roundTrip.enabled).
enum class Setting { Search, Fetch, RoundTrip, Delivery, Checks, OAuth2 };

struct SpecProblem {
  Setting setting;
  std::string what;  // "needs a logged-in session (auth mechanism is None)"
};

// Combinations the engine would not run as asked (it skips the mailbox steps
// without a login), refused up front by every front end so that a check
// never passes for steps it silently left out. Empty when there are none.
std::vector<SpecProblem> spec_problems(const ProbeSpec& spec);

}  // namespace imapprobe::probe
