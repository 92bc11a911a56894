#include "kube/leader_election.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "encoding/time.hpp"
#include "kube/detail.hpp"

namespace imapprobe::kube {
namespace {

enum class Attempt { Held, NotHeld };

void call_handler(const char* what, const std::function<void()>& f) {
  if (!f) return;
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("leader election: {} handler failed: {}", what, e.what());
  }
}

}  // namespace

LeaderElector::LeaderElector(Client& client, Options options)
    : client_(client), options_(std::move(options)) {}

void LeaderElector::run(std::stop_token stop, const std::function<void()>& on_started,
                        const std::function<void()>& on_stopped) {
  const std::string collection =
      "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases";
  const std::string path = collection + "/" + options_.name;
  const std::string lease_label = options_.namespace_ + "/" + options_.name;
  std::mt19937_64 rng{std::random_device{}()};

  // One round of client-go's tryAcquireOrRenew: read the Lease, and write
  // it back as ours if we hold it or it has expired. Every write carries
  // the resourceVersion that was read, so a concurrent writer makes ours
  // fail with 409 instead of both succeeding.
  auto try_acquire_or_renew = [&]() -> Attempt {
    const auto now = std::chrono::system_clock::now();
    const std::string now_text = encoding::format_micro_time(now);
    const auto duration = static_cast<int>(options_.lease_duration.count());
    try {
      nlohmann::json lease;
      try {
        lease = client_.get(path);
      } catch (const ApiError& e) {
        if (!e.not_found()) throw;
        const nlohmann::json fresh = {
            {"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", options_.name}, {"namespace", options_.namespace_}}},
            {"spec",
             {{"holderIdentity", options_.identity},
              {"leaseDurationSeconds", duration},
              {"acquireTime", now_text},
              {"renewTime", now_text},
              {"leaseTransitions", 0}}}};
        try {
          client_.create(collection, fresh);
          spdlog::info("leader election: created Lease {} as {}", lease_label, options_.identity);
          return Attempt::Held;
        } catch (const ApiError& ce) {
          if (!ce.conflict()) throw;
          spdlog::debug("leader election: Lease {} was created by another candidate", lease_label);
          return Attempt::NotHeld;
        }
      }
      nlohmann::json& spec = lease["spec"];
      if (!spec.is_object()) spec = nlohmann::json::object();
      const std::string holder = spec.value("holderIdentity", std::string{});
      const bool ours = holder == options_.identity;
      if (!ours && !detail::lease_expired(spec, now)) {
        spdlog::debug("leader election: Lease {} held by {}", lease_label, holder);
        return Attempt::NotHeld;
      }
      if (!ours) {
        const int transitions = spec.value("leaseTransitions", 0);
        spec["holderIdentity"] = options_.identity;
        spec["acquireTime"] = now_text;
        spec["leaseTransitions"] = transitions + 1;
      } else if (!spec.contains("acquireTime") || spec["acquireTime"].is_null()) {
        spec["acquireTime"] = now_text;
      }
      spec["renewTime"] = now_text;
      spec["leaseDurationSeconds"] = duration;
      try {
        client_.replace(path, lease);
      } catch (const ApiError& e) {
        if (!e.conflict()) throw;
        spdlog::debug("leader election: lost the race for Lease {}", lease_label);
        return Attempt::NotHeld;
      }
      if (!ours) {
        spdlog::info("leader election: took over Lease {} from {} as {}", lease_label,
                     holder.empty() ? "(released)" : holder, options_.identity);
      }
      return Attempt::Held;
    } catch (const std::exception& e) {
      spdlog::warn("leader election: Lease {}: {}", lease_label, e.what());
      return Attempt::NotHeld;
    }
  };

  // So that a successor does not wait for the lease to expire.
  auto release = [&] {
    try {
      nlohmann::json lease = client_.get(path);
      nlohmann::json& spec = lease["spec"];
      if (!spec.is_object() || spec.value("holderIdentity", std::string{}) != options_.identity) {
        return;
      }
      const std::string now_text = encoding::format_micro_time(std::chrono::system_clock::now());
      spec["holderIdentity"] = "";
      spec["leaseDurationSeconds"] = 1;
      spec["acquireTime"] = now_text;
      spec["renewTime"] = now_text;
      client_.replace(path, lease);
      spdlog::info("leader election: released Lease {}", lease_label);
    } catch (const std::exception& e) {
      spdlog::warn("leader election: releasing Lease {} failed: {}", lease_label, e.what());
    }
  };

  // client-go jitters the retry too, so that candidates do not move in lockstep.
  auto jittered_retry = [&] {
    const auto base = std::chrono::duration_cast<std::chrono::milliseconds>(options_.retry_period);
    std::uniform_int_distribution<long long> extra(0, base.count() / 2);
    return base + std::chrono::milliseconds(extra(rng));
  };

  while (!stop.stop_requested()) {
    while (try_acquire_or_renew() != Attempt::Held) {
      if (!detail::sleep_for(stop, jittered_retry())) return;
    }
    if (stop.stop_requested()) {
      release();
      return;
    }
    leader_ = true;
    spdlog::info("leader election: {} is now the leader (Lease {})", options_.identity,
                 lease_label);
    call_handler("started", on_started);

    auto last_renewed = std::chrono::steady_clock::now();
    while (detail::sleep_for(
        stop, std::chrono::duration_cast<std::chrono::milliseconds>(options_.retry_period))) {
      if (try_acquire_or_renew() == Attempt::Held) {
        last_renewed = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_renewed >= options_.renew_deadline) {
        break;
      }
    }
    if (stop.stop_requested()) {
      release();
      leader_ = false;
      call_handler("stopped", on_stopped);
      return;
    }
    leader_ = false;
    spdlog::warn("leader election: {} lost Lease {} (not renewed for {} s)", options_.identity,
                 lease_label, options_.renew_deadline.count());
    call_handler("stopped", on_stopped);
  }
}

}  // namespace imapprobe::kube
