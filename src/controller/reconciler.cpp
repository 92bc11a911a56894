#include "controller/reconciler.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <set>
#include <variant>

#include "controller/location_report.hpp"
#include "controller/reasons.hpp"
#include "encoding/time.hpp"
#include "probe/prober.hpp"
#include "telemetry/logging.hpp"

namespace imapprobe::controller {
namespace asio = boost::asio;
using nlohmann::json;

namespace {

// The log fields of a line about one probe.
telemetry::LogFields fields(const ProbeRef& ref, std::string_view reason = {}) {
  return {.namespace_ = ref.namespace_, .name = ref.name, .reason = reason};
}

// A location writes its entry of status.locations, not the whole status.
StatusWriter::Render renderer(const std::string& report_location) {
  if (report_location.empty()) return {};
  return [report_location](const ProbeStatus& status) {
    return location_status_body(status, report_location);
  };
}

}  // namespace

Reconciler::Reconciler(asio::io_context& io, asio::thread_pool& api_pool, ClusterApi& api,
                       ProbeRunner runner, ReconcilerOptions options)
    : io_(io),
      api_pool_(api_pool),
      api_(api),
      runner_(std::move(runner)),
      options_(options),
      table_(options.report_location),
      scheduler_(RunScheduler::Options{options.concurrency}),
      writer_(api_pool, api, metrics_, options.writer, renderer(options.report_location)),
      wake_timer_(io) {
  // Sharded, nothing is this replica's until its membership is known.
  if (!options_.shard_identity.empty()) shard_.set_members(options_.shard_identity, {});
}

Reconciler::~Reconciler() = default;

void Reconciler::upsert(json object) {
  asio::post(io_, [this, o = std::move(object)] {
    on_upsert(o);
    rearm();
  });
}

void Reconciler::remove(const std::string& ns, const std::string& name) {
  asio::post(io_, [this, key = ns + "/" + name] {
    on_remove(key);
    rearm();
  });
}

void Reconciler::sync(const std::string& ns, std::vector<json> objects) {
  // The whole list at once is the streamed pair with one page.
  std::vector<std::string> keys;
  keys.reserve(objects.size());
  for (const auto& o : objects) keys.push_back(key_of(o));
  upsert_page(std::move(objects));
  sync_keys(ns, std::move(keys));
}

void Reconciler::upsert_page(std::vector<json> page) {
  asio::post(io_, [this, page = std::move(page)]() mutable {
    for (auto& o : page) {
      on_upsert(o);
      o = json();
    }
    rearm();
  });
}

void Reconciler::sync_keys(const std::string& ns, std::vector<std::string> keys) {
  asio::post(io_, [this, prefix = ns.empty() ? std::string() : ns + "/",
                   present = std::set<std::string>(keys.begin(), keys.end())] {
    for (const auto& key : table_.keys_with_prefix(prefix)) {
      if (!present.contains(key)) on_remove(key);
    }
    // The pages of a (re)list leave the heap full of freed JSON; hand it
    // back to the system rather than carry it as RSS forever.
    malloc_trim(0);
    rearm();
  });
}

void Reconciler::set_active(bool active) {
  asio::post(io_, [this, active] {
    if (active_ == active) return;
    active_ = active;
    spdlog::info("reconciler {}", active ? "active: scheduling probes" : "standing by");
    // Results of runs started under the other role are dropped. A run still
    // in flight keeps its probe busy: the scheduler starts the next one only
    // once it has finished, so a leadership flap never doubles a run.
    table_.bump_all_epochs();
    scheduler_.cancel_all();
    pending_notices_.clear();  // announced again below, under the new epochs
    if (active) {
      table_.for_each([&](ProbeEntry& e) {
        if (e.owned && e.def && !e.def->suspend) {
          scheduler_.plan(e.ref.key(), Clock::now() + scheduler_.jitter(options_.first_run_spread));
        }
      });
    }
    rearm();
  });
}

void Reconciler::shutdown(std::function<void()> done) {
  asio::post(io_, [this, done = std::move(done)]() mutable {
    stopping_ = true;
    flush_unwritten();
    scheduler_.cancel_all();
    wake_timer_.cancel();
    armed_for_.reset();
    on_drained_ = std::move(done);
    check_drained();
  });
}

void Reconciler::check_drained() {
  if (!stopping_ || !on_drained_ || scheduler_.in_flight() > 0) return;
  writer_.drain([this, done = std::move(on_drained_)]() mutable { asio::post(io_, done); });
  on_drained_ = nullptr;
}

void Reconciler::on_upsert(const json& object) {
  // Sharded, a probe another replica runs is kept as its identity only;
  // until the membership is known, every probe is held.
  const std::string object_key = key_of(object);
  const bool hold = !shard_.members_known() || shard_.owns(object_key);
  auto [e, change] = table_.upsert(object, hold);
  const std::string key = e.ref.key();
  if (!e.owned) {
    const bool fresh =
        change == ProbeTable::Change::Added || change == ProbeTable::Change::Recreated;
    if (change == ProbeTable::Change::Recreated) writer_.forget(key);
    if (!e.held) {
      // This replica's now (a view agreed meanwhile): read it whole.
      if (shard_.may_start(key) && !stopping_) read_and_take_up(e);
      return;
    }
    if (stopping_ || !shard_.may_start(key)) {
      // Held, waiting for the members to agree: what its owner writes
      // until then is where this replica carries on.
      if (!fresh) table_.adopt_status(e, object);
      return;
    }
    // Taken up here (the view agreed while it was held): counted as new.
    if (!fresh) metrics_.probe_added(key);
  }
  switch (change) {
    case ProbeTable::Change::Unchanged:
      return;  // our own status write, or a metadata change
    case ProbeTable::Change::RunRequested:
      request_run(e);
      return;
    case ProbeTable::Change::Added:
      metrics_.probe_added(key);
      share_texts(e.status);  // as read from the object (a restart)
      break;
    case ProbeTable::Change::Recreated:
      telemetry::info(fields(e.ref), "re-created (uid {}): starting afresh", e.ref.uid);
      writer_.forget(key);
      metrics_.probe_reset(key);
      share_texts(e.status);
      break;
    case ProbeTable::Change::SpecChanged:
      break;
  }
  e.owned = true;
  scheduler_.cancel(key);
  if (stopping_) return;
  take_up(e, change != ProbeTable::Change::SpecChanged);
}

void Reconciler::take_up(ProbeEntry& e, bool fresh) {
  const std::string key = e.ref.key();
  if (!e.def) {
    telemetry::warn(fields(e.ref, reasons::kInvalidSpec), "invalid spec: {}",
                    e.invalid_reason.str());
    stall(e, reasons::kInvalidSpec, e.invalid_reason);
    return;
  }
  if (!options_.report_location.empty() && !e.def->runs_in(options_.report_location)) {
    // Not this location's (spec.locations): no runs, and applying no entry
    // makes the API server drop the one this location wrote before.
    scheduler_.cancel(key);
    metrics_.probe_removed(key);
    e.written_digest.reset();
    e.unwritten = false;
    writer_.submit(e.ref, no_location_body(), {});
    return;
  }
  metrics_.probe_suspended(key, e.def->suspend);
  if (e.def->suspend) {
    submit(e, after_suspend(e.status, e.generation, std::chrono::system_clock::now()));
    return;
  }
  if (active_) plan_first_run(e, fresh);
}

bool Reconciler::run_requested(const std::string& request, const ProbeStatus& status) {
  return !request.empty() && request != status.last_handled_run_request;
}

void Reconciler::request_run(ProbeEntry& e) {
  if (!run_requested(e.run_request, e.status) || !e.owned || !e.def || e.def->suspend || !active_ ||
      stopping_) {
    return;
  }
  telemetry::info(fields(e.ref), "run requested ({}={})", kRunRequestAnnotation,
                  e.run_request.str());
  // A run in flight keeps its probe busy: the scheduler starts this one
  // right after it (and finish_run keeps it due).
  scheduler_.plan(e.ref.key(), Clock::now(), RunKind::First);
  rearm();
}

void Reconciler::plan_first_run(ProbeEntry& e, bool fresh) {
  // A restart with status current for this generation keeps the rhythm;
  // anything new or changed runs soon (spread so many probes do not fire together).
  auto when = Clock::now() + scheduler_.jitter(options_.first_run_spread);
  if (fresh && !run_requested(e.run_request, e.status) &&
      e.status.observed_generation == e.generation && e.status.last_run) {
    if (auto last = e.status.last_run->time.time()) {
      const auto due_in = *last + e.def->interval - std::chrono::system_clock::now();
      if (due_in > std::chrono::system_clock::duration::zero()) {
        when = Clock::now() + std::chrono::duration_cast<Clock::duration>(due_in);
      }
    }
  }
  scheduler_.plan(e.ref.key(), when);
}

void Reconciler::on_remove(const std::string& key) {
  const ProbeEntry* e = table_.find(key);
  if (e == nullptr) return;
  telemetry::info(fields(e->ref), "deleted, schedule stopped");
  table_.erase(key);
  scheduler_.cancel(key);
  writer_.forget(key);
  metrics_.probe_removed(key);
  giving_up_.erase(key);
  reading_.erase(key);
}

int Reconciler::first_run_budget() const {
  if (options_.write_backlog == 0) return RunScheduler::kNoLimit;
  const std::size_t pending = writer_.pending();
  if (pending >= options_.write_backlog) return 0;
  return static_cast<int>(
      std::min<std::size_t>(options_.write_backlog - pending, RunScheduler::kNoLimit));
}

void Reconciler::rearm() {
  if (stopping_) return;
  const bool first_runs = first_run_budget() > 0;
  if (!first_runs) {
    // Held first runs start once the writer has caught up.
    writer_.notify_below(options_.write_backlog, [this] {
      asio::post(io_, [this] {
        if (!stopping_) wake();
      });
    });
  }
  auto next = scheduler_.next_wakeup(Clock::now(), first_runs);
  if (!pending_notices_.empty() && (!next || pending_notices_.front().due < *next)) {
    next = pending_notices_.front().due;
  }
  if (!next) {
    if (armed_for_) wake_timer_.cancel();
    armed_for_.reset();
    return;
  }
  if (armed_for_ == *next) return;
  armed_for_ = *next;
  wake_timer_.expires_at(*next);
  wake_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled or re-armed: armed_for_ is the newer wait's
    armed_for_.reset();
    wake();
  });
}

