// `hearth conformance` (issue 9) against a real `hearth serve`: every suite
// passes against a Hearth started for it, and the suites report failures
// against deliberately broken configurations (authorisation off, an MLLP
// endpoint answering in the wrong acknowledgment mode): a suite that cannot
// fail proves nothing.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

#include "integration/auth_support.hpp"
#include "integration/hearth_process.hpp"
#include "support/loopback_listener.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace hearth::test;
namespace fs = std::filesystem;
using hearth::fhir::json_value;


std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json_value report_json(const fs::path& p) {
  hearth::fhir::json_read_options plain;
  plain.fhir_rules = false;
  auto doc = hearth::fhir::parse_json(read_file(p), plain);
  REQUIRE_MESSAGE(doc, "the JSON report does not parse");
  return *doc;
}

long number(const json_value& doc, const char* name) {
  const json_value* v = doc.find(name);
  REQUIRE(v != nullptr);
  return std::stol(v->number_text());
}

/// The names "suite / case" of the failed cases of a JSON report.
std::vector<std::string> failed_cases(const json_value& doc) {
  std::vector<std::string> out;
  for (const json_value& s : doc.find("suites")->items())
    for (const json_value& c : s.find("cases")->items())
      if (c.find("status")->str() == "failed") out.push_back(s.find("name")->str() + " / " + c.find("name")->str());
  return out;
}

/// A config file with one SMART Backend Services client whose key is
/// written beside it (PEM): what an engineer gives `hearth conformance`.
struct backend_setup {
  fs::path config, key;
};

