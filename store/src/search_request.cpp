#include <hearth/store/search_request.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/store/date_range.hpp>
#include <hearth/store/decimal_range.hpp>
#include <hearth/store/error_codes.hpp>

#include "detail/search_value_split.hpp"

namespace hearth::store {

namespace {

using detail::split_unescaped;
using detail::unescape;
using fhir::search_param_type;
using fhir::search_parameter;

/// Longest parameter name read, in bytes. The longest meaningful name —
/// max_chain_depth steps of `_has:Type:param:` with R4's longest type name
/// (35 bytes) and parameter codes, then a parameter and a `:Type` modifier —
/// stays under 400 bytes; the limit bounds what the lookups and the messages
/// (which quote names) handle.
constexpr std::size_t max_name_bytes = 512;

/// Longest single value, in bytes: one OR value of a criterion, a `_cursor`.
/// Codes, dates, names and canonical URLs with a version are far shorter;
/// the limit bounds the memory and the SQL parameters one criterion brings
/// (at most search_request::max_values such values).
constexpr std::size_t max_value_bytes = 4096;

/// An error about one query parameter. The message names the parameter and
/// never quotes its value (values may carry PHI); `location` is the name.
hearth::error make_error(std::string_view code, std::string_view name, std::string_view what) {
  std::string message = "search parameter '";
  message += name;
  message += "': ";
  message += what;
  return hearth::error{std::string(code), std::move(message), std::string(name), hearth::error::npos};
}

hearth::unexpected<hearth::error> fail(std::string_view code, std::string_view name, std::string_view what) {
  return hearth::unexpected(make_error(code, name, what));
}

/// An error about the search as a whole (its type, its compartment).
hearth::unexpected<hearth::error> fail_search(std::string_view code, std::string message) {
  return hearth::unexpected(hearth::error{std::string(code), std::move(message), {}, hearth::error::npos});
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// FHIR R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}.
bool is_id(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '.';
  });
}

template <class Range>
bool contains(const Range& r, std::string_view s) {
  return std::find_if(r.begin(), r.end(), [s](const auto& x) { return std::string_view(x) == s; }) != r.end();
}

// --- values ------------------------------------------------------------------

// search.html#prefix.
constexpr std::array<std::pair<std::string_view, search_prefix>, 9> prefix_codes{{
    {"eq", search_prefix::eq}, {"ne", search_prefix::ne}, {"gt", search_prefix::gt},
    {"lt", search_prefix::lt}, {"ge", search_prefix::ge}, {"le", search_prefix::le},
    {"sa", search_prefix::sa}, {"eb", search_prefix::eb}, {"ap", search_prefix::ap},
}};

/// Takes the prefix off a number, date or quantity value. Two letters count
/// as a prefix only when the value itself follows: a digit, or for numbers
/// and quantities a '-' (search.html#prefix: "the value ... is a number").
/// Anything else has no prefix and is then checked as a whole, so "gtx" or
/// "GT5" fail as malformed values rather than as prefixes.
search_prefix take_prefix(std::string_view& text, bool minus_allowed) noexcept {
  if (text.size() < 3 || !(is_digit(text[2]) || (minus_allowed && text[2] == '-'))) return search_prefix::eq;
  for (const auto& [code, prefix] : prefix_codes) {
    if (text.substr(0, 2) == code) {
      text.remove_prefix(2);
      return prefix;
    }
  }
  return search_prefix::eq;
}

/// `text` split at unescaped '|' into at most max_parts + 1 parts, unescaped.
std::vector<std::string> split_parts(std::string_view text, std::size_t max_parts) {
  std::vector<std::string> parts;
  for (const std::string_view raw : split_unescaped(text, '|', max_parts)) parts.push_back(unescape(raw));
  return parts;
}

/// One value (or one composite component) of a parameter of type `type`,
/// still escaped; see search_value::parts for what each type gives.
hearth::result<search_value> parse_value(search_param_type type, search_modifier modifier, std::string_view text,
                                         std::string_view name) {
  if (text.empty()) return fail(error_codes::invalid, name, "an empty value (search.html#combining)");
  search_value v;
  if (modifier == search_modifier::missing) {
    std::string s = unescape(text);
    if (s != "true" && s != "false") return fail(error_codes::invalid, name, ":missing takes true or false");
    v.parts.push_back(std::move(s));
    return v;
  }
  switch (type) {
    case search_param_type::string:
    case search_param_type::uri:
      // '|' is text here: a name or a URL is one part (search.html#string, #uri).
      v.parts.push_back(unescape(text));
      return v;
    case search_param_type::number: {
      v.prefix = take_prefix(text, true);
      std::string s = unescape(text);
      if (!parse_decimal_range(s)) {
        return fail(error_codes::invalid, name, "a value is not a number (search.html#number)");
      }
      v.parts.push_back(std::move(s));
      return v;
    }
    case search_param_type::date: {
      v.prefix = take_prefix(text, false);
      std::string s = unescape(text);
      if (!parse_date_range(s)) return fail(error_codes::invalid, name, "a value is not a date (search.html#date)");
      v.parts.push_back(std::move(s));
      return v;
    }
    case search_param_type::token:
      if (modifier == search_modifier::text || modifier == search_modifier::in ||
          modifier == search_modifier::not_in) {
        // Free text, or the URL of a value set: one part.
        v.parts.push_back(unescape(text));
        return v;
      }
      if (modifier == search_modifier::of_type) {
        v.parts = split_parts(text, 3);
        // search-modifier-code of-type: "All 3 parts must be present".
        if (v.parts.size() != 3 || v.parts[1].empty() || v.parts[2].empty()) {
          return fail(error_codes::invalid, name, ":of-type takes system|code|value with a code and a value");
        }
        return v;
      }
      v.parts = split_parts(text, 2);
      if (v.parts.size() > 2) return fail(error_codes::invalid, name, "a token has at most two parts, system|code");
      if (std::all_of(v.parts.begin(), v.parts.end(), [](const std::string& p) { return p.empty(); })) {
        return fail(error_codes::invalid, name, "a token value names neither a system nor a code");
      }
      return v;
    case search_param_type::quantity:
      v.prefix = take_prefix(text, true);
      v.parts = split_parts(text, 3);
      if (v.parts.size() != 1 && v.parts.size() != 3) {
        return fail(error_codes::invalid, name, "a quantity is number or number|system|code (search.html#quantity)");
      }
      if (!parse_decimal_range(v.parts[0])) {
        return fail(error_codes::invalid, name, "a quantity value does not start with a number (search.html#quantity)");
      }
      return v;
    case search_param_type::reference:
      v.parts = split_parts(text, 2);
      if (v.parts.size() > 2) {
        return fail(error_codes::invalid, name, "a reference has at most two parts, url|version or system|value");
      }
      // :identifier: the identifier value is the last part; otherwise the
      // reference (or canonical URL) is the first.
      if ((modifier == search_modifier::identifier ? v.parts.back() : v.parts.front()).empty()) {
        return fail(error_codes::invalid, name, "an empty reference value");
      }
      return v;
    case search_param_type::composite:
    case search_param_type::special:
      break;
  }
  // A composite inside a composite, or a special component: not in R4.
  return fail(error_codes::not_supported, name, "a component of this type is not supported");
}

/// A composite value: one value per component, separated by unescaped '$'
/// (search.html#composite); prefixes apply to each component as to a
/// parameter of its type. `components` are the component parameters.
hearth::result<search_value> parse_composite(std::span<const search_parameter* const> components,
                                             std::string_view text, std::string_view name) {
  const std::vector<std::string_view> pieces = split_unescaped(text, '$', components.size());
  if (pieces.size() != components.size()) {
    return fail(error_codes::invalid, name, "a composite value has one part per component, separated by '$'");
  }
  search_value v;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    auto c = parse_value(components[i]->type, search_modifier::none, pieces[i], name);
    if (!c) return hearth::unexpected(std::move(c).error());
    v.components.push_back(std::move(c).value());
  }
  return v;
}

