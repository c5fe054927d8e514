#include <hearth/server/capability.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <string_view>
#include <utility>

namespace hearth::server {

namespace {

using fhir::json_value;
using fhir::search_param_type;
using fhir::search_parameter;

/// Whether the store can search on `p` (mirrors store::search_request, which
/// answers "not-supported" for the others): special parameters and those
/// without a FHIRPath expression (_text, _content, _query, _list) cannot be
/// indexed; a composite needs plain components.
bool searchable(const fhir::definitions& defs, const search_parameter& p) {
  if (p.type == search_param_type::special || p.expression.empty()) return false;
  if (p.type == search_param_type::composite) {
    if (p.components.empty()) return false;
    for (const fhir::search_component& c : p.components) {
      const search_parameter* cp = defs.find_search_parameter_by_url(c.definition);
      if (cp == nullptr || cp->type == search_param_type::composite || cp->type == search_param_type::special) {
        return false;
      }
    }
  }
  return true;
}

/// Now as a FHIR dateTime in UTC, to the second ("2024-05-01T12:00:00Z").
std::string now_datetime() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

json_value strings(const std::vector<std::string>& items) {
  json_value a = json_value::array();
  for (const std::string& s : items) a.push_back(json_value(s));
  return a;
}

json_value codes(const std::vector<std::string>& items) {
  json_value a = json_value::array();
  for (const std::string& s : items) {
    json_value o = json_value::object();
    o.set("code", json_value(s));
    a.push_back(std::move(o));
  }
  return a;
}

std::string join(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + 1 + b.size());
  s += a;
  s += ':';
  s += b;
  return s;
}

}  // namespace

std::string_view to_string(conditional_delete_support c) noexcept {
  switch (c) {
    case conditional_delete_support::not_supported: return "not-supported";
    case conditional_delete_support::single: return "single";
    case conditional_delete_support::multiple: return "multiple";
  }
  return "not-supported";
}

