// Server text made safe to put in a message: the module's own copy of the
// rule imap/text.hpp applies (this library does not depend on imap).
// Internal to src/oauth; not part of its API.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace imapprobe::oauth::detail {

// Printable ASCII kept; CR, LF and TAB runs as one space (error
// descriptions are multi-line, Microsoft's end in "\r\nTrace ID: ...");
// anything else and '\' as \xNN. The result is at most `max` characters,
// the last three "..." when it was cut, so a hostile server can neither
// forge log lines nor flood a status message.
std::string printable(std::string_view s, std::size_t max);

}  // namespace imapprobe::oauth::detail