// --- names ---------------------------------------------------------------------

/// A criterion's name resolved: the steps, the parameter and the modifier.
struct resolved_name {
  std::vector<search_step> path;
  /// The final parameter for each type it applies to (same code and type);
  /// front() becomes search_criterion::param.
  std::vector<const search_parameter*> params;
  /// composite: the component parameters, in order.
  std::vector<const search_parameter*> components;
  search_modifier modifier = search_modifier::none;
  std::string modifier_type;
};

/// Reads a criterion's name: `code[:modifier]`, chains (search.html#chaining)
/// and reverse chains (#has), link by link from the searched type. One use.
///
/// Classification of failures: an unknown first parameter, a special or
/// unindexed parameter, or a modifier Hearth does not read is
/// "not-supported" (lenient handling leaves the criterion out); a name that
/// cannot mean anything — a chain through a parameter that is not a
/// reference, a link no candidate type has, an ambiguous chain, a malformed
/// _has — is "invalid"; more than max_chain_depth steps is "too-costly".
class name_resolver {
 public:
  name_resolver(const fhir::definitions& defs, std::string_view type, std::string_view name)
      : defs_(defs), name_(name), current_{std::string(type)} {}

  hearth::result<resolved_name> resolve() {
    std::string_view rest = name_;
    while (true) {
      if (rest.starts_with("_has:")) {
        if (auto r = reverse_step(rest); !r) return hearth::unexpected(r.error());
        continue;
      }
      const std::size_t dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      if (auto r = forward_step(rest.substr(0, dot), rest.substr(dot + 1)); !r) return hearth::unexpected(r.error());
      rest = rest.substr(dot + 1);
    }
    if (auto r = final_link(rest); !r) return hearth::unexpected(r.error());
    return std::move(out_);
  }

