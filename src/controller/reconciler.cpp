#include "controller/reconciler.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <ctime>
#include <thread>

namespace imapprobe::controller {
namespace asio = boost::asio;
using nlohmann::json;

struct Reconciler::Entry {
  explicit Entry(asio::io_context& io) : timer(io) {}
  ProbeRef ref;
  std::int64_t generation = -1;
  std::optional<ProbeDefinition> def;  // empty while the spec is invalid
  std::string invalid_reason;
  ProbeStatus status;
  asio::steady_timer timer;
  std::uint64_t epoch = 0;  // bumped on spec change/removal: stale callbacks drop out
  bool running = false;
  bool rerun = false;  // spec changed during a run: run again right after
  Clock::time_point planned{};
};

namespace {

std::string key_of(const json& object) {
  const json& m = object.contains("metadata") ? object["metadata"] : json::object();
  return m.value("namespace", "") + "/" + m.value("name", "");
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

RunFacts facts_of(const probe::ProbeResult& result) {
  RunFacts f;
  f.passed = result.outcome != probe::Outcome::Failure;
  f.step_seconds.reserve(result.durations.size());
  for (const auto& [step, d] : result.durations) {
    f.step_seconds.emplace_back(step, std::chrono::duration<double>(d).count());
  }
  if (result.certificate) {
    f.certificate_not_after = std::chrono::duration_cast<std::chrono::seconds>(
                                  result.certificate->not_after.time_since_epoch())
                                  .count();
  }
  return f;
}

Reconciler::Reconciler(asio::io_context& io, asio::thread_pool& api_pool, ClusterApi& api,
                       ProbeRunner runner, ReconcilerOptions options)
    : io_(io),
      api_pool_(api_pool),
      api_(api),
      runner_(std::move(runner)),
      options_(options),
      rng_(std::random_device{}()) {}

Reconciler::~Reconciler() = default;

void Reconciler::upsert(json object) {
  asio::post(io_, [this, o = std::move(object)]() mutable { on_upsert(std::move(o)); });
}

void Reconciler::remove(const std::string& ns, const std::string& name) {
  asio::post(io_, [this, key = ns + "/" + name] { on_remove(key); });
}

void Reconciler::sync(const std::string& ns, std::vector<json> objects) {
  asio::post(io_, [this, prefix = ns.empty() ? std::string() : ns + "/",
                   objects = std::move(objects)]() mutable {
    std::map<std::string, bool> present;
    for (auto& o : objects) {
      present[key_of(o)] = true;
      on_upsert(std::move(o));
    }
    std::vector<std::string> gone;
    for (const auto& [key, e] : entries_) {
      if (key.starts_with(prefix) && !present.contains(key)) gone.push_back(key);
    }
    for (const auto& key : gone) on_remove(key);
    objects.clear();
    objects.shrink_to_fit();
    // A (re)list of thousands of objects leaves the heap full of freed JSON;
    // hand it back to the system rather than carry it as RSS forever.
    malloc_trim(0);
  });
}

void Reconciler::set_active(bool active) {
  asio::post(io_, [this, active] {
    if (active_ == active) return;
    active_ = active;
    spdlog::info("reconciler {}", active ? "active: scheduling probes" : "standing by");
    for (auto& [key, e] : entries_) {
      e->timer.cancel();
      ++e->epoch;
      if (active && e->def && !e->def->suspend) {
        schedule(*e, Clock::now() + jittered(options_.first_run_spread));
      }
    }
  });
}

void Reconciler::shutdown(std::function<void()> done) {
  asio::post(io_, [this, done = std::move(done)]() mutable {
    stopping_ = true;
    waiting_.clear();
    for (auto& [key, e] : entries_) e->timer.cancel();
    on_drained_ = std::move(done);
    if (in_flight_ == 0 && pending_writes_ == 0) {
      auto cb = std::move(on_drained_);
      on_drained_ = nullptr;
      cb();
    }
  });
}

Reconciler::Clock::duration Reconciler::jittered(Clock::duration base) {
  if (base <= Clock::duration::zero()) return base;
  std::uniform_int_distribution<Clock::rep> d(0, base.count());
  return Clock::duration(d(rng_));
}

void Reconciler::on_upsert(json object) {
  const std::string key = key_of(object);
  auto [it, fresh] = entries_.try_emplace(key, nullptr);
  if (fresh) {
    it->second = std::make_unique<Entry>(io_);
    // Status survives restarts: the baseline and counters come back from it.
    it->second->status =
        ProbeStatus::from_json(object.contains("status") ? object["status"] : json::object());
  }
  Entry& e = *it->second;
  const json& meta = object["metadata"];
  const std::int64_t generation = meta.value("generation", std::int64_t{0});
  e.ref = ProbeRef{meta.value("namespace", ""), meta.value("name", ""), meta.value("uid", "")};
  const bool spec_changed = generation != e.generation;
  {
    std::lock_guard lock(stats_mu_);
    stats_.probes = entries_.size();
    snapshots_[key].namespace_ = e.ref.namespace_;
    snapshots_[key].name = e.ref.name;
  }
  if (!spec_changed) return;  // our own status write, or a metadata change

  e.generation = generation;
  ++e.epoch;
  e.timer.cancel();
  try {
    // Only the parsed definition is kept: thousands of probes must not hold
    // thousands of JSON documents.
    e.def = parse_probe(object);
    e.invalid_reason.clear();
  } catch (const std::exception& ex) {
    e.def.reset();
    e.invalid_reason = ex.what();
  }
  if (stopping_) return;
  if (!e.def) {
    spdlog::warn("probe {}: invalid spec: {}", key, e.invalid_reason);
    stall(e, "InvalidSpec", e.invalid_reason);
    return;
  }
  if (e.def->suspend) {
    write(e, after_suspend(e.status, generation, std::chrono::system_clock::now()));
    return;
  }
  if (e.running) {
    e.rerun = true;
    return;
  }
  if (!active_) return;
  // A restart with status current for this generation keeps the rhythm;
  // anything new or changed runs soon (spread so many probes do not fire together).
  auto when = Clock::now() + jittered(options_.first_run_spread);
  if (fresh && e.status.observed_generation == generation && !e.status.last_run_json.empty()) {
    if (auto last = parse_rfc3339(e.status.last_run().value("time", ""))) {
      const auto due_in = *last + e.def->interval - std::chrono::system_clock::now();
      if (due_in > std::chrono::system_clock::duration::zero()) {
        when = Clock::now() + std::chrono::duration_cast<Clock::duration>(due_in);
      }
    }
  }
  schedule(e, when);
}

void Reconciler::on_remove(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  it->second->timer.cancel();
  ++it->second->epoch;
  spdlog::info("probe {}: deleted, schedule stopped", key);
  entries_.erase(it);
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(),
                                [&](const auto& w) { return w.first == key; }),
                 waiting_.end());
  std::lock_guard lock(stats_mu_);
  stats_.probes = entries_.size();
  snapshots_.erase(key);
}

void Reconciler::schedule(Entry& e, Clock::time_point when) {
  e.planned = when;
  e.timer.expires_at(when);
  const std::string key = e.ref.key();
  const std::uint64_t epoch = e.epoch;
  e.timer.async_wait([this, key, epoch](const boost::system::error_code& ec) {
    if (!ec) due(key, epoch);
  });
}

void Reconciler::due(const std::string& key, std::uint64_t epoch) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->epoch != epoch || stopping_ || !active_) return;
  if (in_flight_ >= options_.concurrency) {
    waiting_.emplace_back(key, epoch);
    return;
  }
  start_run(key);
}