backend_setup write_backend_client(const fs::path& dir) {
  const hearth::server::jwt::key client_key = generate_p384();
  hearth::server::jwt::key_set keys;
  keys.add(client_key);
  backend_setup s{dir / "hearth.json", dir / "client-key.pem"};
  REQUIRE(client_key.save_private_pem(s.key));
  std::ofstream f(s.config);
  f << R"({"auth":{"clients":[{"client_id":"conformance","type":"confidential-asymmetric",)"
    << R"("scope":"system/*.cruds system/AuditEvent.rs","jwks":)" << hearth::fhir::to_json(keys.to_jwks())
    << "}]}}";
  return s;
}

/// An MLLP receiver gone wrong: it answers every message AA in original
/// mode, echoing MSH-10, whatever the message asks (MSH-15/16) or holds.
class always_aa_receiver {
 public:
  always_aa_receiver() {
    fd_ = listen_loopback(port_);
    REQUIRE(fd_ >= 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~always_aa_receiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::thread([c] { answer(c); }).detach();
    }
  }

  static void answer(int c) {
    timeval tv{5, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string buf;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(c, chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      for (std::size_t end; (end = buf.find("\x1c\r")) != std::string::npos;) {
        const std::size_t start = buf.find('\x0b');
        const std::string msg = start < end ? buf.substr(start + 1, end - start - 1) : std::string();
        buf.erase(0, end + 2);
        // MSH-10: the tenth field (MSH-1 is the separator itself).
        std::string control;
        std::size_t field = 1, pos = 3;
        while (pos < msg.size() && msg[pos] != '\r' && field < 10) {
          if (msg[pos] == '|') ++field;
          ++pos;
        }
        while (pos < msg.size() && msg[pos] != '|' && msg[pos] != '\r') control.push_back(msg[pos++]);
        const std::string ack = "\x0bMSH|^~\\&|FAKE|FAKE|||20260101000000||ACK|A" + control + "|P|2.5.1\rMSA|AA|" +
                                control + "\r\x1c\r";
        if (::write(c, ack.data(), ack.size()) < 0) break;
      }
    }
    ::close(c);
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("conformance: every suite passes against a Hearth started for it, and the reports are written") {
  temp_dir tmp("hearth-conformance-test");
  const backend_setup client = write_backend_client(tmp.path);
  hearth_process server({"--config", client.config.string(), "--mllp-port", "0"});
  const std::uint16_t mllp = server.listening_port("mllp");
  REQUIRE(mllp != 0);

  const fs::path xml = tmp.path / "report.xml", html = tmp.path / "report.html", json = tmp.path / "report.json";
  const command_output run = run_hearth(
      {"conformance", "--fhir", server.base_url(), "--client-id", "conformance", "--key", client.key.string(),
       "--scope", "system/*.cruds system/AuditEvent.rs", "--mllp", "127.0.0.1:" + std::to_string(mllp),
       "--report", xml.string(), "--report", html.string(), "--report", json.string()},
      std::chrono::minutes(10));
  INFO(run.out);
  INFO(run.err);
  CHECK(run.status == 0);
  CHECK(run.out.find("PASSED") != std::string::npos);

  const json_value doc = report_json(json);
  CHECK(number(doc, "failed") == 0);
  CHECK(number(doc, "passed") > 50);
  // Every requirement is met here (credentials, client credentials, an
  // auditing server, an MLLP endpoint, a FHIR base): nothing is skipped.
  CHECK(number(doc, "skipped") == 0);
  CHECK(failed_cases(doc).empty());
  CHECK(read_file(xml).find("<testsuites name=\"hearth conformance\"") != std::string::npos);
  CHECK(read_file(xml).find("failures=\"0\"") != std::string::npos);
  CHECK(read_file(html).starts_with("<!DOCTYPE html>"));
}

TEST_CASE("conformance: with authorisation off, the SMART suite reports the failures") {
  // A server that serves everyone (hearth serve --insecure-no-auth): the
  // suite's requests without a token or with a garbage one must get 401,
  // and they get 200.
  hearth_process server({"--insecure-no-auth"});
  temp_dir tmp("hearth-conformance-test");
  const fs::path json = tmp.path / "report.json";
  const command_output run = run_hearth({"conformance", "--fhir", server.base_url(), "--token", "not-a-real-token",
                                         "--suite", "smart", "--report", json.string()},
                                        std::chrono::minutes(2));
  INFO(run.out);
  INFO(run.err);
  CHECK(run.status == 1);
  CHECK(run.out.find("FAILED") != std::string::npos);
  const json_value doc = report_json(json);
  CHECK(number(doc, "failed") > 0);
  bool unauthorised = false;  // the 401 cases are among the failures
  for (const std::string& f : failed_cases(doc)) unauthorised = unauthorised || f.find("401") != std::string::npos ||
                                                                f.find("token") != std::string::npos;
  CHECK(unauthorised);
  for (const json_value& s : doc.find("suites")->items()) CHECK(s.find("error")->str().empty());
}

TEST_CASE("conformance: an MLLP endpoint answering AA in original mode to everything fails the ACK suites") {
  always_aa_receiver fake;
  temp_dir tmp("hearth-conformance-test");
  const fs::path json = tmp.path / "report.json";
  const command_output run =
      run_hearth({"conformance", "--mllp", "127.0.0.1:" + std::to_string(fake.port()), "--suite", "ack-modes",
                  "--suite", "malformed", "--report", json.string(), "--timeout", "5"},
                 std::chrono::minutes(2));
  INFO(run.out);
  INFO(run.err);
  CHECK(run.status == 1);
  const json_value doc = report_json(json);
  const std::vector<std::string> failed = failed_cases(doc);
  CHECK(failed.size() >= 2);
  bool ack_modes = false, malformed = false;
  for (const std::string& f : failed) {
    ack_modes = ack_modes || f.starts_with("ack-modes / ");
    malformed = malformed || f.starts_with("malformed / ");
  }
  CHECK(ack_modes);  // enhanced mode asked for (MSH-15 AL): CA expected, AA came
  CHECK(malformed);  // unreadable messages: AR/AE expected, AA came
  // The failures are the receiver's answers, not suites that could not run.
  for (const json_value& s : doc.find("suites")->items()) CHECK(s.find("error")->str().empty());
}

TEST_CASE("conformance: usage errors exit 2 and say why") {
  CHECK(run_hearth({"conformance"}).status == 2);
  CHECK(run_hearth({"conformance", "--fhir", "http://127.0.0.1:1", "--suite", "no-such-suite"}).status == 2);
  CHECK(run_hearth({"conformance", "--fhir", "http://127.0.0.1:1", "--report", "out.txt"}).status == 2);
  CHECK(run_hearth({"conformance", "--fhir", "ftp://x"}).status == 2);
  CHECK(run_hearth({"conformance", "--fhir", "http://127.0.0.1:1", "--client-id", "x"}).status == 2);
  const command_output list = run_hearth({"conformance", "--list"});
  CHECK(list.status == 0);
  CHECK(list.out.find("fhir  crud") != std::string::npos);
  CHECK(list.out.find("mllp  framing") != std::string::npos);
}

TEST_CASE("conformance: over HTTPS the server's certificate is verified against --ca") {
  temp_dir tmp("hearth-conformance-test");
  // A self-signed P-256 certificate for 127.0.0.1, valid a day.
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
                          "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
                          (tmp.path / "key.pem").string() + " -out " + (tmp.path / "cert.pem").string() +
                          " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  hearth_process server(
      {"--tls-cert", (tmp.path / "cert.pem").string(), "--tls-key", (tmp.path / "key.pem").string()});
  REQUIRE(server.tls());
  const command_output trusted =
      run_hearth({"conformance", "--fhir", server.base_url(), "--token", server.token(), "--ca",
                  (tmp.path / "cert.pem").string(), "--suite", "crud"},
                 std::chrono::minutes(2));
  INFO(trusted.out);
  INFO(trusted.err);
  CHECK(trusted.status == 0);
  // Without --ca the self-signed certificate is not trusted: nothing passes.
  const fs::path json = tmp.path / "untrusted.json";
  const command_output untrusted = run_hearth(
      {"conformance", "--fhir", server.base_url(), "--token", server.token(), "--suite", "crud", "--report",
       json.string()},
      std::chrono::minutes(2));
  CHECK(untrusted.status == 1);
  CHECK(number(report_json(json), "passed") == 0);
}
