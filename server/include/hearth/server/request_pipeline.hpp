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
//      request. The key is the client ("client:" + client_id) when the
//      request's bearer token is one the verifier has already accepted and
//      cached (a lookup, no signature check), else the remote address: a
//      token seen for the first time is throttled by address before its
//      signature costs anything, and no token is verified twice;
//   3. CORS preflight (OPTIONS with Origin), answered from the allow-list
//      (before the endpoints below, so that a browser app may call the
//      token endpoint cross-origin);
//   4. what needs no access token: /metadata (R4 http.html#capabilities),
//      and the authorisation server's own endpoints,
//      [base]/.well-known/smart-configuration and [base]/auth/... (SMART App
//      Launch 2.x conformance.html, app-launch.html), answered by
//      pipeline_options::auth_endpoints;
//   5. authentication: the bearer token (RFC 6750) is verified and its
//      principal put on the request, or the request is answered 401 with
//      WWW-Authenticate. What the principal may do is decided by fhir_api
//      (api_options::enforce_authorization) before anything is read;
//   6. the FHIR API itself;
//   7. response headers every answer gets: security headers (nosniff, a
//      strict CSP, no-store: FHIR answers may hold PHI), CORS for allowed
//      origins, HSTS over TLS, X-Request-Id;
//   8. observation: one record per request (metrics and the log line; no
//      PHI: the interaction, the resource type, the status, the time, the
//      client id and token id). Answers of every stage are observed, 429s
//      and 401s included. Then the audit stage (SECURITY.md "Audit": one
//      AuditEvent per REST interaction, per denial): every answer to a FHIR
//      interaction (the R4 restful interactions audit_interaction_of knows),
//      401s and 403s included, becomes an audit_record given to
//      pipeline_options::audit, unless its write already committed its event
//      in its own transaction (http_request::audited_in_tx; batch and
//      transaction Bundles are always recorded, their writes also have one
//      event each). Not audited, by decision: /healthz, /readyz, /metrics
//      (no data); /metadata and the authorisation server's endpoints (no
//      patient data; the authorisation server audits its own decisions
//      through auth_server_options::audit); CORS preflights; 429s (a
//      throttled client must not be able to fill the audit queue, which
//      would make the server refuse everyone: they are counted in /metrics
//      and logged); requests to paths that are no FHIR interaction
//      ("unknown": 404/405 without data). When `audit` refuses a record the
//      answer becomes 503 (fail closed: no answer without its event). Before
//      any audited work (and before the authorisation endpoints), a trail
//      that is not healthy (pipeline_options::audit_healthy) makes the
//      answer 503 with Retry-After and a transient OperationOutcome.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/server/access_token.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>
#include <hearth/server/rate_limiter.hpp>

