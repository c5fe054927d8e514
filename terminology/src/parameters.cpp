// Parameters resources in and out of the terminology operations (parameters.hpp).

#include <hearth/terminology/parameters.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace hearth::terminology {
namespace {

using fhir::json_value;

/// Largest offset / count read: beyond any expansion Hearth gives.
constexpr std::size_t max_integer_parameter = 1'000'000'000;

hearth::error bad(std::size_t i, std::string message) {
  return hearth::error{"invalid", std::move(message), "Parameters.parameter[" + std::to_string(i) + "]",
                       hearth::error::npos};
}

/// One Parameters.parameter: its name, its value[x] (key and value), its resource.
struct param_view {
  std::size_t index = 0;
  std::string_view name;
  std::string_view value_key;
  const json_value* value = nullptr;
  const json_value* resource = nullptr;
};

hearth::result<std::vector<param_view>> params_of(const json_value& parameters) {
  if (!parameters.is_object())
    return hearth::unexpected(hearth::error{"invalid", "not a Parameters resource", "", hearth::error::npos});
  const json_value* type = parameters.find("resourceType");
  if (!type || !type->is_string() || type->str() != "Parameters")
    return hearth::unexpected(hearth::error{"invalid", "not a Parameters resource", "Parameters", hearth::error::npos});
  std::vector<param_view> out;
  const json_value* list = parameters.find("parameter");
  if (!list) return out;
  if (!list->is_array())
    return hearth::unexpected(hearth::error{"invalid", "Parameters.parameter is not an array", "Parameters.parameter",
                                            hearth::error::npos});
  for (std::size_t i = 0; i < list->items().size(); ++i) {
    const json_value& p = list->items()[i];
    if (!p.is_object()) return hearth::unexpected(bad(i, "parameter is not an object"));
    param_view v;
    v.index = i;
    const json_value* name = p.find("name");
    if (!name || !name->is_string()) return hearth::unexpected(bad(i, "parameter without name"));
    v.name = name->str();
    for (const auto& m : p.members()) {
      if (m.key.size() > 5 && m.key.starts_with("value")) {
        v.value_key = m.key;
        v.value = &m.value;
      } else if (m.key == "resource") {
        v.resource = &m.value;
      }
    }
    out.push_back(v);
  }
  return out;
}

hearth::result<std::string> text_of(const param_view& p) {
  if (!p.value) return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' has no value"));
  if (p.value->is_string()) return p.value->str();
  if (p.value->is_number()) return p.value->number_text();
  if (p.value->is_bool()) return std::string(p.value->as_bool() ? "true" : "false");
  return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' is not a primitive value"));
}

hearth::result<bool> bool_of(const param_view& p) {
  auto t = text_of(p);
  if (!t) return hearth::unexpected(std::move(t).error());
  if (*t == "true") return true;
  if (*t == "false") return false;
  return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' is not a boolean"));
}

hearth::result<std::size_t> count_of(const param_view& p) {
  auto t = text_of(p);
  if (!t) return hearth::unexpected(std::move(t).error());
  if (t->empty() || t->size() > 10)
    return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' is not a non-negative integer"));
  std::size_t n = 0;
  for (char c : *t) {
    if (c < '0' || c > '9')
      return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' is not a non-negative integer"));
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  if (n > max_integer_parameter)
    return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' is too large"));
  return n;
}

hearth::result<const json_value*> resource_of(const param_view& p, std::string_view type) {
  const json_value* r = p.resource;
  const json_value* t = r && r->is_object() ? r->find("resourceType") : nullptr;
  if (!t || !t->is_string() || t->str() != type)
    return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' must be a " + std::string(type) +
                                               " resource"));
  return r;
}

hearth::result<coding> coding_param(const param_view& p) {
  if (!p.value || p.value_key != "valueCoding")
    return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' must be a Coding"));
  auto c = coding_from_json(*p.value);
  if (!c) return hearth::unexpected(bad(p.index, c.error().message));
  return c;
}

hearth::result<std::vector<coding>> cc_param(const param_view& p) {
  if (!p.value || p.value_key != "valueCodeableConcept")
    return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' must be a CodeableConcept"));
  auto c = codings_from_codeable_concept(*p.value);
  if (!c) return hearth::unexpected(bad(p.index, c.error().message));
  return c;
}

