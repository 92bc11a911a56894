// Just enough HTTP/1.1 on top of testing::FakeServer to script an API
// server's answers: one request per connection (the reply says
// Connection: close), chunked streams for watches.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kube/config.hpp"
#include "support/fake_server.hpp"

namespace imapprobe::kube::testing {

struct HttpRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

// A cluster reached over plain HTTP on loopback with a static token: the
// scripted server's side of a Client.
inline ClusterConfig plain_config(std::uint16_t port) {
  ClusterConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  cfg.token = "static-token";
  return cfg;
}

inline bool read_request(imapprobe::testing::Peer& peer, HttpRequest& req) {
  std::string line;
  if (!peer.read_line(line, 5000)) return false;
  std::istringstream first(line);
  first >> req.method >> req.target;
  while (peer.read_line(line, 5000) && !line.empty()) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    req.headers[name] = value;
  }
  return true;
}

inline std::string http_response(int status, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

inline std::string stream_headers() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
         "Connection: close\r\n\r\n";
}

inline std::string chunk(const std::string& data) {
  std::ostringstream s;
  s << std::hex << data.size() << "\r\n" << data << "\r\n";
  return s.str();
}

inline std::string last_chunk() { return "0\r\n\r\n"; }

// Keeps a stream open, silent, until the server shuts down (bounded).
inline void hold_open(const imapprobe::testing::FakeServer& server,
                      std::chrono::seconds max = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + max;
  while (!server.stopping() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Requests seen by a scripted server, safe to read from the test thread.
class RequestLog {
 public:
  void add(const HttpRequest& r) {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
  }
  std::vector<HttpRequest> all() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // A server behaviour that records each request here and answers it with
  // `response` (an http_response(...)). The log must outlive the server.
  imapprobe::testing::FakeServer::Behaviour answering(std::string response) {
    return [this, response = std::move(response)](imapprobe::testing::Peer& peer) {
      HttpRequest req;
      if (!read_request(peer, req)) return;
      add(req);
      peer.send(response);
    };
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
};

}  // namespace imapprobe::kube::testing
