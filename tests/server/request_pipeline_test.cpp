#include <hearth/server/request_pipeline.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/server_test_support.hpp"

namespace hearth::server {
namespace {

using namespace std::chrono_literals;
using test::api_case;
using test::registry;

/// A fhir_api at the root of its base URL, a pipeline in front of it with
/// the given options, and every observed record.
struct pipeline_case {
  explicit pipeline_case(pipeline_options o = {}) : api(root_options()) {
    o.observe = [this](const request_record& r) {
      statuses.push_back(r.status);
      interactions.emplace_back(r.interaction);
    };
    pipe = std::make_unique<request_pipeline>(api.api, registry(), policy, std::move(o));
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
  open_access policy;
  std::vector<int> statuses;
  std::vector<std::string> interactions;
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
  open_access policy;
  std::vector<std::string> seen;
  pipeline_options o;
  o.observe = [&seen](const request_record& r) { seen.emplace_back(r.interaction); };
  const request_pipeline pipe(api.api, registry(), policy, std::move(o));
  for (const char* target : {"/fhir/metadata", "/fhir/Patient/x", "/fhir/Patient?name=a", "/fhir", "/healthz"}) {
    http_request req;
    req.method = "GET";
    req.target = target;
    req.remote_address = "192.0.2.1";
    req.request_id = "req-8";
    (void)pipe.handle(req);
  }
  CHECK(seen == std::vector<std::string>{"capabilities", "read", "search-type", "unknown", "healthz"});
  CHECK(base_path_of("https://h.example:8443/fhir/r4/") == "/fhir/r4");
  CHECK(base_path_of("http://h.example").empty());
}

}  // namespace
}  // namespace hearth::server
