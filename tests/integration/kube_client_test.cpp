// The Kubernetes client module against a real kube-apiserver (v1.37, with
// etcd), started once for this binary by tests/kube/cluster.sh: CRUD and
// errors, server-side apply (also to a CRD's status), watches (long-lived,
// across an API server restart, stopped promptly), Events folded into a
// series, Lease-based leader election and RBAC denial for a ServiceAccount.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "kube/client.hpp"
#include "kube/config.hpp"
#include "kube/events.hpp"
#include "kube/leader_election.hpp"
#include "kube/watch_loop.hpp"
#include "support/kube_cluster.hpp"

namespace imapprobe::kube {
namespace {
using imapprobe::testing::KubeCluster;
using namespace std::chrono;
using nlohmann::json;

template <typename Pred>
bool wait_until(Pred pred, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return pred();
}

// What a WatchLoop reported, for assertions from the test thread.
class Recorder {
 public:
  WatchLoop::Handlers handlers() {
    return {[this](const std::vector<json>& items) {
              std::lock_guard lock(mu_);
              ++syncs_;
              current_.clear();
              for (const auto& i : items) current_[name(i)] = i;
            },
            [this](const json& o) {
              std::lock_guard lock(mu_);
              current_[name(o)] = o;
              upserts_.push_back(name(o));
            },
            [this](const json& o) {
              std::lock_guard lock(mu_);
              current_.erase(name(o));
              deletes_.push_back(name(o));
            },
            {},
            {}};
  }
  int syncs() const {
    std::lock_guard lock(mu_);
    return syncs_;
  }
  bool has(const std::string& n) const {
    std::lock_guard lock(mu_);
    return current_.count(n) > 0;
  }
  std::string data(const std::string& n, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = current_.find(n);
    if (it == current_.end() || !it->second.contains("data")) return {};
    return it->second["data"].value(key, std::string{});
  }
  bool deleted(const std::string& n) const {
    std::lock_guard lock(mu_);
    return std::find(deletes_.begin(), deletes_.end(), n) != deletes_.end();
  }

 private:
  static std::string name(const json& o) { return o["metadata"]["name"].get<std::string>(); }
  mutable std::mutex mu_;
  int syncs_ = 0;
  std::map<std::string, json> current_;
  std::vector<std::string> upserts_;
  std::vector<std::string> deletes_;
};

class KubeClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto start = steady_clock::now();
    try {
      cluster_ = std::make_unique<KubeCluster>();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
    std::fprintf(
        stderr, "kube-apiserver start took %lld ms\n",
        static_cast<long long>(duration_cast<milliseconds>(steady_clock::now() - start).count()));
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override { ASSERT_NE(cluster_, nullptr) << "no API server: " << start_error_; }

  static std::unique_ptr<Client> admin(milliseconds timeout = seconds(30)) {
    return std::make_unique<Client>(ClusterConfig::from_kubeconfig(cluster_->kubeconfig()),
                                    timeout);
  }

  static void make_namespace(Client& client, const std::string& ns) {
    try {
      client.create("/api/v1/namespaces",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    } catch (const ApiError& e) {
      if (!e.conflict()) throw;
    }
  }

  static json config_map(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}}},
            {"data", {{"v", value}}}};
  }

  // Writes that must land even while the server is coming back up.
  static void create_retrying(Client& client, const std::string& path, const json& body) {
    const auto deadline = steady_clock::now() + seconds(60);
    for (;;) {
      try {
        client.create(path, body);
        return;
      } catch (const ApiError& e) {
        if (e.conflict()) return;
        if (steady_clock::now() > deadline) throw;
        std::this_thread::sleep_for(milliseconds(250));
      }
    }
  }

  static inline std::unique_ptr<KubeCluster> cluster_;
  static inline std::string start_error_;
};

