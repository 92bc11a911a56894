// Shared by the unit tests of the IMAP client and the steps over it: a
// client already past its greeting on a scripted transport, and a way to
// run a step that must fail and look at its verdict.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "probe/imap_client.hpp"
#include "probe/step_failure.hpp"
#include "support/scripted_transport.hpp"

namespace imapprobe::probe::test {

// A client that has read "* OK [CAPABILITY <capabilities>] ready" (the
// script's first operation). Tests append the rest of the dialogue to `t`.
struct Greeted {
  explicit Greeted(const std::string& capabilities) {
    t.server("* OK [CAPABILITY " + capabilities + "] ready\r\n");
    testing::run_awaitable(client.greeting());
  }
  testing::ScriptedTransport t;
  ImapClient client{t, imap::Limits{}};
};

// Runs `work`, which must fail with a StepFailure, and returns that failure.
// Any other exception propagates and fails the test with its message.
template <typename T>
StepFailure step_failure(boost::asio::awaitable<T> work) {
  try {
    testing::run_awaitable(std::move(work));
  } catch (const StepFailure& f) {
    return f;
  }
  ADD_FAILURE() << "the step succeeded; a StepFailure was expected";
  return StepFailure{Reason::InternalError, "(no failure)"};
}

}  // namespace imapprobe::probe::test
