// The project's one place for timestamps as text: RFC 3339 as status fields
// carry it (whole seconds), MicroTime as Events and Leases need it, and one
// parser for both (and for whatever a person or another tool wrote).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace imapprobe::encoding {

// "2026-11-25T21:00:00Z": UTC, whole seconds (metav1.Time).
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// MicroTime as the API requires it: UTC, exactly six fractional digits,
// e.g. "2026-11-25T21:00:00.000000Z". Sub-microseconds are cut, never rounded.
std::string format_micro_time(std::chrono::system_clock::time_point t);

// RFC 3339 with or without a fraction, "Z" or a numeric offset; nullopt for
// anything else.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s);

}  // namespace imapprobe::encoding
