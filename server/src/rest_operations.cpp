// Operations: $meta, $meta-add, $meta-delete (R4 resource-operations.html),
// $validate (operation-resource-validate.html) and Patient/$everything
// (patient-operation-everything.html); R4 operations.html for how they are
// invoked.

#include "rest_operations.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/server/validation_support.hpp>
#include <hearth/store/date_range.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/search_request.hpp>

#include "rest_auth.hpp"
#include "rest_bundle.hpp"
#include "rest_cursor.hpp"
#include "rest_outcome.hpp"
#include "rest_subset.hpp"
#include "rest_terminology.hpp"

namespace hearth::server::rest {

namespace {

namespace ec = store::error_codes;

// --- shared ------------------------------------------------------------------

/// Where an operation was invoked (R4 operations.html#executing).
enum class op_level : unsigned char { system, type, instance, version };

struct op_target {
  op_level level = op_level::system;
  std::string_view name;  ///< without the '$'
  std::string_view type;  ///< empty at the system level
  std::string_view id;    ///< instance and version levels
  std::int64_t vid = 0;   ///< version level
};

}  // namespace

// --- shared with rest_terminology (rest_operations.hpp) ---------------------

http_response not_allowed(const context& c, std::string_view allow) {
  http_response res = error_response(405, "not-supported", "method not allowed here; allowed: " + std::string(allow),
                                     c.fmt, c.defs);
  res.set_header("Allow", std::string(allow));
  return res;
}

http_response bad_request(const context& c, std::string code, std::string message) {
  return error_response(400, std::move(code), std::move(message), c.fmt, c.defs);
}

/// A resource (Parameters, OperationOutcome) as the 200 of an operation.
http_response resource_200(const context& c, const fhir::json_value& r) {
  auto body = write_resource(r, c.fmt, c.defs);
  if (!body) return internal_error(c.req.request_id, c.fmt, c.defs);
  http_response res;
  res.status = 200;
  res.body = std::move(*body);
  res.set_header("Content-Type", content_type(c.fmt.format));
  return res;
}

/// The body of a POST, read by its Content-Type (JSON or XML) into a JSON
/// object with a resourceType; nullopt and `error` set otherwise (415, 400).
std::optional<fhir::json_value> read_op_body(const context& c, http_response& error) {
  const auto f = format_of_content_type(c.req.header("Content-Type"));
  if (!f) {
    error = error_response(415, "not-supported", "the body must be application/fhir+json or application/fhir+xml",
                           c.fmt, c.defs);
    return std::nullopt;
  }
  auto parsed = read_body(c.req.body, *f, c.defs);
  if (!parsed) {
    error = error_response(400, parsed.error(), c.fmt, c.defs);
    return std::nullopt;
  }
  const fhir::json_value* rt = parsed->is_object() ? parsed->find("resourceType") : nullptr;
  if (rt == nullptr || !rt->is_string()) {
    error = bad_request(c, "structure", "the body is not a FHIR resource (no resourceType)");
    return std::nullopt;
  }
  return std::move(*parsed);
}

/// A string member, or "" when absent or not a string.
std::string_view string_at(const fhir::json_value& v, std::string_view key) {
  const fhir::json_value* m = v.find(key);
  return m != nullptr && m->is_string() ? std::string_view(m->str()) : std::string_view();
}

namespace {

/// Parameters with one parameter `return` of `value_key` (R4
/// operations.html#response: an operation's out parameters).
fhir::json_value parameters_return(std::string_view value_key, fhir::json_value value) {
  fhir::json_value p = fhir::json_value::object();
  p.set("name", "return");
  p.set(value_key, std::move(value));
  fhir::json_value list = fhir::json_value::array();
  list.push_back(std::move(p));
  fhir::json_value out = fhir::json_value::object();
  out.set("resourceType", "Parameters");
  out.set("parameter", std::move(list));
  return out;
}

// --- $meta, $meta-add, $meta-delete -------------------------------------------

/// meta of a stored version's JSON; nullopt when it does not parse (stored
/// bodies were checked when written: the caller answers 500).
std::optional<fhir::json_value> meta_of(const std::string& json) {
  auto tree = fhir::parse_json(json);
  if (!tree) return std::nullopt;
  const fhir::json_value* meta = tree->find("meta");
  // The store sets meta.versionId and meta.lastUpdated on every version, so
  // meta is never absent or empty.
  if (meta == nullptr || !meta->is_object()) return std::nullopt;
  return *meta;
}

http_response meta_answer(const context& c, const store::resource_version& v) {
  auto meta = meta_of(v.json);
  if (!meta) return internal_error(c.req.request_id, c.fmt, c.defs);
  // The whole meta of the version: its profiles, security labels and tags
  // (what $meta is about), with versionId and lastUpdated, so the answer
  // says which version it describes.
  return resource_200(c, parameters_return("valueMeta", std::move(*meta)));
}

/// A coding of a label in use as FHIR JSON: system (when there is one) and
/// code; the index keeps no display (store::meta_summary).
fhir::json_value coding_of(const store::meta_summary::coding& x) {
  fhir::json_value out = fhir::json_value::object();
  if (!x.system.empty()) out.set("system", x.system);
  out.set("code", x.code);
  return out;
}

/// The Meta that sums up the labels in use: profile, security, tag (in
/// Meta's element order), each left out when empty.
fhir::json_value meta_of_summary(const store::meta_summary& m) {
  fhir::json_value meta = fhir::json_value::object();
  if (!m.profiles.empty()) {
    fhir::json_value list = fhir::json_value::array();
    for (const std::string& p : m.profiles) list.push_back(fhir::json_value(p));
    meta.set("profile", std::move(list));
  }
  const auto add_codings = [&](std::string_view key, const std::vector<store::meta_summary::coding>& codings) {
    if (codings.empty()) return;
    fhir::json_value list = fhir::json_value::array();
    for (const auto& x : codings) list.push_back(coding_of(x));
    meta.set(key, std::move(list));
  };
  add_codings("security", m.security);
  add_codings("tag", m.tags);
  return meta;
}

/// R4 resource-operations.html#meta at the type and system levels: "a
/// summary of all the labels that are in use across the system" (or the
/// type), from the search index of current resources. A token reaching the
/// type only through a patient compartment or granular filters would learn
/// the labels of resources it cannot read: 403, as type and system history
/// (rest_search.cpp). At the system level, the types the token may not
/// search without restriction are left out (AuditEvent, which "*" does not
/// cover).
http_response meta_across(const context& c, const op_target& t, const access& a) {
  if (!a.unrestricted()) {
    return forbidden(c, a, "$meta across a type or the system needs a grant without patient or granular "
                           "restriction");
  }
  std::vector<std::string> types;
  if (t.level == op_level::type) {
    types.emplace_back(t.type);
  } else {
    for (const std::string_view type : c.defs.resource_types()) {
      if (!enforced(c) || authorize(c, auth::interaction::search_type, type).unrestricted()) {
        types.emplace_back(type);
      }
    }
  }
  auto m = c.store.meta_in_use(types);
  if (!m) return store_failure(c, m.error());
  if (m->profiles.empty() && m->security.empty() && m->tags.empty()) {
    // Nothing labelled: a Parameters without `return`. Its Meta would be
    // empty, and FHIR JSON objects are never empty (R4 json.html), which a
    // strict parser (Hearth's own) refuses; the missing 1..1 parameter is
    // the lesser deviation.
    fhir::json_value empty = fhir::json_value::object();
    empty.set("resourceType", "Parameters");
    return resource_200(c, empty);
  }
  return resource_200(c, parameters_return("valueMeta", meta_of_summary(*m)));
}

/// R4 resource-operations.html#meta: system, type, instance and version
/// levels.
http_response meta_op(const context& c, const op_target& t) {
  if (c.req.method != "GET" && c.req.method != "POST") return not_allowed(c, "GET, POST");
  // SMART (rest_auth.hpp): $meta reads; across a type or the system it is a
  // search, at a resource a read, at a version a vread.
  const auth::interaction what = t.level == op_level::system   ? auth::interaction::search_system
                                 : t.level == op_level::type     ? auth::interaction::search_type
                                 : t.level == op_level::instance ? auth::interaction::read
                                                                 : auth::interaction::vread;
  const access a = authorize(c, what, t.type);
  if (!a.allowed) return forbidden(c, a);
  if (t.level == op_level::system || t.level == op_level::type) return meta_across(c, t, a);
  if (t.level == op_level::instance) {
    http_response answer;
    auto v = current_for_read(c, a, std::string(t.type), std::string(t.id), answer);
    if (!v) return answer;
    return meta_answer(c, *v);
  }
  auto v = c.store.vread(t.type, t.id, t.vid);
  if (!v) return store_failure(c, v.error());
  if (!a.unrestricted()) {
    // As vread: what the grant does not reach (a tombstone included) is absent.
    if (v->deleted) return hidden(c, true);
    auto ok = reaches(c, a, *v);
    if (!ok) return store_failure(c, ok.error());
    if (!*ok) return hidden(c, true);
  }
  if (v->deleted) return error_response(410, "deleted", "this version is a deletion", c.fmt, c.defs);
  return meta_answer(c, *v);
}

/// Coding identity for tags and security labels (R4 $meta-add: "The
/// identity of a tag or security label is the system+code ... version and
/// display are ignored"); an absent system or code only equals an absent one.
bool same_coding(const fhir::json_value& a, const fhir::json_value& b) {
  const auto same = [&](std::string_view k) {
    const fhir::json_value* x = a.find(k);
    const fhir::json_value* y = b.find(k);
    if (x == nullptr || y == nullptr) return x == y;
    return x->is_string() && y->is_string() && x->str() == y->str();
  };
  return same("system") && same("code");
}

/// Profiles match on the full canonical URL.
bool same_profile(const fhir::json_value& a, const fhir::json_value& b) {
  return a.is_string() && b.is_string() && a.str() == b.str();
}

/// Adds (`add`) or removes the items of `change[key]` to or from
/// `meta[key]`, as sets under `same`; true when meta changed. An array left
/// empty is removed (R4 json.html: no empty arrays).
template <class Same>
bool merge_set(fhir::json_value& meta, const fhir::json_value& change, std::string_view key, bool add, Same same) {
  const fhir::json_value* items = change.find(key);
  if (items == nullptr || !items->is_array()) return false;
  fhir::json_value* target = meta.find(key);
  bool changed = false;
  for (const fhir::json_value& item : items->items()) {
    if (add) {
      if (target == nullptr || !target->is_array()) target = &meta.set(key, fhir::json_value::array());
      const auto& have = target->items();
      if (std::none_of(have.begin(), have.end(), [&](const fhir::json_value& h) { return same(h, item); })) {
        target->push_back(item);
        changed = true;
      }
    } else if (target != nullptr && target->is_array()) {
      auto& have = target->items();
      const auto gone =
          std::remove_if(have.begin(), have.end(), [&](const fhir::json_value& h) { return same(h, item); });
      if (gone != have.end()) {
        have.erase(gone, have.end());
        changed = true;
      }
    }
  }
  if (target != nullptr && target->is_array() && target->items().empty()) meta.erase(key);
  return changed;
}

/// Applies the profiles, security labels and tags of `change` (a Meta) to
/// the resource `r`; true when its meta changed.
bool apply_meta_change(fhir::json_value& r, const fhir::json_value& change, bool add) {
  fhir::json_value* meta = r.find("meta");
  if (meta == nullptr || !meta->is_object()) meta = &r.set("meta", fhir::json_value::object());
  bool changed = merge_set(*meta, change, "profile", add, same_profile);
  changed = merge_set(*meta, change, "security", add, same_coding) || changed;
  changed = merge_set(*meta, change, "tag", add, same_coding) || changed;
  return changed;
}

/// The valueMeta of the one `meta` parameter of a $meta-add/$meta-delete
/// body; nullopt and `error` set when the body is not such a Parameters.
std::optional<fhir::json_value> meta_parameter(const context& c, http_response& error) {
  auto body = read_op_body(c, error);
  if (!body) return std::nullopt;
  if (string_at(*body, "resourceType") != "Parameters") {
    error = bad_request(c, "invalid", "the body must be a Parameters resource with a 'meta' parameter");
    return std::nullopt;
  }
  const fhir::issue_list issues = fhir::check_resource(*body, c.defs);
  if (fhir::has_errors(issues)) {
    error = outcome_response(400, issues, c.fmt, c.defs);
    return std::nullopt;
  }
  const fhir::json_value* params = body->find("parameter");
  std::optional<fhir::json_value> meta;
  if (params != nullptr) {
    for (const fhir::json_value& p : params->items()) {
      const fhir::json_value* value = p.find("valueMeta");
      // The operation has one parameter: anything else is a mistake the
      // client should hear about rather than have ignored.
      if (string_at(p, "name") != "meta" || value == nullptr || meta) {
        error = bad_request(c, "invalid", "the body must hold exactly one parameter 'meta' with a valueMeta");
        return std::nullopt;
      }
      meta = *value;
    }
  }
  if (!meta) error = bad_request(c, "required", "the parameter 'meta' (valueMeta) is missing");
  return meta;
}

/// Attempts of one $meta-add/$meta-delete: each retry follows a conflict,
/// i.e. another write of the same resource between our read and write. Three
/// lost races in a row mean a resource written constantly; the client is
/// told (409) instead of the request holding a worker.
constexpr int max_meta_attempts = 3;

/// R4 resource-operations.html#meta-add, #meta-delete.
///
/// R4 says these operations change meta without creating a new version.
/// Hearth's store records every change as a version (its history and ETags
/// depend on it), so a change is written as an update of the current
/// version, guarded by expected_version (the version read) and retried on a
/// conflict. Nothing to change writes nothing, and answers the current meta.
http_response meta_change(const context& c, const op_target& t, bool add) {
  if (c.req.method != "POST") return not_allowed(c, "POST");
  // SMART (rest_auth.hpp): an update that answers with the resource's meta,
  // so u and r, each reaching the resource (and u the changed content).
  const access write = authorize(c, auth::interaction::update, t.type);
  if (!write.allowed) return forbidden(c, write);
  const access read = authorize(c, auth::interaction::read, t.type);
  if (t.level == op_level::instance && !read.allowed) return forbidden(c, read);
  if (t.level != op_level::instance) {
    return bad_request(c, "not-supported", std::string(add ? "$meta-add" : "$meta-delete") +
                                               " is invoked on a resource: POST [type]/[id]/" +
                                               (add ? "$meta-add" : "$meta-delete"));
  }
  http_response error;
  const auto change = meta_parameter(c, error);
  if (!change) return error;
  for (int attempt = 0; attempt < max_meta_attempts; ++attempt) {
    http_response answer;
    auto v = current_for_read(c, read, std::string(t.type), std::string(t.id), answer);
    if (!v) return answer;  // 404, 410; 404 for what the read grant does not reach
    if (auto ok = reaches(c, write, *v); !ok || !*ok) {
      return ok ? forbidden(c, write, "the resource is outside what the granted scopes reach")
                : store_failure(c, ok.error());
    }
    auto tree = fhir::parse_json(v->json);
    if (!tree) return internal_error(c.req.request_id, c.fmt, c.defs);
    if (!apply_meta_change(*tree, *change, add)) return meta_answer(c, *v);
    if (!reaches_content(c, write, *tree)) {
      return forbidden(c, write, "the changed resource would be outside what the granted scopes reach");
    }
    store::update_options o;
    o.expected_version = v->version_id;
    o.allow_create = false;
    auto w = c.store.update(t.type, t.id, std::move(*tree), o, write_hook_of(c));
    if (w) return meta_answer(c, w->version);
    if (w.error().code != ec::conflict) return write_failure(c, w.error(), false);
  }
  return error_response(409, "conflict", "the resource kept changing while its meta was being updated; try again",
                        c.fmt, c.defs);
}

// --- $validate ----------------------------------------------------------------

/// R4 valueset-resource-validation-mode.
enum class validate_mode : unsigned char { general, create, update, remove };

/// The inputs of $validate, from the URL and the body.
struct validate_input {
  std::optional<fhir::json_value> resource;
  validate_mode mode = validate_mode::general;
  bool mode_given = false;
  std::optional<std::string> profile;
};

std::optional<validate_mode> mode_of(std::string_view v) {
  if (v == "create") return validate_mode::create;
  if (v == "update") return validate_mode::update;
  if (v == "delete") return validate_mode::remove;
  return std::nullopt;
}

/// Reads mode and profile (URL or Parameters: R4 operations.html lets
/// primitive parameters travel in the URL) into `in`; an error message when
/// one is malformed or given twice.
std::optional<std::string> set_validate_param(validate_input& in, std::string_view name, std::string_view value) {
  if (name == "mode") {
    if (in.mode_given) return "mode is given more than once";
    const auto m = mode_of(value);
    if (!m) return "mode takes create, update or delete";
    in.mode = *m;
    in.mode_given = true;
  } else if (name == "profile") {
    if (in.profile) return "profile is given more than once";
    if (value.empty()) return "profile is empty";
    in.profile = std::string(value);
  }
  return std::nullopt;
}

/// The inputs of a $validate request; nullopt and `error` set when they
/// cannot be read.
std::optional<validate_input> read_validate_input(const context& c, const op_target& t, http_response& error) {
  validate_input in;
  for (const auto& [name, value] : c.params) {
    if (name == "mode" || name == "profile") {
      if (auto bad = set_validate_param(in, name, value)) {
        error = bad_request(c, "invalid", std::move(*bad));
        return std::nullopt;
      }
    }
  }
  if (c.req.body.empty()) return in;
  auto body = read_op_body(c, error);
  if (!body) return std::nullopt;
  // A Parameters body wraps the inputs (resource, mode, profile), unless
  // the type validated is Parameters itself; any other resource is the
  // resource to validate (R4 operations.html: a single resource input may be
  // the body).
  if (string_at(*body, "resourceType") != "Parameters" || t.type == "Parameters") {
    in.resource = std::move(*body);
    return in;
  }
  const fhir::json_value* params = body->find("parameter");
  if (params == nullptr) return in;
  if (!params->is_array()) {
    error = bad_request(c, "structure", "Parameters.parameter must be an array");
    return std::nullopt;
  }
  for (const fhir::json_value& p : params->items()) {
    const std::string_view name = p.is_object() ? string_at(p, "name") : std::string_view();
    if (name.empty()) {
      error = bad_request(c, "structure", "every Parameters.parameter needs a name");
      return std::nullopt;
    }
    if (name == "resource") {
      const fhir::json_value* r = p.find("resource");
      if (r == nullptr || !r->is_object() || in.resource) {
        error = bad_request(c, "invalid", "the parameter 'resource' must hold one resource, once");
        return std::nullopt;
      }
      in.resource = *r;
    } else if (name == "mode" || name == "profile") {
      std::string_view value = string_at(p, name == "mode" ? "valueCode" : "valueCanonical");
      if (value.empty()) value = string_at(p, "valueUri");
      if (value.empty()) {
        error = bad_request(c, "invalid", "the parameter '" + std::string(name) + "' needs a value");
        return std::nullopt;
      }
      if (auto bad = set_validate_param(in, name, value)) {
        error = bad_request(c, "invalid", std::move(*bad));
        return std::nullopt;
      }
    } else {
      error = bad_request(c, "not-supported", "$validate takes the parameters resource, mode and profile");
      return std::nullopt;
    }
  }
  return in;
}

/// R4 operation-resource-validate.html. The answer is 200 with the
/// OperationOutcome whether or not the resource is valid: the operation's
/// one out parameter, `return`, is that outcome ("If the operation outcome
/// does not list any errors, and a mode was specified, then this is an
/// indication that the operation would be expected to succeed"). A 4xx
/// means the validation itself could not be run (no resource, a body that
/// is not FHIR, update or delete at the type level).
http_response validate(const context& c, const op_target& t) {
  if (c.req.method != "POST") return not_allowed(c, "POST");
  if (t.level != op_level::type && t.level != op_level::instance) {
    return bad_request(c, "not-supported", "$validate is invoked as [type]/$validate or [type]/[id]/$validate");
  }
  http_response error;
  auto in = read_validate_input(c, t, error);
  if (!in) return error;
  const bool instance = t.level == op_level::instance;
  if ((in->mode == validate_mode::update || in->mode == validate_mode::remove) && !instance) {
    // operation-resource-validate.html: "Modes update and delete can only
    // be used when the operation is invoked at the resource instance level".
    return bad_request(c, "invalid", "mode update and delete need [type]/[id]/$validate");
  }
  fhir::issue_list issues;
  if (in->mode == validate_mode::remove) {
    // "The server ignores the content, and checks that the nominated
    // resource is allowed to be deleted." Hearth has no rule against a
    // delete; deleting what is absent or deleted is not an error either (R4
    // http.html#delete), so that case is a warning, not an error.
    auto v = c.store.read(t.type, t.id);
    // $validate needs no data permission (rest_auth.hpp), so it must not
    // tell a resource the token cannot read from an absent one.
    bool absent = !v;
    if (v) {
      auto readable = may_read(c, *v);
      if (!readable) return store_failure(c, readable.error());
      absent = !*readable;
    }
    if (absent) {
      if (!v && v.error().code != ec::not_found && v.error().code != ec::deleted) return store_failure(c, v.error());
      issues.push_back(fhir::issue{fhir::issue_severity::warning, "not-found",
                                   "there is no current resource to delete: a delete would change nothing", {}});
    }
  } else {
    if (!in->resource) return bad_request(c, "required", "no resource to validate (the body is empty)");
    const fhir::json_value& r = *in->resource;
    const std::string_view rt = string_at(r, "resourceType");
    if (rt != t.type) {
      issues.push_back(fhir::issue{fhir::issue_severity::error, "invalid",
                                   "the resource type does not match the type in the URL", {}});
    }
    if (in->mode == validate_mode::update && string_at(r, "id") != t.id) {
      // R4 http.html#update: the id in the body must equal the URL's.
      issues.push_back(fhir::issue{fhir::issue_severity::error, "invalid",
                                   "for an update the resource's id must equal the id in the URL",
                                   std::string(t.type) + ".id"});
    }
    if (c.opts.validation == nullptr) {
      const fhir::issue_list found = fhir::check_resource(r, c.defs);
      issues.insert(issues.end(), found.begin(), found.end());
      const fhir::json_value* meta = r.find("meta");
      const fhir::json_value* claimed = meta != nullptr ? meta->find("profile") : nullptr;
      if (claimed != nullptr && claimed->is_array() && !claimed->items().empty()) {
        issues.push_back(fhir::issue{fhir::issue_severity::information, "informational",
                                     "the profiles listed in meta.profile were not checked: profile validation is "
                                     "not configured on this server",
                                     std::string(rt.empty() ? t.type : rt) + ".meta.profile"});
      }
      if (in->profile) {
        // operation-resource-validate.html: "If a profile is nominated, and
        // the server cannot validate against the nominated profile, it SHALL
        // return an error". An error issue, so that the outcome never reads
        // as a pass.
        issues.push_back(fhir::issue{fhir::issue_severity::error, "not-supported",
                                     "the resource was not validated against the requested profile: profile "
                                     "validation is not configured on this server",
                                     {}});
      }
    } else {
      // The base definitions (structure, invariants, bindings), meta.profile
      // and the nominated profile: an unknown nominated profile is an error
      // issue of the validator's ("not-found"), as the operation requires.
      std::vector<std::string> nominated;
      if (in->profile) nominated.push_back(*in->profile);
      auto found = c.opts.validation->validate(r, nominated, terminology_resolver(c));
      if (!found) return internal_error(c.req.request_id, c.fmt, c.defs);
      issues.insert(issues.end(), found->begin(), found->end());
    }
  }
  if (!fhir::has_errors(issues)) {
    issues.push_back(fhir::issue{fhir::issue_severity::information, "informational",
                                 c.opts.validation == nullptr
                                     ? "validation successful: the structural checks against the R4 definitions "
                                       "found no errors (profile validation is not configured on this server)"
                                     : "validation successful: no errors against the R4 definitions and the "
                                       "profiles asked for",
                                 {}});
  }
  return outcome_response(200, issues, c.fmt, c.defs);
}

// --- validation of writes (rest_interactions.hpp) -------------------------------

}  // namespace

write_validation validate_write(const context& c, const fhir::json_value& resource) {
  write_validation out;
  if (c.opts.validation == nullptr) return out;
  const std::string_view type = string_at(resource, "resourceType");
  const validation_mode mode = c.opts.validation->policy().mode_for(type);
  if (mode == validation_mode::off) return out;
  auto issues = c.opts.validation->validate(resource, {}, terminology_resolver(c));
  if (!issues) {
    out.refusal = internal_error(c.req.request_id, c.fmt, c.defs);
    return out;
  }
  std::size_t errors = 0;
  std::size_t warnings = 0;
  for (const fhir::issue& i : *issues) {
    if (i.severity == fhir::issue_severity::error || i.severity == fhir::issue_severity::fatal) ++errors;
    if (i.severity == fhir::issue_severity::warning) ++warnings;
  }
  if (mode == validation_mode::enforce && errors > 0) {
    out.refusal = outcome_response(422, *issues, c.fmt, c.defs);
    for (const fhir::issue& i : *issues) {
      if (i.severity == fhir::issue_severity::error || i.severity == fhir::issue_severity::fatal) {
        out.first_error = i;
        break;
      }
    }
    return out;
  }
  out.note = "errors=" + std::to_string(errors) + ", warnings=" + std::to_string(warnings);
  return out;
}

http_response with_validation_note(http_response res, const std::string& note) {
  if (!note.empty()) res.set_header("Hearth-Validation", note);
  return res;
}

namespace {

// --- Patient/$everything --------------------------------------------------------

/// Entries one $everything page holds unless _count says otherwise; the most
/// it holds: as search (search_request::default_count, max_count), since each
/// page is made of compartment searches.
constexpr std::size_t everything_default_count = store::search_request::default_count;
constexpr std::size_t everything_max_count = store::search_request::max_count;

/// Longest _cursor accepted: a store cursor (parse_search refuses longer
/// than 4096 bytes) plus our prefix and a type name.
constexpr std::size_t max_everything_cursor = 4096 + 128;

/// 64-bit FNV-1a over length-prefixed fields: binds a cursor to the request
/// it came from. Not a secret: the cursor carries no authority (see
/// everything_cursor), the check only refuses a cursor used with another
/// patient, _type or _since.
class fingerprint {
 public:
  void field(std::string_view s) {
    const std::string n = std::to_string(s.size()) + ":";
    bytes(n);
    bytes(s);
  }
  std::string hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    std::uint64_t h = h_;
    for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = digits[h & 15];
    return out;
  }

