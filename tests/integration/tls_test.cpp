// hearth serve over HTTPS, and per-client rate limiting, end to end: a real
// process on port 0 with a throw-away certificate made by the openssl CLI,
// spoken to with curl (the issue: "TLS 1.2+ with OpenSSL when a certificate
// is configured (HSTS then)", "per-client rate limiting (429 with
// Retry-After)"). Nothing here skips: a server that cannot start with TLS
// fails the case.
#include <doctest/doctest.h>

#include <stdio.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "integration/hearth_process.hpp"

using hearth::test::hearth_process;
using hearth::test::http_connection;

namespace {

namespace fs = std::filesystem;

/// A temporary directory, removed with its contents.
struct temp_dir {
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("hearth-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  fs::path path;
};

struct command_result {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command (built only from paths of temp_dir and constants).
command_result run(const std::string& command) {
  command_result r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

/// A self-signed P-256 certificate for 127.0.0.1 and localhost, valid a
/// day, and its key: cert.pem and key.pem in `dir`.
void make_certificate(const fs::path& dir, const std::string& name = "") {
  const command_result r =
      run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost"
          " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
          (dir / (name + "key.pem")).string() + " -out " + (dir / (name + "cert.pem")).string());
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
}

std::vector<std::string> tls_flags(const fs::path& dir) {
  return {"--tls-cert", (dir / "cert.pem").string(), "--tls-key", (dir / "key.pem").string()};
}

/// curl against the server: `-sS -i` (status line and headers, then the
/// body), trusting only the test certificate.
command_result curl(const fs::path& dir, std::uint16_t port, const std::string& path, const std::string& extra = "") {
  return run("curl -sS -i --max-time 20 --cacert " + (dir / "cert.pem").string() + " " + extra +
             " https://127.0.0.1:" + std::to_string(port) + path);
}

}  // namespace

TEST_CASE("tls: HTTPS serves FHIR with HSTS and https:// URLs") {
  temp_dir t;
  make_certificate(t.path);
  hearth_process server(tls_flags(t.path));
  REQUIRE(server.tls());  // "https listening on ..."
  const std::string base = "https://127.0.0.1:" + std::to_string(server.port());

  const command_result meta = curl(t.path, server.port(), "/metadata");
  REQUIRE_MESSAGE(meta.exit_code == 0, meta.output);
  CHECK(meta.output.starts_with("HTTP/1.1 200"));
  CHECK(contains(meta.output, "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"));
  CHECK(contains(meta.output, R"("resourceType":"CapabilityStatement")"));
  CHECK(contains(meta.output, R"("url":")" + base + "\""));  // the base URL derived with https://

  // The token was minted for the https:// base URL (iss and aud).
  const command_result created =
      curl(t.path, server.port(), "/Patient",
           "-H 'Authorization: Bearer " + server.token() + "' " +
               R"(-X POST -H 'Content-Type: application/fhir+json' -d '{"resourceType":"Patient","gender":"male"}')");
  REQUIRE_MESSAGE(created.exit_code == 0, created.output);
  CHECK(created.output.starts_with("HTTP/1.1 201"));
  CHECK(contains(created.output, "Location: " + base + "/Patient/"));

