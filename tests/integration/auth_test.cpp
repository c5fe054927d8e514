// Bearer tokens end to end (issue 6): a real `hearth serve`, spoken to over
// sockets, with tokens from `hearth token` and tokens forged here (with the
// server's own key where the attack needs it) to show that each kind of bad
// token is refused with 401 and WWW-Authenticate (RFC 6750 3), that nothing
// of the data gets out with the refusal, and that --insecure-no-auth is
// confined to loopback addresses.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/jwt.hpp>

#include "integration/auth_support.hpp"

namespace hearth::test {
namespace {

namespace jwt = hearth::server::jwt;
namespace auth = hearth::server::auth;
using fhir::json_value;

}  // namespace

TEST_CASE("auth: no token is 401 with a bare Bearer challenge; /metadata and health need none") {
  hearth_process server;
  http_connection admin(server);
  const std::string id = created_id(
      admin.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Thornquist"}]})", json_body),
      "Patient");

  http_connection anonymous(server.port());
  for (const std::string& target : std::vector<std::string>{"/Patient/" + id, "/Patient?name=Thornquist",
                                                            "/Patient/" + id + "/_history", "/_history",
                                                            "/Patient/" + id + "/$everything"}) {
    CAPTURE(target);
    const http_reply r = anonymous.request("GET", target);
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate") == R"(Bearer realm="hearth")");
    CHECK(contains(r.body, R"("resourceType":"OperationOutcome")"));
    CHECK(contains(r.body, R"("code":"login")"));
    CHECK_FALSE(contains(r.body, "Thornquist"));
  }
  // Writes too, and nothing is written.
  const http_reply put = anonymous.request(
      "PUT", "/Patient/" + id, R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":"Changed"}]})",
      json_body);
  CHECK(put.status == 401);
  CHECK(anonymous.request("POST", "/", R"({"resourceType":"Bundle","type":"batch"})", json_body).status == 401);
  CHECK(admin.request("GET", "/Patient/" + id).header("etag") == "W/\"1\"");

  CHECK(anonymous.request("GET", "/metadata").status == 200);
  CHECK(anonymous.request("GET", "/healthz").status == 200);
  CHECK(anonymous.request("GET", "/readyz").status == 200);
  CHECK(anonymous.request("GET", "/metrics").status == 200);
  // The CapabilityStatement says how requests are authorised.
  CHECK(contains(anonymous.request("GET", "/metadata").body, "bearer token"));

  // A token in the URL is refused even beside a good header (RFC 6750 2.3 not offered).
  const http_reply in_url = admin.request("GET", "/Patient?access_token=" + server.token());
  CHECK(in_url.status == 401);
  CHECK(contains(in_url.header("www-authenticate"), R"(error="invalid_request")"));
}