namespace {

/// rest.operation (type empty) or rest.resource.operation of `type`.
json_value operations_of(const capability_options& opts, std::string_view type) {
  json_value ops = json_value::array();
  for (const capability_options::operation& o : opts.operations) {
    if (o.type != type) continue;
    json_value op = json_value::object();
    op.set("name", json_value(o.name));
    op.set("definition", json_value(o.definition));
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

fhir::json_value capability_statement(const fhir::definitions& defs, const capability_options& opts) {
  const std::span<const std::string_view> types = defs.resource_types();

  // searchRevInclude: for each target type, the "Source:param" reference
  // parameters that can point to it (an empty target list, or "Resource",
  // means any type). R4 search.html#revinclude.
  std::map<std::string_view, std::vector<std::string>> revinclude;
  for (const std::string_view source : types) {
    for (const search_parameter* p : defs.search_parameters(source)) {
      if (p->type != search_param_type::reference || !searchable(defs, *p)) continue;
      const bool any = p->target.empty() ||
                       std::find(p->target.begin(), p->target.end(), "Resource") != p->target.end();
      if (any) {
        for (const std::string_view target : types) revinclude[target].push_back(join(source, p->code));
      } else {
        for (const std::string_view target : p->target) {
          if (defs.is_resource_type(target)) revinclude[target].push_back(join(source, p->code));
        }
      }
    }
  }

  json_value cs = json_value::object();
  cs.set("resourceType", "CapabilityStatement");
  cs.set("status", "active");
  cs.set("date", opts.date.empty() ? now_datetime() : opts.date);
  cs.set("kind", "instance");
  {
    json_value software = json_value::object();
    software.set("name", json_value(opts.software_name));
    if (!opts.software_version.empty()) software.set("version", json_value(opts.software_version));
    cs.set("software", std::move(software));
  }
  {
    json_value impl = json_value::object();
    impl.set("description", json_value(opts.implementation_description));
    if (!opts.base_url.empty()) impl.set("url", json_value(opts.base_url));
    cs.set("implementation", std::move(impl));
  }
  cs.set("fhirVersion", "4.0.1");
  // Both the MIME types and their short forms (R4 http.html#mime-type).
  cs.set("format", strings({"application/fhir+json", "application/fhir+xml", "json", "xml"}));
  if (!opts.patch_formats.empty()) cs.set("patchFormat", strings(opts.patch_formats));

  json_value rest = json_value::object();
  rest.set("mode", "server");
  {
    json_value security = json_value::object();
    if (opts.smart) {
      // SMART App Launch 2.x conformance.html (the CapabilityStatement form
      // beside .well-known/smart-configuration): the service coding and the
      // oauth-uris extension with absolute endpoint URLs.
      json_value ext = json_value::object();
      ext.set("url", "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris");
      json_value uris = json_value::array();
      for (const char* name : {"authorize", "token", "introspect", "revoke"}) {
        json_value u = json_value::object();
        u.set("url", json_value(name));
        u.set("valueUri", json_value(opts.base_url + "/auth/" + name));
        uris.push_back(std::move(u));
      }
      ext.set("extension", std::move(uris));
      json_value exts = json_value::array();
      exts.push_back(std::move(ext));
      security.set("extension", std::move(exts));
    }
    security.set("cors", json_value(opts.cors));
    if (opts.smart) {
      json_value coding = json_value::object();
      coding.set("system", "http://terminology.hl7.org/CodeSystem/restful-security-service");
      coding.set("code", "SMART-on-FHIR");
      json_value codings = json_value::array();
      codings.push_back(std::move(coding));
      json_value service = json_value::object();
      service.set("coding", std::move(codings));
      json_value services = json_value::array();
      services.push_back(std::move(service));
      security.set("service", std::move(services));
    }
    if (!opts.security_description.empty()) security.set("description", json_value(opts.security_description));
    rest.set("security", std::move(security));
  }

  const json_value interactions = codes(opts.type_interactions);
  const std::string_view conditional_delete = to_string(opts.conditional_delete);
  json_value resources = json_value::array();
  resources.items().reserve(types.size());
  for (const std::string_view type : types) {
    json_value r = json_value::object();
    r.set("type", json_value(type));
    r.set("profile", json_value("http://hl7.org/fhir/StructureDefinition/" + std::string(type)));
    const auto over = std::find_if(opts.type_overrides.begin(), opts.type_overrides.end(),
                                   [type](const capability_options::type_override& o) { return o.type == type; });
    if (over != opts.type_overrides.end()) {
      if (!over->interactions.empty()) r.set("interaction", codes(over->interactions));
      r.set("readHistory", json_value(false));
      r.set("updateCreate", json_value(false));
      json_value params = json_value::array();
      for (const search_parameter* p : defs.search_parameters(type)) {
        if (!searchable(defs, *p)) continue;
        if (std::find(over->search_params.begin(), over->search_params.end(), p->code) == over->search_params.end())
          continue;
        json_value sp = json_value::object();
        sp.set("name", json_value(p->code));
        sp.set("definition", json_value(p->url));
        sp.set("type", json_value(fhir::to_string(p->type)));
        params.push_back(std::move(sp));
      }
      if (!params.items().empty()) r.set("searchParam", std::move(params));
      resources.push_back(std::move(r));
      continue;
    }
    if (!interactions.items().empty()) r.set("interaction", interactions);
    r.set("versioning", "versioned-update");
    r.set("readHistory", json_value(true));
    r.set("updateCreate", json_value(true));
    r.set("conditionalCreate", json_value(true));
    // http.html#cread: read answers If-None-Match and If-Modified-Since with 304.
    r.set("conditionalRead", "full-support");
    r.set("conditionalUpdate", json_value(opts.conditional_update));
    r.set("conditionalDelete", json_value(conditional_delete));

    json_value include = json_value::array();
    json_value params = json_value::array();
    for (const search_parameter* p : defs.search_parameters(type)) {
      if (!searchable(defs, *p)) continue;
      if (p->type == search_param_type::reference) include.push_back(json_value(join(type, p->code)));
      json_value sp = json_value::object();
      sp.set("name", json_value(p->code));
      sp.set("definition", json_value(p->url));
      sp.set("type", json_value(fhir::to_string(p->type)));
      params.push_back(std::move(sp));
    }
    include.push_back("*");
    r.set("searchInclude", std::move(include));
    if (auto it = revinclude.find(type); it != revinclude.end() && !it->second.empty()) {
      std::vector<std::string>& rev = it->second;
      std::sort(rev.begin(), rev.end());
      rev.erase(std::unique(rev.begin(), rev.end()), rev.end());
      r.set("searchRevInclude", strings(rev));
    }
    if (!params.items().empty()) r.set("searchParam", std::move(params));
    json_value ops = operations_of(opts, type);
    if (!ops.items().empty()) r.set("operation", std::move(ops));
    resources.push_back(std::move(r));
  }
  rest.set("resource", std::move(resources));
  if (!opts.system_interactions.empty()) rest.set("interaction", codes(opts.system_interactions));
  json_value ops = operations_of(opts, "");
  if (!ops.items().empty()) rest.set("operation", std::move(ops));

  json_value rests = json_value::array();
  rests.push_back(std::move(rest));
  cs.set("rest", std::move(rests));
  return cs;
}

}  // namespace hearth::server
