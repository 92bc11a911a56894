#include "probe/session.hpp"

#include <optional>

#include "imap/banner.hpp"
#include "imap/sasl.hpp"
#include "probe/authenticate.hpp"
#include "probe/delivery.hpp"
#include "probe/imap_client.hpp"
#include "probe/mailbox_steps.hpp"
#include "probe/step_failure.hpp"
#include "probe/tls.hpp"
#include "probe/token_cache.hpp"
#include "probe/token_step.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;
using Clock = net::Clock;

namespace {

bool implicit_tls_port(std::uint16_t port) { return port == 993 || port == 995 || port == 465; }

class Script final : public StepRunner {
 public:
  Script(const ProbeSpec& spec, const Credentials& creds, Connector& connector, imap::Limits limits,
         TokenCache* tokens)
      : spec_(spec),
        creds_(creds),
        login_creds_(creds),
        connector_(connector),
        limits_(limits),
        tokens_(tokens) {}

  asio::awaitable<ProbeResult> run(std::vector<net::Endpoint> endpoints) {
    const auto started = Clock::now();
    run_deadline_ = started + spec_.timeout;
    try {
      co_await connect(std::move(endpoints));
      client_.emplace(*transport_, limits_);
      co_await converse();
      result_.outcome = Outcome::Success;
      result_.reason = Reason::Succeeded;
      result_.message = success_message();
    } catch (const StepFailure& f) {
      record_failure(f.reason, f.message);
    } catch (const imap::ProtocolError& e) {
      record_failure(Reason::ProtocolError, e.what());
    } catch (const imap::SaslError& e) {
      record_failure(Reason::AuthFailed, std::string("SASL exchange failed: ") + e.what());
    }
    // Anything else is a bug in this program, not a finding about the
    // server: it propagates to the caller with its context.
    if (client_) {
      result_.capabilities = client_->capabilities();
      result_.alerts = client_->alerts();
    }
    if (transport_) transport_->close();
    result_.total = Clock::now() - started;
    co_return std::move(result_);
  }

 private:
  // --- timing -----------------------------------------------------------------

  Clock::time_point step_deadline(std::optional<Duration> limit = {}) const {
    return std::min(Clock::now() + limit.value_or(spec_.step_timeout), run_deadline_);
  }

  Clock::time_point begin(Step step, std::optional<Duration> limit = {}) override {
    step_ = step;
    in_step_ = true;
    step_started_ = Clock::now();
    const auto deadline = step_deadline(limit);
    if (transport_) transport_->set_deadline(deadline);
    return deadline;
  }

  void end() override {
    result_.durations[step_] += Clock::now() - step_started_;
    in_step_ = false;
  }

  // --- connection ---------------------------------------------------------------

  asio::awaitable<void> connect(std::vector<net::Endpoint> endpoints) {
    const std::uint16_t port = spec_.effective_port();
    const std::string where = spec_.host + ":" + std::to_string(port);
    if (endpoints.empty()) {
      begin(Step::Dns);
      Lookup found = co_await look_up(spec_, spec_.ip_family, connector_, step_deadline());
      if (found.resolved) {
        end();
      } else {
        in_step_ = false;  // an address: there was no dns step
      }
      endpoints = std::move(found.endpoints);
    }

    begin(Step::Connect);
    Connection connection;
    try {
      connection = co_await connector_.connect(std::move(endpoints), step_deadline());
    } catch (const net::IoError& e) {
      switch (e.kind()) {
        case net::IoFailure::TimedOut:
          fail(Reason::ConnectTimeout, "no TCP connection to " + where + " within " +
                                           format_measured(Clock::now() - step_started_));
        case net::IoFailure::Refused:
          fail(Reason::ConnectRefused, "connection to " + where + " refused");
        default:
          fail(Reason::ConnectFailed, "cannot connect to " + where + ": " + e.what());
      }
    }
    transport_ = std::move(connection.transport);
    result_.remote_address = net::host_port(connection.remote);
    end();
  }

  asio::awaitable<void> handshake() {
    const std::string name = spec_.effective_server_name();
    net::TlsFacts facts;
    try {
      facts = co_await transport_->start_tls(name);
    } catch (const net::IoError& e) {
      handshake_failed(e, name);
    }
    CertificateInfo info = certificate_info(facts, std::chrono::system_clock::now());
    result_.certificate = info;
    if (!info.verified && !spec_.insecure_skip_verify) {
      fail(reason_for_verify_error(facts.verify_error),
           "certificate of " + name + " not accepted: " + info.verify_error + " (subject " +
               info.subject + ", issuer " + info.issuer + ")");
    }
  }