TEST_F(KubeClientTest, VersionAndNamespacesFromTheKubeconfig) {
  const auto cfg = ClusterConfig::from_kubeconfig(cluster_->kubeconfig());
  EXPECT_EQ(cfg.server.rfind("https://127.0.0.1:", 0), 0u) << cfg.server;
  EXPECT_FALSE(cfg.ca_pem.empty());
  EXPECT_FALSE(cfg.client_cert_pem.empty());
  EXPECT_FALSE(cfg.client_key_pem.empty());

  Client client(cfg);
  const json version = client.get("/version");
  EXPECT_EQ(version.value("gitVersion", ""), "v1.37.2") << version.dump();

  const json list = client.get("/api/v1/namespaces");
  std::set<std::string> names;
  for (const auto& ns : list["items"]) names.insert(ns["metadata"]["name"].get<std::string>());
  EXPECT_TRUE(names.count("default")) << list.dump();
  EXPECT_TRUE(names.count("kube-system")) << list.dump();
  EXPECT_TRUE(list["metadata"]["resourceVersion"].is_string());
  EXPECT_GE(client.request_counts().at({"GET", 200}), 2u);
}

TEST_F(KubeClientTest, ConfigMapCreateGetReplaceRemove) {
  auto client = admin();
  make_namespace(*client, "crud");
  const std::string coll = "/api/v1/namespaces/crud/configmaps";
  const json created = client->create(coll, config_map("c1", "one"));
  EXPECT_EQ(created["metadata"]["name"], "c1");
  EXPECT_TRUE(created["metadata"]["resourceVersion"].is_string());

  json got = client->get(coll + "/c1");
  EXPECT_EQ(got["data"]["v"], "one");

  got["data"]["v"] = "two";
  const json replaced = client->replace(coll + "/c1", got);
  EXPECT_EQ(replaced["data"]["v"], "two");
  EXPECT_NE(replaced["metadata"]["resourceVersion"], got["metadata"]["resourceVersion"]);

  // The resourceVersion read before is stale now: optimistic concurrency.
  try {
    client->replace(coll + "/c1", got);
    ADD_FAILURE() << "stale replace accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.reason(), "Conflict");
  }

  client->remove(coll + "/c1");
  try {
    client->get(coll + "/c1");
    FAIL() << "deleted ConfigMap still there";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_TRUE(e.not_found());
    EXPECT_EQ(e.reason(), "NotFound");
    EXPECT_NE(e.api_message().find("\"c1\" not found"), std::string::npos) << e.api_message();
    EXPECT_EQ(
        std::string(e.what()).rfind("GET /api/v1/namespaces/crud/configmaps/c1: 404 NotFound: ", 0),
        0u)
        << e.what();
  }
  const auto counts = client->request_counts();
  EXPECT_EQ(counts.at({"DELETE", 200}), 1u);
  EXPECT_EQ(counts.at({"GET", 404}), 1u);
  EXPECT_EQ(counts.at({"PUT", 409}), 1u);
}

