// AuditEvent read and search from the audit log (rest_audit.hpp): R4
// http.html#read, #search, search.html, bundle.html#searchset.

#include "rest_audit.hpp"

#include <algorithm>
#include <deque>

#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/store/audit_query.hpp>

#include "rest_bundle.hpp"
#include "rest_cursor.hpp"
#include "rest_outcome.hpp"

namespace hearth::server::rest {

namespace {

constexpr std::string_view audit_type = "AuditEvent";

/// An audit row as the stored version the REST helpers write: the only
/// version of an AuditEvent (it is never updated).
store::resource_version version_of(store::audit_event_row row) {
  return store::resource_version{std::string(audit_type), std::move(row.id), 1, row.last_updated, false,
                                 store::change::create, std::move(row.json)};
}


}  // namespace

http_response read_audit_event(const context& c, const store::audit_log& log, const std::string& id) {
  auto row = log.read(id);
  if (!row) return store_failure(c, row.error());
  return resource_response(c, 200, version_of(std::move(*row)));
}

http_response search_audit_events(const context& c, const store::audit_log& log, bool form) {
  // POST _search: the URL's parameters, then the form body's (R4
  // http.html#search).
  param_list params = c.params;
  if (form && !c.req.body.empty()) {
    if (!is_form_content_type(c.req.header("Content-Type"))) {
      return error_response(415, "not-supported", "POST _search takes an application/x-www-form-urlencoded body",
                            c.fmt, c.defs);
    }
    if (auto r = parse_params(c.req.body, true, params); !r) return error_response(400, r.error(), c.fmt, c.defs);
  }
  // The log gets the cursor a next link sealed (rest_cursor.hpp); the links
  // keep the sealed one.
  param_list for_store = params;
  if (!open_cursor_params(cursor_key(c.opts), for_store)) {
    return error_response(400, "invalid", "_cursor is not a cursor of this server", c.fmt, c.defs);
  }
  auto req = store::parse_search(c.defs, audit_type, for_store, c.handling);
  if (!req) return store_failure(c, req.error());
  auto query = store::audit_query_of(*req, c.handling);
  if (!query) return store_failure(c, query.error());
  auto page = log.search(*query);
  if (!page) return store_failure(c, page.error());

  bundle b;
  b.type = "searchset";
  b.total = page->total;
  // The links carry what shaped the result: the parameters less those left
  // out (search.html#paging).
  param_list used;
  for (const auto& p : params) {
    const bool ignored = std::any_of(query->ignored.begin(), query->ignored.end(),
                                     [&](const store::ignored_parameter& i) { return i.name == p.first; });
    if (!ignored) used.push_back(p);
  }
  add_page_links(b, c.opts, "/" + std::string(audit_type), used, page->next_cursor);
  // Bundle entries point at their versions: a deque keeps them in place.
  std::deque<store::resource_version> versions;
  for (store::audit_event_row& row : page->events) {
    versions.push_back(version_of(std::move(row)));
    b.entries.push_back(bundle_entry{entry_full_url(c.opts.base_url, versions.back()), &versions.back(), {},
                                     search_tail("match")});
  }
  if (!query->ignored.empty()) b.entries.push_back(outcome_entry(query->ignored));
  return bundle_response(b, c.fmt, c.defs, c.req.request_id);
}

}  // namespace hearth::server::rest
