// The Secret cache: served only while the metadata watch vouches for it.
#include "controller/secret_cache.hpp"

#include <gtest/gtest.h>

namespace imapprobe::controller {
namespace {

const SecretCache::Data kData{{"username", "probe"}, {"password", "pw"}};

TEST(SecretCache, NothingIsServedBeforeTheWatchHasListed) {
  SecretCache cache;
  cache.observe("mail/creds", "5");
  cache.store("mail/creds", "5", kData);
  EXPECT_FALSE(cache.find("mail/creds"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SecretCache, AReadAtTheVersionTheWatchSawIsServed) {
  SecretCache cache;
  cache.listed("mail/", {"mail/creds"});
  cache.observe("mail/creds", "5");
  cache.store("mail/creds", "5", kData);
  EXPECT_EQ(cache.find("mail/creds"), kData);
}

// A rotated password: the watch reports a new version, the entry goes, and
// the next run reads the Secret again.
TEST(SecretCache, AChangeSeenByTheWatchDropsTheEntry) {
  SecretCache cache;
  cache.listed("", {});
  cache.observe("mail/creds", "5");
  cache.store("mail/creds", "5", kData);
  cache.observe("mail/creds", "6");
  EXPECT_FALSE(cache.find("mail/creds"));
  cache.store("mail/creds", "6", {{"password", "new"}});
  EXPECT_EQ(cache.find("mail/creds")->at("password"), "new");
  cache.forget("mail/creds");
  EXPECT_FALSE(cache.find("mail/creds"));
}

// A GET that raced a change: it read an older (or newer) version than the
// watch reported, so it is not kept.
TEST(SecretCache, AReadAtAnotherVersionIsNotKept) {
  SecretCache cache;
  cache.listed("", {});
  cache.observe("mail/creds", "7");
  cache.store("mail/creds", "6", kData);
  EXPECT_FALSE(cache.find("mail/creds"));
  cache.store("mail/other", "1", kData);  // never seen by the watch
  EXPECT_FALSE(cache.find("mail/other"));
}

TEST(SecretCache, ARelistDropsWhatItNoLongerListsOrListsChanged) {
  SecretCache cache;
  cache.listed("mail/", {});
  for (const char* key : {"mail/a", "mail/b", "mail/c"}) {
    cache.observe(key, "1");
    cache.store(key, "1", kData);
  }
  cache.observe("mail/b", "2");                 // a relist's page: b changed
  cache.listed("mail/", {"mail/a", "mail/b"});  // c deleted while disconnected
  EXPECT_TRUE(cache.find("mail/a"));
  EXPECT_FALSE(cache.find("mail/b"));
  EXPECT_FALSE(cache.find("mail/c"));
  EXPECT_FALSE(cache.find("other/a")) << "another namespace is not covered";
}

}  // namespace
}  // namespace imapprobe::controller