 private:
  hearth::unexpected<hearth::error> error(std::string_view code, std::string_view what) const {
    return fail(code, name_, what);
  }

  hearth::result<void> check_depth() const {
    if (out_.path.size() >= search_request::max_chain_depth) {
      return error(error_codes::too_costly, "more than " + std::to_string(search_request::max_chain_depth) +
                                                " chained or _has steps (search_request::max_chain_depth)");
    }
    return {};
  }

  /// The parameter `code` of every current type. The first link names a
  /// parameter of the searched type, where an unknown code is an unknown
  /// parameter; later links were checked to exist when the types were
  /// chosen, except after an explicit `:Type` or a _has, where a missing
  /// one makes the chain lead nowhere.
  hearth::result<std::vector<const search_parameter*>> params_named(std::string_view code) const {
    std::vector<const search_parameter*> out;
    for (const std::string& t : current_) {
      const search_parameter* p = defs_.find_search_parameter(t, code);
      if (p == nullptr) {
        if (out_.path.empty()) {
          return error(error_codes::not_supported, "unknown parameter '" + std::string(code) + "' for " + t);
        }
        return error(error_codes::invalid, t + " has no search parameter '" + std::string(code) + "'");
      }
      out.push_back(p);
    }
    return out;
  }

  /// The resource types the reference parameters may point to, in order of
  /// first mention; every resource type when one of them allows any.
  std::vector<std::string> targets_of(const std::vector<const search_parameter*>& params) const {
    std::vector<std::string> out;
    for (const search_parameter* p : params) {
      if (p->target.empty()) {
        const auto all = defs_.resource_types();
        return {all.begin(), all.end()};
      }
      for (const std::string_view t : p->target)
        if (defs_.is_resource_type(t) && !contains(out, t)) out.emplace_back(t);
    }
    return out;
  }

