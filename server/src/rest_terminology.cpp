// The R4 terminology operations over REST (rest_terminology.hpp): R4
// valueset-operation-expand.html, valueset-operation-validate-code.html,
// codesystem-operation-lookup.html, codesystem-operation-validate-code.html,
// codesystem-operation-subsumes.html, conceptmap-operation-translate.html;
// operations.html#executing for GET and POST.

#include "rest_terminology.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <hearth/core/text.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/server/validation_support.hpp>
#include <hearth/store/search_request.hpp>
#include <hearth/terminology/parameters.hpp>
#include <hearth/terminology/registry.hpp>

#include "rest_auth.hpp"
#include "rest_operations.hpp"
#include "rest_outcome.hpp"

namespace hearth::server::rest {

namespace {

using fhir::json_value;

/// The status of a terminology error (rest_terminology.hpp "Errors"). An
/// error located at an in-parameter ("Parameters.parameter[i]": malformed,
/// or one Hearth cannot honour such as $expand's `date`) is the request's
/// fault: 400 whatever its code.
int status_of(const hearth::error& e) noexcept {
  if (e.location.starts_with("Parameters.parameter")) return 400;
  if (e.code == "not-found") return 404;
  if (e.code == "not-supported" || e.code == "too-costly") return 422;
  // business-rule: a value set naming another code system version than
  // $expand's check-system-version allows (the HL7 reference server answers 400).
  if (e.code == "invalid" || e.code == "required" || e.code == "structure" || e.code == "business-rule") return 400;
  return 500;
}

http_response failure(const context& c, const hearth::error& e) {
  const int status = status_of(e);
  if (status == 500) return internal_error(c.req.request_id, c.fmt, c.defs);
  return error_response(status, e, c.fmt, c.defs);
}

/// The in-parameters as a Parameters resource: the POST body (which must be
/// one), or for GET the URL's parameters, each a valueString (the readers of
/// terminology/parameters.hpp take any primitive). Parameters of the
/// request itself (_format, _pretty) are not in-parameters.
std::optional<json_value> in_parameters(const context& c, http_response& error) {
  if (c.req.method == "POST" && !c.req.body.empty()) {
    auto body = read_op_body(c, error);
    if (!body) return std::nullopt;
    if (string_at(*body, "resourceType") != "Parameters") {
      error = bad_request(c, "invalid", "the body of a terminology operation is a Parameters resource");
      return std::nullopt;
    }
    const fhir::issue_list issues = fhir::check_resource(*body, c.defs);
    if (fhir::has_errors(issues)) {
      error = outcome_response(400, issues, c.fmt, c.defs);
      return std::nullopt;
    }
    return body;
  }
  json_value list = json_value::array();
  for (const auto& [name, value] : c.params) {
    if (name.starts_with('_')) continue;
    json_value p = json_value::object();
    p.set("name", name);
    p.set("valueString", value);
    list.push_back(std::move(p));
  }
  json_value out = json_value::object();
  out.set("resourceType", "Parameters");
  if (!list.items().empty()) out.set("parameter", std::move(list));
  return out;
}

}  // namespace

terminology::resolver terminology_resolver(const context& c) {
  return [&c](std::string_view type, std::string_view url, std::string_view version) -> std::optional<json_value> {
    const access a = either(authorize(c, auth::interaction::read, type), authorize(c, auth::interaction::search_type, type));
    if (!a.unrestricted()) return std::nullopt;
    param_list query{{"url", std::string(url)}};
    if (!version.empty()) query.emplace_back("version", std::string(version));
    auto req = store::parse_search(c.defs, type, query);
    if (!req) return std::nullopt;
    auto page = c.store.search(*req);
    if (!page) return std::nullopt;
    for (const store::resource_version& v : page->matches) {
      if (v.deleted) continue;
      auto parsed = fhir::parse_json(v.json);
      if (parsed) return std::move(*parsed);
    }
    return std::nullopt;
  };
}

namespace {

/// The stored resource of an instance-level call, as a read answers it;
/// nullopt and `answer` set when it cannot be had.
std::optional<json_value> instance_of(const context& c, std::string_view type, std::string_view id,
                                      http_response& answer) {
  const access a = authorize(c, auth::interaction::read, type);
  if (!a.allowed) {
    answer = forbidden(c, a);
    return std::nullopt;
  }
  auto v = current_for_read(c, a, std::string(type), std::string(id), answer);
  if (!v) return std::nullopt;
  auto parsed = fhir::parse_json(v->json);
  if (!parsed) {
    answer = internal_error(c.req.request_id, c.fmt, c.defs);
    return std::nullopt;
  }
  return std::move(*parsed);
}

template <class T>
http_response parameters_answer(const context& c, const hearth::result<T>& r) {
  if (!r) return failure(c, r.error());
  return resource_200(c, terminology::to_parameters(*r));
}

}  // namespace

namespace {

hearth::error search_error(std::string code, std::string message) {
  return hearth::error{std::move(code), std::move(message), {}, hearth::error::npos};
}

/// A search value part with R4 search.html#escaping applied: each comma,
/// bar, dollar and backslash escaped with a backslash.
std::string escape_part(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == ',' || ch == '|' || ch == '$' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

/// The items of a comma list, with R4's escaped commas kept inside items.
std::vector<std::string> split_commas(std::string_view v) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      out.back().push_back(v[++i]);
    } else if (v[i] == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(v[i]);
    }
  }
  return out;
}

