// A minimal HTTP/1.1 server for /healthz, /readyz and /metrics on the
// operator's io_context. GET only, one request per connection, bounded
// request size and time: it serves probes from the kubelet and Prometheus,
// nothing else.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace imapprobe::telemetry {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Set for a body written part by part (the /metrics page of thousands of
  // probes): appends the next part to its argument, false after the last.
  // The body is then sent until the connection closes, without a length,
  // and `body` is not used.
  std::function<bool(std::string&)> next_part{};
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;
  // `address` is "host:port" ("127.0.0.1:8081", ":8081" for all addresses,
  // "[::1]:8081"); port 0 picks a free one. Throws std::runtime_error.
  HttpServer(boost::asio::io_context& io, const std::string& address,
             std::map<std::string, Handler> routes);
  ~HttpServer();
  unsigned short port() const;
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace imapprobe::telemetry
