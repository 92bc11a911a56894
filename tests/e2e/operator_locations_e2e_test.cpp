// Multi-location end to end: three locations (operator processes with
// --multi-location) against one real kube-apiserver and one real Dovecot.
// Each location reaches Dovecot over a path of its own: a name in a private
// /etc/hosts (a mount namespace per process) pointing at a loopback proxy
// the test can cut. One verdict per probe from the three entries.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kube/client.hpp"
#include "kube/config.hpp"
#include "support/dovecot.hpp"
#include "support/kube_cluster.hpp"
#include "support/process.hpp"
#include "support/tcp_proxy.hpp"

namespace imapprobe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Dovecot;
using testing::eventually;
using testing::KubeCluster;
using testing::Process;
using testing::TcpProxy;

constexpr const char* kNs = "fleet";
const std::vector<std::string> kLocations{"ap-south", "eu-west", "us-east"};

struct Location {
  std::string name;
  std::unique_ptr<TcpProxy> path;  // its way to Dovecot
  std::unique_ptr<Process> process;
};

class LocationsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dovecot_ = std::make_unique<Dovecot>();
    cluster_ = std::make_unique<KubeCluster>();
    ASSERT_EQ(cluster_->install_crd(), "");
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
  }
  static void TearDownTestSuite() {
    cluster_.reset();
    dovecot_.reset();
  }

  static std::string kubectl(const std::string& args, int* rc = nullptr) {
    return cluster_->kubectl(args, rc);
  }

  // A location: its proxy on 127.0.0.1<n>, its hosts file naming it
  // imap.test (a name the test CA's certificate covers), its operator.
  static Location start(std::size_t n) {
    Location l;
    l.name = kLocations[n];
    const int port = dovecot_->port("IMAPS_PORT");
    const std::string ip = "127.0.0.1" + std::to_string(n + 1);
    l.path = std::make_unique<TcpProxy>(ip, port, "127.0.0.1", port);
    const std::string hosts = cluster_->workdir() + "/hosts-" + l.name;
    std::ofstream(hosts) << "127.0.0.1 localhost\n" << ip << " imap.test\n";
    l.process = launch(l.name, hosts);
    return l;
  }
  static std::unique_ptr<Process> launch(const std::string& name, const std::string& hosts) {
    const std::string log = cluster_->workdir() + "/operator-" + name + ".log";
    return std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/unshare",
                                 "-rm",
                                 "/bin/sh",
                                 "-c",
                                 "mount --bind \"$1\" /etc/hosts && shift && exec \"$@\"",
                                 "sh",
                                 hosts,
                                 IMAPPROBE_BINARY,
                                 "operator",
                                 "--kubeconfig",
                                 cluster_->kubeconfig(),
                                 "--multi-location=true",
                                 "--location",
                                 name,
                                 "--leader-election-namespace",
                                 "default",
                                 "--identity",
                                 name + "-0",
                                 "--health-addr",
                                 "127.0.0.1:0",
                                 "--metrics-addr",
                                 "127.0.0.1:0",
                                 "--log-format",
                                 "json",
                                 "--status-heartbeat",
                                 "1m",
                                 "--location-entry-retention",
                                 "120s"},
        log);
  }

  static void apply_probes() {
    std::ostringstream yaml;
    for (const std::string name : {"mail", "roundtrip"}) {
      yaml << "---\napiVersion: imapprobe.dev/v1alpha1\nkind: ImapProbe\nmetadata:\n  name: "
           << name << "\n  namespace: " << kNs << "\nspec:\n  server:\n    host: imap.test\n"
           << "    port: " << dovecot_->get("IMAPS_PORT")
           << "\n    caBundleSecretRef: {name: test-ca}\n  auth:\n    mechanism: Plain\n"
           << "    secretRef: {name: creds}\n  interval: "
           << "10s"
           << "\n  timeout: 4s\n  failureThreshold: 1\n";
      if (std::string(name) == "roundtrip") yaml << "  roundTrip: {enabled: true}\n";
    }
    const std::string path = cluster_->workdir() + "/probes.yaml";
    std::ofstream(path) << yaml.str();
    int rc = 0;
    const std::string out = kubectl("apply -f " + path, &rc);
    ASSERT_EQ(rc, 0) << out;
  }

  static json object(const std::string& name, bool managed_fields = false) {
    int rc = 0;
    const std::string out =
        kubectl(std::string("-n ") + kNs + " get imapprobe " + name + " -o json" +
                    (managed_fields ? " --show-managed-fields" : ""),
                &rc);
    if (rc != 0) return json::object();
    try {
      return json::parse(out);
    } catch (const json::exception&) {
      return json::object();
    }
  }
  static json condition(const json& o, const std::string& type) {
    for (const auto& c : o.value("status", json::object()).value("conditions", json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return json::object();
  }
  static std::map<std::string, json> entries(const json& o) {
    std::map<std::string, json> out;
    for (const auto& e : o.value("status", json::object()).value("locations", json::array())) {
      out[e.value("name", "")] = e;
    }
    return out;
  }
  static int count_events(const std::string& name, const std::string& reason) {
    int rc = 0;
    const std::string out = kubectl(
        std::string("-n ") + kNs +
            " get events.events.k8s.io --field-selector regarding.name=" + name + " -o json",
        &rc);
    if (rc != 0) return -1;
    int n = 0;
    for (const auto& e : json::parse(out).value("items", json::array())) {
      if (e.value("reason", "") != reason) continue;
      n += e.contains("series") ? e["series"].value("count", 1) : 1;
    }
    return n;
  }
  // Every location's entry of `name` says Success, fresh since `after`.
  static bool all_pass(const std::string& name) {
    const auto e = entries(object(name));
    if (e.size() != kLocations.size()) return false;
    for (const auto& [loc, entry] : e) {
      if (entry.value("outcome", "") != "Success") return false;
    }
    return true;
  }

  // The round trip probe's runs one location logged.
  struct RoundTrips {
    int passed = 0;
    int failed = 0;
    std::string last_failure;
  };
  static RoundTrips round_trips(const Location& l) {
    RoundTrips r;
    std::istringstream log(l.process->log());
    for (std::string line; std::getline(log, line);) {
      if (!line.starts_with("{")) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception&) {
        continue;
      }
      if (j.value("name", "") != "roundtrip") continue;
      const std::string msg = j.value("msg", "");
      if (msg.starts_with("Success ")) ++r.passed;
      if (msg.starts_with("Failure ") || msg.starts_with("Degraded ")) {
        ++r.failed;
        r.last_failure = msg;
      }
    }
    return r;
  }

  static std::unique_ptr<Dovecot> dovecot_;
  static std::unique_ptr<KubeCluster> cluster_;
};

