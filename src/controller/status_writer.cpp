#include "controller/status_writer.hpp"

#include <boost/asio/post.hpp>

#include "telemetry/logging.hpp"

namespace imapprobe::controller {
namespace asio = boost::asio;

namespace {
telemetry::LogFields fields(const ProbeRef& ref, std::string_view reason = {}) {
  return {.namespace_ = ref.namespace_, .name = ref.name, .reason = reason};
}
}  // namespace

struct StatusWriter::Slot {
  std::uint64_t serial = 0;  // a stale callback (forgotten slot, same key) finds another serial
  ProbeRef ref;
  std::optional<StatusBody> status;  // the latest not yet written
  std::vector<Event> events;         // recorded once a status has landed
  bool in_flight = false;            // an attempt runs or a retry is armed
  int failures = 0;
  std::unique_ptr<asio::steady_timer> retry;
};

StatusWriter::StatusWriter(asio::thread_pool& pool, ClusterApi& api, RunMetrics& metrics,
                           StatusWriterOptions options, Render render)
    : pool_(pool),
      api_(api),
      metrics_(metrics),
      options_(options),
      render_(std::move(render)),
      rng_(std::random_device{}()) {}

StatusWriter::~StatusWriter() {
  std::lock_guard lock(mu_);
  for (auto& [key, slot] : slots_) {
    if (slot->retry) slot->retry->cancel();
  }
  slots_.clear();
}

void StatusWriter::submit(const ProbeRef& probe, StatusBody status, std::vector<Event> events) {
  std::lock_guard lock(mu_);
  if (draining_) {
    telemetry::warn(fields(probe), "status submitted during shutdown not written");
    return;
  }
  auto& slot = slots_[probe.key()];
  if (!slot) {
    slot = std::make_unique<Slot>();
    slot->serial = ++next_serial_;
  }
  if (slot->ref.uid != probe.uid) {
    // Another object under this name: what was queued for the old one is moot.
    slot->events.clear();
    slot->failures = 0;
  }
  slot->ref = probe;
  slot->status = std::move(status);
  slot->events.insert(slot->events.end(), std::make_move_iterator(events.begin()),
                      std::make_move_iterator(events.end()));
  if (!slot->in_flight) start_locked(probe.key(), *slot);
}

void StatusWriter::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return;
  if (it->second->retry) it->second->retry->cancel();
  slots_.erase(it);
  released_locked();
}

void StatusWriter::remove_location_entry(const ProbeRef& probe, std::size_t index,
                                         std::string location) {
  {
    std::lock_guard lock(mu_);
    if (draining_) return;
    ++removals_in_flight_;
  }
  asio::post(pool_, [this, probe, index, location = std::move(location)] {
    try {
      api_.remove_location_entry(probe, index, location);
      telemetry::info(fields(probe), "removed the entry of location {} (gone)", location);
    } catch (const ClusterApiError& e) {
      // 422: the list changed since it was read, 404: the probe is gone.
      // The verdict writer asks again while the entry is still there.
      metrics_.status_write_failed();
      telemetry::warn(fields(probe), "cannot remove the entry of location {}: {}", location,
                      e.what());
    } catch (const std::exception& e) {
      metrics_.status_write_failed();
      telemetry::error(fields(probe), "removing the entry of location {} failed: {}", location,
                       e.what());
    }
    std::lock_guard lock(mu_);
    --removals_in_flight_;
    released_locked();
  });
}

void StatusWriter::start_locked(const std::string& key, Slot& slot) {
  slot.in_flight = true;
  asio::post(pool_, [this, key, serial = slot.serial] { attempt(key, serial); });
}