void Reconciler::start_run(const std::string& key) {
  Entry& e = *entries_.at(key);
  e.running = true;
  ++in_flight_;
  const std::uint64_t epoch = e.epoch;
  const ProbeDefinition def = *e.def;
  // Secrets are read at run time (a rotated password is picked up at the
  // next run) on the API pool, never on the probe thread.
  asio::post(api_pool_, [this, key, epoch, def] {
    std::string stall_reason, stall_message;
    probe::Credentials creds;
    std::string ca_pem;
    // One GET per distinct Secret per run: username, password and CA bundle
    // usually live in the same Secret.
    std::map<std::string, std::optional<std::map<std::string, std::string>>> fetched;
    auto read = [&](const SecretKeyRef& ref, std::string& out, const char* what) {
      auto it = fetched.find(ref.name);
      if (it == fetched.end()) {
        it = fetched.emplace(ref.name, api_.get_secret(def.namespace_, ref.name)).first;
      }
      const auto& data = it->second;
      if (!data) {
        stall_reason = "SecretNotFound";
        stall_message = "Secret " + def.namespace_ + "/" + ref.name + " (" + what + ") not found";
        return false;
      }
      auto v = data->find(ref.key);
      if (v == data->end()) {
        stall_reason = "SecretKeyMissing";
        stall_message = "Secret " + def.namespace_ + "/" + ref.name + " has no key \"" + ref.key +
                        "\" (" + what + ")";
        return false;
      }
      out = v->second;
      return true;
    };
    try {
      bool ok = true;
      if (def.username) ok = read(*def.username, creds.username, "username");
      if (ok && def.password) ok = read(*def.password, creds.secret, "password or token");
      if (ok && def.ca_bundle) ok = read(*def.ca_bundle, ca_pem, "CA bundle");
    } catch (const std::exception& ex) {
      stall_reason = "SecretUnreadable";
      stall_message = ex.what();
    }
    asio::post(io_, [this, key, epoch, creds = std::move(creds), ca_pem = std::move(ca_pem),
                     stall_reason = std::move(stall_reason),
                     stall_message = std::move(stall_message)]() mutable {
      auto it = entries_.find(key);
      if (it == entries_.end() || it->second->epoch != epoch) {
        if (it != entries_.end()) it->second->running = false;
        release_slot();
        return;
      }
      if (!stall_reason.empty()) {
        Entry& e = *it->second;
        e.running = false;
        release_slot();
        spdlog::warn("probe {}: cannot run: {}", key, stall_message);
        stall(e, stall_reason, stall_message);
        return;
      }
      run_with_credentials(key, epoch, std::move(creds), std::move(ca_pem));
    });
  });
}

