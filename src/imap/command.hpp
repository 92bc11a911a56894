// Building IMAP commands: tags, quoting and literals.
#pragma once

#include <string>
#include <string_view>

namespace imapprobe::imap {

// An IMAP string argument as the wire wants it: a quoted string when it is
// 7-bit without CR/LF, else a non-synchronizing literal "{n+}\r\n..." when
// `literal_plus` is true, else a synchronizing literal "{n}\r\n...".
// Callers that may get a synchronizing literal must wait for "+" before
// sending the rest; `needs_continuation` tells them where.
struct Argument {
  std::string head;     // text up to and including "{n}\r\n", or the whole quoted string
  std::string literal;  // literal payload (empty for quoted strings)
  bool needs_continuation = false;
};
Argument encode_string(std::string_view value, bool literal_plus);

// Quoted string with '\' and '"' escaped; throws std::invalid_argument for
// CR, LF or NUL, which a quoted string cannot carry.
std::string quote(std::string_view value);

// Produces "A0001", "A0002", ... unique within one session.
class TagGenerator {
 public:
  std::string next();

 private:
  unsigned counter_ = 0;
};

}  // namespace imapprobe::imap
