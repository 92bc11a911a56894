// `imapprobe operator` flags: checked before anything connects to a cluster.
#include "operator_flags.hpp"

#include <gtest/gtest.h>

namespace imapprobe::operator_cmd {
namespace {
using namespace std::chrono_literals;

std::variant<OperatorFlags, int> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "operator");
  return parse_operator_flags(args);
}

TEST(OperatorFlags, DefaultsAreThoseDocumented) {
  auto r = parse({});
  ASSERT_TRUE(std::holds_alternative<OperatorFlags>(r));
  const auto& f = std::get<OperatorFlags>(r);
  EXPECT_TRUE(f.leader_elect);
  EXPECT_FALSE(f.shard);
  EXPECT_EQ(f.status_heartbeat, 600s);
  EXPECT_EQ(f.location_entry_retention, 24h);
  EXPECT_EQ(f.concurrency, 64);
  EXPECT_FALSE(f.identity.empty()) << "host name + random suffix";
}

TEST(OperatorFlags, DurationsAreGoDurationsChecked) {
  auto r = parse({"--status-heartbeat", "90s", "--location-entry-retention", "0"});
  ASSERT_TRUE(std::holds_alternative<OperatorFlags>(r));
  EXPECT_EQ(std::get<OperatorFlags>(r).status_heartbeat, 90s);
  EXPECT_EQ(std::get<OperatorFlags>(r).location_entry_retention, 0s);
  EXPECT_EQ(std::get<int>(parse({"--status-heartbeat", "500ms"})), 2) << "less than 1s";
  // 0 is the one heartbeat under a second: a write after every run.
  r = parse({"--status-heartbeat", "0s"});
  ASSERT_TRUE(std::holds_alternative<OperatorFlags>(r));
  EXPECT_EQ(std::get<OperatorFlags>(r).status_heartbeat, 0s);
  EXPECT_EQ(std::get<int>(parse({"--status-heartbeat", "ten minutes"})), 2);
  // Checked whether or not the flag is used: a typo never waits for the day
  // multi-location is switched on.
  EXPECT_EQ(std::get<int>(parse({"--location-entry-retention", "1d"})), 2);
}

TEST(OperatorFlags, RefusesWhatIsNotValid) {
  EXPECT_EQ(std::get<int>(parse({"--location", "EU_West"})), 2);
  EXPECT_EQ(std::get<int>(parse({"--concurrency", "0"})), 2);
  EXPECT_EQ(std::get<int>(parse({"--log-format", "xml"})), 2);
  EXPECT_EQ(std::get<int>(parse({"--no-such-flag"})), 2);
  EXPECT_EQ(std::get<int>(parse({"--help"})), 0);
}

TEST(OperatorFlags, MultiLocationShardsAndShardsElectNoLeader) {
  auto r = parse({"--multi-location=true", "--location", "eu-west", "--identity", "op-1"});
  ASSERT_TRUE(std::holds_alternative<OperatorFlags>(r));
  const auto& f = std::get<OperatorFlags>(r);
  EXPECT_TRUE(f.shard);
  EXPECT_FALSE(f.leader_elect);
  EXPECT_EQ(f.location, "eu-west");
  EXPECT_EQ(f.identity, "op-1");
  EXPECT_FALSE(std::get<OperatorFlags>(parse({"--shard=true"})).leader_elect);
}

}  // namespace
}  // namespace imapprobe::operator_cmd
