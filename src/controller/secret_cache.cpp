#include "controller/secret_cache.hpp"

#include <openssl/crypto.h>

namespace imapprobe::controller {
namespace {

// Secret bytes leave memory wiped, not merely freed.
void wipe(SecretCache::Data& data) {
  for (auto& [k, v] : data) OPENSSL_cleanse(v.data(), v.size());
}

}  // namespace

bool SecretCache::covered_locked(const std::string& key) const {
  for (const auto& prefix : synced_prefixes_) {
    if (key.starts_with(prefix)) return true;
  }
  return false;
}

std::optional<SecretCache::Data> SecretCache::find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !covered_locked(key)) return std::nullopt;
  auto seen = seen_.find(key);
  if (seen == seen_.end() || seen->second != it->second.resource_version) return std::nullopt;
  return it->second.data;
}

void SecretCache::store(const std::string& key, const std::string& resource_version, Data data) {
  std::lock_guard lock(mu_);
  auto seen = seen_.find(key);
  if (resource_version.empty() || !covered_locked(key) || seen == seen_.end() ||
      seen->second != resource_version) {
    wipe(data);
    return;
  }
  auto& e = entries_[key];
  wipe(e.data);
  e = Entry{resource_version, std::move(data)};
}

void SecretCache::observe(const std::string& key, const std::string& resource_version) {
  std::lock_guard lock(mu_);
  seen_[key] = resource_version;
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.resource_version != resource_version) {
    wipe(it->second.data);
    entries_.erase(it);
  }
}

void SecretCache::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  seen_.erase(key);
  if (auto it = entries_.find(key); it != entries_.end()) {
    wipe(it->second.data);
    entries_.erase(it);
  }
}

void SecretCache::listed(const std::string& prefix, const std::vector<std::string>& keys) {
  std::lock_guard lock(mu_);
  const std::set<std::string> present(keys.begin(), keys.end());
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = it->first.starts_with(prefix) && !present.contains(it->first) ? seen_.erase(it)
                                                                       : std::next(it);
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto seen = seen_.find(it->first);
    if (it->first.starts_with(prefix) &&
        (seen == seen_.end() || seen->second != it->second.resource_version)) {
      wipe(it->second.data);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  synced_prefixes_.insert(prefix);
}

std::size_t SecretCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace imapprobe::controller
