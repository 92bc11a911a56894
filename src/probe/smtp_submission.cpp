#include "probe/smtp_submission.hpp"

#include "imap/sasl.hpp"
#include "probe/step_failure.hpp"
#include "probe/tls.hpp"
#include "smtp/reply.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;
using Clock = net::Clock;

class SmtpSubmission::Impl {
 public:
  Impl(const ProbeSpec& spec, const Credentials& creds, Connector& connector, StepRunner& steps,
       DeliveryResult& out)
      : spec_(spec),
        d_(*spec.delivery),
        creds_(creds),
        connector_(connector),
        steps_(steps),
        out_(out) {}
  ~Impl() {
    if (smtp_transport_) smtp_transport_->close();
  }

  std::string where() const { return d_.host + ":" + std::to_string(d_.effective_port()); }

  asio::awaitable<Clock::time_point> submit(Compose compose) {
    const std::uint16_t port = d_.effective_port();
    Clock::time_point deadline = steps_.begin(Step::SmtpConnect);
    std::vector<net::Endpoint> endpoints;
    try {
      Lookup found = co_await resolve_host(d_.host, port, IpFamily::Any, connector_, deadline);
      endpoints = std::move(found.endpoints);
    } catch (const net::IoError& e) {
      fail(Reason::DNSFailed, "cannot resolve the SMTP server " + d_.host + ": " + e.what());
    }
    if (endpoints.empty()) fail(Reason::DNSFailed, "no address for the SMTP server " + d_.host);
    Connection connection;
    try {
      connection = co_await connector_.connect(std::move(endpoints), deadline);
    } catch (const net::IoError& e) {
      switch (e.kind()) {
        case net::IoFailure::TimedOut:
          fail(Reason::ConnectTimeout, "no TCP connection to the SMTP server " + where());
        case net::IoFailure::Refused:
          fail(Reason::ConnectRefused, "connection to the SMTP server " + where() + " refused");
        default:
          fail(Reason::ConnectFailed,
               "cannot connect to the SMTP server " + where() + ": " + e.what());
      }
    }
    smtp_transport_ = std::move(connection.transport);
    out_.smtp_address = net::host_port(connection.remote);
    steps_.end();

    smtp_ = std::make_unique<SmtpClient>(*smtp_transport_);
    SmtpClient& smtp = *smtp_;
    if (d_.tls == TlsMode::Implicit) {
      smtp_transport_->set_deadline(steps_.begin(Step::SmtpTls));
      co_await handshake();
      steps_.end();
    }

    smtp_transport_->set_deadline(steps_.begin(Step::SmtpEhlo));
    try {
      co_await smtp.greeting();
    } catch (StepFailure& f) {
      // A plain-text client on an implicit-TLS port waits for a greeting
      // that only comes after a TLS handshake.
      if (f.reason == Reason::GreetingTimeout && !smtp_transport_->secure() && port == 465) {
        f.message +=
            "; port 465 usually expects implicit TLS: if so, set the delivery check's "
            "tls to Implicit";
      }
      throw;
    }
    std::vector<std::string> exts = co_await ehlo(smtp);
    steps_.end();

    if (d_.tls == TlsMode::StartTls) {
      smtp_transport_->set_deadline(steps_.begin(Step::SmtpTls));
      if (!smtp::extension(exts, "STARTTLS")) {
        fail(Reason::STARTTLSUnavailable,
             "the SMTP server " + where() + " does not offer STARTTLS");
      }
      smtp::Reply go = co_await smtp.command("STARTTLS", "STARTTLS");
      if (go.code != 220) {
        fail(Reason::STARTTLSUnavailable,
             "STARTTLS refused by the SMTP server: " + printable(go.summary()));
      }
      smtp.forget_plaintext_state();
      co_await handshake();
      steps_.end();
      smtp_transport_->set_deadline(steps_.begin(Step::SmtpEhlo));
      exts = co_await ehlo(smtp);  // RFC 3207: the session starts over
      steps_.end();
    }

    if (d_.mechanism != Mechanism::None) {
      smtp_transport_->set_deadline(steps_.begin(Step::SmtpAuth));
      if (!smtp_transport_->secure() && !spec_.allow_plaintext) {
        fail(Reason::PlaintextAuthRefused,
             "refusing to send SMTP credentials over an unencrypted connection (use TLS, or "
             "allow plaintext explicitly)");
      }
      co_await authenticate(smtp, exts);
      steps_.end();
    }

    smtp_transport_->set_deadline(steps_.begin(Step::SmtpSend));
    const Clock::time_point accepted = co_await send(smtp, std::move(compose));
    steps_.end();
    co_return accepted;
  }

