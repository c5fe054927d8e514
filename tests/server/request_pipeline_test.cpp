#include <hearth/server/request_pipeline.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <hearth/server/access_token.hpp>

#include "server/server_test_support.hpp"

namespace hearth::server {
namespace {

using namespace std::chrono_literals;
using test::api_case;
using test::registry;

/// A fhir_api at the root of its base URL, a pipeline in front of it with
/// the given options, and every observed record.
struct pipeline_case {
  /// Without a verifier in `o`: --insecure-no-auth (these cases are about
  /// other stages).
  explicit pipeline_case(pipeline_options o = {}) : api(root_options()) {
    if (!o.verifier) o.insecure_no_auth = true;
    o.observe = [this](const request_record& r) {
      statuses.push_back(r.status);
      interactions.emplace_back(r.interaction);
      clients.emplace_back(r.client_id);
      token_ids.emplace_back(r.token_id);
    };
    pipe = std::make_unique<request_pipeline>(api.api, registry(), std::move(o));
  }

  static api_options root_options() {
    api_options o;
    o.base_url = "http://test.example";
    return o;
  }

  http_response get(std::string target, std::string remote = "192.0.2.1",
                    std::vector<http_header> headers = {}) const {
    http_request req;
    req.method = "GET";
    req.target = std::move(target);
    req.headers = std::move(headers);
    req.remote_address = std::move(remote);
    req.request_id = "req-7";
    return pipe->handle(req);
  }

  api_case api;
  std::vector<int> statuses;
  std::vector<std::string> interactions;
  std::vector<std::string> clients;    ///< request_record::client_id
  std::vector<std::string> token_ids;  ///< request_record::token_id
  std::unique_ptr<request_pipeline> pipe;
};

/// A limiter on a clock the case moves by hand.
struct limited {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  std::shared_ptr<rate_limiter> limiter;

