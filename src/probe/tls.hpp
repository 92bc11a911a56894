// TLS set-up and certificate inspection for the probe: client contexts that
// can be shared by many concurrent probes, and what a certificate says.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "net/transport.hpp"
#include "probe/result.hpp"

namespace imapprobe::probe {

// Loading the system trust store costs milliseconds; probes with the same
// trust settings share one context. Owned by the prober, not global.
class TlsContextCache {
 public:
  // Throws std::runtime_error naming the problem (a CA bundle that is not PEM,
  // an unknown minimum version).
  std::shared_ptr<boost::asio::ssl::context> get(const std::string& ca_pem, bool use_system_trust,
                                                 const std::string& min_version);

 private:
  std::mutex mu_;
  std::map<std::tuple<std::string, bool, std::string>, std::shared_ptr<boost::asio::ssl::context>>
      contexts_;
};

// Why a CA bundle cannot be used (it holds no PEM certificate), or nothing:
// the operator checks a bundle when it reads the Secret, so a malformed one
// is a configuration error, not a TLS outage. The message never quotes it.
std::optional<std::string> check_ca_bundle(const std::string& pem);

// Facts of the leaf certificate; `verified`/`verify_error` are the caller's.
CertificateInfo describe_certificate(X509* cert, std::chrono::system_clock::time_point now);

// What a finished handshake established: the leaf's facts, the version and
// cipher, and whether chain and name verified.
CertificateInfo certificate_info(const net::TlsFacts& facts,
                                 std::chrono::system_clock::time_point now);

// Maps an X509_V_ERR_* code to the reason a user acts on.
Reason reason_for_verify_error(long x509_error);

}  // namespace imapprobe::probe