  // Several requests on one TLS connection (keep-alive): curl reuses it.
  const command_result two = run("curl -sS -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' --cacert " +
                                 (t.path / "cert.pem").string() + " " + base + "/healthz " + base + "/readyz");
  REQUIRE_MESSAGE(two.exit_code == 0, two.output);
  CHECK(two.output == "200 1\n200 0\n");  // the second request made no new connection
}

TEST_CASE("tls: TLS 1.2 and 1.3 only, AEAD cipher suites only, no renegotiation") {
  temp_dir t;
  make_certificate(t.path);
  hearth_process server(tls_flags(t.path));
  REQUIRE(server.tls());

  const command_result v12 = curl(t.path, server.port(), "/healthz", "--tlsv1.2 --tls-max 1.2");
  CHECK_MESSAGE(v12.exit_code == 0, v12.output);
  CHECK(v12.output.starts_with("HTTP/1.1 200"));
  const command_result v13 = curl(t.path, server.port(), "/healthz", "--tlsv1.3");
  CHECK_MESSAGE(v13.exit_code == 0, v13.output);

  // SECLEVEL=0 lets this curl's OpenSSL offer TLS 1.1 at all: the refusal
  // below is the server's (its "protocol version" alert), not the client's.
  const command_result v11 =
      curl(t.path, server.port(), "/healthz", "--tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT@SECLEVEL=0'");
  CHECK(v11.exit_code != 0);
  CHECK_MESSAGE(contains(v11.output, "alert protocol version"), v11.output);
  const command_result v10 =
      curl(t.path, server.port(), "/healthz", "--tlsv1.0 --tls-max 1.0 --ciphers 'DEFAULT@SECLEVEL=0'");
  CHECK(v10.exit_code != 0);
  CHECK_MESSAGE(contains(v10.output, "alert protocol version"), v10.output);

  // TLS 1.2 with a CBC suite (no AEAD) is refused.
  const command_result cbc = curl(t.path, server.port(), "/healthz", "--tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-SHA");
  CHECK(cbc.exit_code != 0);
  CHECK_MESSAGE(contains(cbc.output, "handshake failure"), cbc.output);

  // No renegotiation (RFC 9325 3.5): s_client's "R" asks for one, the
  // server refuses with a "no renegotiation" alert.
  const command_result reneg = run("(sleep 1; echo R; sleep 2) | timeout 20 openssl s_client -connect 127.0.0.1:" +
                                   std::to_string(server.port()) + " -CAfile " + (t.path / "cert.pem").string() +
                                   " -tls1_2");
  CHECK_MESSAGE(contains(reneg.output, "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"), reneg.output);
  CHECK_MESSAGE(contains(reneg.output, "RENEGOTIATING"), reneg.output);
  CHECK_MESSAGE(contains(reneg.output, "no renegotiation"), reneg.output);

  // The failed handshakes are counted, the server is still serving.
  const command_result metrics = curl(t.path, server.port(), "/metrics");
  REQUIRE_MESSAGE(metrics.exit_code == 0, metrics.output);
  const std::string series = "\nhearth_tls_handshake_failures_total ";
  const auto at = metrics.output.find(series);
  REQUIRE(at != std::string::npos);
  CHECK(std::stoi(metrics.output.substr(at + series.size())) >= 3);
}

TEST_CASE("tls: plain HTTP on the HTTPS port gets no HTTP answer") {
  temp_dir t;
  make_certificate(t.path);
  hearth_process server(tls_flags(t.path));
  REQUIRE(server.tls());
  http_connection c(server.port());
  c.send_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const auto reply = c.read_reply(std::chrono::seconds(5));
  CHECK(reply.status == 0);  // no "HTTP/1.1 ..." came back (at most a TLS alert)
  CHECK(c.closed_by_peer(std::chrono::seconds(5)));
  // And HTTPS still works.
  CHECK(curl(t.path, server.port(), "/healthz").output.starts_with("HTTP/1.1 200"));
}

TEST_CASE("tls: a client that connects and sends nothing is dropped after the handshake deadline") {
  temp_dir t;
  make_certificate(t.path);
  std::vector<std::string> flags = tls_flags(t.path);
  flags.insert(flags.end(), {"--read-timeout", "1"});  // the handshake deadline as well
  hearth_process server(flags);
  REQUIRE(server.tls());
  const auto started = std::chrono::steady_clock::now();
  http_connection silent(server.port());
  CHECK(silent.closed_by_peer(std::chrono::seconds(10)));
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(waited >= std::chrono::milliseconds(900));
  CHECK(waited < std::chrono::seconds(5));
  CHECK(curl(t.path, server.port(), "/healthz").output.starts_with("HTTP/1.1 200"));
}

TEST_CASE("tls: SIGTERM with connections open over TLS ends the process promptly, exit 0") {
  temp_dir t;
  make_certificate(t.path);
  hearth_process server(tls_flags(t.path));
  REQUIRE(server.tls());
  REQUIRE(curl(t.path, server.port(), "/healthz").exit_code == 0);
  http_connection mid_handshake(server.port());  // connected, no ClientHello yet
  server.terminate();
  CHECK(mid_handshake.closed_by_peer(std::chrono::seconds(10)));
  CHECK(server.wait_exit(std::chrono::seconds(10)) == 0);
}

TEST_CASE("tls: a certificate or key that cannot be used stops hearth serve with an error naming the file") {
  temp_dir t;
  make_certificate(t.path);
  make_certificate(t.path, "other-");
  const fs::path garbage = t.path / "garbage.pem";
  std::ofstream(garbage) << "not a PEM file\n";
  const fs::path data = t.path / "data";
  auto serve = [&](const fs::path& cert, const fs::path& key) {
    return run(std::string(HEARTH_BINARY) + " serve --http-port 0 --data " + data.string() + " --tls-cert " +
               cert.string() + " --tls-key " + key.string());
  };
  SUBCASE("not a certificate") {
    const command_result r = serve(garbage, t.path / "key.pem");
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.output, "certificate chain (PEM) from " + garbage.string()), r.output);
    CHECK_FALSE(contains(r.output, "listening"));
  }
  SUBCASE("not a key") {
    const command_result r = serve(t.path / "cert.pem", garbage);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.output, "private key (PEM, unencrypted) from " + garbage.string()), r.output);
  }
  SUBCASE("the key of another certificate") {
    const command_result r = serve(t.path / "cert.pem", t.path / "other-key.pem");
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.output, (t.path / "other-key.pem").string()), r.output);
    CHECK_FALSE(contains(r.output, "listening"));
  }
  SUBCASE("an encrypted key fails instead of prompting for its password") {
    const fs::path encrypted = t.path / "encrypted-key.pem";
    const command_result enc = run("openssl pkey -in " + (t.path / "key.pem").string() +
                                   " -aes256 -passout pass:secret -out " + encrypted.string());
    REQUIRE_MESSAGE(enc.exit_code == 0, enc.output);
    const command_result r = run("timeout 30 " + std::string(HEARTH_BINARY) + " serve --http-port 0 --data " +
                                 data.string() + " --tls-cert " + (t.path / "cert.pem").string() + " --tls-key " +
                                 encrypted.string() + " < /dev/null");
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.output, encrypted.string()), r.output);
  }
}

// Rate limiting is a pipeline stage, the same over HTTP and HTTPS: here
// over plain HTTP, the listener's client address as the key.
TEST_CASE("rate limit: at 1/s with a burst of 2 the third rapid request gets 429 with Retry-After") {
  hearth_process server({"--rate-limit", "1", "--rate-limit-burst", "2"});
  http_connection c(server.port());
  CHECK(c.request("GET", "/metadata").status == 200);
  CHECK(c.request("GET", "/metadata").status == 200);
  const auto limited = c.request("GET", "/metadata");
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "1");
  CHECK(contains(limited.body, R"("code":"throttled")"));
  CHECK(contains(limited.body, R"("resourceType":"OperationOutcome")"));
  // Health probes and metrics are exempt; the 429 is counted by status.
  CHECK(c.request("GET", "/healthz").status == 200);
  CHECK(c.request("GET", "/readyz").status == 200);
  const auto metrics = c.request("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(contains(metrics.body, R"(hearth_http_requests_total{interaction="capabilities",type="none",status="429"} 1)"));
  // Once the delay has passed, the client is served again.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(c.request("GET", "/metadata").status == 200);
}
