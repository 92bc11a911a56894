#include "kube/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>

namespace imapprobe::kube {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kube-config-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

 private:
  fs::path path_;
};

// Sets an environment variable for the scope of a test and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// "hello CA\n" and friends, base64-encoded as kubeconfigs carry them.
constexpr const char* kCaB64 = "aGVsbG8gQ0EK";        // "hello CA\n"
constexpr const char* kCertB64 = "Y2VydCBkYXRhCg==";  // "cert data\n"
constexpr const char* kKeyB64 = "a2V5IGRhdGEK";       // "key data\n"

std::string two_context_kubeconfig() {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: admin@one
clusters:
- name: one
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )") +
         kCaB64 + R"(
- name: two
  cluster:
    server: https://two.example:443
    certificate-authority: pki/ca.crt
    insecure-skip-tls-verify: false
users:
- name: admin
  user:
    client-certificate-data: )" +
         kCertB64 + R"(
    client-key-data: )" +
         kKeyB64 + R"(
- name: robot
  user:
    client-certificate: certs/robot.crt
    client-key: certs/robot.key
    tokenFile: secrets/token
- name: static
  user:
    token: abc.def.ghi
contexts:
- name: admin@one
  context:
    cluster: one
    user: admin
- name: robot@two
  context:
    cluster: two
    user: robot
    namespace: probes
- name: static@one
  context:
    cluster: one
    user: static
    namespace: monitoring
)";
}

TEST(KubeConfig, CurrentContextWithInlineData) {
  TempDir dir;
  const auto path = dir.write("kubeconfig", two_context_kubeconfig());
  const auto cfg = ClusterConfig::from_kubeconfig(path);
  EXPECT_EQ(cfg.server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(cfg.ca_pem, "hello CA\n");
  EXPECT_EQ(cfg.client_cert_pem, "cert data\n");
  EXPECT_EQ(cfg.client_key_pem, "key data\n");
  EXPECT_FALSE(cfg.insecure_skip_tls_verify);
  EXPECT_TRUE(cfg.token.empty());
  EXPECT_TRUE(cfg.token_file.empty());
  EXPECT_EQ(cfg.default_namespace, "default");
}

TEST(KubeConfig, NamedContextWithFilesRelativeToTheKubeconfig) {
  TempDir dir;
  dir.write("conf/pki/ca.crt", "CA FROM FILE");
  dir.write("conf/certs/robot.crt", "ROBOT CERT");
  dir.write("conf/certs/robot.key", "ROBOT KEY");
  dir.write("conf/secrets/token", "tok\n");
  const auto path = dir.write("conf/kubeconfig", two_context_kubeconfig());
  // Relative paths resolve against the kubeconfig, not the working directory.
  const auto cwd = fs::current_path();
  fs::current_path(fs::temp_directory_path());
  const auto cfg = ClusterConfig::from_kubeconfig(path, "robot@two");
  fs::current_path(cwd);
  EXPECT_EQ(cfg.server, "https://two.example:443");
  EXPECT_EQ(cfg.ca_pem, "CA FROM FILE");
  EXPECT_EQ(cfg.client_cert_pem, "ROBOT CERT");
  EXPECT_EQ(cfg.client_key_pem, "ROBOT KEY");
  EXPECT_EQ(fs::path(cfg.token_file), dir.path() / "conf/secrets/token");
  EXPECT_EQ(cfg.default_namespace, "probes");
}

TEST(KubeConfig, StaticToken) {
  TempDir dir;
  const auto path = dir.write("kubeconfig", two_context_kubeconfig());
  const auto cfg = ClusterConfig::from_kubeconfig(path, "static@one");
  EXPECT_EQ(cfg.token, "abc.def.ghi");
  EXPECT_TRUE(cfg.client_cert_pem.empty());
  EXPECT_EQ(cfg.default_namespace, "monitoring");
}

TEST(KubeConfig, InsecureSkipTlsVerify) {
  TempDir dir;
  const auto path = dir.write("kubeconfig", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: c
  context: {cluster: k, user: u}
)");
  const auto cfg = ClusterConfig::from_kubeconfig(path);
  EXPECT_TRUE(cfg.insecure_skip_tls_verify);
  EXPECT_TRUE(cfg.ca_pem.empty());
}

// Runs `f`, expects a ConfigError whose message contains every `needles`.
template <typename F>
void expect_config_error(F&& f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no ConfigError thrown";
  } catch (const ConfigError& e) {
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message \"" << e.what() << "\" does not mention \"" << n << "\"";
    }
  }
}

