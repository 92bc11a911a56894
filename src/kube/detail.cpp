#include "kube/detail.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <stdexcept>

namespace imapprobe::kube::detail {
namespace {

std::string path_without_query(const std::string& path) {
  const auto q = path.find('?');
  return q == std::string::npos ? path : path.substr(0, q);
}

bool parse_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format_micro_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = floor<microseconds>(t);
  const auto secs = floor<seconds>(us);
  const auto frac = (us - secs).count();
  const std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 96> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf.data();
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!parse_digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !parse_digits(s, 5, 2, mon) ||
      s[7] != '-' || !parse_digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !parse_digits(s, 11, 2, hour) || s[13] != ':' || !parse_digits(s, 14, 2, min) ||
      s[16] != ':' || !parse_digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long scale = 100'000'000;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac += std::chrono::nanoseconds((s[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  std::chrono::seconds offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!parse_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !parse_digits(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::time_t tt = timegm(&tm);
  return std::chrono::system_clock::from_time_t(tt) - offset +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(frac);
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned int acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const int v = value(c);
    if (v < 0 || padding) throw std::invalid_argument("invalid base64 data");
    acc = (acc << 6) | static_cast<unsigned int>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // 6 leftover bits cannot come from whole bytes: the input was truncated.
  if (bits >= 6) throw std::invalid_argument("invalid base64 data (truncated)");
  return out;
}

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
  const auto renewed = parse_rfc3339(renew->get<std::string>());
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
