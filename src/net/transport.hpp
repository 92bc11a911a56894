// A byte stream to a server, as protocol code sees it: read, write, start
// TLS, and a deadline after which every pending and later operation fails.
// IMAP today and SMTP next are written against this interface, so their
// dialogues are unit-tested over an in-memory transport (tests/support).
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on
#include <openssl/x509.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace imapprobe::net {

using Clock = std::chrono::steady_clock;

// How an operation failed, in the terms a verdict needs.
enum class IoFailure {
  TimedOut,  // the deadline passed first
  Refused,   // connect: nothing listens
  Closed,    // orderly end of stream (EOF, TLS close without notify)
  Reset,     // reset or broken pipe
  Tls,       // the TLS layer refused (handshake or record error)
  Other,
};

class IoError : public std::runtime_error {
 public:
  IoError(IoFailure kind, const std::string& detail, std::string peer_bytes = {})
      : std::runtime_error(detail), kind_(kind), peer_bytes_(std::move(peer_bytes)) {}
  IoFailure kind() const { return kind_; }
  // For a failed TLS handshake: the first bytes the peer sent instead of a
  // TLS record, so the caller can say "this port speaks plain IMAP".
  const std::string& peer_bytes() const { return peer_bytes_; }

 private:
  IoFailure kind_;
  std::string peer_bytes_;
};

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

// What a finished TLS handshake established. Verification failures do not
// abort the handshake: the caller decides, after describing the certificate.
struct TlsFacts {
  long verify_error = X509_V_OK;  // the first chain or name error
  std::shared_ptr<X509> peer;     // leaf certificate; null if none was sent
  std::string version;
  std::string cipher;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Reads at least one byte. Throws IoError.
  virtual boost::asio::awaitable<std::size_t> read_some(std::span<char> into) = 0;
  // Writes all of `data`, which must stay valid until the write completes.
  virtual boost::asio::awaitable<void> write(std::string_view data) = 0;
  // Starts TLS on this connection (implicit TLS or after STARTTLS), sending
  // SNI and checking `server_name` (an IP literal is checked as an address).
  virtual boost::asio::awaitable<TlsFacts> start_tls(std::string server_name) = 0;
  virtual bool secure() const = 0;
  // Operations still running at `at`, or started after it, fail TimedOut.
  virtual void set_deadline(Clock::time_point at) = 0;
  virtual void close() noexcept = 0;
};

}  // namespace imapprobe::net
