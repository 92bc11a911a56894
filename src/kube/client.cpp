#include "kube/client.hpp"

// cpprestsdk's U() macro breaks fmt's templates (spdlog) included after it.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <vector>

#include "kube/detail.hpp"

namespace imapprobe::kube {

ApiError::ApiError(int status, std::string reason, std::string api_message, const std::string& what)
    : std::runtime_error(what),
      status_(status),
      reason_(std::move(reason)),
      api_message_(std::move(api_message)) {}

namespace {
namespace fs = std::filesystem;
using web::http::http_request;
using web::http::http_response;
using web::http::methods;
using web::http::client::http_client;
using web::http::client::http_client_config;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  std::array<char, 256> buf{};
  ERR_error_string_n(e, buf.data(), buf.size());
  return buf.data();
}

BioPtr memory_bio(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw ConfigError("out of memory reading PEM data");
  return bio;
}

std::vector<X509Ptr> parse_certificates(const std::string& pem, const std::string& what) {
  auto bio = memory_bio(pem);
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(x);
  // The loop always ends on a "no start line" error at the end of the data.
  ERR_clear_error();
  if (certs.empty()) throw ConfigError(what + ": no PEM certificate found");
  return certs;
}

PkeyPtr parse_private_key(const std::string& pem) {
  auto bio = memory_bio(pem);
  // A callback that supplies no passphrase: the default one would prompt on
  // the terminal for an encrypted key.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    throw ConfigError("client key: cannot parse PEM private key (" + openssl_error() + ")");
  }
  return key;
}

// Parsed once, shared read-only by every TLS connection the client opens;
// OpenSSL takes its own references when they are installed in a context.
struct TlsMaterial {
  std::vector<X509Ptr> ca;
  std::vector<X509Ptr> client_chain;
  PkeyPtr client_key;

  void install(boost::asio::ssl::context& asio_ctx) const {
    SSL_CTX* ctx = asio_ctx.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!ca.empty()) {
      // A fresh store: a cluster CA replaces the system roots, as in kubectl.
      StorePtr store(X509_STORE_new());
      if (!store) throw std::runtime_error("X509_STORE_new failed");
      for (const auto& cert : ca) {
        if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
          throw std::runtime_error("cannot add CA certificate: " + openssl_error());
        }
      }
      SSL_CTX_set_cert_store(ctx, store.release());
    }
    if (!client_chain.empty()) {
      if (SSL_CTX_use_certificate(ctx, client_chain.front().get()) != 1) {
        throw std::runtime_error("cannot use client certificate: " + openssl_error());
      }
      for (std::size_t i = 1; i < client_chain.size(); ++i) {
        if (SSL_CTX_add1_chain_cert(ctx, client_chain[i].get()) != 1) {
          throw std::runtime_error("cannot add client chain certificate: " + openssl_error());
        }
      }
      if (SSL_CTX_use_PrivateKey(ctx, client_key.get()) != 1 ||
          SSL_CTX_check_private_key(ctx) != 1) {
        throw std::runtime_error("cannot use client key: " + openssl_error());
      }
    }
  }
};

std::shared_ptr<const TlsMaterial> load_tls(const ClusterConfig& config) {
  auto tls = std::make_shared<TlsMaterial>();
  if (!config.ca_pem.empty()) tls->ca = parse_certificates(config.ca_pem, "certificate authority");
  if (!config.client_cert_pem.empty() || !config.client_key_pem.empty()) {
    if (config.client_cert_pem.empty() || config.client_key_pem.empty()) {
      throw ConfigError("client certificate and client key must be given together");
    }
    tls->client_chain = parse_certificates(config.client_cert_pem, "client certificate");
    tls->client_key = parse_private_key(config.client_key_pem);
    if (X509_check_private_key(tls->client_chain.front().get(), tls->client_key.get()) != 1) {
      ERR_clear_error();
      throw ConfigError("client key does not match the client certificate");
    }
  }
  return tls;
}