TEST_CASE("auth: forged, expired, foreign and mistyped tokens are each 401 invalid_token, with no data") {
  hearth_process server;
  http_connection admin(server);
  const std::string id = created_id(
      admin.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Ellingboe"}]})", json_body),
      "Patient");
  const std::string base = server.base_url();
  const jwt::key key = server_key(server);
  const std::string payload = b64url(fhir::to_json(claims_for(base, base)));

  // HS256 keyed with the public key (RFC 8725 2.1), as JWK and as PEM.
  const std::vector<std::string> hs256 = hs256_with_public_key(key, payload);
  auth::token_request expired_request;
  expired_request.client_id = "cli";
  expired_request.scope = "system/*.cruds";
  expired_request.lifetime = std::chrono::seconds(300);

  struct bad_token {
    const char* what;
    std::string token;
  };
  const std::vector<bad_token> cases = {
      {"garbage", "not-a-jwt"},
      {"three parts of garbage", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"},
      {"expired (two hours ago, 5 minute lifetime)",
       auth::mint_access_token(key, base, expired_request, std::chrono::system_clock::now() - std::chrono::hours(2))
           .value()},
      {"minted for another server (iss and aud)", minted(server, {"--scope", "system/*.rs", "--base-url",
                                                                  "http://127.0.0.1:1"})},
      {"our issuer, another audience", sign_as(claims_for(base, "https://elsewhere.example/fhir"), key, "at+jwt")},
      {"alg none", b64url(R"({"alg":"none","typ":"at+jwt"})") + "." + payload + "."},
      {"HS256 keyed with the public JWK", hs256[0]},
      {"HS256 keyed with the public PEM", hs256[1]},
      {"an id_token (typ JWT) signed by the server's own key", sign_as(claims_for(base, base), key, "JWT")},
      {"signed by another key", sign_as(claims_for(base, base), jwt::key::generate_es256().value(), "at+jwt")},
  };
  http_connection c(server.port());
  for (const auto& bad : cases) {
    CAPTURE(bad.what);
    for (const std::string& target : std::vector<std::string>{"/Patient/" + id, "/Patient?name=Ellingboe"}) {
      const http_reply r = c.request("GET", target, {}, {{"Authorization", "Bearer " + bad.token}});
      CHECK(r.status == 401);
      const std::string challenge = r.header("www-authenticate");
      CHECK(challenge.starts_with(R"(Bearer realm="hearth", error="invalid_token", error_description=")"));
      CHECK(contains(r.body, R"("resourceType":"OperationOutcome")"));
      CHECK_FALSE(contains(r.body, "Ellingboe"));
      CHECK_FALSE(contains(r.body, id));
      // Nothing of the token comes back either.
      if (bad.token.size() > 12) CHECK_FALSE(contains(r.body + challenge, bad.token.substr(bad.token.size() - 12)));
    }
  }
  // And the server's key, used properly, works: the checks above were not vacuous.
  const std::string good = sign_as(claims_for(base, base), key, "at+jwt");
  CHECK(c.request("GET", "/Patient/" + id, {}, {{"Authorization", "Bearer " + good}}).status == 200);
  CHECK(c.request("GET", "/Patient/" + id, {}, {{"Authorization", "bearer " + good}}).status == 200);

  // Refused tokens are logged without their text, by reason only; accepted ones by jti.
  std::ifstream log(server.dir() / "stderr.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  for (const auto& bad : cases)
    if (bad.token.size() > 20) CHECK_FALSE(contains(text, bad.token.substr(bad.token.size() - 20)));
  CHECK_FALSE(contains(text, good.substr(good.size() - 20)));
  CHECK(contains(text, R"("jti":"forged-)"));
}

TEST_CASE("auth: a patient/ token reads its patient's Observations, not another patient's") {
  hearth_process server;
  http_connection admin(server);
  const std::string mine = created_id(
      admin.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Ashdown"}]})", json_body),
      "Patient");
  const std::string theirs = created_id(
      admin.request("POST", "/Patient", R"({"resourceType":"Patient","name":[{"family":"Brightwater"}]})", json_body),
      "Patient");
  const auto observation = [](const std::string& patient) {
    return R"({"resourceType":"Observation","status":"final","code":{"text":"heart rate"},"subject":{"reference":"Patient/)" +
           patient + R"("},"valueQuantity":{"value":72,"unit":"/min"}})";
  };
  const std::string my_obs = created_id(admin.request("POST", "/Observation", observation(mine), json_body), "Observation");
  const std::string their_obs =
      created_id(admin.request("POST", "/Observation", observation(theirs), json_body), "Observation");

  const std::string token = minted(server, {"--scope", "patient/Observation.rs launch/patient", "--patient", mine,
                                            "--client", "growth-chart", "--ttl", "600"});
  http_connection app(server.port());
  const std::vector<std::pair<std::string, std::string>> bearer{{"Authorization", "Bearer " + token}};
  const http_reply ok = app.request("GET", "/Observation/" + my_obs, {}, bearer);
  CHECK(ok.status == 200);
  CHECK(contains(ok.body, "Patient/" + mine));
  // Another patient's Observation: as if it did not exist (SECURITY.md: a
  // request must not reveal what the token cannot read).
  const http_reply other = app.request("GET", "/Observation/" + their_obs, {}, bearer);
  CHECK(other.status == 404);
  CHECK_FALSE(contains(other.body, "Patient/" + theirs));
}

