// Bearer tokens end to end (issue 6): a real `hearth serve`, spoken to over
// sockets, with tokens from `hearth token` and tokens forged here (with the
// server's own key where the attack needs it) to show that each kind of bad
// token is refused with 401 and WWW-Authenticate (RFC 6750 3), that nothing
// of the data gets out with the refusal, and that --insecure-no-auth is
// confined to loopback addresses.
#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <hearth/core/base64.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/server/jwt.hpp>

#include "integration/hearth_process.hpp"

namespace hearth::test {
namespace {

namespace jwt = hearth::server::jwt;
namespace auth = hearth::server::auth;
using fhir::json_value;

const std::vector<std::pair<std::string, std::string>> json_body{{"Content-Type", "application/fhir+json"}};

std::string b64url(std::string_view bytes) {
  std::string s = base64::encode(bytes, true);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

/// The server's signing key, read from its data directory as an attacker
/// who had it would (the file is 0600: only the tests' own user can).
jwt::key server_key(const hearth_process& server) {
  auto k = jwt::key::load_private_pem(server.dir() / "data" / "auth" / "signing-key.pem");
  REQUIRE_MESSAGE(k, k.error().message);
  return *k;
}

/// Claims as Hearth mints them, for `base` (iss and aud), valid now.
json_value claims_for(const std::string& iss, const std::string& aud, std::int64_t exp_from_now = 300) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json_value c = json_value::object();
  c.set("iss", iss);
  c.set("sub", "mallory");
  c.set("aud", aud);
  c.set("client_id", "forger");
  c.set("scope", "system/*.cruds");
  c.set("jti", "forged-" + std::to_string(now));
  c.set("iat", json_value::number(std::to_string(now - 10)));
  c.set("exp", json_value::number(std::to_string(now + exp_from_now)));
  return c;
}

std::string sign_as(const json_value& claims, const jwt::key& k, const std::string& typ) {
  jwt::sign_options o;
  o.typ = typ;
  return jwt::sign(claims, k, o).value();
}

/// The token of a `hearth token` run that must succeed.
std::string minted(const hearth_process& server, std::vector<std::string> args) {
  const command_output r = server.mint(std::move(args));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.err.empty());
  return r.out.substr(0, r.out.find('\n'));
}

/// The id in a 201's Location ([base]/Type/id/_history/1).
std::string created_id(const http_reply& r, const std::string& type) {
  REQUIRE(r.status == 201);
  const std::string loc = r.header("location");
  const auto at = loc.find("/" + type + "/");
  REQUIRE(at != std::string::npos);
  const auto start = at + type.size() + 2;
  return loc.substr(start, loc.find('/', start) - start);
}

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
  std::vector<std::string> hs256;
  {
    std::string pem;
    const std::string priv = key.private_pem().value();
    BIO* in = BIO_new_mem_buf(priv.data(), static_cast<int>(priv.size()));
    EVP_PKEY* pk = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO* out = BIO_new(BIO_s_mem());
    REQUIRE(pk != nullptr);
    REQUIRE(PEM_write_bio_PUBKEY(out, pk) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(out, &data);
    pem.assign(data, static_cast<std::size_t>(len));
    EVP_PKEY_free(pk);
    BIO_free(in);
    BIO_free(out);
    for (const std::string& secret : {fhir::to_json(key.public_jwk()), pem}) {
      const std::string input =
          b64url(R"({"alg":"HS256","typ":"at+jwt","kid":")" + key.kid() + R"("})") + "." + payload;
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      REQUIRE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                   reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len) != nullptr);
      hs256.push_back(input + "." + b64url(std::string(reinterpret_cast<const char*>(mac), mac_len)));
    }
  }
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

}  // namespace hearth::test
