#include <hearth/server/request_pipeline.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <string>

#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/server/metrics.hpp>

#include "rest_outcome.hpp"
#include "rest_target.hpp"

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
http_response outcome(int status, const char* code, std::string_view diagnostics, const fhir::definitions& defs) {
  return rest::error_response(status, code, std::string(diagnostics), rest::response_format{}, defs);
}

// --- bearer tokens (RFC 6750) ------------------------------------------------

/// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
bool is_b64token(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size()) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
    ++i;
  }
  if (i == 0) return false;
  while (i < t.size() && t[i] == '=') ++i;
  return i == t.size();
}

/// What the Authorization header holds.
enum class credentials {
  none,       ///< no Authorization header, or one of another scheme (Basic, ...)
  bearer,     ///< "Bearer" and a well-formed token
  malformed,  ///< "Bearer" and no token, or one with characters b64token does not allow
  repeated,   ///< more than one Authorization header
};

struct bearer_credentials {
  credentials kind = credentials::none;
  std::string_view token;  ///< kind bearer: a view into the request's header
};

/// RFC 6750 2.1: credentials = "Bearer" 1*SP b64token, in one Authorization
/// header; the scheme is case-insensitive (RFC 9110 11.1).
bearer_credentials bearer_of(const http_request& req) {
  const http_header* found = nullptr;
  for (const http_header& h : req.headers) {
    if (!text::iequals(h.name, "Authorization")) continue;
    // RFC 6750 3.1 invalid_request: a request that "repeats the same parameter".
    if (found != nullptr) return {credentials::repeated, {}};
    found = &h;
  }
  if (found == nullptr) return {};
  const std::string_view value = text::trim(found->value);
  const std::size_t sp = value.find(' ');
  if (!text::iequals(value.substr(0, sp), "Bearer")) return {};
  std::string_view token = sp == std::string_view::npos ? std::string_view() : value.substr(sp);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!is_b64token(token)) return {credentials::malformed, {}};
  return {credentials::bearer, token};
}

/// Whether `params` ("a=1&b=2", form or query encoding) has a parameter
/// named access_token (its name percent-decoded: "access%5Ftoken" counts).
bool names_access_token(std::string_view params) {
  constexpr std::string_view wanted = "access_token";
  while (!params.empty()) {
    const std::size_t amp = params.find('&');
    const std::string_view pair = params.substr(0, amp);
    const std::string_view name = pair.substr(0, pair.find('='));
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    std::string decoded;
    for (std::size_t i = 0; i < name.size() && decoded.size() <= wanted.size(); ++i) {
      if (name[i] == '%' && i + 2 < name.size() && hex(name[i + 1]) >= 0 && hex(name[i + 2]) >= 0) {
        decoded.push_back(static_cast<char>(hex(name[i + 1]) * 16 + hex(name[i + 2])));
        i += 2;
      } else {
        decoded.push_back(name[i]);
      }
    }
    if (decoded == wanted) return true;
    if (amp == std::string_view::npos) break;
    params.remove_prefix(amp + 1);
  }
  return false;
}

/// A token sent as a URI query parameter (RFC 6750 2.3) or a form body
/// parameter (2.2). Both are optional methods, and not offered: URLs are
/// written to proxy and server logs, browser history and Referer headers
/// (RFC 6750 5.3, "Don't pass bearer tokens in page URLs"), and a FHIR
/// POST _search body is a URL query in all but name.
bool token_outside_header(const http_request& req) {
  const std::string_view target = req.target;
  if (const auto q = target.find('?'); q != std::string_view::npos && names_access_token(target.substr(q + 1)))
    return true;
  if (req.method == "POST") {
    const std::string_view type = req.header("Content-Type").value_or("");
    constexpr std::string_view form = "application/x-www-form-urlencoded";
    if (type.size() >= form.size() && text::iequals(type.substr(0, form.size()), form) &&
        names_access_token(req.body))
      return true;
  }
  return false;
}

/// RFC 6750 3: the challenge. The realm names the protection space (RFC
/// 9110 11.5). error_description is one of the fixed texts below: never
/// input, and within the characters 3 allows (%x20-21 / %x23-5B / %x5D-7E).
std::string challenge(std::string_view error = {}, std::string_view description = {}) {
  std::string c = R"(Bearer realm="hearth")";
  if (!error.empty()) {
    c += R"(, error=")";
    c += error;
    c += '"';
  }
  if (!description.empty()) {
    c += R"(, error_description=")";
    c += description;
    c += '"';
  }
  return c;
}