  asio::awaitable<std::vector<std::string>> ehlo(SmtpClient& smtp) {
    const std::string line = "EHLO " + client_name();
    smtp::Reply hello = co_await smtp.command("EHLO", line);
    if (hello.code != 250) {
      fail(Reason::SMTPUnavailable,
           "EHLO refused by the SMTP server: " + printable(hello.summary()));
    }
    co_return smtp::extensions(hello);
  }

  // RFC 5321 4.1.4: a domain or an address literal; a probe has no domain
  // of its own, so it names itself by the address literal of its side of
  // the connection when it can, else a fixed name.
  static std::string client_name() { return "imapprobe.invalid"; }

  asio::awaitable<void> handshake() {
    const std::string name = d_.effective_server_name();
    net::TlsFacts facts;
    try {
      facts = co_await smtp_transport_->start_tls(name);
    } catch (const net::IoError& e) {
      if (e.kind() == net::IoFailure::TimedOut) {
        fail(Reason::Timeout, "TLS handshake with the SMTP server " + name + " did not finish");
      }
      if (!e.peer_bytes().empty() && e.peer_bytes()[0] >= '1' && e.peer_bytes()[0] <= '5') {
        fail(Reason::TLSModeMismatch,
             "SMTP port " + std::to_string(d_.effective_port()) +
                 " answered the TLS handshake with a plain-text greeting: it expects STARTTLS; "
                 "set the delivery check's tls to STARTTLS, or use port 465");
      }
      fail(Reason::TLSHandshakeFailed,
           "TLS handshake with the SMTP server " + name + " failed: " + e.what());
    }
    CertificateInfo info = certificate_info(facts, std::chrono::system_clock::now());
    out_.certificate = info;
    if (!info.verified && !spec_.insecure_skip_verify) {
      fail(reason_for_verify_error(facts.verify_error),
           "certificate of the SMTP server " + name + " not accepted: " + info.verify_error +
               " (subject " + info.subject + ", issuer " + info.issuer + ")");
    }
  }

  asio::awaitable<void> authenticate(SmtpClient& smtp, const std::vector<std::string>& exts) {
    const std::string offered = smtp::extension(exts, "AUTH").value_or("");
    const std::string want(d_.mechanism == Mechanism::Login         ? "LOGIN"
                           : d_.mechanism == Mechanism::XOAuth2     ? "XOAUTH2"
                           : d_.mechanism == Mechanism::OAuthBearer ? "OAUTHBEARER"
                                                                    : "PLAIN");
    bool has = false;
    for (std::size_t at = 0; at <= offered.size();) {
      const auto space = offered.find(' ', at);
      const std::string_view word = std::string_view(offered).substr(
          at, space == std::string::npos ? offered.npos : space - at);
      if (word == want) has = true;
      if (space == std::string::npos) break;
      at = space + 1;
    }
    if (!has) {
      fail(Reason::AuthMechanismUnavailable,
           "the SMTP server does not offer AUTH " + want +
               (offered.empty() ? std::string(" (it offers no AUTH here)")
                                : " (it offers " + printable(offered) + ")"));
    }
    const bool own = !creds_.extra->smtp_username.empty();
    const std::string& username = own ? creds_.extra->smtp_username : creds_.username;
    const std::string& secret = own ? creds_.extra->smtp_secret : creds_.secret;
    smtp::Reply reply;
    std::string oauth_error;
    if (d_.mechanism == Mechanism::Login) {
      smtp::Reply first = co_await smtp.command("AUTH LOGIN", "AUTH LOGIN");
      reply = first;
      if (first.code == 334) {
        const std::string user = imap::base64_encode(username);
        smtp::Reply second = co_await smtp.command("AUTH LOGIN user name", user);
        reply = second;
        if (second.code == 334) {
          const std::string pass = imap::base64_encode(secret);
          reply = co_await smtp.command("AUTH LOGIN password", pass);
        }
      }
    } else if (d_.mechanism == Mechanism::OAuthBearer) {
      const std::string line =
          "AUTH OAUTHBEARER " + imap::base64_encode(imap::oauthbearer_initial(username, secret));
      reply = co_await smtp.command("AUTH OAUTHBEARER", line);
      if (reply.code == 334) {
        // The error JSON; ^A asks for the final reply (RFC 7628 3.2.3).
        oauth_error = imap::oauth_error_summary(reply.lines.empty() ? "" : reply.lines.front());
        const std::string ack = imap::base64_encode("\x01");
        reply = co_await smtp.command("AUTH OAUTHBEARER", ack);
      }
    } else if (d_.mechanism == Mechanism::XOAuth2) {
      const std::string line =
          "AUTH XOAUTH2 " + imap::base64_encode(imap::xoauth2_initial(username, secret));
      reply = co_await smtp.command("AUTH XOAUTH2", line);
      if (reply.code == 334) {
        // The server's error JSON; an empty line asks for the final reply.
        oauth_error = imap::oauth_error_summary(reply.lines.empty() ? "" : reply.lines.front());
        reply = co_await smtp.command("AUTH XOAUTH2", "");
      }
    } else {
      const std::string line =
          "AUTH PLAIN " + imap::base64_encode(imap::sasl_plain(username, secret));
      reply = co_await smtp.command("AUTH PLAIN", line);
    }
    if (reply.code != 235) {
      std::string message = "SMTP AUTH " + want + " refused: " + printable(reply.summary());
      if (!oauth_error.empty()) message += " (token refused: " + printable(oauth_error) + ")";
      fail(Reason::SMTPAuthFailed, message);
    }
  }