  /// `link` (`code` or `code:Type`) followed by `.` and `next`.
  hearth::result<void> forward_step(std::string_view link, std::string_view next) {
    if (auto r = check_depth(); !r) return r;
    const std::size_t colon = link.find(':');
    const std::string_view code = link.substr(0, colon);
    auto params = params_named(code);
    if (!params) return hearth::unexpected(std::move(params).error());
    for (const search_parameter* p : *params) {
      if (p->type != search_param_type::reference) {
        return error(error_codes::invalid, "'" + std::string(code) + "' is a " + std::string(fhir::to_string(p->type)) +
                                               " parameter; only references chain (search.html#chaining)");
      }
    }
    std::vector<std::string> candidates = targets_of(*params);
    if (colon != std::string_view::npos) {
      // search.html#chaining: `subject:Patient.name` names the target type.
      const std::string_view chain_type = link.substr(colon + 1);
      if (!defs_.is_resource_type(chain_type)) {
        return error(error_codes::invalid, "':" + std::string(chain_type) +
                                               "' before '.' is not a resource type; a chain link takes only a type");
      }
      if (!contains(candidates, chain_type)) {
        return error(error_codes::invalid,
                     "'" + std::string(code) + "' does not reference " + std::string(chain_type));
      }
      candidates = {std::string(chain_type)};
    }
    if (!next.starts_with("_has:")) {
      // Keep the target types that have the next parameter; R4 lets the
      // server search them all, provided they agree on its type.
      const std::string_view next_code = next.substr(0, next.find_first_of(".:"));
      std::erase_if(candidates,
                    [&](const std::string& t) { return defs_.find_search_parameter(t, next_code) == nullptr; });
      if (candidates.empty()) {
        return error(error_codes::invalid, "no type that '" + std::string(code) +
                                               "' references has a search parameter '" + std::string(next_code) + "'");
      }
      const search_param_type kind = defs_.find_search_parameter(candidates.front(), next_code)->type;
      for (const std::string& t : candidates) {
        if (defs_.find_search_parameter(t, next_code)->type != kind) {
          return error(error_codes::invalid, "ambiguous chain: '" + std::string(next_code) + "' is a " +
                                                 std::string(fhir::to_string(kind)) + " parameter of " +
                                                 candidates.front() + " but not of " + t +
                                                 "; name the type with '" + std::string(code) + ":Type'");
        }
      }
    }
    // A chain link before this one leads only to the types whose parameter
    // can reach a candidate (`focus.subject:Patient`: not to the types whose
    // subject never references a Patient).
    std::vector<std::string> reaching;
    std::vector<const search_parameter*> reaching_params;
    for (std::size_t i = 0; i < current_.size(); ++i) {
      const search_parameter* p = (*params)[i];
      const auto reaches = [&](const std::string& t) { return contains(p->target, t); };
      if (p->target.empty() || std::any_of(candidates.begin(), candidates.end(), reaches)) {
        reaching.push_back(current_[i]);
        reaching_params.push_back(p);
      }
    }
    if (reaching.empty()) {  // no target is a resource type; not in R4
      return error(error_codes::invalid, "'" + std::string(code) + "' references no resource type");
    }
    if (!out_.path.empty() && out_.path.back().dir == search_step::direction::forward) {
      out_.path.back().types = std::move(reaching);
    }
    // (Followed by a _has, the candidates are narrowed by reverse_step.)
    out_.path.push_back(search_step{search_step::direction::forward, reaching_params.front(), candidates});
    current_ = std::move(candidates);
    return {};
  }

  /// `_has:Type:param:rest` at the start of `rest`; leaves `rest` after it.
  hearth::result<void> reverse_step(std::string_view& rest) {
    if (auto r = check_depth(); !r) return r;
    const std::string_view body = rest.substr(5);  // after "_has:"
    const std::size_t c1 = body.find(':');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : body.find(':', c1 + 1);
    if (c2 == std::string_view::npos || c2 + 1 == body.size()) {
      return error(error_codes::invalid, "_has takes _has:Type:reference:parameter (search.html#has)");
    }
    const std::string_view has_type = body.substr(0, c1);
    const std::string_view ref_code = body.substr(c1 + 1, c2 - c1 - 1);
    if (!defs_.is_resource_type(has_type)) {
      return error(error_codes::invalid, "_has names '" + std::string(has_type) + "', not a resource type");
    }
    const search_parameter* ref = defs_.find_search_parameter(has_type, ref_code);
    if (ref == nullptr || ref->type != search_param_type::reference) {
      return error(error_codes::invalid,
                   "'" + std::string(ref_code) + "' is not a reference parameter of " + std::string(has_type));
    }
    std::vector<std::string> referenced = current_;
    std::erase_if(referenced, [&](const std::string& t) { return !ref->target.empty() && !contains(ref->target, t); });
    if (referenced.empty()) {
      return error(error_codes::invalid, std::string(has_type) + "." + std::string(ref_code) + " does not reference " +
                                             current_.front());
    }
    // A chain link before the _has leads only to the types it can start from.
    if (!out_.path.empty() && out_.path.back().dir == search_step::direction::forward) {
      out_.path.back().types = referenced;
    }
    out_.path.push_back(search_step{search_step::direction::reverse, ref, {std::string(has_type)}});
    current_ = {std::string(has_type)};
    rest = body.substr(c2 + 1);
    return {};
  }

