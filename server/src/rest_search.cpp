// search (type and Patient compartment) and history (instance, type,
// system): R4 http.html#search, #history, search.html, bundle.html.

#include <algorithm>
#include <charconv>
#include <map>

#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/store/date_range.hpp>
#include <hearth/store/history.hpp>

#include "rest_auth.hpp"
#include "rest_bundle.hpp"
#include "rest_cursor.hpp"
#include "rest_interactions.hpp"
#include "rest_outcome.hpp"
#include "rest_terminology.hpp"
#include "rest_subset.hpp"

namespace hearth::server::rest {

namespace {

/// `base/Type/id`: Bundle.entry.fullUrl (R4 bundle.html#bundle-unique).
std::string full_url(const context& c, const store::resource_version& v) {
  return entry_full_url(c.opts.base_url, v);
}

/// The self and next links: the parameters as given (less those ignored
/// under lenient handling, which did not shape the result), next with the
/// store's cursor in place of any earlier one (search.html#paging).
void add_links(const context& c, bundle& b, const std::string& path, const param_list& used,
               const std::string& next_cursor) {
  add_page_links(b, c.opts, path, used, next_cursor);
}

http_response bundle_response(const context& c, const bundle& b) {
  return rest::bundle_response(b, c.fmt, c.defs, c.req.request_id);
}

fhir::json_value search_mode(std::string_view mode) { return search_tail(mode); }


/// The parameters of POST [type]/_search: the URL's, then the form body's
/// (R4 http.html#search: "the parameters ... may be in the URL, the body,
/// or both"). nullopt and `error` set when the body is unacceptable.
std::optional<param_list> form_params(const context& c, http_response& error) {
  param_list all = c.params;
  if (c.req.body.empty()) return all;
  if (!is_form_content_type(c.req.header("Content-Type"))) {
    error = error_response(415, "not-supported", "POST _search takes an application/x-www-form-urlencoded body",
                           c.fmt, c.defs);
    return std::nullopt;
  }
  if (auto r = parse_params(c.req.body, true, all); !r) {
    error = error_response(400, r.error(), c.fmt, c.defs);
    return std::nullopt;
  }
  return all;
}

/// An instant parameter of history (_since, _at) as the range it denotes.
std::optional<store::date_range> history_date(std::string_view value) {
  return store::parse_date_range(value);
}

store::instant instant_of(std::int64_t ms) { return store::instant(std::chrono::milliseconds(ms)); }

/// Reads the history parameters (R4 http.html#history: _count, _since, _at;
/// _cursor from a next link) into `q`; `used` collects them for the links.
/// Returns an error response, or nullopt when all went well.
std::optional<http_response> read_history_params(const context& c, store::history_query& q, param_list& used) {
  for (const auto& [name, value] : c.params) {
    if (name == "_format" || name == "_pretty") {
      used.emplace_back(name, value);
      continue;
    }
    if (name == "_count") {
      std::size_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec == std::errc::result_out_of_range) n = store::history_query::max_count;
      else if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || n == 0) {
        return error_response(400, "invalid", "_count must be a positive whole number", c.fmt, c.defs);
      }
      // Like search's _count: above the maximum, fewer are returned.
      q.count = std::min(n, store::history_query::max_count);
    } else if (name == "_since") {
      const auto d = history_date(value);
      if (!d) return error_response(400, "invalid", "_since must be an instant", c.fmt, c.defs);
      q.since = instant_of(d->low);
    } else if (name == "_at") {
      const auto d = history_date(value);
      if (!d) return error_response(400, "invalid", "_at must be a date or dateTime", c.fmt, c.defs);
      q.at_low = instant_of(d->low);
      q.at_high = instant_of(d->high) + std::chrono::milliseconds(1);  // the range is inclusive, _at's half-open
    } else if (name == "_cursor") {
      auto plain = open_cursor(cursor_key(c.opts), value);  // next links carry sealed cursors (rest_cursor.hpp)
      if (!plain) return error_response(400, "invalid", "_cursor is not a cursor of this server", c.fmt, c.defs);
      q.cursor = std::move(*plain);
    } else if (name == "_summary" || name == "_elements") {
      // Read by subset_of_params (R4 search.html#summary, #elements apply to
      // history Bundles as to searchsets); kept in the links.
    } else if (c.handling == store::search_handling::strict) {
      return error_response(400, "not-supported", "parameter '" + name + "' is not supported by history", c.fmt,
                            c.defs);
    } else {
      continue;  // lenient: left out, and out of the links
    }
    used.emplace_back(name, value);
  }
  return std::nullopt;
}

