#include "controller/shard_coordinator.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "kube/detail.hpp"

namespace imapprobe::controller {
namespace {

std::string hex(std::uint64_t v) { return fmt::format("{:016x}", v); }

}  // namespace

bool members_agree(const std::vector<kube::LeaseMembership::Member>& members, std::uint64_t view) {
  if (members.empty()) return false;
  const std::string want = hex(view);
  for (const auto& m : members) {
    const auto v = m.annotations.find(kShardViewAnnotation);
    const auto s = m.annotations.find(kShardSettledAnnotation);
    if (v == m.annotations.end() || v->second != want) return false;
    if (s == m.annotations.end() || s->second != "true") return false;
  }
  return true;
}

ShardCoordinator::ShardCoordinator(kube::LeaseMembership& membership, Reconciler& reconciler,
                                   std::string identity, Options options)
    : membership_(membership),
      reconciler_(reconciler),
      identity_(std::move(identity)),
      options_(options),
      last_renewed_(std::chrono::steady_clock::now()) {}

void ShardCoordinator::round() {
  const Reconciler::ShardProgress progress = reconciler_.shard_progress();
  std::vector<kube::LeaseMembership::Member> members;
  try {
    members = membership_.round({{kShardViewAnnotation, hex(progress.view)},
                                 {kShardSettledAnnotation, progress.settled ? "true" : "false"}});
  } catch (const std::exception& e) {
    spdlog::warn("shard: renewing the membership of {} failed: {}", identity_, e.what());
    if (member_ && std::chrono::steady_clock::now() - last_renewed_ >= options_.renew_deadline) {
      member_ = false;
      spdlog::warn("shard: {} not renewed for {} s: giving up every probe", identity_,
                   options_.renew_deadline.count());
      reconciler_.set_shard_members(identity_, {});
    }
    return;
  }
  last_renewed_ = std::chrono::steady_clock::now();
  member_ = true;
  std::vector<std::string> ids;
  ids.reserve(members.size());
  for (const auto& m : members) ids.push_back(m.identity);
  const std::uint64_t view = view_fingerprint(ids);
  reconciler_.set_shard_members(identity_, std::move(ids));
  // What the others publish is compared with what this replica published
  // in this same round: agreement needs its own settled state too.
  if (view == progress.view && !progress.agreed && members_agree(members, view)) {
    reconciler_.agree_shard_view(view);
  }
}

void ShardCoordinator::run(std::stop_token stop) {
  std::mt19937_64 rng{std::random_device{}()};
  const auto base = std::chrono::duration_cast<std::chrono::milliseconds>(options_.retry_period);
  std::uniform_int_distribution<long long> extra(0, base.count() / 4);
  while (!stop.stop_requested()) {
    round();
    if (!kube::detail::sleep_for(stop, base + std::chrono::milliseconds(extra(rng)))) return;
  }
}

}  // namespace imapprobe::controller
