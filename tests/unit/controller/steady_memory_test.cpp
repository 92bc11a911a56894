// Per-probe state updated after every run must be updated in place: a block
// allocated while a run's short-lived memory is live, and kept after it,
// pins that memory's pages (heap fragmentation: at 10,000 probes it was
// megabytes of resident memory malloc_trim could not hand back). These tests
// count the blocks allocated inside a window that are still live after it.
//
// The binary replaces the global operator new/delete with counting ones, so
// it is its own executable (tests/controller_tests.cmake).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>

#include "controller/probe_status.hpp"
#include "controller/probe_table.hpp"
#include "controller/run_metrics.hpp"
#include "controller/run_scheduler.hpp"
#include "probe/optional_box.hpp"
#include "probe/result.hpp"

namespace {

// The blocks allocated while a window is open, by address. Fixed-size and
// allocation-free, since it is used from inside operator new.
struct Window {
  static constexpr std::size_t kSlots = 4096;
  std::array<std::atomic<void*>, kSlots> live{};
  std::atomic<bool> open{false};
  std::atomic<bool> overflow{false};

  void added(void* p) {
    if (!open.load(std::memory_order_relaxed) || p == nullptr) return;
    for (auto& slot : live) {
      void* empty = nullptr;
      if (slot.compare_exchange_strong(empty, p)) return;
    }
    overflow = true;
  }
  void removed(void* p) {
    if (p == nullptr) return;
    for (auto& slot : live) {
      void* expected = p;
      if (slot.compare_exchange_strong(expected, nullptr)) return;
    }
  }
  std::size_t survivors() const {
    std::size_t n = 0;
    for (const auto& slot : live) n += slot.load() != nullptr ? 1 : 0;
    return n;
  }
};

Window& window() {
  static Window w;
  return w;
}

// Runs f and returns how many blocks it allocated that outlive it.
template <typename F>
std::size_t survivors_of(F f) {
  Window& w = window();
  for (auto& slot : w.live) slot = nullptr;
  w.overflow = false;
  w.open = true;
  f();
  w.open = false;
  EXPECT_FALSE(w.overflow) << "more live blocks than the window can follow";
  return w.survivors();
}

}  // namespace