  [[noreturn]] void handshake_failed(const net::IoError& e, const std::string& name) const {
    const std::string port = std::to_string(spec_.effective_port());
    switch (e.kind()) {
      case net::IoFailure::TimedOut:
        fail(Reason::Timeout, "TLS handshake with " + name + " did not finish within " +
                                  format_duration(spec_.step_timeout));
      case net::IoFailure::Closed:
      case net::IoFailure::Reset:
        fail(Reason::TLSHandshakeFailed,
             "server closed the connection during the TLS handshake with " + name);
      default:
        break;
    }
    const imap::Banner seen = imap::classify_banner(e.peer_bytes());
    if (seen == imap::Banner::Imap) {
      fail(Reason::TLSModeMismatch,
           "port " + port + " answered the TLS handshake with a plain-text IMAP greeting (" +
               imap::excerpt_banner(e.peer_bytes()) +
               "): it expects STARTTLS or no TLS; set tls: STARTTLS, or use the implicit-TLS "
               "port (usually 993)");
    }
    if (seen != imap::Banner::TlsRecord && seen != imap::Banner::Incomplete &&
        seen != imap::Banner::Binary) {
      fail(Reason::NotIMAP, "port " + port + " answered the TLS handshake with " +
                                std::string(imap::describe(seen)) + " (" +
                                imap::excerpt_banner(e.peer_bytes()) + "): check the port");
    }
    fail(Reason::TLSHandshakeFailed, "TLS handshake with " + name + " failed: " + e.what());
  }

  // --- the conversation -----------------------------------------------------------

  asio::awaitable<void> converse() {
    ImapClient& client = *client_;
    if (spec_.tls == TlsMode::Implicit) {
      begin(Step::Tls);
      co_await handshake();
      end();
    }
    co_await greeting();
    if (spec_.tls == TlsMode::StartTls) co_await starttls();
    if (spec_.mechanism != Mechanism::None && !authenticated_) {
      co_await ensure_capabilities();
      begin(Step::Login);
      if (!transport_->secure() && !spec_.allow_plaintext) {
        fail(Reason::PlaintextAuthRefused,
             "refusing to send credentials over an unencrypted connection (use TLS, or allow "
             "plaintext explicitly)");
      }
      if (spec_.oauth2) {
        in_step_ = false;  // timed from after the token step
        co_await log_in_with_token();
      } else {
        co_await authenticate(client, spec_.mechanism, creds_);
      }
      authenticated_ = true;
      end();
    }
    if (authenticated_) co_await mailbox_steps();
    if (authenticated_ && spec_.delivery) {
      result_.delivery.emplace();
      co_await check_delivery(spec_, login_creds_, client, connector_, *this, *result_.delivery);
    }
    begin(Step::Logout);
    Reply bye = co_await client.logout();
    if (!bye.ok()) fail(Reason::ProtocolError, "LOGOUT failed: " + server_text(bye.tagged));
    end();
  }

  // auth.oauth2: a token from memory when one is still good, else from the
  // token endpoint (the token step). A remembered token the server refuses
  // (revoked early, or the clocks disagree) is replaced once, on the same
  // connection; a fresh one refused is the server's verdict.
  asio::awaitable<void> log_in_with_token() {
    const OAuth2Spec& oauth2 = *spec_.oauth2;
    std::optional<std::string> cached;
    if (tokens_ != nullptr) cached = tokens_->access_token(oauth2, creds_, Clock::now());
    if (cached) {
      login_creds_.secret = std::move(*cached);
      begin(Step::Login);
      try {
        co_await authenticate(*client_, spec_.mechanism, login_creds_);
        co_return;
      } catch (const StepFailure& f) {
        if (f.reason != Reason::AuthFailed) throw;
      }
      end();
      tokens_->discard_access_token(oauth2, creds_);
    }
    co_await fetch_token();
    begin(Step::Login);
    try {
      co_await authenticate(*client_, spec_.mechanism, login_creds_);
    } catch (StepFailure& f) {
      if (f.reason == Reason::AuthFailed) {
        f.message =
            "the server refused a token just issued by " + oauth2.token_url + ": " + f.message;
      }
      throw;
    }
  }

