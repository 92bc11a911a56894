#include "probe/prober.hpp"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <ctime>
#include <exception>
#include <optional>

#include "imap/command.hpp"
#include "imap/sasl.hpp"
#include "imap/text.hpp"
#include "probe/evaluate.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Raised inside a session to end it with a precise reason; caught once, in run().
struct StepFailure {
  Reason reason;
  std::string message;
};

[[noreturn]] void fail(Reason reason, std::string message) {
  throw StepFailure{reason, std::move(message)};
}

std::string printable(std::string_view text) { return imap::escape_excerpt(text, 200); }

std::string server_text(const imap::Response& r) {
  std::string out;
  if (!r.code.empty()) out = "[" + r.code + (r.code_args.empty() ? "" : " " + r.code_args) + "] ";
  out += r.text;
  return printable(out);
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// One IMAP session. Shared ownership because the watchdog timer's handler may
// still be queued when the coroutine has finished.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> tls_ctx, ProbeSpec spec,
          Credentials creds, imap::Limits limits)
      : resolver_(ex),
        tls_ctx_(std::move(tls_ctx)),
        stream_(ex, *tls_ctx_),
        watchdog_(ex),
        spec_(std::move(spec)),
        creds_(std::move(creds)),
        reader_(limits) {}

  asio::awaitable<ProbeResult> run() {
    const auto started = Clock::now();
    run_deadline_ = started + spec_.timeout;
    try {
      co_await resolve_and_connect();
      if (spec_.tls == TlsMode::Implicit) {
        begin(Step::Tls);
        co_await handshake();
        end();
      }
      co_await greeting();
      if (spec_.tls == TlsMode::StartTls) co_await starttls();
      if (!authenticated_) {
        co_await ensure_capabilities();
        co_await login();
      }
      if (authenticated_) {
        co_await select();
        if (!spec_.search.empty()) co_await search();
        if (spec_.fetch_latest > 0) co_await fetch();
        if (spec_.round_trip) co_await round_trip();
      }
      co_await logout();
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
    // Anything else is a bug in this program, not a finding about the server:
    // it propagates to the caller with its context.
    close();
    result_.total = Clock::now() - started;
    if (result_.outcome != Outcome::Failure) evaluate(spec_, result_);
    co_return std::move(result_);
  }

 private:
  // --- timing and deadlines -------------------------------------------------

  void begin(Step step) {
    step_ = step;
    in_step_ = true;
    step_started_ = Clock::now();
    arm(std::min(step_started_ + spec_.step_timeout, run_deadline_));
  }

  void end() {
    result_.durations[step_] += Clock::now() - step_started_;
    in_step_ = false;
    watchdog_.cancel();
  }

  // A timer that, when it fires, closes the socket so that whatever the
  // session awaits fails at once; the flag tells the failure was a timeout.
  void arm(Clock::time_point deadline) {
    timed_out_ = false;
    watchdog_.expires_at(deadline);
    watchdog_.async_wait(
        [self = shared_from_this(), gen = ++arm_generation_](const boost::system::error_code& ec) {
          if (ec || gen != self->arm_generation_) return;
          self->timed_out_ = true;
          self->resolver_.cancel();
          boost::system::error_code ignored;
          self->stream_.lowest_layer().cancel(ignored);
          self->stream_.lowest_layer().close(ignored);
        });
  }

  Reason timeout_reason() const {
    switch (step_) {
      case Step::Connect:
        return Reason::ConnectTimeout;
      case Step::Greeting:
        return Reason::GreetingTimeout;
      default:
        return Reason::Timeout;
    }
  }

  [[noreturn]] void fail_io(const boost::system::error_code& ec, std::string_view doing) {
    if (timed_out_) {
      const auto waited =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - step_started_);
      fail(timeout_reason(), "no answer " + std::string(doing) + " within " +
                                 format_duration(waited) + " (step " +
                                 std::string(to_string(step_)) + ")");
    }
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      fail(Reason::ConnectionClosed, "server closed the connection " + std::string(doing));
    }
    if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
      fail(Reason::ConnectionClosed, "connection reset " + std::string(doing));
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      fail(Reason::TLSHandshakeFailed, "TLS error " + std::string(doing) + ": " + ec.message());
    }
    fail(Reason::ConnectionClosed, "I/O error " + std::string(doing) + ": " + ec.message());
  }

  // --- transport ------------------------------------------------------------

  asio::awaitable<void> resolve_and_connect() {
    begin(Step::Dns);
    boost::system::error_code ec;
    auto flags = tcp::resolver::numeric_service;
    const auto port = std::to_string(spec_.effective_port());
    tcp::resolver::results_type results;
    if (spec_.ip_family == IpFamily::IPv4) {
      results = co_await resolver_.async_resolve(tcp::v4(), spec_.host, port, flags,
                                                 asio::redirect_error(asio::use_awaitable, ec));
    } else if (spec_.ip_family == IpFamily::IPv6) {
      results = co_await resolver_.async_resolve(tcp::v6(), spec_.host, port, flags,
                                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      results = co_await resolver_.async_resolve(spec_.host, port, flags,
                                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (timed_out_) fail(Reason::DNSFailed, "DNS lookup of " + spec_.host + " timed out");
    if (ec) fail(Reason::DNSFailed, "cannot resolve " + spec_.host + ": " + ec.message());
    if (results.empty()) {
      fail(Reason::DNSFailed,
           "no " + std::string(to_string(spec_.ip_family)) + " address for " + spec_.host);
    }
    end();

    begin(Step::Connect);
    tcp::endpoint connected = co_await asio::async_connect(
        stream_.lowest_layer(), results, asio::redirect_error(asio::use_awaitable, ec));
    if (timed_out_) {
      fail(Reason::ConnectTimeout, "no TCP connection to " + spec_.host + ":" + port + " within " +
                                       format_duration(spec_.step_timeout));
    }
    if (ec == asio::error::connection_refused) {
      fail(Reason::ConnectRefused, "connection to " + spec_.host + ":" + port + " refused");
    }
    if (ec)
      fail(Reason::ConnectFailed,
           "cannot connect to " + spec_.host + ":" + port + ": " + ec.message());
    result_.remote_address = connected.address().to_string() + ":" + port;
    stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
    end();
  }

  asio::awaitable<void> handshake() {
    if (!tls_ctx_) throw std::logic_error("TLS requested without a TLS context");
    SSL* ssl = stream_.native_handle();
    const std::string& name = spec_.effective_server_name();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip_literal(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, name.c_str());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
    // Record the first verification error instead of aborting the handshake,
    // so the certificate is still described; nothing is sent before the
    // decision below.
    stream_.set_verify_callback([this](bool preverified, asio::ssl::verify_context& ctx) {
      if (!preverified && verify_error_ == X509_V_OK) {
        verify_error_ = X509_STORE_CTX_get_error(ctx.native_handle());
      }
      return true;
    });
    boost::system::error_code ec;
    co_await stream_.async_handshake(asio::ssl::stream_base::client,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (timed_out_)
        fail(Reason::Timeout,
             "TLS handshake did not finish within " + format_duration(spec_.step_timeout));
      fail(Reason::TLSHandshakeFailed, "TLS handshake with " + name + " failed: " + ec.message());
    }
    tls_active_ = true;

    X509* peer = SSL_get1_peer_certificate(ssl);
    CertificateInfo info = describe_certificate(peer, std::chrono::system_clock::now());
    X509_free(peer);
    info.tls_version = SSL_get_version(ssl);
    if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) info.cipher = SSL_CIPHER_get_name(c);
    info.verified = verify_error_ == X509_V_OK;
    if (!info.verified) info.verify_error = X509_verify_cert_error_string(verify_error_);
    result_.certificate = info;
    if (!info.verified && !spec_.insecure_skip_verify) {
      fail(reason_for_verify_error(verify_error_),
           "certificate of " + name + " not accepted: " + info.verify_error + " (subject " +
               info.subject + ", issuer " + info.issuer + ")");
    }
  }

  // Every caller passes a named string: GCC 12 destroys some temporaries in a
  // co_await full-expression twice (a double free seen with a conditional
  // operator), so no temporary ever crosses a co_await in this file.
  asio::awaitable<void> send(const std::string& data) {
    boost::system::error_code ec;
    if (tls_active_) {
      co_await asio::async_write(stream_, asio::buffer(data),
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(stream_.next_layer(), asio::buffer(data),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) fail_io(ec, "while sending");
  }

  asio::awaitable<imap::Response> receive() {
    for (;;) {
      if (auto r = reader_.next()) {
        if (r->kind == imap::Response::Kind::Untagged && r->code == "ALERT") {
          result_.alerts.push_back(printable(r->text));
        }
        co_return std::move(*r);
      }
      boost::system::error_code ec;
      std::size_t n = 0;
      if (tls_active_) {
        n = co_await stream_.async_read_some(asio::buffer(buffer_),
                                             asio::redirect_error(asio::use_awaitable, ec));
      } else {
        n = co_await stream_.next_layer().async_read_some(
            asio::buffer(buffer_), asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec) fail_io(ec, "waiting for the server");
      reader_.feed(std::string_view(buffer_.data(), n));
    }
  }

  struct Reply {
    imap::Response tagged;
    std::vector<imap::Response> untagged;
  };

  // Sends one command line and reads until its tagged completion. A BYE in
  // between ends the session (except during LOGOUT, where it is expected).
  asio::awaitable<Reply> command(const std::string& text, bool bye_expected = false) {
    const std::string tag = tags_.next();
    const std::string out1 = tag + " " + text + "\r\n";
    co_await send(out1);
    co_return co_await complete(tag, bye_expected);
  }

  asio::awaitable<Reply> complete(const std::string& tag, bool bye_expected = false) {
    Reply reply;
    for (;;) {
      imap::Response r = co_await receive();
      if (r.kind == imap::Response::Kind::Tagged) {
        if (r.tag != tag) {
          fail(Reason::ProtocolError,
               "server answered tag " + printable(r.tag) + " while " + tag + " was pending");
        }
        update_capabilities(r);
        reply.tagged = std::move(r);
        co_return reply;
      }
      if (r.kind == imap::Response::Kind::Continuation) {
        fail(Reason::ProtocolError, "unexpected continuation request: " + printable(r.text));
      }
      if (r.status == imap::Status::Bye && !bye_expected) {
        fail(Reason::ServerBye, "server said BYE: " + server_text(r));
      }
      update_capabilities(r);
      reply.untagged.push_back(std::move(r));
    }
  }

  void update_capabilities(const imap::Response& r) {
    if (r.code == "CAPABILITY") {
      caps_ = imap::parse_capabilities(r.code_args);
    } else if (r.kind == imap::Response::Kind::Untagged && r.keyword == "CAPABILITY") {
      caps_ = imap::parse_capabilities(r.text);
    } else {
      return;
    }
    result_.capabilities = caps_;
  }

  bool has(std::string_view cap) const { return imap::has_capability(caps_, cap); }

  void close() {
    watchdog_.cancel();
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

  // --- IMAP steps -----------------------------------------------------------

  asio::awaitable<void> greeting() {
    begin(Step::Greeting);
    imap::Response r = co_await receive();
    if (r.kind != imap::Response::Kind::Untagged) {
      fail(Reason::ProtocolError, "expected a greeting, got: " + printable(r.text));
    }
    if (r.status == imap::Status::Bye)
      fail(Reason::ServerBye, "server refused the session: " + server_text(r));
    if (r.status == imap::Status::PreAuth) {
      authenticated_ = true;
    } else if (r.status != imap::Status::Ok) {
      fail(Reason::ProtocolError, "greeting is not OK: " + server_text(r));
    }
    update_capabilities(r);
    end();
  }

  asio::awaitable<void> ensure_capabilities() {
    if (!caps_.empty()) co_return;
    begin(Step::Capability);
    const std::string out2 = "CAPABILITY";
    Reply reply = co_await command(out2);
    if (reply.tagged.status != imap::Status::Ok) {
      fail(Reason::ProtocolError, "CAPABILITY failed: " + server_text(reply.tagged));
    }
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
    if (!has("STARTTLS")) {
      fail(Reason::STARTTLSUnavailable,
           "server does not offer STARTTLS (capabilities: " + printable(join_caps()) + ")");
    }
    const std::string out3 = "STARTTLS";
    Reply reply = co_await command(out3);
    if (reply.tagged.status != imap::Status::Ok) {
      fail(Reason::STARTTLSUnavailable, "STARTTLS refused: " + server_text(reply.tagged));
    }
    // Nothing received in clear may be trusted after the upgrade (RFC 3501 6.2.1).
    reader_.discard_buffered();
    caps_.clear();
    co_await handshake();
    end();
    co_await ensure_capabilities();
  }

  std::string join_caps() const {
    std::string out;
    for (const auto& c : caps_) {
      if (!out.empty()) out += ' ';
      out += c;
    }
    return out;
  }

  asio::awaitable<void> login() {
    if (spec_.mechanism == Mechanism::None) co_return;
    begin(Step::Login);
    if (!tls_active_ && !spec_.allow_plaintext) {
      fail(Reason::PlaintextAuthRefused,
           "refusing to send credentials over an unencrypted connection (use TLS, or allow "
           "plaintext explicitly)");
    }
    Reply reply;
    switch (spec_.mechanism) {
      case Mechanism::Login: {
        if (has("LOGINDISABLED")) {
          fail(Reason::AuthMechanismUnavailable, "server advertises LOGINDISABLED");
        }
        reply = co_await login_command();
        break;
      }
      case Mechanism::Plain: {
        require_mechanism("PLAIN");
        const std::string mech = "PLAIN";
        const std::string initial = imap::sasl_plain(creds_.username, creds_.secret);
        reply = co_await authenticate(mech, initial);
        break;
      }
      case Mechanism::XOAuth2: {
        require_mechanism("XOAUTH2");
        const std::string mech = "XOAUTH2";
        const std::string initial = imap::xoauth2_initial(creds_.username, creds_.secret);
        reply = co_await authenticate(mech, initial);
        break;
      }
      case Mechanism::CramMD5:
        require_mechanism("CRAM-MD5");
        reply = co_await authenticate_cram_md5();
        break;
      case Mechanism::ScramSHA256:
        require_mechanism("SCRAM-SHA-256");
        reply = co_await authenticate_scram();
        break;
      case Mechanism::None:
        break;
    }
    if (reply.tagged.status != imap::Status::Ok) {
      fail(Reason::AuthFailed,
           "login as " + printable(creds_.username) + " failed: " + server_text(reply.tagged));
    }
    authenticated_ = true;
    end();
  }

  void require_mechanism(std::string_view name) {
    if (!has("AUTH=" + std::string(name))) {
      fail(Reason::AuthMechanismUnavailable, "server does not offer AUTH=" + std::string(name) +
                                                 " (capabilities: " + printable(join_caps()) + ")");
    }
  }

  // LOGIN with each argument as a quoted string or, when it cannot be one,
  // a literal (synchronizing unless the server offers LITERAL+).
  asio::awaitable<Reply> login_command() {
    const bool plus = has("LITERAL+");
    const std::string tag = tags_.next();
    std::string line = tag + " LOGIN ";
    const imap::Argument args[] = {imap::encode_string(creds_.username, plus),
                                   imap::encode_string(creds_.secret, plus)};
    for (std::size_t i = 0; i < 2; ++i) {
      if (i == 1) line += ' ';
      line += args[i].head;
      if (args[i].needs_continuation) {
        co_await send(line);
        line.clear();
        co_await expect_continuation();
      }
      line += args[i].literal;
    }
    const std::string out8 = line + "\r\n";
    co_await send(out8);
    co_return co_await complete(tag);
  }

  asio::awaitable<imap::Response> expect_continuation() {
    for (;;) {
      imap::Response r = co_await receive();
      if (r.kind == imap::Response::Kind::Continuation) co_return r;
      if (r.kind == imap::Response::Kind::Tagged) co_return r;  // the caller sees NO/BAD
      if (r.status == imap::Status::Bye)
        fail(Reason::ServerBye, "server said BYE: " + server_text(r));
      update_capabilities(r);
    }
  }

  // AUTHENTICATE with an initial response (SASL-IR when offered, else after
  // the first "+"). Any further challenge is an error report (XOAUTH2 sends
  // its JSON that way): answered with an empty line so the server finishes.
  asio::awaitable<Reply> authenticate(const std::string& mech, const std::string& initial) {
    const std::string tag = tags_.next();
    const std::string encoded = imap::base64_encode(initial);
    if (has("SASL-IR")) {
      const std::string out9 = tag + " AUTHENTICATE " + std::string(mech) + " " +
                               (encoded.empty() ? "=" : encoded) + "\r\n";
      co_await send(out9);
    } else {
      const std::string out10 = tag + " AUTHENTICATE " + std::string(mech) + "\r\n";
      co_await send(out10);
      imap::Response r = co_await expect_continuation();
      if (r.kind == imap::Response::Kind::Tagged) co_return Reply{std::move(r), {}};
      const std::string out11 = encoded + "\r\n";
      co_await send(out11);
    }
    co_return co_await finish_sasl(tag);
  }

  asio::awaitable<Reply> finish_sasl(const std::string& tag) {
    for (;;) {
      imap::Response r = co_await expect_continuation();
      if (r.kind == imap::Response::Kind::Tagged) {
        if (r.tag != tag) fail(Reason::ProtocolError, "unexpected tag " + printable(r.tag));
        update_capabilities(r);
        co_return Reply{std::move(r), {}};
      }
      const std::string out12 = "\r\n";
      co_await send(out12);
    }
  }

  asio::awaitable<Reply> authenticate_cram_md5() {
    const std::string tag = tags_.next();
    const std::string out13 = tag + " AUTHENTICATE CRAM-MD5\r\n";
    co_await send(out13);
    imap::Response challenge = co_await expect_continuation();
    if (challenge.kind == imap::Response::Kind::Tagged) co_return Reply{std::move(challenge), {}};
    const std::string decoded = imap::base64_decode(challenge.text);
    const std::string out14 =
        imap::base64_encode(imap::cram_md5_response(creds_.username, creds_.secret, decoded)) +
        "\r\n";
    co_await send(out14);
    co_return co_await finish_sasl(tag);
  }

  asio::awaitable<Reply> authenticate_scram() {
    imap::ScramSha256Client scram(creds_.username, creds_.secret);
    const std::string tag = tags_.next();
    const std::string first = imap::base64_encode(scram.client_first());
    if (has("SASL-IR")) {
      const std::string out15 = tag + " AUTHENTICATE SCRAM-SHA-256 " + first + "\r\n";
      co_await send(out15);
    } else {
      const std::string out16 = tag + " AUTHENTICATE SCRAM-SHA-256\r\n";
      co_await send(out16);
      imap::Response r = co_await expect_continuation();
      if (r.kind == imap::Response::Kind::Tagged) co_return Reply{std::move(r), {}};
      const std::string out17 = first + "\r\n";
      co_await send(out17);
    }
    imap::Response server_first = co_await expect_continuation();
    if (server_first.kind == imap::Response::Kind::Tagged)
      co_return Reply{std::move(server_first), {}};
    const std::string out18 =
        imap::base64_encode(scram.client_final(imap::base64_decode(server_first.text))) + "\r\n";
    co_await send(out18);
    imap::Response server_final = co_await expect_continuation();
    if (server_final.kind == imap::Response::Kind::Tagged) {
      // Some servers put server-final-message in the tagged OK's text; a
      // success without a verifiable signature is not trusted.
      if (server_final.status == imap::Status::Ok) {
        fail(Reason::AuthFailed, "server completed SCRAM without sending its signature");
      }
      co_return Reply{std::move(server_final), {}};
    }
    scram.verify_server_final(imap::base64_decode(server_final.text));
    const std::string out19 = "\r\n";
    co_await send(out19);
    co_return co_await finish_sasl(tag);
  }

  asio::awaitable<void> select() {
    begin(Step::Select);
    // EXAMINE keeps a monitoring login from changing \Recent and \Seen; the
    // round trip needs a writable mailbox.
    const char* verb = spec_.round_trip ? "SELECT " : "EXAMINE ";
    const std::string out20 = verb + mailbox_arg();
    Reply reply = co_await command(out20);
    if (reply.tagged.status != imap::Status::Ok) {
      const std::string text = server_text(reply.tagged);
      const bool missing = reply.tagged.code == "NONEXISTENT" ||
                           reply.tagged.text.find("exist") != std::string::npos;
      fail(missing ? Reason::MailboxNotFound : Reason::SelectFailed,
           "cannot open mailbox " + printable(spec_.mailbox) + ": " + text);
    }
    for (const auto& r : reply.untagged) {
      if (r.keyword == "EXISTS" && r.number) exists_ = *r.number;
    }
    result_.messages = exists_;
    end();
  }

  std::string mailbox_arg() const {
    // Mailbox names with CR/LF are rejected by spec validation; quote() still
    // guards against them.
    return imap::quote(spec_.mailbox);
  }

  asio::awaitable<void> search() {
    begin(Step::Search);
    const std::string out21 = "SEARCH " + spec_.search;
    Reply reply = co_await command(out21);
    if (reply.tagged.status != imap::Status::Ok) {
      fail(Reason::SearchFailed,
           "SEARCH " + printable(spec_.search) + " failed: " + server_text(reply.tagged));
    }
    std::uint32_t matches = 0;
    for (const auto& r : reply.untagged) {
      if (r.keyword == "SEARCH")
        matches += static_cast<std::uint32_t>(imap::parse_search(r.text).size());
    }
    result_.search_matches = matches;
    end();
  }

  asio::awaitable<void> fetch() {
    begin(Step::Fetch);
    if (exists_ == 0) {
      result_.fetched = 0;
      end();
      co_return;
    }
    const std::uint32_t first = exists_ > spec_.fetch_latest ? exists_ - spec_.fetch_latest + 1 : 1;
    std::string items;
    switch (spec_.fetch_what) {
      case FetchWhat::Headers:
        items = "(UID RFC822.SIZE BODY.PEEK[HEADER])";
        break;
      case FetchWhat::Envelope:
        items = "(UID RFC822.SIZE ENVELOPE)";
        break;
      case FetchWhat::Full:
        items = "(UID RFC822.SIZE BODY.PEEK[])";
        break;
    }
    const std::string out22 =
        "FETCH " + std::to_string(first) + ":" + std::to_string(exists_) + " " + items;
    Reply reply = co_await command(out22);
    if (reply.tagged.status != imap::Status::Ok) {
      fail(Reason::FetchFailed, "FETCH failed: " + server_text(reply.tagged));
    }
    std::uint32_t fetched = 0;
    for (const auto& r : reply.untagged) {
      if (r.keyword == "FETCH") ++fetched;
    }
    result_.fetched = fetched;
    end();
  }

  // APPEND a uniquely marked canary, find it, then delete every canary in the
  // mailbox (earlier runs that died half-way included), so the mailbox ends
  // as it started.
  asio::awaitable<void> round_trip() {
    begin(Step::RoundTrip);
    const std::string token = random_hex(16);
    const std::string message =
        "From: imapprobe <imapprobe@probe.invalid>\r\n"
        "To: imapprobe <imapprobe@probe.invalid>\r\n"
        "Subject: imapprobe canary " +
        token +
        "\r\n"
        "Date: " +
        rfc5322_date() +
        "\r\n"
        "Message-ID: <" +
        token +
        "@probe.invalid>\r\n"
        "X-Imapprobe-Canary: " +
        token +
        "\r\n"
        "\r\n"
        "Synthetic monitoring message; deleted by the probe that wrote it.\r\n";
    const bool plus = has("LITERAL+");
    const std::string tag = tags_.next();
    const std::string head = tag + " APPEND " + mailbox_arg() + " (\\Seen) {" +
                             std::to_string(message.size()) + (plus ? "+" : "") + "}\r\n";
    Reply appended;
    if (plus) {
      const std::string out23 = head + message + "\r\n";
      co_await send(out23);
      appended = co_await complete(tag);
    } else {
      co_await send(head);
      imap::Response go = co_await expect_continuation();
      if (go.kind == imap::Response::Kind::Tagged) {
        appended.tagged = std::move(go);
      } else {
        const std::string out24 = message + "\r\n";
        co_await send(out24);
        appended = co_await complete(tag);
      }
    }
    if (appended.tagged.status != imap::Status::Ok) {
      fail(Reason::RoundTripFailed, "APPEND failed: " + server_text(appended.tagged));
    }
    const std::string out25 = "UID SEARCH HEADER X-Imapprobe-Canary " + token;
    Reply found = co_await command(out25);
    std::vector<std::uint32_t> uids;
    for (const auto& r : found.untagged) {
      if (r.keyword == "SEARCH") uids = imap::parse_search(r.text);
    }
    if (found.tagged.status != imap::Status::Ok || uids.empty()) {
      fail(Reason::RoundTripFailed, "the appended canary was not found by SEARCH");
    }
    const std::string out26 = "UID SEARCH HEADER X-Imapprobe-Canary \"\"";
    Reply all = co_await command(out26);
    std::string set;
    for (const auto& r : all.untagged) {
      if (r.keyword != "SEARCH") continue;
      for (auto uid : imap::parse_search(r.text)) {
        if (!set.empty()) set += ',';
        set += std::to_string(uid);
      }
    }
    if (set.empty()) set = std::to_string(uids.front());
    const std::string out27 = "UID STORE " + set + " +FLAGS.SILENT (\\Deleted)";
    Reply stored = co_await command(out27);
    if (stored.tagged.status != imap::Status::Ok) {
      fail(Reason::RoundTripFailed,
           "cannot flag the canary deleted: " + server_text(stored.tagged));
    }
    // UID EXPUNGE (UIDPLUS) removes only the canaries; plain EXPUNGE would
    // also remove anything else flagged \Deleted in the mailbox.
    const std::string out28 = has("UIDPLUS") ? "UID EXPUNGE " + set : std::string("EXPUNGE");
    Reply expunged = co_await command(out28);
    if (expunged.tagged.status != imap::Status::Ok) {
      fail(Reason::RoundTripFailed, "cannot expunge the canary: " + server_text(expunged.tagged));
    }
    end();
  }

  asio::awaitable<void> logout() {
    begin(Step::Logout);
    const std::string out29 = "LOGOUT";
    Reply reply = co_await command(out29, /*bye_expected=*/true);
    if (reply.tagged.status != imap::Status::Ok) {
      fail(Reason::ProtocolError, "LOGOUT failed: " + server_text(reply.tagged));
    }
    end();
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
    std::string msg = "logged in";
    if (spec_.mechanism == Mechanism::None) msg = "connected";
    if (result_.messages)
      msg += ", " + std::to_string(*result_.messages) + " messages in " + spec_.mailbox;
    if (result_.search_matches)
      msg += ", " + std::to_string(*result_.search_matches) + " matched search";
    if (result_.fetched) msg += ", fetched " + std::to_string(*result_.fetched);
    if (spec_.round_trip) msg += ", round trip ok";
    return msg;
  }

  tcp::resolver resolver_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer watchdog_;
  ProbeSpec spec_;
  Credentials creds_;
  imap::ResponseReader reader_;
  imap::TagGenerator tags_;
  // Not zero-initialised: only bytes a read filled are ever used, and zeroing
  // 16 KiB per session showed up in the benchmark profile.
  std::array<char, 16 * 1024> buffer_;
  std::vector<std::string> caps_;
  ProbeResult result_;
  Step step_ = Step::Dns;
  Clock::time_point step_started_{};
  Clock::time_point run_deadline_{};
  unsigned arm_generation_ = 0;
  bool timed_out_ = false;
  bool in_step_ = false;
  bool tls_active_ = false;
  bool authenticated_ = false;
  long verify_error_ = X509_V_OK;
  std::uint32_t exists_ = 0;
};

}  // namespace

Prober::Prober(asio::any_io_executor executor, imap::Limits limits)
    : executor_(std::move(executor)), limits_(limits), tls_(std::make_shared<TlsContextCache>()) {}

asio::awaitable<ProbeResult> Prober::run(ProbeSpec spec, Credentials credentials) {
  // A plain-text probe still gets a (trust-less, cheap) context because the
  // stream type is the same for both; it never handshakes.
  std::shared_ptr<asio::ssl::context> ctx;
  {
    const bool tls = spec.tls != TlsMode::None;
    try {
      ctx = tls_->get(tls ? spec.ca_pem : std::string(), tls && spec.use_system_trust,
                      spec.min_tls_version);
    } catch (const std::exception& e) {
      ProbeResult r;
      r.reason = Reason::TLSHandshakeFailed;
      r.message = e.what();
      r.failed_step = Step::Tls;
      co_return r;
    }
  }
  auto session = std::make_shared<Session>(executor_, std::move(ctx), std::move(spec),
                                           std::move(credentials), limits_);
  co_return co_await session->run();
}

ProbeResult internal_error_result(std::exception_ptr error) {
  ProbeResult r;
  r.outcome = Outcome::Failure;
  r.reason = Reason::InternalError;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    r.message = std::string("internal error in imapprobe (not the server's fault): ") + e.what();
  } catch (...) {
    r.message = "internal error in imapprobe (not the server's fault): unknown exception";
  }
  return r;
}

ProbeResult run_probe(const ProbeSpec& spec, const Credentials& credentials) {
  asio::io_context io;
  Prober prober(io.get_executor());
  std::optional<ProbeResult> result;
  std::exception_ptr error;
  asio::co_spawn(io, prober.run(spec, credentials), [&](std::exception_ptr e, ProbeResult r) {
    if (e) {
      error = e;
    } else {
      result = std::move(r);
    }
  });
  io.run();
  if (error) return internal_error_result(error);
  return std::move(*result);
}

}  // namespace imapprobe::probe
