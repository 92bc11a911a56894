#include "telemetry/http_server.hpp"

#include <array>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <stdexcept>

namespace imapprobe::telemetry {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, tcp::endpoint ep, std::map<std::string, Handler> r)
      : io(io), acceptor(io), routes(std::move(r)) {
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
  }

  void accept() {
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;  // closed on stop
      self->serve(std::make_shared<tcp::socket>(std::move(s)));
      self->accept();
    });
  }

  void serve(std::shared_ptr<tcp::socket> socket) {
    auto buf = std::make_shared<asio::streambuf>(8192);
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(5));
    timer->async_wait([socket](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket->close(ignored);
      }
    });
    asio::async_read_until(
        *socket, *buf, "\r\n\r\n",
        [self = shared_from_this(), socket, buf, timer](boost::system::error_code ec, std::size_t) {
          if (ec) return;
          std::istream in(buf.get());
          std::string method, target;
          in >> method >> target;
          const auto q = target.find('?');
          if (q != std::string::npos) target.resize(q);
          HttpResponse resp;
          if (method != "GET" && method != "HEAD") {
            resp = {405, "text/plain; charset=utf-8", "method not allowed\n"};
          } else if (auto it = self->routes.find(target); it != self->routes.end()) {
            try {
              resp = it->second();
            } catch (const std::exception& e) {
              resp = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
            }
          } else {
            resp = {404, "text/plain; charset=utf-8", "not found\n"};
          }
          if (resp.next_part) {
            // Chunked: a page cut short (an error while rendering it) is
            // seen by the scraper as incomplete, never as a shorter page.
            auto head = std::make_shared<std::string>(head_of(resp, "Transfer-Encoding: chunked"));
            auto next =
                std::make_shared<std::function<bool(std::string&)>>(std::move(resp.next_part));
            const bool body = method != "HEAD";
            asio::async_write(
                *socket, asio::buffer(*head),
                [socket, head, next, timer, body](boost::system::error_code ec, std::size_t) {
                  if (!ec && body) {
                    write_parts(socket, next, timer);
                  } else {
                    finish(*socket, *timer);
                  }
                });
            return;
          }
          // Head and body as two buffers: the body is moved, never copied.
          auto head = std::make_shared<std::string>(
              head_of(resp, "Content-Length: " + std::to_string(resp.body.size())));
          auto body = std::make_shared<std::string>(method == "HEAD" ? std::string()
                                                                     : std::move(resp.body));
          const std::array<asio::const_buffer, 2> buffers{asio::buffer(*head), asio::buffer(*body)};
          asio::async_write(*socket, buffers,
                            [socket, head, body, timer](boost::system::error_code, std::size_t) {
                              finish(*socket, *timer);
                            });
        });
  }

  // The status line and headers; `length` says how the body ends.
  static std::string head_of(const HttpResponse& resp, const std::string& length) {
    return "HTTP/1.1 " + std::to_string(resp.status) +
           (resp.status == 200   ? " OK"
            : resp.status == 503 ? " Service Unavailable"
                                 : " Error") +
           "\r\nContent-Type: " + resp.content_type + "\r\n" + length +
           "\r\nConnection: close\r\n\r\n";
  }

  // One request per connection: the answer is written, the connection ends.
  static void finish(tcp::socket& socket, asio::steady_timer& timer) {
    timer.cancel();
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  }

  // Renders and writes the next part as a chunk, then the one after, until
  // the last: one part in memory at a time.
  static void write_parts(std::shared_ptr<tcp::socket> socket,
                          std::shared_ptr<std::function<bool(std::string&)>> next,
                          std::shared_ptr<asio::steady_timer> timer) {
    auto part = std::make_shared<std::string>();
    bool more = false;
    try {
      more = (*next)(*part);
    } catch (const std::exception&) {
      finish(*socket, *timer);  // no last chunk: the client sees the page is incomplete
      return;
    }
    // An empty chunk would end the body: an empty part is no chunk at all.
    auto frame = std::make_shared<std::string>();
    if (!part->empty()) {
      char size_line[24];
      const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", part->size());
      frame->assign(size_line, static_cast<std::size_t>(n));
    }
    auto tail = std::make_shared<std::string>(part->empty() ? "" : "\r\n");
    if (!more) tail->append("0\r\n\r\n");
    const std::array<asio::const_buffer, 3> buffers{asio::buffer(*frame), asio::buffer(*part),
                                                    asio::buffer(*tail)};
    asio::async_write(
        *socket, buffers,
        [socket, next, timer, part, frame, tail, more](boost::system::error_code ec, std::size_t) {
          if (!ec && more) {
            write_parts(socket, next, timer);
          } else {
            finish(*socket, *timer);
          }
        });
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  std::map<std::string, Handler> routes;
};

namespace {

tcp::endpoint parse_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("address \"" + address + "\" needs host:port");
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(port_text);
  } catch (const std::exception&) {
    throw std::runtime_error("address \"" + address + "\" has no valid port");
  }
  if (port < 0 || port > 65535)
    throw std::runtime_error("address \"" + address + "\" has no valid port");
  boost::system::error_code ec;
  auto ip = host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                         : asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("address \"" + address + "\": \"" + host + "\" is not an IP address");
  return {ip, static_cast<unsigned short>(port)};
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, const std::string& address,
                       std::map<std::string, Handler> routes) {
  try {
    impl_ = std::make_shared<Impl>(io, parse_address(address), std::move(routes));
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + address + ": " + e.what());
  }
  impl_->accept();
}

HttpServer::~HttpServer() { stop(); }

unsigned short HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::stop() {
  boost::system::error_code ignored;
  if (impl_) impl_->acceptor.close(ignored);
}

}  // namespace imapprobe::telemetry