#define HEARTH_TRY_ASSIGN(lhs, expr)                               \
  do {                                                             \
    auto tmp_ = (expr);                                            \
    if (!tmp_) return hearth::unexpected(std::move(tmp_).error()); \
    lhs = std::move(tmp_).value();                                 \
  } while (0)

/// The common inputs of $validate-code (both) and $translate: a code with
/// system/version/display, a coding or a codeable concept.
struct code_inputs {
  std::string code, system, version, display;
  std::optional<coding> c;
  std::optional<std::vector<coding>> cc;

  void to(std::vector<coding>& codings, bool& codeable_concept) const {
    if (cc) {
      codings = *cc;
      codeable_concept = true;
    } else if (c) {
      codings = {*c};
    } else if (!code.empty()) {
      codings = {coding{system, version, code, display}};
    }
  }
};

json_value bool_param(std::string_view name, bool v) {
  json_value p = json_value::object();
  p.set("name", name);
  p.set("valueBoolean", v);
  return p;
}

json_value typed_param(std::string_view name, std::string_view key, json_value v) {
  json_value p = json_value::object();
  p.set("name", name);
  p.set(key, std::move(v));
  return p;
}

json_value parts_param(std::string_view name, json_value parts) {
  json_value p = json_value::object();
  p.set("name", name);
  p.set("part", std::move(parts));
  return p;
}

json_value parameters(json_value list) {
  json_value out = json_value::object();
  out.set("resourceType", "Parameters");
  if (!list.items().empty()) out.set("parameter", std::move(list));
  return out;
}

}  // namespace

hearth::result<coding> coding_from_json(const json_value& j) {
  if (!j.is_object()) return hearth::unexpected(hearth::error{"invalid", "Coding is not an object", "", hearth::error::npos});
  coding c;
  for (auto [key, field] : {std::pair{"system", &c.system}, std::pair{"version", &c.version},
                            std::pair{"code", &c.code}, std::pair{"display", &c.display}}) {
    const json_value* v = j.find(key);
    if (!v) continue;
    if (!v->is_string())
      return hearth::unexpected(hearth::error{"invalid", std::string("Coding.") + key + " is not a string", "",
                                              hearth::error::npos});
    *field = v->str();
  }
  return c;
}

hearth::result<std::vector<coding>> codings_from_codeable_concept(const json_value& j) {
  if (!j.is_object())
    return hearth::unexpected(hearth::error{"invalid", "CodeableConcept is not an object", "", hearth::error::npos});
  std::vector<coding> out;
  const json_value* list = j.find("coding");
  if (!list) return out;
  if (!list->is_array())
    return hearth::unexpected(hearth::error{"invalid", "CodeableConcept.coding is not an array", "", hearth::error::npos});
  for (const auto& c : list->items()) {
    auto one = coding_from_json(c);
    if (!one) return hearth::unexpected(std::move(one).error());
    out.push_back(std::move(one).value());
  }
  return out;
}

json_value to_json(const coding& c) {
  json_value o = json_value::object();
  if (!c.system.empty()) o.set("system", c.system);
  if (!c.version.empty()) o.set("version", c.version);
  if (!c.code.empty()) o.set("code", c.code);
  if (!c.display.empty()) o.set("display", c.display);
  return o;
}

namespace {

/// "system|version" (R4 valueset-operation-expand.html: "The format is the
/// same as a canonical URL: [system]|[version]"); the version required when
/// `need_version`.
hearth::result<system_version> system_version_of(const param_view& p, bool need_version) {
  auto t = text_of(p);
  if (!t) return hearth::unexpected(std::move(t).error());
  system_version sv;
  const auto bar = t->find('|');
  sv.system = t->substr(0, bar);
  if (bar != std::string::npos) sv.version = t->substr(bar + 1);
  if (sv.system.empty())
    return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' names no code system"));
  if (need_version && sv.version.empty())
    return hearth::unexpected(
        bad(p.index, "parameter '" + std::string(p.name) + "' must be system|version, with a version"));
  return sv;
}

/// Adds a version rule; the same system twice with different versions is
/// ambiguous.
hearth::result<void> add_version_rule(const param_view& p, std::vector<system_version>& rules) {
  auto sv = system_version_of(p, true);
  if (!sv) return hearth::unexpected(std::move(sv).error());
  for (const auto& r : rules) {
    if (r.system != sv->system) continue;
    if (r.version != sv->version)
      return hearth::unexpected(bad(p.index, "parameter '" + std::string(p.name) + "' gives two versions of " +
                                                 sv->system));
    return {};
  }
  rules.push_back(std::move(sv).value());
  return {};
}

/// A `designation` token (R4 search.html#token): "system|code", "|code", or "code".
hearth::result<coding> designation_token(const param_view& p) {
  auto t = text_of(p);
  if (!t) return hearth::unexpected(std::move(t).error());
  coding c;
  const auto bar = t->find('|');
  if (bar == std::string::npos) {
    c.code = *t;
  } else {
    c.system = t->substr(0, bar);
    c.code = t->substr(bar + 1);
  }
  if (c.code.empty() && c.system.empty())
    return hearth::unexpected(bad(p.index, "parameter 'designation' is empty"));
  return c;
}

}  // namespace

