// Pure helpers shared by the Kubernetes client module, exposed so that the
// unit tests can pin down their exact behaviour (time formats, error texts,
// backoff) without an API server.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>

#include "kube/client.hpp"

namespace imapprobe::kube::detail {

// Percent-encodes everything outside RFC 3986's unreserved set, so opaque
// values (continue tokens, resourceVersions) survive as one query value.
std::string url_encode(std::string_view in);

// `query` ("a=b&c=d") appended with '?' or '&' depending on `path`.
std::string append_query(const std::string& path, const std::string& query);

// The ApiError for a response with a non-2xx status: reason and message
// from the Status object in `body` when there is one, else the HTTP reason
// phrase and (a bounded prefix of) the body text.
ApiError api_error_from_response(const std::string& verb, const std::string& path, int status,
                                 const std::string& reason_phrase, const std::string& body);

// The ApiError for a request that got no response at all.
ApiError transport_error(const std::string& verb, const std::string& path,
                         const std::string& error_text);

// Cuts at most `max_bytes` without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string s, std::size_t max_bytes);

// Full jitter: uniform in [0, min(max, initial * 2^(attempt-1))]; attempt >= 1.
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max, std::mt19937_64& rng);

// Sleeps unless `stop` is requested first; false when stopped.
bool sleep_for(std::stop_token stop, std::chrono::milliseconds d);

// Whether a Lease spec no longer protects its holder at `now`: no holder,
// or renewTime + leaseDurationSeconds already passed (or unreadable).
bool lease_expired(const nlohmann::json& spec, std::chrono::system_clock::time_point now);

// Splits a byte stream into lines; a watch delivers one JSON document per
// line but the transport cuts the stream anywhere.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = 64 * 1024 * 1024) : max_line_(max_line) {}
  // Calls on_line for each complete line (without '\n', "\r" stripped, empty
  // lines skipped). Returns false as soon as on_line does. Throws
  // std::length_error when a line grows past max_line.
  bool feed(std::string_view data, const std::function<bool(std::string_view line)>& on_line);
  // What is left after the stream ended (a last line without '\n').
  const std::string& pending() const { return pending_; }

 private:
  std::size_t max_line_;
  std::string pending_;
};

}  // namespace imapprobe::kube::detail
