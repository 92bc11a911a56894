#include "controller/conditions.hpp"

#include <algorithm>

namespace imapprobe::controller {

void set_condition(std::vector<Condition>& conditions, Condition c, encoding::Timestamp now) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& x) { return x.type == c.type; });
  if (it == conditions.end()) {
    c.last_transition_time = now;
    conditions.push_back(std::move(c));
    return;
  }
  c.last_transition_time =
      it->status == c.status && !it->last_transition_time.empty() ? it->last_transition_time : now;
  *it = std::move(c);
}

const Condition* find_condition(const std::vector<Condition>& conditions, const std::string& type) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& x) { return x.type.str() == type; });
  return it == conditions.end() ? nullptr : &*it;
}

void drop_condition(std::vector<Condition>& conditions, const std::string& type) {
  std::erase_if(conditions, [&](const Condition& x) { return x.type.str() == type; });
}

nlohmann::json to_json(const Condition& c) {
  // The API server requires a non-empty reason and a message field.
  return {{"type", c.type.str()},
          {"status", c.status.text()},
          {"reason", c.reason.empty() ? std::string("Unknown") : c.reason.str()},
          {"message", c.message},
          {"observedGeneration", c.observed_generation},
          {"lastTransitionTime", c.last_transition_time.to_string()}};
}

std::vector<Condition> conditions_from_json(const nlohmann::json& status) {
  std::vector<Condition> out;
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) {
    return out;
  }
  for (const auto& j : status["conditions"]) {
    if (!j.is_object()) continue;
    Condition c;
    c.type = j.value("type", "");
    c.status = ConditionStatus(j.value("status", std::string("Unknown")));
    c.reason = j.value("reason", "");
    c.message = j.value("message", "");
    c.observed_generation = j.value("observedGeneration", std::int64_t{0});
    c.last_transition_time = encoding::Timestamp::parse(j.value("lastTransitionTime", ""));
    if (!c.type.empty()) out.push_back(std::move(c));
  }
  out.shrink_to_fit();
  return out;
}

}  // namespace imapprobe::controller
