#include "imap/response_data.hpp"

#include <algorithm>
#include <limits>

#include "imap/response.hpp"
#include "imap/text.hpp"

namespace imapprobe::imap {
namespace {

[[noreturn]] void malformed(const std::string& what, std::string_view text) {
  throw ProtocolError("IMAP: " + what + ": \"" + escape_excerpt(text) + "\"");
}

}  // namespace

std::vector<std::string> parse_capabilities(std::string_view atoms) {
  std::vector<std::string> caps;
  std::size_t pos = 0;
  while (pos < atoms.size()) {
    while (pos < atoms.size() && (atoms[pos] == ' ' || atoms[pos] == '\t')) ++pos;
    const std::size_t start = pos;
    while (pos < atoms.size() && atoms[pos] != ' ' && atoms[pos] != '\t') ++pos;
    if (pos > start) caps.push_back(to_upper_ascii(atoms.substr(start, pos - start)));
  }
  return caps;
}

bool has_capability(const std::vector<std::string>& caps, std::string_view cap) {
  return std::any_of(caps.begin(), caps.end(),
                     [cap](const std::string& c) { return iequals_ascii(c, cap); });
}

std::vector<std::uint32_t> parse_search(std::string_view text) {
  std::vector<std::uint32_t> numbers;
  std::size_t pos = 0;
  auto skip_spaces = [&] {
    while (pos < text.size() && text[pos] == ' ') ++pos;
  };
  skip_spaces();
  // Tolerate being handed the whole "SEARCH 1 2 3" rather than its text.
  if (text.size() - pos >= 6 && iequals_ascii(text.substr(pos, 6), "SEARCH") &&
      (text.size() - pos == 6 || text[pos + 6] == ' ')) {
    pos += 6;
  }
  for (;;) {
    skip_spaces();
    if (pos >= text.size() || text[pos] == '(') break;  // "(MODSEQ n)" from CONDSTORE
    std::uint64_t n = 0;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      n = n * 10 + static_cast<std::uint64_t>(text[pos] - '0');
      if (n > std::numeric_limits<std::uint32_t>::max())
        malformed("SEARCH number out of range", text);
      ++pos;
    }
    if (pos == start || (pos < text.size() && text[pos] != ' ')) {
      malformed("malformed SEARCH response", text);
    }
    numbers.push_back(static_cast<std::uint32_t>(n));
  }
  return numbers;
}

}  // namespace imapprobe::imap
