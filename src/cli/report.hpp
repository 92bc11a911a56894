// How `imapprobe check` prints a result: Nagios/Icinga plugin output, JSON,
// or a table for people.
#pragma once

#include <ostream>

#include "probe/result.hpp"
#include "probe/spec.hpp"

namespace imapprobe::cli {

// Nagios plugin exit codes.
enum class PluginState { Ok = 0, Warning = 1, Critical = 2, Unknown = 3 };
PluginState plugin_state(const probe::ProbeResult& result);

// "IMAP OK - ... | perfdata": one status line, perfdata for every step that
// ran (seconds, with its warn/crit) and certificate days ("N:" ranges, since
// fewer days is worse).
void write_nagios(std::ostream& out, const probe::ProbeSpec& spec, const probe::ProbeResult& r);
void write_json(std::ostream& out, const probe::ProbeSpec& spec, const probe::ProbeResult& r);
void write_text(std::ostream& out, const probe::ProbeSpec& spec, const probe::ProbeResult& r);

}  // namespace imapprobe::cli
