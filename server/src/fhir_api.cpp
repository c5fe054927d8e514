// fhir_api: the router of the FHIR R4 RESTful API (http.html#general). It
// splits the target, negotiates the response format, reads Prefer, and hands
// the request to one interaction (rest_interactions.hpp).

#include <hearth/server/fhir_api.hpp>

#include <exception>
#include <initializer_list>

#include <hearth/core/text.hpp>

#include "rest_audit.hpp"
#include "rest_auth.hpp"
#include "rest_format.hpp"
#include "rest_interactions.hpp"
#include "rest_operations.hpp"
#include "rest_outcome.hpp"
#include "rest_patch.hpp"
#include "rest_target.hpp"
#include "rest_transaction.hpp"

namespace hearth::server {

namespace {

using rest::context;

/// Prefer (RFC 7240; R4 http.html#ops and search.html#errors): every Prefer
/// header, each a list of `token=value` separated by ',' or ';'.
void read_prefer(const http_request& req, context& c) {
  for (const http_header& h : req.headers) {
    if (!text::iequals(h.name, "Prefer")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const std::size_t end = rest.find_first_of(",;");
      const std::string_view item = text::trim(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = text::trim(item.substr(0, eq));
      std::string_view value = text::trim(item.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (text::iequals(key, "return")) {
        if (value == "minimal") c.return_pref = rest::return_preference::minimal;
        else if (value == "representation") c.return_pref = rest::return_preference::representation;
        else if (value == "OperationOutcome") c.return_pref = rest::return_preference::outcome;
      } else if (text::iequals(key, "handling")) {
        if (value == "strict") c.handling = store::search_handling::strict;
        else if (value == "lenient") c.handling = store::search_handling::lenient;
      }
    }
  }
}

/// _format, then Accept (R4 http.html#mime-type); _pretty (#parameters).
/// nullopt: nothing acceptable (406).
std::optional<rest::response_format> negotiate(const http_request& req, const rest::param_list& params) {
  rest::response_format fmt;
  std::optional<rest::wire_format> f;
  bool format_param = false;
  for (const auto& [name, value] : params) {
    if (name == "_format" && !format_param) {
      format_param = true;
      f = rest::format_of_format_param(value);
    } else if (name == "_pretty") {
      fmt.pretty = value == "true";
    }
  }
  if (!format_param) f = rest::format_of_accept(req.header("Accept"));
  if (!f) return std::nullopt;
  fmt.format = *f;
  return fmt;
}

http_response not_allowed(const context& c, std::initializer_list<std::string_view> allowed) {
  std::string allow;
  for (const std::string_view m : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  http_response res = rest::error_response(405, "not-supported", "method not allowed here; allowed: " + allow,
                                           c.fmt, c.defs);
  res.set_header("Allow", allow);
  return res;
}

http_response not_found(const context& c, std::string what) {
  return rest::error_response(404, "not-found", std::move(what), c.fmt, c.defs);
}

bool is_operation(std::string_view segment) { return segment.starts_with('$'); }

/// R4 http.html#capabilities: GET [base]/metadata.
http_response capabilities(const context& c) {
  if (c.opts.capability_json.empty()) return not_found(c, "no CapabilityStatement configured");
  auto body = rest::write_stored(c.opts.capability_json, c.fmt, c.defs);
  if (!body) return rest::error_response(500, body.error(), c.fmt, c.defs);
  http_response res;
  res.body = std::move(*body);
  res.set_header("Content-Type", rest::content_type(c.fmt.format));
  return res;
}

/// [type]/[id]/... with a valid id: routes the instance level.
http_response route_instance(const context& c, const std::vector<std::string>& s) {
  const std::string& m = c.req.method;
  const std::string& type = s[0];
  const std::string& id = s[1];
  const std::size_t n = s.size();
  if (n == 2) {
    if (m == "GET") return rest::read(c, type, id);
    if (m == "PUT") return rest::update(c, type, id);
    if (m == "DELETE") return rest::remove(c, type, id);
    if (m == "PATCH") return rest::patch(c, type, id);
    return not_allowed(c, {"GET", "PUT", "DELETE", "PATCH"});
  }
  if (is_operation(s[2]) || (n == 5 && s[2] == "_history" && is_operation(s[4]))) return rest::operation(c, s);
  if (s[2] == "_history") {
    if (n == 3) return m == "GET" ? rest::history(c, type, id) : not_allowed(c, {"GET"});
    if (n == 4) return m == "GET" ? rest::vread(c, type, id, s[3]) : not_allowed(c, {"GET"});
    return not_found(c, "no such path");
  }
  // Compartment search (R4 compartmentdefinition.html, http.html#search):
  // [Compartment]/[id]/[type]?..., or POST .../[type]/_search.
  if (c.defs.is_resource_type(s[2])) {
    const std::optional<store::search_compartment> comp(store::search_compartment{type, id});
    if (n == 3) return m == "GET" ? rest::search(c, s[2], false, comp) : not_allowed(c, {"GET"});
    if (n == 4 && s[3] == "_search") return m == "POST" ? rest::search(c, s[2], true, comp) : not_allowed(c, {"POST"});
  }
  return not_found(c, "no such path");
}

/// [base]/AuditEvent...: the trail (api_options::audit_log), read-only.
/// SECURITY.md "Audit": the trail is immutable (writes: the usual refusal,
/// 405 with Allow: GET) and reading it needs an explicit AuditEvent scope
/// (rest_auth.hpp); the pipeline audits these reads like any other.
http_response route_audit(const context& c, const std::vector<std::string>& s) {
  const std::string& m = c.req.method;
  const store::audit_log& log = *c.opts.audit_log;
  const bool search_get = s.size() == 1 && m == "GET";
  const bool search_post = s.size() == 2 && s[1] == "_search" && m == "POST";
  if (search_get || search_post) {
    const rest::access a = rest::authorize(c, auth::interaction::search_type, "AuditEvent");
    if (!a.allowed) return rest::forbidden(c, a);
    if (c.opts.audit_catch_up) c.opts.audit_catch_up();
    return rest::search_audit_events(c, log, search_post);
  }
  if (s.size() == 2 && m == "GET" && !is_operation(s[1]) && s[1] != "_history" && s[1] != "_search") {
    if (!rest::valid_id(s[1])) {
      return rest::error_response(400, "invalid", "not a valid resource id (R4 datatypes.html#id)", c.fmt, c.defs);
    }
    const rest::access a = rest::authorize(c, auth::interaction::read, "AuditEvent");
    if (!a.allowed) return rest::forbidden(c, a);
    if (c.opts.audit_catch_up) c.opts.audit_catch_up();
    return rest::read_audit_event(c, log, s[1]);
  }
  // Writes: the immutability refusal (rest_auth.hpp), as for every path.
  if (m != "GET" && m != "HEAD" && !(s.size() == 2 && s[1] == "_search")) {
    const rest::access a = rest::authorize(c, auth::interaction::create, "AuditEvent");
    if (!a.allowed) return rest::forbidden(c, a);
  }
  // History, vread and operations are not offered on the trail (one version
  // per event; the CapabilityStatement lists read and search-type only).
  return rest::error_response(404, "not-supported",
                              "AuditEvent supports read and search only: history, vread and operations are not offered",
                              c.fmt, c.defs);
}

http_response route(const context& c, const std::vector<std::string>& s) {
  const std::string& m = c.req.method;
  if (s.empty()) {
    // POST [base] (batch and transaction) is answered by fhir_api::impl, which
    // can dispatch the entries.
    return rest::error_response(400, "not-supported", "search across all types is not supported", c.fmt, c.defs);
  }
  if (is_operation(s[0])) return rest::operation(c, s);
  if (s[0] == "metadata" && s.size() == 1) return m == "GET" ? capabilities(c) : not_allowed(c, {"GET"});
  if (s[0] == "_history" && s.size() == 1) return m == "GET" ? rest::history(c, "", "") : not_allowed(c, {"GET"});
  const std::string& type = s[0];
  if (!c.defs.is_resource_type(type)) return not_found(c, "unknown resource type");
  if (type == "AuditEvent" && c.opts.audit_log != nullptr) return route_audit(c, s);
  if (s.size() == 1) {
    if (m == "GET") return rest::search(c, type, false, std::nullopt);
    if (m == "POST") return rest::create(c, type);
    if (m == "PATCH") return rest::conditional_patch(c, type);
    // R4 http.html#cond-update, #cdelete: [type]?[search].
    if (m == "PUT") return rest::conditional_update(c, type);
    if (m == "DELETE") return rest::conditional_delete(c, type);
    return not_allowed(c, {"GET", "POST", "PUT", "DELETE", "PATCH"});
  }
  if (is_operation(s[1])) return rest::operation(c, s);
  if (s[1] == "_search" && s.size() == 2) {
    return m == "POST" ? rest::search(c, type, true, std::nullopt) : not_allowed(c, {"POST"});
  }
  if (s[1] == "_history" && s.size() == 2) return m == "GET" ? rest::history(c, type, "") : not_allowed(c, {"GET"});
  if (!rest::valid_id(s[1])) {
    return rest::error_response(400, "invalid", "not a valid resource id (R4 datatypes.html#id)", c.fmt, c.defs);
  }
  return route_instance(c, s);
}

}  // namespace

struct fhir_api::impl {
  impl(store::resource_store& s, const fhir::definitions& d, api_options o)
      : store(s), defs(d), opts(std::move(o)), base_path(base_path_of(opts.base_url)), indexer(d, opts.indexer) {}

  store::resource_store& store;
  const fhir::definitions& defs;
  api_options opts;
  std::string base_path;  ///< base_path_of(opts.base_url)
  rest::indexer_source indexer;

  http_response handle(const http_request& req, rest::response_format& fmt) const {
    auto target = rest::split(req.target, base_path);
    if (!target) {
      const int status = target.error().code == "too-costly" ? 414 : 400;  // RFC 9110 15.5.15
      return rest::error_response(status, target.error(), fmt, defs);
    }
    auto negotiated = negotiate(req, target->params);
    if (!negotiated) {
      return rest::error_response(406, "not-supported", "no acceptable format: Hearth serves FHIR JSON and XML", fmt,
                                  defs);
    }
    fmt = *negotiated;
    context c{req, store, defs, opts, target->params, fmt, opts.default_handling, {}, &indexer};
    read_prefer(req, c);
    // The fail-closed backstop of SMART enforcement (rest_auth.hpp): the
    // pipeline refuses a request without a valid token before it gets
    // here. GET /metadata needs none (R4 http.html#capabilities; SMART App
    // Launch 2.2 discovers the endpoints from it).
    const bool metadata = target->segments.size() == 1 && target->segments[0] == "metadata";
    if (opts.enforce_authorization && !req.principal && !metadata) return rest::unauthenticated(c);
    if (target->segments.empty() && req.method == "POST") {
      // R4 http.html#transaction: a batch's entries are answered as requests
      // of their own, through this same function.
      // Each entry carries the Bundle's principal (rest_transaction.cpp
      // sub_request) and is checked as a request of its own; a
      // transaction's entries are all checked before anything commits.
      return rest::batch_or_transaction(c, [this](const http_request& entry) {
        http_request r = entry;
        r.target = base_path + r.target;
        rest::response_format f;
        return handle(r, f);
      });
    }
    return route(c, target->segments);
  }
};

fhir_api::fhir_api(store::resource_store& store, const fhir::definitions& defs, api_options opts)
    : impl_(std::make_unique<impl>(store, defs, std::move(opts))) {}

fhir_api::~fhir_api() = default;

std::string base_path_of(std::string_view base_url) {
  const std::size_t scheme = base_url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? base_url : base_url.substr(scheme + 3);
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {};
  std::string path(rest.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

http_response fhir_api::handle(const http_request& req) const {
  // The one catch of this boundary (CONVENTIONS.md): whatever escapes an
  // interaction (bad_alloc, a bug) becomes a 500 with the correlation id.
  rest::response_format fmt;
  try {
    return impl_->handle(req, fmt);
  } catch (...) {
    try {
      return rest::internal_error(req.request_id, fmt, impl_->defs);
    } catch (...) {
      http_response res;
      res.status = 500;
      return res;
    }
  }
}

const api_options& fhir_api::options() const noexcept { return impl_->opts; }

}  // namespace hearth::server
