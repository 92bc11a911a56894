#include "controller/shared_value.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <utility>

namespace imapprobe::controller {
namespace {

struct Cert {
  std::string subject;
  long days = 0;
  bool operator==(const Cert&) const = default;
};

TEST(SharedValue, EqualValuesFromThePoolShareOneObject) {
  SharingPool<Cert> pool;
  SharedValue<Cert> a = Cert{"CN=imap", 90};
  SharedValue<Cert> b = Cert{"CN=imap", 90};
  EXPECT_FALSE(a.shares_with(b));
  pool.share(a);
  pool.share(b);
  EXPECT_TRUE(a.shares_with(b));
  SharedValue<Cert> other = Cert{"CN=other", 90};
  pool.share(other);
  EXPECT_FALSE(other.shares_with(a));
  EXPECT_EQ(pool.size(), 2u);
}

// A holder that changes its copy changes only its own.
TEST(SharedValue, AWriteCopiesASharedObjectFirst) {
  SharingPool<Cert> pool;
  SharedValue<Cert> a = Cert{"CN=imap", 90};
  SharedValue<Cert> b = Cert{"CN=imap", 90};
  pool.share(a);
  pool.share(b);
  b->days = 89;
  EXPECT_EQ(a->days, 90);
  EXPECT_EQ(b->days, 89);
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a.shares_with(b));
  const SharedValue<Cert> copy = a;
  EXPECT_TRUE(copy.shares_with(a));
  EXPECT_EQ(copy, a);
}

TEST(SharedValue, ComparesValuesAndAbsence) {
  SharedValue<Cert> none;
  EXPECT_FALSE(none);
  EXPECT_EQ(none, SharedValue<Cert>());
  SharedValue<Cert> a = Cert{"CN=imap", 1};
  EXPECT_FALSE(a == none);
  EXPECT_EQ(a, SharedValue<Cert>(Cert{"CN=imap", 1}));
  a = std::nullopt;
  EXPECT_EQ(a, none);
}

TEST(SharedValue, ThePoolIsBoundedAndForgetsTheOldest) {
  SharingPool<Cert> pool(2);
  for (long d = 0; d < 5; ++d) {
    SharedValue<Cert> v = Cert{"CN=imap", d};
    pool.share(v);
  }
  EXPECT_EQ(pool.size(), 2u);
  SharedValue<Cert> oldest = Cert{"CN=imap", 0};
  SharedValue<Cert> again = Cert{"CN=imap", 0};
  pool.share(oldest);  // forgotten, so remembered anew
  pool.share(again);
  EXPECT_TRUE(again.shares_with(oldest));
}

TEST(SharedText, ReadsAsAStringAndEqualTextsShareOneCopyThroughThePool) {
  SharedText none;
  EXPECT_EQ(none.str(), "");
  EXPECT_TRUE(none.empty());
  SharedText a(std::string("every step within its thresholds"));
  SharedText b("every step within its thresholds");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, "every step within its thresholds");
  const std::string& as_string = a;
  EXPECT_EQ(as_string.size(), 32u);
  EXPECT_FALSE(a.value().shares_with(b.value()));
  SharingPool<std::string> pool;
  pool.share(a.value());
  pool.share(b.value());
  EXPECT_TRUE(a.value().shares_with(b.value()));
  EXPECT_LT(sizeof(SharedText), sizeof(std::string));
}

// A probe holds a score of these (its conditions' type, reason and message,
// its lastRun's words): one pointer each, where std::shared_ptr took two.
TEST(SharedValue, IsOnePointerWide) {
  EXPECT_EQ(sizeof(SharedValue<Cert>), sizeof(void*));
  EXPECT_EQ(sizeof(SharedText), sizeof(void*));
}

// Statuses go to the writer's thread and facts to the telemetry thread while
// the probe keeps its copy: copies made and dropped on two threads at once
// leave one holder and an intact value (under ASan, a lost count is a
// use after free or a leak).
TEST(SharedValue, CopiesOnTwoThreadsAtOnceKeepTheCount) {
  SharedValue<Cert> a = Cert{"CN=imap", 90};
  auto churn = [&a] {
    for (int i = 0; i < 100'000; ++i) {
      const SharedValue<Cert> copy = a;
      ASSERT_TRUE(copy.shares_with(a));
    }
  };
  std::thread t1(churn), t2(churn);
  t1.join();
  t2.join();
  SharedValue<Cert> b = a;
  b->days = 1;  // a second holder: the write copies first
  EXPECT_EQ(a->days, 90);
  const Cert* before = &*std::as_const(a);
  a->days = 2;  // the only holder again: written in place
  EXPECT_EQ(&*std::as_const(a), before);
  EXPECT_EQ(b->days, 1);
}

}  // namespace
}  // namespace imapprobe::controller
