#include "probe/imap_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>

#include "imap/banner.hpp"
#include "imap/response_data.hpp"
#include "probe/duration.hpp"
#include "probe/step_failure.hpp"

namespace imapprobe::probe {
namespace asio = boost::asio;

ImapClient::ImapClient(net::Transport& transport, imap::Limits limits)
    : transport_(transport), reader_(limits) {}

std::string ImapClient::begin(std::string_view what, Reason on_timeout) {
  std::string tag = tags_.next();
  pending_.push_back(Pending{tag, std::string(what), on_timeout});
  return tag;
}

void ImapClient::queue_bytes(std::string_view bytes) { out_ += bytes; }

std::string ImapClient::queue(std::string_view what, std::string_view line, Reason on_timeout) {
  std::string tag = begin(what, on_timeout);
  out_ += tag;
  out_ += ' ';
  out_ += line;
  out_ += "\r\n";
  if (logout_behind_next_) {
    logout_behind_next_ = false;
    logout_tag_ = begin("LOGOUT", Reason::CommandTimeout);
    out_ += logout_tag_;
    out_ += " LOGOUT\r\n";
  }
  return tag;
}

asio::awaitable<void> ImapClient::flush() {
  if (out_.empty()) co_return;
  const auto now = net::Clock::now();
  for (auto& p : pending_) {
    if (p.sent == net::Clock::time_point{}) p.sent = now;
  }
  try {
    co_await transport_.write(out_);
  } catch (const net::IoError& e) {
    io_failed(e, /*sending=*/true);
  }
  out_.clear();
}

void ImapClient::io_failed(const net::IoError& e, bool sending) const {
  const auto now = net::Clock::now();
  std::string awaited = "the greeting";
  std::string doing;
  Reason timeout = Reason::GreetingTimeout;
  net::Clock::time_point since = greeting_wait_started_;
  if (!pending_.empty()) {
    const Pending& p = pending_.front();
    awaited = "the reply to " + printable(p.what);
    timeout = p.on_timeout;
    since = p.sent;
  }
  doing = sending ? "while sending " + (pending_.empty() ? std::string("a command")
                                                         : printable(pending_.back().what))
                  : "while waiting for " + awaited;
  switch (e.kind()) {
    case net::IoFailure::TimedOut: {
      const std::string waited = format_measured(now - since);
      if (pending_.empty()) fail(timeout, "no greeting within " + waited);
      fail(timeout, "no reply to " + printable(pending_.front().what) + " within " + waited);
    }
    case net::IoFailure::Closed:
      fail(Reason::ConnectionClosed, "server closed the connection " + doing);
    case net::IoFailure::Reset:
      fail(Reason::ConnectionClosed, "connection reset " + doing);
    case net::IoFailure::Tls:
      fail(Reason::TLSHandshakeFailed, "TLS error " + doing + ": " + e.what());
    case net::IoFailure::Refused:
    case net::IoFailure::Other:
      break;
  }
  fail(Reason::ConnectionClosed, "I/O error " + doing + ": " + e.what());
}

asio::awaitable<std::string_view> ImapClient::read_chunk() {
  std::size_t n = 0;
  try {
    n = co_await transport_.read_some(std::span<char>(buffer_.data(), buffer_.size()));
  } catch (const net::IoError& e) {
    io_failed(e, /*sending=*/false);
  }
  co_return std::string_view(buffer_.data(), n);
}

void ImapClient::note(const imap::Response& r) {
  if (r.kind == imap::Response::Kind::Untagged && r.code == "ALERT") {
    alerts_.push_back(printable(r.text));
  }
  if (r.code == "CAPABILITY") {
    caps_ = imap::parse_capabilities(r.code_args);
  } else if (r.kind == imap::Response::Kind::Untagged && r.keyword == "CAPABILITY") {
    caps_ = imap::parse_capabilities(r.text);
  }
}

asio::awaitable<imap::Response> ImapClient::next() {
  for (;;) {
    if (auto r = reader_.next()) {
      note(*r);
      co_return std::move(*r);
    }
    reader_.feed(co_await read_chunk());
  }
}

asio::awaitable<imap::Response> ImapClient::greeting() {
  greeting_wait_started_ = net::Clock::now();
  // Look at the raw bytes before the parser does: a wrong port or TLS mode
  // answers with something that is not IMAP, and saying what it is leads
  // the user to the fix.
  std::string first;
  for (;;) {
    first += co_await read_chunk();
    const imap::Banner kind = imap::classify_banner(first);
    if (kind == imap::Banner::Incomplete) continue;
    if (kind == imap::Banner::TlsRecord) {
      fail(Reason::TLSModeMismatch,
           "the server sent a TLS record (" + imap::excerpt_banner(first) +
               ") instead of a greeting: it expects TLS from the first byte; set tls: Implicit "
               "(usually port 993)");
    }
    if (kind != imap::Banner::Imap) {
      fail(Reason::NotIMAP, "the server sent " + std::string(imap::describe(kind)) + " (" +
                                imap::excerpt_banner(first) +
                                "), not an IMAP greeting: check the port (IMAP is 993 with "
                                "implicit TLS, 143 with STARTTLS or none)");
    }
    break;
  }
  reader_.feed(first);
  imap::Response r = co_await next();
  if (r.kind != imap::Response::Kind::Untagged) {
    fail(Reason::ProtocolError, "expected a greeting, got: " + printable(r.text));
  }
  if (r.status == imap::Status::Bye) {
    fail(Reason::ServerBye, "server refused the session: " + server_text(r));
  }
  if (r.status != imap::Status::Ok && r.status != imap::Status::PreAuth) {
    fail(Reason::ProtocolError, "greeting is not OK: " + server_text(r));
  }
  co_return r;
}

asio::awaitable<Reply> ImapClient::reply(std::string tag, bool bye_expected) {
  co_await flush();
  Reply reply;
  for (;;) {
    imap::Response r = co_await next();
    switch (r.kind) {
      case imap::Response::Kind::Tagged:
        if (pending_.empty() || r.tag != pending_.front().tag || r.tag != tag) {
          fail(Reason::ProtocolError,
               "server answered tag " + printable(r.tag) + " while " + tag + " was pending");
        }
        pending_.pop_front();
        reply.tagged = std::move(r);
        co_return reply;
      case imap::Response::Kind::Continuation:
        fail(Reason::ProtocolError, "unexpected continuation request: " + printable(r.text));
      case imap::Response::Kind::Untagged:
        if (r.status == imap::Status::Bye && !bye_expected) {
          fail(Reason::ServerBye, "server said BYE: " + server_text(r));
        }
        reply.untagged.push_back(std::move(r));
        break;
    }
  }
}

asio::awaitable<imap::Response> ImapClient::continuation() {
  co_await flush();
  for (;;) {
    imap::Response r = co_await next();
    if (r.kind == imap::Response::Kind::Continuation) co_return r;
    if (r.kind == imap::Response::Kind::Tagged) {
      if (pending_.empty() || r.tag != pending_.front().tag) {
        fail(Reason::ProtocolError, "unexpected tag " + printable(r.tag));
      }
      pending_.pop_front();
      co_return r;  // the caller sees the NO or BAD
    }
    if (r.status == imap::Status::Bye)
      fail(Reason::ServerBye, "server said BYE: " + server_text(r));
  }
}

asio::awaitable<Reply> ImapClient::logout() {
  // A pipelined LOGOUT that found no command to ride behind is sent alone.
  logout_behind_next_ = false;
  std::string tag = logout_tag_.empty() ? queue("LOGOUT", "LOGOUT") : logout_tag_;
  logout_tag_.clear();
  co_return co_await reply(tag, /*bye_expected=*/true);
}

namespace {

constexpr std::string_view kIdleDone = "DONE\r\n";

// Shared by idle() and the DONE its wake-up timer writes while idle() waits
// for the server: idle() joins that write before it returns.
struct IdleState {
  explicit IdleState(const asio::any_io_executor& executor) : wake(executor), joined(executor) {}
  asio::steady_timer wake;
  asio::steady_timer joined;
  bool done_sent = false;
  bool writing = false;
};

asio::awaitable<void> write_done(net::Transport& transport, std::shared_ptr<IdleState> state) {
  try {
    co_await transport.write(kIdleDone);
  } catch (const net::IoError&) {
    // The pending read fails the same way and reports it.
  }
  state->writing = false;
  state->joined.cancel();
}

}  // namespace

asio::awaitable<ImapClient::IdleEnd> ImapClient::idle(net::Clock::time_point wake_at) {
  const std::string tag = queue("IDLE", "IDLE");
  imap::Response go = co_await continuation();
  if (go.kind == imap::Response::Kind::Tagged) co_return IdleEnd::Refused;

  const auto executor = co_await asio::this_coro::executor;
  auto state = std::make_shared<IdleState>(executor);
  state->wake.expires_at(wake_at);
  state->wake.async_wait([this, state, executor](const boost::system::error_code& ec) {
    if (ec || state->done_sent) return;
    state->done_sent = true;
    state->writing = true;
    asio::co_spawn(executor, write_done(transport_, state), asio::detached);
  });

  bool changed = false;
  std::exception_ptr failure;
  try {
    for (;;) {
      imap::Response r = co_await next();
      if (r.kind == imap::Response::Kind::Tagged) {
        if (pending_.empty() || r.tag != tag) {
          fail(Reason::ProtocolError, "server answered tag " + printable(r.tag) + " during IDLE");
        }
        pending_.pop_front();
        break;
      }
      if (r.status == imap::Status::Bye)
        fail(Reason::ServerBye, "server said BYE: " + server_text(r));
      const bool change = r.keyword == "EXISTS" || r.keyword == "RECENT" ||
                          r.keyword == "EXPUNGE" || r.keyword == "FETCH";
      if (change) changed = true;
      if (change && !state->done_sent) {
        state->done_sent = true;
        state->wake.cancel();
        try {
          co_await transport_.write(kIdleDone);
        } catch (const net::IoError& e) {
          io_failed(e, /*sending=*/true);
        }
      }
    }
  } catch (...) {
    failure = std::current_exception();
  }
  state->wake.cancel();
  while (state->writing) {
    state->joined.expires_at(net::Clock::time_point::max());
    boost::system::error_code ignored;
    co_await state->joined.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  if (failure) std::rethrow_exception(failure);
  co_return changed ? IdleEnd::Changed : IdleEnd::Woken;
}

void ImapClient::forget_plaintext_state() {
  reader_.discard_buffered();
  caps_.clear();
}

std::string ImapClient::joined_capabilities() const {
  std::string out;
  for (const auto& c : caps_) {
    if (!out.empty()) out += ' ';
    out += c;
  }
  return out;
}

}  // namespace imapprobe::probe
