// The reconciler's part in sharding (shard_assignment.hpp): membership
// changes, giving probes up, and taking over the probes gained, read whole
// from the API server when this replica held only their identity.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/reconciler.hpp"
#include "telemetry/logging.hpp"

namespace imapprobe::controller {
namespace asio = boost::asio;
using nlohmann::json;

void Reconciler::set_shard_members(std::string self, std::vector<std::string> members) {
  asio::post(io_, [this, self = std::move(self), members = std::move(members)]() mutable {
    const std::uint64_t before = shard_.view();
    shard_.set_members(std::move(self), std::move(members));
    if (shard_.view() == before) return;
    spdlog::info("shard: {} member(s) [{}], view {:016x}; probes it gains wait for every member",
                 shard_.members().size(), fmt::join(shard_.members(), ", "), shard_.view());
    apply_shard_view();
    rearm();
  });
}

void Reconciler::agree_shard_view(std::uint64_t view) {
  asio::post(io_, [this, view] {
    if (!shard_.agree(view)) return;
    spdlog::info("shard: every member acts on view {:016x}: taking up the probes gained", view);
    apply_shard_view();
    rearm();
  });
}

Reconciler::ShardProgress Reconciler::shard_progress() {
  asio::post(io_, [this] { update_shard_progress(); });
  std::lock_guard lock(progress_mu_);
  return progress_;
}

void Reconciler::apply_shard_view() {
  table_.for_each([&](ProbeEntry& e) {
    const std::string key = e.ref.key();
    if (e.owned && !shard_.owns(key)) {
      give_up(e);
      return;
    }
    if (e.owned) return;
    if (e.held && shard_.members_known() && !shard_.owns(key)) {
      ProbeTable::lighten(e);  // held while the membership was unknown
      return;
    }
    if (!shard_.may_start(key) || stopping_) return;
    if (!e.held) {
      read_and_take_up(e);  // another replica's until now: read it whole
      return;
    }
    e.owned = true;
    metrics_.probe_added(key);
    take_up(e, true);
  });
  update_shard_progress();
}

void Reconciler::give_up(ProbeEntry& e) {
  const std::string key = e.ref.key();
  e.owned = false;
  scheduler_.cancel(key);
  table_.bump_epoch(e);  // a result in flight is dropped
  // Counters and the baseline kept since the last write go to the next owner.
  if (e.unwritten) {
    e.unwritten = false;
    write(e, {});
  }
  metrics_.probe_removed(key);
  giving_up_.insert_or_assign(key, Clock::now());
  ProbeTable::lighten(e);
}

void Reconciler::read_and_take_up(ProbeEntry& e) {
  const std::string key = e.ref.key();
  if (!reading_.insert(key).second) return;  // a read is on its way
  // The owner before wrote its last status before it settled, and the
  // members agreed only after that: this read sees it.
  asio::post(api_pool_, [this, ref = e.ref] {
    ProbeRead read;
    try {
      read = api_.get_probe(ref.namespace_, ref.name);
    } catch (const std::exception& ex) {
      read = std::string(ex.what());
    }
    asio::post(io_, [this, ref, read = std::move(read)]() mutable { on_probe_read(ref, read); });
  });
}

void Reconciler::on_probe_read(const ProbeRef& ref, const ProbeRead& read) {
  const std::string key = ref.key();
  reading_.erase(key);
  ProbeEntry* e = table_.find(key);
  // Gone, re-created, given up again or already taken up meanwhile.
  if (e == nullptr || e->ref.uid != ref.uid || e->owned || e->held || stopping_ ||
      !shard_.may_start(key)) {
    return;
  }
  if (const auto* error = std::get_if<std::string>(&read)) {
    metrics_.api_read_failed();
    telemetry::warn(
        telemetry::LogFields{.namespace_ = ref.namespace_, .name = ref.name},
        "cannot read the probe to take it over ({}); retrying in {} s", *error,
        std::chrono::duration_cast<std::chrono::seconds>(options_.stalled_retry).count());
    auto timer = std::make_shared<asio::steady_timer>(io_, options_.stalled_retry);
    timer->async_wait([this, timer, ref](const boost::system::error_code& ec) {
      if (ec) return;
      if (ProbeEntry* again = table_.find(ref.key());
          again != nullptr && again->ref.uid == ref.uid && !again->owned && !again->held) {
        if (shard_.may_start(ref.key()) && !stopping_) read_and_take_up(*again);
      }
    });
    return;
  }
  const auto& object = std::get<std::optional<json>>(read);
  if (!object) return;  // deleted: the watch says so next
  const json& meta = (*object)["metadata"];
  if (meta.value("uid", "") != ref.uid) return;  // re-created: the watch brings the new one
  if (meta.value("generation", std::int64_t{0}) < e->generation) {
    read_and_take_up(*e);  // a newer spec came by the watch meanwhile
    return;
  }
  table_.reload(*e, *object);
  e->owned = true;
  metrics_.probe_added(key);
  share_texts(e->status);
  take_up(*e, true);
  rearm();
}

void Reconciler::update_shard_progress() {
  const auto now = Clock::now();
  std::erase_if(giving_up_, [&](const auto& item) {
    const auto& [key, since] = item;
    const ProbeEntry* e = table_.find(key);
    if (e != nullptr && e->owned) return true;  // taken up again
    if (scheduler_.running(key)) return false;  // bounded by the probe's timeout
    if (!writer_.busy(key)) return true;
    if (now - since < options_.handover_write_wait) return false;
    spdlog::warn("shard: handing {} over with its last status still unwritten (retried)", key);
    return true;
  });
  std::lock_guard lock(progress_mu_);
  progress_.view = shard_.view();
  progress_.settled = giving_up_.empty();
  progress_.agreed = shard_.agreed();
  progress_.members = shard_.members().size();
}

}  // namespace imapprobe::controller
