// An IMAP client over a transport: queues tagged commands, sends them
// (several in one write when pipelined), and collects each tagged reply
// with the untagged data, capabilities and [ALERT]s that came before it.
// Every way the server or the wire can fail becomes a StepFailure that
// names what was awaited ("no reply to LOGIN within 10s").
#pragma once

#include <array>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "imap/command.hpp"
#include "imap/response.hpp"
#include "imap/response_data.hpp"
#include "net/transport.hpp"
#include "probe/result.hpp"

namespace imapprobe::probe {

struct Reply {
  imap::Response tagged;
  std::vector<imap::Response> untagged;
  bool ok() const { return tagged.status == imap::Status::Ok; }
};

class ImapClient {
 public:
  ImapClient(net::Transport& transport, imap::Limits limits);

  // Reads the greeting. First bytes that are not IMAP (a TLS record, an
  // SMTP, POP3 or HTTP banner, binary data) fail with a reason that names
  // what answered; a BYE greeting fails ServerBye.
  boost::asio::awaitable<imap::Response> greeting();

  // Queues "<tag> <line>\r\n" and returns the tag. Nothing is sent until
  // the next await, so pipelined commands leave in one write, and building
  // a command never puts a temporary across a co_await (GCC 12 destroys
  // some of those twice). `what` names the command in messages and never
  // holds a secret; `on_timeout` is the reason when it gets no reply.
  std::string queue(std::string_view what, std::string_view line,
                    Reason on_timeout = Reason::CommandTimeout);
  // For commands sent in parts (literals, SASL): registers the command and
  // returns its tag; its bytes go through queue_bytes().
  std::string begin(std::string_view what, Reason on_timeout);
  void queue_bytes(std::string_view bytes);
  // Queues LOGOUT right behind the next command queued, saving it a round
  // trip; logout() then only collects its reply.
  void pipeline_logout() { logout_behind_next_ = true; }

  // Sends what is queued, then reads up to the tagged reply to `tag`. A BYE
  // before it fails ServerBye unless `bye_expected` (LOGOUT).
  boost::asio::awaitable<Reply> reply(std::string tag, bool bye_expected = false);
  // Sends what is queued, then reads up to a continuation request ("+"),
  // or the tagged reply if the server ends the command instead.
  boost::asio::awaitable<imap::Response> continuation();
  // LOGOUT, queued now or earlier by pipeline_logout().
  boost::asio::awaitable<Reply> logout();
  // IDLE (RFC 2177) until the selected mailbox reports a change (EXISTS,
  // RECENT, EXPUNGE, FETCH) or `wake_at`, whichever comes first; then DONE.
  // Never returns while its own DONE is still being written.
  enum class IdleEnd { Changed, Woken, Refused };
  boost::asio::awaitable<IdleEnd> idle(net::Clock::time_point wake_at);

  // After STARTTLS: nothing received in clear may be trusted (RFC 3501 6.2.1).
  void forget_plaintext_state();

  const std::vector<std::string>& capabilities() const { return caps_; }
  bool has(std::string_view cap) const { return imap::has_capability(caps_, cap); }
  std::string joined_capabilities() const;
  const std::vector<std::string>& alerts() const { return alerts_; }

 private:
  struct Pending {
    std::string tag;
    std::string what;
    Reason on_timeout;
    net::Clock::time_point sent{};
  };

  boost::asio::awaitable<void> flush();
  boost::asio::awaitable<imap::Response> next();
  // One read from the transport, into buffer_; valid until the next read.
  boost::asio::awaitable<std::string_view> read_chunk();
  void note(const imap::Response& r);
  [[noreturn]] void io_failed(const net::IoError& e, bool sending) const;

  net::Transport& transport_;
  imap::ResponseReader reader_;
  imap::TagGenerator tags_;
  std::string out_;
  std::deque<Pending> pending_;
  std::vector<std::string> caps_;
  std::vector<std::string> alerts_;
  bool logout_behind_next_ = false;
  std::string logout_tag_;
  net::Clock::time_point greeting_wait_started_{};
  // Not zero-initialised: only bytes a read filled are ever used, and zeroing
  // 16 KiB per session showed up in the benchmark profile.
  std::array<char, 16 * 1024> buffer_;
};

}  // namespace imapprobe::probe
