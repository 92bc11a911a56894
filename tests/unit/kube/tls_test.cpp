// TLS set-up of the Client against `openssl s_server` on loopback: the
// cluster CA from memory replaces the system roots, host names are still
// verified, client certificates (with an intermediate) are presented, and
// insecure-skip-tls-verify really skips.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kube/client.hpp"
#include "support/dovecot.hpp"
#include "support/fake_server.hpp"

namespace imapprobe::kube {
namespace {
namespace fs = std::filesystem;
using imapprobe::testing::run_command;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint16_t free_port() { return imapprobe::testing::unused_loopback_port(); }

void sh(const std::string& command) {
  std::string out;
  if (run_command(command, out) != 0) throw std::runtime_error(command + " failed:\n" + out);
}

// An `openssl s_server -www` we started; answers any GET with an HTML page.
class TlsServer {
 public:
  TlsServer(const fs::path& dir, const std::string& name, const std::string& extra_args)
      : port_(free_port()) {
    const fs::path log = dir / (name + ".log");
    std::string out;
    run_command("cd " + dir.string() + " && openssl s_server -quiet -www -accept 127.0.0.1:" +
                    std::to_string(port_) + " -cert " + name + ".crt -key " + name + ".key " +
                    extra_args + " >" + log.string() + " 2>&1 </dev/null & echo $!",
                out);
    pid_ = std::stoi(out);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port_);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(fd);
      if (up) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("s_server did not start: " + slurp(log));
  }
  ~TlsServer() {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  std::uint16_t port_;
  int pid_ = -1;
};

class KubeTls : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kube-tls-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const std::string cd = "cd " + dir_.string() + " && ";
    const std::string newkey = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    auto write = [&](const std::string& name, const std::string& text) {
      std::ofstream(dir_ / name) << text;
    };
    write("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
    write("good.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    write("wrong.ext", "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n");
    write("client.ext", "extendedKeyUsage=clientAuth\n");
    ASSERT_NO_THROW({
      sh(cd + "openssl req -x509 " + newkey +
         " -keyout ca.key -out ca.crt -subj /CN=kube-test-ca -days 1");
      sh(cd + "openssl req -x509 " + newkey +
         " -keyout other-ca.key -out other-ca.crt -subj /CN=other-ca -days 1");
      auto issue = [&](const std::string& name, const std::string& cn, const std::string& ca) {
        sh(cd + "openssl req " + newkey + " -keyout " + name + ".key -out " + name +
           ".csr -subj /CN=" + cn);
        sh(cd + "openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
           ".key -CAcreateserial -out " + name + ".crt -days 1 -extfile " + name + ".ext");
      };
      write("intermediate.ext", slurp(dir_ / "ca.ext"));
      issue("good", "127.0.0.1", "ca");
      issue("wrong", "wrong.example", "ca");
      issue("intermediate", "kube-test-intermediate", "ca");
      issue("client", "probe-client", "intermediate");
    });
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ClusterConfig config(const std::string& url, const std::string& ca = "ca.crt") const {
    ClusterConfig cfg;
    cfg.server = url;
    cfg.ca_pem = slurp(dir_ / ca);
    return cfg;
  }

  // 200 with s_server's HTML page means TLS worked: the body is not JSON.
  // A refused server certificate must fail in the handshake, not later.
  static int status_of(Client& client, bool expect_handshake_error = false) {
    try {
      client.get("/version");
      return -1;
    } catch (const ApiError& e) {
      if (expect_handshake_error) {
        EXPECT_NE(std::string(e.what()).find("SSL handshake"), std::string::npos) << e.what();
      }
      return e.status();
    }
  }

  fs::path dir_;
};

TEST_F(KubeTls, ClusterCaVerifiesAndReplacesSystemRoots) {
  TlsServer server(dir_, "good", "");
  {
    Client client(config(server.url()));
    EXPECT_EQ(status_of(client), 200);
  }
  {
    Client client(config("https://localhost:" + server.url().substr(server.url().rfind(':') + 1)));
    EXPECT_EQ(status_of(client), 200);
  }
  {
    Client client(config(server.url(), "other-ca.crt"));
    EXPECT_EQ(status_of(client, true), 0) << "a certificate from another CA was accepted";
  }
}

TEST_F(KubeTls, HostNameIsVerified) {
  TlsServer server(dir_, "wrong", "");
  {
    Client client(config(server.url()));
    EXPECT_EQ(status_of(client, true), 0) << "a certificate for wrong.example was accepted";
  }
  {
    ClusterConfig cfg = config(server.url());
    cfg.insecure_skip_tls_verify = true;
    Client client(cfg);
    EXPECT_EQ(status_of(client), 200);
  }
}

TEST_F(KubeTls, ClientCertificateWithChainFromMemory) {
  TlsServer server(dir_, "good", "-Verify 5 -CAfile ca.crt");
  {
    Client client(config(server.url()));
    // With TLS 1.3 the server's refusal arrives after the client's handshake.
    EXPECT_EQ(status_of(client), 0) << "server accepted a client without certificate";
  }
  ClusterConfig cfg = config(server.url());
  cfg.client_cert_pem = slurp(dir_ / "client.crt") + slurp(dir_ / "intermediate.crt");
  cfg.client_key_pem = slurp(dir_ / "client.key");
  Client client(cfg);
  EXPECT_EQ(status_of(client), 200);
}

TEST_F(KubeTls, BadPemIsAConfigError) {
  ClusterConfig cfg = config("https://127.0.0.1:1");
  cfg.ca_pem = "not a certificate";
  EXPECT_THROW(Client{cfg}, ConfigError);

  cfg = config("https://127.0.0.1:1");
  cfg.client_cert_pem = slurp(dir_ / "client.crt");
  cfg.client_key_pem = slurp(dir_ / "good.key");  // does not match
  try {
    Client client(cfg);
    FAIL() << "mismatched key accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
  cfg.client_key_pem = "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n";
  EXPECT_THROW(Client{cfg}, ConfigError);
  cfg.client_key_pem.clear();
  EXPECT_THROW(Client{cfg}, ConfigError);
}

}  // namespace
}  // namespace imapprobe::kube
