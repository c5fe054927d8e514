// read, vread, create (conditional too), update, delete: R4 http.html.

#include <charconv>

#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/server/audit.hpp>
#include <hearth/store/error_codes.hpp>

#include "rest_auth.hpp"
#include "rest_interactions.hpp"
#include "rest_outcome.hpp"
#include "rest_subset.hpp"

namespace hearth::server::rest {

/// ETag and Last-Modified of a version (R4 http.html#read: "the server
/// SHOULD return an ETag header with the versionId ... and a Last-Modified
/// header").
void set_version_headers(http_response& res, const store::resource_version& v) {
  res.set_header("ETag", etag(v.version_id));
  res.set_header("Last-Modified", http_date(v.last_updated));
}

/// `base/Type/id/_history/vid`: the Location of a create (R4 http.html#create).
std::string location_of(const context& c, const store::resource_version& v) {
  return c.opts.base_url + "/" + v.type + "/" + v.id + "/_history/" + std::to_string(v.version_id);
}

http_response resource_response(const context& c, int status, const store::resource_version& v) {
  return versioned_response(c, status, v, write_stored(v.json, c.fmt, c.defs));
}

http_response versioned_response(const context& c, int status, const store::resource_version& v,
                                 hearth::result<std::string> body) {
  if (!body) return internal_error(c.req.request_id, c.fmt, c.defs);  // stored bodies were checked when written
  http_response res;
  res.status = status;
  res.body = std::move(*body);
  res.set_header("Content-Type", content_type(c.fmt.format));
  set_version_headers(res, v);
  return res;
}

/// The answer to a create or update as Prefer: return asks (R4
/// http.html#ops): the resource, nothing, or an OperationOutcome.
http_response write_response(const context& c, int status, const store::resource_version& v,
                             std::string_view what) {
  http_response res;
  switch (c.return_pref) {
    case return_preference::representation:
      res = resource_response(c, status, v);
      if (res.status >= 500) return res;
      break;
    case return_preference::minimal:
      res.status = status;
      set_version_headers(res, v);
      break;
    case return_preference::outcome: {
      const fhir::issue i{fhir::issue_severity::information, "informational", std::string(what), {}};
      res = outcome_response(status, std::span<const fhir::issue>(&i, 1), c.fmt, c.defs);
      set_version_headers(res, v);
      break;
    }
  }
  if (status == 201) res.set_header("Location", location_of(c, v));
  return res;
}

/// The If-Match version; `bad` set when the header is there but malformed.
std::optional<std::int64_t> if_match_of(const context& c, bool& bad) {
  bad = false;
  const auto h = c.req.header("If-Match");
  if (!h) return std::nullopt;
  auto v = parse_etag(*h);
  bad = !v;
  return v;
}

body_or_error read_resource_body(const context& c, const std::string& type) {
  body_or_error out;
  const auto f = format_of_content_type(c.req.header("Content-Type"));
  if (!f) {
    // R4 http.html#mime-type; RFC 9110 15.5.16.
    out.error = error_response(415, "not-supported",
                               "the body must be application/fhir+json or application/fhir+xml", c.fmt, c.defs);
    return out;
  }
  auto parsed = read_body(c.req.body, *f, c.defs);
  if (!parsed) {
    out.error = error_response(400, parsed.error(), c.fmt, c.defs);
    return out;
  }
  const fhir::json_value* rt = parsed->is_object() ? parsed->find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string()) {
    out.error = error_response(400, "structure", "the body is not a FHIR resource (no resourceType)", c.fmt, c.defs);
    return out;
  }
  if (rt->str() != type) {
    out.error = error_response(400, "invalid", "the resource type of the body does not match the URL", c.fmt, c.defs);
    return out;
  }
  const fhir::issue_list issues = fhir::check_resource(*parsed, c.defs);
  if (fhir::has_errors(issues)) {
    out.error = outcome_response(400, issues, c.fmt, c.defs);
    return out;
  }
  write_validation v = validate_write(c, *parsed);
  if (v.refusal) {
    out.error = std::move(*v.refusal);
    return out;
  }
  out.validation_note = std::move(v.note);
  out.resource = std::move(*parsed);
  return out;
}

