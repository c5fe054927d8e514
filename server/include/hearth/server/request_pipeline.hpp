#pragma once
// The stages every HTTP request passes, in order (DESIGN.md data flow:
// server/http -> server/auth -> server/rest), so that no interaction can skip
// one:
//   1. operational endpoints that carry no patient data and need no
//      authorisation: /healthz, /readyz, /metrics;
//   2. CORS preflight (OPTIONS with Origin), answered from the allow-list;
//   3. authorisation: the access policy decides before anything is read
//      (the SMART policy arrives with its issue; until then `open_access`,
//      which the CapabilityStatement declares);
//   4. the FHIR API itself;
//   5. response headers every answer gets: security headers (nosniff, a
//      strict CSP, no-store: FHIR answers may hold PHI), CORS for allowed
//      origins, HSTS over TLS, X-Request-Id;
//   6. observation: one record per request (metrics and the log line; no
//      PHI: the interaction, the resource type, the status, the time), and
//      the audit stage once AuditEvents exist.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/server/fhir_api.hpp>
#include <hearth/server/http_message.hpp>

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
  bool tls = false;                                ///< adds Strict-Transport-Security
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
  const fhir::definitions& defs_;
  const access_policy& policy_;
  pipeline_options opts_;
};

}  // namespace hearth::server