  asio::awaitable<void> fetch_token() {
    const OAuth2Spec& oauth2 = *spec_.oauth2;
    const Clock::time_point deadline = begin(Step::Token);
    const Clock::time_point sent = Clock::now();
    std::string refresh = tokens_ != nullptr ? tokens_->refresh_token(oauth2, creds_)
                                             : creds_.extra->oauth_refresh_token;
    oauth::IssuedToken token =
        co_await request_token(oauth2, creds_, std::move(refresh), connector_, deadline);
    if (tokens_ != nullptr) tokens_->store(oauth2, creds_, token, sent);
    login_creds_.secret = std::move(token.access_token);
    end();
  }

  asio::awaitable<void> greeting() {
    begin(Step::Greeting);
    imap::Response r;
    try {
      r = co_await client_->greeting();
    } catch (StepFailure& f) {
      // A plain-text probe on an implicit-TLS port waits for a greeting
      // that only comes after a TLS handshake.
      if (f.reason == Reason::GreetingTimeout && !transport_->secure() &&
          implicit_tls_port(spec_.effective_port())) {
        f.message += "; port " + std::to_string(spec_.effective_port()) +
                     " usually expects implicit TLS: if so, set tls: Implicit";
      }
      throw;
    }
    if (r.status == imap::Status::PreAuth) authenticated_ = true;
    end();
  }

  asio::awaitable<void> ensure_capabilities() {
    if (!client_->capabilities().empty()) co_return;
    begin(Step::Capability);
    const std::string tag = client_->queue("CAPABILITY", "CAPABILITY");
    Reply reply = co_await client_->reply(tag);
    if (!reply.ok()) fail(Reason::ProtocolError, "CAPABILITY failed: " + server_text(reply.tagged));
    end();
  }

  asio::awaitable<void> starttls() {
    if (authenticated_) {
      // RFC 3501: STARTTLS is only valid before authentication; a PREAUTH
      // server on a plain port cannot be upgraded.
      fail(Reason::STARTTLSUnavailable,
           "server pre-authenticated the connection; STARTTLS is impossible");
    }
    co_await ensure_capabilities();
    begin(Step::Tls);
    if (!client_->has("STARTTLS")) {
      fail(Reason::STARTTLSUnavailable, "server does not offer STARTTLS (capabilities: " +
                                            printable(client_->joined_capabilities()) + ")");
    }
    const std::string tag = client_->queue("STARTTLS", "STARTTLS");
    Reply reply = co_await client_->reply(tag);
    if (!reply.ok()) {
      fail(Reason::STARTTLSUnavailable, "STARTTLS refused: " + server_text(reply.tagged));
    }
    client_->forget_plaintext_state();
    co_await handshake();
    end();
    co_await ensure_capabilities();
  }

  asio::awaitable<void> mailbox_steps() {
    ImapClient& client = *client_;
    const bool searching = !spec_.search.empty();
    const bool fetching = spec_.fetch_latest > 0;
    // LOGOUT rides behind the last command when nothing can follow it (with
    // no command to ride behind, it goes alone). Not behind SELECT: a
    // refusal there may need LIST to name its cause.
    const auto pipeline_if_last = [&](bool last) {
      if (last && !spec_.round_trip && !spec_.delivery && !spec_.checks->any()) {
        client.pipeline_logout();
      }
    };

    begin(Step::Select);
    exists_ = co_await open_mailbox(client, spec_.mailbox, /*writable=*/spec_.round_trip);
    result_.messages = exists_;
    end();
    if (searching) {
      begin(Step::Search);
      pipeline_if_last(!fetching);
      result_.search_matches = co_await search(client, spec_.search);
      end();
    }
    if (fetching) {
      begin(Step::Fetch);
      pipeline_if_last(true);
      result_.fetched =
          co_await fetch_latest(client, exists_, spec_.fetch_latest, spec_.fetch_what);
      end();
    }
    if (spec_.checks->any()) {
      begin(Step::Checks);
      co_await content_checks();
      end();
    }
    if (spec_.round_trip) {
      begin(Step::RoundTrip);
      // Abandoned: older than a whole run may last, and a minute for clocks.
      co_await round_trip(client, spec_.mailbox, canary_token(), rfc5322_now(),
                          std::chrono::duration_cast<std::chrono::seconds>(spec_.timeout) +
                              std::chrono::minutes(1));
      end();
    }
  }

