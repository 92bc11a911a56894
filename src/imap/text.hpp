// Server text made safe to show (in error messages, status, events and
// logs), and compared the way IMAP compares its atoms.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace imapprobe::imap {

// Printable ASCII kept, anything else (and '\') as \xNN, cut at `max` bytes
// with "..." so a hostile server can neither inject control characters nor
// flood a message.
std::string escape_excerpt(std::string_view s, std::size_t max = 60);

// IMAP keywords, capabilities and response codes are case-insensitive ASCII.
std::string to_upper_ascii(std::string_view s);
bool iequals_ascii(std::string_view a, std::string_view b);

}  // namespace imapprobe::imap
