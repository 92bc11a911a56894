// Remembers certificate chains that verified, so a probe that sees the same
// chain again skips X509_verify_cert (about 16% of a handshake's
// instructions: path building and the chain's signature checks). What a
// probe checks does not change: the key is the leaf, the chain the server
// sent and the name to check, the trust store is the context's own (fixed
// for its life), only clean successes are remembered, and an entry lasts
// ten minutes at most and never past the earliest notAfter it covers.
// Failures are verified every time, so they are always described afresh.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <map>
#include <mutex>

namespace imapprobe::probe {

class VerifyCache {
 public:
  using Clock = std::chrono::system_clock;
  static constexpr std::chrono::minutes kLifetime{10};
  static constexpr std::size_t kMaxEntries = 4096;

  // Installs the cache as `ctx`'s certificate verification; `this` must
  // outlive the context.
  void install(SSL_CTX* ctx);

  // SSL_CTX_set_cert_verify_callback's contract: 1 to go on, 0 to fail.
  int verify(X509_STORE_CTX* store_ctx);

  std::size_t hits() const;
  std::size_t size() const;

 private:
  using Key = std::array<unsigned char, 32>;
  mutable std::mutex mu_;
  std::map<Key, Clock::time_point> verified_until_;
  std::size_t hits_ = 0;
};

}  // namespace imapprobe::probe
