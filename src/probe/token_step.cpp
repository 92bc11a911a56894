#include "probe/token_step.hpp"

#include <openssl/x509.h>

#include <array>
#include <chrono>

#include "oauth/client_assertion.hpp"
#include "oauth/http_message.hpp"
#include "oauth/token_request.hpp"
#include "oauth/url.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;

namespace {

struct CloseOnExit {
  net::Transport& transport;
  ~CloseOnExit() { transport.close(); }
};

[[noreturn]] void unavailable(const std::string& message) {
  fail(Reason::TokenEndpointUnavailable, message);
}

oauth::TokenRequestParams request_params(const OAuth2Spec& spec, const Credentials& creds,
                                         std::string refresh_token) {
  oauth::TokenRequestParams p;
  p.grant = spec.grant;
  p.auth = spec.client_auth;
  p.client_id = spec.client_id;
  p.scopes = spec.scopes;
  p.client_secret = creds.extra->oauth_client_secret;
  if (spec.grant == oauth::Grant::RefreshToken) {
    if (refresh_token.empty()) {
      fail(Reason::TokenRequestRejected,
           "the RefreshToken grant needs a refresh token, and none "
           "was given");
    }
    p.refresh_token = std::move(refresh_token);
  }
  if (spec.client_auth == oauth::ClientAuth::PrivateKeyJwt) {
    try {
      p.client_assertion = oauth::client_assertion(
          spec.client_id, spec.token_url, creds.extra->oauth_client_certificate_pem,
          creds.extra->oauth_client_key_pem, std::chrono::system_clock::now());
    } catch (const oauth::ClientCertificateError& e) {
      fail(
          Reason::TokenClientRejected,
          std::string("cannot sign the client assertion with the client certificate: ") + e.what());
    }
  }
  return p;
}

}  // namespace

Reason reason_for_token_error(std::string_view code, int http_status) {
  if (code == "invalid_client" || code == "unauthorized_client") {
    return Reason::TokenClientRejected;
  }
  if (code == "invalid_grant") return Reason::TokenGrantRejected;
  // Not the request's fault: the server says it cannot serve it now.
  if (code == "server_error" || code == "temporarily_unavailable" || http_status >= 500) {
    return Reason::TokenEndpointUnavailable;
  }
  return Reason::TokenRequestRejected;
}

asio::awaitable<oauth::IssuedToken> request_token(const OAuth2Spec& spec, const Credentials& creds,
                                                  std::string refresh_token, Connector& connector,
                                                  net::Clock::time_point deadline) {
  oauth::HttpUrl url;
  try {
    url = oauth::parse_http_url(spec.token_url);
  } catch (const std::invalid_argument& e) {
    fail(Reason::TokenRequestRejected, std::string("token URL: ") + e.what());
  }
  const std::string where = "token endpoint " + url.to_string();
  const oauth::FormRequest form = oauth::token_request(request_params(spec, creds, refresh_token));
  const std::string request =
      oauth::http_post(url, "application/x-www-form-urlencoded", form.body, form.headers);

  std::vector<net::Endpoint> endpoints;
  try {
    Lookup found = co_await resolve_host(url.host, url.port, IpFamily::Any, connector, deadline);
    endpoints = std::move(found.endpoints);
  } catch (const net::IoError& e) {
    unavailable("cannot resolve " + url.host + " (" + where + "): " + e.what());
  }
  if (endpoints.empty()) unavailable("no address for " + url.host + " (" + where + ")");

  Connection connection;
  try {
    connection = co_await connector.connect(std::move(endpoints), deadline);
  } catch (const net::IoError& e) {
    switch (e.kind()) {
      case net::IoFailure::TimedOut:
        unavailable("no TCP connection to " + where + " in time");
      case net::IoFailure::Refused:
        unavailable("connection to " + where + " refused");
      default:
        unavailable("cannot connect to " + where + ": " + e.what());
    }
  }
  net::Transport& transport = *connection.transport;
  CloseOnExit close{transport};
  transport.set_deadline(deadline);

  oauth::HttpResponseReader reader;
  try {
    if (url.https) {
      const net::TlsFacts facts = co_await transport.start_tls(url.host);
      if (facts.verify_error != X509_V_OK) {
        unavailable("certificate of " + where +
                    " not accepted: " + X509_verify_cert_error_string(facts.verify_error));
      }
    }
    co_await transport.write(request);
    std::array<char, 4096> buffer{};
    bool complete = false;
    while (!complete) {
      std::size_t n = 0;
      try {
        n = co_await transport.read_some(buffer);
      } catch (const net::IoError& e) {
        if (e.kind() != net::IoFailure::Closed) throw;
        complete = reader.finish_at_eof();
        break;
      }
      complete = reader.feed(std::string_view(buffer.data(), n));
    }
  } catch (const net::IoError& e) {
    if (e.kind() == net::IoFailure::TimedOut) unavailable("no answer from " + where + " in time");
    unavailable(where + ": " + e.what());
  } catch (const oauth::HttpError& e) {
    unavailable(where + " did not answer with HTTP: " + e.what());
  }

  std::variant<oauth::IssuedToken, oauth::TokenError> answer;
  try {
    answer = oauth::parse_token_response(reader.status(),
                                         reader.header("Content-Type").value_or(""), reader.body());
  } catch (const oauth::TokenResponseError& e) {
    unavailable(where + ": " + e.what());
  }
  if (auto* token = std::get_if<oauth::IssuedToken>(&answer)) co_return std::move(*token);
  const auto& error = std::get<oauth::TokenError>(answer);
  std::string message = where + " refused the " + std::string(oauth::grant_type(spec.grant)) +
                        " grant: " + error.code;
  if (!error.description.empty()) message += " (" + error.description + ")";
  message += ", HTTP " + std::to_string(error.http_status);
  fail(reason_for_token_error(error.code, error.http_status), message);
}

}  // namespace imapprobe::probe