fhir::json_value history_tail(const store::resource_version& v) {
  fhir::json_value request = fhir::json_value::object();
  fhir::json_value response = fhir::json_value::object();
  switch (v.made_by) {
    // A create by PUT (update-as-create) is recorded as a create; it is
    // listed as the POST that usually makes one.
    case store::change::create:
      request.set("method", "POST");
      request.set("url", v.type);
      response.set("status", "201 Created");
      break;
    case store::change::update:
      request.set("method", "PUT");
      request.set("url", v.type + "/" + v.id);
      response.set("status", "200 OK");
      break;
    case store::change::remove:
      request.set("method", "DELETE");
      request.set("url", v.type + "/" + v.id);
      response.set("status", "204 No Content");
      break;
  }
  response.set("etag", etag(v.version_id));
  response.set("lastModified", store::format_instant(v.last_updated));
  fhir::json_value tail = fhir::json_value::object();
  tail.set("request", std::move(request));
  tail.set("response", std::move(response));
  return tail;
}

}  // namespace

http_response search(const context& c, const std::string& type, bool form,
                     const std::optional<store::search_compartment>& compartment) {
  // SMART s (rest_auth.hpp): checked before anything is read.
  const access a = authorize(c, auth::interaction::search_type, type);
  if (!a.allowed) return forbidden(c, a);
  http_response error;
  std::optional<param_list> params = form ? form_params(c, error) : std::optional<param_list>(c.params);
  if (!params) return error;
  // The store gets the cursor a next link sealed (rest_cursor.hpp); the
  // links keep the sealed one.
  param_list for_store = *params;
  if (!open_cursor_params(cursor_key(c.opts), for_store)) {
    return error_response(400, "invalid", "_cursor is not a cursor of this server", c.fmt, c.defs);
  }
  // :in, :not-in, :below, :above on tokens: expanded through the
  // terminology registry into criteria the store searches by.
  if (auto r = resolve_terminology_modifiers(c, type, for_store); !r) return store_failure(c, r.error());
  auto req = store::parse_search(c.defs, type, for_store, c.handling, compartment);
  if (!req) return store_failure(c, req.error());
  // _summary and _elements (search.html#summary, #elements): parse_search
  // read them; the resources are subsetted here. _summary=count makes the
  // store count and return no resources.
  auto subset = subset_of_search(*req);
  if (!subset) return error_response(400, subset.error(), c.fmt, c.defs);
  if (auto r = check_element_names(*subset, type, c.defs, c.handling, &req->ignored); !r) {
    return error_response(400, r.error(), c.fmt, c.defs);
  }
  // Patient-level grants: the compartment of the patient in context;
  // granular ones: their filters as criteria. The total then counts what
  // the token may see only (SECURITY.md).
  if (auto r = restrict_search(c, a, *req); !r) return store_failure(c, r.error());
  auto page = c.store.search(*req);
  if (!page) return store_failure(c, page.error());
  // _include/_revinclude: what the token may not read is left out.
  if (auto r = drop_unreadable(c, page->included); !r) return store_failure(c, r.error());

  bundle b;
  b.type = "searchset";
  b.total = page->total;
  param_list used;
  for (const auto& p : *params) {
    // An _elements with names ignored stays in the links: its other names
    // shaped the result.
    const bool ignored = p.first != "_elements" &&
                         std::any_of(req->ignored.begin(), req->ignored.end(),
                                     [&](const store::ignored_parameter& i) { return i.name == p.first; });
    if (!ignored) used.push_back(p);
  }
  const std::string path = compartment ? "/" + compartment->type + "/" + compartment->id + "/" + type : "/" + type;
  add_links(c, b, path, used, page->next_cursor);
  for (const store::resource_version& v : page->matches) {
    b.entries.push_back(bundle_entry{full_url(c, v), &v, {}, search_mode("match")});
  }
  for (const store::resource_version& v : page->included) {
    b.entries.push_back(bundle_entry{full_url(c, v), &v, {}, search_mode("include")});
  }
  // Matches and includes alike (the outcome entry is not added yet).
  if (auto r = subset_entries(b, *subset, c.defs); !r) return internal_error(c.req.request_id, c.fmt, c.defs);
  if (!req->ignored.empty()) b.entries.push_back(outcome_entry(req->ignored));
  return bundle_response(c, b);
}

