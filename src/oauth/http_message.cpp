#include "oauth/http_message.hpp"

#include <algorithm>
#include <cctype>

#include "oauth/excerpt.hpp"

namespace imapprobe::oauth {
namespace {

constexpr std::size_t kExcerpt = 60;

std::string quoted(std::string_view s) { return "\"" + detail::printable(s, kExcerpt) + "\""; }

// RFC 9110 5.6.2 tchar.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void check_field(std::string_view name, std::string_view value) {
  if (!is_token(name))
    throw std::invalid_argument("HTTP header name " + quoted(name) + " is not a token");
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    // The value may be a credential (Authorization): named, never shown.
    throw std::invalid_argument("HTTP header " + std::string(name) +
                                " has a line break or NUL in its value");
  }
}

// Comma-separated list elements, trimmed, empty ones dropped (RFC 9110 5.6.1).
std::vector<std::string_view> list_elements(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    const auto item = trim(s.substr(pos, comma - pos));
    if (!item.empty()) out.push_back(item);
    pos = comma + 1;
  }
  return out;
}

}  // namespace

std::string http_post(const HttpUrl& url, std::string_view content_type, std::string_view body,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
  check_field("Content-Type", content_type);
  for (const auto& [name, value] : headers) check_field(name, value);
  std::string out;
  out.reserve(256 + body.size());
  out += "POST " + url.target + " HTTP/1.1\r\n";
  out += "Host: " + url.authority() + "\r\n";
  out += "User-Agent: imapprobe\r\n";
  out += "Accept: application/json\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

HttpResponseReader::HttpResponseReader(std::size_t max_bytes) : max_bytes_(max_bytes) {}

bool HttpResponseReader::feed(std::string_view bytes) {
  if (complete()) return true;
  buffer_.erase(0, pos_);
  pos_ = 0;
  // Never hold more than one byte past the limit: enough to know it was
  // crossed, whatever size of chunk the transport hands over.
  const std::size_t used = consumed_ + buffer_.size();
  const std::size_t room = used <= max_bytes_ ? max_bytes_ + 1 - used : 0;
  buffer_.append(bytes.substr(0, room));
  while (step()) {
  }
  if (!complete() && consumed_ + (buffer_.size() - pos_) > max_bytes_) too_large();
  return complete();
}

bool HttpResponseReader::finish_at_eof() {
  if (complete()) return true;
  if (state_ == State::Body && framing_ == Framing::Close) {
    state_ = State::Done;
    return true;
  }
  std::string where;
  switch (state_) {
    case State::StatusLine:
      where = consumed_ == 0 && buffer_.size() == pos_
                  ? "no response received"
                  : "in the status line after " +
                        std::to_string(consumed_ + buffer_.size() - pos_) + " bytes";
      break;
    case State::Headers:
      where = "in the headers of the " + std::to_string(status_) + " response";
      break;
    case State::Body:
      where = "after " + std::to_string(body_.size()) + " of " + std::to_string(content_length_) +
              " body bytes";
      break;
    case State::Trailers:
      where = "in the trailer of the chunked body";
      break;
    default:
      where = "in the chunked body after " + std::to_string(body_.size()) + " body bytes";
      break;
  }
  throw HttpError("connection closed before the response was complete (" + where + ")");
}

std::optional<std::string> HttpResponseReader::header(std::string_view name) const {
  for (const auto& [n, v] : headers_) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

void HttpResponseReader::too_large() const {
  throw HttpError("HTTP response larger than the limit of " + std::to_string(max_bytes_) +
                  " bytes" + (status_ != 0 ? " (status " + std::to_string(status_) + ")" : ""));
}

void HttpResponseReader::consume(std::size_t n) {
  pos_ += n;
  consumed_ += n;
  if (consumed_ > max_bytes_) too_large();
}

std::optional<std::string> HttpResponseReader::take_line() {
  const auto lf = buffer_.find('\n', pos_);
  if (lf == std::string::npos) return std::nullopt;
  std::string line = buffer_.substr(pos_, lf - pos_);
  if (!line.empty() && line.back() == '\r') line.pop_back();  // a bare LF is tolerated
  consume(lf + 1 - pos_);
  return line;
}

std::size_t HttpResponseReader::take_body(std::size_t limit) {
  const std::size_t n = std::min(limit, buffer_.size() - pos_);
  body_.append(buffer_, pos_, n);
  consume(n);
  return n;
}

bool HttpResponseReader::step() {
  switch (state_) {
    case State::StatusLine: {
      // Refused on the first bytes rather than after max_bytes of a TLS
      // alert or an SMTP banner that never sends a line break.
      constexpr std::string_view kPrefix = "HTTP/1.";
      const std::string_view have = std::string_view(buffer_).substr(pos_, kPrefix.size());
      if (!kPrefix.starts_with(have)) {
        throw HttpError("not an HTTP/1.x response: " +
                        quoted(std::string_view(buffer_).substr(pos_)));
      }
      const auto line = take_line();
      if (!line) return false;
      status_line(*line);
      state_ = State::Headers;
      return true;
    }
    case State::Headers: {
      const auto line = take_line();
      if (!line) return false;
      if (line->empty()) {
        end_of_headers();
      } else {
        header_line(*line);
      }
      return true;
    }
    case State::Body:
      if (framing_ == Framing::Close) {
        take_body(buffer_.size());
        return false;
      }
      remaining_ -= take_body(remaining_);
      if (remaining_ == 0) state_ = State::Done;
      return state_ == State::Done;
    case State::ChunkSize: {
      const auto line = take_line();
      if (!line) return false;
      chunk_size_line(*line);
      return true;
    }
    case State::ChunkData:
      remaining_ -= take_body(remaining_);
      if (remaining_ > 0) return false;
      state_ = State::ChunkEnd;
      return true;
    case State::ChunkEnd: {
      const std::string_view rest = std::string_view(buffer_).substr(pos_);
      if (rest.starts_with("\n")) {
        consume(1);
      } else if (rest.starts_with("\r\n")) {
        consume(2);
      } else if (rest.empty() || rest == "\r") {
        return false;
      } else {
        throw HttpError("chunk data not followed by a line end: " + quoted(rest));
      }
      state_ = State::ChunkSize;
      return true;
    }
    case State::Trailers: {
      // Trailer fields carry nothing a token response needs: skipped.
      const auto line = take_line();
      if (!line) return false;
      if (line->empty()) state_ = State::Done;
      return true;
    }
    case State::Done:
      return false;
  }
  return false;
}

void HttpResponseReader::status_line(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]; a missing reason phrase is common enough.
  const auto bad = [&] { throw HttpError("not an HTTP/1.x status line: " + quoted(line)); };
  if (line.size() < 12 || !line.starts_with("HTTP/1.") ||
      !std::isdigit(static_cast<unsigned char>(line[7])) || line[8] != ' ') {
    bad();
  }
  const std::string_view code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      code[0] < '1' || code[0] > '5' || (line.size() > 12 && line[12] != ' ')) {
    bad();
  }
  status_ = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  reason_ = line.size() > 13 ? std::string(line.substr(13)) : std::string{};
  if (reason_.find('\r') != std::string::npos || reason_.find('\0') != std::string::npos) bad();
}

