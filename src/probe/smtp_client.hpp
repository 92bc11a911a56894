// An SMTP client over a transport, for the delivery check: reads the
// greeting, sends commands one at a time and reads their replies. Every way
// the wire can fail becomes a StepFailure naming the SMTP server and what
// was awaited ("no reply to MAIL FROM from the SMTP server within 10s").
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "net/transport.hpp"
#include "smtp/reply.hpp"

namespace imapprobe::probe {

class SmtpClient {
 public:
  explicit SmtpClient(net::Transport& transport) : transport_(transport) {}

  // The 220 greeting. Something that is not SMTP, or a refusal (554, 421),
  // fails with the reason that names it.
  boost::asio::awaitable<smtp::Reply> greeting();
  // Sends `line` and CRLF, returns the reply whatever its code. `what`
  // names the command in messages and never holds a secret.
  boost::asio::awaitable<smtp::Reply> command(std::string what, std::string line);
  // Sends `bytes` as they are (the DATA payload), returns the reply.
  boost::asio::awaitable<smtp::Reply> send_raw(std::string what, std::string bytes);
  // After STARTTLS: nothing received in clear may be trusted (RFC 3207 4.2).
  void forget_plaintext_state() { reader_ = smtp::ReplyReader{}; }

 private:
  boost::asio::awaitable<smtp::Reply> read_reply(const std::string& what);
  [[noreturn]] void io_failed(const net::IoError& e, const std::string& what, bool sending) const;

  net::Transport& transport_;
  smtp::ReplyReader reader_;
  net::Clock::time_point sent_{};
  std::array<char, 4096> buffer_;
};

}  // namespace imapprobe::probe
