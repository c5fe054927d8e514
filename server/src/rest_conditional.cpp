// Conditional update and conditional delete: R4 http.html#cond-update,
// #cdelete. The search runs on the reader; the write that follows names the
// version the search found (expected_version), so a resource changed or
// deleted in between is never overwritten unseen: that write fails with a
// conflict (409, or 412 when the client sent If-Match). When the search
// finds nothing, the create that follows runs the search again inside its
// own transaction (resource_store::conditional_create), so that two
// conditional updates racing to create make one resource: the later one
// finds the earlier's and updates it instead.

#include "rest_auth.hpp"
#include "rest_interactions.hpp"
#include "rest_outcome.hpp"

namespace hearth::server::rest {

namespace {

/// The search of a conditional interaction: the URL's parameters without
/// _format and _pretty, which say how to answer, not what to match. Empty:
/// the URL names no condition (400: R4 leaves a server free to refuse, and
/// an empty search would match every resource of the type).
std::string condition_of(const context& c) {
  param_list criteria;
  for (const auto& [name, value] : c.params) {
    if (name != "_format" && name != "_pretty") criteria.emplace_back(name, value);
  }
  return join_params(criteria);
}

/// The If-Match of the request, or the version the search found: the write
/// must meet the resource as the search saw it.
std::optional<std::int64_t> expected(const std::optional<std::int64_t>& if_match,
                                     const store::resource_version& match) {
  return if_match ? if_match : std::optional<std::int64_t>(match.version_id);
}

}  // namespace

http_response conditional_update(const context& c, const std::string& type) {
  // SMART: u, and the search runs with the token's search grants
  // (conditional_search); the resource found and the new content must both
  // be reached by the update grant (rest_auth.hpp).
  const access a = authorize(c, auth::interaction::update, type);
  if (!a.allowed) return forbidden(c, a);
  const std::string condition = condition_of(c);
  if (condition.empty()) {
    return error_response(400, "invalid", "a conditional update needs search parameters in the URL", c.fmt, c.defs);
  }
  bool bad_if_match = false;
  const auto if_match = if_match_of(c, bad_if_match);
  if (bad_if_match) {
    return error_response(400, "invalid", "If-Match must be a version ETag such as W/\"1\"", c.fmt, c.defs);
  }
  auto body = read_resource_body(c, type);
  if (!body.resource) return std::move(body.error);
  if (!reaches_content(c, a, *body.resource)) {
    return forbidden(c, a, "the resource is outside what the granted scopes reach");
  }
  auto condition_search = conditional_search(c, type, condition);
  if (!condition_search) return store_failure(c, condition_search.error());
  auto m = run_conditional(c, *condition_search);
  if (!m) return store_failure(c, m.error());
  const fhir::json_value* body_id_value = body.resource->find("id");
  const std::optional<std::string> body_id =
      body_id_value != nullptr && body_id_value->is_string() ? std::optional<std::string>(body_id_value->str())
                                                             : std::nullopt;
  if (m->count == 0) {
    if (if_match) return error_response(412, "conflict", "If-Match names a version, but nothing matches", c.fmt, c.defs);
    // "No matches, no id provided: The server creates the resource." "No
    // matches, id provided and doesn't already exist: The server treats the
    // interaction as an Update as Create interaction"; "... and already
    // exist: The server rejects the update with a 409 Conflict error."
    if (body_id && !valid_id(*body_id)) {
      return error_response(400, "invalid", "not a valid resource id (R4 datatypes.html#id)", c.fmt, c.defs);
    }
    // Kept for the case where the search in the store's transaction finds
    // a resource a concurrent request created in between.
    fhir::json_value resource = *body.resource;
    // An absent id is set by prepare (after resourceType, as create does).
    auto prepared = c.store.prepare(type, body_id ? *body_id : store::resource_store::new_id(),
                                    std::move(*body.resource));
    if (!prepared) return write_failure(c, prepared.error(), false);
    auto w = c.store.conditional_create(*condition_search, *prepared, write_hook_of(c));
    if (!w) return store_failure(c, w.error());
    if (w->matches == 0) {
      return with_validation_note(write_response(c, 201, w->written->version, "created"), body.validation_note);
    }
    // A concurrent request created a match since the search above: as if
    // the search had found it.
    m->count = w->matches;
    m->match = std::move(w->match);
    *body.resource = std::move(resource);
  }
  if (m->count > 1) {
    // "Multiple matches: The server returns a 412 Precondition Failed error".
    return error_response(412, "multiple-matches", "the search matches more than one resource", c.fmt, c.defs);
  }
  // "One Match: The server performs the update against the matching
  // resource"; an id in the body must be that resource's.
  const std::string id = m->match->id;
  if (body_id && *body_id != id) {
    return error_response(400, "invalid", "the id in the body is not the id of the resource the search found",
                          c.fmt, c.defs);
  }
  store::update_options o;
  o.expected_version = expected(if_match, *m->match);
  o.allow_create = false;
  if (auto ok = reaches(c, a, *m->match); !ok || !*ok) {
    return ok ? forbidden(c, a, "the resource is outside what the granted scopes reach") : store_failure(c, ok.error());
  }
  body.resource->set("id", id);
  auto w = c.store.update(type, id, std::move(*body.resource), o, write_hook_of(c));
  if (!w) return write_failure(c, w.error(), if_match.has_value());
  return with_validation_note(
      write_response(c, w->created ? 201 : 200, w->version, w->created ? "created" : "updated"),
      body.validation_note);
}

http_response conditional_delete(const context& c, const std::string& type) {
  const access a = authorize(c, auth::interaction::remove, type);
  if (!a.allowed) return forbidden(c, a);
  const std::string condition = condition_of(c);
  if (condition.empty()) {
    return error_response(400, "invalid", "a conditional delete needs search parameters in the URL", c.fmt, c.defs);
  }
  bool bad_if_match = false;
  const auto if_match = if_match_of(c, bad_if_match);
  if (bad_if_match) {
    return error_response(400, "invalid", "If-Match must be a version ETag such as W/\"1\"", c.fmt, c.defs);
  }
  auto m = resolve_conditional(c, type, condition);
  if (!m) return store_failure(c, m.error());
  if (m->count > 1) {
    // http.html#cdelete: a server that deletes one resource at most answers
    // 412 when the search finds several.
    return error_response(412, "multiple-matches", "the search matches more than one resource, and a conditional delete here deletes at most one: nothing was deleted",
                          c.fmt, c.defs);
  }
  if (m->count == 0) {
    // "No matches: The server performs an ordinary delete on an unknown
    // resource" — which succeeds without deleting anything.
    return delete_response(c, store::write_outcome{});
  }
  if (auto ok = reaches(c, a, *m->match); !ok || !*ok) {
    return ok ? forbidden(c, a, "the resource is outside what the granted scopes reach") : store_failure(c, ok.error());
  }
  store::delete_options o;
  o.expected_version = expected(if_match, *m->match);
  auto w = c.store.remove(type, m->match->id, o, write_hook_of(c));
  if (!w) return store_failure(c, w.error(), if_match.has_value());
  return delete_response(c, *w);
}

}  // namespace hearth::server::rest
