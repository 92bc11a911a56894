#include "probe/authenticate.hpp"

#include "imap/sasl.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;
using imap::Response;

namespace {

bool is_tagged(const Response& r) { return r.kind == Response::Kind::Tagged; }

Reply tagged_only(Response r) { return Reply{std::move(r), {}}; }

void require_mechanism(const ImapClient& client, std::string_view name) {
  if (!client.has("AUTH=" + std::string(name))) {
    fail(Reason::AuthMechanismUnavailable,
         "server does not offer AUTH=" + std::string(name) +
             " (capabilities: " + printable(client.joined_capabilities()) + ")");
  }
}

// LOGIN with each argument as a quoted string or, when it cannot be one, a
// literal (synchronizing unless the server offers LITERAL+).
asio::awaitable<Reply> login_command(ImapClient& client, const Credentials& creds) {
  const bool plus = client.has("LITERAL+");
  const std::string tag = client.begin("LOGIN", Reason::LoginTimeout);
  const imap::Argument args[] = {imap::encode_string(creds.username, plus),
                                 imap::encode_string(creds.secret, plus)};
  client.queue_bytes(tag + " LOGIN ");
  for (std::size_t i = 0; i < 2; ++i) {
    if (i == 1) client.queue_bytes(" ");
    client.queue_bytes(args[i].head);
    if (args[i].needs_continuation) {
      Response go = co_await client.continuation();
      if (is_tagged(go)) co_return tagged_only(std::move(go));
    }
    client.queue_bytes(args[i].literal);
  }
  client.queue_bytes("\r\n");
  co_return co_await client.reply(tag);
}

// After the client's last SASL message: any further challenge is an error
// report (XOAUTH2 and OAUTHBEARER send JSON that way), answered with
// `error_ack` (an empty line; OAUTHBEARER wants ^A, RFC 7628 3.2.3) so the
// server finishes with its tagged NO. `oauth_error` keeps the report.
asio::awaitable<Reply> finish_sasl(ImapClient& client, std::string* oauth_error = nullptr,
                                   std::string_view error_ack = "") {
  for (;;) {
    Response r = co_await client.continuation();
    if (is_tagged(r)) co_return tagged_only(std::move(r));
    if (oauth_error) *oauth_error = imap::oauth_error_summary(r.text);
    client.queue_bytes(std::string(error_ack) + "\r\n");
  }
}

// "AUTHENTICATE <mech>" with the client's first message: on the command
// line with SASL-IR, else after the server's first "+". Returns a tagged
// reply if the server ended the exchange early.
asio::awaitable<std::optional<Response>> start_sasl(ImapClient& client, std::string_view mech,
                                                    const std::string& first) {
  const std::string what = "AUTHENTICATE " + std::string(mech);
  if (client.has("SASL-IR")) {
    client.queue(what, what + " " + (first.empty() ? std::string("=") : first),
                 Reason::LoginTimeout);
    co_return std::nullopt;
  }
  client.queue(what, what, Reason::LoginTimeout);
  Response go = co_await client.continuation();
  if (is_tagged(go)) co_return std::move(go);
  client.queue_bytes(first + "\r\n");
  co_return std::nullopt;
}

// PLAIN, XOAUTH2 and OAUTHBEARER: one client message.
asio::awaitable<Reply> single_message(ImapClient& client, std::string_view mech,
                                      const std::string& message,
                                      std::string* oauth_error = nullptr,
                                      std::string_view error_ack = "") {
  const std::string encoded = imap::base64_encode(message);
  if (auto early = co_await start_sasl(client, mech, encoded)) co_return tagged_only(*early);
  co_return co_await finish_sasl(client, oauth_error, error_ack);
}

asio::awaitable<Reply> cram_md5(ImapClient& client, const Credentials& creds) {
  client.queue("AUTHENTICATE CRAM-MD5", "AUTHENTICATE CRAM-MD5", Reason::LoginTimeout);
  Response challenge = co_await client.continuation();
  if (is_tagged(challenge)) co_return tagged_only(std::move(challenge));
  const std::string decoded = imap::base64_decode(challenge.text);
  client.queue_bytes(
      imap::base64_encode(imap::cram_md5_response(creds.username, creds.secret, decoded)) + "\r\n");
  co_return co_await finish_sasl(client);
}

asio::awaitable<Reply> scram_sha256(ImapClient& client, const Credentials& creds,
                                    std::string_view nonce) {
  imap::ScramSha256Client scram(creds.username, creds.secret, std::string(nonce));
  const std::string first = imap::base64_encode(scram.client_first());
  if (auto early = co_await start_sasl(client, "SCRAM-SHA-256", first)) {
    co_return tagged_only(*early);
  }
  Response server_first = co_await client.continuation();
  if (is_tagged(server_first)) co_return tagged_only(std::move(server_first));
  client.queue_bytes(
      imap::base64_encode(scram.client_final(imap::base64_decode(server_first.text))) + "\r\n");
  Response server_final = co_await client.continuation();
  if (is_tagged(server_final)) {
    // Some servers put server-final-message in the tagged OK's text; a
    // success without a verifiable signature is not trusted.
    if (server_final.status == imap::Status::Ok) {
      fail(Reason::AuthFailed, "server completed SCRAM without sending its signature");
    }
    co_return tagged_only(std::move(server_final));
  }
  scram.verify_server_final(imap::base64_decode(server_final.text));
  client.queue_bytes("\r\n");
  co_return co_await finish_sasl(client);
}

}  // namespace

asio::awaitable<void> authenticate(ImapClient& client, Mechanism mechanism,
                                   const Credentials& creds, std::string_view scram_nonce) {
  Reply reply;
  std::string oauth_error;  // what an OAuth server said before refusing
  switch (mechanism) {
    case Mechanism::Login:
      if (client.has("LOGINDISABLED")) {
        fail(Reason::AuthMechanismUnavailable, "server advertises LOGINDISABLED");
      }
      reply = co_await login_command(client, creds);
      break;
    case Mechanism::Plain: {
      require_mechanism(client, "PLAIN");
      const std::string message = imap::sasl_plain(creds.username, creds.secret);
      reply = co_await single_message(client, "PLAIN", message);
      break;
    }
    case Mechanism::XOAuth2: {
      require_mechanism(client, "XOAUTH2");
      const std::string message = imap::xoauth2_initial(creds.username, creds.secret);
      reply = co_await single_message(client, "XOAUTH2", message, &oauth_error);
      break;
    }
    case Mechanism::OAuthBearer: {
      require_mechanism(client, "OAUTHBEARER");
      const std::string message = imap::oauthbearer_initial(creds.username, creds.secret);
      reply = co_await single_message(client, "OAUTHBEARER", message, &oauth_error,
                                      imap::base64_encode("\x01"));
      break;
    }
    case Mechanism::CramMD5:
      require_mechanism(client, "CRAM-MD5");
      reply = co_await cram_md5(client, creds);
      break;
    case Mechanism::ScramSHA256:
      require_mechanism(client, "SCRAM-SHA-256");
      reply = co_await scram_sha256(client, creds, scram_nonce);
      break;
    case Mechanism::None:
      throw std::logic_error("authenticate() called with mechanism None");
  }
  if (!reply.ok()) {
    std::string message =
        "login as " + printable(creds.username) + " failed: " + server_text(reply.tagged);
    if (!oauth_error.empty()) message += " (token refused: " + printable(oauth_error) + ")";
    fail(Reason::AuthFailed, message);
  }
}

}  // namespace imapprobe::probe