  // Facts only: evaluate() holds them against the bounds, like thresholds.
  asio::awaitable<void> content_checks() {
    ImapClient& client = *client_;
    const ContentChecks& c = *spec_.checks;
    ContentFacts facts;
    if (c.counting()) {
      if (c.count_search.empty()) {
        facts.message_count = exists_;
      } else {
        const std::uint32_t matches = co_await search(client, c.count_search);
        facts.message_count = matches;
      }
    }
    if (c.newest_max_age) {
      facts.newest_checked = true;
      const std::optional<Duration> age = co_await newest_message_age(client, c.newest_search);
      facts.newest_age = age;
    }
    if (c.quota()) {
      const QuotaUsage usage = co_await quota_usage(client, spec_.mailbox);
      facts.quota = usage;
    }
    result_.content = std::move(facts);
  }

  // --- results ----------------------------------------------------------------

  void record_failure(Reason reason, std::string message) {
    result_.outcome = Outcome::Failure;
    result_.reason = reason;
    result_.message = std::move(message);
    result_.failed_step = step_;
    // The failed step's time until the failure is still a measurement.
    if (in_step_) result_.durations[step_] += Clock::now() - step_started_;
    in_step_ = false;
  }

  std::string success_message() const {
    std::string msg = spec_.mechanism == Mechanism::None ? "connected" : "logged in";
    if (result_.messages)
      msg += ", " + std::to_string(*result_.messages) + " messages in " + spec_.mailbox;
    if (result_.search_matches)
      msg += ", " + std::to_string(*result_.search_matches) + " matched search";
    if (result_.fetched) msg += ", fetched " + std::to_string(*result_.fetched);
    if (spec_.round_trip) msg += ", round trip ok";
    if (result_.delivery && result_.delivery->latency) {
      msg += ", delivered in " + format_measured(*result_.delivery->latency);
      if (!result_.delivery->queue_id.empty())
        msg += " (queue id " + result_.delivery->queue_id + ")";
    }
    return msg;
  }

  const ProbeSpec& spec_;
  const Credentials& creds_;
  // What login and SMTP AUTH send: creds_, with the OAuth 2.0 token as the
  // secret when the engine obtained it.
  Credentials login_creds_;
  Connector& connector_;
  imap::Limits limits_;
  TokenCache* tokens_;
  std::unique_ptr<net::Transport> transport_;
  std::optional<ImapClient> client_;  // once connected
  ProbeResult result_;
  Step step_ = Step::Dns;
  Clock::time_point step_started_{};
  Clock::time_point run_deadline_{};
  bool in_step_ = false;
  bool authenticated_ = false;
  std::uint32_t exists_ = 0;
};

}  // namespace

asio::awaitable<Lookup> resolve_host(std::string host, std::uint16_t port, IpFamily family,
                                     Connector& connector, Clock::time_point deadline) {
  Lookup found;
  if (auto literal = net::ip_literal(host)) {
    found.endpoints.emplace_back(*literal, port);
    co_return found;
  }
  found.resolved = true;
  found.endpoints = co_await connector.resolve(std::move(host), port, family, deadline);
  co_return found;
}

asio::awaitable<Lookup> look_up(const ProbeSpec& spec, IpFamily family, Connector& connector,
                                Clock::time_point deadline) {
  Lookup found;
  try {
    found = co_await resolve_host(spec.host, spec.effective_port(), family, connector, deadline);
  } catch (const net::IoError& e) {
    if (e.kind() == net::IoFailure::TimedOut) {
      fail(Reason::DNSFailed, "DNS lookup of " + spec.host + " timed out");
    }
    fail(Reason::DNSFailed, "cannot resolve " + spec.host + ": " + e.what());
  }
  if (found.endpoints.empty()) {
    const std::string which = family == IpFamily::Any || family == IpFamily::Both
                                  ? ""
                                  : std::string(to_string(family)) + " ";
    fail(Reason::DNSFailed, "no " + which + "address for " + spec.host);
  }
  co_return found;
}

asio::awaitable<ProbeResult> run_session(const ProbeSpec& spec, const Credentials& credentials,
                                         Connector& connector, imap::Limits limits,
                                         std::vector<net::Endpoint> endpoints, TokenCache* tokens) {
  Script script(spec, credentials, connector, limits, tokens);
  co_return co_await script.run(std::move(endpoints));
}

}  // namespace imapprobe::probe