std::unique_ptr<Dovecot> LocationsE2E::dovecot_;
std::unique_ptr<KubeCluster> LocationsE2E::cluster_;

TEST_F(LocationsE2E, ThreeLocationsMakeOneVerdict) {
  const std::string user = dovecot_->get("PROBE_USER");
  const int messages_before = dovecot_->count_messages(user);
  std::vector<Location> locations;
  for (std::size_t i = 0; i < kLocations.size(); ++i) locations.push_back(start(i));
  apply_probes();

  // All pass: three entries, Available=True.
  ASSERT_TRUE(eventually([] { return all_pass("mail") && all_pass("roundtrip"); }, 60s))
      << object("mail").dump(2) << "\n"
      << object("roundtrip").dump(2);
  ASSERT_TRUE(eventually(
      [] {
        return condition(object("mail"), "Available").value("message", "") ==
               "passing from 3 of 3 locations";
      },
      20s))
      << object("mail").dump(2);
  EXPECT_EQ(condition(object("mail"), "Ready").value("status", ""), "True");
  EXPECT_EQ(object("mail")["status"].value("observedGeneration", 0), 1);

  // kubectl's columns work as with one location: the verdict shows the
  // newest run of any location and the fewest certificate days.
  {
    int rc = 0;
    const std::string row =
        kubectl(std::string("-n ") + kNs + " get imapprobe mail --no-headers", &rc);
    ASSERT_EQ(rc, 0) << row;
    EXPECT_EQ(row.find("<none>"), std::string::npos) << "an empty column: " << row;
    const json status = object("mail")["status"];
    const json run = status.value("lastRun", json::object());
    EXPECT_NE(std::find(kLocations.begin(), kLocations.end(), run.value("location", "")),
              kLocations.end())
        << run.dump();
    EXPECT_FALSE(run.value("durations", json::object()).value("total", "").empty()) << run.dump();
    EXPECT_GT(status.value("certificate", json::object()).value("daysRemaining", 0), 0)
        << status.dump();
  }

  // Each entry is owned by its location's field manager, the conditions by
  // the verdict's, and a location cannot change another's entry.
  {
    const json o = object("mail", true);
    std::map<std::string, std::string> owners;
    for (const auto& m : o["metadata"].value("managedFields", json::array())) {
      owners[m.value("manager", "")] = m.value("fieldsV1", json::object()).dump();
    }
    for (const auto& loc : kLocations) {
      const std::string manager = "imapprobe-location-" + loc;
      ASSERT_TRUE(owners.contains(manager)) << o["metadata"].dump(2);
      EXPECT_NE(owners[manager].find("k:{\\\"name\\\":\\\"" + loc + "\\\"}"), std::string::npos)
          << owners[manager];
      EXPECT_EQ(owners[manager].find("f:conditions"), std::string::npos) << owners[manager];
      for (const auto& other : kLocations) {
        if (other == loc) continue;
        EXPECT_EQ(owners[manager].find("\\\"" + other + "\\\""), std::string::npos)
            << manager << " owns a field of " << other << ": " << owners[manager];
      }
    }
    ASSERT_TRUE(owners.contains("imapprobe-verdict"));
    EXPECT_NE(owners["imapprobe-verdict"].find("f:conditions"), std::string::npos);
    EXPECT_NE(owners["imapprobe-verdict"].find("f:lastRun"), std::string::npos);
    EXPECT_EQ(owners["imapprobe-verdict"].find("f:locations"), std::string::npos);

    kube::Client client(kube::ClusterConfig::discover(cluster_->kubeconfig(), ""));
    const json forged = {
        {"apiVersion", "imapprobe.dev/v1alpha1"},
        {"kind", "ImapProbe"},
        {"metadata", {{"name", "mail"}, {"namespace", kNs}}},
        {"status",
         {{"locations", {{{"name", "us-east"}, {"outcome", "Failure"}, {"available", "False"}}}}}}};
    try {
      client.patch(
          std::string("/apis/imapprobe.dev/v1alpha1/namespaces/") + kNs + "/imapprobes/mail/status",
          forged, kube::PatchType::Apply, "imapprobe-location-eu-west", false);
      ADD_FAILURE() << "eu-west's manager changed us-east's entry";
    } catch (const kube::ApiError& e) {
      EXPECT_EQ(e.status(), 409) << e.what();
    }
    EXPECT_EQ(entries(object("mail"))["us-east"].value("outcome", ""), "Success");
  }

  // The round trip from three locations against one mailbox: runs overlap,
  // none fails another's, and once it is suspended the mailbox is as it was.
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& l : locations) {
          if (round_trips(l).passed < 4) return false;
        }
        return true;
      },
      60s));
  int rc = 0;
  const std::string out = kubectl(std::string("-n ") + kNs +
                                      " patch imapprobe roundtrip --type merge -p "
                                      "'{\"spec\":{\"suspend\":true}}'",
                                  &rc);
  ASSERT_EQ(rc, 0) << out;
  std::this_thread::sleep_for(6s);  // runs in flight end
  for (const auto& l : locations) {
    const auto r = round_trips(l);
    EXPECT_EQ(r.failed, 0) << l.name << ": " << r.last_failure;
  }
  EXPECT_EQ(dovecot_->count_messages(user), messages_before);

  // Break eu-west's path: a partial outage naming it, Available stays True.
  locations[1].path->cut();
  ASSERT_TRUE(eventually(
      [] {
        const json d = condition(object("mail"), "Degraded");
        return d.value("reason", "") == "PartialOutage" &&
               d.value("message", "").find("eu-west") != std::string::npos;
      },
      30s))
      << object("mail").dump(2);
  EXPECT_EQ(condition(object("mail"), "Available").value("status", ""), "True");
  std::this_thread::sleep_for(12s);  // more runs from every location
  EXPECT_EQ(condition(object("mail"), "Available").value("status", ""), "True");
  EXPECT_EQ(count_events("mail", "PartialOutage"), 1);

  // Break a second: unavailable, one Warning naming both.
  locations[2].path->cut();
  ASSERT_TRUE(eventually(
      [] { return condition(object("mail"), "Available").value("status", "") == "False"; }, 30s))
      << object("mail").dump(2);
  const json down = condition(object("mail"), "Available");
  const std::string reason = down.value("reason", "");
  EXPECT_NE(down.value("message", "").find("failing from 2 of 3 locations: eu-west"),
            std::string::npos)
      << down.dump();
  EXPECT_NE(down.value("message", "").find("us-east"), std::string::npos) << down.dump();
  std::this_thread::sleep_for(12s);
  EXPECT_EQ(count_events("mail", reason), 1) << reason;

  // Heal: Recovered, nothing degraded.
  locations[1].path->heal();
  locations[2].path->heal();
  ASSERT_TRUE(eventually(
      [] {
        const json o = object("mail");
        return condition(o, "Available").value("status", "") == "True" &&
               condition(o, "Degraded").value("status", "") == "False";
      },
      30s))
      << object("mail").dump(2);
  EXPECT_TRUE(eventually([] { return count_events("mail", "Recovered") >= 1; }, 10s));

  // Kill -9 a location: silent after its Lease expires, out of the verdict.
  ::kill(locations[0].process->pid(), SIGKILL);
  locations[0].process->stop(1s);
  ASSERT_TRUE(eventually(
      [] {
        return condition(object("mail"), "Available").value("message", "") ==
               "passing from 2 of 2 locations; silent: ap-south";
      },
      60s))
      << object("mail").dump(2);
  EXPECT_EQ(condition(object("mail"), "Available").value("status", ""), "True");

  // Gone for good: once its entry is older than --location-entry-retention
  // (120 s here), the verdict writer removes it (a JSON patch on another
  // manager's entry) and the location leaves the verdict.
  ASSERT_TRUE(eventually(
      [] {
        const json o = object("mail");
        const auto e = entries(o);
        return e.size() == 2 && !e.contains("ap-south") &&
               condition(o, "Available").value("message", "") == "passing from 2 of 2 locations";
      },
      170s))
      << object("mail").dump(2);

  for (auto& l : locations) l.process->stop();
}

}  // namespace
}  // namespace imapprobe
