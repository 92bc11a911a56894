// RFC 7523 client authentication with a certificate's private key: the
// signed JWT a client sends instead of a secret ("private_key_jwt"), in the
// shape Microsoft Entra ID and ORY Hydra accept. Key material stays in the
// caller's strings and OpenSSL's objects; no message quotes it.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace imapprobe::oauth {

class ClientCertificateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Header {"alg":"RS256" (RSA key, at least 2048 bits) or "ES256" (P-256
// key),"typ":"JWT","x5t":<base64url SHA-1 of the certificate DER>,
// "x5t#S256":<base64url SHA-256 of the DER>,"kid":<kid, or the x5t#S256
// value when kid is empty>}; claims aud=token_url, iss=sub=client_id,
// jti=random 128-bit hex, iat=nbf=now, exp=now+300 s. ES256 signatures are
// JOSE raw r||s (64 bytes), not DER. Throws ClientCertificateError with
// check_client_certificate's message, std::invalid_argument for an empty
// client_id or token_url.
std::string client_assertion(std::string_view client_id, std::string_view token_url,
                             std::string_view certificate_pem, std::string_view private_key_pem,
                             std::chrono::system_clock::time_point now, std::string_view kid = {});

// nullopt when the PEM certificate (the first one, if a chain is given) and
// the PEM private key parse and belong together; otherwise a message naming
// the problem ("certificate is not PEM", "private key does not match the
// certificate", an unsupported key type ...), never quoting key material.
// An encrypted private key is refused: there is no passphrase to ask for.
std::optional<std::string> check_client_certificate(std::string_view certificate_pem,
                                                    std::string_view private_key_pem);

// The certificate's public key as JWK JSON text, {"kty","n","e","kid","alg","use":"sig"}
// for RSA or {"kty","crv","x","y","kid","alg","use":"sig"} for P-256, for
// registering the client with an authorization server that takes a JWK
// (Hydra) rather than the certificate (Entra ID). An empty kid means the
// same default as client_assertion's. Throws ClientCertificateError.
std::string public_jwk(std::string_view certificate_pem, std::string_view kid = {});

}  // namespace imapprobe::oauth
