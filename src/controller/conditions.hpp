// metav1.Condition handling shared by every status write: one place decides
// when lastTransitionTime moves (only when status changes).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "controller/shared_value.hpp"
#include "encoding/time.hpp"

namespace imapprobe::controller {

// A condition's status, "True" | "False" | "Unknown", in one byte: every
// probe holds four conditions, and a string each was 32 bytes. Anything
// else read from a status is Unknown.
class ConditionStatus {
 public:
  enum class Value : std::uint8_t { Unknown, True, False };
  ConditionStatus() = default;
  ConditionStatus(const char* text) : ConditionStatus(std::string_view(text)) {}
  explicit ConditionStatus(std::string_view text)
      : value_(text == "True"    ? Value::True
               : text == "False" ? Value::False
                                 : Value::Unknown) {}
  std::string_view text() const {
    return value_ == Value::True ? "True" : value_ == Value::False ? "False" : "Unknown";
  }
  bool operator==(const ConditionStatus&) const = default;
  friend std::ostream& operator<<(std::ostream& os, ConditionStatus s) { return os << s.text(); }

 private:
  Value value_ = Value::Unknown;
};

struct Condition {
  // Type, reason and message are the same few words for most probes, shared
  // through the reconciler's pools: a std::string is 32 bytes inline, a
  // SharedText 8 and its text one copy for all.
  SharedText type;
  ConditionStatus status;
  SharedText reason;
  SharedText message;
  std::int64_t observed_generation = 0;
  encoding::Timestamp last_transition_time;

  bool operator==(const Condition&) const = default;
};

// Sets `c` in `conditions`: keeps the existing lastTransitionTime when the
// status is unchanged (a new reason or message is not a transition).
void set_condition(std::vector<Condition>& conditions, Condition c, encoding::Timestamp now);
const Condition* find_condition(const std::vector<Condition>& conditions, const std::string& type);
// Removes the condition of `type`, if any (a condition that only applies to
// a passing phase, like Reconciling, goes once the phase is over).
void drop_condition(std::vector<Condition>& conditions, const std::string& type);

nlohmann::json to_json(const Condition& c);
std::vector<Condition> conditions_from_json(const nlohmann::json& status);

}  // namespace imapprobe::controller