hearth::result<expand_request> parse_expand_parameters(const json_value& parameters) {
  auto ps = params_of(parameters);
  if (!ps) return hearth::unexpected(std::move(ps).error());
  expand_request r;
  for (const auto& p : *ps) {
    if (p.name == "exclude-system") {
      auto sv = system_version_of(p, false);
      if (!sv) return hearth::unexpected(std::move(sv).error());
      r.exclude_systems.push_back(std::move(sv).value());
      continue;
    }
    if (p.name == "system-version" || p.name == "check-system-version" || p.name == "force-system-version") {
      auto& rules = p.name == "system-version"         ? r.system_versions
                    : p.name == "check-system-version" ? r.check_system_versions
                                                       : r.force_system_versions;
      if (auto a = add_version_rule(p, rules); !a) return hearth::unexpected(std::move(a).error());
      continue;
    }
    if (p.name == "designation") {
      auto c = designation_token(p);
      if (!c) return hearth::unexpected(std::move(c).error());
      r.designations.push_back(std::move(c).value());
      continue;
    }
    if (p.name == "date") {
      // R4: "the server should use the value set / code system definitions as
      // they were on the given date, or return an error if this is not
      // possible". Hearth keeps the current definitions only.
      return hearth::unexpected(hearth::error{
          "not-supported",
          "parameter 'date' of $expand is not supported: only the current definitions are held, not those of "
          "another date",
          "Parameters.parameter[" + std::to_string(p.index) + "]", hearth::error::npos});
    }
    if (p.name == "contextDirection") {
      HEARTH_TRY_ASSIGN(r.context_direction, text_of(p));
      if (r.context_direction != "incoming" && r.context_direction != "outgoing")
        return hearth::unexpected(bad(p.index, "parameter 'contextDirection' must be 'incoming' or 'outgoing'"));
      continue;
    }
    if (p.name == "url") HEARTH_TRY_ASSIGN(r.url, text_of(p));
    else if (p.name == "valueSet") HEARTH_TRY_ASSIGN(r.value_set, resource_of(p, "ValueSet"));
    else if (p.name == "valueSetVersion") HEARTH_TRY_ASSIGN(r.value_set_version, text_of(p));
    else if (p.name == "filter") HEARTH_TRY_ASSIGN(r.filter, text_of(p));
    else if (p.name == "offset") HEARTH_TRY_ASSIGN(r.offset, count_of(p));
    else if (p.name == "count") HEARTH_TRY_ASSIGN(r.count, count_of(p));
    else if (p.name == "activeOnly") HEARTH_TRY_ASSIGN(r.active_only, bool_of(p));
    else if (p.name == "includeDesignations") HEARTH_TRY_ASSIGN(r.include_designations, bool_of(p));
    else if (p.name == "excludeNested") HEARTH_TRY_ASSIGN(r.exclude_nested, bool_of(p));
    else if (p.name == "includeDefinition") HEARTH_TRY_ASSIGN(r.include_definition, bool_of(p));
    else if (p.name == "displayLanguage") HEARTH_TRY_ASSIGN(r.display_language, text_of(p));
    else if (p.name == "context") HEARTH_TRY_ASSIGN(r.context, text_of(p));
  }
  if (!r.context_direction.empty() && r.context.empty())
    return hearth::unexpected(hearth::error{"invalid", "parameter 'contextDirection' needs a 'context'", "Parameters",
                                            hearth::error::npos});
  return r;
}