// The server's timeoutSeconds of a watch path, 0 when none is given.
int watch_timeout_seconds(const std::string& path) {
  const auto q = path.find('?');
  if (q == std::string::npos) return 0;
  const std::string key = "timeoutSeconds=";
  for (auto pos = path.find(key, q); pos != std::string::npos; pos = path.find(key, pos + 1)) {
    if (path[pos - 1] != '?' && path[pos - 1] != '&') continue;
    try {
      return std::max(0, std::stoi(path.substr(pos + key.size())));
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string describe_exception(const std::exception& e) {
  if (const auto* he = dynamic_cast<const web::http::http_exception*>(&e)) {
    if (he->error_code() == std::errc::timed_out) return std::string("timed out: ") + he->what();
  }
  return e.what();
}

const char* patch_content_type(PatchType type) {
  switch (type) {
    case PatchType::Merge:
      return "application/merge-patch+json";
    case PatchType::StrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::Json:
      return "application/json-patch+json";
    case PatchType::Apply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

web::uri server_uri(const std::string& server) {
  try {
    return web::uri(server);
  } catch (const std::exception& e) {
    throw ConfigError("invalid server URL \"" + server + "\": " + e.what());
  }
}

std::string dump(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

struct Client::Impl {
  Impl(const ClusterConfig& config, std::chrono::milliseconds request_timeout)
      : config_(config),
        tls_(load_tls(config)),
        base_(server_uri(config.server)),
        requests_(base_, make_config(request_timeout)) {}

  http_client_config make_config(std::chrono::milliseconds timeout) const {
    http_client_config cfg;
    // cpprestsdk's timeout is an idle timeout (reset by every read), so
    // this bounds silence, not the length of a watch.
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config_.insecure_skip_tls_verify);
    // Redirects would carry the Authorization header to another host.
    cfg.set_max_redirects(0);
    cfg.set_ssl_context_callback(
        [tls = tls_](boost::asio::ssl::context& ctx) { tls->install(ctx); });
    return cfg;
  }

  // The token file is re-read when its mtime changes (kubelet rotates
  // projected service account tokens) and at least once a minute, in case a
  // rewrite kept the mtime.
  std::string bearer_token() {
    if (config_.token_file.empty()) return config_.token;
    std::lock_guard lock(token_mu_);
    const auto now = std::chrono::steady_clock::now();
    std::error_code ec;
    const auto mtime = fs::last_write_time(config_.token_file, ec);
    const bool fresh = token_loaded_ && !ec && mtime == token_mtime_ &&
                       now - token_read_at_ < std::chrono::minutes(1);
    if (fresh) return token_;
    std::ifstream in(config_.token_file, std::ios::binary);
    std::ostringstream s;
    if (in) s << in.rdbuf();
    std::string token = s.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (!in || token.empty()) {
      // Keep using what worked before rather than drop authentication.
      spdlog::warn("kube: cannot read bearer token file {}; using the previous token",
                   config_.token_file);
      return token_loaded_ ? token_ : config_.token;
    }
    token_ = std::move(token);
    token_loaded_ = true;
    token_mtime_ = ec ? fs::file_time_type{} : mtime;
    token_read_at_ = now;
    return token_;
  }

  void prepare(http_request& req, const std::string& verb, const std::string& path,
               const std::string& accept = "application/json") {
    try {
      req.set_request_uri(web::uri(path));
    } catch (const std::exception& e) {
      count(verb, 0);
      throw detail::transport_error(verb, path, std::string("invalid request path: ") + e.what());
    }
    auto& h = req.headers();
    h.add("Accept", accept);
    h.add("User-Agent", "imap-probe-operator");
    const std::string token = bearer_token();
    if (!token.empty()) h.add("Authorization", "Bearer " + token);
  }

  nlohmann::json call(const std::string& verb, const web::http::method& method,
                      const std::string& path, const std::string* body = nullptr,
                      const char* content_type = nullptr,
                      const std::string& accept = "application/json") {
    http_request req(method);
    prepare(req, verb, path, accept);
    if (body != nullptr) {
      // Bytes rather than a std::string: cpprestsdk's string overload reads
      // a char buffer through a uint8_t stream (undefined behaviour, which
      // UBSan reports).
      std::vector<unsigned char> bytes(body->begin(), body->end());
      const auto size = bytes.size();
      req.set_body(Concurrency::streams::bytestream::open_istream(std::move(bytes)), size,
                   content_type);
    }
    const auto started = std::chrono::steady_clock::now();
    http_response resp;
    std::string text;
    try {
      resp = requests_.request(req).get();
      text = resp.extract_utf8string(true).get();
    } catch (const std::exception& e) {
      count(verb, 0);
      spdlog::debug("kube: {} {} failed: {}", verb, path, describe_exception(e));
      throw detail::transport_error(verb, path, describe_exception(e));
    }
    const int status = resp.status_code();
    count(verb, status);
    observe(verb, std::chrono::steady_clock::now() - started);
    spdlog::debug("kube: {} {} -> {} ({} ms)", verb, path, status,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count());
    if (status < 200 || status > 299) {
      throw detail::api_error_from_response(verb, path, status, resp.reason_phrase(), text);
    }
    if (text.empty()) return nlohmann::json::object();
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_discarded()) {
      throw ApiError(status, "", "response is not JSON",
                     verb + " " + path + ": " + std::to_string(status) + ": response is not JSON");
    }
    return parsed;
  }

  void observe(const std::string& verb, std::chrono::steady_clock::duration took) {
    std::lock_guard lock(counts_mu_);
    auto& [sum, n] = latency_[verb];
    sum += std::chrono::duration<double>(took).count();
    ++n;
  }

  void count(const std::string& verb, int status) {
    std::lock_guard lock(counts_mu_);
    ++counts_[{verb, status}];
  }

  const ClusterConfig& config_;
  std::shared_ptr<const TlsMaterial> tls_;
  web::uri base_;
  http_client requests_;

  std::mutex token_mu_;
  bool token_loaded_ = false;
  std::string token_;
  fs::file_time_type token_mtime_{};
  std::chrono::steady_clock::time_point token_read_at_{};

  mutable std::mutex counts_mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;
  std::map<std::string, std::pair<double, std::uint64_t>> latency_;
};

Client::Client(ClusterConfig config, std::chrono::milliseconds request_timeout)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(config_, request_timeout)) {}

Client::~Client() = default;

nlohmann::json Client::get(const std::string& path) {
  return impl_->call("GET", methods::GET, path);
}

nlohmann::json Client::get(const std::string& path, const std::string& accept) {
  return impl_->call("GET", methods::GET, path, nullptr, nullptr, accept);
}

nlohmann::json Client::create(const std::string& path, const nlohmann::json& body) {
  const std::string text = dump(body);
  return impl_->call("POST", methods::POST, path, &text, "application/json");
}

nlohmann::json Client::replace(const std::string& path, const nlohmann::json& body) {
  const std::string text = dump(body);
  return impl_->call("PUT", methods::PUT, path, &text, "application/json");
}

nlohmann::json Client::patch(const std::string& path, const nlohmann::json& body, PatchType type,
                             const std::string& field_manager, bool force) {
  std::string full = path;
  if (type == PatchType::Apply) {
    std::string query;
    if (!field_manager.empty()) query = "fieldManager=" + detail::url_encode(field_manager);
    if (force) query += std::string(query.empty() ? "" : "&") + "force=true";
    full = query.empty() ? path : detail::append_query(path, query);
  } else if (!field_manager.empty()) {
    full = detail::append_query(path, "fieldManager=" + detail::url_encode(field_manager));
  }
  const std::string text = dump(body);
  return impl_->call("PATCH", methods::PATCH, full, &text, patch_content_type(type));
}

void Client::remove(const std::string& path) { impl_->call("DELETE", methods::DEL, path); }

void Client::watch(
    const std::string& path,
    const std::function<bool(const std::string& type, const nlohmann::json& object)>& on_event,
    std::stop_token stop, const std::string& accept) {
  if (stop.stop_requested()) return;
  const std::string verb = "WATCH";
  const int server_timeout = watch_timeout_seconds(path);
  // Beyond the server's own timeout, so that it is the server that ends the
  // watch; bookmarks keep the stream from ever being idle that long.
  const std::chrono::milliseconds idle_timeout =
      server_timeout > 0 ? std::chrono::seconds(server_timeout + 60) : std::chrono::hours(1);
  http_client client(impl_->base_, impl_->make_config(idle_timeout));

  pplx::cancellation_token_source cancel;
  // Whatever way this function is left, the request must not go on filling
  // an unread body buffer in the background.
  struct CancelOnExit {
    pplx::cancellation_token_source& source;
    ~CancelOnExit() { source.cancel(); }
  } cancel_on_exit{cancel};
  // Closing the connection is the only way to wake a read blocked on a
  // silent stream.
  std::stop_callback on_stop(stop, [&cancel] { cancel.cancel(); });

  http_request req(methods::GET);
  impl_->prepare(req, verb, path, accept);
  http_response resp;
  try {
    resp = client.request(req, cancel.get_token()).get();
  } catch (const std::exception& e) {
    if (stop.stop_requested()) return;
    impl_->count(verb, 0);
    throw detail::transport_error(verb, path, describe_exception(e));
  }
  const int status = resp.status_code();
  impl_->count(verb, status);
  if (status != 200) {
    std::string text;
    try {
      text = resp.extract_utf8string(true).get();
    } catch (const std::exception&) {
      // The status alone still says what failed.
    }
    throw detail::api_error_from_response(verb, path, status, resp.reason_phrase(), text);
  }
  spdlog::debug("kube: WATCH {} open", path);

  auto body = resp.body().streambuf();
  detail::LineSplitter lines;
  std::vector<std::uint8_t> buf(64 * 1024);
  try {
    while (!stop.stop_requested()) {
      // producer_consumer_buffer completes a read only when all the bytes
      // asked for are there: ask for what is buffered, or for one byte to
      // wait on, never for more.
      const std::size_t avail = body.in_avail();
      const std::size_t want = avail == 0 ? 1 : std::min(avail, buf.size());
      const std::size_t n = body.getn(buf.data(), want).get();
      if (n == 0) break;
      const bool go_on = lines.feed(
          std::string_view(reinterpret_cast<const char*>(buf.data()), n),
          [&](std::string_view line) {
            auto event = nlohmann::json::parse(line, nullptr, false);
            if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) {
              throw ApiError(status, "", "malformed watch event",
                             verb + " " + path + ": malformed watch event");
            }
            static const nlohmann::json kEmpty = nlohmann::json::object();
            const auto obj = event.find("object");
            return on_event(event["type"].get<std::string>(), obj != event.end() ? *obj : kEmpty);
          });
      if (!go_on) return;
    }
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    if (stop.stop_requested()) return;
    throw detail::transport_error(verb, path, std::string("watch stream broken: ") + e.what());
  }
}

std::map<std::string, std::pair<double, std::uint64_t>> Client::request_latency() const {
  std::lock_guard lock(impl_->counts_mu_);
  return impl_->latency_;
}

std::map<std::pair<std::string, int>, std::uint64_t> Client::request_counts() const {
  std::lock_guard lock(impl_->counts_mu_);
  return impl_->counts_;
}

}  // namespace imapprobe::kube
