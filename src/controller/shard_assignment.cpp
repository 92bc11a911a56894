#include "controller/shard_assignment.hpp"

#include <algorithm>

namespace imapprobe::controller {
namespace {

// FNV-1a, then a SplitMix64 finaliser: FNV alone mixes the last bytes of
// similar keys ("probe-1", "probe-2") too little for a fair split.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t weight(std::string_view member, std::string_view key) {
  // A separator no Kubernetes name contains, so ("ab","c") != ("a","bc").
  return mix(fnv1a(key, fnv1a("\n", fnv1a(member))));
}

}  // namespace

std::string_view rendezvous_owner(std::string_view key, const std::vector<std::string>& members) {
  std::string_view best;
  std::uint64_t best_weight = 0;
  for (const auto& m : members) {
    const std::uint64_t w = weight(m, key);
    // Ties (practically never) go to the smaller name, the same everywhere.
    if (best.empty() || w > best_weight || (w == best_weight && m < best)) {
      best = m;
      best_weight = w;
    }
  }
  return best;
}

std::uint64_t view_fingerprint(std::vector<std::string> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  std::uint64_t h = fnv1a("imapprobe-shard-view");
  for (const auto& m : members) h = mix(fnv1a(m, h) ^ members.size());
  return h;
}

void ShardAssignment::set_members(std::string self, std::vector<std::string> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  const std::uint64_t view = view_fingerprint(members);
  if (sharded_ && self == self_ && view == view_ && members == members_) return;
  sharded_ = true;
  self_ = std::move(self);
  members_ = std::move(members);
  view_ = view;
  agreed_ = false;
}

bool ShardAssignment::agree(std::uint64_t view) {
  if (!sharded_ || view != view_ || agreed_) return false;
  agreed_ = true;
  agreed_members_ = members_;
  return true;
}

bool ShardAssignment::owns(std::string_view key) const {
  return !sharded_ || rendezvous_owner(key, members_) == self_;
}

bool ShardAssignment::may_start(std::string_view key) const {
  if (!sharded_) return true;
  if (!owns(key)) return false;
  return agreed_ || rendezvous_owner(key, agreed_members_) == self_;
}

}  // namespace imapprobe::controller