/// (system, code) of every code of an expansion (flat: excludeNested).
void collect_codes(const json_value& value_set, std::vector<std::pair<std::string, std::string>>& out) {
  const json_value* exp = value_set.find("expansion");
  const json_value* contains = exp != nullptr ? exp->find("contains") : nullptr;
  if (contains == nullptr || !contains->is_array()) return;
  for (const json_value& c : contains->items()) {
    const std::string_view code = string_at(c, "code");
    if (!code.empty()) out.emplace_back(std::string(string_at(c, "system")), std::string(code));
  }
}

/// The codes of the value set `canonical`, or of the code `system|code` and
/// its descendants (`below`) or ancestors (above), through an expansion.
hearth::result<void> codes_for(const terminology::registry& reg, const terminology::resolver& resolve,
                               std::string_view modifier, const std::string& item,
                               std::vector<std::pair<std::string, std::string>>& out) {
  terminology::expand_request req;
  // One more than a criterion holds: enough to tell "too many".
  req.count = store::search_request::max_values + 1;
  json_value inline_vs;
  if (modifier == "in" || modifier == "not-in") {
    req.url = item;
  } else {
    const std::size_t bar = item.find('|');
    if (bar == std::string::npos || bar == 0 || bar + 1 == item.size()) {
      return hearth::unexpected(search_error("invalid", ":" + std::string(modifier) + " takes system|code"));
    }
    // R4 valueset.html filter operators: is-a (the code and its
    // descendants), generalizes (the code and its ancestors).
    json_value filter = json_value::object();
    filter.set("property", "concept");
    filter.set("op", modifier == "below" ? "is-a" : "generalizes");
    filter.set("value", item.substr(bar + 1));
    json_value filters = json_value::array();
    filters.push_back(std::move(filter));
    json_value include = json_value::object();
    include.set("system", item.substr(0, bar));
    include.set("filter", std::move(filters));
    json_value includes = json_value::array();
    includes.push_back(std::move(include));
    json_value compose = json_value::object();
    compose.set("include", std::move(includes));
    inline_vs = json_value::object();
    inline_vs.set("resourceType", "ValueSet");
    inline_vs.set("status", "active");
    inline_vs.set("compose", std::move(compose));
    req.value_set = &inline_vs;
  }
  auto expanded = req.value_set != nullptr ? reg.expand(*req.value_set, req, resolve) : reg.expand(req, resolve);
  if (!expanded) {
    const hearth::error& e = expanded.error();
    // A search names what it cannot use: 400, whatever the reason.
    return hearth::unexpected(search_error(e.code == "too-costly" ? "too-costly" : "invalid",
                                           ":" + std::string(modifier) + ": " + e.message));
  }
  collect_codes(*expanded, out);
  return {};
}

/// How the codes a token parameter indexes are written: primitive `code`
/// elements (Observation.status) are indexed without a system, Codings with
/// theirs (the store's indexer). Decided from the parameter's expression
/// where each path of it is a plain element path of `type`; `both` when
/// that cannot be told (a where(), a choice, another type).
enum class token_form : unsigned char { system_less, with_system, both };

token_form form_of(const fhir::definitions& defs, const fhir::search_parameter& sp, std::string_view type) {
  bool primitive = false;
  bool coded = false;
  std::string_view rest = sp.expression;
  while (!rest.empty()) {
    const std::size_t bar = rest.find('|');
    const std::string_view path = text::trim(rest.substr(0, bar));
    rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    if (!path.starts_with(type) || path.size() <= type.size() || path[type.size()] != '.') continue;  // another type's
    if (path.find_first_of("() ") != std::string_view::npos) return token_form::both;
    const fhir::element_definition* e = defs.find_element(path);
    if (e == nullptr || e->types.size() != 1) return token_form::both;
    const std::string_view t = e->types.front().code;
    if (t == "code") {
      primitive = true;
    } else if (t == "Coding" || t == "CodeableConcept") {
      coded = true;
    } else {
      return token_form::both;
    }
  }
  if (primitive == coded) return token_form::both;
  return primitive ? token_form::system_less : token_form::with_system;
}

}  // namespace

