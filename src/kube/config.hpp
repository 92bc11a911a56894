// Where the Kubernetes API is and how to authenticate to it: from a
// kubeconfig file or from the pod's service account.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace imapprobe::kube {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterConfig {
  std::string server;  // https://host:port, no trailing slash
  std::string ca_pem;  // empty: system trust store
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;  // client certificate authentication
  std::string client_key_pem;
  std::string token;       // static bearer token
  std::string token_file;  // bearer token re-read when it changes (rotation)
  std::string default_namespace = "default";

  // Current context, or `context` when given. Supports certificate-authority
  // (-data), client-certificate/key (-data), token, tokenFile,
  // insecure-skip-tls-verify; exec and auth-provider plugins are refused with
  // a ConfigError that says so.
  static ClusterConfig from_kubeconfig(const std::string& path, const std::string& context = {});
  // KUBERNETES_SERVICE_HOST/PORT, the service account token file (re-read on
  // rotation), its CA and namespace.
  static ClusterConfig in_cluster(
      const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");
  // --kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config.
  static ClusterConfig discover(const std::string& kubeconfig_flag, const std::string& context);
};

}  // namespace imapprobe::kube
