// Sharding end to end: replicas of one location (operator processes with
// --shard) split the probes over a real kube-apiserver against a real
// Dovecot. A replica killed with SIGKILL, one added, one stopped cleanly:
// every probe keeps running, on exactly one replica at a time.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "encoding/time.hpp"
#include "support/dovecot.hpp"
#include "support/fake_server.hpp"
#include "support/kube_cluster.hpp"
#include "support/process.hpp"

namespace imapprobe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Dovecot;
using testing::eventually;
using testing::KubeCluster;
using testing::Process;
using Clock = std::chrono::system_clock;

// Fast probes against Dovecot, and slow ones against a server that never
// answers (each run lasts its 5 s timeout): a handover that let two
// replicas run a probe at once would show as overlapping runs of those.
constexpr int kFast = 150;
constexpr int kSlow = 30;
constexpr int kProbes = kFast + kSlow;
constexpr auto kInterval = 20s;
constexpr const char* kNs = "shard";

// One replica: the operator process and what its /metrics says.
struct Replica {
  std::string id;
  std::unique_ptr<Process> process;

  std::string port() const { return testing::logged_metrics_port(process->log()); }
  std::string metrics() const {
    std::string out;
    if (port().empty()) return "";
    if (testing::run_command("curl -sf http://127.0.0.1:" + port() + "/metrics", out) != 0) {
      return "";
    }
    return out;
  }
  static double value(const std::string& text, const std::string& series) {
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  // The probes this replica runs: those with series on its /metrics.
  static std::set<std::string> owned(const std::string& text) {
    std::set<std::string> out;
    const std::string marker =
        "imapprobe_probe_success{namespace=\"" + std::string(kNs) + "\",name=\"";
    for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
      const auto from = at + marker.size();
      out.insert(text.substr(from, text.find('"', from) - from));
    }
    return out;
  }
};

// A run as one replica logged it (JSON log): which probe, when it ran.
struct LoggedRun {
  std::string replica;
  std::string probe;
  Clock::time_point start;
  Clock::time_point end;
};

// "Success Succeeded in 12.3ms" / "... in 1.250s": the run's duration.
std::optional<Clock::duration> run_duration(const std::string& msg) {
  const auto at = msg.rfind(" in ");
  if (at == std::string::npos) return std::nullopt;
  const std::string d = msg.substr(at + 4);
  try {
    if (d.ends_with("ms")) {
      return std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double, std::milli>(std::stod(d)));
    }
    if (d.ends_with("s")) {
      return std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(std::stod(d)));
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::vector<LoggedRun> logged_runs(const Replica& r) {
  std::vector<LoggedRun> out;
  std::istringstream in(r.process->log());
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("{")) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      continue;
    }
    if (j.value("namespace", "") != kNs) continue;
    const std::string msg = j.value("msg", "");
    if (!msg.starts_with("Success ") && !msg.starts_with("Failure ") &&
        !msg.starts_with("Degraded ")) {
      continue;
    }
    const auto took = run_duration(msg);
    const auto end = encoding::parse_rfc3339(j.value("time", ""));
    if (!took || !end) continue;
    out.push_back({r.id, j.value("name", ""), *end - *took, *end});
  }
  return out;
}