hearth::result<void> resolve_terminology_modifiers(const context& c, std::string_view type, param_list& params) {
  static constexpr std::string_view modifiers[] = {"in", "not-in", "below", "above"};
  param_list out;
  out.reserve(params.size());
  const terminology::registry* reg = nullptr;
  terminology::resolver resolve;
  for (auto& [name, value] : params) {
    const std::size_t colon = name.find(':');
    const std::string_view modifier = colon == std::string::npos ? std::string_view() : std::string_view(name).substr(colon + 1);
    const std::string base(name.substr(0, colon == std::string::npos ? name.size() : colon));
    const fhir::search_parameter* sp =
        colon == std::string::npos ? nullptr : c.defs.find_search_parameter(type, base);
    const bool ours = sp != nullptr && sp->type == fhir::search_param_type::token &&
                      std::find(std::begin(modifiers), std::end(modifiers), modifier) != std::end(modifiers);
    if (!ours) {
      out.emplace_back(std::move(name), std::move(value));
      continue;
    }
    if (reg == nullptr) {
      if (c.opts.validation == nullptr) {
        return hearth::unexpected(search_error(
            "not-supported", "token modifier :" + std::string(modifier) + " needs the terminology services, which are "
                                                                          "not configured on this server"));
      }
      auto r = c.opts.validation->terminology();
      if (!r) return hearth::unexpected(r.error());
      reg = *r;
      resolve = terminology_resolver(c);
    }
    std::vector<std::pair<std::string, std::string>> codes;
    for (const std::string& item : split_commas(value)) {
      if (item.empty()) return hearth::unexpected(search_error("invalid", "an empty value in :" + std::string(modifier)));
      if (auto r = codes_for(*reg, resolve, modifier, item, codes); !r) return r;
      if (codes.size() > store::search_request::max_values) {
        return hearth::unexpected(search_error(
            "too-costly", ":" + std::string(modifier) + " names more than " +
                              std::to_string(store::search_request::max_values) +
                              " codes, more than one search criterion may hold; search by the codes themselves"));
      }
    }
    // A primitive code is indexed without its (implicit) system: matched by
    // the bare code; a Coding by system|code; both forms when the parameter
    // could be either.
    const token_form form = form_of(c.defs, *sp, type);
    if (form != token_form::with_system) {
      const std::size_t n = codes.size();
      for (std::size_t i = 0; i < n; ++i) {
        if (!codes[i].first.empty()) codes.emplace_back(std::string(), codes[i].second);
      }
      if (form == token_form::system_less) {
        std::erase_if(codes, [](const auto& sc) { return !sc.first.empty(); });
      }
    }
    std::sort(codes.begin(), codes.end());
    codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
    if (codes.size() > store::search_request::max_values) {
      return hearth::unexpected(search_error(
          "too-costly", ":" + std::string(modifier) + " names more codes than one search criterion may hold (" +
                            std::to_string(store::search_request::max_values) +
                            "); search by the codes themselves"));
    }
    auto token = [](const std::pair<std::string, std::string>& sc) {
      return sc.first.empty() ? escape_part(sc.second) : escape_part(sc.first) + "|" + escape_part(sc.second);
    };
    if (modifier == "not-in") {
      // An AND of negations: none of the codes. Nothing in the set: no criterion.
      for (const auto& sc : codes) out.emplace_back(base + ":not", token(sc));
      continue;
    }
    if (codes.empty()) {
      // Nothing can match an empty set: a code no resource has, rather than
      // no criterion (which would match everything).
      out.emplace_back(base, "urn:hearth:empty-value-set|");
      continue;
    }
    std::string joined;
    for (const auto& sc : codes) {
      if (!joined.empty()) joined.push_back(',');
      joined += token(sc);
    }
    out.emplace_back(base, std::move(joined));
  }
  params = std::move(out);
  return {};
}

bool is_terminology_operation(std::string_view type, std::string_view name) noexcept {
  if (type == "ValueSet") return name == "expand" || name == "validate-code";
  if (type == "CodeSystem") return name == "lookup" || name == "validate-code" || name == "subsumes";
  if (type == "ConceptMap") return name == "translate";
  return false;
}