/// A write the store refused. The body passed the structural checks above,
/// so "invalid" or "not-supported" now is the server's own rule: 422 (R4
/// http.html#update "violated ... server business rules").
http_response write_failure(const context& c, const hearth::error& e, bool if_match) {
  if (e.code == store::error_codes::invalid || e.code == store::error_codes::not_supported) {
    return error_response(422, e, c.fmt, c.defs);
  }
  return store_failure(c, e, if_match);
}

hearth::result<store::search_request> conditional_search(const context& c, const std::string& type,
                                                         std::string_view query) {
  if (const std::size_t q = query.find('?'); q != std::string_view::npos) query.remove_prefix(q + 1);
  param_list params;
  if (auto r = parse_params(query, false, params); !r) return hearth::unexpected(std::move(r).error());
  std::erase_if(params, [](const auto& p) { return p.first == "_format" || p.first == "_pretty"; });
  if (params.empty()) return hearth::unexpected(hearth::error{"invalid", "the condition holds no search parameters", ""});
  // The condition is a search, and runs as one with the token's grants
  // (rest_auth.hpp): it needs s, and cannot find what the token cannot see.
  const access a = authorize(c, auth::interaction::search_type, type);
  if (!a.allowed) return hearth::unexpected(forbidden_error(a, "a conditional interaction searches, which needs s"));
  // Strict: a criterion left out would widen the search and make an existing
  // resource look like a match (or hide a duplicate).
  auto req = store::parse_search(c.defs, type, params, store::search_handling::strict);
  if (!req) return hearth::unexpected(std::move(req).error());
  if (auto r = restrict_search(c, a, *req); !r) return hearth::unexpected(std::move(r).error());
  req->count = 2;  // enough to tell none, one and many apart
  req->includes.clear();
  req->revincludes.clear();
  return std::move(*req);
}

hearth::result<conditional_match> run_conditional(const context& c, store::search_request req) {
  req.count = 2;
  auto page = c.store.search(req);
  if (!page) return hearth::unexpected(std::move(page).error());
  conditional_match m;
  m.count = page->matches.size();
  if (m.count == 1) m.match = std::move(page->matches.front());
  return m;
}

hearth::result<conditional_match> resolve_conditional(const context& c, const std::string& type,
                                                      std::string_view query) {
  auto req = conditional_search(c, type, query);
  if (!req) return hearth::unexpected(std::move(req).error());
  return run_conditional(c, std::move(*req));
}

namespace {

/// R4 http.html#ccreate: If-None-Exist holds a search. The search and the
/// create it allows are one store transaction (resource_store::
/// conditional_create): two requests with the same If-None-Exist, even from
/// two processes sharing a PostgreSQL database, never both create.
http_response conditional_create(const context& c, const std::string& type, std::string_view query,
                                 fhir::json_value resource) {
  auto condition = conditional_search(c, type, query);
  if (!condition) return store_failure(c, condition.error());
  // R4 http.html#create: the server assigns the id; one sent is ignored.
  resource.erase("id");
  auto prepared = c.store.prepare(type, store::resource_store::new_id(), std::move(resource));
  if (!prepared) return write_failure(c, prepared.error(), false);
  // The condition's errors (a modifier the store cannot search by) are the
  // request's, 400 as any search's; a write refused alone is not expected
  // here (a new id is nobody's).
  auto w = c.store.conditional_create(*condition, *prepared, write_hook_of(c));
  if (!w) return store_failure(c, w.error());
  if (w->matches > 1) {
    return error_response(412, "duplicate", "If-None-Exist matches more than one resource", c.fmt, c.defs);
  }
  // One match: "the server ignores the post and returns 200 OK".
  if (w->matches == 1) return write_response(c, 200, *w->match, "the resource exists already; nothing was created");
  return write_response(c, 201, w->written->version, "created");
}

}  // namespace

http_response store_failure(const context& c, const hearth::error& e, bool if_match) {
  int status = status_of_store_error(e.code);
  if (status == 500) return internal_error(c.req.request_id, c.fmt, c.defs);
  if (status == 409 && if_match) status = 412;  // R4 http.html#concurrency
  return error_response(status, e, c.fmt, c.defs);
}

