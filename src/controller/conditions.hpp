// metav1.Condition handling shared by every status write: one place decides
// when lastTransitionTime moves (only when status changes).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace imapprobe::controller {

struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339

  bool operator==(const Condition&) const = default;
};

// Sets `c` in `conditions`: keeps the existing lastTransitionTime when the
// status is unchanged (a new reason or message is not a transition).
void set_condition(std::vector<Condition>& conditions, Condition c, const std::string& now);
const Condition* find_condition(const std::vector<Condition>& conditions, const std::string& type);
// Removes the condition of `type`, if any (a condition that only applies to
// a passing phase, like Reconciling, goes once the phase is over).
void drop_condition(std::vector<Condition>& conditions, const std::string& type);

nlohmann::json to_json(const Condition& c);
std::vector<Condition> conditions_from_json(const nlohmann::json& status);

}  // namespace imapprobe::controller