http_response terminology_operation(const context& c, std::string_view type, std::string_view id,
                                    std::string_view name) {
  if (c.req.method != "GET" && c.req.method != "POST") return not_allowed(c, "GET, POST");
  if (c.opts.validation == nullptr) {
    return error_response(501, "not-supported", "the terminology services are not configured on this server", c.fmt,
                          c.defs);
  }
  auto registry = c.opts.validation->terminology();
  if (!registry) return internal_error(c.req.request_id, c.fmt, c.defs);
  const terminology::registry& reg = **registry;

  http_response answer;
  std::optional<json_value> instance;
  if (!id.empty()) {
    instance = instance_of(c, type, id, answer);
    if (!instance) return answer;
  }
  const auto params = in_parameters(c, answer);
  if (!params) return answer;
  const terminology::resolver resolve = terminology_resolver(c);
  const json_value* inst = instance ? &*instance : nullptr;

  if (type == "ValueSet" && name == "expand") {
    auto req = terminology::parse_expand_parameters(*params);
    if (!req) return failure(c, req.error());
    const std::string context = req->context;
    if (!context.empty()) {
      // R4 `context`: "so that the server can resolve this to a value set to
      // expand": the value set bound to that element of a StructureDefinition
      // (the packages' or one stored, as the token may read it).
      if (inst != nullptr || req->value_set != nullptr || !req->url.empty()) {
        return bad_request(c, "invalid", "$expand takes either a context or a value set (url, valueSet, instance)");
      }
      auto bound = c.opts.validation->context_value_set(context, resolve);
      if (!bound) return failure(c, bound.error());
      req->url = *bound;
      req->context.clear();
    }
    if (inst == nullptr && req->value_set == nullptr && req->url.empty()) {
      return bad_request(c, "required", "$expand needs the parameter url, valueSet or context, or a ValueSet instance");
    }
    auto expanded = inst != nullptr ? reg.expand(*inst, *req, resolve) : reg.expand(*req, resolve);
    if (!expanded) return failure(c, expanded.error());
    if (!context.empty()) {
      // Recorded with the parameters that shaped the expansion.
      if (json_value* exp = expanded->find("expansion"); exp != nullptr && exp->is_object()) {
        json_value p = json_value::object();
        p.set("name", "context");
        p.set("valueUri", context);
        if (json_value* list = exp->find("parameter"); list != nullptr && list->is_array()) {
          list->push_back(std::move(p));
        } else {
          json_value fresh = json_value::array();
          fresh.push_back(std::move(p));
          exp->set("parameter", std::move(fresh));
        }
      }
    }
    return resource_200(c, *expanded);
  }
  if (type == "ValueSet" && name == "validate-code") {
    auto req = terminology::parse_value_set_validate_parameters(*params);
    if (!req) return failure(c, req.error());
    if (inst != nullptr) req->resource = inst;
    if (req->resource == nullptr && req->url.empty()) {
      return bad_request(c, "required", "$validate-code needs the parameter url or valueSet, or a ValueSet instance");
    }
    return parameters_answer(c, reg.validate_code_in_value_set(*req, resolve));
  }
  if (type == "CodeSystem" && name == "validate-code") {
    auto req = terminology::parse_code_system_validate_parameters(*params);
    if (!req) return failure(c, req.error());
    if (inst != nullptr) req->resource = inst;
    if (req->resource == nullptr && req->url.empty()) {
      return bad_request(c, "required",
                         "$validate-code needs the parameter url or codeSystem, or a CodeSystem instance");
    }
    return parameters_answer(c, reg.validate_code_in_code_system(*req, resolve));
  }
  if (type == "CodeSystem" && name == "lookup") {
    auto req = terminology::parse_lookup_parameters(*params);
    if (!req) return failure(c, req.error());
    if (inst != nullptr) req->code_system = inst;
    return parameters_answer(c, reg.lookup(*req, resolve));
  }
  if (type == "CodeSystem" && name == "subsumes") {
    auto req = terminology::parse_subsumes_parameters(*params);
    if (!req) return failure(c, req.error());
    if (inst != nullptr) req->code_system = inst;
    return parameters_answer(c, reg.subsumes(*req, resolve));
  }
  // ConceptMap/$translate (is_terminology_operation admits nothing else).
  auto req = terminology::parse_translate_parameters(*params);
  if (!req) return failure(c, req.error());
  if (inst != nullptr) req->concept_map = inst;
  return parameters_answer(c, reg.translate(*req, resolve));
}

}  // namespace hearth::server::rest
