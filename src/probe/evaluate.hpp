// Turns a completed session into a verdict: thresholds per step and for the
// total, and the certificate's remaining lifetime.
#pragma once

#include "probe/result.hpp"
#include "probe/spec.hpp"

namespace imapprobe::probe {

// Adjusts outcome/reason/warnings of `result` in place. A run that already
// failed keeps its reason; a passing run may become Degraded or Failure.
void evaluate(const ProbeSpec& spec, ProbeResult& result);

}  // namespace imapprobe::probe
