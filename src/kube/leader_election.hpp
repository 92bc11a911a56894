// Lease-based leader election (coordination.k8s.io/v1), compatible with
// client-go's: holderIdentity, leaseDurationSeconds, acquireTime, renewTime,
// leaseTransitions; updates use the Lease's resourceVersion (optimistic
// concurrency), so two candidates never both win.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <stop_token>
#include <string>

#include "kube/client.hpp"

namespace imapprobe::kube {

class LeaderElector {
 public:
  struct Options {
    std::string namespace_;
    std::string name;
    std::string identity;  // unique per process, e.g. pod name + random suffix
    std::chrono::seconds lease_duration{15};
    std::chrono::seconds renew_deadline{10};
    std::chrono::seconds retry_period{2};
  };

  LeaderElector(Client& client, Options options);

  // Blocks until `stop`: tries to acquire; once held calls on_started, then
  // renews every retry_period; if renewal fails for renew_deadline, calls
  // on_stopped and starts over. On stop while leading, releases the Lease
  // (holderIdentity cleared, leaseDurationSeconds 1) so a successor takes
  // over at once, then calls on_stopped.
  void run(std::stop_token stop, const std::function<void()>& on_started,
           const std::function<void()>& on_stopped);

  bool is_leader() const { return leader_; }

 private:
  Client& client_;
  Options options_;
  std::atomic<bool> leader_{false};
};

}  // namespace imapprobe::kube