namespace {

hearth::result<validate_request> parse_validate(const json_value& parameters, bool value_set) {
  auto ps = params_of(parameters);
  if (!ps) return hearth::unexpected(std::move(ps).error());
  validate_request r;
  code_inputs in;
  for (const auto& p : *ps) {
    if (p.name == "url") HEARTH_TRY_ASSIGN(r.url, text_of(p));
    else if (value_set && p.name == "valueSet") HEARTH_TRY_ASSIGN(r.resource, resource_of(p, "ValueSet"));
    else if (!value_set && p.name == "codeSystem") HEARTH_TRY_ASSIGN(r.resource, resource_of(p, "CodeSystem"));
    else if (value_set && p.name == "valueSetVersion") HEARTH_TRY_ASSIGN(r.value_set_version, text_of(p));
    else if (p.name == "code") HEARTH_TRY_ASSIGN(in.code, text_of(p));
    // `system` is not an in-parameter of CodeSystem/$validate-code, but
    // clients send it: it names the code system as `url` does.
    else if (p.name == "system") HEARTH_TRY_ASSIGN(in.system, text_of(p));
    else if (p.name == (value_set ? "systemVersion" : "version")) HEARTH_TRY_ASSIGN(in.version, text_of(p));
    else if (p.name == "display") HEARTH_TRY_ASSIGN(in.display, text_of(p));
    else if (p.name == "coding") HEARTH_TRY_ASSIGN(in.c, coding_param(p));
    else if (p.name == "codeableConcept") HEARTH_TRY_ASSIGN(in.cc, cc_param(p));
    else if (p.name == "abstract") HEARTH_TRY_ASSIGN(r.abstract_ok, bool_of(p));
  }
  in.to(r.codings, r.codeable_concept);
  return r;
}

}  // namespace

hearth::result<validate_request> parse_value_set_validate_parameters(const json_value& parameters) {
  return parse_validate(parameters, true);
}

hearth::result<validate_request> parse_code_system_validate_parameters(const json_value& parameters) {
  return parse_validate(parameters, false);
}

hearth::result<lookup_request> parse_lookup_parameters(const json_value& parameters) {
  auto ps = params_of(parameters);
  if (!ps) return hearth::unexpected(std::move(ps).error());
  lookup_request r;
  std::optional<coding> c;
  for (const auto& p : *ps) {
    if (p.name == "code") HEARTH_TRY_ASSIGN(r.input.code, text_of(p));
    else if (p.name == "system") HEARTH_TRY_ASSIGN(r.input.system, text_of(p));
    else if (p.name == "version") HEARTH_TRY_ASSIGN(r.input.version, text_of(p));
    else if (p.name == "coding") HEARTH_TRY_ASSIGN(c, coding_param(p));
    else if (p.name == "property") {
      std::string prop;
      HEARTH_TRY_ASSIGN(prop, text_of(p));
      r.properties.push_back(std::move(prop));
    }
  }
  if (c) r.input = *c;
  return r;
}

hearth::result<subsumes_request> parse_subsumes_parameters(const json_value& parameters) {
  auto ps = params_of(parameters);
  if (!ps) return hearth::unexpected(std::move(ps).error());
  subsumes_request r;
  for (const auto& p : *ps) {
    if (p.name == "codeA") HEARTH_TRY_ASSIGN(r.a.code, text_of(p));
    else if (p.name == "codeB") HEARTH_TRY_ASSIGN(r.b.code, text_of(p));
    else if (p.name == "system") HEARTH_TRY_ASSIGN(r.system, text_of(p));
    else if (p.name == "version") HEARTH_TRY_ASSIGN(r.version, text_of(p));
    else if (p.name == "codingA") HEARTH_TRY_ASSIGN(r.a, coding_param(p));
    else if (p.name == "codingB") HEARTH_TRY_ASSIGN(r.b, coding_param(p));
  }
  return r;
}

