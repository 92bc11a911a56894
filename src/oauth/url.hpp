// The token endpoint's address, split into what an HTTP/1.1 request needs:
// where to connect, whether to start TLS, the Host header and the request
// target. Only what a token endpoint can sensibly be is accepted, so a typo
// in a probe's spec fails when it is read rather than on the wire.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imapprobe::oauth {

struct HttpUrl {
  bool https = true;
  std::string host;          // without brackets for IPv6 literals
  std::uint16_t port = 443;  // default 443 / 80 by scheme
  std::string target = "/";  // path + query as sent in the request line

  // The Host header value: host, [v6], plus :port when not the default.
  std::string authority() const;
  // scheme://authority/target, for messages.
  std::string to_string() const;
};

// http and https only; refuses userinfo (user:pass@), fragments, empty host,
// bad port, whitespace, control and non-ASCII bytes. Throws
// std::invalid_argument naming the problem; the message never repeats the
// userinfo or the query, which is where credentials end up when someone
// pastes them into a URL.
HttpUrl parse_http_url(std::string_view url);

}  // namespace imapprobe::oauth
