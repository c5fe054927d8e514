// External identity providers end to end (issue 6: "tokens from configured
// issuers are accepted when their JWKS (file or URL fetched at start and
// refreshed) validates them"): the test serves a JWK Set over plain HTTP on
// 127.0.0.1 itself, starts a real `hearth serve` whose config names it as an
// external issuer's jwks_uri, and signs tokens with its own keys. It shows
// that such a token is accepted, that a rotated key is picked up through the
// refresh an unknown kid asks for, that a flood of unknown kids does not
// flood the identity provider, and that a provider that is down at start
// neither stops the server nor lets its tokens in before its keys are known.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/jwt.hpp>

#include "integration/hearth_process.hpp"

namespace hearth::test {
namespace {

namespace jwt = hearth::server::jwt;
using fhir::json_value;
using namespace std::chrono_literals;

constexpr const char* issuer = "https://idp.test.example";

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

/// A JWKS endpoint on 127.0.0.1, port chosen by the system: answers every
/// request with the status, headers and body it was last told to, and
/// counts the requests per path. One thread, one connection at a time
/// (Connection: close), as much HTTP as a JWKS fetch needs.
class jwks_server {
 public:
  jwks_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("bind/listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~jwks_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  jwks_server(const jwks_server&) = delete;
  jwks_server& operator=(const jwks_server&) = delete;

  /// From now on, every request gets this.
  void answer(int status, std::string body, std::string headers = "Content-Type: application/json\r\n") {
    const std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
    headers_ = std::move(headers);
  }
  /// Serves `keys` as a JWK Set with 200.
  void serve(const std::vector<jwt::key>& keys) {
    jwt::key_set set;
    for (const auto& k : keys) set.add(k);
    answer(200, fhir::to_json(set.to_jwks()), "Content-Type: application/json\r\nCache-Control: public, max-age=3600\r\n");
  }
  int requests(const std::string& path) {
    const std::lock_guard lock(mutex_);
    return counts_[path];
  }
  int requests_total() {
    const std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& [path, count] : counts_) n += count;
    return n;
  }
  std::string uri(const std::string& path = "/jwks") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve_one(c);
      ::close(c);
    }
  }

  void serve_one(int c) {
    std::string req;
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384 &&
           std::chrono::steady_clock::now() < until) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<std::size_t>(n));
    }
    // "GET /path HTTP/1.1"
    const auto sp1 = req.find(' ');
    const auto sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) return;
    const std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string response;
    {
      const std::lock_guard lock(mutex_);
      ++counts_[path];
      response = "HTTP/1.1 " + std::to_string(status_) + " X\r\n" + headers_ +
                 "Content-Length: " + std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
    }
    std::string_view rest = response;
    while (!rest.empty()) {
      const ssize_t n = ::send(c, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  int status_ = 503;
  std::string headers_;
  std::string body_ = "{}";
  std::map<std::string, int> counts_;
  std::thread thread_;
};

/// A config file naming `jwks_uri` as the external issuer's, in a
/// directory of its own (removed on destruction).
struct issuer_config {
  std::filesystem::path dir;
  std::filesystem::path file;
  issuer_config(const std::string& jwks_uri, int refresh_min_seconds) {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          ("hearth-issuer-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    std::filesystem::create_directories(dir);
    file = dir / "hearth.json";
    std::ofstream(file) << R"({"auth": {"external_issuers": [{"issuer": ")" << issuer << R"(", "jwks_uri": ")"
                        << jwks_uri << R"(", "jwks_refresh_min_seconds": )" << refresh_min_seconds << "}]}}";
  }
  ~issuer_config() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

/// An access token of the external issuer for `server`, signed with `k`
/// (header kid = k's thumbprint), with its own jti.
std::string idp_token(const hearth_process& server, const jwt::key& k, const std::string& jti) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json_value c = json_value::object();
  c.set("iss", issuer);
  c.set("sub", "dr-who");
  c.set("aud", server.base_url());  // RFC 9068 4: this resource server
  c.set("client_id", "idp-app");
  c.set("scope", "system/Patient.rs");
  c.set("jti", jti);
  c.set("iat", json_value::number(std::to_string(now - 5)));
  c.set("exp", json_value::number(std::to_string(now + 300)));
  jwt::sign_options o;
  o.typ = "at+jwt";  // RFC 9068 2.1
  return jwt::sign(c, k, o).value();
}

int status_with(const hearth_process& server, const std::string& token, http_reply* out = nullptr) {
  http_connection c(server.port());
  http_reply r = c.request("GET", "/Patient?_count=1", {}, {{"Authorization", "Bearer " + token}});
  if (out != nullptr) *out = r;
  return r.status;
}

