// The project's one base64 codec (RFC 4648, standard alphabet). Its errors
// say what is wrong and where, never the data: the same decoder reads SASL
// challenges, kubeconfig fields and Secret data, and a Secret's bytes must
// not reach a log or a status message.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace imapprobe::encoding {

class Base64Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class Base64Syntax {
  // Padded, length a multiple of 4, nothing but the alphabet (SASL, RFC 4422).
  Strict,
  // Whitespace anywhere is skipped (wrapped kubeconfig values) and padding
  // is optional; anything else outside the alphabet is still an error.
  Lenient,
};

std::string base64_encode(std::string_view bytes);

// Throws Base64Error naming the problem and its byte offset only.
std::string base64_decode(std::string_view text, Base64Syntax syntax = Base64Syntax::Strict);

// RFC 4648 section 5, as JOSE uses it (RFC 7515 section 2): '-' and '_' in
// place of '+' and '/', and no padding, so JWT segments and JWK members
// need no escaping.
std::string base64url_encode(std::string_view bytes);

// Takes the unpadded form JOSE sends and, for tolerance, a padded one; the
// standard alphabet's '+' and '/' and whitespace are errors. Throws
// Base64Error naming the problem and its byte offset only.
std::string base64url_decode(std::string_view text);

}  // namespace imapprobe::encoding
