// Rendezvous assignment and the handover barrier, without a cluster.
#include "controller/shard_assignment.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace imapprobe::controller {
namespace {

std::vector<std::string> keys(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("mail/probe-" + std::to_string(i));
  return out;
}

TEST(RendezvousOwner, EveryReplicaComputesTheSameOwnerWhateverTheOrder) {
  const std::vector<std::string> a{"op-a", "op-b", "op-c"};
  const std::vector<std::string> b{"op-c", "op-a", "op-b"};
  for (const auto& k : keys(200)) EXPECT_EQ(rendezvous_owner(k, a), rendezvous_owner(k, b)) << k;
  EXPECT_EQ(rendezvous_owner("mail/x", {}), "");
}

TEST(RendezvousOwner, SplitsFairlyAndAJoinMovesOnlyWhatTheNewMemberTakes) {
  const auto all = keys(9000);
  const std::vector<std::string> three{"op-a", "op-b", "op-c"};
  const std::vector<std::string> four{"op-a", "op-b", "op-c", "op-d"};
  std::map<std::string, int> share;
  int moved = 0;
  for (const auto& k : all) {
    const auto before = rendezvous_owner(k, three);
    const auto after = rendezvous_owner(k, four);
    ++share[std::string(before)];
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, "op-d") << k << " moved between members that stayed";
    }
  }
  for (const auto& [m, n] : share) {
    EXPECT_NEAR(n, 3000, 300) << m;  // within 10 % of a third
  }
  EXPECT_NEAR(moved, 9000 / 4, 300) << "a fourth member takes about a quarter";
}

TEST(RendezvousOwner, ALeavingMemberHandsOnlyItsOwnProbesOver) {
  const std::vector<std::string> three{"op-a", "op-b", "op-c"};
  const std::vector<std::string> two{"op-a", "op-c"};
  for (const auto& k : keys(3000)) {
    const auto before = rendezvous_owner(k, three);
    if (before != "op-b") {
      EXPECT_EQ(rendezvous_owner(k, two), before) << k;
    }
  }
}

TEST(ViewFingerprint, IgnoresOrderAndDuplicatesButNotMembers) {
  EXPECT_EQ(view_fingerprint({"a", "b"}), view_fingerprint({"b", "a", "a"}));
  EXPECT_NE(view_fingerprint({"a", "b"}), view_fingerprint({"a", "b", "c"}));
  EXPECT_NE(view_fingerprint({"ab"}), view_fingerprint({"a", "b"}));
}

TEST(ShardAssignment, UnshardedOwnsAndStartsEverything) {
  ShardAssignment s;
  EXPECT_TRUE(s.owns("mail/x"));
  EXPECT_TRUE(s.may_start("mail/x"));
}

TEST(ShardAssignment, NothingStartsBeforeTheFirstAgreement) {
  ShardAssignment s;
  s.set_members("op-a", {"op-a", "op-b"});
  int owned = 0;
  for (const auto& k : keys(100)) {
    owned += s.owns(k);
    EXPECT_FALSE(s.may_start(k)) << k;
  }
  EXPECT_GT(owned, 20);
  EXPECT_FALSE(s.agree(view_fingerprint({"op-a"}))) << "another view";
  EXPECT_TRUE(s.agree(view_fingerprint({"op-b", "op-a"})));
  for (const auto& k : keys(100)) EXPECT_EQ(s.may_start(k), s.owns(k)) << k;
}

TEST(ShardAssignment, KeptProbesRunOnGainedOnesWaitForTheNextAgreement) {
  ShardAssignment s;
  s.set_members("op-a", {"op-a", "op-b"});
  ASSERT_TRUE(s.agree(s.view()));
  // op-b leaves: op-a owns everything now, but only what it already had
  // may start before the others (here none) agree.
  s.set_members("op-a", {"op-a"});
  const std::vector<std::string> before{"op-a", "op-b"};
  for (const auto& k : keys(200)) {
    EXPECT_TRUE(s.owns(k));
    EXPECT_EQ(s.may_start(k), rendezvous_owner(k, before) == "op-a") << k;
  }
  ASSERT_TRUE(s.agree(s.view()));
  for (const auto& k : keys(200)) EXPECT_TRUE(s.may_start(k)) << k;
}

TEST(ShardAssignment, AReplicaOutsideTheMembersOwnsNothing) {
  ShardAssignment s;
  s.set_members("op-a", {});
  ASSERT_TRUE(s.agree(s.view()));
  for (const auto& k : keys(50)) EXPECT_FALSE(s.may_start(k)) << k;
}

}  // namespace
}  // namespace imapprobe::controller
