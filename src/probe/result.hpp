// What one probe run found: outcome, the stable reason taxonomy shared by
// status, events and metrics, per-step durations and certificate facts.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/duration.hpp"

namespace imapprobe::probe {

// In the order a session performs them.
enum class Step {
  Dns,
  Connect,
  Tls,
  Greeting,
  Capability,
  // Obtaining an OAuth 2.0 access token (auth.oauth2), when the probe has
  // no usable one in memory.
  Token,
  Login,
  Select,
  Search,
  Fetch,
  // The mailbox content checks (count, newest message, quota).
  Checks,
  RoundTrip,
  // The delivery check: SMTP submission of a canary, then waiting for it
  // over IMAP and deleting it (smtpConnect includes the SMTP host's lookup).
  SmtpConnect,
  SmtpTls,
  SmtpEhlo,
  SmtpAuth,
  SmtpSend,
  Delivery,
  DeliveryCleanup,
  Logout,
};
inline constexpr Step kAllSteps[] = {
    Step::Dns,      Step::Connect,   Step::Tls,         Step::Greeting,        Step::Capability,
    Step::Token,    Step::Login,     Step::Select,      Step::Search,          Step::Fetch,
    Step::Checks,   Step::RoundTrip, Step::SmtpConnect, Step::SmtpTls,         Step::SmtpEhlo,
    Step::SmtpAuth, Step::SmtpSend,  Step::Delivery,    Step::DeliveryCleanup, Step::Logout};
std::string_view to_string(Step s);  // lowerCamel, as in status.lastRun.durations
std::optional<Step> step_from_string(std::string_view s);

enum class Outcome { Success, Degraded, Failure };
std::string_view to_string(Outcome o);

// Stable names: they appear in status conditions, events, metrics labels and
// Nagios output, so renaming one is a breaking change (docs/reasons.md).
enum class Reason {
  Succeeded,
  DNSFailed,
  ConnectRefused,
  ConnectTimeout,
  ConnectFailed,
  TLSHandshakeFailed,
  CertificateExpired,
  CertificateNotYetValid,
  CertificateUntrusted,
  CertificateHostnameMismatch,
  CertificateExpiringSoon,
  GreetingTimeout,
  // The first bytes were TLS where plain text was expected, or the reverse.
  TLSModeMismatch,
  // Something else answered: an SMTP, POP3, HTTP or SSH server, or binary.
  NotIMAP,
  ServerBye,
  ConnectionClosed,
  STARTTLSUnavailable,
  AuthMechanismUnavailable,
  PlaintextAuthRefused,
  AuthFailed,
  LoginTimeout,
  MailboxNotFound,
  SelectFailed,
  SearchFailed,
  FetchFailed,
  RoundTripFailed,
  // The delivery check. SMTP's own words (reply code, enhanced status code
  // and text) are in the message.
  SMTPUnavailable,    // the SMTP greeting or EHLO refused (421, 554, ...)
  SMTPAuthFailed,     // AUTH refused (535 5.7.8, ...)
  SenderRejected,     // MAIL FROM refused
  RecipientRejected,  // RCPT TO refused (550 5.1.1, ...)
  MessageRejected,    // DATA or the message itself refused
  DeliveryTimeout,    // accepted by SMTP, not in the mailbox within the delivery timeout
  DeliveredToJunk,    // the canary arrived in a junk folder
  // The mailbox content checks.
  MessageCountOutOfRange,  // fewer or more messages than the bounds
  NewestMessageTooOld,     // the newest matching message is older than allowed, or none matches
  QuotaNearlyFull,         // usage at or over the warning percentage
  QuotaExceeded,           // usage at or over the failure percentage
  QuotaUnavailable,        // no QUOTA extension, or no limit for the mailbox
  // Obtaining an OAuth 2.0 token (the token step). The authorization
  // server's error code and description are in the message.
  TokenEndpointUnavailable,  // no usable answer: DNS, connect, TLS, HTTP 5xx, not OAuth
  TokenClientRejected,       // invalid_client, unauthorized_client
  TokenGrantRejected,        // invalid_grant: refresh token expired or revoked
  TokenRequestRejected,      // any other OAuth error (invalid_scope, ...)
  ProtocolError,
  // No reply to a command after login (SELECT, SEARCH, FETCH, the round trip, LOGOUT).
  CommandTimeout,
  // The TLS handshake or the run's overall timeout.
  Timeout,
  SlowResponse,
  // A failure inside imapprobe itself (a bug), never blamed on the server.
  // Stays last: tests iterate the reasons up to it.
  InternalError,
};
std::string_view to_string(Reason r);

struct CertificateInfo {
  std::string subject;
  std::string issuer;
  std::vector<std::string> dns_names;  // subjectAltName DNS and IP entries
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  double days_remaining = 0;  // negative once expired
  bool verified = false;      // chain and host name both verified
  std::string verify_error;   // OpenSSL's text when not verified
  std::string tls_version;
  std::string cipher;
};

// One address family's session in an ipFamily Both run.
struct FamilyResult {
  std::string family;          // "IPv4" | "IPv6"
  std::string remote_address;  // address:port connected to (or tried)
  Outcome outcome = Outcome::Failure;
  Reason reason = Reason::ProtocolError;
  std::string message;
  std::optional<Step> failed_step;
  Duration total{};
};

// What the delivery check saw, as far as it got.
struct DeliveryResult {
  std::string smtp_address;                    // address:port of the SMTP server
  std::string queue_id;                        // from the reply to DATA, when the server names it
  std::optional<Duration> latency;             // accepted by SMTP until visible over IMAP
  std::string found_in;                        // the mailbox it was found in
  std::optional<CertificateInfo> certificate;  // the SMTP server's
};

// What the content checks found, for the verdict (evaluate) and reports.
struct QuotaUsage {
  std::string root;      // the quota root, e.g. "User quota"
  std::string resource;  // STORAGE (KiB) or MESSAGE, the fullest one
  std::uint64_t usage = 0;
  std::uint64_t limit = 0;
  double percent() const { return limit == 0 ? 0 : 100.0 * double(usage) / double(limit); }
};
struct ContentFacts {
  std::optional<std::uint32_t> message_count;  // EXISTS, or the count search's matches
  bool newest_checked = false;
  std::optional<Duration> newest_age;  // nullopt when checked and nothing matched
  std::optional<QuotaUsage> quota;
};

struct ProbeResult {
  Outcome outcome = Outcome::Failure;
  Reason reason = Reason::ProtocolError;
  std::string message;
  std::optional<Step> failed_step;
  std::map<Step, Duration> durations;  // only the steps that ran
  Duration total{};
  std::optional<CertificateInfo> certificate;
  std::vector<std::string> capabilities;  // as last advertised
  std::vector<std::string> alerts;        // [ALERT] texts, which servers mean for humans
  std::optional<std::uint32_t> messages;  // EXISTS after SELECT
  std::optional<std::uint32_t> search_matches;
  std::optional<std::uint32_t> fetched;
  std::string remote_address;  // address actually connected to
  std::optional<DeliveryResult> delivery;
  std::optional<ContentFacts> content;
  // Threshold and certificate findings that made a passing run Degraded.
  std::vector<std::string> warnings;
  // A step or the total took longer than a warning or critical threshold,
  // whatever else decided the reason (an expiring certificate wins it): the
  // slow-probe alert must not depend on which finding named the run.
  bool over_threshold = false;
  // ipFamily Both: each family's result, IPv4 first. The fields above are
  // then the worst family's (its durations, certificate, ...), and the
  // message names the family.
  std::vector<FamilyResult> families;
};

}  // namespace imapprobe::probe