void StatusWriter::attempt(const std::string& key, std::uint64_t serial) {
  ProbeRef ref;
  StatusBody status;
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(key);
    if (it == slots_.end() || it->second->serial != serial) return;  // forgotten meanwhile
    Slot& slot = *it->second;
    slot.retry.reset();
    if (!slot.status) {
      slots_.erase(it);
      released_locked();
      return;
    }
    ref = slot.ref;
    status = std::move(*slot.status);
    slot.status.reset();
    events = std::move(slot.events);
    slot.events.clear();
  }

  enum class Result { Written, Gone, Failed } result = Result::Failed;
  std::string error;
  try {
    if (const auto* typed = std::get_if<ProbeStatus>(&status)) {
      api_.apply_status(ref, render_ ? render_(*typed) : typed->to_json());
    } else {
      api_.apply_status(ref, std::get<nlohmann::json>(status));
    }
    result = Result::Written;
  } catch (const ClusterApiError& e) {
    // 404: deleted. 409: the uid precondition failed, so this object is gone
    // too (the name now belongs to a new one, which gets its own status).
    result = e.status() == 404 || e.status() == 409 ? Result::Gone : Result::Failed;
    error = e.what();
  } catch (const std::exception& e) {
    error = std::string("unexpected error: ") + e.what();
  } catch (...) {
    error = "unexpected non-standard exception";
  }

  if (result == Result::Written) {
    metrics_.status_written();
    for (const auto& ev : events) {
      try {
        api_.emit_event(ref, ev);
        metrics_.event_recorded();
      } catch (const std::exception& e) {
        metrics_.event_failed();
        telemetry::warn(fields(ref, ev.reason), "event not recorded: {}", e.what());
      } catch (...) {
        metrics_.event_failed();
        telemetry::warn(fields(ref, ev.reason), "event not recorded: unexpected exception");
      }
    }
  } else if (result == Result::Gone) {
    telemetry::debug(fields(ref), "gone before its status was written ({})", error);
  }

  std::lock_guard lock(mu_);
  auto it = slots_.find(key);
  if (it == slots_.end() || it->second->serial != serial) {
    released_locked();
    return;
  }
  Slot& slot = *it->second;
  const bool same_object = slot.ref.uid == ref.uid;
  if (result == Result::Failed && same_object) {
    metrics_.status_write_failed();
    // Keep the newest status, and the Events in the order they happened.
    if (!slot.status) slot.status = std::move(status);
    slot.events.insert(slot.events.begin(), std::make_move_iterator(events.begin()),
                       std::make_move_iterator(events.end()));
    if (draining_) {
      telemetry::error(fields(ref), "status not written before shutdown: {}", error);
      slots_.erase(it);
      released_locked();
      return;
    }
    ++slot.failures;
    const auto cap = options_.max_backoff.count();
    const auto base = std::min<long long>(cap, options_.initial_backoff.count()
                                                   << std::min(slot.failures - 1, 20));
    // Half fixed, half jitter: many probes failing together spread out.
    std::uniform_int_distribution<long long> jitter(0, base / 2);
    const auto delay = std::chrono::milliseconds(base - base / 2 + jitter(rng_));
    telemetry::warn(fields(ref), "status write failed (attempt {}), retrying in {}ms: {}",
                    slot.failures, delay.count(), error);
    slot.retry = std::make_unique<asio::steady_timer>(pool_, delay);
    // Cancelled by drain(): then it tries once more at once.
    slot.retry->async_wait(
        [this, key, serial](const boost::system::error_code&) { attempt(key, serial); });
    return;
  }
  if (result == Result::Gone && same_object) {
    slots_.erase(it);
    released_locked();
    return;
  }
  slot.failures = 0;
  if (slot.status) {
    start_locked(key, slot);  // a newer status arrived meanwhile
  } else {
    slots_.erase(it);
    released_locked();
  }
}

void StatusWriter::drain(std::function<void()> done) {
  std::lock_guard lock(mu_);
  draining_ = true;
  on_drained_ = std::move(done);
  for (auto& [key, slot] : slots_) {
    if (slot->retry) slot->retry->cancel();
  }
  released_locked();
}

void StatusWriter::notify_below(std::size_t limit, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  notify_limit_ = limit;
  on_below_ = std::move(wake);
  released_locked();
}

void StatusWriter::released_locked() {
  if (on_below_ && slots_.size() < notify_limit_) {
    asio::post(pool_, std::move(on_below_));
    on_below_ = nullptr;
  }
  if (!draining_ || !slots_.empty() || removals_in_flight_ > 0 || !on_drained_) return;
  asio::post(pool_, std::move(on_drained_));
  on_drained_ = nullptr;
}

bool StatusWriter::busy(const std::string& key) const {
  std::lock_guard lock(mu_);
  return slots_.contains(key);
}

std::size_t StatusWriter::pending() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

}  // namespace imapprobe::controller