void HttpResponseReader::header_line(std::string_view line) {
  if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
    throw HttpError("malformed header line: " + quoted(line));
  }
  if (line.front() == ' ' || line.front() == '\t') {
    // obs-fold (RFC 9112 5.2): a user agent replaces it with a space.
    if (headers_.empty()) throw HttpError("malformed header line: " + quoted(line));
    auto& value = headers_.back().second;
    value += " ";
    value += trim(line);
    return;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    throw HttpError("malformed header line: " + quoted(line));
  }
  headers_.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
}

void HttpResponseReader::end_of_headers() {
  if (status_ >= 100 && status_ < 200) {
    // Interim (100 Continue, 103 Early Hints): the real response follows.
    if (status_ == 101) throw HttpError("unexpected 101 Switching Protocols");
    status_ = 0;
    reason_.clear();
    headers_.clear();
    state_ = State::StatusLine;
    return;
  }
  std::string te;
  std::vector<std::string_view> lengths;
  for (const auto& [name, value] : headers_) {
    if (iequals(name, "Transfer-Encoding")) {
      if (!te.empty()) te += ",";
      te += value;
    } else if (iequals(name, "Content-Length")) {
      const auto values = list_elements(value);
      if (values.empty()) throw HttpError("empty Content-Length");
      lengths.insert(lengths.end(), values.begin(), values.end());
    }
  }
  if (status_ == 204 || status_ == 304) {
    state_ = State::Done;
    return;
  }
  if (!te.empty()) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3); nothing is
    // smuggled on a connection that closes after this one response. We send
    // no TE header, so a coding other than chunked alone is not ours to read.
    const auto codings = list_elements(te);
    if (codings.size() != 1 || lower(codings[0]) != "chunked") {
      throw HttpError("unsupported Transfer-Encoding " + quoted(te));
    }
    framing_ = Framing::Chunked;
    state_ = State::ChunkSize;
    return;
  }
  if (!lengths.empty()) {
    for (const auto v : lengths) {
      if (v.size() > 18 ||
          !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        throw HttpError("invalid Content-Length " + quoted(v));
      }
      if (v != lengths.front()) {
        // Leading zeros aside, two lengths mean two framings: refuse (RFC 9112 6.3).
        if (std::stoull(std::string(v)) != std::stoull(std::string(lengths.front()))) {
          throw HttpError("conflicting Content-Length values " + quoted(lengths.front()) + " and " +
                          quoted(v));
        }
      }
    }
    content_length_ = std::stoull(std::string(lengths.front()));
    if (content_length_ > max_bytes_ - consumed_) too_large();
    framing_ = Framing::Length;
    remaining_ = content_length_;
    state_ = remaining_ == 0 ? State::Done : State::Body;
    return;
  }
  framing_ = Framing::Close;
  state_ = State::Body;
}

void HttpResponseReader::chunk_size_line(std::string_view line) {
  std::size_t i = 0;
  std::size_t size = 0;
  while (i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i]))) {
    if (i >= 15) throw HttpError("chunk size too large: " + quoted(line));
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
    size = size * 16 + static_cast<std::size_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    ++i;
  }
  // chunk-ext (RFC 9112 7.1.1), with the whitespace some servers put before ';'.
  const std::string_view ext = trim(line.substr(i));
  if (i == 0 || (!ext.empty() && ext.front() != ';')) {
    throw HttpError("malformed chunk size line: " + quoted(line));
  }
  if (size == 0) {
    state_ = State::Trailers;
    return;
  }
  if (size > max_bytes_ - consumed_) too_large();
  remaining_ = size;
  state_ = State::ChunkData;
}

}  // namespace imapprobe::oauth
