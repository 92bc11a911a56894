#include "support/postfix.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/env_file.hpp"

namespace imapprobe::testing {
namespace fs = std::filesystem;

namespace {
const std::string kHarness =
    std::string(IMAPPROBE_SOURCE_DIR) + "/tests/servers/postfix/postfix-harness.sh";
}

Postfix::Postfix(const Dovecot& dovecot) {
  std::string tmpl = (fs::temp_directory_path() / "imapprobe-postfix-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  workdir_ = tmpl;
  std::string out;
  if (run_command("bash " + kHarness + " start " + workdir_ + " --dovecot " + dovecot.workdir(),
                  out) != 0) {
    run_command("bash " + kHarness + " stop " + workdir_, out);
    std::error_code ec;
    fs::remove_all(workdir_, ec);
    throw std::runtime_error("postfix harness failed to start:\n" + out);
  }
  env_ = read_env_file(workdir_ + "/env");
}

Postfix::~Postfix() {
  std::string out;
  if (run_command("bash " + kHarness + " stop " + workdir_, out) != 0) {
    std::fprintf(stderr, "postfix harness stop failed:\n%s\n", out.c_str());
  }
  std::error_code ec;
  if (std::getenv("IMAPPROBE_KEEP_WORKDIR") == nullptr) fs::remove_all(workdir_, ec);
}

const std::string& Postfix::get(const std::string& key) const {
  auto it = env_.find(key);
  if (it == env_.end()) throw std::runtime_error("postfix env has no " + key);
  return it->second;
}

std::uint16_t Postfix::port(const std::string& key) const {
  return static_cast<std::uint16_t>(std::stoi(get(key)));
}

void Postfix::release() const {
  std::string out;
  if (run_command("bash " + kHarness + " release " + workdir_, out) != 0) {
    throw std::runtime_error("postfix harness release failed: " + out);
  }
}

std::string Postfix::log() const {
  std::ifstream in(get("POSTFIX_LOG"));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace imapprobe::testing
