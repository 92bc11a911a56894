#include "support/hydra.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/dovecot.hpp"
#include "support/env_file.hpp"

namespace imapprobe::testing {
namespace fs = std::filesystem;

namespace {
const std::string kHarness =
    std::string(IMAPPROBE_SOURCE_DIR) + "/tests/servers/hydra/hydra-harness.sh";

// The last non-empty line: run_command merges stderr into the output.
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}
}  // namespace

Hydra::Hydra(HydraOptions options) {
  std::string tmpl = (fs::temp_directory_path() / "imapprobe-hydra-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  workdir_ = tmpl;
  std::string command = "bash " + kHarness + " start " + workdir_;
  if (!options.access_token_ttl.empty()) {
    command += " --access-token-ttl " + shell_quote(options.access_token_ttl);
  }
  if (!options.refresh_grace.empty()) {
    command += " --refresh-grace " + shell_quote(options.refresh_grace);
  }
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    command += " --tls-cert " + shell_quote(options.tls_cert_file) + " --tls-key " +
               shell_quote(options.tls_key_file);
  }
  if (!options.tls_ca_file.empty()) command += " --tls-ca " + shell_quote(options.tls_ca_file);
  std::string out;
  if (run_command(command, out) != 0) {
    std::string ignored;
    run_command("bash " + kHarness + " stop " + workdir_, ignored);
    std::error_code ec;
    fs::remove_all(workdir_, ec);
    throw std::runtime_error("hydra harness failed to start:\n" + out);
  }
  env_ = read_env_file(workdir_ + "/env");
}

Hydra::~Hydra() {
  std::string out;
  if (run_command("bash " + kHarness + " stop " + workdir_, out) != 0) {
    std::fprintf(stderr, "hydra harness stop failed:\n%s\n", out.c_str());
  }
  std::error_code ec;
  if (std::getenv("IMAPPROBE_KEEP_WORKDIR") == nullptr) fs::remove_all(workdir_, ec);
}

const std::string& Hydra::get(const std::string& key) const {
  auto it = env_.find(key);
  if (it == env_.end()) throw std::runtime_error("hydra env has no " + key);
  return it->second;
}

// `what` names the command in errors without its arguments, which hold secrets.
std::string Hydra::harness(const std::string& command, const std::string& what) const {
  std::string out;
  if (run_command("bash " + kHarness + " " + command, out) != 0) {
    throw std::runtime_error("hydra harness " + what + " failed: " + out);
  }
  return out;
}

void Hydra::create_client(const std::string& id, const std::string& secret, const std::string& auth,
                          const std::string& scope, const std::string& grant_types,
                          const std::string& jwks_file) const {
  std::string args = "create-client " + workdir_ + " " + shell_quote(id) + " --auth " +
                     shell_quote(auth) + " --scope " + shell_quote(scope) + " --grant-types " +
                     shell_quote(grant_types);
  if (!secret.empty()) args += " --secret " + shell_quote(secret);
  if (!jwks_file.empty()) args += " --jwks-file " + shell_quote(jwks_file);
  harness(args, "create-client " + id);
}

void Hydra::set_ttl(const std::string& client_id, const std::string& duration) const {
  harness("set-ttl " + workdir_ + " " + shell_quote(client_id) + " " + shell_quote(duration),
          "set-ttl " + client_id);
}

void Hydra::delete_client(const std::string& client_id) const {
  harness("delete-client " + workdir_ + " " + shell_quote(client_id), "delete-client " + client_id);
}

void Hydra::revoke_client_tokens(const std::string& client_id) const {
  harness("delete-tokens " + workdir_ + " " + shell_quote(client_id), "delete-tokens " + client_id);
}

std::string Hydra::client_token(const std::string& client_id, const std::string& client_secret,
                                const std::string& scope) const {
  return trim(harness("client-token " + workdir_ + " " + shell_quote(client_id) + " " +
                          shell_quote(client_secret) + " " + shell_quote(scope),
                      "client-token " + client_id));
}

std::string Hydra::refresh_token(const std::string& client_id, const std::string& client_secret,
                                 const std::string& subject, const std::string& scope) const {
  return trim(harness("refresh-token " + workdir_ + " " + shell_quote(client_id) + " " +
                          shell_quote(client_secret) + " " + shell_quote(subject) + " " +
                          shell_quote(scope),
                      "refresh-token " + client_id));
}

void Hydra::revoke(const std::string& client_id, const std::string& client_secret,
                   const std::string& token) const {
  harness("revoke " + workdir_ + " " + shell_quote(client_id) + " " + shell_quote(client_secret) +
              " " + shell_quote(token),
          "revoke " + client_id);
}

int Hydra::token_requests() const {
  return std::stoi(trim(harness("count-token-requests " + workdir_, "count-token-requests")));
}

std::string Hydra::log() const {
  std::ifstream in(get("HYDRA_LOG"));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace imapprobe::testing
