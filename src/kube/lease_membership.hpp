// Membership of a group of replicas through Leases (coordination.k8s.io/v1):
// each member holds a Lease of its own, labelled with the group, renews it
// and publishes a few annotations on it; a round also lists the group's
// Leases and says which members are alive.
//
// Liveness follows client-go's leader election: a peer is alive while its
// renewTime keeps changing, judged by this process's own clock since it
// last saw a change (no clock of another machine is compared with ours).
// A clean leave deletes the Lease, so peers drop the member at their next
// round instead of after the Lease duration.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kube/client.hpp"

namespace imapprobe::kube {

inline constexpr const char* kShardGroupLabel = "imapprobe.dev/shard-group";

// When this process last saw a Lease's renewTime change (liveness by our
// own clock, as client-go's leader election judges it).
struct LeaseSighting {
  std::string renew_time;
  std::chrono::steady_clock::time_point changed;
};

class LeaseMembership {
 public:
  struct Options {
    std::string namespace_;
    std::string group;     // a label value: the location's name
    std::string identity;  // unique per process
    std::chrono::seconds lease_duration{15};
  };
  struct Member {
    std::string identity;
    std::map<std::string, std::string> annotations;
  };

  LeaseMembership(Client& client, Options options);

  // The name of the Lease a member holds: a DNS subdomain made from the
  // group and the identity.
  static std::string lease_name(const std::string& group, const std::string& identity);

  // Renews this member's Lease (creating it if missing) with `annotations`,
  // then lists the group: the members alive, this one included, sorted by
  // identity. Throws (ApiError, std::exception) when the API server cannot
  // be reached or refuses; a peer's malformed Lease is skipped.
  std::vector<Member> round(const std::map<std::string, std::string>& annotations);

  // Deletes this member's Lease. Never throws; failures are logged.
  void leave();

 private:
  void renew(const std::map<std::string, std::string>& annotations);

  Client& client_;
  Options options_;
  std::string collection_;
  std::string own_path_;
  std::optional<nlohmann::json> own_;          // as last written: renewed without a read
  std::map<std::string, LeaseSighting> seen_;  // by Lease name
};

// Multi-location: the locations (groups) with at least one live member,
// from every group's Leases in one namespace. Each location's replicas
// renew their own Leases (LeaseMembership), so no new server or Lease is
// needed for a hub to know which locations are alive.
class LocationDirectory {
 public:
  LocationDirectory(Client& client, std::string namespace_);
  // Lists the Leases and judges them. Throws when the API server cannot be
  // reached or refuses.
  std::set<std::string> live_locations();

 private:
  Client& client_;
  std::string collection_;
  std::map<std::string, LeaseSighting> seen_;
};

}  // namespace imapprobe::kube