TEST(KubeConfig, MissingContextClusterOrUserIsAClearError) {
  TempDir dir;
  const auto path = dir.write("kubeconfig", two_context_kubeconfig());
  expect_config_error([&] { ClusterConfig::from_kubeconfig(path, "nope"); },
                      {path, "context \"nope\" not found"});

  const auto no_cluster = dir.write("no-cluster", R"(
current-context: c
clusters: []
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: gone, user: u}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(no_cluster); },
                      {no_cluster, "cluster \"gone\"", "not found"});

  const auto no_user = dir.write("no-user", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
contexts: [{name: c, context: {cluster: k, user: ghost}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(no_user); },
                      {no_user, "user \"ghost\"", "not found"});

  const auto no_current = dir.write("no-current", R"(
clusters: [{name: k, cluster: {server: "https://h:1"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(no_current); },
                      {no_current, "no current-context"});

  const auto no_server = dir.write("no-server", R"(
current-context: c
clusters: [{name: k, cluster: {certificate-authority-data: aGk=}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(no_server); },
                      {no_server, "cluster \"k\"", "no server"});

  expect_config_error([&] { ClusterConfig::from_kubeconfig((dir.path() / "absent").string()); },
                      {"cannot read kubeconfig", "absent"});
  const auto missing_file = dir.write("missing-file", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority: nowhere/ca.crt}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(missing_file); },
                      {"certificate-authority", "nowhere/ca.crt"});
  const auto bad_yaml = dir.write("bad-yaml", "clusters: [\n  - {name: x\n");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(bad_yaml); },
                      {bad_yaml, "not valid YAML"});
  const auto bad_b64 = dir.write("bad-b64", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority-data: "!!notbase64"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(bad_b64); },
                      {"certificate-authority-data", "base64"});
}

TEST(KubeConfig, PluginsAndBasicAuthAreRefused) {
  TempDir dir;
  const auto exec = dir.write("exec", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users:
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
contexts: [{name: c, context: {cluster: k, user: eks}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(exec); },
                      {exec, "user \"eks\"", "exec", "not supported"});

  const auto provider = dir.write("provider", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: c, context: {cluster: k, user: g}}]
)");
  expect_config_error([&] { ClusterConfig::from_kubeconfig(provider); },
                      {"auth-provider", "not supported"});

  const auto basic = dir.write("basic", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: b, user: {username: admin, password: secret}}]
contexts: [{name: c, context: {cluster: k, user: b}}]
)");
  try {
    ClusterConfig::from_kubeconfig(basic);
    ADD_FAILURE() << "basic auth accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("basic"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << "leaks the password";
  }
}

TEST(KubeConfig, InClusterFromServiceAccountDirectory) {
  TempDir dir;
  dir.write("token", "eyJhbGciOi.token.sig\n");
  dir.write("ca.crt", "IN CLUSTER CA");
  dir.write("namespace", "probes\n");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  const auto cfg = ClusterConfig::in_cluster(dir.path().string());
  EXPECT_EQ(cfg.server, "https://10.96.0.1:443");
  EXPECT_EQ(fs::path(cfg.token_file), dir.path() / "token");
  EXPECT_EQ(cfg.ca_pem, "IN CLUSTER CA");
  EXPECT_EQ(cfg.default_namespace, "probes");
}

TEST(KubeConfig, InClusterIpv6HostIsBracketed) {
  TempDir dir;
  dir.write("token", "t");
  dir.write("ca.crt", "CA");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "6443");
  const auto cfg = ClusterConfig::in_cluster(dir.path().string());
  EXPECT_EQ(cfg.server, "https://[fd00:10:96::1]:6443");
  EXPECT_EQ(cfg.default_namespace, "default");  // no namespace file
}

TEST(KubeConfig, InClusterNeedsEnvironmentAndToken) {
  TempDir dir;
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
    ScopedEnv port("KUBERNETES_SERVICE_PORT", nullptr);
    expect_config_error([&] { ClusterConfig::in_cluster(dir.path().string()); },
                        {"KUBERNETES_SERVICE_HOST"});
  }
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  expect_config_error([&] { ClusterConfig::in_cluster(dir.path().string()); },
                      {"token", (dir.path() / "token").string()});
}

TEST(KubeConfig, DiscoverOrder) {
  TempDir dir;
  const auto flag_path = dir.write("flag", two_context_kubeconfig());
  const auto env_path = dir.write("env", R"(
current-context: e
clusters: [{name: k, cluster: {server: "https://from-env:1"}}]
contexts: [{name: e, context: {cluster: k}}]
)");
  dir.write("home/.kube/config", R"(
current-context: h
clusters: [{name: k, cluster: {server: "https://from-home:1"}}]
contexts: [{name: h, context: {cluster: k}}]
)");
  ScopedEnv home("HOME", (dir.path() / "home").c_str());
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  {
    ScopedEnv kc("KUBECONFIG", (env_path + ":" + flag_path).c_str());
    EXPECT_EQ(ClusterConfig::discover(flag_path, "static@one").token, "abc.def.ghi");
    EXPECT_EQ(ClusterConfig::discover("", "").server, "https://from-env:1");
  }
  ScopedEnv kc("KUBECONFIG", nullptr);
  EXPECT_EQ(ClusterConfig::discover("", "").server, "https://from-home:1");

  ScopedEnv nohome("HOME", (dir.path() / "nowhere").c_str());
  expect_config_error([] { ClusterConfig::discover("", ""); },
                      {"KUBECONFIG", "in-cluster", "nowhere/.kube/config"});
}

}  // namespace
}  // namespace imapprobe::kube
