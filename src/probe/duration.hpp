// Go-style durations ("300ms", "1m30s", "2h"), the grammar Kubernetes users
// write in manifests and flags.
#pragma once

#include <chrono>
#include <span>
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

// A measured duration for people, to three significant digits: "250us",
// "1.60ms", "12.1ms", "3.03s" (still valid Go durations). Never truncated,
// so a 1.6ms login does not read as 1ms.
std::string format_measured(Duration took);

// The same, printed next to `limit` (spelled by format_duration): when `took`
// exceeds the limit, as many more digits as it takes to read as more than
// it ("1.0004ms" against "1ms", not "1.00ms").
std::string format_measured(Duration took, Duration limit);

// Seconds with millisecond precision, for status and perfdata ("0.412").
std::string format_seconds(Duration d);

// A configured limit in seconds, exactly: at least three decimals, more only
// where the limit has them ("1.000", "0.00025"). A 250us threshold must not
// reach perfdata as 0.000.
std::string format_limit_seconds(Duration limit);

// A measured duration in seconds, printed next to `limits` spelled by
// format_limit_seconds (perfdata): three decimals, or as many more as it
// takes to land on the same side of every limit as the exact value
// ("0.0010004" against "0.001", where three decimals would print it equal).
std::string format_seconds(Duration took, std::span<const Duration> limits);

}  // namespace imapprobe::probe