/// Polls (a request every 200 ms, at most `limit`) until the token is accepted.
bool accepted_within(const hearth_process& server, const std::string& token, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (status_with(server, token) == 200) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

std::string server_log(const hearth_process& server) {
  std::ifstream in(server.dir() / "stderr.log");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("external issuer: a jwks_uri is fetched at start, and a rotated key is fetched when its kid shows up") {
  const jwt::key k1 = jwt::key::generate_es256().value();
  const jwt::key k2 = jwt::key::generate_es256().value();
  const jwt::key stranger = jwt::key::generate_es256().value();
  jwks_server idp;
  idp.serve({k1});
  // 2 s between fetches: short for the test, long enough to count.
  const issuer_config cfg(idp.uri(), 2);
  hearth_process server({"--config", cfg.file.string()});
  // Fetched once, before the server said it listens.
  CHECK(idp.requests("/jwks") == 1);

  // A token of the issuer, signed with the key it serves: accepted.
  http_reply r;
  CHECK(status_with(server, idp_token(server, k1, "a-1"), &r) == 200);
  CHECK(contains(r.body, R"("resourceType":"Bundle")"));
  // Signed with a key it does not serve: refused.
  CHECK(status_with(server, idp_token(server, stranger, "x-1"), &r) == 401);
  CHECK(contains(r.header("www-authenticate"), "Bearer"));

  // The issuer rotates to k2. The first k2 token names a kid the server
  // does not know: refused at once (verification does not wait for the
  // network), and a refresh is asked for; once it has run, k2 is accepted.
  idp.serve({k2});
  const int before = idp.requests("/jwks");
  const std::string t2 = idp_token(server, k2, "b-1");
  CHECK(status_with(server, t2) == 401);
  CHECK(accepted_within(server, t2, 20s));
  CHECK(idp.requests("/jwks") > before);
  // k1 was rotated out: a new k1 token is refused now.
  CHECK(status_with(server, idp_token(server, k1, "a-2")) == 401);

  // A flood of tokens with kids the issuer never had: every one refused,
  // and the identity provider asked at most once per 2 s meanwhile.
  const int flood_before = idp.requests("/jwks");
  const auto started = std::chrono::steady_clock::now();
  int refused = 0;
  for (int i = 0; i < 40; ++i)
    if (status_with(server, idp_token(server, stranger, "forged-" + std::to_string(i))) == 401) ++refused;
  std::this_thread::sleep_for(2500ms);  // a deferred fetch, if any, has run
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const int flood_fetches = idp.requests("/jwks") - flood_before;
  CHECK(refused == 40);
  CAPTURE(elapsed);
  CHECK(flood_fetches >= 1);  // the unknown kids did ask
  CHECK(flood_fetches <= static_cast<int>(elapsed / 2.0) + 1);
  // The rotated key still works, and nothing but the configured path was fetched.
  CHECK(status_with(server, idp_token(server, k2, "b-2")) == 200);
  CHECK(idp.requests_total() == idp.requests("/jwks"));

  // The log names the issuer's fetches; no token text is in it.
  const std::string log = server_log(server);
  CHECK(contains(log, R"("msg":"external issuer keys fetched","issuer":"https://idp.test.example")"));
  CHECK_FALSE(contains(log, t2.substr(t2.size() - 20)));
}

TEST_CASE("external issuer: an identity provider down at start: the server starts, its tokens wait for its keys") {
  const jwt::key k1 = jwt::key::generate_es256().value();
  jwks_server idp;
  idp.answer(503, R"({"error":"maintenance"})");
  const issuer_config cfg(idp.uri(), 1);
  const auto started = std::chrono::steady_clock::now();
  hearth_process server({"--config", cfg.file.string()});
  CHECK(std::chrono::steady_clock::now() - started < 25s);  // one bounded attempt, not a wait for the provider
  CHECK(idp.requests("/jwks") >= 1);

  // Hearth's own tokens work; the issuer's are refused while its keys are unknown.
  http_connection own(server);
  CHECK(own.request("GET", "/Patient?_count=1").status == 200);
  const std::string t = idp_token(server, k1, "c-1");
  CHECK(status_with(server, t) == 401);
  const std::string log = server_log(server);
  CHECK(contains(log, R"("level":"warning","msg":"external issuer keys not fetched","issuer":"https://idp.test.example")"));
  CHECK(contains(log, "503"));
  CHECK_FALSE(contains(log, idp.uri()));  // the URI is not logged (it may hold a query)

  // A redirect is not followed: the keys must come from the configured URI.
  idp.answer(302, "", "Location: " + idp.uri("/elsewhere") + "\r\n");
  CHECK(status_with(server, t) == 401);  // asks for a refresh: within 1 s
  std::this_thread::sleep_for(2500ms);
  CHECK(status_with(server, t) == 401);
  CHECK(idp.requests("/elsewhere") == 0);
  CHECK(contains(server_log(server), "redirect"));

  // The provider comes back: the retries (and the token's own request) bring the keys.
  idp.serve({k1});
  CHECK(accepted_within(server, t, 30s));
  CHECK(idp.requests("/elsewhere") == 0);
}

}  // namespace hearth::test
