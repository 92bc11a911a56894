// How a part of a session times its steps inside the session script.
#pragma once

#include <optional>

#include "net/transport.hpp"
#include "probe/duration.hpp"
#include "probe/result.hpp"

namespace imapprobe::probe {

class StepRunner {
 public:
  virtual ~StepRunner() = default;
  // Starts timing `step`, with the session's step timeout or `limit`
  // (always capped by the run's deadline), and returns that deadline.
  virtual net::Clock::time_point begin(Step step, std::optional<Duration> limit = {}) = 0;
  virtual void end() = 0;
};

}  // namespace imapprobe::probe
