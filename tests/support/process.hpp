// A child process for end-to-end tests (the operator binary), with its
// output in a log file and a bounded stop: SIGTERM, then SIGKILL.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace imapprobe::testing {

class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path,
          std::vector<std::string> extra_env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status
  // (128+signal when killed). Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(15));
  bool running();
  std::string log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// The port an operator serves /metrics on, from its log ("" before it says).
std::string logged_metrics_port(const std::string& log);

// Polls `pred` every 100 ms until it holds or `max` passes.
template <typename P>
bool eventually(P pred, std::chrono::milliseconds max) {
  const auto until = std::chrono::steady_clock::now() + max;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    struct timespec ts {
      0, 100'000'000
    };
    nanosleep(&ts, nullptr);
  }
  return pred();
}

}  // namespace imapprobe::testing
