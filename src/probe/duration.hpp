// Go-style durations ("300ms", "1m30s", "2h"), the grammar Kubernetes users
// write in manifests and flags.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

namespace imapprobe::probe {

using Duration = std::chrono::nanoseconds;

// Parses a non-negative Go duration: a sequence of decimal numbers, each with
// an optional fraction and a unit (ns, us, µs, ms, s, m, h). A bare "0" is
// allowed. Throws std::invalid_argument naming the offending input.
Duration parse_duration(std::string_view text);

// Shortest Go-style spelling: "1m30s", "250ms", "0s".
std::string format_duration(Duration d);

// Seconds with millisecond precision, for status and perfdata ("0.412").
std::string format_seconds(Duration d);

}  // namespace imapprobe::probe
