// The token step: one OAuth 2.0 token request (RFC 6749 section 4.4 or 6)
// to the token endpoint of auth.oauth2, over the same Connector as the IMAP
// session, so it is timed, bounded by the step's deadline and verified with
// the probe's trust like any other connection.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <string>

#include "oauth/token_response.hpp"
#include "probe/session.hpp"
#include "probe/spec.hpp"

namespace imapprobe::probe {

// Requests a token with `refresh_token` (RefreshToken grant) or the client
// credentials. Throws StepFailure: TokenEndpointUnavailable when there is
// no usable answer, TokenClientRejected, TokenGrantRejected or
// TokenRequestRejected with the server's error code and description. No
// message carries a secret, an assertion or a token.
boost::asio::awaitable<oauth::IssuedToken> request_token(const OAuth2Spec& spec,
                                                         const Credentials& creds,
                                                         std::string refresh_token,
                                                         Connector& connector,
                                                         net::Clock::time_point deadline);

// The reason for an OAuth error code (RFC 6749 section 5.2) and HTTP status.
Reason reason_for_token_error(std::string_view code, int http_status);

}  // namespace imapprobe::probe
