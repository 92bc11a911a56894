// Which probes this replica runs when a location's probes are split over
// several replicas (sharding). Pure bookkeeping; the members come from
// their Leases (kube/lease_membership.hpp), read by the operator.
//
// Assignment is rendezvous (highest random weight) hashing of the probe's
// namespace/name over the live members: every replica computes the same
// owner from the same member list, and a member joining or leaving moves
// only the probes it takes or had (about 1/N of them).
//
// Handover is safe by a barrier: a probe this replica keeps (it owned the
// probe under the last view every member agreed on) runs on; a probe it
// gains waits until every member publishes that it acts on the same view
// and has nothing in flight for probes it no longer owns (`agree`). So a
// probe never runs on two replicas at once, whatever order the replicas
// see a membership change in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imapprobe::controller {

// The member among `members` that owns `key` (rendezvous hashing); empty
// when there are no members.
std::string_view rendezvous_owner(std::string_view key, const std::vector<std::string>& members);

// An order-independent fingerprint of a member list, published in each
// member's Lease so members can tell that they act on the same view.
std::uint64_t view_fingerprint(std::vector<std::string> members);

class ShardAssignment {
 public:
  // Not sharded: this replica owns every probe.
  ShardAssignment() = default;

  bool sharded() const { return sharded_; }
  const std::string& self() const { return self_; }
  const std::vector<std::string>& members() const { return members_; }
  std::uint64_t view() const { return view_; }
  bool agreed() const { return agreed_; }
  // Unsharded, or sharded with members known (not before the first round,
  // nor after losing the membership).
  bool members_known() const { return !sharded_ || !members_.empty(); }

  // A new membership (sorted or not; `self` should be among them, otherwise
  // this replica owns nothing). Not agreed until agree() says so, unless
  // unchanged.
  void set_members(std::string self, std::vector<std::string> members);
  // Every member publishes `view` and is settled: gained probes may start.
  // Ignored for any other view than the current one.
  bool agree(std::uint64_t view);

  // Under the current view.
  bool owns(std::string_view key) const;
  // Owned now, and either agreed or owned under the last agreed view too.
  bool may_start(std::string_view key) const;

 private:
  bool sharded_ = false;
  std::string self_;
  std::vector<std::string> members_;
  std::uint64_t view_ = 0;
  bool agreed_ = true;
  // The last view every member agreed on (empty: none yet, so nothing is
  // kept and every probe waits for the first agreement).
  std::vector<std::string> agreed_members_;
};

}  // namespace imapprobe::controller
