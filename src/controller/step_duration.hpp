// A step's time in 4 bytes, shared by the status model (lastRun) and the
// run metrics, so both round and saturate the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

#include "probe/duration.hpp"

namespace imapprobe::controller {

// A step's time as lastRun shows it, in whole microseconds (4 bytes): the
// status writes 0.1 ms at most, and 21 steps of 8-byte nanoseconds cost
// every probe 84 bytes more. Saturates at about 71 minutes, longer than any
// run may last (spec.timeout).
class StepDuration {
 public:
  StepDuration() = default;
  template <typename Rep, typename Period>
  StepDuration(std::chrono::duration<Rep, Period> d)
      : us_(to_micros(std::chrono::duration_cast<probe::Duration>(d))) {}
  operator probe::Duration() const { return std::chrono::microseconds(us_); }
  bool operator==(const StepDuration&) const = default;

 private:
  static std::uint32_t to_micros(probe::Duration d) {
    const auto us = std::chrono::round<std::chrono::microseconds>(d).count();
    if (us <= 0) return 0;
    return us >= std::numeric_limits<std::uint32_t>::max()
               ? std::numeric_limits<std::uint32_t>::max()
               : static_cast<std::uint32_t>(us);
  }
  std::uint32_t us_ = 0;
};

}  // namespace imapprobe::controller
