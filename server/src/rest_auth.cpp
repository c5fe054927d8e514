// SMART on FHIR scope enforcement: see rest_auth.hpp for the rules and how
// each is applied.

#include "rest_auth.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/server/access_token.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/index_entry.hpp>
#include <hearth/store/reference_target.hpp>

#include "rest_outcome.hpp"
#include "rest_target.hpp"

namespace hearth::server::rest {

namespace {

using auth::interaction;

/// The resource type of the audit trail (SECURITY.md "Audit").
constexpr std::string_view audit_type = "AuditEvent";

bool is_write(interaction i) noexcept {
  return i == interaction::create || i == interaction::update || i == interaction::patch ||
         i == interaction::remove;
}

/// SECURITY.md: the audit trail is readable only through a scope that names
/// it: user/AuditEvent.* or system/AuditEvent.* (never "*", never patient/:
/// a patient app has no business reading who looked at what).
auth::scope_set audit_scopes(const auth::scope_set& all) {
  auth::scope_set out;
  out.context = all.context;
  for (const auth::resource_scope& s : all.resources) {
    if (s.resource_type == audit_type && s.level != auth::scope_level::patient) out.resources.push_back(s);
  }
  return out;
}

const std::string& patient_in_context(const context& c) {
  static const std::string none;
  return c.req.principal ? c.req.principal->context.patient_id : none;
}

/// Yes, no, or cannot tell exactly (in memory).
enum class tri : unsigned char { no, yes, unknown };

/// A granular scope's query as search parameters, decoded as a URL query is
/// (smart_scopes.hpp: kept "as written"). nullopt when it does not decode.
/// A filter is a set of criteria (SMART App Launch 2.2: "finer-grained
/// resource constraints using search parameters"): the search result
/// parameters (search.html#return), which would change the shape of the
/// searches it is added to, make it one that reaches nothing.
std::optional<param_list> decoded(const std::vector<auth::query_param>& filter) {
  static constexpr std::string_view result_params[] = {
      "_count",   "_sort",     "_include", "_revinclude", "_summary", "_elements", "_total",
      "_cursor",  "_contained", "_containedType", "_format", "_pretty", "_list"};
  param_list out;
  for (const auth::query_param& q : filter) {
    auto name = percent_decode(q.name, false);
    auto value = percent_decode(q.value, false);
    if (!name || !value) return std::nullopt;
    const std::string_view base = std::string_view(*name).substr(0, name->find(':'));
    if (std::find(std::begin(result_params), std::end(result_params), base) != std::end(result_params)) {
      return std::nullopt;
    }
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

/// The filters of a way as one AND of search parameters: the one filter, or
/// several filters of one parameter each, all of the same name, as that
/// parameter with their values comma-joined (search.html#combining: commas
/// are OR). nullopt when the OR cannot be written as one search; an empty
/// list when there is no filter.
std::optional<param_list> joined(const reach& way) {
  if (way.filters.empty()) return param_list{};
  if (way.filters.size() == 1) return decoded(way.filters.front());
  std::string name;
  std::string values;
  for (const auto& f : way.filters) {
    if (f.size() != 1) return std::nullopt;
    auto p = decoded(f);
    if (!p) return std::nullopt;
    if (name.empty()) name = p->front().first;
    else if (p->front().first != name) return std::nullopt;
    if (!values.empty()) values += ',';
    values += p->front().second;
  }
  return param_list{{name, values}};
}

/// The filter groups a membership check runs: the joined filters when they
/// join, else one per filter (several queries, each exact).
std::vector<param_list> groups_of(const reach& way) {
  if (auto j = joined(way)) return {std::move(*j)};
  std::vector<param_list> out;
  for (const auto& f : way.filters) {
    if (auto p = decoded(f)) out.push_back(std::move(*p));
  }
  return out;  // a filter that does not decode reaches nothing (fail closed)
}

/// R4 compartmentdefinition.html, as the store's compartment search reads
/// it (search_sql.cpp): a resource is in Patient/<patient>'s compartment
/// when one of its compartment parameters references Patient/<patient>
/// (relative references), and the patient is in its own.
bool in_compartment(const context& c, std::string_view type, std::string_view id, const store::index_entries& e,
                    std::string_view patient) {
  if (patient.empty()) return false;
  if (type == "Patient" && id == patient) return true;
  const auto params = c.defs.patient_compartment_params(type);
  for (const store::reference_entry& r : e.references) {
    if (r.target.kind != store::reference_kind::relative || r.target.type != "Patient" || r.target.id != patient) {
      continue;
    }
    if (r.param != nullptr && std::find(params.begin(), params.end(), r.param->code) != params.end()) return true;
  }
  return false;
}

/// One criterion against a resource's index entries, for the kinds that can
/// be compared exactly as the store compares them (search_sql.cpp): token
/// without modifier, reference `Type/id`.
tri criterion_matches(const store::search_criterion& crit, const store::index_entries& e) {
  if (!crit.path.empty() || crit.modifier != store::search_modifier::none || crit.param == nullptr) {
    return tri::unknown;
  }
  // _id and _lastUpdated live on the resource table, not in the index
  // entries (index_writer.cpp).
  if (crit.param->code == "_id" || crit.param->code == "_lastUpdated") return tri::unknown;
  const std::string_view code = crit.param->code;
  switch (crit.param->type) {
    case fhir::search_param_type::token:
      for (const store::search_value& v : crit.values) {
        const auto& parts = v.parts;
        for (const store::token_entry& t : e.tokens) {
          if (t.param == nullptr || t.param->code != code) continue;
          if (parts.size() == 1 && !t.code.empty() && t.code == parts[0]) return tri::yes;
          if (parts.size() == 2 && parts[1].empty() && t.system == parts[0]) return tri::yes;
          if (parts.size() == 2 && !parts[1].empty() && t.system == parts[0] && t.code == parts[1]) return tri::yes;
        }
        if (parts.empty() || parts.size() > 2) return tri::unknown;
      }
      return tri::no;
    case fhir::search_param_type::reference:
      for (const store::search_value& v : crit.values) {
        if (v.parts.size() != 1) return tri::unknown;
        const std::string& ref = v.parts[0];
        const std::size_t slash = ref.find('/');
        if (slash == std::string::npos || ref.find('/', slash + 1) != std::string::npos) return tri::unknown;
        for (const store::reference_entry& r : e.references) {
          if (r.param == nullptr || r.param->code != code || r.target.kind != store::reference_kind::relative) continue;
          if (r.target.type == std::string_view(ref).substr(0, slash) &&
              r.target.id == std::string_view(ref).substr(slash + 1)) {
            return tri::yes;
          }
        }
      }
      return tri::no;
    default: return tri::unknown;
  }
}

/// A granular filter (an AND) against a resource's index entries.
tri filter_matches(const context& c, std::string_view type, const std::vector<auth::query_param>& filter,
                   const store::index_entries& e) {
  auto params = decoded(filter);
  if (!params) return tri::no;  // it reaches nothing in the store either
  auto req = store::parse_search(c.defs, type, *params, store::search_handling::strict);
  if (!req) return tri::no;  // nor here
  if (!req->list_id.empty() || req->criteria.empty()) return tri::unknown;
  tri all = tri::yes;
  for (const store::search_criterion& crit : req->criteria) {
    const tri t = criterion_matches(crit, e);
    if (t == tri::no) return tri::no;
    if (t == tri::unknown) all = tri::unknown;
  }
  return all;
}

/// Whether `a` reaches a resource, from its index entries.
tri entries_match(const context& c, const access& a, std::string_view type, std::string_view id,
                  const store::index_entries& e) {
  tri result = tri::no;
  for (const reach& way : a.ways) {
    if (way.compartment && !in_compartment(c, type, id, e, patient_in_context(c))) continue;
    if (way.filters.empty()) return tri::yes;
    for (const auto& f : way.filters) {
      const tri t = filter_matches(c, type, f, e);
      if (t == tri::yes) return tri::yes;
      if (t == tri::unknown) result = tri::unknown;
    }
  }
  return result;
}

tri resource_matches(const context& c, const access& a, const fhir::json_value& resource) {
  const fhir::json_value* rt = resource.is_object() ? resource.find("resourceType") : nullptr;
  const fhir::json_value* id = resource.is_object() ? resource.find("id") : nullptr;
  if (rt == nullptr || !rt->is_string() || rt->str() != a.type) return tri::no;
  auto entries = c.indexer->get().index(resource);
  if (!entries) return tri::no;
  return entries_match(c, a, a.type, id != nullptr && id->is_string() ? std::string_view(id->str()) : "", *entries);
}

/// The ids (with their current version) among `ids`, all of `type`, that
/// `a` reaches: `[type]?_id=<ids>&<filter>` with the compartment, per way
/// and filter group, in chunks of the store's most OR values.
hearth::result<std::map<std::string, std::int64_t>> reachable(const context& c, const access& a,
                                                               std::string_view type,
                                                               const std::vector<std::string>& ids) {
  std::map<std::string, std::int64_t> out;
  const std::size_t chunk = store::search_request::max_values;
  for (const reach& way : a.ways) {
    std::optional<store::search_compartment> comp;
    if (way.compartment) comp = store::search_compartment{"Patient", patient_in_context(c)};
    for (const param_list& group : groups_of(way)) {
      for (std::size_t at = 0; at < ids.size(); at += chunk) {
        const std::size_t n = std::min(chunk, ids.size() - at);
        std::string list;
        for (std::size_t i = at; i < at + n; ++i) {
          if (!list.empty()) list += ',';
          list += ids[i];
        }
        param_list params{{"_id", std::move(list)}};
        params.insert(params.end(), group.begin(), group.end());
        auto req = store::parse_search(c.defs, type, params, store::search_handling::strict, comp);
        if (!req) break;  // a filter the store cannot search by reaches nothing (fail closed)
        req->count = n;
        auto page = c.store.search(*req);
        if (!page) return hearth::unexpected(std::move(page).error());
        for (const store::resource_version& v : page->matches) out.emplace(v.id, v.version_id);
      }
    }
  }
  return out;
}

std::string what_on(const access& a) {
  std::string s(auth::to_string(a.what));
  if (a.type.empty()) s += " across all types";
  else s += " on " + a.type;
  return s;
}

}  // namespace

const store::indexer& indexer_source::get() const {
  if (given_ != nullptr) return *given_;
  std::call_once(once_, [this] { own_ = std::make_unique<store::indexer>(defs_); });
  return *own_;
}

bool enforced(const context& c) noexcept { return c.opts.enforce_authorization; }

access authorize(const context& c, auth::interaction what, std::string_view type,
                 auth::permission_bits operation_permission) {
  access a;
  a.what = what;
  a.type = std::string(type);
  if (type == audit_type && is_write(what)) {
    // SECURITY.md "Audit": rows are hash-chained and committed with the
    // change they record; none is written, changed or removed through the API.
    a.immutable = true;
    return a;
  }
  if (!enforced(c)) {
    a.allowed = true;
    a.ways.push_back(reach{});
    return a;
  }
  const auth::principal* p = c.req.principal.get();
  if (p == nullptr) {
    a.reason = auth::deny_reason::invalid_request;  // fhir_api answers 401 before: fail closed
    return a;
  }
  std::optional<auth::scope_set> audit;
  if (type == audit_type) audit = audit_scopes(p->scopes);
  const auth::scope_set& scopes = audit ? *audit : p->scopes;

  auth::access_request r;
  r.what = what;
  r.resource_type = type;
  r.operation_permission = operation_permission;
  const auth::access_decision outside = auth::decide(scopes, p->context, r);
  if (outside.allowed && outside.filters.empty()) {
    a.allowed = true;
    a.ways.push_back(reach{});
    return a;
  }
  if (outside.allowed) a.ways.push_back(reach{false, outside.filters});
  a.reason = outside.reason;
  // SMART App Launch 2.2: patient/ scopes reach the compartment of the
  // patient in context (R4 CompartmentDefinition Patient), for the types
  // that can be in it.
  if (!type.empty() && !p->context.patient_id.empty() && c.defs.in_patient_compartment(type)) {
    r.patient_compartment = true;
    const auth::access_decision inside = auth::decide(scopes, p->context, r);
    if (inside.allowed && (inside.levels & auth::level_bit(auth::scope_level::patient)) != 0) {
      a.ways.push_back(reach{true, inside.filters});
    } else if (!outside.allowed) {
      a.reason = inside.reason;
    }
  }
  a.allowed = !a.ways.empty();
  if (a.allowed) a.reason = auth::deny_reason::none;
  return a;
}

access either(access a, const access& b) {
  if (a.unrestricted() || !b.allowed) return a;
  if (b.unrestricted() || !a.allowed) return b;
  a.ways.insert(a.ways.end(), b.ways.begin(), b.ways.end());
  return a;
}

http_response forbidden(const context& c, const access& a) {
  if (a.immutable) {
    // RFC 9110 15.5.6: 405 with Allow; the type offers reads only.
    http_response res = error_response(405, "not-supported",
                                       "AuditEvent resources cannot be created, changed or deleted through the API: "
                                       "the audit trail is immutable",
                                       c.fmt, c.defs);
    res.set_header("Allow", "GET");
    return res;
  }
  return store_failure(c, forbidden_error(a));
}

http_response forbidden(const context& c, const access& a, std::string_view why) {
  return store_failure(c, forbidden_error(a, why));
}

hearth::error forbidden_error(const access& a, std::string_view why) {
  std::string msg = "the access token does not permit " + what_on(a);
  if (!why.empty()) {
    msg += ": ";
    msg += why;
  } else if (a.reason != auth::deny_reason::none) {
    msg += ": ";
    msg += auth::to_string(a.reason);
  }
  return hearth::error{"forbidden", std::move(msg), {}, hearth::error::npos};
}

http_response unauthenticated(const context& c) {
  http_response res = error_response(401, "login",
                                     "this request needs an access token (Authorization: Bearer; SMART App Launch)",
                                     c.fmt, c.defs);
  res.set_header("WWW-Authenticate", "Bearer");  // RFC 6750 3
  return res;
}

http_response hidden(const context& c, bool version) {
  // Exactly the store's own not-found (resource_store.cpp): "no difference
  // in status, body or total between does not exist and not yours".
  return store_failure(c, hearth::error{std::string(store::error_codes::not_found),
                                        version ? "no such version of this resource" : "no resource with this id",
                                        {}, hearth::error::npos});
}

http_response hidden_write(http_response absent) {
  absent.audit_status = 403;
  return absent;
}

hearth::result<bool> reaches(const context& c, const access& a, const store::resource_version& v) {
  if (!a.allowed || v.deleted || v.type != a.type) return false;
  if (a.unrestricted()) return true;
  auto tree = fhir::parse_json(v.json);
  if (!tree) return hearth::unexpected(hearth::error{"exception", "a stored body does not parse", {}, hearth::error::npos});
  const tri t = resource_matches(c, a, *tree);
  if (t != tri::unknown) return t == tri::yes;
  // Not decidable in memory: the store decides for the current version.
  auto found = reachable(c, a, v.type, {v.id});
  if (!found) return hearth::unexpected(std::move(found).error());
  const auto it = found->find(v.id);
  return it != found->end() && it->second == v.version_id;
}

bool reaches_content(const context& c, const access& a, const fhir::json_value& resource) {
  if (!a.allowed) return false;
  if (a.unrestricted()) return true;
  return resource_matches(c, a, resource) == tri::yes;
}

hearth::result<void> restrict_search(const context& c, const access& a, store::search_request& req) {
  if (!enforced(c)) return {};
  if (!a.allowed) return hearth::unexpected(forbidden_error(a));
  // SECURITY.md: chained criteria and _has are checked: they test resources
  // of the types they cross, which the token must be able to search
  // without restriction (the nested criteria are not restricted to a
  // compartment or a filter).
  for (const store::search_criterion& crit : req.criteria) {
    for (const store::search_step& step : crit.path) {
      for (const std::string& t : step.types) {
        if (!authorize(c, interaction::search_type, t).unrestricted()) {
          return hearth::unexpected(forbidden_error(
              a, "a chained or _has criterion crosses a type the granted scopes do not let it search without "
                 "restriction"));
        }
      }
    }
  }
  if (!req.list_id.empty()) {
    // search.html#list: _list reads a List's entries.
    if (!either(authorize(c, interaction::read, "List"), authorize(c, interaction::search_type, "List"))
             .unrestricted()) {
      return hearth::unexpected(
          forbidden_error(a, "_list reads a List, which the granted scopes do not let it read without restriction"));
    }
  }
  if (a.unrestricted()) return {};
  const std::string& patient = patient_in_context(c);
  for (const reach& way : a.ways) {
    if (way.compartment && req.compartment &&
        (req.compartment->type != "Patient" || req.compartment->id != patient)) {
      continue;  // the compartment of another patient: nothing this way reaches
    }
    auto params = joined(way);
    if (!params) continue;
    std::vector<store::search_criterion> extra;
    if (!params->empty()) {
      auto f = store::parse_search(c.defs, req.type, *params, store::search_handling::strict);
      if (!f || !f->list_id.empty() || !f->includes.empty() || !f->revincludes.empty()) continue;
      extra = std::move(f->criteria);
    }
    if (way.compartment) req.compartment = store::search_compartment{"Patient", patient};
    req.criteria.insert(req.criteria.end(), std::make_move_iterator(extra.begin()),
                        std::make_move_iterator(extra.end()));
    return {};
  }
  return hearth::unexpected(forbidden_error(
      a, "the granted scopes reach this type in a way this search cannot be restricted to exactly (the compartment "
         "of another patient, or granular filters that cannot be combined)"));
}

std::optional<param_list> compartment_criteria(const context& c, const access& a, std::string_view patient_id) {
  if (a.unrestricted()) return param_list{};
  if (!a.allowed) return std::nullopt;
  for (const reach& way : a.ways) {
    if (way.compartment && patient_in_context(c) != patient_id) continue;
    auto p = joined(way);
    if (!p) continue;
    // Only criteria the store searches by exactly.
    if (!p->empty()) {
      auto f = store::parse_search(c.defs, a.type, *p, store::search_handling::strict);
      if (!f || !f->list_id.empty() || !f->includes.empty() || !f->revincludes.empty()) continue;
    }
    return p;
  }
  return std::nullopt;
}

hearth::result<void> drop_unreadable(const context& c, std::vector<store::resource_version>& included) {
  if (!enforced(c) || included.empty()) return {};
  std::map<std::string, std::vector<std::string>, std::less<>> ids_of;  // type -> ids
  for (const store::resource_version& v : included) ids_of[v.type].push_back(v.id);
  std::set<std::pair<std::string, std::string>> keep;  // (type, id)
  std::map<std::string, std::int64_t, std::less<>> version_of;
  for (const auto& [type, ids] : ids_of) {
    const access a = either(authorize(c, interaction::read, type), authorize(c, interaction::search_type, type));
    if (!a.allowed) continue;
    if (a.unrestricted()) {
      for (const std::string& id : ids) keep.emplace(type, id);
      continue;
    }
    auto found = reachable(c, a, type, ids);
    if (!found) return hearth::unexpected(std::move(found).error());
    for (const auto& [id, version] : *found) {
      keep.emplace(type, id);
      version_of[type + "/" + id] = version;
    }
  }
  std::erase_if(included, [&](const store::resource_version& v) {
    if (!keep.contains({v.type, v.id})) return true;
    // A restricted type's resource is kept only as the version checked.
    const auto it = version_of.find(v.type + "/" + v.id);
    return it != version_of.end() && it->second != v.version_id;
  });
  return {};
}

hearth::result<bool> may_read(const context& c, const store::resource_version& v) {
  if (!enforced(c)) return true;
  return reaches(c, authorize(c, interaction::read, v.type), v);
}

hearth::result<void> filter_instance_history(const context& c, const access& a, const store::resource_version& current,
                                             std::vector<store::resource_version>& entries) {
  if (a.unrestricted()) return {};
  std::vector<store::resource_version> kept;
  kept.reserve(entries.size());
  for (store::resource_version& v : entries) {
    bool keep = true;  // a tombstone holds nothing, and the resource is one the token may see
    if (!v.deleted) {
      auto tree = fhir::parse_json(v.json);
      if (!tree) return hearth::unexpected(hearth::error{"exception", "a stored body does not parse", {}, hearth::error::npos});
      const tri t = resource_matches(c, a, *tree);
      // Not decidable in memory: only the current version, which the store
      // checked, is shown.
      keep = t == tri::yes || (t == tri::unknown && v.version_id == current.version_id);
    }
    if (keep) kept.push_back(std::move(v));
  }
  entries = std::move(kept);
  return {};
}

std::optional<store::resource_version> current_for_read(const context& c, const access& a, const std::string& type,
                                                        const std::string& id, http_response& answer) {
  auto v = c.store.read(type, id);
  if (a.unrestricted()) {
    if (!v) {
      answer = store_failure(c, v.error());
      return std::nullopt;
    }
    return std::move(*v);
  }
  if (!v) {
    const std::string& code = v.error().code;
    answer = code == store::error_codes::not_found || code == store::error_codes::deleted ? hidden(c, false)
                                                                                          : store_failure(c, v.error());
    return std::nullopt;
  }
  auto ok = reaches(c, a, *v);
  if (!ok) {
    answer = store_failure(c, ok.error());
    return std::nullopt;
  }
  if (!*ok) {
    answer = hidden(c, false);
    return std::nullopt;
  }
  return std::move(*v);
}

hearth::result<std::optional<store::resource_version>> current_for_write(const context& c, const access& a,
                                                                         const std::string& type,
                                                                         const std::string& id) {
  if (a.unrestricted()) return std::optional<store::resource_version>();
  auto v = c.store.read(type, id);
  if (!v) {
    const std::string& code = v.error().code;
    if (code == store::error_codes::not_found || code == store::error_codes::deleted) {
      return std::optional<store::resource_version>();
    }
    return hearth::unexpected(std::move(v).error());
  }
  auto ok = reaches(c, a, *v);
  if (!ok) return hearth::unexpected(std::move(ok).error());
  if (!*ok) {
    return hearth::unexpected(forbidden_error(a, "the resource is outside what the granted scopes reach"));
  }
  return std::optional<store::resource_version>(std::move(*v));
}

store::write_hook write_hook_of(const context& c) {
  return c.opts.make_write_hook ? c.opts.make_write_hook(c.req) : store::write_hook{};
}

}  // namespace hearth::server::rest
