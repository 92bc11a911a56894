// Keeps a sharded replica's membership current: every round it publishes
// what the reconciler acts on (its view and whether it has settled the
// probes it gave up) in its Lease, reads the group's live members, hands
// them to the reconciler, and tells it when every member acts on the same
// view (shard_assignment.hpp explains why gained probes wait for that).
//
// A replica that cannot renew its Lease for `renew_deadline` gives up every
// probe: its peers drop it once its Lease has not been renewed for the
// Lease duration, which is longer.
#pragma once

#include <chrono>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include "controller/reconciler.hpp"
#include "kube/lease_membership.hpp"

namespace imapprobe::controller {

inline constexpr const char* kShardViewAnnotation = "imapprobe.dev/shard-view";
inline constexpr const char* kShardSettledAnnotation = "imapprobe.dev/shard-settled";

// Whether every member publishes `view` and is settled.
bool members_agree(const std::vector<kube::LeaseMembership::Member>& members, std::uint64_t view);

class ShardCoordinator {
 public:
  struct Options {
    std::chrono::seconds renew_deadline{10};
    std::chrono::seconds retry_period{2};
  };
  ShardCoordinator(kube::LeaseMembership& membership, Reconciler& reconciler, std::string identity,
                   Options options);

  // Rounds every retry_period (jittered) until `stop`. Does not leave the
  // group: the operator calls leave() once its runs and writes are done.
  void run(std::stop_token stop);
  void leave() { membership_.leave(); }

 private:
  void round();

  kube::LeaseMembership& membership_;
  Reconciler& reconciler_;
  std::string identity_;
  Options options_;
  std::chrono::steady_clock::time_point last_renewed_;
  bool member_ = false;
};

}  // namespace imapprobe::controller
