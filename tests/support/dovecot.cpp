#include "support/dovecot.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "support/env_file.hpp"

namespace imapprobe::testing {
namespace fs = std::filesystem;

namespace {
const std::string kHarness =
    std::string(IMAPPROBE_SOURCE_DIR) + "/tests/servers/dovecot/dovecot-harness.sh";
}

int run_command(const std::string& command, std::string& output) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe(popen((command + " 2>&1").c_str(), "r"), &pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::array<char, 4096> buf{};
  output.clear();
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe.get())) {
    output.append(buf.data(), n);
  }
  const int status = pclose(pipe.release());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string shell_quote(const std::string& s) {
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

Dovecot::Dovecot(DovecotOptions options) {
  std::string tmpl = (fs::temp_directory_path() / "imapprobe-dovecot-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  workdir_ = tmpl;
  std::string out;
  std::string command = "bash " + kHarness + " start " + workdir_;
  if (!options.oauth2_introspection_url.empty()) {
    command += " --oauth2-introspection-url " + shell_quote(options.oauth2_introspection_url);
  }
  if (run_command(command, out) != 0) {
    throw std::runtime_error("dovecot harness failed to start:\n" + out);
  }
  env_ = read_env_file(workdir_ + "/env");
}

Dovecot::~Dovecot() {
  std::string out;
  if (run_command("bash " + kHarness + " stop " + workdir_, out) != 0) {
    std::fprintf(stderr, "dovecot harness stop failed:\n%s\n", out.c_str());
  }
  std::error_code ec;
  if (std::getenv("IMAPPROBE_KEEP_WORKDIR") == nullptr) fs::remove_all(workdir_, ec);
}

const std::string& Dovecot::get(const std::string& key) const {
  auto it = env_.find(key);
  if (it == env_.end()) throw std::runtime_error("dovecot env has no " + key);
  return it->second;
}

std::uint16_t Dovecot::port(const std::string& key) const {
  return static_cast<std::uint16_t>(std::stoi(get(key)));
}

std::string Dovecot::host_for(const std::string& port_key) const {
  const auto pos = port_key.rfind("_PORT");
  if (pos != std::string::npos) {
    auto it = env_.find(port_key.substr(0, pos) + "_HOST");
    if (it != env_.end()) return it->second;
  }
  return get("HOST");
}

std::string Dovecot::ca_pem() const {
  std::ifstream in(get("CA_FILE"));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Dovecot::mint_token(const std::string& user, int ttl_seconds) const {
  std::string out;
  if (run_command("bash " + kHarness + " mint-token " + workdir_ + " " + user + " " +
                      std::to_string(ttl_seconds),
                  out) != 0) {
    throw std::runtime_error("mint-token failed: " + out);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

int Dovecot::count_messages(const std::string& user, const std::string& mailbox) const {
  fs::path dir = fs::path(workdir_) / "mail" / user;
  if (mailbox != "INBOX") dir /= "." + mailbox;
  int n = 0;
  for (const char* sub : {"cur", "new"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / sub, ec)) {
      if (e.is_regular_file()) ++n;
    }
  }
  return n;
}

}  // namespace imapprobe::testing