hearth::result<translate_request> parse_translate_parameters(const json_value& parameters) {
  auto ps = params_of(parameters);
  if (!ps) return hearth::unexpected(std::move(ps).error());
  translate_request r;
  code_inputs in;
  std::string map_version;
  for (const auto& p : *ps) {
    if (p.name == "url") HEARTH_TRY_ASSIGN(r.url, text_of(p));
    else if (p.name == "conceptMap") HEARTH_TRY_ASSIGN(r.concept_map, resource_of(p, "ConceptMap"));
    else if (p.name == "code") HEARTH_TRY_ASSIGN(in.code, text_of(p));
    else if (p.name == "system") HEARTH_TRY_ASSIGN(in.system, text_of(p));
    else if (p.name == "version") HEARTH_TRY_ASSIGN(in.version, text_of(p));
    else if (p.name == "source") HEARTH_TRY_ASSIGN(r.source, text_of(p));
    else if (p.name == "target") HEARTH_TRY_ASSIGN(r.target, text_of(p));
    else if (p.name == "targetsystem") HEARTH_TRY_ASSIGN(r.target_system, text_of(p));
    else if (p.name == "coding") HEARTH_TRY_ASSIGN(in.c, coding_param(p));
    else if (p.name == "codeableConcept") HEARTH_TRY_ASSIGN(in.cc, cc_param(p));
    else if (p.name == "reverse") HEARTH_TRY_ASSIGN(r.reverse, bool_of(p));
    else if (p.name == "conceptMapVersion") HEARTH_TRY_ASSIGN(map_version, text_of(p));
  }
  if (!map_version.empty() && !r.url.empty() && r.url.find('|') == std::string::npos) r.url += "|" + map_version;
  bool cc = false;
  in.to(r.codings, cc);
  return r;
}

json_value to_parameters(const validate_result& r) {
  json_value list = json_value::array();
  list.push_back(bool_param("result", r.result()));
  if (const auto m = r.message(); !m.empty()) list.push_back(typed_param("message", "valueString", m));
  if (!r.display.empty()) list.push_back(typed_param("display", "valueString", r.display));
  return parameters(std::move(list));
}

json_value to_parameters(const lookup_result& r) {
  json_value list = json_value::array();
  // FHIR JSON has no empty strings (R4 json.html): an empty member is left out.
  if (!r.name.empty()) list.push_back(typed_param("name", "valueString", r.name));
  if (!r.version.empty()) list.push_back(typed_param("version", "valueString", r.version));
  if (!r.display.empty()) list.push_back(typed_param("display", "valueString", r.display));
  for (const auto& d : r.designations) {
    json_value parts = json_value::array();
    if (!d.language.empty()) parts.push_back(typed_param("language", "valueCode", d.language));
    if (!d.use.code.empty() || !d.use.system.empty()) parts.push_back(typed_param("use", "valueCoding", to_json(d.use)));
    if (d.value.empty()) continue;
    parts.push_back(typed_param("value", "valueString", d.value));
    list.push_back(parts_param("designation", std::move(parts)));
  }
  const auto property = [&](std::string_view code, std::string_view key, json_value value, std::string_view description) {
    json_value parts = json_value::array();
    parts.push_back(typed_param("code", "valueCode", code));
    if (!key.empty()) parts.push_back(typed_param("value", key, std::move(value)));
    if (!description.empty()) parts.push_back(typed_param("description", "valueString", description));
    list.push_back(parts_param("property", std::move(parts)));
  };
  if (!r.definition.empty()) property("definition", "valueString", r.definition, "");
  for (const auto& p : r.properties) property(p.code, p.value_key, p.value, p.description);
  return parameters(std::move(list));
}

json_value to_parameters(subsumption s) {
  json_value list = json_value::array();
  list.push_back(typed_param("outcome", "valueCode", to_string(s)));
  return parameters(std::move(list));
}

json_value to_parameters(const translate_result& r) {
  json_value list = json_value::array();
  list.push_back(bool_param("result", r.result));
  if (!r.message.empty()) list.push_back(typed_param("message", "valueString", r.message));
  for (const auto& m : r.matches) {
    json_value parts = json_value::array();
    parts.push_back(typed_param("equivalence", "valueCode", m.equivalence));
    if (!m.mapped.code.empty()) parts.push_back(typed_param("concept", "valueCoding", to_json(m.mapped)));
    if (!m.source.empty()) parts.push_back(typed_param("source", "valueUri", m.source));
    list.push_back(parts_param("match", std::move(parts)));
  }
  return parameters(std::move(list));
}

}  // namespace hearth::terminology
