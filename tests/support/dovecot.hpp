// A private, real Dovecot for the tests, started by
// tests/servers/dovecot/dovecot-harness.sh on loopback ports.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace imapprobe::testing {

struct DovecotOptions {
  // Empty: XOAUTH2/OAUTHBEARER tokens are HS256 JWTs validated locally
  // (mint_token). Set (e.g. Hydra::introspection_url()): Dovecot introspects
  // every token there instead, user = the token's `sub`.
  std::string oauth2_introspection_url;
};

class Dovecot {
 public:
  // Starts a fresh instance in a new temporary directory; throws with the
  // harness's output when it cannot.
  explicit Dovecot(DovecotOptions options = {});
  ~Dovecot();
  Dovecot(const Dovecot&) = delete;
  Dovecot& operator=(const Dovecot&) = delete;

  const std::string& get(const std::string& key) const;
  std::uint16_t port(const std::string& key) const;
  // Host for a listener: KEY's host if the harness gave one (X_PORT -> X_HOST), else HOST.
  std::string host_for(const std::string& port_key) const;
  std::string ca_pem() const;
  std::string mint_token(const std::string& user, int ttl_seconds = 3600) const;
  // Number of messages in a user's mailbox on disk (maildir cur+new).
  int count_messages(const std::string& user, const std::string& mailbox = "INBOX") const;
  const std::string& workdir() const { return workdir_; }

 private:
  std::string workdir_;
  std::map<std::string, std::string> env_;
};

// Runs a shell command, returns its exit status and its combined output.
int run_command(const std::string& command, std::string& output);
// `s` as one single-quoted shell word.
std::string shell_quote(const std::string& s);

}  // namespace imapprobe::testing
