// A private, real Postfix in front of a Dovecot harness (SMTP submission and
// smtps with Dovecot SASL, delivery by LMTP), started by
// tests/servers/postfix/postfix-harness.sh on loopback ports.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "support/dovecot.hpp"

namespace imapprobe::testing {

class Postfix {
 public:
  // Starts a fresh instance in a new temporary directory, delivering to `dovecot`
  // (which must outlive it); throws with the harness's output when it cannot.
  explicit Postfix(const Dovecot& dovecot);
  ~Postfix();
  Postfix(const Postfix&) = delete;
  Postfix& operator=(const Postfix&) = delete;

  const std::string& get(const std::string& key) const;
  std::uint16_t port(const std::string& key) const;
  // Releases mail held by the HOLD recipient (RCPT_HOLD) and flushes the queue.
  void release() const;
  // The Postfix mail log so far (maillog_file).
  std::string log() const;
  const std::string& workdir() const { return workdir_; }

 private:
  std::string workdir_;
  std::map<std::string, std::string> env_;
};

}  // namespace imapprobe::testing