void Reconciler::wake() {
  if (stopping_ || !active_) return;
  announce_due_pending(Clock::now());
  for (const auto& start : scheduler_.take_due(Clock::now(), first_run_budget())) {
    start_run(start);
  }
  metrics_.set_in_flight(scheduler_.in_flight());
  rearm();
}

bool Reconciler::current(const RunToken& token) {
  const ProbeEntry* e = table_.find(token.key);
  return e != nullptr && e->ref.uid == token.uid && e->epoch == token.epoch;
}

void Reconciler::start_run(const RunScheduler::Start& start) {
  ProbeEntry* e = table_.find(start.key);
  // Cannot happen: erasing and giving up cancel the plan.
  if (e == nullptr || !e->def || !e->owned) {
    release(start.key);
    return;
  }
  RunToken token{start.key, e->ref.uid, e->epoch, start.planned, {}, start.kind, e->run_request};
  announce_pending(*e);
  // Nothing to read from the API server (no Secret, or every one in the
  // Secret cache): resolved here. Queued on the API pool, such a run waited
  // behind status writes: a heartbeat burst at 10,000 probes a minute
  // delayed runs by up to a minute (docs/benchmarks.md, run 10).
  if (auto resolution = resolve_credentials_in_memory(*e->def, e->ref.namespace_, api_)) {
    asio::post(io_, [this, token, resolution = std::move(*resolution)]() mutable {
      on_credentials(token, std::move(resolution));
    });
    return;
  }
  // Secrets are read at run time (a rotated password is picked up at the
  // next run) on the API pool, never on the probe thread.
  asio::post(api_pool_, [this, token, def = *e->def, ns = e->ref.namespace_] {
    CredentialResolution resolution = resolve_credentials(def, ns, api_);
    asio::post(io_, [this, token, resolution = std::move(resolution)]() mutable {
      on_credentials(token, std::move(resolution));
    });
  });
}

