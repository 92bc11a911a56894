// What some responses carry, read once a response is framed and parsed
// (response.hpp): the capability list and SEARCH's message numbers. Malformed
// data throws ProtocolError.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imapprobe::imap {

// Capabilities from "* CAPABILITY ..." or "[CAPABILITY ...]", upper-cased.
std::vector<std::string> parse_capabilities(std::string_view atoms);
bool has_capability(const std::vector<std::string>& caps, std::string_view cap);
// Message numbers from the text of "* SEARCH 1 2 3" (and ESEARCH ALL is not used).
std::vector<std::uint32_t> parse_search(std::string_view text);

}  // namespace imapprobe::imap
