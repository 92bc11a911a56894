#include "net/tcp_transport.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace imapprobe::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string host_port(const Endpoint& e) {
  const std::string address = e.address().to_string();
  const std::string port = std::to_string(e.port());
  return e.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

std::optional<asio::ip::address> ip_literal(const std::string& host) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return address;
}

asio::awaitable<std::vector<Endpoint>> resolve(asio::any_io_executor executor, std::string host,
                                               std::uint16_t port, Family family,
                                               Clock::time_point deadline) {
  tcp::resolver resolver(executor);
  Deadline guard(executor, [&resolver] { resolver.cancel(); });
  guard.set(deadline);
  boost::system::error_code ec;
  const auto flags = tcp::resolver::numeric_service;
  const std::string service = std::to_string(port);
  tcp::resolver::results_type results;
  switch (family) {
    case Family::IPv4:
      results = co_await resolver.async_resolve(tcp::v4(), host, service, flags,
                                                asio::redirect_error(asio::use_awaitable, ec));
      break;
    case Family::IPv6:
      results = co_await resolver.async_resolve(tcp::v6(), host, service, flags,
                                                asio::redirect_error(asio::use_awaitable, ec));
      break;
    case Family::Any:
      results = co_await resolver.async_resolve(host, service, flags,
                                                asio::redirect_error(asio::use_awaitable, ec));
      break;
  }
  if (guard.expired()) throw IoError(IoFailure::TimedOut, "lookup timed out");
  if (ec) throw IoError(IoFailure::Other, ec.message());
  std::vector<Endpoint> out;
  for (const auto& entry : results) out.push_back(entry.endpoint());
  co_return out;
}

TcpTransport::TcpTransport(const asio::any_io_executor& executor,
                           std::shared_ptr<asio::ssl::context> tls_context)
    : tls_context_(std::move(tls_context)),
      stream_(executor, *tls_context_),
      deadline_(executor, [this] {
        boost::system::error_code ignored;
        stream_.lowest_layer().cancel(ignored);
        stream_.lowest_layer().close(ignored);
      }) {}

void TcpTransport::fail(const boost::system::error_code& ec) const {
  if (deadline_.expired()) throw IoError(IoFailure::TimedOut, "deadline passed");
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    throw IoError(IoFailure::Closed, "end of stream");
  }
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
    throw IoError(IoFailure::Reset, ec.message());
  }
  if (ec == asio::error::connection_refused) throw IoError(IoFailure::Refused, ec.message());
  if (ec.category() == asio::error::get_ssl_category()) {
    throw IoError(IoFailure::Tls, ec.message(), peer_first_bytes_);
  }
  throw IoError(IoFailure::Other, ec.message());
}

asio::awaitable<Endpoint> TcpTransport::connect(std::vector<Endpoint> endpoints) {
  boost::system::error_code ec;
  Endpoint connected = co_await asio::async_connect(stream_.lowest_layer(), endpoints,
                                                    asio::redirect_error(asio::use_awaitable, ec));
  if (ec || deadline_.expired()) fail(ec);
  // Commands are small and each waits for its answer: Nagle would only add
  // a delayed-ACK wait to every pipelined pair.
  stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
  co_return connected;
}

asio::awaitable<std::size_t> TcpTransport::read_some(std::span<char> into) {
  boost::system::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    n = co_await stream_.async_read_some(asio::buffer(into.data(), into.size()),
                                         asio::redirect_error(asio::use_awaitable, ec));
  } else {
    n = co_await stream_.next_layer().async_read_some(
        asio::buffer(into.data(), into.size()), asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) fail(ec);
  co_return n;
}

asio::awaitable<void> TcpTransport::write(std::string_view data) {
  boost::system::error_code ec;
  if (tls_) {
    co_await asio::async_write(stream_, asio::buffer(data.data(), data.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(stream_.next_layer(), asio::buffer(data.data(), data.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) fail(ec);
}

// Keeps the first record header the peer sent: when the handshake fails,
// those five bytes tell a plain-text greeting ("* OK ") or another
// protocol from a broken TLS server.
void TcpTransport::on_tls_message(int write_p, int /*version*/, int content_type, const void* buf,
                                  std::size_t len, SSL* /*ssl*/, void* arg) {
  auto* self = static_cast<TcpTransport*>(arg);
  if (write_p == 0 && content_type == SSL3_RT_HEADER && self->peer_first_bytes_.empty()) {
    self->peer_first_bytes_.assign(static_cast<const char*>(buf), len);
  }
}

asio::awaitable<TlsFacts> TcpTransport::start_tls(std::string server_name) {
  SSL* ssl = stream_.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (ip_literal(server_name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), server_name.size());
  }
  // Record the first verification error instead of aborting the handshake,
  // so the certificate can still be described; the caller decides before
  // anything is sent over the connection.
  stream_.set_verify_callback([this](bool preverified, asio::ssl::verify_context& ctx) {
    if (!preverified && verify_error_ == X509_V_OK) {
      verify_error_ = X509_STORE_CTX_get_error(ctx.native_handle());
    }
    return true;
  });
  SSL_set_msg_callback(ssl, &TcpTransport::on_tls_message);
  SSL_set_msg_callback_arg(ssl, this);
  boost::system::error_code ec;
  co_await stream_.async_handshake(asio::ssl::stream_base::client,
                                   asio::redirect_error(asio::use_awaitable, ec));
  SSL_set_msg_callback(ssl, nullptr);
  if (ec) fail(ec);
  tls_ = true;

  TlsFacts facts;
  facts.verify_error = verify_error_;
  facts.peer = std::shared_ptr<X509>(SSL_get1_peer_certificate(ssl), X509Free{});
  facts.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) facts.cipher = SSL_CIPHER_get_name(c);
  co_return facts;
}

void TcpTransport::close() noexcept {
  boost::system::error_code ignored;
  stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
}

}  // namespace imapprobe::net
