// The delivery check: submit a uniquely marked canary over SMTP
// (smtp_submission), wait until it shows up in the probe's IMAP mailbox (or
// in a junk folder), delete it.
// Runs inside a logged-in IMAP session; every step is timed by the session
// script through StepRunner, and every failure is a StepFailure whose
// message carries the SMTP server's own words.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "probe/duration.hpp"
#include "probe/imap_client.hpp"
#include "probe/result.hpp"
#include "probe/session.hpp"
#include "probe/spec.hpp"
#include "probe/step_runner.hpp"

namespace imapprobe::probe {

// `token` marks the canary; empty (always, outside tests) means a fresh
// random one.
boost::asio::awaitable<void> check_delivery(const ProbeSpec& spec, const Credentials& credentials,
                                            ImapClient& imap, Connector& connector,
                                            StepRunner& steps, DeliveryResult& out,
                                            std::string token = {});

// The canary: From/To as given, the token in Subject, Message-ID and
// X-Imapprobe-Delivery (with `origin` and the Unix time it was sent, so a
// later run can tell an abandoned canary from another probe's live one).
std::string delivery_canary(std::string_view token, std::string_view origin, std::int64_t sent_unix,
                            std::string_view from, std::string_view to, std::string_view date);

struct CanaryStamp {
  std::string token;
  std::string origin;
  std::int64_t sent_unix = 0;
};
// Parses the value of an X-Imapprobe-Delivery header; nullopt when it is not ours.
std::optional<CanaryStamp> parse_canary_stamp(std::string_view value);

// Junk folders by name when the server marks none with \Junk (RFC 6154).
bool common_junk_name(std::string_view mailbox);

}  // namespace imapprobe::probe
