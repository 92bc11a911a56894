// How the parts of a session end it with a verdict: a StepFailure carries
// the reason and the message a user reads; the session script catches it
// once and records it against the step that was running.
#pragma once

#include <string>

#include "imap/response.hpp"
#include "imap/text.hpp"
#include "probe/result.hpp"

namespace imapprobe::probe {

struct StepFailure {
  Reason reason;
  std::string message;
};

[[noreturn]] inline void fail(Reason reason, std::string message) {
  throw StepFailure{reason, std::move(message)};
}

// Server text made safe for messages, status and events.
inline std::string printable(std::string_view text) { return imap::escape_excerpt(text, 200); }

// "[CODE args] text" of a response, made printable.
inline std::string server_text(const imap::Response& r) {
  std::string out;
  if (!r.code.empty()) out = "[" + r.code + (r.code_args.empty() ? "" : " " + r.code_args) + "] ";
  out += r.text;
  return printable(out);
}

}  // namespace imapprobe::probe
