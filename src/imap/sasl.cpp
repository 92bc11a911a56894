#include "imap/sasl.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "encoding/base64.hpp"
#include "imap/text.hpp"

namespace imapprobe::imap {
namespace {

constexpr std::size_t kShaLen = 32;  // SHA-256 output
using Digest = std::array<unsigned char, kShaLen>;

constexpr std::uint32_t kMinIterations = 4096;  // RFC 7677 minimum
// Bounds the CPU a hostile server can make a probe spend on PBKDF2.
constexpr std::uint32_t kMaxIterations = 1'000'000;

// Server-sent text quoted in errors: printable, capped, so it cannot forge
// log lines.
std::string excerpt(std::string_view s) { return escape_excerpt(s, 60); }

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Wipes key material when it goes out of scope, including on a throw.
template <typename T>
struct Cleanse {
  T& secret;
  ~Cleanse() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

Digest hmac_sha256(const unsigned char* key, std::size_t key_len, std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_len), bytes_of(data), data.size(), out.data(),
           &len) == nullptr ||
      len != out.size()) {
    throw SaslError("HMAC-SHA-256 failed");
  }
  return out;
}

Digest sha256(const Digest& in) {
  Digest out{};
  unsigned int len = 0;
  if (EVP_Digest(in.data(), in.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    throw SaslError("SHA-256 failed");
  }
  return out;
}

// RFC 5802 saslname: ',' and '=' would break the attribute syntax.
std::string saslname(std::string_view user) {
  std::string out;
  for (const char c : user) {
    if (c == '=') {
      out += "=3D";
    } else if (c == ',') {
      out += "=2C";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// RFC 5802 "printable": %x21-2B / %x2D-7E.
bool is_printable_nonce(std::string_view nonce) {
  return !nonce.empty() && std::all_of(nonce.begin(), nonce.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x21 && c <= 0x7e && c != ',';
  });
}

struct ServerFirst {
  std::string_view nonce;
  std::string_view salt_b64;
  std::string_view iterations;
};

ServerFirst parse_server_first(std::string_view msg) {
  std::optional<std::string_view> r, s, i;
  std::size_t pos = 0;
  bool first = true;
  while (pos <= msg.size()) {
    std::size_t comma = msg.find(',', pos);
    if (comma == std::string_view::npos) comma = msg.size();
    const std::string_view attr = msg.substr(pos, comma - pos);
    if (attr.size() < 2 || attr[1] != '=') {
      throw SaslError("SCRAM: malformed server-first-message: \"" + excerpt(msg) + "\"");
    }
    const std::string_view value = attr.substr(2);
    switch (attr[0]) {
      case 'm':
        // A mandatory extension we do not know must abort (RFC 5802 5.1).
        if (first) throw SaslError("SCRAM: server requires an unsupported extension");
        break;
      case 'e':
        throw SaslError("SCRAM: server error: " + excerpt(value));
      case 'r':
        if (!r) r = value;
        break;
      case 's':
        if (!s) s = value;
        break;
      case 'i':
        if (!i) i = value;
        break;
      default:
        break;  // optional extensions are ignored
    }
    first = false;
    pos = comma + 1;
  }
  if (!r || !s || !i) {
    throw SaslError("SCRAM: server-first-message lacks r=, s= or i=: \"" + excerpt(msg) + "\"");
  }
  return {*r, *s, *i};
}

std::uint32_t parse_iterations(std::string_view text) {
  if (text.empty() || text.size() > 10 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw SaslError("SCRAM: invalid iteration count: \"" + excerpt(text) + "\"");
  }
  std::uint64_t n = 0;
  for (const char c : text) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  if (n < kMinIterations || n > kMaxIterations) {
    throw SaslError("SCRAM: iteration count " + std::to_string(n) + " outside [" +
                    std::to_string(kMinIterations) + ", " + std::to_string(kMaxIterations) + "]");
  }
  return static_cast<std::uint32_t>(n);
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encoding::base64_encode(bytes); }

std::string base64_decode(std::string_view text) {
  try {
    return encoding::base64_decode(text, encoding::Base64Syntax::Strict);
  } catch (const encoding::Base64Error& e) {
    // Server text, never a credential: quoted to show what the server sent.
    throw SaslError(std::string(e.what()) + ": \"" + excerpt(text) + "\"");
  }
}

std::string sasl_plain(std::string_view user, std::string_view password, std::string_view authzid) {
  std::string out;
  out.reserve(authzid.size() + user.size() + password.size() + 2);
  out.append(authzid);
  out.push_back('\0');
  out.append(user);
  out.push_back('\0');
  out.append(password);
  return out;
}

std::string cram_md5_response(std::string_view user, std::string_view password,
                              std::string_view challenge) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  Cleanse<decltype(mac)> wipe{mac};
  unsigned int len = 0;
  if (HMAC(EVP_md5(), password.data(), static_cast<int>(password.size()), bytes_of(challenge),
           challenge.size(), mac.data(), &len) == nullptr) {
    throw SaslError("HMAC-MD5 unavailable (FIPS mode?)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(user);
  out.push_back(' ');
  for (unsigned int k = 0; k < len; ++k) {
    out.push_back(kHex[mac[k] >> 4]);
    out.push_back(kHex[mac[k] & 0xf]);
  }
  return out;
}

std::string xoauth2_initial(std::string_view user, std::string_view token) {
  std::string out = "user=";
  out.append(user);
  out +=
      "\x01"
      "auth=Bearer ";
  out.append(token);
  out += "\x01\x01";
  return out;
}

std::string oauthbearer_initial(std::string_view user, std::string_view token) {
  // RFC 5801 saslname: "," and "=" in the authzid are escaped.
  std::string name;
  for (char c : user) {
    if (c == ',') {
      name += "=2C";
    } else if (c == '=') {
      name += "=3D";
    } else {
      name += c;
    }
  }
  std::string out = "n,a=" + name +
                    ",\x01"
                    "auth=Bearer ";
  out.append(token);
  out += "\x01\x01";
  return out;
}

std::string oauth_error_summary(std::string_view challenge_base64) {
  std::string decoded;
  try {
    decoded = encoding::base64_decode(challenge_base64, encoding::Base64Syntax::Lenient);
  } catch (const std::exception&) {
    return {};
  }
  const auto json = nlohmann::json::parse(decoded, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return {};
  std::string out;
  for (const char* key : {"status", "schemes", "scope"}) {
    const auto it = json.find(key);
    if (it == json.end() || !it->is_string()) continue;
    if (!out.empty()) out += ", ";
    out += std::string(key) + " " + it->get<std::string>();
  }
  return out;
}

ScramSha256Client::ScramSha256Client(std::string user, std::string password, std::string nonce)
    : user_(std::move(user)), password_(std::move(password)), nonce_(std::move(nonce)) {
  if (nonce_.empty()) {
    std::array<unsigned char, 24> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
      throw SaslError("SCRAM: RAND_bytes failed");
    }
    // 24 bytes encode to 32 base64 characters without '=' or ','.
    nonce_ = base64_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  } else if (!is_printable_nonce(nonce_)) {
    throw std::invalid_argument("SCRAM nonce must be printable ASCII without ','");
  }
}

std::string ScramSha256Client::client_first() {
  // No SASLprep: credentials are used as given (UTF-8 passes through), which
  // is exact for the ASCII credentials probes use.
  client_first_bare_ = "n=" + saslname(user_) + ",r=" + nonce_;
  return "n,," + client_first_bare_;
}

std::string ScramSha256Client::client_final(std::string_view server_first) {
  if (client_first_bare_.empty()) client_first();
  const ServerFirst sf = parse_server_first(server_first);
  // The server must extend our nonce; an exact echo would let a replayed
  // exchange pass.
  if (sf.nonce.size() <= nonce_.size() || sf.nonce.substr(0, nonce_.size()) != nonce_ ||
      !is_printable_nonce(sf.nonce)) {
    throw SaslError("SCRAM: server nonce does not extend the client nonce");
  }
  const std::string salt = base64_decode(sf.salt_b64);
  if (salt.empty()) throw SaslError("SCRAM: empty salt");
  const std::uint32_t iterations = parse_iterations(sf.iterations);

  Digest salted{};
  Cleanse<Digest> wipe_salted{salted};
  if (PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()), bytes_of(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    throw SaslError("SCRAM: PBKDF2 failed");
  }
  Digest client_key = hmac_sha256(salted.data(), salted.size(), "Client Key");
  Cleanse<Digest> wipe_client_key{client_key};
  Digest stored_key = sha256(client_key);
  Cleanse<Digest> wipe_stored_key{stored_key};

  const std::string without_proof = "c=biws,r=" + std::string(sf.nonce);
  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message.append(server_first);
  auth_message += ',';
  auth_message += without_proof;

  const Digest client_signature = hmac_sha256(stored_key.data(), stored_key.size(), auth_message);
  Digest proof{};
  for (std::size_t k = 0; k < proof.size(); ++k) proof[k] = client_key[k] ^ client_signature[k];

  Digest server_key = hmac_sha256(salted.data(), salted.size(), "Server Key");
  Cleanse<Digest> wipe_server_key{server_key};
  const Digest server_signature = hmac_sha256(server_key.data(), server_key.size(), auth_message);
  expected_server_signature_.assign(reinterpret_cast<const char*>(server_signature.data()),
                                    server_signature.size());

  return without_proof + ",p=" +
         base64_encode(std::string_view(reinterpret_cast<const char*>(proof.data()), proof.size()));
}

void ScramSha256Client::verify_server_final(std::string_view server_final) const {
  if (expected_server_signature_.empty()) {
    throw SaslError("SCRAM: server-final-message before client-final-message");
  }
  const std::string_view attr = server_final.substr(0, server_final.find(','));
  if (attr.size() >= 2 && attr.substr(0, 2) == "e=") {
    throw SaslError("SCRAM: server error: " + excerpt(attr.substr(2)));
  }
  if (attr.size() < 2 || attr.substr(0, 2) != "v=") {
    throw SaslError("SCRAM: malformed server-final-message: \"" + excerpt(server_final) + "\"");
  }
  const std::string signature = base64_decode(attr.substr(2));
  if (signature.size() != expected_server_signature_.size() ||
      CRYPTO_memcmp(signature.data(), expected_server_signature_.data(), signature.size()) != 0) {
    throw SaslError("SCRAM: server signature mismatch (server does not know the password)");
  }
}

}  // namespace imapprobe::imap