  limited(std::uint32_t per_second, std::uint32_t burst) {
    rate_limit_options o;
    o.per_second = per_second;
    o.burst = burst;
    limiter = std::make_shared<rate_limiter>(o, [this] { return now; });
  }
};

TEST_CASE("pipeline: a client over its rate gets 429, Retry-After and an OperationOutcome \"throttled\"") {
  limited l(1, 2);
  pipeline_options o;
  o.rate_limit = l.limiter;
  pipeline_case p(std::move(o));

  CHECK(p.get("/Patient/nope").status == 404);  // through to the API
  CHECK(p.get("/Patient/nope").status == 404);
  const http_response limited_answer = p.get("/Patient/nope");
  CHECK(limited_answer.status == 429);
  CHECK(limited_answer.header("Retry-After") == "1");
  CHECK(limited_answer.header("Content-Type").value_or("").starts_with("application/fhir+json"));
  CHECK(test::issue_code(limited_answer) == "throttled");
  // It is still an answer of the pipeline: the headers every answer gets.
  CHECK(limited_answer.header("X-Request-Id") == "req-7");
  CHECK(limited_answer.header("Cache-Control") == "no-store");
  // /metadata is a FHIR request like any other: limited too.
  CHECK(p.get("/metadata").status == 429);
  // Observed like any answer (metrics count it by status).
  REQUIRE(p.statuses.size() == 4);
  CHECK(p.statuses[2] == 429);
  CHECK(p.interactions[2] == "read");

  SUBCASE("health, readiness and metrics are exempt") {
    CHECK(p.get("/healthz").status == 200);
    CHECK(p.get("/readyz").status == 200);
    CHECK(p.get("/metrics").status == 404);  // no metrics_text here: not a 429
    for (int i = 0; i < 20; ++i) CHECK(p.get("/healthz").status == 200);
  }
  SUBCASE("another client has its own bucket") {
    CHECK(p.get("/Patient/nope", "192.0.2.99").status == 404);
  }
  SUBCASE("after the Retry-After delay the client passes again") {
    l.now += 1s;
    CHECK(p.get("/Patient/nope").status == 404);
    CHECK(p.get("/Patient/nope").status == 429);
  }
}

TEST_CASE("pipeline: the rate-limit key is the remote address unless a key function is given") {
  http_request req;
  req.remote_address = "2001:db8::7";
  CHECK(rate_limit_key(req) == "addr:2001:db8::7");

  limited l(1, 1);
  pipeline_options o;
  o.rate_limit = l.limiter;
  // As SMART will: the key from the request (here a header), not the address.
  o.client_key = [](const http_request& r) { return "client:" + std::string(r.header("X-Client").value_or("")); };
  pipeline_case p(std::move(o));
  CHECK(p.get("/Patient/x", "192.0.2.1", {{"X-Client", "a"}}).status == 404);
  CHECK(p.get("/Patient/x", "192.0.2.2", {{"X-Client", "a"}}).status == 429);  // same client, other address
  CHECK(p.get("/Patient/x", "192.0.2.1", {{"X-Client", "b"}}).status == 404);  // same address, other client
}

TEST_CASE("pipeline: no limiter, no limit") {
  pipeline_case p;
  for (int i = 0; i < 50; ++i) CHECK(p.get("/Patient/nope").status == 404);
}

TEST_CASE("pipeline: HSTS over TLS only") {
  pipeline_case plain;
  CHECK_FALSE(plain.get("/healthz").header("Strict-Transport-Security"));
  pipeline_options o;
  o.tls = true;
  pipeline_case tls(std::move(o));
  CHECK(tls.get("/healthz").header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains");
  CHECK(tls.get("/Patient/nope").header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains");
}

TEST_CASE("pipeline: under a base URL with a path, interactions are named from what follows it") {
  api_case api;  // base http://test.example/fhir
  std::vector<std::string> seen;
  pipeline_options o;
  o.insecure_no_auth = true;
  o.observe = [&seen](const request_record& r) { seen.emplace_back(r.interaction); };
  const request_pipeline pipe(api.api, registry(), std::move(o));
  for (const char* target : {"/fhir/metadata", "/fhir/Patient/x", "/fhir/Patient?name=a", "/fhir", "/healthz",
                             "/fhir/.well-known/smart-configuration", "/fhir/auth/token"}) {
    http_request req;
    req.method = "GET";
    req.target = target;
    req.remote_address = "192.0.2.1";
    req.request_id = "req-8";
    (void)pipe.handle(req);
  }
  CHECK(seen == std::vector<std::string>{"capabilities", "read", "search-type", "unknown", "healthz",
                                         "smart-configuration", "auth"});
  CHECK(base_path_of("https://h.example:8443/fhir/r4/") == "/fhir/r4");
  CHECK(base_path_of("http://h.example").empty());
}


// --- stage 5: bearer tokens (RFC 6750) ---------------------------------------

/// A verifier for the pipeline_case's base URL ("http://test.example"), its
/// key, and tokens minted with it.
struct token_setup {
  jwt::key key = jwt::key::generate_es256().value();
  std::shared_ptr<auth::token_verifier> verifier;
  std::set<std::string> revoked;

  token_setup() {
    auth::verifier_options o;
    o.base_url = "http://test.example";
    o.own_keys.add(key);
    o.is_resource_type = [](std::string_view t) { return registry().is_resource_type(t); };
    o.is_revoked = [this](std::string_view jti) { return revoked.count(std::string(jti)) != 0; };
    verifier = std::make_shared<auth::token_verifier>(std::move(o));
  }

  std::string mint(std::string client = "app-1", std::string base_url = "http://test.example",
                   std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const {
    auth::token_request r;
    r.client_id = std::move(client);
    r.scope = "system/*.cruds";
    r.lifetime = 300s;
    return auth::mint_access_token(key, base_url, r, now).value();
  }

  pipeline_options options() const {
    pipeline_options o;
    o.verifier = verifier;
    return o;
  }
};

std::vector<http_header> bearer(const std::string& token, std::string scheme = "Bearer") {
  return {{"Authorization", scheme + " " + token}};
}

TEST_CASE("pipeline: without a token, 401 with a bare Bearer challenge and an OperationOutcome \"login\"") {
  token_setup t;
  pipeline_case p(t.options());
  const http_response r = p.get("/Patient/nope");
  CHECK(r.status == 401);
  // RFC 6750 3.1: no error attribute when the request carried no credentials.
  CHECK(r.header("WWW-Authenticate") == R"(Bearer realm="hearth")");
  CHECK(test::issue_code(r) == "login");
  CHECK(r.header("X-Request-Id") == "req-7");
  CHECK(r.header("Cache-Control") == "no-store");
  // Another scheme is not a bearer token: the same answer.
  CHECK(p.get("/Patient/nope", "192.0.2.1", {{"Authorization", "Basic dXNlcjpwYXNz"}}).header("WWW-Authenticate") ==
        R"(Bearer realm="hearth")");
  REQUIRE(p.statuses.size() == 2);
  CHECK(p.statuses[0] == 401);
  CHECK(p.interactions[0] == "read");
  CHECK(p.clients[0].empty());
}

TEST_CASE("pipeline: a valid token passes with its principal; the scheme is case-insensitive") {
  token_setup t;
  pipeline_case p(t.options());
  const std::string token = t.mint();
  CHECK(p.get("/Patient/nope", "192.0.2.1", bearer(token)).status == 404);  // through to the API
  CHECK(p.get("/Patient/nope", "192.0.2.1", bearer(token, "bearer")).status == 404);
  CHECK(p.get("/Patient/nope", "192.0.2.1", bearer(token, "BEARER")).status == 404);
  REQUIRE(p.clients.size() == 3);
  CHECK(p.clients[0] == "app-1");
  const std::string jti = (*t.verifier->verify(token))->jti;
  CHECK(p.token_ids[0] == jti);
  CHECK(p.token_ids[2] == jti);

  // The Authorization header goes no further than the pipeline.
  http_request req;
  req.method = "GET";
  req.target = "/Patient/nope";
  req.headers = bearer(token);
  req.remote_address = "192.0.2.1";
  req.request_id = "req-9";
  CHECK(p.pipe->handle(req).status == 404);
  CHECK_FALSE(req.header("Authorization"));
  CHECK(req.principal);
  CHECK(req.principal->client_id == "app-1");

  // A principal put on the request by the caller is not trusted.
  http_request forged;
  forged.method = "GET";
  forged.target = "/Patient/nope";
  forged.principal = req.principal;
  CHECK(p.pipe->handle(forged).status == 401);
}

TEST_CASE("pipeline: a token that does not verify gets 401 invalid_token with a fixed description") {
  token_setup t;
  pipeline_case p(t.options());
  struct refused {
    std::string token;
    std::string description;
  };
  token_setup other;  // another server's key
  const auto now = std::chrono::system_clock::now();
  const std::vector<refused> cases = {
      {"abc.def.ghi", "the access token is malformed or lacks a required claim"},
      {t.mint("app-1", "http://other.example"), "the access token was not issued by a trusted issuer"},
      {other.mint(), "the access token is not signed by a key this server trusts"},
      {t.mint("app-1", "http://test.example", now - 2h), "the access token has expired"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.description);
    const http_response r = p.get("/Patient/nope", "192.0.2.1", bearer(c.token));
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") ==
          R"(Bearer realm="hearth", error="invalid_token", error_description=")" + c.description + "\"");
    // Nothing of the token is echoed.
    CHECK(r.body.find(c.token.substr(0, 20)) == std::string::npos);
    CHECK(r.body.find(c.description) != std::string::npos);
  }
  CHECK(test::issue_code(p.get("/Patient/nope", "192.0.2.1", bearer(cases[3].token))) == "expired");

  // Revoked, and "Bearer" with no token or one b64token does not allow.
  const std::string token = t.mint();
  CHECK(p.get("/Patient/nope", "192.0.2.1", bearer(token)).status == 404);
  t.revoked.insert((*t.verifier->verify(token))->jti);
  CHECK(p.get("/Patient/nope", "192.0.2.1", bearer(token)).header("WWW-Authenticate").value_or("").find(
            "has been revoked") != std::string_view::npos);
  for (const char* bad : {"Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearer =abc"}) {
    CAPTURE(bad);
    const http_response r = p.get("/Patient/nope", "192.0.2.1", {{"Authorization", bad}});
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") ==
          R"(Bearer realm="hearth", error="invalid_token", error_description="the access token is malformed")");
  }
}

TEST_CASE("pipeline: two Authorization headers are 400 invalid_request; a token in the URL or form is refused") {
  token_setup t;
  pipeline_case p(t.options());
  const std::string token = t.mint();
  const http_response two =
      p.get("/Patient/nope", "192.0.2.1", {{"Authorization", "Bearer " + token}, {"authorization", "Bearer x"}});
  CHECK(two.status == 400);
  CHECK(two.header("WWW-Authenticate").value_or("").find(R"(error="invalid_request")") != std::string_view::npos);

  // RFC 6750 2.3 is not offered: even with a valid header beside it.
  for (const std::string& target : std::vector<std::string>{"/Patient?access_token=" + token,
                                                            "/Patient?name=a&access%5Ftoken=x", "/Patient?access_token"}) {
    CAPTURE(target);
    const http_response r = p.get(target, "192.0.2.1", bearer(token));
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate").value_or("").find(R"(error="invalid_request")") != std::string_view::npos);
  }
  CHECK(p.get("/Patient?my_access_token=x", "192.0.2.1", bearer(token)).status == 200);

  // Nor 2.2 (a form body), which a POST _search would otherwise take.
  http_request form;
  form.method = "POST";
  form.target = "/Patient/_search";
  form.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", "Bearer " + token}};
  form.body = "name=a&access_token=" + token;
  form.remote_address = "192.0.2.1";
  CHECK(p.pipe->handle(form).status == 401);

  // Refused in insecure mode too: the URL has already leaked it either way.
  pipeline_case open;
  CHECK(open.get("/Patient?access_token=x").status == 401);
}

TEST_CASE("pipeline: /metadata, the SMART configuration and /auth/... need no token") {
  token_setup t;
  std::vector<std::string> seen;
  pipeline_options o = t.options();
  o.auth_endpoints = [&seen](http_request& req) -> std::optional<http_response> {
    seen.push_back(req.target);
    if (req.target != "/auth/token" && req.target != "/.well-known/smart-configuration") return std::nullopt;
    http_response r;
    r.status = 200;
    r.body = "{}";
    return r;
  };
  pipeline_case p(std::move(o));
  CHECK(p.get("/healthz").status == 200);
  CHECK(p.get("/metadata").status != 401);
  CHECK(p.get("/.well-known/smart-configuration").status == 200);
  CHECK(p.get("/auth/token").status == 200);
  CHECK(p.get("/auth/nothing-here").status == 404);
  CHECK(seen == std::vector<std::string>{"/.well-known/smart-configuration", "/auth/token", "/auth/nothing-here"});
  // Other .well-known paths are not the authorisation server's.
  CHECK(p.get("/.well-known/other").status == 401);
  // The authorisation server's endpoints see no principal, token or not.
  http_request req;
  req.method = "GET";
  req.target = "/auth/token";
  req.headers = bearer(t.mint());
  CHECK(p.pipe->handle(req).status == 200);
  CHECK_FALSE(req.principal);

  // With no auth_endpoints: 404, still without a token.
  pipeline_case bare(t.options());
  CHECK(bare.get("/.well-known/smart-configuration").status == 404);
  CHECK(bare.get("/auth/authorize").status == 404);

  // A browser app's preflight for the token endpoint is answered by CORS.
  pipeline_options cors = t.options();
  cors.cors_allowed_origins = {"https://app.example"};
  pipeline_case c(std::move(cors));
  http_request pre;
  pre.method = "OPTIONS";
  pre.target = "/auth/token";
  pre.headers = {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}};
  CHECK(c.pipe->handle(pre).status == 204);
}

TEST_CASE("pipeline: with --insecure-no-auth requests go on without a principal; without it or a verifier, no pipeline") {
  pipeline_case p;  // insecure_no_auth
  CHECK(p.get("/Patient/nope").status == 404);
  token_setup t;
  CHECK(p.get("/Patient/nope", "192.0.2.1", bearer(t.mint())).status == 404);
  REQUIRE(p.clients.size() == 2);
  CHECK(p.clients[1].empty());  // no verifier: the token means nothing

  api_case api;
  CHECK_THROWS_AS(request_pipeline(api.api, registry(), pipeline_options{}), std::invalid_argument);
}

TEST_CASE("pipeline: a token already verified is rate limited as its client; a new one by address") {
  token_setup t;
  limited l(1, 1);
  pipeline_options o = t.options();
  o.rate_limit = l.limiter;
  pipeline_case p(std::move(o));
  const std::string token = t.mint("app-1");
  // First sight of the token: limited by address (addr:192.0.2.1), then verified.
  CHECK(p.get("/Patient/x", "192.0.2.1", bearer(token)).status == 404);
  // Now cached: limited as client:app-1, a bucket of its own.
  CHECK(p.get("/Patient/x", "192.0.2.1", bearer(token)).status == 404);
  // The same client from another address: its bucket is empty.
  CHECK(p.get("/Patient/x", "192.0.2.2", bearer(token)).status == 429);
  // The address's bucket was spent by the first request.
  CHECK(p.get("/Patient/x", "192.0.2.1").status == 429);
  // Another client, first sight, from a fresh address.
  CHECK(p.get("/Patient/x", "192.0.2.3", bearer(t.mint("app-2"))).status == 404);
}

TEST_CASE("pipeline: stage 8 audits FHIR answers, not operational ones, and fails closed") {
  std::vector<audit_record> recorded;
  bool accept = true;
  bool healthy = true;
  pipeline_options o;
  o.audit = [&](audit_record r) {
    recorded.push_back(std::move(r));
    return accept;
  };
  o.audit_healthy = [&] { return healthy; };
  pipeline_case p(std::move(o));

  CHECK(p.get("/Patient/nope-1?_format=json").status == 404);
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].interaction == audit_interaction::read);
  CHECK(recorded[0].status == 404);
  CHECK(recorded[0].resource_type == "Patient");
  CHECK(recorded[0].resource_id == "nope-1");
  CHECK(recorded[0].query == "_format=json");
  CHECK(recorded[0].request_id == "req-7");
  CHECK(recorded[0].remote_address == "192.0.2.1");

  // Not audited: health, readiness, metrics, the CapabilityStatement.
  p.get("/healthz");
  p.get("/readyz");
  p.get("/metadata");
  CHECK(recorded.size() == 1);

  // A token in the query never reaches the trail (the answer is 401).
  CHECK(p.get("/Patient?access_token=secret").status == 401);
  REQUIRE(recorded.size() == 2);
  CHECK(recorded[1].query.empty());

  // The trail refuses the event: the answer is 503, not the data.
  accept = false;
  const http_response refused = p.get("/Patient?name=x");
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After").has_value());
  CHECK(refused.body.find("transient") != std::string::npos);

  // An unhealthy trail: 503 before any work, and /readyz unaffected here
  // (serve wires ready to healthy).
  accept = true;
  healthy = false;
  const std::size_t before = recorded.size();
  CHECK(p.get("/Patient/x").status == 503);
  CHECK(recorded.size() == before);
  // /metadata carries no data and is not gated (404 here: no statement configured).
  CHECK(p.get("/metadata").status != 503);
}

TEST_CASE("pipeline: a Content-Security-Policy the answer sets is kept") {
  pipeline_options o;
  o.auth_endpoints = [](http_request&) -> std::optional<http_response> {
    http_response r;
    r.set_header("Content-Security-Policy", "default-src 'none'; form-action 'self'");
    return r;
  };
  pipeline_case p(std::move(o));
  CHECK(p.get("/auth/authorize").header("Content-Security-Policy") == "default-src 'none'; form-action 'self'");
  CHECK(p.get("/metadata").header("Content-Security-Policy") == "default-src 'none'; frame-ancestors 'none'");
}

}  // namespace
}  // namespace hearth::server
