// What the first bytes from a server are, when a probe expects an IMAP
// greeting: connecting to the wrong port or with the wrong TLS mode is the
// most common set-up mistake, and naming what answered leads to the fix.
#pragma once

#include <string>
#include <string_view>

namespace imapprobe::imap {

enum class Banner {
  Incomplete,  // too few bytes to tell yet
  Imap,        // "* OK", "* PREAUTH", "* BYE"
  TlsRecord,   // a TLS handshake or alert record: the port speaks TLS
  Smtp,        // "220 ..." / "220-..." (FTP greets the same way)
  Pop3,        // "+OK" / "-ERR"
  Http,        // "HTTP/"
  Ssh,         // "SSH-"
  Binary,      // control or 8-bit bytes
  OtherText,   // printable, but none of the above
};

Banner classify_banner(std::string_view first_bytes);

// "an SMTP (or FTP) banner", "a TLS record", ... for messages.
std::string_view describe(Banner b);

// The first bytes as a message can show them: printable text quoted and
// escaped, binary as hex.
std::string excerpt_banner(std::string_view first_bytes);

}  // namespace imapprobe::imap
