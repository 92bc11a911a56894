// The typed resource model: a status survives JSON -> struct -> JSON
// unchanged, and every example manifest parses through the operator's reader.
#include "controller/probe_status.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "controller/probe_resource.hpp"
#include "controller/probe_table.hpp"
#include "controller/verdict.hpp"
#include "unit/controller/sample_status.hpp"

namespace imapprobe::controller {
namespace {
using nlohmann::json;
using testing::kFullStatus;

TEST(ProbeStatusModel, SurvivesJsonToStructToJsonUnchanged) {
  const ProbeStatus s = ProbeStatus::from_json(kFullStatus);
  EXPECT_EQ(s.to_json(), kFullStatus) << s.to_json().dump(2);
  ASSERT_TRUE(s.last_run);
  EXPECT_EQ(s.last_run->durations.at("total"), std::chrono::milliseconds(1204));
  ASSERT_EQ(s.last_run->families.size(), 2u);
  EXPECT_EQ(s.last_run->families[1].remote_address, "[::1]:993");
  EXPECT_EQ(s.last_run->families[1].total, std::chrono::milliseconds(1204));
  ASSERT_TRUE(s.certificate);
  EXPECT_EQ(s.certificate->days_remaining, 31);
  EXPECT_EQ(ProbeStatus::from_json(s.to_json()), s);
}

// Step values live inline per status step name: every name the CRD allows
// is kept, anything else is skipped rather than stored.
TEST(ProbeStatusModel, StepValuesKeepEveryStatusStepAndSkipOthers) {
  json status = kFullStatus;
  json& d = status["lastRun"]["durations"];
  for (std::string_view step : kStatusSteps) d[std::string(step)] = "1.0ms";
  d["bogus"] = "2.0ms";
  const ProbeStatus s = ProbeStatus::from_json(status);
  EXPECT_EQ(s.last_run->durations.size(), std::size(kStatusSteps));
  EXPECT_FALSE(s.last_run->durations.contains("bogus"));
  d.erase("bogus");
  EXPECT_EQ(s.to_json()["lastRun"]["durations"], d);
  StepValues<double> v;
  EXPECT_THROW(v["bogus"], std::out_of_range);
  EXPECT_THROW(static_cast<void>(v.at("login")), std::out_of_range);
}

// Equality is about the values set: a value written then reset by a fresh
// StepValues leaves nothing behind, and a zero that is set differs from none.
TEST(ProbeStatusModel, StepValuesCompareTheStepsSetAndTheirValues) {
  StepValues<double> a, b;
  EXPECT_EQ(a, b);
  a["login"] = 0.0;
  EXPECT_FALSE(a == b) << "a zero that is set is not an absent value";
  b["login"] = 0.0;
  EXPECT_EQ(a, b);
  b["login"] = 0.5;
  EXPECT_FALSE(a == b);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_TRUE(a.contains("login"));
  EXPECT_FALSE(a.contains("token"));
  std::vector<std::string> seen;
  b["dns"] = 1;
  b.for_each([&](std::string_view name, double) { seen.emplace_back(name); });
  EXPECT_EQ(seen, (std::vector<std::string>{"dns", "login"}));
}

TEST(ProbeStatusModel, FieldsOfTheWrongTypeReadAsAbsent) {
  json odd = kFullStatus;
  odd["lastRun"]["durations"]["login"] = "soon";
  odd["certificate"]["daysRemaining"] = "many";
  odd["consecutiveFailures"] = "two";
  const ProbeStatus s = ProbeStatus::from_json(odd);
  EXPECT_FALSE(s.last_run->durations.contains("login"));
  EXPECT_EQ(s.certificate->days_remaining, 0);
  EXPECT_EQ(s.consecutive_failures, 0);
  EXPECT_EQ(ProbeStatus::from_json(json::array()), ProbeStatus{});
}

TEST(ProbeStatusModel, TimesAndConditionStatusesAreHeldCompactly) {
  json odd = kFullStatus;
  odd["conditions"][0]["status"] = "Maybe";
  odd["conditions"][1]["lastTransitionTime"] = "yesterday";
  odd["nextRunTime"] = "";
  const ProbeStatus s = ProbeStatus::from_json(odd);
  EXPECT_EQ(s.conditions[0].status, "Unknown") << "a status that is none of the three";
  EXPECT_EQ(s.conditions[1].status, "False");
  EXPECT_TRUE(s.conditions[1].last_transition_time.empty());
  EXPECT_TRUE(s.next_run_time.empty());
  EXPECT_EQ(s.last_run->time.to_string(), "2026-11-30T10:05:00Z");
  const json back = s.to_json();
  EXPECT_EQ(back["conditions"][0]["status"], "Unknown");
  EXPECT_FALSE(back.contains("nextRunTime"));
  // Held for the probe's life: no spare room past the conditions read.
  EXPECT_EQ(s.conditions.capacity(), s.conditions.size());
  // A probe holds four conditions: the status is one byte, each time eight.
  EXPECT_EQ(sizeof(ConditionStatus), 1u);
  EXPECT_EQ(sizeof(encoding::Timestamp), 8u);
  // Type, reason and message one pointer each (72 bytes with shared_ptr's two).
  EXPECT_LE(sizeof(Condition), 48u);
}

// A sharded replica keeps the probes other replicas run as identity only
// (6,667 of 10,000 with 3 replicas). With the definition and lastRun inline
// such an entry cost 1,744 bytes however empty (ProbeStatus 728); boxed,
// 624 (docs/benchmarks.md, "10,000 probes over 3 replicas").
TEST(ProbeStatusModel, AnIdentityOnlyEntryStaysSmall) {
  EXPECT_LE(sizeof(ProbeEntry), 700u);
  EXPECT_LE(sizeof(ProbeStatus), 350u);
  ProbeEntry e;
  e.def.emplace();
  e.status.last_run.emplace();
  ProbeTable::lighten(e);
  EXPECT_FALSE(e.def.has_value());
  EXPECT_FALSE(e.status.last_run.has_value());
}

// What every probe holds for its life: the sizes before these cuts fail it.
TEST(ProbeStatusModel, AProbesDefinitionAndBaselineStaySmall) {
  EXPECT_LE(sizeof(ProbeDefinition), 600u);  // 696 with its own namespace, name and uid
  EXPECT_LE(sizeof(Baseline), 96u);          // 184 in doubles
  // 624 with them; 536 with the run request, the invalid-spec reason and the
  // handled request (rare, each empty for most probes) as std::string; 488
  // with them shared through two-pointer handles.
  EXPECT_LE(sizeof(ProbeEntry), 464u);
}

// Every probe that ran holds a lastRun: its step times in 4 bytes each and
// its vocabulary words shared (424 bytes with 8-byte times and strings, 272
// with two-pointer handles to the shared words).
TEST(ProbeStatusModel, ALastRunStaysSmallAndKeepsWhatItShows) {
  EXPECT_LE(sizeof(LastRun), 248u);
  EXPECT_EQ(sizeof(StepDuration), 4u);
  EXPECT_EQ(probe::Duration(StepDuration(std::chrono::nanoseconds(12'345'678))),
            std::chrono::microseconds(12'346));
  EXPECT_EQ(probe::Duration(StepDuration(std::chrono::nanoseconds(-5))), probe::Duration::zero());
  EXPECT_EQ(probe::Duration(StepDuration(std::chrono::hours(2))),
            std::chrono::microseconds(4'294'967'295))
      << "beyond any run's timeout, a time saturates rather than wraps";
  // What the status shows (0.1 ms, or 1 ms past a second) survives.
  for (const char* shown : {"0.1ms", "12.3ms", "999.9ms", "2.211s", "30.000s"}) {
    const LastRun r = ProbeStatus::from_json(json{{"lastRun", {{"durations", {{"login", shown}}}}}})
                          .last_run.value();
    EXPECT_EQ(format_latency(r.durations.at("login")), shown);
  }
  // An unset word holds no text of its own.
  SharedText unset("");
  EXPECT_TRUE(unset.empty());
  EXPECT_FALSE(unset.value().has_value());
}

TEST(ProbeStatusModel, ABaselineSurvivesJsonInFloats) {
  ProbeStatus s;
  s.baseline.seconds["login"] = 0.0123f;
  s.baseline.seconds["total"] = 123.456f;
  s.baseline.samples = 7;
  const auto j = s.to_json();
  EXPECT_EQ(j["baseline"]["login"], "12.3ms");
  EXPECT_EQ(j["baseline"]["total"], "123.456s");
  EXPECT_EQ(ProbeStatus::from_json(j).to_json(), j);
}

// YAML as the API server would hand it over in JSON: plain scalars typed.
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& kv : n) j[kv.first.as<std::string>()] = to_json(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& v : n) j.push_back(to_json(v));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string v = n.Scalar();
      if (n.Tag() == "!") return v;  // quoted
      if (v == "true" || v == "false") return v == "true";
      if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) {
        return std::stoll(v);
      }
      return v;
    }
    default:
      return nullptr;
  }
}

TEST(ProbeResourceModel, EveryExampleManifestParsesThroughTheOperatorsReader) {
  int probes = 0;
  for (const auto& file : std::filesystem::directory_iterator(IMAPPROBE_SOURCE_DIR "/examples")) {
    if (file.path().extension() != ".yaml") continue;
    for (const auto& doc : YAML::LoadAllFromFile(file.path().string())) {
      if (!doc["kind"] || doc["kind"].as<std::string>() != "ImapProbe") continue;
      const json object = to_json(doc);
      EXPECT_NO_THROW(parse_probe(object)) << file.path();
      EXPECT_NO_THROW(verdict_spec_of(object)) << file.path();
      ++probes;
    }
  }
  EXPECT_GE(probes, 5);
}

// The API server refuses a status with a field its schema does not declare
// (a server-side apply fails with 500), so every step the engine can time
// must be a key of lastRun.durations and baseline, and of spec.thresholds.
TEST(ProbeResourceModel, TheCrdDeclaresEveryStatusStep) {
  const YAML::Node crd = YAML::LoadFile(IMAPPROBE_SOURCE_DIR "/crds/imapprobe.dev_imapprobes.yaml");
  const YAML::Node schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
  const YAML::Node durations =
      schema["status"]["properties"]["lastRun"]["properties"]["durations"]["properties"];
  const YAML::Node baseline = schema["status"]["properties"]["baseline"]["properties"];
  const YAML::Node thresholds = schema["spec"]["properties"]["thresholds"]["properties"];
  for (std::string_view step : kStatusSteps) {
    const std::string name(step);
    EXPECT_TRUE(durations[name]) << "status.lastRun.durations." << name;
    EXPECT_TRUE(baseline[name]) << "status.baseline." << name;
    if (name != "dns" && name != "capability") {
      EXPECT_TRUE(thresholds[name]) << "spec.thresholds." << name;
    }
  }
  for (probe::Step step : probe::kAllSteps) {
    const std::string_view name = probe::to_string(step);
    EXPECT_NE(std::find(std::begin(kStatusSteps), std::end(kStatusSteps), name),
              std::end(kStatusSteps))
        << name << " is an engine step but not a status step";
  }
}

}  // namespace
}  // namespace imapprobe::controller