void Reconciler::run_with_credentials(const std::string& key, std::uint64_t epoch,
                                      probe::Credentials creds, std::string ca_pem) {
  Entry& e = *entries_.at(key);
  probe::ProbeSpec spec = e.def->spec;
  if (!ca_pem.empty()) spec.ca_pem = std::move(ca_pem);
  const auto started = Clock::now();
  {
    std::lock_guard lock(stats_mu_);
    auto& lag = stats_.recent_lag_seconds;
    if (lag.size() >= 4096) lag.erase(lag.begin(), lag.begin() + 2048);
    lag.push_back(std::chrono::duration<double>(started - e.planned).count());
  }
  asio::co_spawn(io_, runner_(std::move(spec), std::move(creds)),
                 [this, key, epoch](std::exception_ptr ex, probe::ProbeResult result) {
                   if (ex) {
                     // The engine reports every network outcome as a result;
                     // an exception here is a bug, reported as such.
                     try {
                       std::rethrow_exception(ex);
                     } catch (const std::exception& err) {
                       result = probe::ProbeResult{};
                       result.reason = probe::Reason::ProtocolError;
                       result.message = std::string("internal error in the probe: ") + err.what();
                     }
                   }
                   finish_run(key, epoch, result);
                 });
}

void Reconciler::finish_run(const std::string& key, std::uint64_t epoch,
                            const probe::ProbeResult& result) {
  release_slot();
  auto it = entries_.find(key);
  if (it == entries_.end()) return;  // deleted while running: nothing to write
  Entry& e = *it->second;
  e.running = false;
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.runs;
    ++stats_.runs_by_reason[std::string(probe::to_string(result.reason))];
    auto& snap = snapshots_[key];
    snap.last_run = facts_of(result);
    ++snap.runs_by_reason[std::string(probe::to_string(result.reason))];
    const double total = std::chrono::duration<double>(result.total).count();
    for (std::size_t i = 0; i < std::size(kDurationBuckets); ++i) {
      if (total <= kDurationBuckets[i]) {
        ++snap.duration_buckets[i];
        break;
      }
    }
    snap.duration_sum += total;
    ++snap.duration_count;
  }
  if (e.epoch != epoch) {
    // The spec changed during the run: this result describes the old spec.
    if (e.rerun && active_ && !stopping_ && e.def && !e.def->suspend) schedule(e, Clock::now());
    e.rerun = false;
    return;
  }
  Transition t = after_run(e.status, *e.def, result, std::chrono::system_clock::now());
  // Fixed rate from the planned start, so runs do not drift later and later;
  // a run that overran its slot starts the next one at once.
  auto next = e.planned + e.def->interval;
  const auto now = Clock::now();
  if (next < now) next = now;
  next += jittered(std::chrono::duration_cast<Clock::duration>(e.def->interval * options_.jitter));
  t.status.next_run_time =
      rfc3339(std::chrono::system_clock::now() +
              std::chrono::duration_cast<std::chrono::system_clock::duration>(next - now));
  {
    std::lock_guard lock(stats_mu_);
    snapshots_[key].consecutive_failures = t.status.consecutive_failures;
    const Condition* degraded = find_condition(t.status.conditions, kDegraded);
    snapshots_[key].degraded = degraded != nullptr && degraded->status == "True";
  }
  spdlog::info("probe {}: {} {} in {}", key, probe::to_string(result.outcome),
               probe::to_string(result.reason), format_latency(result.total));
  write(e, t);
  if (!stopping_ && active_) schedule(e, next);
}

