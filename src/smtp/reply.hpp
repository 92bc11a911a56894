// SMTP replies (RFC 5321 4.2) as they come off the wire: a three-digit
// code, the RFC 3463 enhanced status code when the server sends one
// (RFC 2034), and the text lines. The reader is bounded, so a server that
// streams garbage ends in an error instead of unbounded memory.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace imapprobe::smtp {

struct Reply {
  int code = 0;                    // 100..599
  std::string enhanced;            // "5.1.1", empty when the server sent none
  std::vector<std::string> lines;  // the text after "NNN-" / "NNN " (and the enhanced code)

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  // "550 5.1.1 <x@example.com>: Recipient address rejected": the code, the
  // enhanced code and the text, lines joined with "; ".
  std::string summary() const;
};

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReplyLimits {
  std::size_t max_line = 4096;  // RFC 5321 asks for 512; servers send more
  std::size_t max_lines = 256;  // EHLO replies run to a few dozen
};

// Feeds bytes in, takes whole replies out. Lines end in CRLF; a bare LF is
// accepted (some servers send it), anything else malformed throws
// ProtocolError quoting the offending line.
class ReplyReader {
 public:
  explicit ReplyReader(ReplyLimits limits = {}) : limits_(limits) {}
  void feed(std::string_view bytes);
  std::optional<Reply> next();
  // Bytes received and not yet part of a reply (for "the server sent X").
  std::string_view pending() const { return buffer_; }

 private:
  ReplyLimits limits_;
  std::string buffer_;
  std::size_t scanned_ = 0;
  Reply partial_;
};

// Parses one reply that is complete in `text` (tests, and servers' 250
// DATA replies quoted in messages).
Reply parse_reply(std::string_view text);

// Postfix, Exim, Sendmail and Exchange name the queue id in the reply to
// the end of DATA ("250 2.0.0 Ok: queued as 4C2B1E0A3F", "250 OK
// id=1qAbCd-0001", "queued as ..."). Empty when none is recognised.
std::string queue_id(const Reply& data_reply);

// Dot-stuffs a message for DATA (RFC 5321 4.5.2) and ends it with the
// terminating ".": every line in CRLF, a leading "." doubled.
std::string data_payload(std::string_view message);

// The EHLO keywords, upper-cased, each with its parameters ("AUTH PLAIN LOGIN").
std::vector<std::string> extensions(const Reply& ehlo_reply);
// The parameters of one extension ("PLAIN LOGIN" for AUTH), nullopt when
// the server does not offer it.
std::optional<std::string> extension(const std::vector<std::string>& exts, std::string_view name);

}  // namespace imapprobe::smtp