void Reconciler::on_credentials(const RunToken& token, CredentialResolution resolution) {
  if (!current(token) || stopping_) {
    release(token.key);
    return;
  }
  ProbeEntry& e = *table_.find(token.key);
  if (auto* resolved = std::get_if<ResolvedCredentials>(&resolution)) {
    // Into the credentials already kept (as submit does with the status).
    if (!e.last_credentials) e.last_credentials.emplace();
    e.last_credentials->credentials = resolved->credentials;
    e.last_credentials->ca_pem = intern_ca(std::move(resolved->ca_pem));
    run(token, *e.last_credentials);
    return;
  }
  if (auto* stalled = std::get_if<CredentialStall>(&resolution)) {
    e.last_credentials.reset();
    release(token.key);
    telemetry::warn(fields(e.ref, stalled->reason), "cannot run: {}", stalled->message);
    stall(e, stalled->reason, stalled->message, token.run_request);
    rearm();
    return;
  }
  // The API server is unwell: not the probe's fault, so no condition moves.
  const auto& down = std::get<ApiUnavailable>(resolution);
  metrics_.api_read_failed();
  if (e.last_credentials) {
    telemetry::warn(fields(e.ref),
                    "Secret not readable now ({}); running with the credentials last read",
                    down.message);
    run(token, *e.last_credentials);
    return;
  }
  metrics_.run_skipped_api_down();
  telemetry::warn(fields(e.ref), "run skipped, Secret not readable and none read before: {}",
                  down.message);
  release(token.key);
  if (active_) scheduler_.plan(token.key, Clock::now() + options_.stalled_retry);
  rearm();
}