TEST_F(KubeClientTest, CreatingAnExistingObjectIsAConflict) {
  auto client = admin();
  make_namespace(*client, "dup");
  const std::string coll = "/api/v1/namespaces/dup/configmaps";
  client->create(coll, config_map("same", "1"));
  try {
    client->create(coll, config_map("same", "2"));
    FAIL() << "second create accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_TRUE(e.conflict());
    EXPECT_EQ(e.reason(), "AlreadyExists");
    EXPECT_NE(std::string(e.what()).find("POST /api/v1/namespaces/dup/configmaps: 409"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(KubeClientTest, ServerSideApplyOfAConfigMapAndOfACustomResourceStatus) {
  auto client = admin();
  make_namespace(*client, "apply");
  const std::string cm = "/api/v1/namespaces/apply/configmaps/applied";
  json applied =
      client->patch(cm, config_map("applied", "v1"), PatchType::Apply, "kube-client-test");
  EXPECT_EQ(applied["data"]["v"], "v1");
  applied = client->patch(cm, config_map("applied", "v2"), PatchType::Apply, "kube-client-test");
  EXPECT_EQ(applied["data"]["v"], "v2");
  bool managed = false;
  for (const auto& m : applied["metadata"]["managedFields"]) {
    managed |= m.value("manager", "") == "kube-client-test" && m.value("operation", "") == "Apply";
  }
  EXPECT_TRUE(managed) << applied["metadata"].dump();

  const std::string crd_file = cluster_->workdir() + "/widgets-crd.yaml";
  std::ofstream(crd_file) << R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.imapprobe.dev
spec:
  group: test.imapprobe.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
              observedSize: {type: integer}
)";
  int rc = 0;
  std::string out = cluster_->kubectl("apply -f " + crd_file, &rc);
  ASSERT_EQ(rc, 0) << out;
  out = cluster_->kubectl(
      "wait --for=condition=Established crd/widgets.test.imapprobe.dev --timeout=60s", &rc);
  ASSERT_EQ(rc, 0) << out;

  const std::string coll = "/apis/test.imapprobe.dev/v1/namespaces/apply/widgets";
  const json widget = {{"apiVersion", "test.imapprobe.dev/v1"},
                       {"kind", "Widget"},
                       {"metadata", {{"name", "w1"}}},
                       {"spec", {{"size", 3}}}};
  // Established can precede the moment the new REST path is served.
  ASSERT_TRUE(wait_until(
      [&] {
        try {
          client->create(coll, widget);
          return true;
        } catch (const ApiError& e) {
          return e.conflict();
        }
      },
      seconds(20)));

  const json status = {{"apiVersion", "test.imapprobe.dev/v1"},
                       {"kind", "Widget"},
                       {"metadata", {{"name", "w1"}}},
                       {"status", {{"phase", "Ready"}, {"observedSize", 3}}}};
  const json after =
      client->patch(coll + "/w1/status", status, PatchType::Apply, "kube-client-test");
  EXPECT_EQ(after["status"]["phase"], "Ready");
  const json read = client->get(coll + "/w1");
  EXPECT_EQ(read["status"]["phase"], "Ready");
  EXPECT_EQ(read["status"]["observedSize"], 3);
  EXPECT_EQ(read["spec"]["size"], 3);  // the status apply left spec alone

  // A merge patch through the main resource does not touch status.
  client->patch(coll + "/w1", {{"spec", {{"size", 4}}}, {"status", {{"phase", "Ignored"}}}},
                PatchType::Merge);
  const json merged = client->get(coll + "/w1");
  EXPECT_EQ(merged["spec"]["size"], 4);
  EXPECT_EQ(merged["status"]["phase"], "Ready");
}

TEST_F(KubeClientTest, WatchLoopSyncsAndDeliversChangesAndStopsPromptly) {
  auto client = admin();
  make_namespace(*client, "watch");
  const std::string coll = "/api/v1/namespaces/watch/configmaps";
  client->create(coll, config_map("before", "0"));

  Recorder rec;
  WatchLoop loop(*client, coll, rec.handlers());
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });

  ASSERT_TRUE(wait_until([&] { return loop.synced(); }, seconds(20)));
  EXPECT_EQ(rec.syncs(), 1);
  EXPECT_TRUE(rec.has("before"));

  client->create(coll, config_map("added", "1"));
  EXPECT_TRUE(wait_until([&] { return rec.has("added"); }, seconds(20)));

  json obj = client->get(coll + "/added");
  obj["data"]["v"] = "2";
  client->replace(coll + "/added", obj);
  EXPECT_TRUE(wait_until([&] { return rec.data("added", "v") == "2"; }, seconds(20)));

  client->remove(coll + "/before");
  EXPECT_TRUE(wait_until([&] { return rec.deleted("before") && !rec.has("before"); }, seconds(20)));

  const auto stop_at = steady_clock::now();
  stop.request_stop();
  runner.join();
  const auto took = steady_clock::now() - stop_at;
  EXPECT_LT(took, seconds(2)) << duration_cast<milliseconds>(took).count() << " ms";
  EXPECT_EQ(loop.relists(), 0u);
  EXPECT_EQ(loop.watch_restarts(), 0u);
}

// The Secret cache's watch: the API server sends Secrets' metadata only,
// never their data, in the list and in the watch events.
TEST_F(KubeClientTest, AMetadataOnlyWatchOfSecretsNeverCarriesTheirData) {
  auto client = admin();
  make_namespace(*client, "meta");
  const std::string coll = "/api/v1/namespaces/meta/secrets";
  client->create(coll, {{"apiVersion", "v1"},
                        {"kind", "Secret"},
                        {"metadata", {{"name", "before"}}},
                        {"stringData", {{"password", "listed-secret-bytes"}}}});
  std::mutex mu;
  std::vector<json> seen;
  std::vector<std::string> listed;
  WatchLoop::Handlers h;
  h.on_page = [&](std::vector<json> page) {
    std::lock_guard lock(mu);
    for (auto& o : page) seen.push_back(std::move(o));
  };
  h.on_listed = [&](const std::vector<std::string>& keys) {
    std::lock_guard lock(mu);
    listed = keys;
  };
  h.on_upsert = [&](const json& o) {
    std::lock_guard lock(mu);
    seen.push_back(o);
  };
  WatchLoop::Options options;
  options.metadata_only = true;
  WatchLoop loop(*client, coll, h, options);
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });
  ASSERT_TRUE(wait_until([&] { return loop.synced(); }, seconds(20)));
  client->create(coll, {{"apiVersion", "v1"},
                        {"kind", "Secret"},
                        {"metadata", {{"name", "after"}}},
                        {"stringData", {{"password", "watched-secret-bytes"}}}});
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return std::any_of(seen.begin(), seen.end(),
                           [](const json& o) { return o["metadata"]["name"] == "after"; });
      },
      seconds(20)));
  stop.request_stop();
  runner.join();
  std::lock_guard lock(mu);
  EXPECT_NE(std::find(listed.begin(), listed.end(), "meta/before"), listed.end());
  for (const json& o : seen) {
    EXPECT_EQ(o.value("kind", ""), "PartialObjectMetadata") << o.dump();
    EXPECT_FALSE(o.contains("data")) << o.dump();
    EXPECT_FALSE(o["metadata"].value("resourceVersion", "").empty()) << o.dump();
    EXPECT_EQ(o.dump().find("secret-bytes"), std::string::npos) << o.dump();
  }
}