  /// The parameter tested: `code` or `code:modifier`.
  hearth::result<void> final_link(std::string_view link) {
    const std::size_t colon = link.find(':');
    const std::string_view code = link.substr(0, colon);
    auto params = params_named(code);
    if (!params) return hearth::unexpected(std::move(params).error());
    const search_parameter& p = *params->front();
    for (const search_parameter* other : *params) {
      if (other->type != p.type) {
        return error(error_codes::invalid, "ambiguous chain: the types disagree on '" + std::string(code) + "'");
      }
    }
    if (p.type == search_param_type::special) {
      return error(error_codes::not_supported, "special parameters are not supported (search.html#special)");
    }
    for (const search_parameter* q : *params) {
      if (q->expression.empty()) {
        // _text, _content, _query: R4 gives them no expression to index.
        return error(error_codes::not_supported,
                     "'" + std::string(code) + "' is not indexed, so it cannot be searched");
      }
    }
    if (p.type == search_param_type::composite) {
      for (const fhir::search_component& c : p.components) {
        const search_parameter* cp = defs_.find_search_parameter_by_url(c.definition);
        if (cp == nullptr || cp->type == search_param_type::composite || cp->type == search_param_type::special) {
          return error(error_codes::not_supported, "a component of this composite parameter is not supported");
        }
        out_.components.push_back(cp);
      }
    }
    if (colon != std::string_view::npos) {
      const std::string_view mod = link.substr(colon + 1);
      if (auto r = read_modifier(p.type, mod, *params); !r) return r;
    }
    out_.params = std::move(*params);
    return {};
  }

  /// search.html#modifiers, per parameter type.
  hearth::result<void> read_modifier(search_param_type type, std::string_view mod,
                                     const std::vector<const search_parameter*>& params) {
    using m = search_modifier;
    struct entry {
      search_param_type type;
      std::string_view text;
      search_modifier modifier;
    };
    static constexpr std::array<entry, 12> table{{
        {search_param_type::string, "exact", m::exact},
        {search_param_type::string, "contains", m::contains},
        {search_param_type::token, "text", m::text},
        {search_param_type::token, "not", m::not_},
        {search_param_type::token, "above", m::above},
        {search_param_type::token, "below", m::below},
        {search_param_type::token, "in", m::in},
        {search_param_type::token, "not-in", m::not_in},
        {search_param_type::token, "of-type", m::of_type},
        {search_param_type::reference, "identifier", m::identifier},
        {search_param_type::uri, "above", m::above},
        {search_param_type::uri, "below", m::below},
    }};
    if (mod == "missing") {
      out_.modifier = m::missing;
      return {};
    }
    for (const entry& e : table) {
      if (e.type == type && e.text == mod) {
        out_.modifier = e.modifier;
        return {};
      }
    }
    if (type == search_param_type::reference && defs_.is_resource_type(mod)) {
      if (!contains(targets_of(params), mod)) {
        return error(error_codes::invalid, "the parameter does not reference " + std::string(mod));
      }
      out_.modifier = m::type;
      out_.modifier_type = std::string(mod);
      return {};
    }
    return error(error_codes::not_supported, "the modifier ':" + std::string(mod) + "' is not supported on a " +
                                                 std::string(fhir::to_string(type)) +
                                                 " parameter (search.html#modifiers)");
  }

  const fhir::definitions& defs_;
  std::string_view name_;
  /// The types the next link applies to: the searched type, then each step's types.
  std::vector<std::string> current_;
  resolved_name out_;
};

/// One criterion: its name resolved, its value split and checked.
hearth::result<search_criterion> parse_criterion(const fhir::definitions& defs, std::string_view type,
                                                 std::string_view name, std::string_view value) {
  auto resolved = name_resolver(defs, type, name).resolve();
  if (!resolved) return hearth::unexpected(std::move(resolved).error());
  search_criterion c;
  c.path = std::move(resolved->path);
  c.param = resolved->params.front();
  c.modifier = resolved->modifier;
  c.modifier_type = std::move(resolved->modifier_type);
  if (value.empty()) return fail(error_codes::invalid, name, "an empty value (search.html#combining)");
  const std::vector<std::string_view> pieces = split_unescaped(value, ',', search_request::max_values);
  if (pieces.size() > search_request::max_values) {
    return fail(error_codes::too_costly, name, "more than " + std::to_string(search_request::max_values) +
                                                   " values (search_request::max_values)");
  }
  for (const std::string_view piece : pieces) {
    if (piece.size() > max_value_bytes) {
      return fail(error_codes::too_costly, name, "a value longer than " + std::to_string(max_value_bytes) + " bytes");
    }
    auto v = c.param->type == search_param_type::composite && c.modifier != search_modifier::missing
                 ? parse_composite(resolved->components, piece, name)
                 : parse_value(c.param->type, c.modifier, piece, name);
    if (!v) return hearth::unexpected(std::move(v).error());
    c.values.push_back(std::move(v).value());
  }
  // Copied once checked: a rejected value is never copied, whatever its size.
  c.name = std::string(name);
  c.raw_value = std::string(value);
  return c;
}