namespace {

/// `res`, naming the patients of the resource `v` it answers with, for the
/// trail (api_options::audit_patients): its Patient compartment, evaluated
/// on the compartment's parameters only. A Patient names itself (the
/// AuditEvent builder adds it).
http_response with_patients(const context& c, const store::resource_version& v, http_response res) {
  if (!c.opts.audit_patients || c.opts.indexer == nullptr || v.deleted || v.type == "Patient" ||
      !c.defs.in_patient_compartment(v.type)) {
    return res;
  }
  if (auto tree = fhir::parse_json(v.json)) res.audit_patient_ids = patient_ids_in(*tree, *c.opts.indexer);
  return res;
}

}  // namespace

http_response read(const context& c, const std::string& type, const std::string& id) {
  const access a = authorize(c, auth::interaction::read, type);
  if (!a.allowed) return forbidden(c, a);
  auto subset = subset_of_read(c, type);  // _summary, _elements (R4 search.html#summary)
  if (!subset) return error_response(400, subset.error(), c.fmt, c.defs);
  http_response answer;
  auto v = current_for_read(c, a, type, id, answer);
  if (!v) return answer;
  // Conditional read (R4 http.html#cread): the client has this version, or
  // one at least as recent. If-None-Match decides when both are sent (RFC
  // 9110 13.1.3: If-Modified-Since is then ignored).
  bool not_modified = false;
  if (const auto inm = c.req.header("If-None-Match")) {
    not_modified = parse_etag(*inm) == v->version_id;
  } else if (const auto ims = c.req.header("If-Modified-Since")) {
    const auto since = parse_http_date(*ims);
    // HTTP dates have whole seconds: lastUpdated is compared at that precision.
    not_modified = since && std::chrono::floor<std::chrono::seconds>(v->last_updated) <= *since;
  }
  if (not_modified) {
    http_response res;
    res.status = 304;
    set_version_headers(res, *v);
    return with_patients(c, *v, std::move(res));
  }
  return with_patients(c, *v, subset_response(c, 200, *v, *subset));
}

http_response vread(const context& c, const std::string& type, const std::string& id, const std::string& vid) {
  const access a = authorize(c, auth::interaction::vread, type);
  if (!a.allowed) return forbidden(c, a);
  std::int64_t n = 0;
  const auto r = std::from_chars(vid.data(), vid.data() + vid.size(), n);
  if (r.ec != std::errc() || r.ptr != vid.data() + vid.size() || n < 1) {
    return error_response(404, "not-found", "no such version of this resource", c.fmt, c.defs);
  }
  auto subset = subset_of_read(c, type);  // _summary, _elements (R4 search.html#summary)
  if (!subset) return error_response(400, subset.error(), c.fmt, c.defs);
  auto v = c.store.vread(type, id, n);
  if (!v) return store_failure(c, v.error());  // not-found is the same body for every token
  if (!a.unrestricted()) {
    // A tombstone holds nothing to check against the grant: as absent.
    if (v->deleted) return hidden(c, true);
    auto ok = reaches(c, a, *v);
    if (!ok) return store_failure(c, ok.error());
    if (!*ok) return hidden(c, true);
  }
  if (v->deleted) {
    // R4 http.html#vread: a deleted version answers 410 Gone.
    http_response res = error_response(410, "deleted", "this version is a deletion", c.fmt, c.defs);
    set_version_headers(res, *v);
    return res;
  }
  return with_patients(c, *v, subset_response(c, 200, *v, *subset));
}

http_response create(const context& c, const std::string& type) {
  const access a = authorize(c, auth::interaction::create, type);
  if (!a.allowed) return forbidden(c, a);
  auto body = read_resource_body(c, type);
  if (!body.resource) return std::move(body.error);
  if (!reaches_content(c, a, *body.resource)) {
    return forbidden(c, a, "the resource is outside what the granted scopes reach");
  }
  if (const auto ine = c.req.header("If-None-Exist")) {
    http_response res = conditional_create(c, type, *ine, std::move(*body.resource));
    // The validation note belongs to what was written (as before: a match
    // answers without it).
    return res.status == 201 ? with_validation_note(std::move(res), body.validation_note) : res;
  }
  auto w = c.store.create(type, std::move(*body.resource), write_hook_of(c));
  if (!w) return write_failure(c, w.error(), false);
  return with_validation_note(write_response(c, 201, w->version, "created"), body.validation_note);
}