TEST_F(KubeClientTest, WatchIsNotCutAfterThirtySeconds) {
  auto client = admin();
  make_namespace(*client, "longwatch");
  const std::string coll = "/api/v1/namespaces/longwatch/configmaps";
  Recorder rec;
  WatchLoop loop(*client, coll, rec.handlers());
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });
  ASSERT_TRUE(wait_until([&] { return loop.synced(); }, seconds(20)));

  std::this_thread::sleep_for(seconds(36));
  client->create(coll, config_map("late", "1"));
  EXPECT_TRUE(wait_until([&] { return rec.has("late"); }, seconds(10)));

  stop.request_stop();
  runner.join();
  // One watch request, still open after 36 s of silence: no reconnect.
  EXPECT_EQ(client->request_counts().at({"WATCH", 200}), 1u);
  EXPECT_EQ(loop.watch_restarts(), 0u);
  EXPECT_EQ(loop.relists(), 0u);
}

TEST_F(KubeClientTest, WatchLoopResumesAfterApiServerRestart) {
  auto client = admin(seconds(10));
  make_namespace(*client, "restart");
  const std::string coll = "/api/v1/namespaces/restart/configmaps";
  Recorder rec;
  WatchLoop::Options options;
  options.initial_backoff = milliseconds(200);
  options.max_backoff = seconds(2);
  WatchLoop loop(*client, coll, rec.handlers(), options);
  std::stop_source stop;
  std::jthread runner([&] { loop.run(stop.get_token()); });
  ASSERT_TRUE(wait_until([&] { return loop.synced(); }, seconds(20)));

  client->create(coll, config_map("before-restart", "1"));
  ASSERT_TRUE(wait_until([&] { return rec.has("before-restart"); }, seconds(20)));

  const auto restart_at = steady_clock::now();
  cluster_->restart();
  std::fprintf(stderr, "API server restart took %lld ms\n",
               static_cast<long long>(
                   duration_cast<milliseconds>(steady_clock::now() - restart_at).count()));

  create_retrying(*client, coll, config_map("after-restart", "1"));
  EXPECT_TRUE(wait_until([&] { return rec.has("after-restart"); }, seconds(60)));
  EXPECT_TRUE(rec.has("before-restart"));

  const auto stop_at = steady_clock::now();
  stop.request_stop();
  runner.join();
  EXPECT_LT(steady_clock::now() - stop_at, seconds(2));
  std::fprintf(stderr, "after restart: watch_restarts=%llu relists=%llu\n",
               static_cast<unsigned long long>(loop.watch_restarts()),
               static_cast<unsigned long long>(loop.relists()));
}

