#include "rest_bundle.hpp"

#include "rest_cursor.hpp"

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/operation_outcome.hpp>

#include "rest_outcome.hpp"

namespace hearth::server::rest {

namespace {

/// Bundle members before `entry`, in R4 element order (bundle.html):
/// resourceType, type, total, link.
fhir::json_value head_of(const bundle& b) {
  fhir::json_value head = fhir::json_value::object();
  head.set("resourceType", "Bundle");
  head.set("type", b.type);
  if (b.total) head.set("total", fhir::json_value::number(std::to_string(*b.total)));
  if (!b.links.empty()) {
    fhir::json_value links = fhir::json_value::array();
    for (const auto& [relation, url] : b.links) {
      fhir::json_value l = fhir::json_value::object();
      l.set("relation", relation);
      l.set("url", url);
      links.push_back(std::move(l));
    }
    head.set("link", std::move(links));
  }
  return head;
}

/// Appends `"key":value` for each member of `obj`, each preceded by a comma
/// unless it is the first member written (`first`).
void write_members(std::string& out, const fhir::json_value& obj, bool& first) {
  for (const fhir::json_member& m : obj.members()) {
    if (!first) out.push_back(',');
    first = false;
    fhir::write_json_string(out, m.key);
    out.push_back(':');
    fhir::write_json(out, m.value);
  }
}

std::string write_compact_json(const bundle& b) {
  std::string out;
  out.push_back('{');
  bool first = true;
  write_members(out, head_of(b), first);
  if (!b.entries.empty()) {
    out += ",\"entry\":[";
    bool first_entry = true;
    for (const bundle_entry& e : b.entries) {
      if (!first_entry) out.push_back(',');
      first_entry = false;
      out.push_back('{');
      bool first_member = true;
      if (!e.full_url.empty()) {
        out += "\"fullUrl\":";
        fhir::write_json_string(out, e.full_url);
        first_member = false;
      }
      const bool has_stored = e.stored != nullptr && !e.stored->deleted && !e.stored->json.empty();
      if (has_stored || (e.stored == nullptr && !e.built.is_null())) {
        if (!first_member) out.push_back(',');
        first_member = false;
        out += "\"resource\":";
        if (has_stored) {
          out += e.stored->json;
        } else {
          fhir::write_json(out, e.built);
        }
      }
      write_members(out, e.tail, first_member);
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

hearth::result<fhir::json_value> tree_of(const bundle& b) {
  fhir::json_value root = head_of(b);
  if (b.entries.empty()) return root;
  fhir::json_value entries = fhir::json_value::array();
  for (const bundle_entry& e : b.entries) {
    fhir::json_value entry = fhir::json_value::object();
    if (!e.full_url.empty()) entry.set("fullUrl", e.full_url);
    if (e.stored != nullptr) {
      if (!e.stored->deleted && !e.stored->json.empty()) {
        auto r = fhir::parse_json(e.stored->json);
        if (!r) return hearth::unexpected(std::move(r).error());
        entry.set("resource", std::move(*r));
      }
    } else if (!e.built.is_null()) {
      entry.set("resource", e.built);
    }
    for (const fhir::json_member& m : e.tail.members()) entry.set(m.key, m.value);
    entries.push_back(std::move(entry));
  }
  root.set("entry", std::move(entries));
  return root;
}

}  // namespace

hearth::result<std::string> write_bundle(const bundle& b, const response_format& fmt, const fhir::definitions& defs) {
  if (fmt.format == wire_format::json && !fmt.pretty) return write_compact_json(b);
  auto tree = tree_of(b);
  if (!tree) return hearth::unexpected(std::move(tree).error());
  return write_resource(*tree, fmt, defs);
}

std::string entry_full_url(std::string_view base_url, const store::resource_version& v) {
  return std::string(base_url) + "/" + v.type + "/" + v.id;
}

fhir::json_value search_tail(std::string_view mode) {
  fhir::json_value tail = fhir::json_value::object();
  fhir::json_value s = fhir::json_value::object();
  s.set("mode", mode);
  tail.set("search", std::move(s));
  return tail;
}

bundle_entry outcome_entry(const std::vector<store::ignored_parameter>& ignored) {
  fhir::issue_list issues;
  for (const store::ignored_parameter& p : ignored) {
    issues.push_back(fhir::issue{fhir::issue_severity::warning, "not-supported",
                                 "parameter '" + p.name + "' ignored: " + p.reason, {}});
  }
  bundle_entry e;
  e.built = fhir::to_operation_outcome(issues);
  e.tail = search_tail("outcome");
  return e;
}

namespace {

std::string link_url(std::string_view base_url, const std::string& path, const param_list& params) {
  std::string url = std::string(base_url) + path;
  if (!params.empty()) url += "?" + join_params(params);
  return url;
}

}  // namespace

void add_page_links(bundle& b, const api_options& opts, const std::string& path, const param_list& used,
                    const std::string& next_cursor) {
  b.links.emplace_back("self", link_url(opts.base_url, path, used));
  if (next_cursor.empty()) return;
  param_list next;
  for (const auto& p : used) {
    if (p.first != "_cursor") next.push_back(p);
  }
  // The store's cursor holds sort values: sealed (rest_cursor.hpp).
  next.emplace_back("_cursor", seal_cursor(cursor_key(opts), next_cursor));
  b.links.emplace_back("next", link_url(opts.base_url, path, next));
}

http_response bundle_response(const bundle& b, const response_format& fmt, const fhir::definitions& defs,
                              std::string_view request_id) {
  auto body = write_bundle(b, fmt, defs);
  if (!body) return internal_error(request_id, fmt, defs);
  http_response res;
  res.status = 200;
  res.body = std::move(*body);
  res.set_header("Content-Type", content_type(fmt.format));
  return res;
}

}  // namespace hearth::server::rest
