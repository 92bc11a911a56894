#include "oauth/token_response.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "oauth/excerpt.hpp"

namespace imapprobe::oauth {
namespace {

using json = nlohmann::json;

constexpr std::size_t kCodeMax = 100;
constexpr std::size_t kDescriptionMax = 300;
constexpr std::size_t kExcerpt = 80;
// Longer than any token lifetime a provider issues, short enough that
// now + expires_in cannot overflow a time_point.
constexpr std::int64_t kMaxExpiresIn = 10LL * 366 * 24 * 3600;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "HTTP 200 (application/json)": what every refusal starts from.
std::string context(int http_status, std::string_view content_type) {
  return "token endpoint answered HTTP " + std::to_string(http_status) + " (" +
         (content_type.empty() ? std::string("no Content-Type")
                               : "\"" + detail::printable(content_type, 60) + "\"") +
         ")";
}

[[noreturn]] void refuse(int http_status, std::string_view content_type, const std::string& what) {
  throw TokenResponseError(context(http_status, content_type) + ": " + what);
}

// A body that is not a JSON object may still hold a token: a form-encoded
// answer (GitHub's default), a JSON array or string. JSON is described, not
// quoted; other text is quoted only when it does not name a token.
std::string describe_non_object(const json& doc, std::string_view body) {
  if (body.empty()) return "an empty body";
  if (!doc.is_discarded()) {
    return std::string("a JSON ") + doc.type_name() + ", not a JSON object";
  }
  const std::string low = lower(body);
  if (low.find("access_token") != std::string::npos ||
      low.find("refresh_token") != std::string::npos) {
    return "a body that is not a JSON object (" + std::to_string(body.size()) +
           " bytes, not quoted: it mentions a token)";
  }
  return "a body that is not a JSON object: \"" + detail::printable(body, kExcerpt) + "\"";
}

std::optional<std::chrono::seconds> parse_expires_in(const json& v, int http_status,
                                                     std::string_view content_type) {
  std::int64_t n = 0;
  const auto bad = [&] {
    refuse(http_status, content_type,
           "expires_in " + detail::printable(v.dump(), 40) + " is not a lifetime in seconds");
  };
  if (v.is_null()) return std::nullopt;
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxExpiresIn)) bad();
    n = static_cast<std::int64_t>(v.get<std::uint64_t>());
  } else if (v.is_number_integer()) {
    n = v.get<std::int64_t>();
  } else if (v.is_number_float()) {
    // 3600.0 from some JavaScript servers: whole numbers only.
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < -1 || d > static_cast<double>(kMaxExpiresIn))
      bad();
    n = static_cast<std::int64_t>(d);
  } else if (v.is_string()) {
    // Azure AD v1 sends "3599".
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 12) bad();
    for (const char c : s) {
      if (c < '0' || c > '9') bad();
      n = n * 10 + (c - '0');
    }
  } else {
    bad();
  }
  if (n < 0 || n > kMaxExpiresIn) bad();
  return std::chrono::seconds(n);
}

std::string parse_scope(const json& v, int http_status, std::string_view content_type) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() &&
      std::all_of(v.begin(), v.end(), [](const json& s) { return s.is_string(); })) {
    // A list of scope tokens is not RFC 6749, but it is unambiguous.
    std::string out;
    for (const auto& s : v) {
      if (!out.empty()) out += ' ';
      out += s.get<std::string>();
    }
    return out;
  }
  refuse(http_status, content_type, "scope is neither a string nor a list of strings");
}

// Names only, never values: enough to tell what the server sent instead.
std::string member_names(const json& obj) {
  std::string out;
  std::size_t n = 0;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (n++ == 8) {
      out += ", ...";
      break;
    }
    if (!out.empty()) out += ", ";
    out += "\"" + detail::printable(it.key(), 32) + "\"";
  }
  return out.empty() ? "no members" : "members " + out;
}

}  // namespace

std::string TokenError::summary() const {
  std::string out = code + " (HTTP " + std::to_string(http_status) + ")";
  if (!description.empty()) out += ": " + description;
  return out;
}

std::variant<IssuedToken, TokenError> parse_token_response(int http_status,
                                                           std::string_view content_type,
                                                           std::string_view body) {
  // The content type is not trusted to decide: providers send JSON as
  // text/plain or text/html, and HTML as application/json.
  const json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    refuse(http_status, content_type, describe_non_object(doc, body));
  }
  if (const auto e = doc.find("error"); e != doc.end() && e->is_string()) {
    TokenError out;
    out.code = detail::printable(e->get_ref<const std::string&>(), kCodeMax);
    if (const auto d = doc.find("error_description"); d != doc.end() && d->is_string()) {
      out.description = detail::printable(d->get_ref<const std::string&>(), kDescriptionMax);
    }
    out.http_status = http_status;
    return out;
  }
  if (http_status < 200 || http_status > 299) {
    refuse(http_status, content_type,
           "a JSON object without an OAuth \"error\" (" + member_names(doc) + ")");
  }
  IssuedToken out;
  const auto at = doc.find("access_token");
  if (at == doc.end() || !at->is_string() || at->get_ref<const std::string&>().empty()) {
    refuse(http_status, content_type,
           std::string(at == doc.end()    ? "no access_token"
                       : !at->is_string() ? "an access_token that is not a string"
                                          : "an empty access_token") +
               " (" + member_names(doc) + ")");
  }
  out.access_token = at->get<std::string>();
  const auto tt = doc.find("token_type");
  if (tt == doc.end() || !tt->is_string()) {
    refuse(http_status, content_type, "no token_type (RFC 6749 5.1 requires \"Bearer\")");
  }
  out.token_type = tt->get<std::string>();
  if (lower(out.token_type) != "bearer") {
    // IMAP and SMTP take a bearer token only (RFC 7628); a MAC or DPoP token
    // would be refused by the mail server with a less helpful message.
    refuse(http_status, content_type,
           "token_type \"" + detail::printable(out.token_type, 40) + "\" is not Bearer");
  }
  if (const auto v = doc.find("expires_in"); v != doc.end()) {
    out.expires_in = parse_expires_in(*v, http_status, content_type);
  }
  if (const auto v = doc.find("refresh_token"); v != doc.end() && !v->is_null()) {
    if (!v->is_string()) refuse(http_status, content_type, "a refresh_token that is not a string");
    out.refresh_token = v->get<std::string>();
  }
  if (const auto v = doc.find("scope"); v != doc.end()) {
    out.scope = parse_scope(*v, http_status, content_type);
  }
  return out;
}

}  // namespace imapprobe::oauth