TEST_F(KubeClientTest, EventRecorderFoldsRepeatsIntoOneEventSeries) {
  auto client = admin();
  make_namespace(*client, "events");
  const json subject =
      client->create("/api/v1/namespaces/events/configmaps", config_map("subject", "x"));
  const ObjectRef ref{"v1", "ConfigMap", "events", "subject",
                      subject["metadata"]["uid"].get<std::string>()};
  EventRecorder recorder(*client, "imapprobe.dev/kube-client-test", "kube-client-test-1");
  const std::string events = "/apis/events.k8s.io/v1/namespaces/events/events";

  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "login failed: " + std::string(3000, 'x'));
  json list = client->get(events);
  ASSERT_EQ(list["items"].size(), 1u) << list.dump();
  const json first = list["items"][0];
  EXPECT_EQ(first["type"], "Warning");
  EXPECT_EQ(first["reason"], "ProbeFailed");
  EXPECT_EQ(first["action"], "Probe");
  EXPECT_EQ(first["reportingController"], "imapprobe.dev/kube-client-test");
  EXPECT_EQ(first["reportingInstance"], "kube-client-test-1");
  EXPECT_EQ(first["regarding"]["uid"], ref.uid);
  EXPECT_EQ(first["regarding"]["kind"], "ConfigMap");
  EXPECT_LE(first["note"].get<std::string>().size(), 1024u);
  EXPECT_EQ(first["metadata"]["name"].get<std::string>().rfind("subject.", 0), 0u);
  EXPECT_FALSE(first.contains("series"));

  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "login failed again");
  list = client->get(events);
  ASSERT_EQ(list["items"].size(), 1u) << list.dump();
  const json second = list["items"][0];
  EXPECT_EQ(second["metadata"]["name"], first["metadata"]["name"]);
  EXPECT_EQ(second["series"]["count"], 2);
  const std::string last = second["series"]["lastObservedTime"].get<std::string>();
  EXPECT_EQ(last.size(), std::string("2026-11-25T21:00:00.000000Z").size()) << last;

  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "third");
  EXPECT_EQ(
      client->get(events + "/" + first["metadata"]["name"].get<std::string>())["series"]["count"],
      3);

  // Another reason is another Event.
  recorder.emit(ref, "Normal", "ProbeSucceeded", "Probe", "ok");
  EXPECT_EQ(client->get(events)["items"].size(), 2u);

  // The folded-into Event is gone (TTL): the next repeat creates a new one.
  client->remove(events + "/" + first["metadata"]["name"].get<std::string>());
  recorder.emit(ref, "Warning", "ProbeFailed", "Probe", "after expiry");
  list = client->get(events);
  ASSERT_EQ(list["items"].size(), 2u) << list.dump();
  for (const auto& e : list["items"]) {
    EXPECT_NE(e["metadata"]["name"], first["metadata"]["name"]);
    EXPECT_FALSE(e.contains("series"));
  }
}

