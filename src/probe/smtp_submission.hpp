// SMTP submission as a mail client does it, for the delivery check:
// connect, TLS (implicit or mandatory STARTTLS, the certificate checked like
// the IMAP server's), EHLO, AUTH, then MAIL FROM, RCPT TO and DATA, each
// step timed through the session script's StepRunner. Every refusal is a
// StepFailure quoting the server's reply code and enhanced status code.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "probe/result.hpp"
#include "probe/session.hpp"
#include "probe/smtp_client.hpp"
#include "probe/spec.hpp"
#include "probe/step_runner.hpp"

namespace imapprobe::probe {

class SmtpSubmission {
 public:
  // The message to send, given the envelope's sender and recipient.
  using Compose = std::function<std::string(std::string_view from, std::string_view to)>;

  // `spec.delivery` says where and how; `out` gets the SMTP server's
  // address, certificate and queue id as they become known.
  SmtpSubmission(const ProbeSpec& spec, const Credentials& creds, Connector& connector,
                 StepRunner& steps, DeliveryResult& out);
  ~SmtpSubmission();
  SmtpSubmission(const SmtpSubmission&) = delete;
  SmtpSubmission& operator=(const SmtpSubmission&) = delete;

  // Sends the message; returns when the server accepted it (its 250 to the
  // end of DATA). The sender and recipient default to the IMAP user name
  // when it is an address. The connection stays open for quit().
  boost::asio::awaitable<net::Clock::time_point> submit(Compose compose);
  // QUIT, a courtesy: bounded by a short deadline, never part of the verdict.
  boost::asio::awaitable<void> quit();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imapprobe::probe