http_response update(const context& c, const std::string& type, const std::string& id) {
  const access a = authorize(c, auth::interaction::update, type);
  if (!a.allowed) return forbidden(c, a);
  bool bad_if_match = false;
  const auto expected = if_match_of(c, bad_if_match);
  if (bad_if_match) {
    return error_response(400, "invalid", "If-Match must be a version ETag such as W/\"1\"", c.fmt, c.defs);
  }
  auto body = read_resource_body(c, type);
  if (!body.resource) return std::move(body.error);
  // R4 http.html#update: "If no id element is provided, or the id disagrees
  // with the id in the URL, the server SHALL respond with an HTTP 400".
  const fhir::json_value* body_id = body.resource->find("id");
  if (body_id == nullptr || !body_id->is_string() || body_id->str() != id) {
    return error_response(400, "invalid", "the id in the body must equal the id in the URL", c.fmt, c.defs);
  }
  store::update_options o;
  o.expected_version = expected;
  if (!a.unrestricted()) {
    // The new content and the version it replaces must both be reached.
    if (!reaches_content(c, a, *body.resource)) {
      return forbidden(c, a, "the resource is outside what the granted scopes reach");
    }
    auto old = current_for_write(c, a, type, id);
    if (!old) return store_failure(c, old.error());
    // The write must meet the version checked (a concurrent change is a conflict).
    if (*old && !o.expected_version) o.expected_version = (*old)->version_id;
  }
  auto w = c.store.update(type, id, std::move(*body.resource), o, write_hook_of(c));
  if (!w) return write_failure(c, w.error(), expected.has_value());
  return with_validation_note(
      write_response(c, w->created ? 201 : 200, w->version, w->created ? "created" : "updated"),
      body.validation_note);
}

http_response remove(const context& c, const std::string& type, const std::string& id) {
  const access a = authorize(c, auth::interaction::remove, type);
  if (!a.allowed) return forbidden(c, a);
  bool bad_if_match = false;
  const auto expected = if_match_of(c, bad_if_match);
  if (bad_if_match) {
    return error_response(400, "invalid", "If-Match must be a version ETag such as W/\"1\"", c.fmt, c.defs);
  }
  store::delete_options o;
  o.expected_version = expected;
  auto old = current_for_write(c, a, type, id);
  if (!old && old.error().code == "forbidden") {
    // Not the token's to see: answered as the store answers a delete of an
    // absent id (resource_store.cpp: nothing to delete, or with If-Match a
    // version conflict), so that the answer does not tell it exists.
    if (expected) {
      return hidden_write(store_failure(
          c,
          hearth::error{std::string(store::error_codes::conflict),
                        "version conflict: the current version is not version " + std::to_string(*expected),
                        {},
                        hearth::error::npos},
          true));
    }
    return hidden_write(delete_response(
        c, store::write_outcome{store::resource_version{type, id, 0, {}, false, store::change::remove, {}}, false,
                                false}));
  }
  if (!old) return store_failure(c, old.error(), expected.has_value());
  if (*old && !o.expected_version) o.expected_version = (*old)->version_id;
  auto w = c.store.remove(type, id, o, write_hook_of(c));
  if (!w) return store_failure(c, w.error(), expected.has_value());
  return delete_response(c, *w);
}

http_response delete_response(const context& c, const store::write_outcome& w) {
  // R4 http.html#delete: 200 with an OperationOutcome, or 204; deleting a
  // resource that is not there (or deleted already) is not an error.
  http_response res;
  if (c.return_pref == return_preference::outcome) {
    const fhir::issue i{fhir::issue_severity::information, "informational",
                        w.changed ? "deleted" : "nothing to delete", {}};
    res = outcome_response(200, std::span<const fhir::issue>(&i, 1), c.fmt, c.defs);
  } else {
    res.status = 204;
  }
  if (w.version.version_id > 0) res.set_header("ETag", etag(w.version.version_id));
  return res;
}

}  // namespace hearth::server::rest
