#include "probe/tls.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <stdexcept>

#include "probe/verify_cache.hpp"

namespace imapprobe::probe {
namespace {

std::string name_to_string(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || name == nullptr) return {};
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string openssl_error_text() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

constexpr const char* kNoPemCertificate = "the CA bundle holds no PEM certificate";

// Calls `f` for each certificate of a PEM bundle; returns how many.
template <typename F>
int for_each_pem_certificate(const std::string& pem, F f) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    f(cert);
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();  // the read that ends the loop leaves a "no start line" error
  return count;
}

}  // namespace

std::optional<std::string> check_ca_bundle(const std::string& pem) {
  if (for_each_pem_certificate(pem, [](X509*) {}) == 0) return std::string(kNoPemCertificate);
  return std::nullopt;
}

std::shared_ptr<boost::asio::ssl::context> TlsContextCache::get(const std::string& ca_pem,
                                                                bool use_system_trust,
                                                                const std::string& min_version) {
  std::lock_guard lock(mu_);
  auto key = std::make_tuple(ca_pem, use_system_trust, min_version);
  if (auto it = contexts_.find(key); it != contexts_.end()) return it->second;

  // The verify cache lives exactly as long as the context it serves.
  auto cache = std::make_shared<VerifyCache>();
  std::shared_ptr<boost::asio::ssl::context> ctx(
      new boost::asio::ssl::context(boost::asio::ssl::context::tls_client),
      [cache](boost::asio::ssl::context* c) { delete c; });
  SSL_CTX* native = ctx->native_handle();
  int version = 0;
  if (min_version == "TLSv1.2") {
    version = TLS1_2_VERSION;
  } else if (min_version == "TLSv1.3") {
    version = TLS1_3_VERSION;
  } else {
    throw std::runtime_error("unsupported minimum TLS version \"" + min_version +
                             "\" (allowed: TLSv1.2, TLSv1.3)");
  }
  SSL_CTX_set_min_proto_version(native, version);
  if (use_system_trust && SSL_CTX_set_default_verify_paths(native) != 1) {
    throw std::runtime_error("cannot load the system trust store: " + openssl_error_text());
  }
  if (!ca_pem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    const int added =
        for_each_pem_certificate(ca_pem, [&](X509* cert) { X509_STORE_add_cert(store, cert); });
    if (added == 0) throw std::runtime_error(kNoPemCertificate);
  }
  // Verification runs in the probe's callback so that a failing chain is
  // still described before the connection is dropped.
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  cache->install(native);
  contexts_.emplace(std::move(key), ctx);
  return ctx;
}

CertificateInfo describe_certificate(X509* cert, std::chrono::system_clock::time_point now) {
  CertificateInfo info;
  if (cert == nullptr) return info;
  info.subject = name_to_string(X509_get_subject_name(cert));
  info.issuer = name_to_string(X509_get_issuer_name(cert));
  info.not_before = to_time_point(X509_get0_notBefore(cert));
  info.not_after = to_time_point(X509_get0_notAfter(cert));
  info.days_remaining =
      std::chrono::duration<double>(info.not_after - now).count() / (24.0 * 3600.0);
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS) {
        const ASN1_STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<std::size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
        const unsigned char* b = ASN1_STRING_get0_data(ip);
        if (ASN1_STRING_length(ip) == 4) {
          info.dns_names.push_back(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." +
                                   std::to_string(b[2]) + "." + std::to_string(b[3]));
        } else if (ASN1_STRING_length(ip) == 16) {
          char buf[64];
          std::string text;
          for (int k = 0; k < 16; k += 2) {
            std::snprintf(buf, sizeof buf, "%s%x", k == 0 ? "" : ":", (b[k] << 8) | b[k + 1]);
            text += buf;
          }
          info.dns_names.push_back(text);
        }
      }
    }
    GENERAL_NAMES_free(names);
  }
  return info;
}

CertificateInfo certificate_info(const net::TlsFacts& facts,
                                 std::chrono::system_clock::time_point now) {
  CertificateInfo info = describe_certificate(facts.peer.get(), now);
  info.tls_version = facts.version;
  info.cipher = facts.cipher;
  info.verified = facts.verify_error == X509_V_OK;
  if (!info.verified) info.verify_error = X509_verify_cert_error_string(facts.verify_error);
  return info;
}

Reason reason_for_verify_error(long e) {
  switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return Reason::CertificateExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return Reason::CertificateNotYetValid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return Reason::CertificateHostnameMismatch;
    default:
      return Reason::CertificateUntrusted;
  }
}

}  // namespace imapprobe::probe