// GCC sees the free() below as freeing memory from operator new: it is
// this operator new's own malloc().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  window().added(p);
  return p;
}
void operator delete(void* p) noexcept {
  window().removed(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

namespace imapprobe::controller {
namespace {
using namespace std::chrono_literals;

// Keys longer than a std::string holds inline, as real namespace/name keys are.
std::string key_of(int i) { return "monitoring-namespace/imap-probe-number-" + std::to_string(i); }

TEST(SteadyMemory, TheCounterSeesABlockThatOutlivesTheWindow) {
  std::string* kept = nullptr;
  // The string object and its buffer.
  EXPECT_EQ(survivors_of([&] { kept = new std::string(64, 'x'); }), 2u);
  delete kept;
  EXPECT_EQ(survivors_of([] { std::string s(64, 'x'); }), 0u);
}

TEST(SteadyMemory, ASchedulerCycleReusesItsNodes) {
  RunScheduler s({.concurrency = 8, .seed = 1});
  auto now = RunScheduler::Clock::time_point{} + 1h;
  for (int i = 0; i < 4; ++i) s.plan(key_of(i), now);
  // One cycle first: the spare nodes exist from then on.
  auto cycle = [&] {
    now += 1min;
    auto due = s.take_due(now);
    ASSERT_EQ(due.size(), 4u);
    for (const auto& start : due) {
      s.finished(start.key);
      s.plan(start.key, now + 30s, RunKind::Next);
    }
  };
  cycle();
  EXPECT_EQ(survivors_of(cycle), 0u);
  EXPECT_EQ(s.in_flight(), 0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(s.planned(key_of(i)));
}

struct Held {
  std::string text;
  bool operator==(const Held&) const = default;
};

TEST(SteadyMemory, BoxesAssignIntoTheValueTheyHold) {
  probe::OptionalBox<Held> a(Held{std::string(64, 'a')});
  const probe::OptionalBox<Held> b(Held{std::string(64, 'b')});
  EXPECT_EQ(survivors_of([&] { a = b; }), 0u);
  EXPECT_EQ(a->text, b->text);
  probe::DefaultedBox<Held> c;
  c.edit().text = std::string(64, 'c');
  probe::DefaultedBox<Held> d;
  d.edit().text = std::string(64, 'd');
  EXPECT_EQ(survivors_of([&] { c = d; }), 0u);
  EXPECT_EQ(c->text, d->text);
  // Copies stay deep.
  d.edit().text = "changed";
  EXPECT_EQ(c->text, std::string(64, 'd'));
}

probe::ProbeResult run_result(std::chrono::milliseconds login) {
  probe::ProbeResult r;
  r.outcome = probe::Outcome::Success;
  r.reason = probe::Reason::Succeeded;
  r.message = "logged in, 10 messages in INBOX, 10 matched search, fetched 5";
  for (auto step : {probe::Step::Connect, probe::Step::Tls, probe::Step::Greeting,
                    probe::Step::Login, probe::Step::Select, probe::Step::Logout}) {
    r.durations[step] = step == probe::Step::Login ? login : 10ms;
  }
  r.total = 200ms;
  return r;
}

TEST(SteadyMemory, ARunsMetricsFactsReuseTheProbesStorage) {
  RunMetrics m;
  m.probe_added(key_of(1));
  m.run_finished(key_of(1), run_result(40ms), 0, false, false);
  EXPECT_EQ(survivors_of([&] { m.run_finished(key_of(1), run_result(50ms), 0, false, false); }),
            0u);
  const auto snap = m.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].duration_count, 2u);
}

ProbeStatus status_after(std::chrono::milliseconds login, const char* time) {
  ProbeStatus s;
  s.observed_generation = 1;
  for (const char* type : {"Available", "Degraded", "Ready", "Stalled"}) {
    Condition c;
    c.type = type;
    c.status = "True";
    c.reason = "SomeReasonLongerThanInline";
    c.message = std::string("a message longer than a string holds inline: ") + type;
    c.last_transition_time = encoding::Timestamp::parse(time);
    s.conditions.push_back(c);
  }
  LastRun run;
  run.time = encoding::Timestamp::parse(time);
  run.outcome = "Success";
  run.reason = "Succeeded";
  run.message = "logged in, 10 messages in INBOX, 10 matched search, fetched 5";
  run.durations["login"] = login;
  run.remote_address = "[2001:db8::1234:5678]:993";
  ContentRun content;
  content.quota_resource = "a quota resource name longer than inline";
  content.message_count = 10;
  run.content = content;
  s.last_run = run;
  return s;
}

TEST(SteadyMemory, AWatchEventOfAKnownProbeAllocatesNothingLasting) {
  ProbeTable table;
  const auto object = nlohmann::json::parse(R"({
    "metadata": {"namespace": "monitoring", "name": "imap-probe-with-a-long-name",
                 "uid": "0b5b3c8e-5f57-4d1e-9a53-3c1f1f6a2b4d", "generation": 1},
    "spec": {"server": {"host": "imap.example.com"}, "auth": {"secretRef": {"name": "imap"}}},
    "status": {"observedGeneration": 1}})");
  ASSERT_EQ(table.upsert(object).change, ProbeTable::Change::Added);
  // Our own status write coming back: same uid, same generation.
  auto event = object;
  event["status"]["consecutiveSuccesses"] = 2;
  EXPECT_EQ(
      survivors_of([&] { EXPECT_EQ(table.upsert(event).change, ProbeTable::Change::Unchanged); }),
      0u);
  EXPECT_EQ(table.find("monitoring/imap-probe-with-a-long-name")->ref.uid,
            "0b5b3c8e-5f57-4d1e-9a53-3c1f1f6a2b4d");
}

// The table holds each entry in its map node: a separate block per entry
// cost every probe a pointer and a heap block's overhead.
TEST(SteadyMemory, ANewProbesEntryIsItsMapNode) {
  ProbeTable table;
  // Short names (held inline by std::string) and identity only (hold
  // false): nothing else of the entry is on the heap.
  const auto object = nlohmann::json::parse(R"({
    "metadata": {"namespace": "ns", "name": "p", "uid": "u", "generation": 1},
    "spec": {"server": {"host": "imap.example.com"}}})");
  EXPECT_EQ(survivors_of(
                [&] { EXPECT_EQ(table.upsert(object, false).change, ProbeTable::Change::Added); }),
            1u);
  ASSERT_NE(table.find("ns/p"), nullptr);
  EXPECT_FALSE(table.find("ns/p")->held);
}

// The reconciler copies each run's new status into the probe's (submit).
TEST(SteadyMemory, AStatusOfTheSameShapeIsAssignedInPlace) {
  ProbeStatus kept = status_after(40ms, "2026-12-01T10:00:00Z");
  const ProbeStatus next = status_after(55ms, "2026-12-01T10:01:00Z");
  EXPECT_EQ(survivors_of([&] { kept = next; }), 0u);
  EXPECT_EQ(kept, next);
}

}  // namespace
}  // namespace imapprobe::controller
