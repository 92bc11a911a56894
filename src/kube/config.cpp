#include "kube/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "encoding/base64.hpp"
#include "kube/detail.hpp"

namespace imapprobe::kube {
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + what + " " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// kubectl resolves relative file references against the kubeconfig's own
// directory, not the process's working directory.
fs::path resolve(const fs::path& base_dir, const std::string& p) {
  fs::path path(p);
  return path.is_absolute() ? path : base_dir / path;
}

std::string scalar(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return {};
  if (!v.IsScalar()) throw YAML::Exception(v.Mark(), std::string(key) + " must be a string");
  return v.as<std::string>();
}

bool flag(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return false;
  return v.as<bool>();
}

// `name` in a kubeconfig list (clusters/users/contexts), its `field` member.
std::optional<YAML::Node> find_named(const YAML::Node& root, const char* list,
                                     const std::string& name, const char* field) {
  const YAML::Node items = root[list];
  if (items && items.IsSequence()) {
    for (const auto& item : items) {
      if (item["name"] && item["name"].IsScalar() && item["name"].as<std::string>() == name) {
        const YAML::Node body = item[field];
        // A present but empty body ("user: {}") is legal: e.g. no credentials.
        return body ? body : YAML::Node(YAML::NodeType::Map);
      }
    }
  }
  return std::nullopt;
}

// Either `<key>-data` (base64, inline) or `<key>` (a file path).
std::string pem_field(const YAML::Node& node, const std::string& key, const fs::path& base_dir,
                      const std::string& where) {
  const std::string data = scalar(node, (key + "-data").c_str());
  if (!data.empty()) {
    try {
      return encoding::base64_decode(data, encoding::Base64Syntax::Lenient);
    } catch (const std::invalid_argument&) {
      throw ConfigError(where + ": " + key + "-data is not valid base64");
    }
  }
  const std::string file = scalar(node, key.c_str());
  if (!file.empty()) return read_file(resolve(base_dir, file), where + ": " + key);
  return {};
}

}  // namespace

ClusterConfig ClusterConfig::from_kubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError("cannot read kubeconfig " + path);
  } catch (const YAML::Exception& e) {
    throw ConfigError("kubeconfig " + path + " is not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("kubeconfig " + path + " is empty or not a mapping");
  const fs::path base_dir = fs::absolute(fs::path(path)).parent_path();
  const std::string where = "kubeconfig " + path;

  try {
    std::string ctx_name = context;
    if (ctx_name.empty()) {
      ctx_name = scalar(root, "current-context");
      if (ctx_name.empty()) {
        throw ConfigError(where + ": no current-context set and no context given");
      }
    }
    const auto ctx_entry = find_named(root, "contexts", ctx_name, "context");
    if (!ctx_entry) throw ConfigError(where + ": context \"" + ctx_name + "\" not found");

    const YAML::Node& ctx = *ctx_entry;
    const std::string cluster_name = scalar(ctx, "cluster");
    if (cluster_name.empty()) {
      throw ConfigError(where + ": context \"" + ctx_name + "\" names no cluster");
    }
    const auto cluster_entry = find_named(root, "clusters", cluster_name, "cluster");
    if (!cluster_entry) {
      throw ConfigError(where + ": cluster \"" + cluster_name + "\" (of context \"" + ctx_name +
                        "\") not found");
    }

    const YAML::Node& cluster = *cluster_entry;
    ClusterConfig cfg;
    const std::string cluster_where = where + ", cluster \"" + cluster_name + "\"";
    cfg.server = scalar(cluster, "server");
    if (cfg.server.empty()) throw ConfigError(cluster_where + ": no server");
    if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
      throw ConfigError(cluster_where + ": server \"" + cfg.server +
                        "\" must start with https:// or http://");
    }
    while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
    // Silently ignoring these would connect somewhere or verify something
    // other than what the kubeconfig asks for.
    for (const char* unsupported : {"proxy-url", "tls-server-name"}) {
      if (!scalar(cluster, unsupported).empty()) {
        throw ConfigError(cluster_where + ": " + unsupported + " is not supported");
      }
    }
    cfg.insecure_skip_tls_verify = flag(cluster, "insecure-skip-tls-verify");
    cfg.ca_pem = pem_field(cluster, "certificate-authority", base_dir, cluster_where);

    const std::string user_name = scalar(ctx, "user");
    if (!user_name.empty()) {
      const auto user_entry = find_named(root, "users", user_name, "user");
      if (!user_entry) {
        throw ConfigError(where + ": user \"" + user_name + "\" (of context \"" + ctx_name +
                          "\") not found");
      }
      const YAML::Node& user = *user_entry;
      const std::string user_where = where + ", user \"" + user_name + "\"";
      if (user["exec"] && !user["exec"].IsNull()) {
        throw ConfigError(user_where +
                          ": exec credential plugins are not supported; use a token, tokenFile "
                          "or client certificate");
      }
      if (user["auth-provider"] && !user["auth-provider"].IsNull()) {
        throw ConfigError(user_where +
                          ": auth-provider plugins are not supported; use a token, tokenFile "
                          "or client certificate");
      }
      if (!scalar(user, "username").empty() || !scalar(user, "password").empty()) {
        throw ConfigError(user_where +
                          ": username/password (basic) authentication is not "
                          "supported");
      }
      for (const char* unsupported : {"as", "as-uid", "as-groups"}) {
        if (user[unsupported] && !user[unsupported].IsNull()) {
          throw ConfigError(user_where + ": impersonation (" + unsupported + ") is not supported");
        }
      }
      cfg.client_cert_pem = pem_field(user, "client-certificate", base_dir, user_where);
      cfg.client_key_pem = pem_field(user, "client-key", base_dir, user_where);
      if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty()) {
        throw ConfigError(user_where +
                          ": client certificate and client key must be given together");
      }
      cfg.token = trim(scalar(user, "token"));
      const std::string token_file = scalar(user, "tokenFile");
      if (!token_file.empty()) cfg.token_file = resolve(base_dir, token_file).string();
    }

    const std::string ns = scalar(ctx, "namespace");
    if (!ns.empty()) cfg.default_namespace = ns;
    return cfg;
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + ": unexpected structure: " + e.what());
  }
}

