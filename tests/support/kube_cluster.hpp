// A private, real kube-apiserver (+ etcd) for the tests, started by
// tests/kube/cluster.sh in a fresh temporary workdir on loopback ports.
#pragma once

#include <string>

namespace imapprobe::testing {

class KubeCluster {
 public:
  // Starts a fresh cluster (building the binaries first if needed); throws
  // with cluster.sh's output when it cannot.
  KubeCluster();
  // Stops the cluster and removes the workdir (kept if IMAPPROBE_KEEP_WORKDIR is set).
  ~KubeCluster();
  KubeCluster(const KubeCluster&) = delete;
  KubeCluster& operator=(const KubeCluster&) = delete;

  // Admin kubeconfig (client certificate, group system:masters).
  std::string kubeconfig() const { return workdir_ + "/kubeconfig"; }
  // Runs kubectl with the admin kubeconfig; `args` is shell text (quote it).
  // Returns stdout and stderr combined; the exit status in *exit_code.
  std::string kubectl(const std::string& args, int* exit_code = nullptr) const;
  // Applies crds/ and waits until the CRD is Established: "" when it is,
  // else kubectl's output.
  std::string install_crd() const;
  // Stop + start on the same workdir: same data, certificates and URL.
  void restart();
  // The two halves of restart(), for an outage of a chosen length.
  void stop();
  void start();
  // A kubeconfig authenticating as ServiceAccount `ns`/`sa` with a bearer
  // token; the namespace and ServiceAccount are created if missing, no RBAC
  // is granted. Returns its path (inside the workdir).
  std::string sa_kubeconfig(const std::string& ns, const std::string& sa) const;
  const std::string& workdir() const { return workdir_; }

 private:
  std::string cluster_sh(const std::string& args, int* exit_code) const;
  std::string workdir_;
};

}  // namespace imapprobe::testing