  asio::awaitable<Clock::time_point> send(SmtpClient& smtp, Compose compose) {
    const std::string from_ = address_or_fail(d_.from, "from", Reason::SenderRejected);
    const std::string to_ = address_or_fail(d_.to, "to", Reason::RecipientRejected);
    const std::string mail = "MAIL FROM:<" + from_ + ">";
    smtp::Reply sender = co_await smtp.command("MAIL FROM", mail);
    if (sender.code != 250) {
      fail(Reason::SenderRejected,
           "sender " + printable(from_) + " refused: " + printable(sender.summary()));
    }
    const std::string rcpt = "RCPT TO:<" + to_ + ">";
    smtp::Reply recipient = co_await smtp.command("RCPT TO", rcpt);
    if (recipient.code != 250 && recipient.code != 251) {
      fail(Reason::RecipientRejected,
           "recipient " + printable(to_) + " refused: " + printable(recipient.summary()));
    }
    smtp::Reply go = co_await smtp.command("DATA", "DATA");
    if (go.code != 354) {
      fail(Reason::MessageRejected, "DATA refused: " + printable(go.summary()));
    }
    const std::string payload = smtp::data_payload(compose(from_, to_));
    smtp::Reply accepted = co_await smtp.send_raw("the message (end of DATA)", payload);
    const Clock::time_point at = Clock::now();
    if (accepted.code != 250) {
      fail(Reason::MessageRejected, "message refused: " + printable(accepted.summary()));
    }
    out_.queue_id = printable(smtp::queue_id(accepted));
    co_return at;
  }

  // QUIT is a courtesy: the message is accepted, so a server that does not
  // answer it costs nothing but the wait, bounded by a short deadline.
  asio::awaitable<void> quit() {
    if (!smtp_) co_return;
    smtp_transport_->set_deadline(Clock::now() + std::chrono::seconds(1));
    try {
      co_await smtp_->command("QUIT", "QUIT");
    } catch (const StepFailure&) {
      // not part of the verdict
    }
    smtp_transport_->close();
  }

  std::string address_or_fail(const std::string& configured, std::string_view field,
                              Reason reason) const {
    if (!configured.empty()) return configured;
    if (creds_.username.find('@') != std::string::npos) return creds_.username;
    fail(reason, "the delivery check needs a " + std::string(field) +
                     " address: the user name is not one; set delivery " + std::string(field));
  }

 private:
  const ProbeSpec& spec_;
  const DeliverySpec& d_;
  const Credentials& creds_;
  Connector& connector_;
  StepRunner& steps_;
  DeliveryResult& out_;
  std::unique_ptr<net::Transport> smtp_transport_;
  std::unique_ptr<SmtpClient> smtp_;
};

SmtpSubmission::SmtpSubmission(const ProbeSpec& spec, const Credentials& creds,
                               Connector& connector, StepRunner& steps, DeliveryResult& out)
    : impl_(std::make_unique<Impl>(spec, creds, connector, steps, out)) {}

SmtpSubmission::~SmtpSubmission() = default;

asio::awaitable<Clock::time_point> SmtpSubmission::submit(Compose compose) {
  co_return co_await impl_->submit(std::move(compose));
}

asio::awaitable<void> SmtpSubmission::quit() { co_await impl_->quit(); }

}  // namespace imapprobe::probe
