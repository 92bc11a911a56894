#include "probe/spec.hpp"

#include <gtest/gtest.h>

namespace imapprobe::probe {
namespace {

std::vector<Setting> settings(const ProbeSpec& spec) {
  std::vector<Setting> out;
  for (const auto& p : spec_problems(spec)) {
    EXPECT_EQ(p.what, "needs a logged-in session (auth mechanism is None)");
    out.push_back(p.setting);
  }
  return out;
}

TEST(SpecProblems, MailboxStepsNeedALogin) {
  ProbeSpec spec;
  spec.host = "imap.example.com";
  spec.mechanism = Mechanism::None;
  EXPECT_TRUE(spec_problems(spec).empty()) << "connect, greet, log out: nothing to refuse";

  spec.search = "ALL";
  EXPECT_EQ(settings(spec), std::vector{Setting::Search});
  spec.search.clear();
  spec.fetch_latest = 1;
  EXPECT_EQ(settings(spec), std::vector{Setting::Fetch});
  spec.fetch_latest = 0;
  spec.round_trip = true;
  EXPECT_EQ(settings(spec), std::vector{Setting::RoundTrip});

  spec.search = "UNSEEN";
  spec.fetch_latest = 5;
  EXPECT_EQ(settings(spec), (std::vector{Setting::Search, Setting::Fetch, Setting::RoundTrip}));
}

TEST(SpecProblems, EveryMechanismThatLogsInMayUseThem) {
  ProbeSpec spec;
  spec.host = "imap.example.com";
  spec.search = "ALL";
  spec.fetch_latest = 5;
  spec.round_trip = true;
  for (auto m : {Mechanism::Login, Mechanism::Plain, Mechanism::CramMD5, Mechanism::ScramSHA256,
                 Mechanism::XOAuth2}) {
    spec.mechanism = m;
    EXPECT_TRUE(spec_problems(spec).empty()) << to_string(m);
  }
}

}  // namespace
}  // namespace imapprobe::probe