class ShardE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dovecot_ = std::make_unique<Dovecot>();
    silent_ = std::make_unique<testing::FakeServer>([](testing::Peer& peer) {
      std::string line;
      while (peer.read_line(line, 10000)) {
      }
    });
    cluster_ = std::make_unique<KubeCluster>();
    ASSERT_EQ(cluster_->install_crd(), "");
  }
  static void TearDownTestSuite() {
    cluster_.reset();
    silent_.reset();
    dovecot_.reset();
  }

  static Replica start(const std::string& id) {
    const std::string log = cluster_->workdir() + "/operator-" + id + ".log";
    return {id,
            std::make_unique<Process>(
                std::vector<std::string>{
                    IMAPPROBE_BINARY, "operator", "--kubeconfig", cluster_->kubeconfig(),
                    "--shard=true", "--location", "eu-west", "--leader-election-namespace",
                    "default", "--identity", id, "--health-addr", "127.0.0.1:0", "--metrics-addr",
                    "127.0.0.1:0", "--log-format", "json", "--secret-cache=true"},
                log)};
  }

  static std::string kubectl(const std::string& args, int* rc = nullptr) {
    return cluster_->kubectl(args, rc);
  }

  static void create_probes() {
    int rc = 0;
    kubectl(std::string("create namespace ") + kNs, &rc);
    std::string out =
        kubectl(std::string("-n ") + kNs +
                    " create secret generic test-ca --from-file=ca.crt=" + dovecot_->get("CA_FILE"),
                &rc);
    ASSERT_EQ(rc, 0) << out;
    out = kubectl(
        std::string("-n ") + kNs +
            " create secret generic creds --from-literal=username=" + dovecot_->get("PROBE_USER") +
            " --from-literal=password=" + dovecot_->get("PROBE_PASSWORD"),
        &rc);
    ASSERT_EQ(rc, 0) << out;
    std::ostringstream yaml;
    for (int i = 0; i < kProbes; ++i) {
      const bool slow = i >= kFast;
      yaml << "---\napiVersion: imapprobe.dev/v1alpha1\nkind: ImapProbe\nmetadata:\n  name: "
           << (slow ? "s-" + std::to_string(i - kFast) : "p-" + std::to_string(i))
           << "\n  namespace: " << kNs
           << "\nspec:\n  server:\n    host: " << (slow ? "127.0.0.1" : "localhost")
           << "\n    port: "
           << (slow ? std::to_string(silent_->port()) : dovecot_->get("IMAPS_PORT"))
           << "\n    caBundleSecretRef: {name: test-ca}\n  auth:\n    mechanism: Plain\n"
           << "    secretRef: {name: creds}\n  interval: 20s\n  timeout: 5s\n";
    }
    const std::string path = cluster_->workdir() + "/probes.yaml";
    std::ofstream(path) << yaml.str();
    out = kubectl("apply -f " + path, &rc);
    ASSERT_EQ(rc, 0) << out;
  }

  // Every replica sees `members` live members, agrees, and together they
  // run every probe exactly once. The owners by probe, or empty on timeout.
  static std::map<std::string, std::string> settled_owners(const std::vector<Replica*>& replicas,
                                                           std::chrono::seconds max) {
    std::map<std::string, std::string> owners;
    eventually(
        [&] {
          owners.clear();
          for (const Replica* r : replicas) {
            const std::string text = r->metrics();
            if (Replica::value(text, "imapprobe_operator_shard_members") !=
                    static_cast<double>(replicas.size()) ||
                Replica::value(text, "imapprobe_operator_shard_view_agreed") != 1) {
              return false;
            }
            for (const auto& p : Replica::owned(text)) {
              if (!owners.emplace(p, r->id).second) return false;  // still on two
            }
          }
          return owners.size() == static_cast<std::size_t>(kProbes);
        },
        max);
    if (owners.size() != static_cast<std::size_t>(kProbes)) owners.clear();
    return owners;
  }

  static int ready_probes() {
    int rc = 0;
    const std::string out = kubectl(std::string("-n ") + kNs + " get imapprobes -o json", &rc);
    if (rc != 0) return -1;
    int n = 0;
    try {
      for (const auto& p : json::parse(out).value("items", json::array())) {
        const json status = p.value("status", json::object());
        for (const auto& c : status.value("conditions", json::array())) {
          n += c.value("type", "") == "Ready" && c.value("status", "") == "True";
        }
      }
    } catch (const json::exception&) {
      return -1;
    }
    return n;
  }

  // The first run of each of `probes` that started after `since`, by any
  // of `replicas`; the latest of those, or nullopt while one is missing.
  static std::optional<Clock::time_point> all_ran_after(const std::set<std::string>& probes,
                                                        Clock::time_point since,
                                                        const std::vector<Replica*>& replicas) {
    std::map<std::string, Clock::time_point> first;
    for (const Replica* r : replicas) {
      for (const auto& run : logged_runs(*r)) {
        if (run.start < since || !probes.contains(run.probe)) continue;
        auto [it, fresh] = first.emplace(run.probe, run.start);
        if (!fresh) it->second = std::min(it->second, run.start);
      }
    }
    if (first.size() != probes.size()) return std::nullopt;
    Clock::time_point latest = since;
    for (const auto& [p, t] : first) latest = std::max(latest, t);
    return latest;
  }

  static std::unique_ptr<Dovecot> dovecot_;
  static std::unique_ptr<KubeCluster> cluster_;
  static std::unique_ptr<testing::FakeServer> silent_;
};
std::unique_ptr<testing::FakeServer> ShardE2E::silent_;
std::unique_ptr<Dovecot> ShardE2E::dovecot_;
std::unique_ptr<KubeCluster> ShardE2E::cluster_;

