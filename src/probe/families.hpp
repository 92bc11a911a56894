// ipFamily Both: a server reachable over IPv4 but broken over IPv6 (or the
// reverse) is an outage that clients with happy eyeballs hide. One run
// resolves the name once and runs a session per address family, at the
// same time, and the run's verdict is the worst of them.
#pragma once

#include "probe/session.hpp"

namespace imapprobe::probe {

// Runs a session for every family `spec.host` resolves to, applies the
// thresholds to each, and combines them: ProbeResult::families holds every
// family's outcome; the rest is the worst family's, its message prefixed
// with the family. The dns step is the one lookup's.
boost::asio::awaitable<ProbeResult> run_each_family(const ProbeSpec& spec,
                                                    const Credentials& credentials,
                                                    Connector& connector, imap::Limits limits,
                                                    TokenCache* tokens = nullptr);

// The combination alone (pure): `lookup` is the dns step's duration, if any.
ProbeResult combine_families(std::vector<ProbeResult> per_family,
                             std::vector<std::string> family_names, std::optional<Duration> lookup,
                             Duration total);

}  // namespace imapprobe::probe