TEST_CASE("auth: hearth token mints only what it may, and prints only the token") {
  hearth_process server;
  const command_output good = server.mint({"--scope", "patient/*.read launch/patient", "--patient", "p-1", "--ttl",
                                           "60", "--fhir-user", "Practitioner/pr-1", "--encounter", "e-1"});
  REQUIRE_MESSAGE(good.status == 0, good.err);
  CHECK(good.err.empty());
  // One line: a compact JWS, three base64url parts.
  CHECK(good.out.back() == '\n');
  const std::string token = good.out.substr(0, good.out.size() - 1);
  CHECK(token.find('\n') == std::string::npos);
  CHECK(std::count(token.begin(), token.end(), '.') == 2);
  CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
        std::string::npos);

  struct refused {
    std::vector<std::string> args;
    const char* says;
  };
  const std::vector<refused> cases = {
      {{"--scope", "patient/Observation.dus", "--patient", "p"}, "malformed scopes rejected"},  // letters out of order
      {{"--scope", "patient/Nonsense.rs", "--patient", "p"}, "resource type"},
      {{"--scope", "system/*.cruds bogus"}, "scope[1]"},
      {{"--scope", "patient/Observation.rs"}, "--patient"},  // patient/ scope, no patient
      {{"--scope", "system/*.rs", "--ttl", "3601"}, "--ttl"},
      {{"--scope", "system/*.rs", "--ttl", "0"}, "--ttl"},
      {{"--scope", "system/*.rs", "--patient", "../x"}, "--patient"},
      {{"--scope", ""}, "--scope"},
      {{}, "--scope"},
      {{"--scope", "system/*.rs", "--frobnicate", "1"}, "--frobnicate"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.says);
    const command_output r = server.mint(c.args);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK_MESSAGE(contains(r.err, c.says), r.err);
  }
}

