// The IMAP response model and a bounded, incremental response parser.
// Pure over bytes: no sockets here, so the parser is unit-tested on RFC
// examples and fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace imapprobe::imap {

// A server that breaks the grammar or a bound. The probe maps it to the
// ProtocolError reason; it never means "retry".
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bounds that keep memory finite whatever the peer sends.
struct Limits {
  std::size_t max_line = 64 * 1024;            // one line, without literals
  std::size_t max_literal = 1024 * 1024;       // one {n} literal
  std::size_t max_response = 4 * 1024 * 1024;  // one response with literals
  std::size_t max_total = 32 * 1024 * 1024;    // everything in one session
};

enum class Status { None, Ok, No, Bad, PreAuth, Bye };

struct Response {
  enum class Kind { Tagged, Untagged, Continuation };
  Kind kind = Kind::Untagged;
  std::string tag;                      // Tagged only
  Status status = Status::None;         // OK/NO/BAD/PREAUTH/BYE responses
  std::optional<std::uint32_t> number;  // "* 23 EXISTS" -> 23
  std::string keyword;  // upper-cased: "OK", "CAPABILITY", "EXISTS", "SEARCH", "FETCH" ...
  std::string
      code;  // upper-cased response code atom: "CAPABILITY", "ALERT", "AUTHENTICATIONFAILED" ...
  std::string code_args;  // what follows the code atom inside [...]
  std::string
      text;  // the rest of the line after keyword (and code); for Continuation, the base64/text
  std::vector<std::string> literals;  // literal payloads in the order they appear
  std::size_t wire_bytes = 0;         // bytes this response took on the wire
};

// Outcome of trying to parse one response from the front of a buffer.
struct ParseStep {
  std::optional<Response> response;  // set when a complete response was parsed
  std::size_t consumed = 0;          // bytes to drop from the buffer's front
};

// Parses one response from the front of `buf`. Returns an empty step when
// more bytes are needed. Throws ProtocolError on a grammar violation or when
// a bound in `limits` is exceeded (even before the response is complete).
ParseStep parse_response(std::string_view buf, const Limits& limits);

// Incremental wrapper: keeps unconsumed bytes, enforces the session total.
class ResponseReader {
 public:
  explicit ResponseReader(Limits limits = {});
  // Appends bytes received from the wire. Throws ProtocolError when the
  // session total or a pending response's bound is exceeded.
  void feed(std::string_view bytes);
  // The next complete response, if one is buffered.
  std::optional<Response> next();
  // Drops buffered bytes (after STARTTLS nothing sent in clear may be used).
  void discard_buffered();
  std::size_t buffered() const { return buf_.size(); }
  std::size_t total_bytes() const { return total_; }
  // Bytes the reader has examined (line and literal-announcement scans) or
  // moved (buffer compaction) so far: a machine-independent measure of its
  // work, so tests can assert that it stays linear in the bytes fed.
  std::size_t scanned_bytes() const { return scanned_; }

 private:
  // Received bytes. Those before `start` were returned by next(); they are
  // dropped lazily, once they outweigh the rest, so no byte is moved more
  // than once on average. size() is what buffered() reports.
  struct Buffer {
    std::string bytes;
    std::size_t start = 0;
    std::size_t size() const { return bytes.size() - start; }
  };
  // How far the scan of the pending (incomplete) response has safely got,
  // so that the next feed() resumes there instead of rescanning it.
  // Offsets are relative to the start of the pending response.
  struct Progress {
    std::uint8_t stage = 0;          // nothing scanned / in a line / awaiting a literal
    bool may_have_literals = false;  // known once the first line is parsed
    std::size_t seg_start = 0;       // start of the current line segment
    std::size_t line_pos = 0;        // its bytes before this hold no LF, NUL or stray CR
    std::size_t lit_end = 0;         // end of the literal payload being awaited
  };

  // Scans the pending response(s) as far as the buffered bytes allow.
  void advance();
  // Drops the bytes next() returned when they are at least half the buffer.
  void compact();

  Limits limits_;
  Buffer buf_;
  std::size_t ready_end_ = 0;  // in buf_.bytes: end of the complete responses
  Progress progress_;          // of the response starting at ready_end_
  std::size_t total_ = 0;
  std::size_t scanned_ = 0;
};

}  // namespace imapprobe::imap
