#include "controller/write_policy.hpp"

#include <algorithm>
#include <string>

namespace imapprobe::controller {
namespace {

// FNV-1a over the fields, each followed by a separator so that adjacent
// fields cannot run into each other.
struct Digest {
  std::uint64_t h = 14695981039346656037ull;
  void add(std::string_view s) {
    for (const unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  }
  void add(std::int64_t v) { add(std::to_string(v)); }
};

}  // namespace

std::uint64_t significance(const ProbeStatus& s) {
  Digest d;
  d.add(s.observed_generation);
  d.add(s.last_handled_run_request.str());  // `kubectl wait` for an on-demand run
  for (const auto& c : s.conditions) {
    d.add(c.type.str());
    d.add(c.status.text());
    d.add(c.reason.str());
  }
  if (s.last_run) {
    d.add(s.last_run->outcome.str());
    d.add(s.last_run->reason.str());
    d.add(s.last_run->failed_step.str());
    // One family breaking while the other still passes is news.
    for (const auto& f : s.last_run->families) {
      d.add(f.family);
      d.add(f.outcome);
      d.add(f.reason);
    }
  } else {
    d.add("no-run");
  }
  if (s.certificate) {
    d.add(s.certificate->subject);
    d.add(s.certificate->issuer);
    d.add(s.certificate->not_after);
    d.add(static_cast<std::int64_t>(s.certificate->days_remaining));
  } else {
    d.add("no-certificate");
  }
  return d.h;
}

WriteDecision decide_write(std::optional<std::uint64_t> written_digest,
                           std::optional<std::chrono::system_clock::time_point> written_at,
                           const ProbeStatus& next, bool has_events,
                           std::chrono::system_clock::time_point now,
                           std::chrono::system_clock::duration heartbeat) {
  if (has_events) return {true, "events"};
  if (!written_digest || *written_digest != significance(next)) return {true, "change"};
  if (!written_at || now - *written_at >= heartbeat) return {true, "heartbeat"};
  return {false, ""};
}

std::chrono::system_clock::duration effective_heartbeat(std::chrono::seconds heartbeat,
                                                        std::chrono::nanoseconds interval) {
  using D = std::chrono::system_clock::duration;
  if (heartbeat == heartbeat.zero()) return D::zero();
  return std::max(std::chrono::duration_cast<D>(heartbeat),
                  std::chrono::duration_cast<D>(interval));
}

}  // namespace imapprobe::controller
