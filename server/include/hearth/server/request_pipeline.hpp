#pragma once
// The stages every HTTP request passes, in order (DESIGN.md data flow:
// server/http -> server/auth -> server/rest), so that no interaction can skip
// one:
//   1. operational endpoints that carry no patient data and need no
//      authorisation: /healthz, /readyz, /metrics;
//   2. per-client rate limiting (issue: "per-client rate limiting (429 with
//      Retry-After)"): a client over its rate gets 429 with Retry-After and
//      an OperationOutcome (code "throttled"), before any other work. The
//      stage-1 endpoints are exempt: load balancers and orchestrators probe
//      /healthz and /readyz, and a monitoring system scrapes /metrics, at a
//      fixed low rate, often from the same address as the traffic (a proxy,
//      a node); throttling them would mark a busy server unhealthy and blind
//      its monitoring (where the 429s are counted) exactly under load. They
//      read no data and cost little; they are still bounded by the
//      listener's connection limit. /metadata is limited like any FHIR
//      request;
//   3. /metadata (R4 http.html#capabilities), which needs no authorisation;
//   4. CORS preflight (OPTIONS with Origin), answered from the allow-list;
//   5. authorisation: the access policy decides before anything is read
//      (the SMART policy arrives with its issue; until then `open_access`,
//      which the CapabilityStatement declares);
//   6. the FHIR API itself;
//   7. response headers every answer gets: security headers (nosniff, a
//      strict CSP, no-store: FHIR answers may hold PHI), CORS for allowed
//      origins, HSTS over TLS, X-Request-Id;
//   8. observation: one record per request (metrics and the log line; no
//      PHI: the interaction, the resource type, the status, the time), and
//      the audit stage once AuditEvents exist. Answers of every stage are
//      observed, 429s included.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/rate_limiter.hpp>

namespace hearth::server {

/// Decides whether a request may proceed; nullopt: yes; otherwise the
/// answer to send instead (401, 403 as OperationOutcome).
class access_policy {
 public:
  virtual ~access_policy() = default;
  virtual std::optional<http_response> check(const http_request& req) const = 0;
};

/// Every request may proceed: the server's state until SMART on FHIR
/// authorisation lands (issue 5 says requests are not yet authorised). Named
/// for what it is; `hearth serve` prints that it runs without authorisation.
class open_access final : public access_policy {
 public:
  std::optional<http_response> check(const http_request&) const override { return std::nullopt; }
};

/// What one request was, for metrics and the log line: identifiers only.
struct request_record {
  std::string_view request_id;
  std::string_view method;
  std::string_view interaction;  ///< "read", "search-type", "metadata", ... (classify_request)
  std::string_view resource_type;  ///< a known resource type, or empty
  int status = 0;
  std::chrono::nanoseconds duration{0};
  std::size_t response_bytes = 0;
};

struct pipeline_options {
  /// Exact origins ("https://app.example.org"), or "*" for any.
  std::vector<std::string> cors_allowed_origins;
  /// The server speaks HTTPS: adds Strict-Transport-Security (RFC 6797;
  /// only over TLS, 7.2: a plain-HTTP answer must not carry it).
  bool tls = false;
  /// Stage 2: per-client rate limiting; null: no limit. Shared so that its
  /// owner need not outlive the pipeline.
  std::shared_ptr<rate_limiter> rate_limit;
  /// The key a request is rate limited under; empty function:
  /// rate_limit_key (the remote address). Once SMART authorisation knows
  /// the client, a function returning its client id goes here. Called from
  /// many worker threads at once: must be thread-safe.
  std::function<std::string(const http_request&)> client_key;
  /// The body of GET /metrics (Prometheus text); empty function: 404.
  std::function<std::string()> metrics_text;
  /// Whether the server is ready for traffic (/readyz: 200 or 503).
  std::function<bool()> ready;
  /// Called once per request after its answer is built.
  std::function<void(const request_record&)> observe;
};

/// The interaction http.html names for `method` on `path` (no query),
/// and the resource type it is about when the first segment is one.
struct request_kind {
  std::string interaction;
  std::string resource_type;
};
request_kind classify_request(std::string_view method, std::string_view path, const fhir::definitions& defs);

/// The default rate-limit key of a request: "addr:" and its remote address.
/// The prefix keeps a later kind of key ("client:" and a SMART client id)
/// from ever colliding with an address. Behind a reverse proxy every client
/// has the proxy's address and so shares one bucket: there, a key from the
/// client id (or a trusted forwarded address) is needed.
std::string rate_limit_key(const http_request& req);

class request_pipeline {
 public:
  request_pipeline(const fhir_api& api, const fhir::definitions& defs, const access_policy& policy,
                   pipeline_options opts);

  /// Runs the stages for `req`. Thread-safe; never throws.
  http_response handle(http_request& req) const;

 private:
  http_response dispatch(http_request& req, const request_kind& kind) const;
  void finish(const http_request& req, http_response& res) const;
  bool origin_allowed(std::string_view origin) const;

  const fhir_api& api_;
  std::string base_path_;  ///< base_path_of(api_.options().base_url)
  const fhir::definitions& defs_;
  const access_policy& policy_;
  pipeline_options opts_;
};

}  // namespace hearth::server