std::string owners_of(const std::map<std::string, std::string>& owners, const std::string& id) {
  int n = 0;
  for (const auto& [p, o] : owners) n += o == id;
  return id + ":" + std::to_string(n);
}

TEST_F(ShardE2E, ReplicasSplitTheProbesAndHandThemOverWithoutEverRunningOneTwice) {
  Replica a = start("op-a"), b = start("op-b"), c = start("op-c");
  create_probes();
  ASSERT_TRUE(eventually([] { return ready_probes() == kProbes; }, 120s))
      << ready_probes() << " of " << kProbes << " Ready\n"
      << a.process->log().substr(0, 4000);

  // Split three ways, each about a third.
  auto owners = settled_owners({&a, &b, &c}, 60s);
  ASSERT_FALSE(owners.empty()) << a.metrics();
  for (const Replica* r : {&a, &b, &c}) {
    const auto mine = Replica::owned(r->metrics()).size();
    EXPECT_GE(mine, kProbes / 3 - 20u) << r->id;
    EXPECT_LE(mine, kProbes / 3 + 20u) << r->id;
  }
  std::cout << "split: " << owners_of(owners, "op-a") << " " << owners_of(owners, "op-b") << " "
            << owners_of(owners, "op-c") << "\n";
  int rc = 0;
  const std::string leases =
      kubectl("-n default get leases -l imapprobe.dev/shard-group=eu-west -o name", &rc);
  EXPECT_EQ(std::count(leases.begin(), leases.end(), '\n'), 3) << leases;

  // kill -9: op-c's probes resume on the others within its Lease duration
  // (15 s) plus a few membership rounds and one interval.
  std::set<std::string> of_c;
  for (const auto& [p, o] : owners) {
    if (o == "op-c") of_c.insert(p);
  }
  const auto killed = Clock::now();
  ASSERT_EQ(::kill(c.process->pid(), SIGKILL), 0);
  std::optional<Clock::time_point> resumed;
  ASSERT_TRUE(eventually(
      [&] {
        resumed = all_ran_after(of_c, killed, {&a, &b});
        return resumed.has_value();
      },
      90s))
      << "op-c's probes did not resume\n"
      << a.process->log().substr(a.process->log().size() > 6000 ? a.process->log().size() - 6000
                                                                : 0);
  const double recovery = std::chrono::duration<double>(*resumed - killed).count();
  std::cout << "after kill -9 of op-c: all of its " << of_c.size() << " probes ran again within "
            << recovery << " s\n";
  EXPECT_LE(recovery, 15 + 10 + std::chrono::duration<double>(kInterval).count() + 5);
  const auto after_kill = settled_owners({&a, &b}, 30s);
  ASSERT_FALSE(after_kill.empty());

  // Scale 2 -> 3 with a new replica: only the probes it takes move.
  Replica d = start("op-d");
  // The moment a handover could go wrong: op-d counts itself a member while
  // the others do not know it yet. A run asked of every slow probe now is
  // started at once by whichever replica may start it; a probe op-d gains
  // must wait until op-a and op-b have given it up and finished its run.
  ASSERT_TRUE(
      eventually([&] { return d.process->log().find("joined group") != std::string::npos; }, 30s));
  std::string slow_names;
  for (int i = 0; i < kSlow; ++i) slow_names += " s-" + std::to_string(i);
  int rc_annotate = 0;
  const std::string annotated = kubectl(
      std::string("-n ") + kNs + " annotate imapprobes" + slow_names +
          " --overwrite imapprobe.dev/run-requested-at=" + encoding::format_rfc3339(Clock::now()),
      &rc_annotate);
  ASSERT_EQ(rc_annotate, 0) << annotated;
  const auto with_d = settled_owners({&a, &b, &d}, 60s);
  ASSERT_FALSE(with_d.empty()) << d.process->log();
  int moved = 0;
  for (const auto& [p, o] : with_d) {
    if (o == after_kill.at(p)) continue;
    ++moved;
    EXPECT_EQ(o, "op-d") << p << " moved between replicas that stayed";
  }
  std::cout << "scale 2 -> 3: " << moved << " of " << kProbes << " probes moved\n";
  EXPECT_GE(moved, kProbes / 3 - 25);
  EXPECT_LE(moved, kProbes / 3 + 25);

  // A clean stop hands over at once: the others drop op-a well before its
  // Lease (15 s) would have expired, and its probes go on.
  std::set<std::string> of_a;
  for (const auto& [p, o] : with_d) {
    if (o == "op-a") of_a.insert(p);
  }
  const auto stopped = Clock::now();
  ASSERT_EQ(a.process->stop(), 0) << a.process->log();
  // Seen gone at the others' next round (a Lease left to expire would take
  // 15 s), then agreed once they have settled what op-a's leaving moved.
  auto shard_gauges_are = [&](double members, bool need_agreed) {
    for (const Replica* r : {&b, &d}) {
      const std::string text = r->metrics();
      if (Replica::value(text, "imapprobe_operator_shard_members") != members) return false;
      if (need_agreed && Replica::value(text, "imapprobe_operator_shard_view_agreed") != 1) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(eventually([&] { return shard_gauges_are(2, false); }, 8s))
      << "op-a not dropped within 8 s of its clean stop: was its Lease deleted?";
  std::cout << "clean stop of op-a: the others dropped it "
            << std::chrono::duration<double>(Clock::now() - stopped).count() << " s after";
  EXPECT_TRUE(eventually([&] { return shard_gauges_are(2, true); }, 20s));
  std::cout << ", agreed without it "
            << std::chrono::duration<double>(Clock::now() - stopped).count() << " s after\n";
  // A probe's series appear on /metrics once it has run there.
  EXPECT_FALSE(settled_owners({&b, &d}, 40s).empty());
  ASSERT_TRUE(eventually(
      [&] {
        return all_ran_after(of_a, stopped, {&b, &d}).has_value();
      },
      60s))
      << "op-a's probes did not resume";

  // Across all of it no probe ran on two replicas at once.
  b.process->stop();
  d.process->stop();
  std::vector<LoggedRun> runs;
  for (const Replica* r : {&a, &b, &c, &d}) {
    auto more = logged_runs(*r);
    runs.insert(runs.end(), more.begin(), more.end());
  }
  std::map<std::string, std::vector<const LoggedRun*>> by_probe;
  for (const auto& r : runs) by_probe[r.probe].push_back(&r);
  ASSERT_EQ(by_probe.size(), static_cast<std::size_t>(kProbes));
  int overlaps = 0;
  for (auto& [p, list] : by_probe) {
    std::sort(list.begin(), list.end(),
              [](const LoggedRun* x, const LoggedRun* y) { return x->start < y->start; });
    for (std::size_t i = 1; i < list.size(); ++i) {
      if (list[i]->start < list[i - 1]->end) {
        ++overlaps;
        ADD_FAILURE() << p << " ran on " << list[i - 1]->replica << " and " << list[i]->replica
                      << " at once";
      }
    }
  }
  std::cout << runs.size() << " runs of " << kProbes << " probes on 4 replicas, " << overlaps
            << " overlapping\n";
}

}  // namespace
}  // namespace imapprobe
