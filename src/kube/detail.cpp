#include "kube/detail.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <stdexcept>

#include "encoding/time.hpp"

namespace imapprobe::kube::detail {
namespace {

std::string path_without_query(const std::string& path) {
  const auto q = path.find('?');
  return q == std::string::npos ? path : path.substr(0, q);
}

}  // namespace

std::string url_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string append_query(const std::string& path, const std::string& query) {
  if (query.empty()) return path;
  if (path.find('?') == std::string::npos) return path + "?" + query;
  if (path.back() == '?' || path.back() == '&') return path + query;
  return path + "&" + query;
}

ApiError api_error_from_response(const std::string& verb, const std::string& path, int status,
                                 const std::string& reason_phrase, const std::string& body) {
  std::string reason;
  std::string message;
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && (parsed.contains("reason") || parsed.contains("message"))) {
    if (auto it = parsed.find("reason"); it != parsed.end() && it->is_string()) {
      reason = it->get<std::string>();
    }
    if (auto it = parsed.find("message"); it != parsed.end() && it->is_string()) {
      message = it->get<std::string>();
    }
  } else {
    // Not a Status (a proxy's HTML page, a plain-text 503...): keep a short,
    // single-line excerpt so that the error stays readable in a log line.
    message = truncate_utf8(body, 512);
    std::replace(message.begin(), message.end(), '\n', ' ');
    while (!message.empty() && (message.back() == ' ' || message.back() == '\r')) {
      message.pop_back();
    }
  }
  std::string what = verb + " " + path_without_query(path) + ": " + std::to_string(status);
  const std::string& shown = reason.empty() ? reason_phrase : reason;
  if (!shown.empty()) what += " " + shown;
  if (!message.empty()) what += ": " + message;
  return ApiError(status, std::move(reason), std::move(message), what);
}

ApiError transport_error(const std::string& verb, const std::string& path,
                         const std::string& error_text) {
  return ApiError(0, "", error_text,
                  verb + " " + path_without_query(path) + ": no response: " + error_text);
}

std::string truncate_utf8(std::string s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t cut = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to a sequence start.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds max, std::mt19937_64& rng) {
  if (attempt < 1) attempt = 1;
  long long cap = initial.count();
  for (int i = 1; i < attempt && cap < max.count(); ++i) cap *= 2;
  cap = std::min(cap, static_cast<long long>(max.count()));
  if (cap <= 0) return std::chrono::milliseconds(0);
  std::uniform_int_distribution<long long> dist(0, cap);
  return std::chrono::milliseconds(dist(rng));
}

bool sleep_for(std::stop_token stop, std::chrono::milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

bool lease_expired(const nlohmann::json& spec, std::chrono::system_clock::time_point now) {
  const auto holder = spec.value("holderIdentity", std::string{});
  if (holder.empty()) return true;
  const auto renew = spec.find("renewTime");
  const auto duration = spec.find("leaseDurationSeconds");
  if (renew == spec.end() || !renew->is_string() || duration == spec.end() ||
      !duration->is_number_integer()) {
    return true;
  }
  const auto renewed = encoding::parse_rfc3339(renew->get<std::string>());
  if (!renewed) return true;
  return *renewed + std::chrono::seconds(duration->get<long long>()) < now;
}

bool LineSplitter::feed(std::string_view data,
                        const std::function<bool(std::string_view line)>& on_line) {
  while (!data.empty()) {
    const auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      if (pending_.size() + data.size() > max_line_) {
        throw std::length_error("watch line longer than " + std::to_string(max_line_) + " bytes");
      }
      pending_.append(data);
      return true;
    }
    std::string_view line;
    if (pending_.empty()) {
      line = data.substr(0, nl);
    } else {
      pending_.append(data.substr(0, nl));
      line = pending_;
    }
    data.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool go_on = true;
    if (!line.empty()) go_on = on_line(line);
    pending_.clear();
    if (!go_on) return false;
  }
  return true;
}

}  // namespace imapprobe::kube::detail
