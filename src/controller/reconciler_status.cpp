// The reconciler's status path: what a probe's status becomes when it is
// first seen, when it cannot run and after a run, and whether that is worth
// a write now (write_policy.hpp) or at the heartbeat; the status writer takes
// it from there.
#include "controller/reconciler.hpp"
#include "controller/write_policy.hpp"

namespace imapprobe::controller {

void Reconciler::announce_pending(ProbeEntry& e) {
  // A status for this generation (a run, a stall, or a Pending written by
  // an earlier leader) already says where the probe is. Counted from the
  // run's start, not from the sighting: 10,000 first runs queued at start-up
  // would otherwise each cost a Pending write (measured: convergence 171 s
  // instead of about 120 s), while a queued probe already reads as in
  // progress to kstatus by its stale or defaulted observedGeneration.
  if (e.status.observed_generation == e.generation) return;
  if (options_.pending_after <= std::chrono::milliseconds::zero()) {
    submit(e, after_first_sight(e.status, e.generation, std::chrono::system_clock::now()));
    return;
  }
  pending_notices_.push_back({Clock::now() + options_.pending_after, e.ref.key(), e.epoch});
  rearm();
}

void Reconciler::announce_due_pending(Clock::time_point now) {
  while (!pending_notices_.empty() && pending_notices_.front().due <= now) {
    const PendingNotice notice = std::move(pending_notices_.front());
    pending_notices_.pop_front();
    ProbeEntry* e = table_.find(notice.key);
    // Gone, changed, handed over, or its first result (or stall) is in.
    if (e == nullptr || e->epoch != notice.epoch || !e->def || e->def->suspend ||
        e->status.observed_generation == e->generation) {
      continue;
    }
    submit(*e, after_first_sight(e->status, e->generation, std::chrono::system_clock::now()));
  }
}

void Reconciler::stall(ProbeEntry& e, const std::string& reason, const std::string& message,
                       const std::string& handled_request) {
  metrics_.probe_stalled(e.ref.key(), reason);
  Transition t =
      after_stall(e.status, e.generation, reason, message, std::chrono::system_clock::now());
  if (!handled_request.empty()) t.status.last_handled_run_request = handled_request;
  submit(e, std::move(t));
  // A missing Secret may appear; an invalid spec only changes with a new
  // generation (which reschedules by itself).
  if (e.def && !stopping_ && active_) {
    scheduler_.plan(e.ref.key(), Clock::now() + options_.stalled_retry);
  }
}

void Reconciler::submit(ProbeEntry& e, Transition t) {
  // Copied into the storage the probe already has, not moved: a new status
  // is built among a run's short-lived allocations, and moving it in would
  // leave a probe's lasting strings and vectors pinned in that freed memory,
  // run after run, which malloc_trim cannot hand back (fragmentation).
  e.status = t.status;
  // A run can add a condition to a copy sized for the old ones; kept for
  // the probe's life, the spare room would cost more than the conditions.
  e.status.conditions.shrink_to_fit();
  share_texts(e.status);
  const auto now = std::chrono::system_clock::now();
  const auto heartbeat = effective_heartbeat(
      options_.status_heartbeat, e.def ? e.def->interval : std::chrono::nanoseconds::zero());
  const WriteDecision d =
      decide_write(e.written_digest, e.written_at, e.status, !t.events.empty(), now, heartbeat);
  if (!d.write) {
    e.unwritten = true;
    metrics_.status_write_skipped();
    return;
  }
  e.written_digest = significance(e.status);
  e.written_at = now;
  e.unwritten = false;
  write(e, std::move(t.events));
}

void Reconciler::write(const ProbeEntry& e, std::vector<Event> events) {
  if (!options_.report_location.empty()) events.clear();
  writer_.submit(e.ref, e.status, std::move(events));
}

void Reconciler::share_texts(ProbeStatus& status) {
  for (Condition& c : status.conditions) {
    names_.share(c.type.value());
    names_.share(c.reason.value());
    // Most condition messages are the same sentence for every probe.
    messages_.share(c.message.value());
  }
  if (status.last_run) {
    LastRun& run = *status.last_run;
    names_.share(run.outcome.value());
    names_.share(run.reason.value());
    names_.share(run.failed_step.value());
    names_.share(run.location.value());
  }
}

void Reconciler::flush_unwritten() {
  // Counters and the baseline kept since the last write survive a restart.
  table_.for_each([&](ProbeEntry& e) {
    if (!e.unwritten) return;
    e.unwritten = false;
    write(e, {});
  });
}

}  // namespace imapprobe::controller