// --- result parameters -----------------------------------------------------------

/// `_include` / `_revinclude` (search.html#include): `Type:param[:target]`,
/// or `*` for _include. Values are never quoted in messages.
hearth::result<search_include> parse_include(const fhir::definitions& defs, std::string_view type,
                                             std::string_view name, std::string_view value, bool reverse,
                                             bool iterate) {
  search_include inc;
  inc.iterate = iterate;
  if (value == "*") {
    // Every reference parameter of the searched type; a _revinclude has no
    // such set (any type may point at the results).
    if (reverse) return fail(error_codes::invalid, name, "'*' is allowed in _include only");
    inc.source_type = std::string(type);
    inc.raw_value = "*";
    return inc;
  }
  const std::vector<std::string_view> parts = split_unescaped(value, ':', 3);
  if (parts.size() < 2 || parts.size() > 3) {
    return fail(error_codes::invalid, name, "the value is not Type:parameter[:targetType] (search.html#include)");
  }
  if (!defs.is_resource_type(parts[0])) return fail(error_codes::invalid, name, "the value names no resource type");
  if (parts[1] == "*") {
    // `Type:*`: every reference parameter of Type (search.html#include,
    // "the wildcard * for the search parameter name").
    if (parts.size() == 3) {
      if (!defs.is_resource_type(parts[2])) return fail(error_codes::invalid, name, "the value names no target type");
      inc.target_type = std::string(parts[2]);
    }
    if (!iterate && !reverse && parts[0] != type) {
      return fail(error_codes::invalid, name, "_include follows a parameter of the searched type; use :iterate");
    }
    inc.source_type = std::string(parts[0]);
    inc.raw_value = std::string(value);
    return inc;
  }
  const search_parameter* p = defs.find_search_parameter(parts[0], parts[1]);
  if (p == nullptr || p->type != search_param_type::reference) {
    return fail(error_codes::invalid, name, "the value names no reference parameter of its type");
  }
  if (parts.size() == 3) {
    if (!defs.is_resource_type(parts[2]) || (!p->target.empty() && !contains(p->target, parts[2]))) {
      return fail(error_codes::invalid, name, "the target type is not a type the parameter references");
    }
    inc.target_type = std::string(parts[2]);
  }
  if (!iterate) {
    // Without :iterate the include starts from the matches themselves.
    if (!reverse && parts[0] != type) {
      return fail(error_codes::invalid, name, "_include follows a parameter of the searched type; use :iterate");
    }
    if (reverse && ((!p->target.empty() && !contains(p->target, type)) ||
                    (!inc.target_type.empty() && inc.target_type != type))) {
      return fail(error_codes::invalid, name, "the parameter does not reference the searched type; use :iterate");
    }
  }
  inc.source_type = std::string(parts[0]);
  inc.param = p;
  inc.raw_value = std::string(value);  // short: it names a type and parameters that exist
  return inc;
}

/// `_sort` (search.html#sort): keys appended to `req.sort`, each counted
/// against max_terms with what came before. Keys are named by position.
hearth::result<void> parse_sort(const fhir::definitions& defs, std::string_view name, std::string_view value,
                                std::size_t other_terms, search_request& req) {
  const std::vector<std::string_view> keys = split_unescaped(value, ',', search_request::max_terms);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (other_terms + i >= search_request::max_terms) {
      return fail(error_codes::too_costly, name, "more than " + std::to_string(search_request::max_terms) +
                                                     " criteria, includes and sort keys (search_request::max_terms)");
    }
    const bool descending = keys[i].starts_with('-');
    const std::string_view code = descending ? keys[i].substr(1) : keys[i];
    const std::string key = "sort key " + std::to_string(i + 1);
    if (code.empty()) return fail(error_codes::invalid, name, key + " is empty");
    const search_parameter* p = defs.find_search_parameter(req.type, code);
    if (p == nullptr) return fail(error_codes::invalid, name, key + " is not a search parameter of " + req.type);
    if (p->type == search_param_type::composite || p->type == search_param_type::special || p->expression.empty()) {
      return fail(error_codes::invalid, name,
                  key + " names a parameter that cannot sort (composite, special or not indexed)");
    }
    req.sort.push_back(search_sort_key{p, descending});
  }
  return {};
}

