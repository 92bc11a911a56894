#include "support/kube_cluster.hpp"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "support/dovecot.hpp"

namespace imapprobe::testing {
namespace fs = std::filesystem;

namespace {
const std::string kClusterSh = std::string(IMAPPROBE_SOURCE_DIR) + "/tests/kube/cluster.sh";

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}
}  // namespace

KubeCluster::KubeCluster() {
  std::string tmpl = (fs::temp_directory_path() / "imapprobe-kube-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  workdir_ = tmpl;
  int rc = 0;
  const std::string out = cluster_sh("start " + quote(workdir_), &rc);
  if (rc != 0) {
    std::string ignored;
    run_command("bash " + quote(kClusterSh) + " stop " + quote(workdir_), ignored);
    std::error_code ec;
    fs::remove_all(workdir_, ec);
    throw std::runtime_error("kube-apiserver failed to start (cluster.sh start):\n" + out);
  }
}

KubeCluster::~KubeCluster() {
  int rc = 0;
  const std::string out = cluster_sh("stop " + quote(workdir_), &rc);
  if (rc != 0) std::fprintf(stderr, "cluster.sh stop failed:\n%s\n", out.c_str());
  std::error_code ec;
  if (std::getenv("IMAPPROBE_KEEP_WORKDIR") == nullptr) fs::remove_all(workdir_, ec);
}

std::string KubeCluster::cluster_sh(const std::string& args, int* exit_code) const {
  std::string out;
  const int rc = run_command("bash " + quote(kClusterSh) + " " + args, out);
  if (exit_code != nullptr) *exit_code = rc;
  return out;
}

std::string KubeCluster::kubectl(const std::string& args, int* exit_code) const {
  return cluster_sh("kubectl " + quote(workdir_) + " " + args, exit_code);
}

std::string KubeCluster::install_crd() const {
  int rc = 0;
  std::string out = kubectl("apply -f " + quote(std::string(IMAPPROBE_SOURCE_DIR) +
                                                "/crds/imapprobe.dev_imapprobes.yaml"),
                            &rc);
  if (rc != 0) return out;
  out = kubectl("wait --for=condition=Established crd/imapprobes.imapprobe.dev --timeout=60s", &rc);
  return rc == 0 ? "" : out;
}

void KubeCluster::restart() {
  int rc = 0;
  const std::string out = cluster_sh("restart " + quote(workdir_), &rc);
  if (rc != 0) throw std::runtime_error("cluster.sh restart failed:\n" + out);
}

void KubeCluster::stop() {
  int rc = 0;
  const std::string out = cluster_sh("stop " + quote(workdir_), &rc);
  if (rc != 0) throw std::runtime_error("cluster.sh stop failed:\n" + out);
}

void KubeCluster::start() {
  int rc = 0;
  const std::string out = cluster_sh("start " + quote(workdir_), &rc);
  if (rc != 0) throw std::runtime_error("cluster.sh start failed:\n" + out);
}

std::string KubeCluster::sa_kubeconfig(const std::string& ns, const std::string& sa) const {
  int rc = 0;
  std::string out = kubectl("create namespace " + quote(ns) + " --dry-run=client -o yaml | bash " +
                                quote(kClusterSh) + " kubectl " + quote(workdir_) + " apply -f -",
                            &rc);
  if (rc != 0) throw std::runtime_error("creating namespace " + ns + " failed:\n" + out);
  out = kubectl("-n " + quote(ns) + " create serviceaccount " + quote(sa) +
                    " --dry-run=client -o yaml | bash " + quote(kClusterSh) + " kubectl " +
                    quote(workdir_) + " apply -f -",
                &rc);
  if (rc != 0) throw std::runtime_error("creating serviceaccount " + sa + " failed:\n" + out);
  const std::string path = workdir_ + "/sa-" + ns + "-" + sa + ".kubeconfig";
  out = cluster_sh(
      "sa-kubeconfig " + quote(workdir_) + " " + quote(ns) + " " + quote(sa) + " " + quote(path),
      &rc);
  if (rc != 0) throw std::runtime_error("cluster.sh sa-kubeconfig failed:\n" + out);
  return path;
}

}  // namespace imapprobe::testing