TEST_F(KubeClientTest, LeaderElectionOneLeaderAndHandOverOnStop) {
  {
    auto setup = admin();
    make_namespace(*setup, "leader");
  }
  struct Candidate {
    std::unique_ptr<Client> client;
    std::unique_ptr<LeaderElector> elector;
    std::atomic<int> started{0};
    std::atomic<int> stopped{0};
    std::stop_source stop;
    std::jthread thread;
  };
  auto make = [&](const std::string& identity) {
    auto c = std::make_unique<Candidate>();
    c->client = admin(seconds(5));
    LeaderElector::Options o;
    o.namespace_ = "leader";
    o.name = "imapprobe-leader";
    o.identity = identity;
    o.lease_duration = seconds(6);
    o.renew_deadline = seconds(4);
    o.retry_period = seconds(1);
    c->elector = std::make_unique<LeaderElector>(*c->client, o);
    Candidate* raw = c.get();
    c->thread = std::jthread([raw] {
      raw->elector->run(
          raw->stop.get_token(), [raw] { ++raw->started; }, [raw] { ++raw->stopped; });
    });
    return c;
  };
  auto a = make("candidate-a");
  auto b = make("candidate-b");

  ASSERT_TRUE(
      wait_until([&] { return a->elector->is_leader() || b->elector->is_leader(); }, seconds(15)));
  // Over a few renewals, never two leaders and never none.
  for (int i = 0; i < 30; ++i) {
    EXPECT_NE(a->elector->is_leader(), b->elector->is_leader()) << "sample " << i;
    std::this_thread::sleep_for(milliseconds(100));
  }
  Candidate& leader = a->elector->is_leader() ? *a : *b;
  Candidate& follower = a->elector->is_leader() ? *b : *a;
  EXPECT_EQ(leader.started, 1);
  EXPECT_EQ(follower.started, 0);

  auto client = admin();
  const std::string lease_path =
      "/apis/coordination.k8s.io/v1/namespaces/leader/leases/imapprobe-leader";
  json lease = client->get(lease_path);
  const std::string first_holder = lease["spec"]["holderIdentity"];
  EXPECT_TRUE(leader.elector.get() == (first_holder == "candidate-a" ? a : b)->elector.get());
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 6);
  const int transitions = lease["spec"].value("leaseTransitions", 0);

  const auto stop_at = steady_clock::now();
  leader.stop.request_stop();
  leader.thread.join();
  EXPECT_LT(steady_clock::now() - stop_at, seconds(5));
  EXPECT_FALSE(leader.elector->is_leader());
  EXPECT_EQ(leader.stopped, 1);

  // Released, so the follower does not wait out the 6 s lease.
  const auto handover_start = steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return follower.elector->is_leader(); }, seconds(5)));
  std::fprintf(stderr, "leadership handed over in %lld ms\n",
               static_cast<long long>(
                   duration_cast<milliseconds>(steady_clock::now() - handover_start).count()));
  EXPECT_EQ(follower.started, 1);
  lease = client->get(lease_path);
  EXPECT_NE(lease["spec"]["holderIdentity"], first_holder);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], transitions + 1);
  const std::string renew = lease["spec"]["renewTime"];
  EXPECT_EQ(renew.size(), std::string("2026-11-25T21:00:00.000000Z").size()) << renew;

  follower.stop.request_stop();
  follower.thread.join();
  EXPECT_EQ(follower.stopped, 1);
  lease = client->get(lease_path);
  EXPECT_EQ(lease["spec"].value("holderIdentity", ""), "");
}

TEST_F(KubeClientTest, ServiceAccountWithoutRbacIsForbidden) {
  const std::string path = cluster_->sa_kubeconfig("rbac-test", "nobody");
  const auto cfg = ClusterConfig::from_kubeconfig(path);
  EXPECT_FALSE(cfg.token.empty());
  EXPECT_TRUE(cfg.client_cert_pem.empty());
  EXPECT_EQ(cfg.default_namespace, "rbac-test");
  Client client(cfg);
  try {
    client.get("/api/v1/namespaces/rbac-test/configmaps");
    FAIL() << "listing without RBAC succeeded";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 403);
    EXPECT_EQ(e.reason(), "Forbidden");
    const std::string& m = e.api_message();
    EXPECT_NE(m.find("system:serviceaccount:rbac-test:nobody"), std::string::npos) << m;
    EXPECT_NE(m.find("cannot list resource \"configmaps\""), std::string::npos) << m;
    EXPECT_NE(std::string(e.what()).find("403 Forbidden"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.request_counts().at({"GET", 403}), 1u);
}

}  // namespace
}  // namespace imapprobe::kube