/// `_count` (search.html#count): a non-negative integer; larger than
/// max_count reads as max_count (R4: a server may return fewer).
hearth::result<std::size_t> parse_count(std::string_view name, std::string_view value) {
  if (value.empty() || !std::all_of(value.begin(), value.end(), is_digit)) {
    return fail(error_codes::invalid, name, "_count takes a non-negative integer");
  }
  std::size_t n = 0;
  for (const char c : value) {
    // Saturates just above the maximum: a thousand digits cannot overflow.
    n = std::min(n * 10 + static_cast<std::size_t>(c - '0'), search_request::max_count + 1);
  }
  return std::min(n, search_request::max_count);
}

/// Query parameters R4 defines that Hearth does not implement, and why.
std::string_view unsupported_reason(std::string_view base) noexcept {
  if (base == "_filter") return "_filter is not supported (search.html#filter)";
  if (base == "_contained" || base == "_containedType") {
    return "searching contained resources is not supported (search.html#contained)";
  }
  if (base == "_type") return "_type applies to a search across types, not to a search of one type";
  if (base == "_query") return "named queries (_query) are not supported";
  return {};
}

}  // namespace

std::string_view to_string(search_prefix p) noexcept {
  for (const auto& [code, prefix] : prefix_codes)
    if (prefix == p) return code;
  return "eq";
}

std::string_view to_string(search_modifier m) noexcept {
  switch (m) {
    case search_modifier::none: return "";
    case search_modifier::missing: return "missing";
    case search_modifier::exact: return "exact";
    case search_modifier::contains: return "contains";
    case search_modifier::text: return "text";
    case search_modifier::not_: return "not";
    case search_modifier::above: return "above";
    case search_modifier::below: return "below";
    case search_modifier::in: return "in";
    case search_modifier::not_in: return "not-in";
    case search_modifier::of_type: return "of-type";
    case search_modifier::identifier: return "identifier";
    case search_modifier::type: return "type";
  }
  return "";
}