 private:
  void bytes(std::string_view s) {
    for (const char ch : s) {
      h_ ^= static_cast<unsigned char>(ch);
      h_ *= 1099511628211ull;
    }
  }
  std::uint64_t h_ = 14695981039346656037ull;
};

/// The parameters of one $everything request.
struct everything_query {
  std::size_t count = everything_default_count;
  std::optional<std::string> since;  ///< _since as given (checked)
  std::int64_t since_ms = 0;         ///< its lower bound
  /// The resource types asked for, in the order of the definitions; all
  /// the Patient compartment's when _type is absent.
  std::vector<std::string_view> types;
  bool include_patient = true;  ///< the focal Patient (not left out by _type)
  std::string cursor;
  subset_spec subset;
  param_list used;  ///< for the links
};

bool is_cursor_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/// The position a next link continues from.
struct everything_position {
  std::size_t type_index = 0;  ///< into everything_query::types
  std::string store_cursor;    ///< the compartment search's cursor in that type; empty: its start
};

/// The opaque cursor of a next link: "e1.<fingerprint>.<Type>[.<store
/// cursor>]". It carries no authority: the patient, _type and _since come
/// from the URL of every page; the cursor only says where to continue, and
/// is refused unless it matches them exactly (fingerprint), names one of the
/// types asked for, and holds a store cursor the store accepts for that very
/// compartment search (the store checks its own fingerprint). Altering it
/// therefore cannot reach anything the request could not ask for anyway.
std::string encode_everything_cursor(const std::string& print, std::string_view type, const std::string& store) {
  std::string s = "e1." + print + "." + std::string(type);
  if (!store.empty()) s += "." + store;
  return s;
}

std::optional<everything_position> decode_everything_cursor(std::string_view s, const std::string& print,
                                                            const std::vector<std::string_view>& types) {
  if (s.size() > max_everything_cursor) return std::nullopt;
  const std::string head = "e1." + print + ".";
  if (!s.starts_with(head)) return std::nullopt;
  s.remove_prefix(head.size());
  const std::size_t dot = s.find('.');
  const std::string_view type = s.substr(0, dot);
  const auto it = std::find(types.begin(), types.end(), type);
  if (it == types.end()) return std::nullopt;
  everything_position pos;
  pos.type_index = static_cast<std::size_t>(it - types.begin());
  if (dot != std::string_view::npos) {
    const std::string_view store = s.substr(dot + 1);
    if (store.empty() || !std::all_of(store.begin(), store.end(), is_cursor_char)) return std::nullopt;
    pos.store_cursor = std::string(store);
  }
  return pos;
}

std::string everything_print(std::string_view patient_id, const everything_query& q) {
  fingerprint f;
  f.field(patient_id);
  f.field(q.since.value_or(""));
  f.field(q.include_patient ? "patient" : "");
  for (const std::string_view t : q.types) f.field(t);
  return f.hex();
}

/// Reads the parameters of $everything; an error response when one is
/// malformed or not supported.
std::optional<http_response> read_everything_params(const context& c, everything_query& q) {
  bool have_type = false;
  bool have_count = false;
  bool have_cursor = false;
  std::vector<std::string_view> asked;
  for (const auto& [name, value] : c.params) {
    if (name == "_format" || name == "_pretty" || name == "_summary" || name == "_elements") {
      q.used.emplace_back(name, value);  // _summary and _elements: read by subset_of_params below
      continue;
    }
    if (name == "_count") {
      std::size_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec == std::errc::result_out_of_range) n = everything_max_count;
      else if (have_count || value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || n == 0) {
        return bad_request(c, "invalid", "_count must be a positive whole number, given once");
      }
      have_count = true;
      q.count = std::min(n, everything_max_count);  // as search: above the maximum, fewer are returned
    } else if (name == "_since") {
      const auto d = store::parse_date_range(value);
      if (!d || q.since) return bad_request(c, "invalid", "_since must be an instant, given once");
      q.since = value;
      q.since_ms = d->low;
    } else if (name == "_type") {
      // One or more parameters, each a comma list (patient-operation-everything.html).
      have_type = true;
      std::string_view rest = value;
      while (true) {
        const std::size_t comma = rest.find(',');
        const std::string_view t = rest.substr(0, comma);
        if (!c.defs.is_resource_type(t) || !c.defs.in_patient_compartment(t)) {
          return bad_request(c, "invalid", "_type lists a type that is not a resource type in the Patient compartment");
        }
        asked.push_back(t);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (name == "_cursor") {
      if (have_cursor || value.empty()) return bad_request(c, "invalid", "_cursor must be given once, not empty");
      have_cursor = true;
      auto plain = open_cursor(cursor_key(c.opts), value);  // next links carry sealed cursors (rest_cursor.hpp)
      if (!plain) return bad_request(c, "invalid", "the cursor does not belong to this $everything request");
      q.cursor = std::move(*plain);
    } else if (name == "start" || name == "end") {
      // Care dates need each type's clinical date parameter (and a rule for
      // resources without one); not offered rather than approximated.
      return bad_request(c, "not-supported", "start and end are not supported by $everything; use _since or _type");
    } else if (c.handling == store::search_handling::strict) {
      return bad_request(c, "not-supported", "a parameter $everything does not support was given");
    } else {
      continue;  // lenient: left out, and out of the links
    }
    q.used.emplace_back(name, value);
  }
  auto subset = subset_of_params(c.params);
  if (!subset) return error_response(400, subset.error(), c.fmt, c.defs);
  if (subset->mode == subset_mode::count) {
    return bad_request(c, "not-supported", "_summary=count is not supported by $everything");
  }
  q.subset = std::move(*subset);
  // The compartment types in the definitions' (sorted) order, so that pages
  // follow one fixed order whatever order _type lists them in.
  for (const std::string_view t : c.defs.resource_types()) {
    if (c.defs.patient_compartment_params(t).empty()) continue;
    if (have_type && std::find(asked.begin(), asked.end(), t) == asked.end()) continue;
    q.types.push_back(t);
  }
  q.include_patient = !have_type || std::find(asked.begin(), asked.end(), "Patient") != asked.end();
  return std::nullopt;
}

/// R4 patient-operation-everything.html: the Patient and the resources of
/// its compartment, as pages of a searchset. A page is filled by compartment
/// searches of one type after another (at most one per compartment type,
/// a number the definitions fix), each asked for what the page still has
/// room for; the next link continues in the type, and at the place in it,
/// where the page filled up.
///
/// Not included: resources outside the compartment that the record refers
/// to (Practitioner, Organization, Medication...), which the operation says
/// the server "also returns"; and Bundle.total unless one page holds it all.
http_response everything(const context& c, const op_target& t) {
  if (c.req.method == "POST") {
    if (!c.req.body.empty()) {
      return bad_request(c, "not-supported", "$everything takes its parameters in the URL; the body must be empty");
    }
  } else if (c.req.method != "GET") {
    return not_allowed(c, "GET, POST");
  }
  if (t.level != op_level::instance) {
    return error_response(501, "not-supported",
                          "$everything is supported for one patient (Patient/[id]/$everything), not for all patients",
                          c.fmt, c.defs);
  }
  // SMART (rest_auth.hpp): the Patient must be one the token may read or
  // search (for patient-level grants: the patient in context; any other is
  // answered as absent), and each compartment type is searched as the token
  // may search or read it: left out when it may not, restricted by its
  // granular filters (left out when they cannot be applied exactly).
  const access patient_access = either(authorize(c, auth::interaction::read, "Patient"),
                                       authorize(c, auth::interaction::search_type, "Patient"));
  if (!patient_access.allowed) return forbidden(c, patient_access);
  everything_query q;
  if (auto bad = read_everything_params(c, q)) return std::move(*bad);
  http_response answer;
  auto patient = current_for_read(c, patient_access, "Patient", std::string(t.id), answer);
  if (!patient) return answer;  // 404, 410
  std::map<std::string_view, param_list> restriction;  // per type kept: criteria to add
  if (enforced(c)) {
    std::erase_if(q.types, [&](std::string_view type) {
      const access a = either(authorize(c, auth::interaction::search_type, type),
                              authorize(c, auth::interaction::read, type));
      auto criteria = compartment_criteria(c, a, t.id);
      if (!criteria) return true;
      restriction.emplace(type, std::move(*criteria));
      return false;
    });
  }

  const std::string print = everything_print(t.id, q);
  everything_position pos;
  const bool first_page = q.cursor.empty();
  if (!first_page) {
    auto p = decode_everything_cursor(q.cursor, print, q.types);
    if (!p) return bad_request(c, "invalid", "the cursor does not belong to this $everything request");
    pos = std::move(*p);
  }

  bundle b;
  b.type = "searchset";
  std::deque<store::search_page> pages;  // the entries point into these; a deque never moves them
  std::size_t room = q.count;
  if (first_page && q.include_patient &&
      (!q.since || patient->last_updated >= store::instant(std::chrono::milliseconds(q.since_ms)))) {
    b.entries.push_back(bundle_entry{entry_full_url(c.opts.base_url, *patient), &*patient, {}, search_tail("match")});
    --room;
  }
  const store::search_compartment compartment{"Patient", std::string(t.id)};
  std::string next;
  for (std::size_t i = pos.type_index; i < q.types.size(); ++i) {
    const std::string_view type = q.types[i];
    if (room == 0) {
      next = encode_everything_cursor(print, type, "");
      break;
    }
    param_list params;
    params.emplace_back("_count", std::to_string(room));
    if (q.since) params.emplace_back("_lastUpdated", "ge" + *q.since);
    if (const auto r = restriction.find(type); r != restriction.end()) {
      params.insert(params.end(), r->second.begin(), r->second.end());
    }
    if (i == pos.type_index && !pos.store_cursor.empty()) params.emplace_back("_cursor", pos.store_cursor);
    auto req = store::parse_search(c.defs, type, params, store::search_handling::strict, compartment);
    if (!req) return store_failure(c, req.error());
    auto page = c.store.search(*req);
    if (!page) return store_failure(c, page.error());  // a cursor the store refuses: 400
    pages.push_back(std::move(*page));
    for (const store::resource_version& v : pages.back().matches) {
      if (v.type == "Patient" && v.id == t.id) continue;  // the focal patient is listed first
      b.entries.push_back(bundle_entry{entry_full_url(c.opts.base_url, v), &v, {}, search_tail("match")});
      if (room > 0) --room;
    }
    if (!pages.back().next_cursor.empty()) {
      next = encode_everything_cursor(print, type, pages.back().next_cursor);
      break;
    }
  }
  if (first_page && next.empty()) b.total = static_cast<std::int64_t>(b.entries.size());
  add_page_links(b, c.opts, "/Patient/" + std::string(t.id) + "/$everything", q.used, next);
  if (auto r = subset_entries(b, q.subset, c.defs); !r) return internal_error(c.req.request_id, c.fmt, c.defs);
  return bundle_response(b, c.fmt, c.defs, c.req.request_id);
}

// --- routing ------------------------------------------------------------------

bool is_op(const std::string& s) { return s.size() > 1 && s.front() == '$'; }

/// The operation's target from the routed segments; nullopt for a shape
/// that names none.
std::optional<op_target> target_of(const std::vector<std::string>& s) {
  op_target t;
  const std::size_t n = s.size();
  if (n == 1 && is_op(s[0])) {
    t.level = op_level::system;
    t.name = std::string_view(s[0]).substr(1);
  } else if (n == 2 && is_op(s[1])) {
    t.level = op_level::type;
    t.type = s[0];
    t.name = std::string_view(s[1]).substr(1);
  } else if (n == 3 && is_op(s[2]) && valid_id(s[1])) {
    t.level = op_level::instance;
    t.type = s[0];
    t.id = s[1];
    t.name = std::string_view(s[2]).substr(1);
  } else if (n == 5 && s[2] == "_history" && is_op(s[4]) && valid_id(s[1])) {
    t.level = op_level::version;
    t.type = s[0];
    t.id = s[1];
    t.name = std::string_view(s[4]).substr(1);
    const std::string& vid = s[3];
    const auto r = std::from_chars(vid.data(), vid.data() + vid.size(), t.vid);
    if (r.ec != std::errc() || r.ptr != vid.data() + vid.size() || t.vid < 1) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return t;
}

}  // namespace

http_response operation(const context& c, const std::vector<std::string>& segments) {
  const auto t = target_of(segments);
  if (!t) return error_response(404, "not-found", "no such path", c.fmt, c.defs);
  if (t->name == "meta") return meta_op(c, *t);
  if (t->name == "meta-add") return meta_change(c, *t, true);
  if (t->name == "meta-delete") return meta_change(c, *t, false);
  if (t->name == "validate") return validate(c, *t);
  if (t->name == "everything" && t->type == "Patient") return everything(c, *t);
  if ((t->level == op_level::type || t->level == op_level::instance) && is_terminology_operation(t->type, t->name)) {
    return terminology_operation(c, t->type, t->id, t->name);
  }
  // Any other operation: 501 (RFC 9110 15.6.2: the server does not support
  // the functionality), with the IssueType "not-supported" ("The
  // interaction, operation, resource or profile is not supported"). The
  // name is not echoed: it is input.
  return error_response(501, "not-supported",
                        "this operation is not supported yet (Hearth offers $meta, $meta-add, $meta-delete, "
                        "$validate, Patient/[id]/$everything, ValueSet/$expand, ValueSet/$validate-code, "
                        "CodeSystem/$lookup, CodeSystem/$validate-code, CodeSystem/$subsumes and "
                        "ConceptMap/$translate)",
                        c.fmt, c.defs);
}

}  // namespace hearth::server::rest
