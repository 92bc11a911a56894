// The project's one place for timestamps as text: RFC 3339 as status fields
// carry it (whole seconds), MicroTime as Events and Leases need it, and one
// parser for both (and for whatever a person or another tool wrote).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imapprobe::encoding {

// "2026-11-25T21:00:00Z": UTC, whole seconds (metav1.Time).
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// MicroTime as the API requires it: UTC, exactly six fractional digits,
// e.g. "2026-11-25T21:00:00.000000Z". Sub-microseconds are cut, never rounded.
std::string format_micro_time(std::chrono::system_clock::time_point t);

// RFC 3339 with or without a fraction, "Z" or a numeric offset; nullopt for
// anything else.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s);

// A metav1.Time as the operator keeps it per probe: whole seconds, 8 bytes.
// As text (20 characters) each status time cost a 32-byte string plus a heap
// block, and a probe has eight of them; it becomes text only when written.
class Timestamp {
 public:
  Timestamp() = default;  // no time: the field is absent
  explicit Timestamp(std::chrono::system_clock::time_point t)
      : seconds_(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count()) {}
  // A status field's text; no time for "" or anything that is not RFC 3339
  // (a hand-edited status cannot stop the operator).
  static Timestamp parse(std::string_view text);

  bool empty() const { return seconds_ == kNone; }
  // nullopt when empty.
  std::optional<std::chrono::system_clock::time_point> time() const;
  // format_rfc3339, or "" when empty.
  std::string to_string() const;
  bool operator==(const Timestamp&) const = default;

 private:
  static constexpr std::int64_t kNone = INT64_MIN;
  std::int64_t seconds_ = kNone;
};

}  // namespace imapprobe::encoding