/// A fixed description of why a token was refused, per token_verifier /
/// jwt error code. Never the token or its claims (SECURITY.md).
std::string_view describe_token_error(std::string_view code) {
  if (code == "expired") return "the access token has expired";
  if (code == "not-yet-valid") return "the access token is not valid yet";
  if (code == "revoked") return "the access token has been revoked";
  if (code == "wrong-issuer") return "the access token was not issued by a trusted issuer";
  if (code == "wrong-audience") return "the access token is not meant for this server";
  if (code == "unsupported-alg") return "the access token is signed with an algorithm that is not accepted";
  if (code == "unknown-key") return "the access token is not signed by a key this server trusts";
  if (code == "bad-signature") return "the access token signature does not verify";
  if (code == "invalid-token") return "the access token is malformed or lacks a required claim";
  return "the access token is not valid";
}

// --- Bundles (stage 8) ---------------------------------------------------------

/// A Bundle sent or answered, read as its Content-Type says (XML or JSON);
/// nullopt when it does not read as an object (the answer said why).
std::optional<fhir::json_value> bundle_of(std::string_view body, std::string_view content_type,
                                          const fhir::definitions& defs) {
  if (body.empty()) return std::nullopt;
  auto parsed = content_type.find("xml") != std::string_view::npos ? fhir::parse_fhir_xml(body, defs)
                                                                   : fhir::parse_json(body);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  return std::move(*parsed);
}

std::string_view string_member(const fhir::json_value* o, std::string_view name) {
  const fhir::json_value* v = o != nullptr ? o->find(name) : nullptr;
  return v != nullptr && v->is_string() ? std::string_view(v->str()) : std::string_view();
}