http_response history(const context& c, const std::string& type, const std::string& id) {
  // SMART: r for an instance's history, s for a type's or the system's
  // (rest_auth.hpp). The store cannot restrict type or system history to a
  // compartment or a granular filter: those need an unrestricted grant.
  const auth::interaction what = !id.empty()     ? auth::interaction::history_instance
                                 : !type.empty() ? auth::interaction::history_type
                                                 : auth::interaction::history_system;
  const access a = authorize(c, what, type);
  if (!a.allowed) return forbidden(c, a);
  if (id.empty() && !a.unrestricted()) {
    return forbidden(c, a, "history of a type or of the system needs a grant without patient or granular "
                           "restriction");
  }
  std::optional<store::resource_version> current;
  if (!id.empty() && !a.unrestricted()) {
    http_response answer;
    current = current_for_read(c, a, type, id, answer);
    if (!current) return answer;
  }
  store::history_query q;
  q.type = type;
  q.id = id;
  param_list used;
  if (auto bad = read_history_params(c, q, used)) return std::move(*bad);
  auto subset = subset_of_params(c.params);
  if (!subset) return error_response(400, subset.error(), c.fmt, c.defs);
  if (subset->mode == subset_mode::count) {
    // A history Bundle has no total Hearth could count without reading
    // every version; search.html#summary defines count for search only.
    return error_response(400, "not-supported", "_summary=count is not supported by history", c.fmt, c.defs);
  }
  // Element names are checked against the type where there is one; a
  // system history lists every type, so unknown names are simply unmatched.
  if (!type.empty()) {
    if (auto r = check_element_names(*subset, type, c.defs, c.handling); !r) {
      return error_response(400, r.error(), c.fmt, c.defs);
    }
  }
  auto page = c.store.history(q);
  if (!page) return store_failure(c, page.error());
  if (current) {
    // Versions of the resource the grant does not reach are left out.
    if (auto r = filter_instance_history(c, a, *current, page->entries); !r) return store_failure(c, r.error());
  } else if (type.empty() && enforced(c)) {
    // The system's history lists every type: those the token may not
    // search without restriction are left out (AuditEvent, which "*" does
    // not cover).
    std::map<std::string, bool, std::less<>> allowed;
    std::erase_if(page->entries, [&](const store::resource_version& v) {
      auto it = allowed.find(v.type);
      if (it == allowed.end()) {
        it = allowed.emplace(v.type, authorize(c, auth::interaction::history_type, v.type).unrestricted()).first;
      }
      return !it->second;
    });
  }

  bundle b;
  b.type = "history";
  std::string path = type.empty() ? std::string() : "/" + type;
  if (!id.empty()) path += "/" + id;
  path += "/_history";
  add_links(c, b, path, used, page->next_cursor);
  for (const store::resource_version& v : page->entries) {
    // Deleted versions are listed without a resource (R4 http.html#history).
    b.entries.push_back(bundle_entry{full_url(c, v), &v, {}, history_tail(v)});
  }
  if (auto r = subset_entries(b, *subset, c.defs); !r) return internal_error(c.req.request_id, c.fmt, c.defs);
  return bundle_response(c, b);
}

}  // namespace hearth::server::rest
