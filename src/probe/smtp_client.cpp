#include "probe/smtp_client.hpp"

#include "imap/banner.hpp"
#include "probe/duration.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;

void SmtpClient::io_failed(const net::IoError& e, const std::string& what, bool sending) const {
  const std::string doing =
      sending ? "while sending " + what : "while waiting for the reply to " + what;
  switch (e.kind()) {
    case net::IoFailure::TimedOut:
      if (what == "the greeting") {
        fail(Reason::GreetingTimeout,
             "no SMTP greeting within " + format_measured(net::Clock::now() - sent_));
      }
      fail(Reason::CommandTimeout, "no reply to " + what + " from the SMTP server within " +
                                       format_measured(net::Clock::now() - sent_));
    case net::IoFailure::Closed:
      fail(Reason::ConnectionClosed, "SMTP server closed the connection " + doing);
    case net::IoFailure::Reset:
      fail(Reason::ConnectionClosed, "SMTP connection reset " + doing);
    case net::IoFailure::Tls:
      fail(Reason::TLSHandshakeFailed,
           "TLS error on the SMTP connection " + doing + ": " + e.what());
    case net::IoFailure::Refused:
    case net::IoFailure::Other:
      break;
  }
  fail(Reason::ConnectionClosed, "I/O error on the SMTP connection " + doing + ": " + e.what());
}

asio::awaitable<smtp::Reply> SmtpClient::read_reply(const std::string& what) {
  for (;;) {
    try {
      if (auto reply = reader_.next()) co_return std::move(*reply);
    } catch (const smtp::ProtocolError& e) {
      fail(Reason::ProtocolError, "SMTP server's reply to " + what + " is malformed: " + e.what());
    }
    std::size_t n = 0;
    try {
      n = co_await transport_.read_some(std::span<char>(buffer_.data(), buffer_.size()));
    } catch (const net::IoError& e) {
      io_failed(e, what, /*sending=*/false);
    }
    reader_.feed(std::string_view(buffer_.data(), n));
  }
}

asio::awaitable<smtp::Reply> SmtpClient::greeting() {
  sent_ = net::Clock::now();
  std::string first;
  // Sniff the first bytes: an IMAP or POP3 port, or implicit TLS where
  // plain SMTP was expected, answers with something a user can be told.
  const auto reply_like = [](std::string_view b) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return b.size() >= 4 && b[0] >= '1' && b[0] <= '5' && digit(b[1]) && digit(b[2]) &&
           (b[3] == ' ' || b[3] == '-');
  };
  while (first.size() < 4 ||
         (reply_like(first) && first.find('\n') == std::string::npos && first.size() < 4096)) {
    std::size_t n = 0;
    try {
      n = co_await transport_.read_some(std::span<char>(buffer_.data(), buffer_.size()));
    } catch (const net::IoError& e) {
      io_failed(e, "the greeting", false);
    }
    first.append(buffer_.data(), n);
  }
  if (!reply_like(first)) {
    const imap::Banner kind = imap::classify_banner(first);
    if (kind == imap::Banner::TlsRecord) {
      fail(Reason::TLSModeMismatch,
           "the SMTP server sent a TLS record (" + imap::excerpt_banner(first) +
               ") instead of a greeting: it expects TLS from the first byte; set the delivery "
               "check's tls to Implicit (usually port 465)");
    }
    fail(Reason::ProtocolError, "the SMTP port sent " + std::string(imap::describe(kind)) + " (" +
                                    imap::excerpt_banner(first) +
                                    "), not an SMTP greeting: check the SMTP port (465 with "
                                    "implicit TLS, 587 with STARTTLS)");
  }
  reader_.feed(first);
  smtp::Reply r = co_await read_reply("the greeting");
  if (r.code != 220) {
    fail(Reason::SMTPUnavailable, "SMTP server refused the session: " + printable(r.summary()));
  }
  co_return r;
}

asio::awaitable<smtp::Reply> SmtpClient::command(std::string what, std::string line) {
  line += "\r\n";
  co_return co_await send_raw(std::move(what), std::move(line));
}

asio::awaitable<smtp::Reply> SmtpClient::send_raw(std::string what, std::string bytes) {
  sent_ = net::Clock::now();
  try {
    co_await transport_.write(bytes);
  } catch (const net::IoError& e) {
    io_failed(e, what, /*sending=*/true);
  }
  co_return co_await read_reply(what);
}

}  // namespace imapprobe::probe
