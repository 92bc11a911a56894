#include "oauth/url.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace imapprobe::oauth {
namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument("invalid token URL: " + what);
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::uint16_t parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    refuse("port \"" + std::string(text.substr(0, 8)) + (text.size() > 8 ? "...\"" : "\"") +
           " is not a number from 1 to 65535");
  }
  unsigned n = 0;
  for (const char c : text) n = n * 10 + static_cast<unsigned>(c - '0');
  if (n == 0 || n > 65535) refuse("port " + std::to_string(n) + " is outside 1..65535");
  return static_cast<std::uint16_t>(n);
}

}  // namespace

std::string HttpUrl::authority() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (https ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string HttpUrl::to_string() const {
  return (https ? "https://" : "http://") + authority() + target;
}

HttpUrl parse_http_url(std::string_view url) {
  if (url.empty()) refuse("empty");
  // Checked over the whole text first: these bytes would break or smuggle
  // into the request line and the Host header.
  for (std::size_t i = 0; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c == 0x7f)
      refuse("whitespace or control character at byte " + std::to_string(i));
    if (c >= 0x80) {
      refuse("non-ASCII byte at byte " + std::to_string(i) +
             " (percent-encode the path, use the punycode form of a host name)");
    }
  }
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) refuse("not an absolute http:// or https:// URL");
  const std::string scheme = lower(url.substr(0, sep));
  HttpUrl out;
  if (scheme == "https") {
    out.https = true;
    out.port = 443;
  } else if (scheme == "http") {
    out.https = false;
    out.port = 80;
  } else {
    refuse("scheme \"" + scheme.substr(0, 16) + "\" is not http or https");
  }
  if (url.find('#') != std::string_view::npos) refuse("a token URL has no fragment (#...)");

  std::string_view rest = url.substr(sep + 3);
  const auto end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  const std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    refuse(
        "credentials in the URL (user:password@) are not accepted; give them as client "
        "credentials");
  }
  if (authority.empty()) refuse("no host");

  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) refuse("IPv6 address without a closing ']'");
    const std::string_view v6 = authority.substr(1, close - 1);
    if (v6.empty() || v6.find(':') == std::string_view::npos ||
        !std::all_of(v6.begin(), v6.end(),
                     [](char c) { return is_hex(c) || c == ':' || c == '.'; })) {
      refuse("\"[" + std::string(v6.substr(0, 48)) + "]\" is not an IPv6 address");
    }
    out.host = lower(v6);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') refuse("unexpected text after the IPv6 address");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    const std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) refuse("no host");
    if (!std::all_of(host.begin(), host.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_'; })) {
      refuse("host \"" + std::string(host.substr(0, 64)) +
             "\" has a character not allowed in a host name");
    }
    out.host = lower(host);
  }
  if (has_port) out.port = parse_port(port_text);

  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = "/" + std::string(target);  // "https://h?x" asks for "/?x"
  } else {
    out.target = std::string(target);
  }
  return out;
}

}  // namespace imapprobe::oauth
