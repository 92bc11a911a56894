#include "probe/optional_box.hpp"

#include <gtest/gtest.h>

#include <string>

#include "probe/spec.hpp"

namespace imapprobe::probe {
namespace {

struct Big {
  std::string a;
  std::string b;
  bool operator==(const Big&) const = default;
};

TEST(OptionalBox, IsOnePointerWhateverItHolds) {
  static_assert(sizeof(OptionalBox<Big>) == sizeof(void*));
  static_assert(sizeof(std::optional<Big>) > 2 * sizeof(void*));
}

TEST(OptionalBox, ReadsLikeStdOptional) {
  OptionalBox<Big> box;
  EXPECT_FALSE(box);
  EXPECT_TRUE(box == std::nullopt);
  EXPECT_THROW(box.value(), std::bad_optional_access);
  box = Big{"x", "y"};
  ASSERT_TRUE(box.has_value());
  EXPECT_EQ(box->a, "x");
  EXPECT_EQ((*box).b, "y");
  box.emplace().a = "z";
  EXPECT_EQ(box->a, "z");
  EXPECT_EQ(box->b, "");
  box.reset();
  EXPECT_FALSE(box);
  box = std::optional<Big>(Big{"o", "p"});
  EXPECT_EQ(box->a, "o");
  box = std::nullopt;
  EXPECT_FALSE(box);
}

// A struct holding a box keeps value semantics: a copy is its own.
TEST(OptionalBox, CopiesAreDeepAndCompareByValue) {
  OptionalBox<Big> a = Big{"1", "2"};
  OptionalBox<Big> b = a;
  EXPECT_TRUE(a == b);
  b->a = "changed";
  EXPECT_EQ(a->a, "1");
  EXPECT_FALSE(a == b);
  OptionalBox<Big> c;
  EXPECT_FALSE(a == c);
  c = a;
  EXPECT_TRUE(a == c);
  OptionalBox<Big> moved = std::move(c);
  EXPECT_EQ(moved->a, "1");
  EXPECT_TRUE(OptionalBox<Big>() == OptionalBox<Big>());
}

TEST(DefaultedBox, ReadsTheDefaultUntilEditedAndCopiesDeeply) {
  DefaultedBox<ContentChecks> box;
  EXPECT_FALSE(box.is_set());
  EXPECT_FALSE(box->any());
  EXPECT_EQ(box->newest_search, "ALL") << "the default, not a zeroed value";
  EXPECT_FALSE(box.is_set()) << "a read allocates nothing";
  box.edit().min_messages = 3;
  ASSERT_TRUE(box.is_set());
  DefaultedBox<ContentChecks> copy = box;
  copy.edit().min_messages = 4;
  EXPECT_EQ(box->min_messages, 3u);
  EXPECT_EQ(copy->min_messages, 4u);
  // A spec without checks or thresholds holds a pointer for each.
  EXPECT_EQ(sizeof(box), sizeof(void*));
}

}  // namespace
}  // namespace imapprobe::probe
