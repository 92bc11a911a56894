// Just enough HTTP/1.1 (RFC 9112) for one POST to a token endpoint over a
// byte stream the caller owns: the engine speaks it over its own transport
// (TCP, TLS, deadlines) rather than linking an HTTP client library. One
// request per connection ("Connection: close"), so there is no keep-alive,
// pipelining or connection reuse to get wrong.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "oauth/url.hpp"

namespace imapprobe::oauth {

// One HTTP/1.1 request: request line, Host, User-Agent: imapprobe, Accept:
// application/json, Content-Type, Content-Length, Connection: close, the
// extra headers, then the body. Throws std::invalid_argument when a header
// name or value (or the content type) would break the framing (CR, LF, NUL;
// a name that is not a token), naming the header but never its value.
std::string http_post(const HttpUrl& url, std::string_view content_type, std::string_view body,
                      const std::vector<std::pair<std::string, std::string>>& headers = {});

class HttpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Incremental, bounded response reader. Handles Content-Length,
// Transfer-Encoding: chunked (with chunk extensions and trailers), and
// close-delimited bodies; skips 1xx interim responses; tolerant of bare LF
// line ends; header names case-insensitive; refuses more than max_bytes in
// total (headers + body), a status line that is not HTTP/1.x, conflicting
// Content-Length, or garbage, with an HttpError whose message quotes at most
// a short printable excerpt (non-printable bytes escaped) of what the
// server sent.
class HttpResponseReader {
 public:
  explicit HttpResponseReader(std::size_t max_bytes = 64 * 1024);

  // True once the response is complete; bytes after it are ignored.
  bool feed(std::string_view bytes);
  // The peer closed: completes a close-delimited body, else throws
  // HttpError("connection closed before the response was complete ...").
  bool finish_at_eof();

  bool complete() const { return state_ == State::Done; }
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  // First value of the header, surrounding whitespace trimmed.
  std::optional<std::string> header(std::string_view name) const;
  // Decoded (de-chunked).
  const std::string& body() const { return body_; }

 private:
  enum class State { StatusLine, Headers, Body, ChunkSize, ChunkData, ChunkEnd, Trailers, Done };
  enum class Framing { None, Length, Chunked, Close };

  bool step();
  std::optional<std::string> take_line();
  std::size_t take_body(std::size_t limit);
  void consume(std::size_t n);
  [[noreturn]] void too_large() const;
  void status_line(std::string_view line);
  void header_line(std::string_view line);
  void end_of_headers();
  void chunk_size_line(std::string_view line);

  std::size_t max_bytes_;
  std::size_t consumed_ = 0;  // bytes of the stream parsed so far, 1xx responses included
  std::string buffer_;        // received; parsed up to pos_
  std::size_t pos_ = 0;
  State state_ = State::StatusLine;
  Framing framing_ = Framing::None;
  std::size_t content_length_ = 0;
  std::size_t remaining_ = 0;  // of the Content-Length body, or of the current chunk
  int status_ = 0;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
};

}  // namespace imapprobe::oauth
