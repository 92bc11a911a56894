#include "kube/lease_membership.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "encoding/time.hpp"
#include "kube/detail.hpp"

namespace imapprobe::kube {

namespace {

struct Judged {
  std::string name;
  std::string holder;
  std::string group;
  std::chrono::seconds duration{0};
  LeaseSighting sighting;
};

// A Lease's holder, group and when its renewTime last changed, by our
// clock; nullopt for a Lease without holder or renewTime. Throws
// nlohmann::json::exception for a malformed one.
std::optional<Judged> judge(const nlohmann::json& item,
                            const std::map<std::string, LeaseSighting>& seen,
                            std::chrono::steady_clock::time_point now) {
  const auto& meta = item.at("metadata");
  Judged j;
  j.name = meta.at("name").get<std::string>();
  if (meta.contains("labels") && meta["labels"].is_object()) {
    j.group = meta["labels"].value(kShardGroupLabel, std::string{});
  }
  const auto& spec = item.at("spec");
  j.holder = spec.value("holderIdentity", std::string{});
  const std::string renewed = spec.value("renewTime", std::string{});
  j.duration = std::chrono::seconds(spec.value("leaseDurationSeconds", 0));
  if (j.holder.empty() || renewed.empty()) return std::nullopt;
  j.sighting = LeaseSighting{renewed, now};
  if (auto it = seen.find(j.name); it != seen.end()) {
    if (it->second.renew_time == renewed) j.sighting.changed = it->second.changed;
  } else if (const auto at = encoding::parse_rfc3339(renewed)) {
    // First sight (this replica just started): a Lease left by a
    // replica that died earlier would otherwise count as alive for a
    // whole duration, holding every handover back. Its renewTime is
    // the only hint, so here alone another clock is trusted, and never
    // to make a Lease look fresher than now.
    const auto age = std::chrono::system_clock::now() - *at;
    if (age > std::chrono::system_clock::duration::zero()) {
      j.sighting.changed =
          now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(age);
    }
  }
  return j;
}

}  // namespace

LeaseMembership::LeaseMembership(Client& client, Options options)
    : client_(client), options_(std::move(options)) {
  collection_ = "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases";
  own_path_ = collection_ + "/" + lease_name(options_.group, options_.identity);
}

std::string LeaseMembership::lease_name(const std::string& group, const std::string& identity) {
  std::string out = "imapprobe-shard-" + group + "-";
  for (char c : identity) {
    const auto u = static_cast<unsigned char>(c);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  if (out.size() > 253) out.resize(253);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

void LeaseMembership::renew(const std::map<std::string, std::string>& annotations) {
  const std::string now = encoding::format_micro_time(std::chrono::system_clock::now());
  auto fill = [&](nlohmann::json& lease) {
    auto& meta = lease["metadata"];
    meta["labels"][kShardGroupLabel] = options_.group;
    for (const auto& [k, v] : annotations) meta["annotations"][k] = v;
    auto& spec = lease["spec"];
    spec["holderIdentity"] = options_.identity;
    spec["leaseDurationSeconds"] = static_cast<int>(options_.lease_duration.count());
    spec["renewTime"] = now;
    if (!spec.contains("acquireTime")) spec["acquireTime"] = now;
  };
  if (own_) {
    fill(*own_);
    try {
      own_ = client_.replace(own_path_, *own_);
      return;
    } catch (const ApiError& e) {
      // Deleted (a peer's clean-up after a long pause) or changed by hand:
      // read it again below.
      if (!e.not_found() && !e.conflict()) throw;
      own_.reset();
    }
  }
  nlohmann::json lease;
  try {
    lease = client_.get(own_path_);
  } catch (const ApiError& e) {
    if (!e.not_found()) throw;
    lease = {{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata",
              {{"name", lease_name(options_.group, options_.identity)},
               {"namespace", options_.namespace_}}},
             {"spec", nlohmann::json::object()}};
    fill(lease);
    own_ = client_.create(collection_, lease);
    spdlog::info("shard: joined group {} as {} (Lease {})", options_.group, options_.identity,
                 lease["metadata"]["name"].get<std::string>());
    return;
  }
  fill(lease);
  own_ = client_.replace(own_path_, lease);
}

std::vector<LeaseMembership::Member> LeaseMembership::round(
    const std::map<std::string, std::string>& annotations) {
  renew(annotations);
  const nlohmann::json list =
      client_.get(collection_ + "?labelSelector=" +
                  detail::url_encode(std::string(kShardGroupLabel) + "=" + options_.group));
  const auto now = std::chrono::steady_clock::now();
  const std::string own_name = lease_name(options_.group, options_.identity);
  std::vector<Member> members;
  std::map<std::string, LeaseSighting> seen;
  for (const auto& item : list.value("items", nlohmann::json::array())) {
    try {
      const auto judged = judge(item, seen_, now);
      if (!judged) continue;
      const auto& meta = item.at("metadata");
      const std::string& name = judged->name;
      const std::string& holder = judged->holder;
      const auto duration = judged->duration;
      const LeaseSighting& s = judged->sighting;
      seen.emplace(name, s);
      const bool alive = name == own_name || now - s.changed < duration;
      if (!alive) {
        // Gone for long (a pod of an earlier rollout): removed, so that the
        // group's Leases do not pile up. Renewing again re-creates it.
        if (now - s.changed > 4 * std::max(duration, options_.lease_duration)) {
          try {
            client_.remove(collection_ + "/" + name);
            spdlog::info("shard: removed the Lease {} of {}, silent since long", name, holder);
          } catch (const std::exception& e) {
            spdlog::debug("shard: removing Lease {}: {}", name, e.what());
          }
        }
        continue;
      }
      Member m{holder, {}};
      if (meta.contains("annotations") && meta["annotations"].is_object()) {
        for (const auto& [k, v] : meta["annotations"].items()) {
          if (v.is_string()) m.annotations[k] = v.get<std::string>();
        }
      }
      members.push_back(std::move(m));
    } catch (const nlohmann::json::exception& e) {
      spdlog::warn("shard: skipping a malformed Lease in group {}: {}", options_.group, e.what());
    }
  }
  seen_ = std::move(seen);
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.identity < b.identity; });
  return members;
}

void LeaseMembership::leave() {
  try {
    client_.remove(own_path_);
    own_.reset();
    spdlog::info("shard: left group {} (Lease deleted)", options_.group);
  } catch (const std::exception& e) {
    spdlog::warn("shard: leaving group {} failed: {}", options_.group, e.what());
  }
}

LocationDirectory::LocationDirectory(Client& client, std::string namespace_)
    : client_(client),
      collection_("/apis/coordination.k8s.io/v1/namespaces/" + namespace_ + "/leases") {}

std::set<std::string> LocationDirectory::live_locations() {
  const nlohmann::json list = client_.get(
      collection_ + "?labelSelector=" + detail::url_encode(std::string(kShardGroupLabel)));
  const auto now = std::chrono::steady_clock::now();
  std::set<std::string> live;
  std::map<std::string, LeaseSighting> seen;
  for (const auto& item : list.value("items", nlohmann::json::array())) {
    try {
      const auto judged = judge(item, seen_, now);
      if (!judged || judged->group.empty()) continue;
      seen.emplace(judged->name, judged->sighting);
      if (now - judged->sighting.changed < judged->duration) live.insert(judged->group);
    } catch (const nlohmann::json::exception& e) {
      spdlog::warn("locations: skipping a malformed Lease: {}", e.what());
    }
  }
  seen_ = std::move(seen);
  return live;
}

}  // namespace imapprobe::kube
