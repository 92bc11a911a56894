#include "imap/command.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace imapprobe::imap {

std::string quote(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      throw std::invalid_argument("IMAP quoted string cannot carry CR, LF or NUL");
    }
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

Argument encode_string(std::string_view value, bool literal_plus) {
  // Control characters and 8-bit bytes go as literals: RFC 3501 quoted
  // strings are 7-bit, and a literal is never misread by any server.
  const bool quotable = std::all_of(value.begin(), value.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f;
  });
  Argument arg;
  if (quotable) {
    arg.head = quote(value);
    return arg;
  }
  arg.head = "{" + std::to_string(value.size()) + (literal_plus ? "+" : "") + "}\r\n";
  arg.literal = value;
  arg.needs_continuation = !literal_plus;
  return arg;
}

std::string TagGenerator::next() {
  char buf[16];
  ++counter_;
  std::snprintf(buf, sizeof buf, "A%04u", counter_);
  return buf;
}

}  // namespace imapprobe::imap