hearth::result<search_request> parse_search(const fhir::definitions& defs, std::string_view type,
                                            std::span<const std::pair<std::string, std::string>> params,
                                            search_handling handling, std::optional<search_compartment> compartment) {
  if (!defs.is_resource_type(type)) return fail_search(error_codes::not_supported, "not a resource type");
  search_request req;
  req.type = std::string(type);
  if (compartment) {
    // compartmentdefinition.html: the definitions load the Patient compartment only.
    if (compartment->type != "Patient") {
      return fail_search(error_codes::not_supported, "only the Patient compartment is supported");
    }
    if (!is_id(compartment->id)) {
      return fail_search(error_codes::invalid, "the compartment id is not a valid id (R4 datatypes.html#id)");
    }
    if (!defs.in_patient_compartment(type)) {
      return fail_search(error_codes::not_supported, req.type + " is not in the Patient compartment");
    }
    req.compartment = std::move(compartment);
  }

  // Result parameters given once at most: a second _count or _sort would
  // leave the client's intent unclear.
  std::vector<std::string_view> seen;
  auto once = [&](std::string_view name) -> hearth::result<void> {
    if (contains(seen, name)) return fail(error_codes::invalid, name, "given more than once");
    seen.push_back(name);
    return {};
  };
  auto terms = [&] { return req.criteria.size() + req.includes.size() + req.revincludes.size() + req.sort.size(); };

  for (const std::pair<std::string, std::string>& param : params) {
    const std::string& name = param.first;
    const std::string& value = param.second;
    if (name.size() > max_name_bytes) {
      return fail_search(error_codes::too_costly,
                         "a search parameter name is longer than " + std::to_string(max_name_bytes) + " bytes");
    }
    if (name == "_format" || name == "_pretty") continue;  // the REST layer's (http.html#parameters)
    const std::string_view base = std::string_view(name).substr(0, name.find(':'));

    auto one = [&]() -> hearth::result<void> {
      if (name == "_count") {
        if (auto r = once(name); !r) return r;
        auto n = parse_count(name, value);
        if (!n) return hearth::unexpected(std::move(n).error());
        req.count = *n;
        return {};
      }
      if (name == "_sort") {
        if (auto r = once(name); !r) return r;
        return parse_sort(defs, name, value, terms(), req);
      }
      if (name == "_total") {
        if (auto r = once(name); !r) return r;
        if (value == "none") req.total = search_total::none;
        else if (value == "estimate") req.total = search_total::estimate;
        else if (value == "accurate") req.total = search_total::accurate;
        else return fail(error_codes::invalid, name, "_total takes none, estimate or accurate");
        return {};
      }
      if (name == "_summary") {
        if (auto r = once(name); !r) return r;
        if (value == "true") req.summary = search_summary::true_;
        else if (value == "text") req.summary = search_summary::text;
        else if (value == "data") req.summary = search_summary::data;
        else if (value == "count") req.summary = search_summary::count;
        else if (value == "false") req.summary = search_summary::false_;
        else return fail(error_codes::invalid, name, "_summary takes true, text, data, count or false");
        return {};
      }
      if (name == "_elements") {
        if (auto r = once(name); !r) return r;
        // Element names: no R4 resource has max_values top-level elements,
        // and none is longer than max_name_bytes.
        const std::vector<std::string_view> items = split_unescaped(value, ',', search_request::max_values);
        if (items.size() > search_request::max_values) {
          return fail(error_codes::too_costly, name,
                      "more than " + std::to_string(search_request::max_values) + " elements");
        }
        for (const std::string_view e : items) {
          if (e.empty()) return fail(error_codes::invalid, name, "an empty element name");
          if (e.size() > max_name_bytes) return fail(error_codes::too_costly, name, "an element name is too long");
          req.elements.emplace_back(e);
        }
        return {};
      }
      if (name == "_list") {
        if (auto r = once(name); !r) return r;
        if (value.starts_with('$')) {
          return fail(error_codes::not_supported, name, "functional lists are not supported (search.html#list)");
        }
        if (!is_id(value)) {
          return fail(error_codes::invalid, name, "_list takes the id of a List (R4 datatypes.html#id)");
        }
        req.list_id = value;
        return {};
      }
      if (name == "_cursor") {
        if (auto r = once(name); !r) return r;
        if (value.empty()) return fail(error_codes::invalid, name, "an empty cursor");
        if (value.size() > max_value_bytes) return fail(error_codes::too_costly, name, "the cursor is too long");
        req.cursor = value;
        return {};
      }
      if (base == "_include" || base == "_revinclude") {
        bool iterate = false;
        if (base.size() != name.size()) {
          const std::string_view mod = std::string_view(name).substr(base.size() + 1);
          if (mod != "iterate" && mod != "recurse") {  // :recurse is R3's spelling of :iterate
            return fail(error_codes::not_supported, name, "only :iterate and :recurse modify " + std::string(base));
          }
          iterate = true;
        }
        const bool reverse = base == "_revinclude";
        auto inc = parse_include(defs, type, name, value, reverse, iterate);
        if (!inc) return hearth::unexpected(std::move(inc).error());
        (reverse ? req.revincludes : req.includes).push_back(std::move(inc).value());
        return {};
      }
      if (const std::string_view why = unsupported_reason(base); !why.empty()) {
        return fail(error_codes::not_supported, name, why);
      }
      auto c = parse_criterion(defs, type, name, value);
      if (!c) return hearth::unexpected(std::move(c).error());
      req.criteria.push_back(std::move(c).value());
      return {};
    };

    if (auto r = one(); !r) {
      // search.html#errors: under lenient handling an unknown or unsupported
      // parameter is left out and reported; malformed values stay errors.
      if (r.error().code == error_codes::not_supported && handling == search_handling::lenient) {
        req.ignored.push_back(ignored_parameter{name, r.error().message});
        continue;
      }
      return hearth::unexpected(r.error());
    }
    if (terms() > search_request::max_terms) {
      return fail(error_codes::too_costly, name, "more than " + std::to_string(search_request::max_terms) +
                                                     " criteria, includes and sort keys (search_request::max_terms)");
    }
  }
  return req;
}

}  // namespace hearth::store
