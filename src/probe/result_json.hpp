// JSON form of a probe result: the CLI's --output json and the shape the
// controller copies into status.lastRun (camelCase, durations in seconds).
#pragma once

#include <nlohmann/json.hpp>

#include "probe/result.hpp"

namespace imapprobe::probe {

nlohmann::json to_json(const ProbeResult& result);
nlohmann::json to_json(const CertificateInfo& cert);

}  // namespace imapprobe::probe
