#include <hearth/server/request_pipeline.hpp>

#include <algorithm>
#include <exception>
#include <string>

#include <hearth/server/metrics.hpp>

#include "rest_outcome.hpp"

namespace hearth::server {
namespace {

/// Splits "/a/b/c" into its segments (no decoding: classification only looks
/// at literal segments and type names, which need none).
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

http_response text_response(int status, std::string content_type, std::string body) {
  http_response r;
  r.status = status;
  r.set_header("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

/// An OperationOutcome in JSON, as fhir_api writes its own.
http_response outcome(int status, const char* code, const char* diagnostics, const fhir::definitions& defs) {
  return rest::error_response(status, code, diagnostics, rest::response_format{}, defs);
}

}  // namespace

request_kind classify_request(std::string_view method, std::string_view path, const fhir::definitions& defs) {
  const auto seg = segments(path);
  request_kind k;
  const bool get = method == "GET" || method == "HEAD";
  if (seg.empty()) {
    k.interaction = method == "POST" ? "batch-transaction" : "unknown";
    return k;
  }
  if (seg[0] == "metadata") {
    k.interaction = "capabilities";
    return k;
  }
  if (seg[0] == "_history") {
    k.interaction = "history-system";
    return k;
  }
  if (seg[0] == "healthz" || seg[0] == "readyz" || seg[0] == "metrics") {
    k.interaction = std::string(seg[0]);
    return k;
  }
  if (seg[0].starts_with('$')) {
    k.interaction = "operation";
    return k;
  }
  if (!defs.is_resource_type(seg[0])) {
    k.interaction = "unknown";
    return k;
  }
  k.resource_type = std::string(seg[0]);
  const std::size_t n = seg.size();
  if (n == 1) {
    k.interaction = get ? "search-type" : method == "POST" ? "create" : method == "PUT" ? "conditional-update"
                    : method == "DELETE"                   ? "conditional-delete"
                    : method == "PATCH"                    ? "conditional-patch"
                                                           : "unknown";
  } else if (seg[1] == "_search") {
    k.interaction = "search-type";
  } else if (seg[1] == "_history") {
    k.interaction = "history-type";
  } else if (seg[1].starts_with('$') || (n >= 3 && seg[2].starts_with('$'))) {
    k.interaction = "operation";
  } else if (n == 2) {
    k.interaction = get ? "read" : method == "PUT" ? "update" : method == "DELETE" ? "delete"
                    : method == "PATCH"                       ? "patch"
                                                              : "unknown";
  } else if (seg[2] == "_history") {
    k.interaction = n == 3 ? "history-instance" : "vread";
  } else {
    k.interaction = "search-compartment";
  }
  return k;
}

std::string rate_limit_key(const http_request& req) { return "addr:" + req.remote_address; }

request_pipeline::request_pipeline(const fhir_api& api, const fhir::definitions& defs, const access_policy& policy,
                                   pipeline_options opts)
    : api_(api), base_path_(base_path_of(api.options().base_url)), defs_(defs), policy_(policy),
      opts_(std::move(opts)) {}

http_response request_pipeline::handle(http_request& req) const {
  const auto started = std::chrono::steady_clock::now();
  const std::string_view target = req.target;
  const auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  // Under a base URL with a path ("https://h/fhir"), FHIR paths start with
  // it; the interaction is named from what follows (health, readiness and
  // metrics stay at the root).
  if (!base_path_.empty() && path.starts_with(base_path_) &&
      (path.size() == base_path_.size() || path[base_path_.size()] == '/')) {
    path.remove_prefix(base_path_.size());
  }
  const request_kind kind = classify_request(req.method, path, defs_);
  http_response res;
  try {
    res = dispatch(req, kind);
  } catch (const std::exception&) {
    // fhir_api never throws; this is the last line (a bad_alloc, a bug).
    res = outcome(500, "exception", "internal error", defs_);
  }
  finish(req, res);
  if (opts_.observe) {
    request_record rec;
    rec.request_id = req.request_id;
    rec.method = req.method;
    rec.interaction = kind.interaction;
    rec.resource_type = kind.resource_type;
    rec.status = res.status;
    rec.duration = std::chrono::steady_clock::now() - started;
    rec.response_bytes = res.body.size();
    opts_.observe(rec);
  }
  return res;
}

http_response request_pipeline::dispatch(http_request& req, const request_kind& kind) const {
  // 1. No patient data, no authorisation, no rate limit (request_pipeline.hpp says why).
  if (kind.interaction == "healthz") return text_response(200, "text/plain; charset=utf-8", "ok\n");
  if (kind.interaction == "readyz") {
    const bool ready = !opts_.ready || opts_.ready();
    return text_response(ready ? 200 : 503, "text/plain; charset=utf-8", ready ? "ready\n" : "not ready\n");
  }
  if (kind.interaction == "metrics") {
    if (!opts_.metrics_text) return outcome(404, "not-found", "no metrics here", defs_);
    return text_response(200, std::string(prometheus_content_type), opts_.metrics_text());
  }

  // 2. Per-client rate limiting, before any other work (the exemptions
  //    above are explained in the header).
  if (opts_.rate_limit) {
    const rate_decision d =
        opts_.rate_limit->acquire(opts_.client_key ? opts_.client_key(req) : rate_limit_key(req));
    if (!d.allowed) {
      // RFC 6585 4: 429 Too Many Requests, with Retry-After (RFC 9110
      // 10.2.3, delay-seconds); "throttled" is the R4 IssueType for it.
      http_response r = outcome(429, "throttled", "too many requests from this client: retry after the delay given",
                                defs_);
      r.set_header("Retry-After", std::to_string(d.retry_after.count()));
      return r;
    }
  }

  // 3. The CapabilityStatement: no authorisation (R4 http.html#capabilities).
  if (kind.interaction == "capabilities") return api_.handle(req);

  // 4. CORS preflight: the allow-list decides; no FHIR work.
  const auto origin = req.header("Origin");
  if (req.method == "OPTIONS" && origin && req.header("Access-Control-Request-Method")) {
    const bool allowed = origin_allowed(*origin);
    http_response r;
    r.status = allowed ? 204 : 403;
    if (allowed) {
      r.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
      r.set_header("Access-Control-Allow-Headers",
                   "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, "
                   "If-Modified-Since, Prefer, X-Request-Id");
      r.set_header("Access-Control-Max-Age", "600");
    }
    return r;
  }

  // 5. Authorisation before anything is read.
  if (auto denied = policy_.check(req)) return std::move(*denied);

  // 6. FHIR.
  return api_.handle(req);
}

bool request_pipeline::origin_allowed(std::string_view origin) const {
  return std::any_of(opts_.cors_allowed_origins.begin(), opts_.cors_allowed_origins.end(),
                     [origin](const std::string& o) { return o == "*" || o == origin; });
}

void request_pipeline::finish(const http_request& req, http_response& res) const {
  res.set_header("X-Request-Id", req.request_id);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  res.set_header("Referrer-Policy", "no-referrer");
  // FHIR answers may hold PHI: no cache keeps them (SECURITY.md).
  res.set_header("Cache-Control", "no-store");
  // RFC 6797 6.1: a year, subdomains included (the issue: "HSTS then").
  if (opts_.tls) res.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
  if (const auto origin = req.header("Origin")) {
    if (origin_allowed(*origin)) {
      res.set_header("Access-Control-Allow-Origin", std::string(*origin));
      res.set_header("Access-Control-Expose-Headers", "ETag, Location, Last-Modified, Content-Location, X-Request-Id");
      res.set_header("Vary", "Origin");
    }
  }
}

}  // namespace hearth::server