void Reconciler::stall(Entry& e, const std::string& reason, const std::string& message) {
  write(e, after_stall(e.status, e.generation, reason, message, std::chrono::system_clock::now()));
  // A missing Secret may appear; an invalid spec only changes with a new
  // generation (which reschedules by itself).
  if (e.def && !stopping_ && active_) schedule(e, Clock::now() + options_.stalled_retry);
}

void Reconciler::write(Entry& e, const Transition& t) {
  e.status = t.status;
  const ProbeRef ref = e.ref;
  const json status = t.status.to_json();
  const std::vector<Event> events = t.events;
  const int attempts = options_.status_write_attempts;
  ++pending_writes_;
  asio::post(api_pool_, [this, ref, status, events, attempts] {
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      try {
        api_.apply_status(ref, status);
        std::lock_guard lock(stats_mu_);
        ++stats_.status_writes;
        break;
      } catch (const ClusterApiError& ex) {
        {
          std::lock_guard lock(stats_mu_);
          ++stats_.status_write_errors;
        }
        if (ex.status() == 404) break;  // deleted meanwhile
        spdlog::warn("probe {}: status write failed (attempt {}/{}): {}", ref.key(), attempt,
                     attempts, ex.what());
        if (attempt < attempts)
          std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
      }
    }
    for (const auto& ev : events) {
      try {
        api_.emit_event(ref, ev);
        std::lock_guard lock(stats_mu_);
        ++stats_.events;
      } catch (const std::exception& ex) {
        spdlog::warn("probe {}: event {} not recorded: {}", ref.key(), ev.reason, ex.what());
      }
    }
    asio::post(io_, [this] {
      --pending_writes_;
      if (stopping_ && in_flight_ == 0 && pending_writes_ == 0 && on_drained_) {
        auto cb = std::move(on_drained_);
        on_drained_ = nullptr;
        cb();
      }
    });
  });
}

void Reconciler::release_slot() {
  --in_flight_;
  while (!stopping_ && in_flight_ < options_.concurrency && !waiting_.empty()) {
    auto [key, epoch] = waiting_.front();
    waiting_.pop_front();
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second->epoch == epoch && !it->second->running) start_run(key);
  }
  if (stopping_ && in_flight_ == 0 && pending_writes_ == 0 && on_drained_) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
}

ReconcilerStats Reconciler::stats() const {
  std::lock_guard lock(stats_mu_);
  ReconcilerStats s = stats_;
  s.in_flight = in_flight_;
  return s;
}

std::vector<ProbeSnapshot> Reconciler::snapshot() const {
  std::lock_guard lock(stats_mu_);
  std::vector<ProbeSnapshot> out;
  out.reserve(snapshots_.size());
  for (const auto& [key, s] : snapshots_) out.push_back(s);
  return out;
}

}  // namespace imapprobe::controller