/// Stage 8 for POST [base]: the Bundle's record `r` named after what the
/// Bundle is (restful-interaction "transaction" or "batch"), and one record
/// per entry that read (GET, HEAD: BALP records every read and query, and a
/// Bundle's reads are no exception) or whose answer failed, as a request of
/// its own with the Bundle's principal: a batch answers 200 whatever its
/// entries were refused, and SECURITY.md asks an AuditEvent "per
/// authorisation decision that denies". The entries of a Bundle refused
/// whole are not (its record says it); the entries that wrote recorded
/// themselves in their transaction.
std::vector<audit_record> audit_bundle(const http_request& req, const http_response& res, audit_record& r,
                                       const fhir::definitions& defs, std::string_view base_url) {
  std::vector<audit_record> out;
  const auto sent = bundle_of(req.body, req.header("Content-Type").value_or(""), defs);
  if (!sent) return out;
  if (string_member(&*sent, "type") == "transaction") r.interaction = audit_interaction::transaction;
  if (res.status >= 400) return out;
  const auto answered = bundle_of(res.body, res.header("Content-Type").value_or(""), defs);
  if (!answered) return out;
  const fhir::json_value* asked = sent->find("entry");
  const fhir::json_value* given = answered->find("entry");
  // R4 http.html#transaction-response: one entry per request entry, in order.
  if (asked == nullptr || given == nullptr || !asked->is_array() || !given->is_array() ||
      asked->items().size() != given->items().size()) {
    return out;
  }
  for (std::size_t i = 0; i < asked->items().size(); ++i) {
    const std::string_view status_text = string_member(given->items()[i].find("response"), "status");
    int status = 0;
    std::from_chars(status_text.data(), status_text.data() + std::min<std::size_t>(status_text.size(), 3), status);
    // An entry answered as for an absent resource records its refusal.
    for (const auto& [index, recorded] : res.audit_entry_status) {
      if (index == i) status = recorded;
    }
    const fhir::json_value* request = asked->items()[i].find("request");
    const std::string_view method = string_member(request, "method");
    if (status < 400 && method != "GET" && method != "HEAD") continue;
    // request.url is relative to the base; this server's absolute URL is
    // taken as well (rest_transaction.cpp relative_url).
    std::string_view url = string_member(request, "url");
    if (url.size() > base_url.size() && url.starts_with(base_url) && url[base_url.size()] == '/')
      url.remove_prefix(base_url.size());
    while (url.starts_with('/')) url.remove_prefix(1);
    http_request entry;
    entry.method = std::string(method);
    entry.target = "/" + std::string(url);
    entry.request_id = req.request_id;
    entry.remote_address = req.remote_address;
    const std::string_view path = std::string_view(entry.target).substr(0, entry.target.find('?'));
    std::optional<audit_record> e = audit_record_of(entry, path, classify_request(entry.method, path, defs));
    if (!e) continue;
    e->status = status;
    set_principal(*e, req.principal.get());
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace

std::optional<http_response> request_pipeline::authenticate(http_request& req) const {
  if (token_outside_header(req)) {
    // The issue asks for 401 here (RFC 6750 3.1 would allow 400 for
    // invalid_request); either way nothing is read.
    http_response r = outcome(401, "login", "access tokens are accepted only in the Authorization header", defs_);
    r.set_header("WWW-Authenticate",
                 challenge("invalid_request", "access tokens are accepted only in the Authorization header"));
    return r;
  }
  if (opts_.verifier) {
    const bearer_credentials cred = bearer_of(req);
    switch (cred.kind) {
      case credentials::repeated: {
        // RFC 6750 3.1: invalid_request, 400.
        http_response r = outcome(400, "invalid", "more than one Authorization header", defs_);
        r.set_header("WWW-Authenticate", challenge("invalid_request", "more than one Authorization header"));
        return r;
      }
      case credentials::none: {
        // RFC 6750 3.1: "If the request lacks any authentication
        // information ..., the resource server SHOULD NOT include an error
        // code or other error information."
        http_response r =
            outcome(401, "login", "this request needs an access token in an Authorization: Bearer header", defs_);
        r.set_header("WWW-Authenticate", challenge());
        return r;
      }
      case credentials::malformed: {
        http_response r = outcome(401, "login", "the access token is malformed", defs_);
        r.set_header("WWW-Authenticate", challenge("invalid_token", "the access token is malformed"));
        return r;
      }
      case credentials::bearer:
        if (!req.principal) {  // stage 2 may have found it in the cache
          auto who = opts_.verifier->verify(cred.token);
          if (!who) {
            // RFC 6750 3.1 invalid_token: 401. "expired" is the R4
            // IssueType for an expired session; "login" for the rest.
            const std::string_view why = describe_token_error(who.error().code);
            http_response r = outcome(401, who.error().code == "expired" ? "expired" : "login", why, defs_);
            r.set_header("WWW-Authenticate", challenge("invalid_token", why));
            return r;
          }
          req.principal = std::move(*who);
        }
        break;
    }
  }
  // The token has done its work: it travels no further (into fhir_api,
  // batch entries, a log), so nothing downstream can leak it.
  std::erase_if(req.headers, [](const http_header& h) { return text::iequals(h.name, "Authorization"); });
  return std::nullopt;
}

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
  // SMART App Launch 2.x conformance.html: [base]/.well-known/smart-configuration;
  // Hearth's authorisation server lives under [base]/auth/.
  if (seg[0] == ".well-known" && seg.size() == 2 && seg[1] == "smart-configuration") {
    k.interaction = "smart-configuration";
    return k;
  }
  if (seg[0] == "auth") {
    k.interaction = "auth";
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

std::optional<audit_record> audit_record_of(const http_request& req, std::string_view path, const request_kind& kind) {
  // Only the R4 restful interactions (and batch/transaction) are audited
  // here: "unknown", the operational endpoints and the authorisation
  // server's paths are not (request_pipeline.hpp, stage 8).
  if (kind.interaction == "capabilities") return std::nullopt;
  const auto interaction = audit_interaction_of(kind.interaction);
  if (!interaction) return std::nullopt;
  audit_record r;
  r.interaction = *interaction;
  r.request_id = req.request_id;
  r.remote_address = req.remote_address;
  r.resource_type = kind.resource_type;
  const auto seg = segments(path);
  switch (*interaction) {
    case audit_interaction::read:
    case audit_interaction::vread:
    case audit_interaction::update:
    case audit_interaction::patch:
    case audit_interaction::remove:
    case audit_interaction::history_instance:
      // The id as the path names it, when it is a valid id (R4
      // datatypes.html#id): nothing else of the path reaches the trail.
      if (seg.size() >= 2 && rest::valid_id(seg[1])) r.resource_id = std::string(seg[1]);
      if (*interaction == audit_interaction::vread && seg.size() == 4 && !r.resource_id.empty()) {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(seg[3].data(), seg[3].data() + seg[3].size(), v);
        if (ec == std::errc() && end == seg[3].data() + seg[3].size() && v > 0) r.version_id = v;
      }
      break;
    default:
      break;
  }
  // A Patient compartment search (Patient/[id]/[type]) is about that patient
  // (BALP PatientQuery).
  if (kind.interaction == "search-compartment" && seg.size() >= 2 && seg[0] == "Patient" && rest::valid_id(seg[1]))
    r.patient_ids.emplace_back(seg[1]);
  // BALP Query: the raw request, whole (the builder encodes it in base64):
  // the target's query, and the form body of a POST _search. A request that
  // carries an access token there (refused with 401) keeps none: a token
  // never reaches the trail (SECURITY.md).
  if (!token_outside_header(req)) {
    const std::string_view target = req.target;
    if (const auto q = target.find('?'); q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
    const bool form_search = req.method == "POST" && seg.size() >= 2 && seg.back() == "_search";
    const std::string_view type = req.header("Content-Type").value_or("");
    constexpr std::string_view form = "application/x-www-form-urlencoded";
    if (form_search && type.size() >= form.size() && text::iequals(type.substr(0, form.size()), form) &&
        !req.body.empty()) {
      if (!r.query.empty()) r.query += '&';
      r.query += req.body;
    }
    if (r.query.size() > audit_record::max_query_bytes) r.query.resize(audit_record::max_query_bytes);
  }
  return r;
}

request_pipeline::request_pipeline(const fhir_api& api, const fhir::definitions& defs, pipeline_options opts)
    : api_(api), base_path_(base_path_of(api.options().base_url)), defs_(defs), opts_(std::move(opts)) {
  // Deny by default: no verifier is only ever a deliberate choice.
  if (!opts_.verifier && !opts_.insecure_no_auth)
    throw std::invalid_argument("request pipeline: no token verifier, and insecure_no_auth not set");
}

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
  // Only stage 5 (or stage 2 from the verifier's cache) says who this is.
  req.principal.reset();
  // Told by the write hook that the request's AuditEvent is in its
  // transaction (stage 8); a fresh flag per request, never a caller's.
  req.audited_in_tx = opts_.audit ? std::make_shared<std::atomic<bool>>(false) : nullptr;
  http_response res;
  bool audited = false;
  try {
    res = dispatch(req, kind, audited);
  } catch (const std::exception&) {
    // fhir_api never throws; this is the last line (a bad_alloc, a bug).
    res = outcome(500, "exception", "internal error", defs_);
  }
  if (audited && opts_.audit) {
    try {
      if (auto refused = audit(req, path, kind, res)) res = std::move(*refused);
    } catch (const std::exception&) {
      // Fail closed: an answer whose event could not be built is not given.
      res = outcome(503, "transient", "the audit trail cannot record this request: retry later", defs_);
      res.set_header("Retry-After", "5");
    }
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
    if (req.principal) {
      rec.client_id = req.principal->client_id;
      rec.token_id = req.principal->jti;
    }
    opts_.observe(rec);
  }
  return res;
}

std::optional<http_response> request_pipeline::audit(const http_request& req, std::string_view path,
                                                     const request_kind& kind, const http_response& res) const {
  std::optional<audit_record> r = audit_record_of(req, path, kind);
  if (!r) return std::nullopt;
  // A write that succeeded committed its own event with it (the write hook);
  // a Bundle is recorded here whatever its entries recorded.
  const bool bundle = r->interaction == audit_interaction::batch || r->interaction == audit_interaction::transaction;
  if (!bundle && res.status < 400 && req.audited_in_tx && req.audited_in_tx->load()) return std::nullopt;
  r->status = res.audit_status != 0 ? res.audit_status : res.status;
  for (const std::string& p : res.audit_patient_ids) {
    if (std::find(r->patient_ids.begin(), r->patient_ids.end(), p) == r->patient_ids.end()) r->patient_ids.push_back(p);
  }
  set_principal(*r, req.principal.get());
  std::vector<audit_record> entries;
  if (bundle) entries = audit_bundle(req, res, *r, defs_, api_.options().base_url);
  bool recorded = opts_.audit(std::move(*r));
  for (audit_record& e : entries) recorded = recorded && opts_.audit(std::move(e));
  if (recorded) return std::nullopt;
  // SECURITY.md "or the request fails": no answer without its event.
  http_response refused =
      outcome(503, "transient", "the audit trail cannot record this request: retry later", defs_);
  refused.set_header("Retry-After", "5");
  return refused;
}

http_response request_pipeline::dispatch(http_request& req, const request_kind& kind, bool& audited) const {
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
    // The client, when its token was verified before: a cache lookup, no
    // signature check; a new token is limited by address until verified.
    if (opts_.verifier) {
      if (const bearer_credentials cred = bearer_of(req); cred.kind == credentials::bearer)
        req.principal = opts_.verifier->find_cached(cred.token);
    }
    const std::string key = opts_.client_key ? opts_.client_key(req)
                            : req.principal  ? "client:" + req.principal->client_id
                                             : rate_limit_key(req);
    const rate_decision d = opts_.rate_limit->acquire(key);
    if (!d.allowed) {
      // RFC 6585 4: 429 Too Many Requests, with Retry-After (RFC 9110
      // 10.2.3, delay-seconds); "throttled" is the R4 IssueType for it.
      http_response r = outcome(429, "throttled", "too many requests from this client: retry after the delay given",
                                defs_);
      r.set_header("Retry-After", std::to_string(d.retry_after.count()));
      return r;
    }
  }

  // 3. CORS preflight: the allow-list decides; no FHIR work.
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

  // Fail closed (SECURITY.md "Audit"): while the trail cannot take events,
  // nothing it would have to record is done, the authorisation endpoints
  // included. RFC 9110 15.6.4: 503 with Retry-After.
  if (kind.interaction != "capabilities" && opts_.audit_healthy && !opts_.audit_healthy()) {
    http_response r = outcome(503, "transient", "the audit trail is unavailable: retry later", defs_);
    r.set_header("Retry-After", "5");
    return r;
  }

  // 4. No access token needed: the CapabilityStatement (R4
  //    http.html#capabilities), and the authorisation server that hands out
  //    the tokens (SMART App Launch 2.x).
  //    They run without a principal, whatever stage 2 found.
  if (kind.interaction == "capabilities" || kind.interaction == "smart-configuration" || kind.interaction == "auth")
    req.principal.reset();
  if (kind.interaction == "capabilities") return api_.handle(req);
  if (kind.interaction == "smart-configuration" || kind.interaction == "auth") {
    if (opts_.auth_endpoints) {
      if (auto answer = opts_.auth_endpoints(req)) return std::move(*answer);
    }
    return outcome(404, "not-found", "no such authorisation endpoint", defs_);
  }

  // 5. Who is asking, before anything is read. From here on every answer
  //    is audited (stage 8), the 401s included.
  audited = true;
  if (auto refused = authenticate(req)) return std::move(*refused);

  // 6. FHIR.
  http_response res = api_.handle(req);
  // RFC 6750 3.1: a token that lacks the scope a request needs is answered
  // 403 with error="insufficient_scope" (fhir_api answers 403 for nothing else).
  if (res.status == 403 && req.principal && !res.header("WWW-Authenticate")) {
    res.set_header("WWW-Authenticate",
                   challenge("insufficient_scope", "the access token does not grant what this request needs"));
  }
  return res;
}

bool request_pipeline::origin_allowed(std::string_view origin) const {
  return std::any_of(opts_.cors_allowed_origins.begin(), opts_.cors_allowed_origins.end(),
                     [origin](const std::string& o) { return o == "*" || o == origin; });
}

void request_pipeline::finish(const http_request& req, http_response& res) const {
  res.set_header("X-Request-Id", req.request_id);
  res.set_header("X-Content-Type-Options", "nosniff");
  // A response that set its own policy keeps it (the authorisation
  // server's login page needs form-action; CSP Level 3 4.1).
  if (!res.header("Content-Security-Policy"))
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
