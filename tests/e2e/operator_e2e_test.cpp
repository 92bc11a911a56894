// End to end: the operator binary against a real kube-apiserver and a real
// Dovecot, driven with kubectl the way a user would.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/dovecot.hpp"
#include "support/fake_server.hpp"
#include "support/hydra.hpp"
#include "support/kube_cluster.hpp"
#include "support/postfix.hpp"
#include "support/process.hpp"

namespace imapprobe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Dovecot;
using testing::eventually;
using testing::KubeCluster;
using testing::Postfix;
using testing::Process;

// The GitOps judges, run on objects read from the API server: kstatus (Flux,
// Helm 4 --wait) and the shipped Argo CD health check under gopher-lua.
// Built by tests/gitops/build.sh (tests/tools.sh) before any test runs.
std::string gitops_bin() {
  std::string out;
  const int rc = testing::run_command(
      "bash " + std::string(IMAPPROBE_SOURCE_DIR) + "/tests/gitops/build.sh --check", out);
  if (rc != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class OperatorE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dovecot_ = std::make_unique<Dovecot>();
    cluster_ = std::make_unique<KubeCluster>();
    ASSERT_EQ(cluster_->install_crd(), "");
    operator_a_ = start_operator("a");
    ASSERT_TRUE(eventually(
        [] { return operator_a_->log().find("is the leader") != std::string::npos; }, 30s))
        << operator_a_->log();
  }
  static void TearDownTestSuite() {
    operator_b_.reset();
    operator_a_.reset();
    cluster_.reset();
    dovecot_.reset();
  }

  // The suite's operators use the Secret cache (the admin kubeconfig may
  // list and watch Secrets); `solo` in the outage test reads them per run.
  static std::unique_ptr<Process> start_operator(const std::string& id, bool leader_elect = true) {
    const std::string log = cluster_->workdir() + "/operator-" + id + ".log";
    return std::make_unique<Process>(
        std::vector<std::string>{
            IMAPPROBE_BINARY, "operator", "--kubeconfig", cluster_->kubeconfig(),
            leader_elect ? "--leader-elect=true" : "--leader-elect=false",
            "--leader-election-namespace", "default", "--identity", "operator-" + id,
            "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
            // Short, so that the tests see heartbeat writes within their time.
            "--status-heartbeat", "15s",
            leader_elect ? "--secret-cache=true" : "--secret-cache=false"},
        log);
  }

  static std::string kubectl(const std::string& args, int* rc = nullptr) {
    return cluster_->kubectl(args, rc);
  }

  // Applies YAML given as a string.
  static void apply(const std::string& yaml) {
    const std::string path = cluster_->workdir() + "/manifest.yaml";
    std::ofstream(path) << yaml;
    int rc = 0;
    const std::string out = kubectl("apply -f " + path, &rc);
    ASSERT_EQ(rc, 0) << out << "\n" << yaml;
  }

  static void create_namespace(const std::string& ns) {
    int rc = 0;
    kubectl("create namespace " + ns, &rc);
  }

  static void secret(const std::string& ns, const std::string& name, const std::string& user,
                     const std::string& password) {
    int rc = 0;
    kubectl("-n " + ns + " delete secret " + name + " --ignore-not-found", &rc);
    const std::string out =
        kubectl("-n " + ns + " create secret generic " + name + " --from-literal=username=" + user +
                    " --from-literal=password=" + password,
                &rc);
    ASSERT_EQ(rc, 0) << out;
  }

  static void ca_secret(const std::string& ns) {
    int rc = 0;
    const std::string out =
        kubectl("-n " + ns +
                    " create secret generic test-ca --from-file=ca.crt=" + dovecot_->get("CA_FILE"),
                &rc);
    ASSERT_EQ(rc, 0) << out;
  }

  static std::string probe_yaml(const std::string& ns, const std::string& name,
                                const std::string& port_key, const std::string& extra = "") {
    return "apiVersion: imapprobe.dev/v1alpha1\nkind: ImapProbe\nmetadata:\n  name: " + name +
           "\n  namespace: " + ns +
           "\nspec:\n  server:\n    host: localhost\n    port: " + dovecot_->get(port_key) +
           "\n    caBundleSecretRef: {name: test-ca}\n  auth:\n    mechanism: Plain\n    "
           "secretRef: {name: creds}\n"
           "  search: ALL\n  fetch: {latest: 3}\n  interval: 10s\n  timeout: 5s\n  "
           "failureThreshold: 1\n" +
           extra;
  }

  static json get(const std::string& ns, const std::string& name) {
    int rc = 0;
    const std::string out = kubectl("-n " + ns + " get imapprobe " + name + " -o json", &rc);
    if (rc != 0) return json::object();
    try {
      return json::parse(out);
    } catch (const json::exception&) {
      return json::object();
    }
  }

  static std::string condition(const json& probe, const std::string& type,
                               const char* field = "status") {
    if (!probe.contains("status") || !probe["status"].contains("conditions")) return "";
    for (const auto& c : probe["status"]["conditions"]) {
      if (c.value("type", "") == type) return c.value(field, "");
    }
    return "";
  }

  static json events(const std::string& ns, const std::string& name) {
    int rc = 0;
    const std::string out =
        kubectl("-n " + ns + " get events.events.k8s.io --field-selector regarding.name=" + name +
                    " -o json",
                &rc);
    if (rc != 0) return json::array();
    return json::parse(out).value("items", json::array());
  }

  static int count_events(const std::string& ns, const std::string& name,
                          const std::string& reason) {
    int n = 0;
    for (const auto& e : events(ns, name)) n += e.value("reason", "") == reason;
    return n;
  }

  // "<Status> <message>" as a GitOps judge (tests/gitops) prints it for one
  // object read from the API server; "ERROR ..." when it could not judge.
  static std::string judge(const std::string& tool, const std::string& ns,
                           const std::string& name) {
    const std::string bin = gitops_bin();
    if (bin.empty()) return "ERROR tests/gitops/build.sh has not built kstatus and argocdhealth";
    const std::string path = cluster_->workdir() + "/judged-" + ns + "-" + name + ".json";
    std::ofstream(path) << get(ns, name).dump();
    std::string cmd = bin + "/" + tool;
    if (tool == "argocdhealth") {
      cmd += " " + std::string(IMAPPROBE_SOURCE_DIR) +
             "/charts/imap-probe-operator/files/argocd-health.lua";
    }
    std::string out;
    const int rc = testing::run_command(cmd + " < " + path, out);
    if (rc != 0) return "ERROR " + out;
    const auto space = out.find(' ');
    out = space == std::string::npos ? out : out.substr(space + 1);  // drop "ns/name "
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  static bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
  }

  // The port operator a serves /metrics on, from its log ("" before it says).
  static std::string metrics_port() { return testing::logged_metrics_port(operator_a_->log()); }
  static std::string metrics_text() {
    std::string out;
    if (testing::run_command("curl -sf http://127.0.0.1:" + metrics_port() + "/metrics", out) != 0)
      return "";
    return out;
  }
  // A sample's value on /metrics (the line starting with `series`), or -1.
  static double metric(const std::string& series) {
    const std::string text = metrics_text();
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  void setup_namespace(const std::string& ns) {
    create_namespace(ns);
    ca_secret(ns);
    secret(ns, "creds", dovecot_->get("PROBE_USER"), dovecot_->get("PROBE_PASSWORD"));
  }

  static std::unique_ptr<Dovecot> dovecot_;
  static std::unique_ptr<KubeCluster> cluster_;
  static std::unique_ptr<Process> operator_a_;
  static std::unique_ptr<Process> operator_b_;
};
std::unique_ptr<Dovecot> OperatorE2E::dovecot_;
std::unique_ptr<KubeCluster> OperatorE2E::cluster_;
std::unique_ptr<Process> OperatorE2E::operator_a_;
std::unique_ptr<Process> OperatorE2E::operator_b_;

TEST_F(OperatorE2E, ProbeBecomesReadyAndAvailableWithStepDurations) {
  setup_namespace("e2e-ok");
  apply(probe_yaml("e2e-ok", "corp", "IMAPS_PORT"));
  int rc = 0;
  std::string out =
      kubectl("-n e2e-ok wait --for=condition=Ready imapprobe/corp --timeout=60s", &rc);
  ASSERT_EQ(rc, 0) << out << operator_a_->log();
  out = kubectl("-n e2e-ok wait --for=condition=Available imapprobe/corp --timeout=30s", &rc);
  ASSERT_EQ(rc, 0) << out;
  const json p = get("e2e-ok", "corp");
  EXPECT_EQ(p["status"]["observedGeneration"], p["metadata"]["generation"]);
  const json& d = p["status"]["lastRun"]["durations"];
  for (const char* step : {"dns", "connect", "tls", "greeting", "login", "select", "search",
                           "fetch", "logout", "total"}) {
    EXPECT_TRUE(d.contains(step)) << step << " missing in " << d.dump();
  }
  EXPECT_EQ(p["status"]["certificate"]["verified"], true);
  EXPECT_GT(p["status"]["certificate"]["daysRemaining"].get<int>(), 300);
  const std::string table = kubectl("-n e2e-ok get imapprobes");
  EXPECT_NE(table.find("AVAILABLE"), std::string::npos) << table;
  EXPECT_NE(table.find("Succeeded"), std::string::npos) << table;
  std::cout << "\n$ kubectl -n e2e-ok get imapprobes -o wide\n"
            << kubectl("-n e2e-ok get imapprobes -o wide");
  // Secrets never reach status or events.
  EXPECT_EQ(p.dump().find(dovecot_->get("PROBE_PASSWORD")), std::string::npos);

  // /metrics serves the probe's series, in a format promtool accepts.
  const std::string port = metrics_port();
  ASSERT_FALSE(port.empty()) << operator_a_->log();
  const std::string metrics = metrics_text();
  EXPECT_NE(metrics.find("imapprobe_probe_success{namespace=\"e2e-ok\",name=\"corp\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("imapprobe_operator_api_request_duration_seconds_count{verb=\"PATCH\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("imapprobe_operator_api_requests_total{verb=\"PATCH\""),
            std::string::npos);
  std::string check;
  EXPECT_EQ(testing::run_command(
                "curl -sf http://127.0.0.1:" + port + "/metrics | promtool check metrics", check),
            0)
      << check;
  EXPECT_EQ(metrics.find(dovecot_->get("PROBE_PASSWORD")), std::string::npos);
}

// ipFamily Both through the real API server: the families survive the CRD's
// structural schema (an unknown status field would be pruned) and reach
// /metrics. localhost resolves to 127.0.0.1 only here: one family.
TEST_F(OperatorE2E, IpFamilyBothReportsEachFamilyInStatus) {
  setup_namespace("e2e-both");
  std::string yaml = probe_yaml("e2e-both", "corp", "IMAPS_PORT");
  const std::string host = "    host: localhost\n";
  yaml.replace(yaml.find(host), host.size(), host + "    ipFamily: Both\n");
  apply(yaml);
  int rc = 0;
  const std::string out =
      kubectl("-n e2e-both wait --for=condition=Available imapprobe/corp --timeout=60s", &rc);
  ASSERT_EQ(rc, 0) << out << operator_a_->log();
  const json p = get("e2e-both", "corp");
  const json& families = p["status"]["lastRun"]["families"];
  ASSERT_EQ(families.size(), 1u) << p["status"].dump(2);
  EXPECT_EQ(families[0]["family"], "IPv4");
  EXPECT_EQ(families[0]["outcome"], "Success");
  EXPECT_EQ(families[0]["remoteAddress"], "127.0.0.1:" + dovecot_->get("IMAPS_PORT"));
  EXPECT_TRUE(families[0].contains("total"));
}

// The delivery check and the content checks through the real API server,
// against Postfix delivering to the suite's Dovecot: their status fields
// survive the CRD's structural schema, the SMTP credentials come from their
// own Secret, and /metrics has the delivery histogram.
TEST_F(OperatorE2E, DeliveryAndContentChecksReachStatusAndMetrics) {
  Postfix postfix(*dovecot_);
  setup_namespace("e2e-mail");
  secret("e2e-mail", "smtp-creds", postfix.get("SMTP_USER"), postfix.get("SMTP_PASSWORD"));
  apply(probe_yaml("e2e-mail", "flow", "IMAPS_PORT",
                   "  contentChecks:\n    messageCount: {min: 1, max: 1000}\n"
                   "    newestMessage: {maxAge: 100h}\n"
                   "  delivery:\n    host: 127.0.0.1\n    port: " +
                       postfix.get("SUBMISSION_PORT") +
                       "\n    serverName: localhost\n    secretRef: {name: smtp-creds}\n"
                       "    from: probe@imap.test\n    to: probe@imap.test\n    timeout: 3s\n"));
  int rc = 0;
  const std::string out =
      kubectl("-n e2e-mail wait --for=condition=Available imapprobe/flow --timeout=60s", &rc);
  const json p = get("e2e-mail", "flow");
  kubectl("-n e2e-mail delete imapprobe flow --wait=true", &rc);  // no canaries after this test
  ASSERT_EQ(condition(p, "Available"), "True") << out << p["status"].dump(2) << operator_a_->log();
  const json& last = p["status"]["lastRun"];
  for (const char* step : {"checks", "smtpConnect", "smtpTls", "smtpEhlo", "smtpAuth", "smtpSend",
                           "delivery", "deliveryCleanup"}) {
    EXPECT_TRUE(last["durations"].contains(step)) << step << " missing in " << last.dump(2);
  }
  ASSERT_TRUE(last.contains("delivery")) << last.dump(2);
  EXPECT_TRUE(last["delivery"].contains("latency")) << last.dump(2);
  EXPECT_FALSE(last["delivery"].value("queueId", "").empty()) << last.dump(2);
  EXPECT_EQ(last["delivery"]["foundIn"], "INBOX");
  ASSERT_TRUE(last.contains("content")) << last.dump(2);
  EXPECT_GE(last["content"]["messageCount"].get<int>(), 10);
  EXPECT_TRUE(last["content"].contains("newestMessageAge")) << last.dump(2);
  EXPECT_EQ(p.dump().find(postfix.get("SMTP_PASSWORD")), std::string::npos);
  EXPECT_NE(postfix.log().find(last["delivery"].value("queueId", "?")), std::string::npos);
}

// auth.oauth2 through the operator: it obtains the token from a real ORY
// Hydra, the test's second Dovecot checks each login's token there by
// introspection, later runs reuse the token, and neither the client secret
// nor any token Hydra issued (ory_at_...) reaches status, Events, the
// operator's log or /metrics.
TEST_F(OperatorE2E, OAuth2TokensAreObtainedByTheOperatorReusedAndNeverWritten) {
  testing::Hydra hydra;
  testing::DovecotOptions options;
  options.oauth2_introspection_url = hydra.introspection_url();
  const Dovecot oauth_dovecot(options);
  const std::string client_secret = "e2e-client-s3cret-4f1c";
  hydra.create_client("oauth", client_secret);
  const std::string ns = "e2e-oauth";
  create_namespace(ns);
  int rc = 0;
  std::string out = kubectl("-n " + ns + " create secret generic test-ca --from-file=ca.crt=" +
                                oauth_dovecot.get("CA_FILE"),
                            &rc);
  ASSERT_EQ(rc, 0) << out;
  out = kubectl("-n " + ns +
                    " create secret generic app --from-literal=username=oauth "
                    "--from-literal=client-secret=" +
                    client_secret,
                &rc);
  ASSERT_EQ(rc, 0) << out;
  apply(
      "apiVersion: imapprobe.dev/v1alpha1\nkind: ImapProbe\nmetadata:\n  name: mail\n"
      "  namespace: " +
      ns + "\nspec:\n  server:\n    host: localhost\n    port: " + oauth_dovecot.get("IMAPS_PORT") +
      "\n    caBundleSecretRef: {name: test-ca}\n"
      "  auth:\n    mechanism: XOAuth2\n    secretRef: {name: app}\n    oauth2:\n"
      "      tokenURL: " +
      hydra.token_url() +
      "\n      allowInsecureHTTP: true\n      clientID: oauth\n      scopes: [mail]\n"
      "      clientSecretRef: {name: app}\n"
      "  interval: 10s\n  timeout: 5s\n  failureThreshold: 1\n");
  out = kubectl("-n " + ns + " wait --for=condition=Available imapprobe/mail --timeout=60s", &rc);
  json p = get(ns, "mail");
  ASSERT_EQ(rc, 0) << out << p["status"].dump(2) << operator_a_->log();
  const json& durations = p["status"]["lastRun"]["durations"];
  EXPECT_TRUE(durations.contains("token")) << durations.dump();
  EXPECT_TRUE(durations.contains("login")) << durations.dump();

  // A second run logs in with the same token: one token request in all.
  const std::string runs =
      "imapprobe_probe_runs_total{namespace=\"" + ns + "\",name=\"mail\",reason=\"Succeeded\"}";
  EXPECT_TRUE(eventually([&] { return metric(runs) >= 2; }, 40s)) << metrics_text();
  EXPECT_EQ(hydra.token_requests(), 1) << hydra.log();

  p = get(ns, "mail");
  const std::string metrics = metrics_text();
  const std::string events = kubectl("-n " + ns + " get events -o json");
  const std::string log = operator_a_->log();
  for (const std::string& secret : {client_secret, std::string("ory_at_")}) {
    EXPECT_EQ(p.dump().find(secret), std::string::npos) << secret << " in status";
    EXPECT_EQ(events.find(secret), std::string::npos) << secret << " in events";
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in the operator's log";
    EXPECT_EQ(metrics.find(secret), std::string::npos) << secret << " in /metrics";
  }
  kubectl("-n " + ns + " delete imapprobe mail --wait=true", &rc);
}

TEST_F(OperatorE2E, BrokenPasswordIsAvailableFalseWithOneWarningThenRecovered) {
  setup_namespace("e2e-auth");
  apply(probe_yaml("e2e-auth", "corp", "IMAPS_PORT"));
  int rc = 0;
  kubectl("-n e2e-auth wait --for=condition=Available imapprobe/corp --timeout=60s", &rc);
  ASSERT_EQ(rc, 0) << operator_a_->log();
  secret("e2e-auth", "creds", dovecot_->get("PROBE_USER"), "wrong-password");
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-auth", "corp"), "Available") == "False"; }, 40s));
  json p = get("e2e-auth", "corp");
  EXPECT_EQ(condition(p, "Available", "reason"), "AuthFailed");
  EXPECT_EQ(condition(p, "Ready"), "True") << "a mail outage must not make Ready False";
  EXPECT_EQ(p["status"]["lastRun"]["failedStep"], "login");
  // Let it fail once more: still one Warning, no storm.
  const std::string first_run = p["status"]["lastRun"]["time"];
  ASSERT_TRUE(eventually(
      [&] { return get("e2e-auth", "corp")["status"]["lastRun"]["time"] != first_run; }, 30s));
  ASSERT_TRUE(eventually([] { return count_events("e2e-auth", "corp", "AuthFailed") >= 1; }, 10s));
  EXPECT_EQ(count_events("e2e-auth", "corp", "AuthFailed"), 1);
  for (const auto& e : events("e2e-auth", "corp")) {
    EXPECT_EQ(e.dump().find("wrong-password"), std::string::npos);
  }
  secret("e2e-auth", "creds", dovecot_->get("PROBE_USER"), dovecot_->get("PROBE_PASSWORD"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-auth", "corp"), "Available") == "True"; }, 40s));
  ASSERT_TRUE(eventually([] { return count_events("e2e-auth", "corp", "Recovered") == 1; }, 10s));
  const std::string described = kubectl("-n e2e-auth describe imapprobe corp");
  EXPECT_NE(described.find("Recovered"), std::string::npos) << described;
}

TEST_F(OperatorE2E, ExpiredCertificateIsReported) {
  setup_namespace("e2e-cert");
  apply(probe_yaml("e2e-cert", "expired", "IMAPS_EXPIRED_PORT"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-cert", "expired"), "Available") == "False"; }, 60s))
      << operator_a_->log();
  const json p = get("e2e-cert", "expired");
  EXPECT_EQ(condition(p, "Available", "reason"), "CertificateExpired");
  EXPECT_LT(p["status"]["certificate"]["daysRemaining"].get<int>(), 0);
  EXPECT_EQ(count_events("e2e-cert", "expired", "CertificateExpired"), 1);
}

TEST_F(OperatorE2E, MissingSecretIsStalled) {
  create_namespace("e2e-stall");
  ca_secret("e2e-stall");
  apply(probe_yaml("e2e-stall", "nosecret", "IMAPS_PORT"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-stall", "nosecret"), "Stalled") == "True"; }, 60s));
  const json p = get("e2e-stall", "nosecret");
  EXPECT_EQ(condition(p, "Stalled", "reason"), "SecretNotFound");
  EXPECT_EQ(condition(p, "Ready"), "False");
  EXPECT_NE(condition(p, "Stalled", "message").find("e2e-stall/creds"), std::string::npos);
  EXPECT_TRUE(operator_a_->running()) << "a missing secret must not crash the operator";
}

TEST_F(OperatorE2E, InvalidManifestIsRefusedByTheApiServer) {
  create_namespace("e2e-invalid");
  // The schema first; CEL rules run only on objects the schema accepts, so
  // each case is its own manifest. (crd_validation covers many more.)
  const std::pair<std::string, std::string> cases[] = {
      {"  server: {host: h, tls: SSL}\n  auth: {secretRef: {name: c}}\n",
       "spec.server.tls: Unsupported value: \"SSL\""},
      {"  server: {host: h}\n  auth: {secretRef: {name: c}}\n  interval: 30s\n  timeout: 1m\n",
       "timeout must be shorter than interval"},
      {"  server: {host: h}\n", "auth.secretRef is required unless auth.mechanism is None"},
  };
  const std::string path = cluster_->workdir() + "/invalid.yaml";
  for (const auto& [spec, message] : cases) {
    std::ofstream(path) << "apiVersion: imapprobe.dev/v1alpha1\nkind: ImapProbe\n"
                           "metadata: {name: bad, namespace: e2e-invalid}\nspec:\n"
                        << spec;
    int rc = 0;
    const std::string out = kubectl("apply -f " + path, &rc);
    EXPECT_NE(rc, 0) << spec;
    EXPECT_NE(out.find(message), std::string::npos) << out;
  }
}

TEST_F(OperatorE2E, EditingTheSpecRunsPromptlyAndReschedules) {
  setup_namespace("e2e-edit");
  apply(probe_yaml("e2e-edit", "corp", "IMAPS_PORT"));
  int rc = 0;
  kubectl("-n e2e-edit wait --for=condition=Ready imapprobe/corp --timeout=60s", &rc);
  ASSERT_EQ(rc, 0);
  kubectl(
      "-n e2e-edit patch imapprobe corp --type=merge -p "
      "'{\"spec\":{\"interval\":\"30s\",\"mailbox\":\"Archive\"}}'",
      &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_TRUE(eventually(
      [] {
        const json p = get("e2e-edit", "corp");
        return p["status"].value("observedGeneration", 0) ==
                   p["metadata"].value("generation", -1) &&
               condition(p, "Ready", "reason") == "Reporting";
      },
      10s))
      << "a spec change must run again promptly";
  const json p = get("e2e-edit", "corp");
  EXPECT_EQ(p["status"]["lastRun"]["messages"], 0) << "the Archive folder is empty";
  // nextRunTime is about 30 s after lastRun.
  std::tm last{}, next{};
  strptime(p["status"]["lastRun"]["time"].get<std::string>().c_str(), "%Y-%m-%dT%H:%M:%S", &last);
  strptime(p["status"]["nextRunTime"].get<std::string>().c_str(), "%Y-%m-%dT%H:%M:%S", &next);
  const auto gap = timegm(&next) - timegm(&last);
  EXPECT_GE(gap, 25);
  EXPECT_LE(gap, 36);
}

TEST_F(OperatorE2E, SuspendAndDeleteStopTheSchedule) {
  setup_namespace("e2e-del");
  apply(probe_yaml("e2e-del", "corp", "IMAPS_PORT"));
  int rc = 0;
  kubectl("-n e2e-del wait --for=condition=Ready imapprobe/corp --timeout=60s", &rc);
  ASSERT_EQ(rc, 0);
  kubectl("-n e2e-del patch imapprobe corp --type=merge -p '{\"spec\":{\"suspend\":true}}'", &rc);
  ASSERT_TRUE(eventually(
      [] { return condition(get("e2e-del", "corp"), "Ready", "reason") == "Suspended"; }, 10s));
  const std::string suspended_run = get("e2e-del", "corp")["status"]["lastRun"]["time"];
  std::this_thread::sleep_for(12s);
  EXPECT_EQ(get("e2e-del", "corp")["status"]["lastRun"]["time"], suspended_run)
      << "a suspended probe ran";
  kubectl("-n e2e-del delete imapprobe corp --wait=true", &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_TRUE(eventually(
      [] { return operator_a_->log().find("probe e2e-del/corp: deleted") != std::string::npos; },
      10s));
}

TEST_F(OperatorE2E, ApiServerRestartIsSurvived) {
  setup_namespace("e2e-restart");
  cluster_->restart();
  // Created after the restart: only a resumed watch can see it.
  apply(probe_yaml("e2e-restart", "after", "IMAPS_PORT"));
  int rc = 0;
  const std::string out =
      kubectl("-n e2e-restart wait --for=condition=Available imapprobe/after --timeout=120s", &rc);
  EXPECT_EQ(rc, 0) << out << operator_a_->log();
  EXPECT_TRUE(operator_a_->running());
}

// How many runs of ns/name the operator's log shows.
int runs_logged(const std::string& log, const std::string& ns, const std::string& name) {
  int n = 0;
  const std::string needle = "probe " + ns + "/" + name + ": ";
  for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    const std::string rest = log.substr(at + needle.size(), 8);
    n += rest.starts_with("Success") || rest.starts_with("Failure") || rest.starts_with("Degraded");
  }
  return n;
}

TEST_F(OperatorE2E, AMalformedCaBundleIsStalledNotATlsOutage) {
  create_namespace("e2e-badca");
  secret("e2e-badca", "creds", dovecot_->get("PROBE_USER"), dovecot_->get("PROBE_PASSWORD"));
  int rc = 0;
  kubectl("-n e2e-badca create secret generic test-ca --from-literal=ca.crt=not-a-pem-bundle", &rc);
  ASSERT_EQ(rc, 0);
  apply(probe_yaml("e2e-badca", "corp", "IMAPS_PORT"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-badca", "corp"), "Stalled") == "True"; }, 60s));
  const json p = get("e2e-badca", "corp");
  EXPECT_EQ(condition(p, "Stalled", "reason"), "InvalidCABundle");
  EXPECT_EQ(condition(p, "Ready", "reason"), "InvalidCABundle");
  EXPECT_EQ(condition(p, "Available"), "Unknown") << "the service was not judged";
  EXPECT_FALSE(p["status"].contains("lastRun")) << "no run with an unusable CA bundle";
  EXPECT_EQ(p.dump().find("not-a-pem-bundle"), std::string::npos);
}

// A healthy probe writes once, then only at the heartbeat; a change is
// written by the run that saw it.
TEST_F(OperatorE2E, StatusIsWrittenWhenItTellsSomething) {
  // interval 10 s, heartbeat 15 s: a write, a skipped run, a heartbeat write.
  setup_namespace("e2e-hb");
  apply(probe_yaml("e2e-hb", "corp", "IMAPS_PORT"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-hb", "corp"), "Available") == "True"; }, 60s))
      << operator_a_->log();
  const json first = get("e2e-hb", "corp");
  const int runs_before = runs_logged(operator_a_->log(), "e2e-hb", "corp");
  ASSERT_TRUE(eventually(
      [&] { return runs_logged(operator_a_->log(), "e2e-hb", "corp") > runs_before; }, 15s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(get("e2e-hb", "corp")["metadata"]["resourceVersion"],
            first["metadata"]["resourceVersion"])
      << "an unchanged run wrote status before the heartbeat";
  // The heartbeat brings lastRun up to date without any change.
  ASSERT_TRUE(eventually(
      [&] {
        return get("e2e-hb", "corp")["status"]["lastRun"]["time"] !=
               first["status"]["lastRun"]["time"];
      },
      25s));
  // A change: the first failing run writes it.
  secret("e2e-hb", "creds", dovecot_->get("PROBE_USER"), "wrong-password");
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-hb", "corp"), "Available") == "False"; }, 20s));
  const json failed = get("e2e-hb", "corp");
  EXPECT_EQ(failed["status"]["consecutiveFailures"], 1) << failed["status"].dump();
  EXPECT_EQ(failed["status"]["lastRun"]["reason"], "AuthFailed");
}

// A probe deleted and re-created while the operator was away is a new probe.
TEST_F(OperatorE2E, ReCreatedWhileTheOperatorIsStoppedIsANewProbe) {
  setup_namespace("e2e-recreate");
  apply(probe_yaml("e2e-recreate", "corp", "IMAPS_PORT"));
  ASSERT_TRUE(eventually(
      [] { return condition(get("e2e-recreate", "corp"), "Available") == "True"; }, 60s));
  const std::string old_uid = get("e2e-recreate", "corp")["metadata"]["uid"];
  ASSERT_EQ(operator_a_->stop(), 0) << operator_a_->log();
  int rc = 0;
  kubectl("-n e2e-recreate delete imapprobe corp --wait=true", &rc);
  ASSERT_EQ(rc, 0);
  apply(probe_yaml("e2e-recreate", "corp", "IMAPS_PORT", "  mailbox: Archive\n"));
  const json fresh = get("e2e-recreate", "corp");
  ASSERT_NE(fresh["metadata"]["uid"], old_uid);
  EXPECT_FALSE(fresh.contains("status") && fresh["status"].contains("lastRun"));
  // A new identity and log, so that "is the leader" below is this process's.
  operator_a_ = start_operator("a-restarted");
  ASSERT_TRUE(
      eventually([] { return operator_a_->log().find("is the leader") != std::string::npos; }, 30s))
      << operator_a_->log();
  ASSERT_TRUE(eventually(
      [] {
        const json p = get("e2e-recreate", "corp");
        return p["status"].contains("lastRun") && condition(p, "Available") == "True";
      },
      60s))
      << operator_a_->log();
  const json p = get("e2e-recreate", "corp");
  EXPECT_EQ(p["status"]["lastRun"]["messages"], 0) << "the new spec (Archive) ran";
  EXPECT_EQ(p["status"]["consecutiveSuccesses"], 1) << "no counters carried over";
}

// An API server outage longer than a probe's interval: the runs go on with
// the credentials last read, no condition moves, and the status catches up.
TEST_F(OperatorE2E, AnApiServerOutageMovesNoCondition) {
  // Without leader election, so that the runs go on through the outage (a
  // leader steps down after its renew deadline, 10 s).
  ASSERT_EQ(operator_a_->stop(), 0);
  auto solo = start_operator("solo", false);
  setup_namespace("e2e-outage");
  apply(probe_yaml("e2e-outage", "corp", "IMAPS_PORT"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-outage", "corp"), "Available") == "True"; }, 60s))
      << solo->log();
  const json before = get("e2e-outage", "corp");
  const int runs_before = runs_logged(solo->log(), "e2e-outage", "corp");
  cluster_->stop();
  std::this_thread::sleep_for(25s);  // longer than two intervals
  const int runs_during = runs_logged(solo->log(), "e2e-outage", "corp") - runs_before;
  cluster_->start();
  EXPECT_GE(runs_during, 2) << "runs stopped while the API server was away\n" << solo->log();
  EXPECT_NE(solo->log().find("running with the credentials last read"), std::string::npos);
  ASSERT_TRUE(eventually(
      [&] {
        return get("e2e-outage", "corp")["status"]["lastRun"]["time"] !=
               before["status"]["lastRun"]["time"];
      },
      40s))
      << solo->log();
  const json after = get("e2e-outage", "corp");
  for (const char* type : {"Ready", "Stalled", "Available"}) {
    EXPECT_EQ(condition(after, type), condition(before, type)) << type;
    EXPECT_EQ(condition(after, type, "lastTransitionTime"),
              condition(before, type, "lastTransitionTime"))
        << type << " transitioned during the outage";
  }
  EXPECT_EQ(count_events("e2e-outage", "corp", "SecretUnreadable"), 0);
  EXPECT_TRUE(solo->running());
  EXPECT_EQ(solo->stop(), 0) << solo->log();
  operator_a_ = start_operator("a-after-outage");
  ASSERT_TRUE(
      eventually([] { return operator_a_->log().find("is the leader") != std::string::npos; }, 30s))
      << operator_a_->log();
}

TEST_F(OperatorE2E, OnlyTheLeaderRunsProbesAndAStandbyTakesOver) {
  operator_b_ = start_operator("b");
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(operator_b_->log().find("is the leader"), std::string::npos) << "two leaders";
  EXPECT_EQ(operator_b_->log().find("probe e2e-"), std::string::npos) << "the standby ran a probe";
  EXPECT_EQ(operator_a_->stop(), 0) << operator_a_->log();
  EXPECT_NE(operator_a_->log().find("stopped leading"), std::string::npos);
  ASSERT_TRUE(
      eventually([] { return operator_b_->log().find("is the leader") != std::string::npos; }, 20s))
      << operator_b_->log();
  setup_namespace("e2e-takeover");
  apply(probe_yaml("e2e-takeover", "corp", "IMAPS_PORT"));
  int rc = 0;
  const std::string out =
      kubectl("-n e2e-takeover wait --for=condition=Available imapprobe/corp --timeout=60s", &rc);
  EXPECT_EQ(rc, 0) << out << operator_b_->log();
}

// A probe whose first run hangs (a server that accepts and never speaks):
// before that run ends the probe must read as in progress to every GitOps
// tool, and as finished once it has reported, even as a mail failure.
TEST_F(OperatorE2E, GitOpsANewProbeIsInProgressUntilItsFirstRunEnds) {
  // Reads (the ClientHello) and never answers, until the client gives up.
  testing::FakeServer silent([](testing::Peer& peer) {
    std::string line;
    while (peer.read_line(line, 10000)) {
    }
  });
  setup_namespace("e2e-pending");
  const std::string yaml =
      "apiVersion: imapprobe.dev/v1alpha1\nkind: ImapProbe\nmetadata:\n"
      "  name: corp\n  namespace: e2e-pending\nspec:\n  server:\n"
      "    host: 127.0.0.1\n    port: " +
      std::to_string(silent.port()) +
      "\n  auth:\n    mechanism: Plain\n    secretRef: {name: creds}\n"
      "  interval: 60s\n  timeout: 6s\n  failureThreshold: 1\n";
  apply(yaml);
  ASSERT_TRUE(eventually(
      [] { return condition(get("e2e-pending", "corp"), "Ready", "reason") == "Pending"; }, 8s))
      << get("e2e-pending", "corp").dump() << operator_a_->log();
  const json pending = get("e2e-pending", "corp");
  EXPECT_EQ(condition(pending, "Ready"), "Unknown");
  EXPECT_EQ(condition(pending, "Reconciling"), "True");
  EXPECT_EQ(pending["status"]["observedGeneration"], pending["metadata"]["generation"]);
  EXPECT_TRUE(starts_with(judge("kstatus", "e2e-pending", "corp"), "InProgress"))
      << judge("kstatus", "e2e-pending", "corp");
  EXPECT_TRUE(starts_with(judge("argocdhealth", "e2e-pending", "corp"), "Progressing"))
      << judge("argocdhealth", "e2e-pending", "corp");
  // The run times out: a finding about the mail service, not about the probe.
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-pending", "corp"), "Available") == "False"; }, 20s))
      << get("e2e-pending", "corp").dump();
  EXPECT_EQ(condition(get("e2e-pending", "corp"), "Reconciling"), "");
  EXPECT_TRUE(starts_with(judge("kstatus", "e2e-pending", "corp"), "Current"))
      << judge("kstatus", "e2e-pending", "corp");
  EXPECT_TRUE(starts_with(judge("argocdhealth", "e2e-pending", "corp"), "Healthy"))
      << judge("argocdhealth", "e2e-pending", "corp");
}

TEST_F(OperatorE2E, GitOpsEachStateReadsAsTheToolsExpect) {
  // Healthy and reporting.
  setup_namespace("e2e-judge");
  apply(probe_yaml("e2e-judge", "ok", "IMAPS_PORT"));
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-judge", "ok"), "Available") == "True"; }, 60s));
  EXPECT_TRUE(starts_with(judge("kstatus", "e2e-judge", "ok"), "Current"))
      << judge("kstatus", "e2e-judge", "ok");
  EXPECT_EQ(judge("argocdhealth", "e2e-judge", "ok"),
            "Healthy reporting; Available=True (Succeeded)");
  // Stalled: a Secret that does not exist.
  std::string stalled = probe_yaml("e2e-judge", "stalled", "IMAPS_PORT");
  stalled.replace(stalled.find("{name: creds}"), std::string("{name: creds}").size(),
                  "{name: no-such-secret}");
  apply(stalled);
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-judge", "stalled"), "Stalled") == "True"; }, 60s));
  EXPECT_TRUE(starts_with(judge("kstatus", "e2e-judge", "stalled"), "Failed"))
      << judge("kstatus", "e2e-judge", "stalled");
  EXPECT_TRUE(starts_with(judge("argocdhealth", "e2e-judge", "stalled"), "Degraded SecretNotFound"))
      << judge("argocdhealth", "e2e-judge", "stalled");
  // Suspended.
  apply(probe_yaml("e2e-judge", "paused", "IMAPS_PORT", "  suspend: true\n"));
  ASSERT_TRUE(eventually(
      [] { return condition(get("e2e-judge", "paused"), "Ready", "reason") == "Suspended"; }, 30s));
  EXPECT_TRUE(starts_with(judge("kstatus", "e2e-judge", "paused"), "Current"))
      << judge("kstatus", "e2e-judge", "paused");
  EXPECT_TRUE(starts_with(judge("argocdhealth", "e2e-judge", "paused"), "Suspended"))
      << judge("argocdhealth", "e2e-judge", "paused");
}

// Helm 4's --wait (kstatus underneath) must wait for the first run, and must
// not report success for a probe that cannot run.
TEST_F(OperatorE2E, GitOpsHelmFourInstallWaitsForTheFirstRunAndFailsForAMissingSecret) {
  std::string helm;
  ASSERT_EQ(
      testing::run_command(
          "bash " + std::string(IMAPPROBE_SOURCE_DIR) + "/tests/helm/build-helm.sh --check", helm),
      0)
      << helm;
  while (!helm.empty() && helm.back() == '\n') helm.pop_back();
  const std::string chart = cluster_->workdir() + "/probe-chart";
  std::filesystem::create_directories(chart + "/templates");
  std::ofstream(chart + "/Chart.yaml") << "apiVersion: v2\nname: mail-probes\nversion: 0.1.0\n";
  std::ofstream(chart + "/values.yaml") << "secret: creds\n";
  std::string probe = probe_yaml("NS", "corp", "IMAPS_PORT");
  probe.replace(probe.find("namespace: NS"), std::string("namespace: NS").size(),
                "namespace: {{ .Release.Namespace }}");
  probe.replace(probe.find("{name: creds}"), std::string("{name: creds}").size(),
                "{name: {{ .Values.secret }}}");
  std::ofstream(chart + "/templates/probe.yaml") << probe;
  const std::string base =
      helm + " --kubeconfig " + cluster_->kubeconfig() + " install --wait --timeout 60s ";

  setup_namespace("e2e-helm");
  std::string out;
  int rc = testing::run_command(base + "ok " + chart + " -n e2e-helm 2>&1", out);
  ASSERT_EQ(rc, 0) << out << operator_a_->log();
  const json p = get("e2e-helm", "corp");
  EXPECT_TRUE(p["status"].contains("lastRun"))
      << "helm returned before the first run: " << p.dump();

  setup_namespace("e2e-helm-bad");
  rc = testing::run_command(helm + " --kubeconfig " + cluster_->kubeconfig() +
                                " install --wait --timeout 20s bad " + chart +
                                " -n e2e-helm-bad --set secret=no-such-secret 2>&1",
                            out);
  EXPECT_NE(rc, 0) << "helm --wait succeeded for a probe that cannot run:\n" << out;
  EXPECT_EQ(condition(get("e2e-helm-bad", "corp"), "Stalled"), "True");
}

// The on-demand run, as docs/operator.md shows it: annotate, then wait for
// the status to echo the value.
TEST_F(OperatorE2E, GitOpsARunRequestAnnotationRunsTheProbeNow) {
  setup_namespace("e2e-request");
  std::string yaml = probe_yaml("e2e-request", "corp", "IMAPS_PORT");
  yaml.replace(yaml.find("interval: 10s"), std::string("interval: 10s").size(), "interval: 1h");
  apply(yaml);
  ASSERT_TRUE(
      eventually([] { return condition(get("e2e-request", "corp"), "Available") == "True"; }, 60s));
  const std::string first_run = get("e2e-request", "corp")["status"]["lastRun"]["time"];
  std::this_thread::sleep_for(1100ms);  // lastRun.time has whole seconds
  int rc = 0;
  std::string out = kubectl(
      "-n e2e-request annotate imapprobe corp imapprobe.dev/run-requested-at=request-1 --overwrite",
      &rc);
  ASSERT_EQ(rc, 0) << out;
  out = kubectl(
      "-n e2e-request wait imapprobe/corp "
      "--for=jsonpath='{.status.lastHandledRunRequest}'=request-1 "
      "--timeout=30s",
      &rc);
  ASSERT_EQ(rc, 0) << out << operator_a_->log();
  EXPECT_NE(get("e2e-request", "corp")["status"]["lastRun"]["time"], first_run)
      << "the echoed request has no new run behind it";
}

}  // namespace
}  // namespace imapprobe
