// `imapprobe check`: one probe from command-line flags, printed in the
// Nagios/Icinga plugin conventions (or JSON, or a table).
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "probe/result.hpp"
#include "probe/spec.hpp"

namespace imapprobe::cli {

// Reads an environment variable; injected so tests need no real environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The probe engine; injected so flag handling is testable without a server.
using ProbeRunner =
    std::function<probe::ProbeResult(const probe::ProbeSpec&, const probe::Credentials&)>;

// Runs `check` with its arguments (argv[0] is the subcommand's name).
// Returns the plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also
// for any usage error, which is explained on `err`).
int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              const EnvLookup& env, const ProbeRunner& runner);

// Checks that the spec can be sent on the wire (no CR/LF/NUL in mailbox or
// search, a host, sane timeouts). Throws std::invalid_argument.
void validate(const probe::ProbeSpec& spec);

}  // namespace imapprobe::cli