namespace hearth::server {

/// What one request was, for metrics and the log line: identifiers only.
struct request_record {
  std::string_view request_id;
  std::string_view method;
  std::string_view interaction;  ///< "read", "search-type", "metadata", ... (classify_request)
  std::string_view resource_type;  ///< a known resource type, or empty
  int status = 0;
  std::chrono::nanoseconds duration{0};
  std::size_t response_bytes = 0;
  /// The verified token's client_id and jti (SECURITY.md: a token is logged
  /// only as its jti); empty without a principal.
  std::string_view client_id;
  std::string_view token_id;
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
  /// "client:" + the client id when stage 2 found the request's principal
  /// in the verifier's cache, else rate_limit_key (the remote address).
  /// Called with req.principal already set in that case. Called from many
  /// worker threads at once: must be thread-safe.
  std::function<std::string(const http_request&)> client_key;
  /// Stage 5: verifies bearer tokens (RFC 6750 2.1, RFC 9068). Null: see
  /// insecure_no_auth. Shared so that its owner need not outlive the pipeline.
  std::shared_ptr<const auth::token_verifier> verifier;
  /// `hearth serve --insecure-no-auth`: without a verifier, requests go on
  /// with a null principal. Deny by default: a pipeline with neither a
  /// verifier nor this is a configuration error (the constructor throws);
  /// with both, this is ignored (the verifier is used).
  bool insecure_no_auth = false;
  /// Stage 4: the SMART authorisation server, for GET
  /// [base]/.well-known/smart-configuration and every [base]/auth/... path
  /// (after rate limiting and CORS preflight, without an access token).
  /// The request is given as received (raw, percent-encoded target): it must
  /// match exact paths itself. nullopt, or no function: 404. Called from
  /// many worker threads at once: must be thread-safe.
  std::function<std::optional<http_response>(http_request&)> auth_endpoints;
  /// The body of GET /metrics (Prometheus text); empty function: 404.
  std::function<std::string()> metrics_text;
  /// Whether the server is ready for traffic (/readyz: 200 or 503).
  std::function<bool()> ready;
  /// Called once per request after its answer is built.
  std::function<void(const request_record&)> observe;
  /// Stage 8, audit: records one audited request (audit_trail::record_async).
  /// False: the event will not be recorded, and the answer becomes 503.
  /// Empty function: nothing is audited (tests, tools). Called from many
  /// worker threads at once: must be thread-safe and must not block.
  std::function<bool(audit_record)> audit;
  /// Whether the audit trail can take events (audit_trail::healthy); false:
  /// audited requests and the authorisation endpoints are answered 503 before
  /// any work. Empty function: always healthy.
  std::function<bool()> audit_healthy;
};


/// The interaction http.html names for `method` on `path` (no query),
/// and the resource type it is about when the first segment is one.
struct request_kind {
  std::string interaction;
  std::string resource_type;
};
request_kind classify_request(std::string_view method, std::string_view path, const fhir::definitions& defs);

/// The audit_record of one answered request (stage 8), without its status
/// or principal: interaction (nullopt when `kind` is no audited
/// interaction), request id, remote address, the resource type and, for the
/// instance-level interactions (read, vread, update, patch, delete,
/// history-instance), the id (and vread's version) from the path, and the
/// raw query (the target's, plus the form body of a POST _search; left out
/// when it carries an access_token parameter: tokens never reach the trail).
/// `path` has the base path removed.
std::optional<audit_record> audit_record_of(const http_request& req, std::string_view path, const request_kind& kind);

/// The address rate-limit key of a request: "addr:" and its remote address.
/// The prefix keeps a later kind of key ("client:" and a SMART client id)
/// from ever colliding with an address. Behind a reverse proxy every client
/// has the proxy's address and so shares one bucket: there, a key from the
/// client id (or a trusted forwarded address) is needed.
std::string rate_limit_key(const http_request& req);

class request_pipeline {
 public:
  /// Throws std::invalid_argument when opts has neither a verifier nor
  /// insecure_no_auth (start-up configuration; deny by default).
  request_pipeline(const fhir_api& api, const fhir::definitions& defs, pipeline_options opts);

  /// Runs the stages for `req`. Thread-safe; never throws. req.principal is
  /// set by stage 5, or by stage 2 from the verifier's cache; any value it
  /// had on entry is cleared first, and stage 4 runs without one.
  http_response handle(http_request& req) const;

 private:
  /// Stages 1-6. `audited` is set when the answer comes from a stage whose
  /// answers stage 8 records (authentication and the FHIR API).
  http_response dispatch(http_request& req, const request_kind& kind, bool& audited) const;
  /// Stage 8, audit: records the answer; nullopt, or the 503 that replaces
  /// it when the trail refused the record.
  std::optional<http_response> audit(const http_request& req, std::string_view path, const request_kind& kind,
                                     const http_response& res) const;
  /// Stage 5; nullopt: go on.
  std::optional<http_response> authenticate(http_request& req) const;
  void finish(const http_request& req, http_response& res) const;
  bool origin_allowed(std::string_view origin) const;

  const fhir_api& api_;
  std::string base_path_;  ///< base_path_of(api_.options().base_url)
  const fhir::definitions& defs_;
  pipeline_options opts_;
};

}  // namespace hearth::server
