#include "imap/response.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

#include "imap/text.hpp"

namespace imapprobe::imap {
namespace {

constexpr std::size_t kExcerptMax = 60;

// Error messages end up in logs and probe results, so peer bytes are escaped
// and capped: a hostile server must not be able to inject terminal controls
// or flood a log line.
std::string excerpt(std::string_view s) { return escape_excerpt(s, kExcerptMax); }

[[noreturn]] void fail(const std::string& what) { throw ProtocolError("IMAP: " + what); }

[[noreturn]] void fail(const std::string& what, std::string_view context) {
  fail(what + ": \"" + excerpt(context) + "\"");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3501 ATOM-CHAR: CHAR except atom-specials.
bool is_atom_char(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

// RFC 3501 tag: ASTRING-CHAR except "+".
bool is_tag_char(char c) { return (is_atom_char(c) || c == ']') && c != '+'; }

std::optional<Status> status_of(std::string_view keyword) {
  if (iequals_ascii(keyword, "OK")) return Status::Ok;
  if (iequals_ascii(keyword, "NO")) return Status::No;
  if (iequals_ascii(keyword, "BAD")) return Status::Bad;
  if (iequals_ascii(keyword, "PREAUTH")) return Status::PreAuth;
  if (iequals_ascii(keyword, "BYE")) return Status::Bye;
  return std::nullopt;
}

// Finds the LF ending the line that starts at `from`. Returns npos when more
// bytes are needed. Scans at most max_line + 2 bytes, so an endless line costs
// bounded work per call and is rejected as soon as it is provably too long.
// Bytes in [from, resume) must already have passed these checks in a call on
// a shorter buffer (none of them an LF): only the rest is examined, so a line
// arriving in many pieces costs work linear in its length. `scanned` counts
// the bytes examined.
// max_line applies to each line segment between literals: payloads are bounded
// by max_literal instead, and the whole response by max_response.
//
// Line endings: CRLF is what RFC 3501 requires, but a lone LF is accepted as
// the end of a line because some servers (and proxies) send it and nothing
// else can be meant by it. A CR not followed by LF is rejected: it has no
// meaning in the grammar and is a classic response-splitting vector.
std::size_t find_line_end(std::string_view buf, std::size_t from, std::size_t resume,
                          const Limits& limits, std::size_t& scanned) {
  const std::size_t avail = buf.size() - from;
  const std::size_t stop =
      from + (limits.max_line < avail ? std::min(avail, limits.max_line + 2) : avail);
  for (std::size_t i = resume; i < stop; ++i) {
    const char c = buf[i];
    if (c == '\n') {
      scanned += i + 1 - resume;
      const std::size_t len = i - from - ((i > from && buf[i - 1] == '\r') ? 1 : 0);
      if (len > limits.max_line) {
        fail("line exceeds " + std::to_string(limits.max_line) + " bytes");
      }
      return i;
    }
    if (c == '\0') fail("NUL byte in line", buf.substr(from, i - from + 1));
    if (c == '\r' && i + 1 < buf.size() && buf[i + 1] != '\n') {
      fail("CR without LF in line", buf.substr(from, i - from + 2));
    }
  }
  if (stop > resume) scanned += stop - resume;
  std::size_t pending = buf.size() - from;
  if (pending > 0 && buf.back() == '\r') --pending;
  if (pending > limits.max_line) {
    fail("line exceeds " + std::to_string(limits.max_line) + " bytes");
  }
  return std::string_view::npos;
}

// A "{n}" or "{n+}" ending a line segment, outside any quoted string.
struct LiteralMark {
  std::size_t brace = 0;  // offset of '{' in the segment
  std::uint64_t size = 0;
};

std::optional<LiteralMark> trailing_literal(std::string_view seg, std::size_t from,
                                            std::size_t& scanned) {
  // Quoted-string state decides whether a trailing "{n}" is syntax or data.
  // It only needs to be known at the end of the segment: no '"' or '\' can
  // occur between the '{' and the end, so the state there is the state at '{'.
  bool in_quote = false;
  if (seg.size() > from) scanned += seg.size() - from;
  for (std::size_t i = from; i < seg.size(); ++i) {
    const char c = seg[i];
    if (in_quote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_quote = false;
      }
    } else if (c == '"') {
      in_quote = true;
    }
  }
  if (in_quote || seg.size() <= from || seg.back() != '}') return std::nullopt;
  std::size_t end = seg.size() - 1;
  if (end > from && seg[end - 1] == '+') --end;
  std::size_t begin = end;
  while (begin > from && is_digit(seg[begin - 1])) --begin;
  if (begin == end || begin == from || seg[begin - 1] != '{') return std::nullopt;
  LiteralMark mark;
  mark.brace = begin - 1;
  constexpr std::uint64_t kSaturated = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t i = begin; i < end; ++i) {
    const std::uint64_t digit = static_cast<std::uint64_t>(seg[i] - '0');
    mark.size = mark.size > (kSaturated - digit) / 10 ? kSaturated : mark.size * 10 + digit;
  }
  return mark;
}

struct Head {
  Response::Kind kind = Response::Kind::Untagged;
  std::string_view tag;
  std::optional<std::uint32_t> number;
  std::string_view keyword;
  std::optional<Status> status;
  std::size_t rest = 0;  // offset in the line of the text after the keyword
};

// Splits off the atom at `pos`; fails when it is empty or not followed by SP
// or the end of the line.
std::string_view take_keyword(std::string_view line, std::size_t& pos) {
  const std::size_t start = pos;
  while (pos < line.size() && is_atom_char(line[pos])) ++pos;
  if (pos == start) fail("missing keyword", line);
  if (pos < line.size() && line[pos] != ' ') fail("invalid keyword", line);
  const std::string_view kw = line.substr(start, pos - start);
  if (pos < line.size()) ++pos;
  return kw;
}

Head parse_head(std::string_view line) {
  Head h;
  if (line.empty()) fail("empty line");
  if (line[0] == '+') {
    h.kind = Response::Kind::Continuation;
    // RFC 3501 wants "+ SP", yet some servers send a bare "+" or "+text";
    // nothing else can start with '+', so those are accepted.
    h.rest = (line.size() > 1 && line[1] == ' ') ? 2 : 1;
    return h;
  }
  std::size_t pos = 0;
  if (line[0] == '*') {
    if (line.size() < 2 || line[1] != ' ') fail("malformed untagged response", line);
    pos = 2;
    if (pos < line.size() && is_digit(line[pos])) {
      std::uint64_t n = 0;
      while (pos < line.size() && is_digit(line[pos])) {
        n = n * 10 + static_cast<std::uint64_t>(line[pos] - '0');
        if (n > std::numeric_limits<std::uint32_t>::max()) fail("number out of range", line);
        ++pos;
      }
      if (pos >= line.size() || line[pos] != ' ') fail("missing keyword after number", line);
      ++pos;
      h.number = static_cast<std::uint32_t>(n);
      h.keyword = take_keyword(line, pos);
    } else {
      h.keyword = take_keyword(line, pos);
      h.status = status_of(h.keyword);
    }
    h.rest = pos;
    return h;
  }
  h.kind = Response::Kind::Tagged;
  while (pos < line.size() && is_tag_char(line[pos])) ++pos;
  if (pos == 0) fail("line is not a response", line);
  if (pos == line.size()) fail("tagged response without status", line);
  if (line[pos] != ' ') fail("invalid tag", line);
  h.tag = line.substr(0, pos);
  ++pos;
  if (pos >= line.size()) fail("tagged response without status", line);
  h.keyword = take_keyword(line, pos);
  h.status = status_of(h.keyword);
  // RFC 3501 only allows OK/NO/BAD here; a tagged PREAUTH or BYE is accepted
  // because the caller's reaction (fail the command) is the same either way.
  if (!h.status) fail("tagged response without status", line);
  h.rest = pos;
  return h;
}

// resp-text = ["[" resp-text-code "]" SP] text
void parse_resp_text(std::string_view rest, Response& r) {
  if (rest.empty() || rest[0] != '[') {
    r.text = rest;
    return;
  }
  const std::size_t close = rest.find(']');
  if (close == std::string_view::npos) fail("unterminated response code", rest);
  const std::string_view inner = rest.substr(1, close - 1);
  const std::size_t sp = inner.find(' ');
  const std::string_view atom = inner.substr(0, sp);
  if (atom.empty() || !std::all_of(atom.begin(), atom.end(), is_atom_char)) {
    fail("invalid response code", rest);
  }
  r.code = to_upper_ascii(atom);
  if (sp != std::string_view::npos) r.code_args = inner.substr(sp + 1);
  std::string_view text = rest.substr(close + 1);
  if (!text.empty() && text[0] == ' ') text.remove_prefix(1);
  r.text = text;
}

// A line segment: the first line of a response, or the line text following a
// literal payload. `lit_size` is set when the segment ends in a literal
// announcement, whose payload follows the segment's line end.
struct Segment {
  std::size_t text_begin = 0;  // absolute offsets in the buffer
  std::size_t text_end = 0;    // '{' of the announcement, or end of line text
  std::optional<std::uint64_t> lit_size;
  std::size_t lit_begin = 0;
};

struct Scan {
  bool complete = false;
  std::size_t consumed = 0;
  Head head;
  std::vector<Segment> segments;  // filled only when asked for
};

void check_response_size(std::size_t size, const Limits& limits) {
  if (size > limits.max_response) {
    fail("response exceeds " + std::to_string(limits.max_response) + " bytes");
  }
}

std::string_view line_text(std::string_view buf, std::size_t begin, std::size_t lf) {
  std::size_t end = lf;
  if (end > begin && buf[end - 1] == '\r') --end;
  return buf.substr(begin, end - begin);
}

// Where a scan stopped for want of bytes. Every state is one the scan passes
// through whatever follows in the buffer, so resuming from it with more bytes
// does exactly what a scan from the response's start would do: same result,
// same error. Offsets are relative to the start of the response.
struct ScanState {
  enum class Stage : std::uint8_t { Start, Line, Literal };
  Stage stage = Stage::Start;
  bool may_have_literals = false;
  std::size_t seg_start = 0;  // start of the current line segment
  std::size_t line_pos = 0;   // where find_line_end resumes in it
  std::size_t lit_end = 0;    // end of the literal payload being awaited
};

// Finds where the response at the front of `buf` ends and checks every bound,
// without copying anything, resuming from `st`. Returns the response's size
// once it is complete, 0 while more bytes are needed (with `st` saying where
// to resume). Literal payloads are skipped, not scanned, so a large pending
// literal costs O(1) per call. Segments are recorded only into `rec`, for
// building a complete response: the pending path should not allocate.
std::size_t resume_scan(std::string_view buf, const Limits& limits, ScanState& st,
                        std::size_t& scanned, Scan* rec) {
  using Stage = ScanState::Stage;
  for (;;) {
    switch (st.stage) {
      case Stage::Start: {
        if (buf.empty()) return 0;
        // Rejects the commonest garbage before a whole line has to be buffered.
        const char first = buf[0];
        if (first != '*' && first != '+' && !is_tag_char(first)) {
          fail("line is not a response", buf);
        }
        st.stage = Stage::Line;
        st.seg_start = 0;
        st.line_pos = 0;
        break;
      }
      case Stage::Literal:
        if (buf.size() < st.lit_end) return 0;
        st.stage = Stage::Line;
        st.seg_start = st.lit_end;
        st.line_pos = st.lit_end;
        break;
      case Stage::Line: {
        const std::size_t lf = find_line_end(buf, st.seg_start, st.line_pos, limits, scanned);
        if (lf == std::string_view::npos) {
          // Everything up to here passed; a final CR is re-examined once its
          // successor has arrived.
          st.line_pos = buf.size();
          if (st.line_pos > st.seg_start && buf.back() == '\r') --st.line_pos;
          check_response_size(buf.size(), limits);
          return 0;
        }
        const std::string_view text = line_text(buf, st.seg_start, lf);
        std::size_t from = 0;
        if (st.seg_start == 0) {
          const Head head = parse_head(text);
          // Only untagged data responses (FETCH, LIST, ...) may carry
          // literals; the free text of status responses and continuations
          // may legitimately end in "{5}" and must not make us swallow the
          // next response.
          st.may_have_literals = head.kind == Response::Kind::Untagged && !head.status.has_value();
          from = head.rest;
          if (rec) rec->head = head;
        }
        Segment seg;
        seg.text_begin = st.seg_start + from;
        seg.text_end = st.seg_start + text.size();
        if (st.may_have_literals) {
          if (const auto mark = trailing_literal(text, from, scanned)) {
            if (mark->size > limits.max_literal) {
              fail("literal of " + std::to_string(mark->size) + " bytes exceeds " +
                   std::to_string(limits.max_literal));
            }
            seg.text_end = st.seg_start + mark->brace;
            seg.lit_size = mark->size;
            seg.lit_begin = lf + 1;
          }
        }
        if (rec) rec->segments.push_back(seg);
        if (!seg.lit_size) {
          const std::size_t consumed = lf + 1;
          check_response_size(consumed, limits);
          return consumed;
        }
        // The announcement alone tells whether the response will fit: fail
        // now rather than after buffering the payload.
        const auto lit_size = static_cast<std::size_t>(*seg.lit_size);
        if (seg.lit_begin > limits.max_response || lit_size > limits.max_response - seg.lit_begin) {
          fail("literal of " + std::to_string(lit_size) + " bytes makes response exceed " +
               std::to_string(limits.max_response) + " bytes");
        }
        st.stage = Stage::Literal;
        st.lit_end = seg.lit_begin + lit_size;
        break;
      }
    }
  }
}

// The whole scan of the response at the front of `buf`, from its start.
Scan scan_response(std::string_view buf, const Limits& limits, bool record_segments,
                   std::size_t& scanned) {
  Scan scan;
  ScanState st;
  scan.consumed = resume_scan(buf, limits, st, scanned, record_segments ? &scan : nullptr);
  scan.complete = scan.consumed != 0;
  return scan;
}

Response build_response(std::string_view buf, const Scan& scan) {
  Response r;
  const Head& h = scan.head;
  r.kind = h.kind;
  r.tag = h.tag;
  r.number = h.number;
  r.keyword = to_upper_ascii(h.keyword);
  r.status = h.status.value_or(Status::None);
  r.wire_bytes = scan.consumed;
  if (h.status) {
    const Segment& s = scan.segments.front();
    parse_resp_text(buf.substr(s.text_begin, s.text_end - s.text_begin), r);
    return r;
  }
  for (const Segment& s : scan.segments) {
    r.text.append(buf.substr(s.text_begin, s.text_end - s.text_begin));
    if (s.lit_size) {
      // "{n+}" is normalized to "{n}": the placeholder only marks a position.
      r.text += "{" + std::to_string(*s.lit_size) + "}";
      r.literals.emplace_back(buf.substr(s.lit_begin, static_cast<std::size_t>(*s.lit_size)));
    }
  }
  return r;
}

}  // namespace

ParseStep parse_response(std::string_view buf, const Limits& limits) {
  std::size_t scanned = 0;
  if (!scan_response(buf, limits, false, scanned).complete) return {};
  const Scan scan = scan_response(buf, limits, true, scanned);
  ParseStep step;
  step.response = build_response(buf, scan);
  step.consumed = scan.consumed;
  return step;
}

ResponseReader::ResponseReader(Limits limits) : limits_(limits) {}

void ResponseReader::feed(std::string_view bytes) {
  // Checked before appending so that the session bound also bounds memory.
  if (bytes.size() > limits_.max_total - std::min(total_, limits_.max_total)) {
    fail("session exceeds " + std::to_string(limits_.max_total) + " bytes");
  }
  total_ += bytes.size();
  compact();
  buf_.bytes.append(bytes);
  // Validate up to the pending (incomplete) response so that its bounds are
  // enforced now, even if the caller does not call next() in between.
  advance();
}

void ResponseReader::advance() {
  // Each byte is scanned once here: complete responses are not revisited
  // until next() builds them, and the pending one resumes where it stopped.
  // The progress is stored only when the scan pauses, so after a throw it
  // still names a state from which the same error is found again.
  for (;;) {
    ScanState st;
    st.stage = static_cast<ScanState::Stage>(progress_.stage);
    st.may_have_literals = progress_.may_have_literals;
    st.seg_start = progress_.seg_start;
    st.line_pos = progress_.line_pos;
    st.lit_end = progress_.lit_end;
    const std::string_view pending = std::string_view(buf_.bytes).substr(ready_end_);
    const std::size_t consumed = resume_scan(pending, limits_, st, scanned_, nullptr);
    if (consumed == 0) {
      progress_.stage = static_cast<std::uint8_t>(st.stage);
      progress_.may_have_literals = st.may_have_literals;
      progress_.seg_start = st.seg_start;
      progress_.line_pos = st.line_pos;
      progress_.lit_end = st.lit_end;
      return;
    }
    ready_end_ += consumed;
    progress_ = Progress{};
  }
}

void ResponseReader::compact() {
  const std::size_t keep = buf_.bytes.size() - buf_.start;
  if (buf_.start == 0 || buf_.start < keep) return;
  buf_.bytes.erase(0, buf_.start);
  scanned_ += keep;
  ready_end_ -= buf_.start;
  buf_.start = 0;
}

std::optional<Response> ResponseReader::next() {
  if (buf_.start == ready_end_) {
    // Nothing complete. Normally a no-op; after a feed() that threw, this
    // throws the same error again, as rescanning the buffer would.
    advance();
    if (buf_.start == ready_end_) return std::nullopt;
  }
  const std::string_view rest = std::string_view(buf_.bytes).substr(buf_.start);
  const Scan scan = scan_response(rest, limits_, true, scanned_);
  Response response = build_response(rest, scan);
  buf_.start += scan.consumed;
  if (buf_.start == buf_.bytes.size()) {
    // All returned: empty the buffer without moving anything.
    buf_.bytes.clear();
    buf_.start = 0;
    ready_end_ = 0;
  }
  return response;
}

void ResponseReader::discard_buffered() {
  buf_.bytes.clear();
  buf_.start = 0;
  ready_end_ = 0;
  progress_ = Progress{};
}

}  // namespace imapprobe::imap
