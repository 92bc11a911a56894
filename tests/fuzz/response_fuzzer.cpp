// libFuzzer target for the IMAP response parser.
//
// Besides "no crash, only ProtocolError", it checks that chunking does not
// change the result: the same bytes fed whole and fed in pieces must give the
// same responses, or both fail. The first input byte picks the limits and the
// chunk pattern, so the fuzzer explores bounds and split points too. The
// chunked run sometimes leaves responses unread across feeds (as a caller
// that does not drain would), and the whole run must agree with the pure
// parse_response() applied repeatedly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imap/response.hpp"
#include "imap/response_data.hpp"

namespace {

using imapprobe::imap::Limits;
using imapprobe::imap::ProtocolError;
using imapprobe::imap::Response;
using imapprobe::imap::ResponseReader;

struct Outcome {
  std::vector<Response> responses;
  bool failed = false;
  std::size_t buffered = 0;
};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_response(const Response& r, const Limits& limits) {
  check(r.wire_bytes > 0 && r.wire_bytes <= limits.max_response);
  for (const auto& literal : r.literals) check(literal.size() <= limits.max_literal);
  // The helpers run on whatever text the parser accepted.
  (void)imapprobe::imap::parse_capabilities(r.text);
  (void)imapprobe::imap::parse_capabilities(r.code_args);
  try {
    (void)imapprobe::imap::parse_search(r.text);
  } catch (const ProtocolError&) {
  }
}

// `chunk_seed` 0 feeds everything at once and drains after it; otherwise
// chunks are random and, when `partial_drain`, so is the number of responses
// read after each feed (the rest are read at the end).
Outcome run(std::string_view input, const Limits& limits, std::uint32_t chunk_seed,
            bool partial_drain) {
  Outcome out;
  ResponseReader reader(limits);
  std::size_t drained = 0;
  try {
    std::size_t pos = 0;
    std::uint32_t state = chunk_seed;
    while (pos < input.size()) {
      std::size_t n = input.size() - pos;
      if (chunk_seed != 0) {
        state = state * 1103515245u + 12345u;
        n = std::min<std::size_t>(n, 1 + (state >> 16) % 97);
      }
      reader.feed(input.substr(pos, n));
      pos += n;
      std::uint32_t reads = ~0u;
      if (partial_drain) {
        state = state * 1103515245u + 12345u;
        reads = (state >> 16) % 3;
      }
      for (; reads > 0; --reads) {
        auto r = reader.next();
        if (!r) break;
        check_response(*r, limits);
        drained += r->wire_bytes;
        out.responses.push_back(std::move(*r));
      }
      check(reader.buffered() == pos - drained);
    }
    while (auto r = reader.next()) {
      check_response(*r, limits);
      drained += r->wire_bytes;
      out.responses.push_back(std::move(*r));
    }
  } catch (const ProtocolError&) {
    out.failed = true;
    return out;
  }
  out.buffered = reader.buffered();
  check(drained + out.buffered == input.size());
  check(reader.total_bytes() == input.size());
  return out;
}

// The pure parser, applied until it needs more bytes.
Outcome run_pure(std::string_view input, const Limits& limits) {
  Outcome out;
  if (input.size() > limits.max_total) {
    out.failed = true;
    return out;
  }
  try {
    for (;;) {
      auto step = imapprobe::imap::parse_response(input, limits);
      if (!step.response) break;
      check(step.consumed == step.response->wire_bytes);
      input.remove_prefix(step.consumed);
      out.responses.push_back(std::move(*step.response));
    }
  } catch (const ProtocolError&) {
    out.failed = true;
    return out;
  }
  out.buffered = input.size();
  return out;
}

bool same(const Response& a, const Response& b) {
  return a.kind == b.kind && a.tag == b.tag && a.status == b.status && a.number == b.number &&
         a.keyword == b.keyword && a.code == b.code && a.code_args == b.code_args &&
         a.text == b.text && a.literals == b.literals && a.wire_bytes == b.wire_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  Limits limits;
  if (control & 1) {
    // Small bounds so that short inputs reach every limit.
    limits.max_line = 64;
    limits.max_literal = 128;
    limits.max_response = 512;
    limits.max_total = 2048;
  }
  const Outcome whole = run(input, limits, 0, false);
  const Outcome chunked = run(input, limits, (control >> 2) + 1u, (control & 2) != 0);
  const Outcome pure = run_pure(input, limits);

  for (const Outcome* other : {&chunked, &pure}) {
    check(whole.failed == other->failed);
    if (whole.failed) continue;
    check(whole.responses.size() == other->responses.size());
    for (std::size_t i = 0; i < whole.responses.size(); ++i) {
      check(same(whole.responses[i], other->responses[i]));
    }
    check(whole.buffered == other->buffered);
  }
  return 0;
}
