// The agreement rule a sharded replica applies to its peers' Leases.
#include "controller/shard_coordinator.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace imapprobe::controller {
namespace {

kube::LeaseMembership::Member member(const std::string& id, std::uint64_t view, bool settled) {
  return {id,
          {{kShardViewAnnotation, fmt::format("{:016x}", view)},
           {kShardSettledAnnotation, settled ? "true" : "false"}}};
}

TEST(MembersAgree, OnlyWhenEveryMemberPublishesTheViewAndIsSettled) {
  const std::uint64_t view = view_fingerprint({"a", "b"});
  EXPECT_TRUE(members_agree({member("a", view, true), member("b", view, true)}, view));
  EXPECT_FALSE(members_agree({member("a", view, true), member("b", view, false)}, view))
      << "b still has a run or write of a probe it gave up";
  EXPECT_FALSE(members_agree({member("a", view, true), member("b", view + 1, true)}, view))
      << "b acts on another membership";
  EXPECT_FALSE(members_agree({member("a", view, true), {"b", {}}}, view))
      << "b has not published yet (a replica that just joined)";
  EXPECT_FALSE(members_agree({}, view));
}

}  // namespace
}  // namespace imapprobe::controller