ClusterConfig ClusterConfig::in_cluster(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    throw ConfigError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set");
  }
  ClusterConfig cfg;
  const std::string h(host);
  // An IPv6 literal needs brackets in a URL.
  cfg.server = "https://" +
               (h.find(':') != std::string::npos && h.front() != '[' ? "[" + h + "]" : h) + ":" +
               port;
  const fs::path dir(sa_dir);
  cfg.token_file = (dir / "token").string();
  if (trim(read_file(cfg.token_file, "service account token")).empty()) {
    throw ConfigError("service account token " + cfg.token_file + " is empty");
  }
  cfg.ca_pem = read_file(dir / "ca.crt", "service account CA");
  std::error_code ec;
  if (fs::exists(dir / "namespace", ec)) {
    const std::string ns = trim(read_file(dir / "namespace", "service account namespace"));
    if (!ns.empty()) cfg.default_namespace = ns;
  }
  return cfg;
}

ClusterConfig ClusterConfig::discover(const std::string& kubeconfig_flag,
                                      const std::string& context) {
  std::vector<std::string> tried;
  if (!kubeconfig_flag.empty()) return from_kubeconfig(kubeconfig_flag, context);

  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    // kubectl merges a list; we take its first entry rather than guess a merge.
    std::string list(env);
    std::string first;
    std::istringstream parts(list);
    while (std::getline(parts, first, ':') && first.empty()) {
    }
    if (!first.empty()) return from_kubeconfig(first, context);
    tried.push_back("$KUBECONFIG (\"" + list + "\" names no file)");
  } else {
    tried.push_back("$KUBECONFIG (not set)");
  }

  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (host != nullptr && *host != '\0') return in_cluster();
  tried.push_back("in-cluster (KUBERNETES_SERVICE_HOST not set)");

  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    const fs::path def = fs::path(home) / ".kube" / "config";
    std::error_code ec;
    if (fs::exists(def, ec)) return from_kubeconfig(def.string(), context);
    tried.push_back(def.string() + " (does not exist)");
  } else {
    tried.push_back("~/.kube/config ($HOME not set)");
  }

  std::string msg = "no Kubernetes configuration found; tried --kubeconfig (not given)";
  for (const auto& t : tried) msg += ", " + t;
  throw ConfigError(msg);
}

}  // namespace imapprobe::kube