TEST_CASE("auth: --insecure-no-auth serves without tokens on loopback, says so, and is refused elsewhere") {
  hearth_process server({"--insecure-no-auth"});
  CHECK(server.token().empty());
  CHECK(contains(server.startup_output(), "authorization: OFF (--insecure-no-auth)"));
  CHECK_FALSE(contains(server.startup_output(), "bearer tokens required"));  // one mode said, not both
  http_connection c(server.port());
  CHECK(c.request("POST", "/Patient", R"({"resourceType":"Patient","gender":"other"})", json_body).status == 201);
  CHECK(c.request("GET", "/Patient?gender=other").status == 200);
  CHECK(contains(c.request("GET", "/metadata").body, "AUTHORISATION IS OFF"));
  {
    std::ifstream log(server.dir() / "stderr.log");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    CHECK(contains(text, R"("level":"warning","msg":"authorisation is OFF (--insecure-no-auth))"));
    CHECK(contains(text, R"("auth":"off")"));
  }

  const std::filesystem::path data = server.dir() / "other-data";
  for (const char* host : {"0.0.0.0", "::", "192.0.2.10"}) {
    CAPTURE(host);
    const command_output r =
        run_hearth({"serve", "--insecure-no-auth", "--http-host", host, "--http-port", "0", "--data", data.string()},
                   std::chrono::seconds(30));
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--insecure-no-auth is refused"));
    CHECK_FALSE(contains(r.out, "listening"));
  }
}

TEST_CASE("auth: --insecure-no-audit records nothing, says so, and is refused without --insecure-no-auth") {
  {
    hearth_process server({"--insecure-no-auth", "--insecure-no-audit"});
    CHECK(contains(server.startup_output(), "audit: OFF (--insecure-no-audit)"));
    http_connection c(server.port());
    const http_reply created =
        c.request("POST", "/Patient", R"({"resourceType":"Patient","gender":"other"})", json_body);
    CHECK(created.status == 201);
    CHECK(c.request("GET", "/Patient?gender=other").status == 200);
    const std::string metrics = c.request("GET", "/metrics").body;
    CHECK(contains(metrics, "hearth_audit_events_appended_total 0\n"));
    CHECK(contains(metrics, "hearth_audit_events_recorded_in_tx_total 0\n"));
    std::ifstream log(server.dir() / "stderr.log");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    CHECK(contains(text, R"("level":"warning","msg":"the audit trail is OFF (--insecure-no-audit))"));
  }
  {
    // The same requests with the trail on: the metrics above can tell.
    hearth_process server({"--insecure-no-auth"});
    http_connection c(server.port());
    const http_reply created =
        c.request("POST", "/Patient", R"({"resourceType":"Patient","gender":"other"})", json_body);
    CHECK(created.status == 201);
    CHECK(contains(c.request("GET", "/metrics").body, "hearth_audit_events_recorded_in_tx_total 1\n"));
  }
  hearth_process keys;  // a data directory to point at
  const command_output r = run_hearth(
      {"serve", "--insecure-no-audit", "--http-port", "0", "--data", (keys.dir() / "other-data").string()},
      std::chrono::seconds(30));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--insecure-no-audit is refused without --insecure-no-auth"));
  CHECK_FALSE(contains(r.out, "listening"));
}

TEST_CASE("auth: a signing key others may read stops hearth serve, naming the file") {
  hearth_process first;  // makes the key
  const std::filesystem::path key = first.dir() / "data" / "auth" / "signing-key.pem";
  first.terminate();
  CHECK(first.wait_exit(std::chrono::seconds(30)) == 0);
  std::filesystem::permissions(key, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  const command_output r = run_hearth(
      {"serve", "--http-port", "0", "--data", (first.dir() / "data").string()}, std::chrono::seconds(30));
  CHECK(r.status == 1);
  CHECK(contains(r.err, key.string()));
  CHECK_FALSE(contains(r.out, "listening"));
  // `hearth token` refuses it too.
  const command_output t = first.mint({"--scope", "system/*.rs"});
  CHECK(t.status == 1);
  CHECK(t.out.empty());
  CHECK(contains(t.err, key.string()));
}

// --- client registration (RFC 7591, hearth/admin) -----------------------------------

namespace {

/// `hearth serve` again on an existing data directory (hearth_process makes
/// a new one each time), stopped with SIGTERM on destruction.
class served_again {
 public:
  explicit served_again(const std::filesystem::path& data) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    std::vector<std::string> args{HEARTH_BINARY, "serve", "--http-port", "0", "--data", data.string()};
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      const int log = ::open((data.parent_path() / "stderr-again.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (log >= 0) ::dup2(log, STDERR_FILENO);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<std::size_t>(n));
      const auto at = seen.find("http listening on ");
      const auto eol = at == std::string::npos ? std::string::npos : seen.find('\n', at);
      if (eol != std::string::npos) {
        const std::string line = seen.substr(at, eol - at);
        port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      }
    }
    REQUIRE_MESSAGE(port_ != 0, seen);
  }
  ~served_again() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  served_again(const served_again&) = delete;
  served_again& operator=(const served_again&) = delete;

  std::uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// A GET of the authorize endpoint for `client_id` (a valid request but
/// for the user, who is not there): 200 is the login page.
std::string authorize_target(const std::string& base, const std::string& client_id) {
  // code_challenge: base64url(SHA-256) of some verifier; its value does not matter here.
  return "/auth/authorize?response_type=code&client_id=" + client_id +
         "&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcb&scope=launch%2Fpatient%20patient%2F*.rs&state=s1&aud=" +
         base + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
}

}  // namespace

TEST_CASE("auth: an administrator registers a client with a hearth/admin token; it survives a restart") {
  hearth_process first;
  const std::filesystem::path data = first.dir() / "data";
  const std::string admin = minted(first, {"--scope", "hearth/admin", "--client", "ops"});
  const std::vector<std::pair<std::string, std::string>> as_admin{{"Authorization", "Bearer " + admin},
                                                                  {"Content-Type", "application/json"}};
  const std::string registration =
      R"({"client_name":"Bedside app","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1:7777/cb"],)"
      R"("grant_types":["authorization_code"],"scope":"launch/patient patient/*.rs"})";
  std::string id;
  {
    http_connection c(first.port());
    CHECK(contains(c.request("GET", "/.well-known/smart-configuration").body,
                   R"("registration_endpoint":")" + first.base_url() + "/auth/register\""));
    // No token: 401; the FHIR token (no hearth/admin): 403; neither registers.
    const http_reply none = c.request("POST", "/auth/register", registration, {{"Content-Type", "application/json"}});
    CHECK(none.status == 401);
    CHECK(none.header("www-authenticate") == R"(Bearer realm="hearth")");
    const http_reply fhir_only = c.request("POST", "/auth/register", registration,
                                           {{"Authorization", "Bearer " + first.token()},
                                            {"Content-Type", "application/json"}});
    CHECK(fhir_only.status == 403);
    CHECK(contains(fhir_only.header("www-authenticate"), R"(error="insufficient_scope")"));
    // And the admin token is no FHIR token.
    CHECK(c.request("GET", "/Patient", {}, {{"Authorization", "Bearer " + admin}}).status == 403);

    const http_reply r = c.request("POST", "/auth/register", registration, as_admin);
    REQUIRE_MESSAGE(r.status == 201, r.body);
    id = json_field(r.body, "client_id");
    REQUIRE(id.size() == 43);
    CHECK(r.header("location") == first.base_url() + "/auth/register/" + id);
    CHECK(r.header("cache-control") == "no-store");
    // The authorisation endpoint knows it at once.
    CHECK(c.request("GET", authorize_target(first.base_url(), id)).status == 200);
    CHECK(c.request("GET", authorize_target(first.base_url(), "nobody")).status == 400);
  }
  // The trail has the registration (an operation, action C, by client ops)
  // and the refusal.
  CHECK(wait_for_event(first, "subtype=operation&action=C&agent:identifier=ops", "operation", "0"));
  CHECK(wait_for_event(first, "subtype=operation&action=C&agent:identifier=hearth-cli", "operation", "4"));
  CHECK((std::filesystem::status(data / "auth" / "clients.json").permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  // Restart on the same data directory: the client is still there.
  first.terminate();
  REQUIRE(first.wait_exit(std::chrono::seconds(30)) == 0);
  served_again second(data);
  const command_output again =
      run_hearth({"token", "--data", data.string(), "--base-url", second.base_url(), "--scope", "hearth/admin"});
  REQUIRE_MESSAGE(again.status == 0, again.err);
  const std::string admin2 = again.out.substr(0, again.out.find('\n'));
  http_connection c(second.port());
  const http_reply read = c.request("GET", "/auth/register/" + id, {}, {{"Authorization", "Bearer " + admin2}});
  REQUIRE_MESSAGE(read.status == 200, read.body);
  CHECK(json_field(read.body, "client_name") == "Bedside app");
  CHECK(json_field(read.body, "hearth_source") == "registration");
  CHECK(c.request("GET", authorize_target(second.base_url(), id)).status == 200);
  // Deleted, it is gone, here and after the next start.
  CHECK(c.request("DELETE", "/auth/register/" + id, {}, {{"Authorization", "Bearer " + admin2}}).status == 204);
  CHECK(c.request("GET", authorize_target(second.base_url(), id)).status == 400);
  CHECK(c.request("DELETE", "/auth/register/" + id, {}, {{"Authorization", "Bearer " + admin2}}).status == 404);
}

}  // namespace hearth::test