std::shared_ptr<const std::string> Reconciler::intern_ca(std::string pem) {
  if (pem.empty()) return nullptr;
  auto& slot = ca_bundles_[pem];
  if (auto shared = slot.lock()) return shared;
  auto shared = std::make_shared<const std::string>(std::move(pem));
  slot = shared;
  if (ca_bundles_.size() > 64)
    std::erase_if(ca_bundles_, [](auto& kv) { return kv.second.expired(); });
  return shared;
}

void Reconciler::run(const RunToken& token, const ProbeEntry::KnownCredentials& known) {
  const ProbeEntry& e = *table_.find(token.key);
  probe::ProbeSpec spec = e.def->spec;
  if (known.ca_pem) spec.ca_pem = *known.ca_pem;
  probe::Credentials credentials = known.credentials;
  RunToken started = token;
  started.started = Clock::now();
  metrics_.run_started(token.kind,
                       std::chrono::duration<double>(started.started - token.planned).count());
  asio::co_spawn(
      io_, runner_(std::move(spec), std::move(credentials)),
      [this, token = std::move(started)](std::exception_ptr ex, probe::ProbeResult result) {
        // The engine reports every network outcome as a result; an
        // exception is our bug, never blamed on the server.
        if (ex) result = probe::internal_error_result(ex);
        finish_run(token, result);
      });
}

void Reconciler::finish_run(const RunToken& token, const probe::ProbeResult& result) {
  if (!current(token)) {
    release(token.key);
    return;  // deleted, re-created, changed or handed over meanwhile
  }
  ProbeEntry& e = *table_.find(token.key);
  Transition t = after_run(e.status, *e.def, result, std::chrono::system_clock::now());
  certificates_.share(t.status.certificate);
  if (!token.run_request.empty()) t.status.last_handled_run_request = token.run_request;
  const auto now = Clock::now();
  const auto interval = std::chrono::duration_cast<Clock::duration>(e.def->interval);
  const NextRun planned_next = next_run_after(token.planned, token.started, now, interval,
                                              options_.rephase_after, scheduler_.spread());
  auto next = planned_next.when;
  if (!planned_next.rephased) {
    next +=
        scheduler_.jitter(std::chrono::duration_cast<Clock::duration>(interval * options_.jitter));
  }
  // Asked for again while this run was in flight: that request runs now.
  if (run_requested(e.run_request, t.status)) next = now;
  t.status.next_run_time = encoding::Timestamp(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(next - now));
  const Condition* degraded = find_condition(t.status.conditions, kDegraded);
  const bool is_degraded = degraded != nullptr && degraded->status == "True";
  metrics_.run_finished(
      token.key, result, t.status.consecutive_failures, is_degraded,
      result.over_threshold || (is_degraded && degraded->reason == reasons::kOverBaseline));
  {
    const std::string server = e.def->spec.host + ":" + std::to_string(e.def->spec.port);
    telemetry::LogFields f = fields(e.ref, probe::to_string(result.reason));
    f.server = server;
    const std::string step =
        result.failed_step ? std::string(probe::to_string(*result.failed_step)) : std::string();
    f.step = step;
    telemetry::info(f, "{} {} in {}", probe::to_string(result.outcome),
                    probe::to_string(result.reason), format_latency(result.total));
  }
  // Submitted before the run is released: a shutdown waits for this write.
  submit(e, std::move(t));
  if (active_ && !stopping_) scheduler_.plan(token.key, next, RunKind::Next);
  release(token.key);
}

void Reconciler::release(const std::string& key) {
  scheduler_.finished(key);
  if (giving_up_.contains(key)) update_shard_progress();
  metrics_.set_in_flight(scheduler_.in_flight());
  check_drained();
  rearm();
}

ReconcilerStats Reconciler::stats() const { return metrics_.stats(); }

std::vector<ProbeSnapshot> Reconciler::snapshot() const { return metrics_.snapshot(); }

}  // namespace imapprobe::controller
