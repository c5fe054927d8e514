#include "detail/search_sql.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

#include <hearth/store/date_range.hpp>
#include <hearth/store/decimal_range.hpp>
#include <hearth/store/error_codes.hpp>
#include <hearth/store/index_entry.hpp>
#include <hearth/store/reference_target.hpp>
#include <hearth/store/text_fold.hpp>

#include "detail/date_span.hpp"
#include "detail/param_key.hpp"

namespace hearth::store::detail {

std::string sql_text::bind(sql_value v) {
  binds.push_back(std::move(v));
  return ":" + prefix + std::to_string(binds.size() - 1);
}

namespace {

using fhir::search_param_type;
using fhir::search_parameter;

constexpr int kind_relative = static_cast<int>(reference_kind::relative);
constexpr int kind_identifier = static_cast<int>(reference_kind::identifier);

hearth::error make_error(std::string_view code, std::string message) {
  return hearth::error{std::string(code), std::move(message), {}, hearth::error::npos};
}

/// Most values one compiled search binds (WHERE and ORDER BY together).
/// parse_search's limits (max_terms criteria of max_values values) let far
/// more through once each value becomes its bounds and AND-ed date criteria
/// repeat per span class: 64 date criteria of 100 values bind 96,072, beyond
/// SQLite's default 32,766 (SQLITE_MAX_VARIABLE_NUMBER) and PostgreSQL's
/// 65,535 parameters. And binding by name costs time quadratic in the count
/// (sqlite3_bind_parameter_index scans the statement's names): those 96,072
/// held a connection for minutes, 16,000 take over a second, 4,096 under a
/// tenth. Real searches bind a few hundred.
constexpr std::size_t max_bound_values = 4096;

/// The index table of a parameter type; nullptr for composite and special.
const char* table_of(search_param_type t) {
  switch (t) {
    case search_param_type::string: return "idx_string";
    case search_param_type::token: return "idx_token";
    case search_param_type::date: return "idx_date";
    case search_param_type::number: return "idx_number";
    case search_param_type::quantity: return "idx_quantity";
    case search_param_type::reference: return "idx_reference";
    case search_param_type::uri: return "idx_uri";
    default: return nullptr;
  }
}

/// Escapes LIKE's wildcards (and the escape character) in `s`.
std::string like_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

class compiler {
 public:
  compiler(sql_text& out, const fhir::definitions& defs, bool pg, long long now_ms)
      : out_(out), defs_(defs), pg_(pg), now_ms_(now_ms) {}

  /// The condition that resource alias `r`, one of `types`, satisfies
  /// criterion `c` from step `step` of its path on.
  hearth::result<std::string> criterion(const search_criterion& c, std::size_t step, const std::string& r,
                                        const std::vector<std::string>& types) {
    if (step < c.path.size()) return path_step(c, step, r, types);
    return final_param(c, r, types);
  }

  std::string alias(const char* prefix) { return prefix + std::to_string(next_alias_++); }

  /// The condition that resource alias `r`, one of `types`, satisfies every
  /// one of `terms`: criteria on the same date parameter of r itself (no
  /// modifier), AND-ed (`date=ge2020-01-01&date=lt2020-02-01`).
  ///
  /// search.html#date: each term may be met by a different value of the
  /// resource. One value meeting them all is found through the index: per
  /// span class (detail/date_span.hpp) `low` is bounded from below by what
  /// the terms ask of `high` (a value ending after X began after X minus its
  /// class's span) and from above by what they ask of `low`, so a week's
  /// range reads about a week of rows. Different values meeting different
  /// terms are looked for only among resources with several values of the
  /// parameter (idx_date.multi).
  hearth::result<std::string> date_terms(const std::vector<const search_criterion*>& terms, const std::string& r,
                                         const std::vector<std::string>& types) {
    const search_parameter& p = *terms.front()->param;
    // Bounds on low, per class; nullopt: none.
    std::array<std::optional<long long>, date_span_classes> low_min;
    std::optional<long long> low_max;
    for (const search_criterion* t : terms) {
      auto b = term_bounds(*t);
      if (!b) return hearth::unexpected(std::move(b).error());
      for (int k = 0; k < date_span_classes; ++k) {
        if (b->low_min[k] && (!low_min[k] || *b->low_min[k] > *low_min[k])) low_min[k] = b->low_min[k];
      }
      if (b->low_max && (!low_max || *b->low_max < *low_max)) low_max = b->low_max;
    }
    std::string arms;
    for (int k = 0; k < date_span_classes; ++k) {
      const std::string x = alias("x");
      std::string w = x + ".param IN " + keys(types, p.code) + " AND " + x + ".span = " + std::to_string(k);
      if (low_min[k]) w += " AND " + x + ".low >= " + out_.bind(*low_min[k]);
      if (low_max) w += " AND " + x + ".low <= " + out_.bind(*low_max);
      for (const search_criterion* t : terms) {
        auto cond = term_condition(*t, x);
        if (!cond) return cond;
        w += " AND " + *cond;
      }
      if (!arms.empty()) arms += " UNION ALL ";
      arms += "SELECT " + x + ".resource_pk FROM idx_date " + x + " WHERE " + w;
    }
    if (terms.size() > 1) {
      std::string w;
      std::string first;
      for (std::size_t i = 0; i < terms.size(); ++i) {
        const std::string m = alias("m");
        auto cond = term_condition(*terms[i], m);
        if (!cond) return cond;
        const std::string where = m + ".param IN " + keys(types, p.code) + " AND " + m + ".multi = 1 AND " + *cond;
        if (i == 0) {
          first = m;
          w = "SELECT " + m + ".resource_pk FROM idx_date " + m + " WHERE " + where;
        } else {
          w += " AND " + first + ".resource_pk IN (SELECT " + m + ".resource_pk FROM idx_date " + m + " WHERE " +
               where + ")";
        }
      }
      arms += " UNION ALL " + w;
    }
    return r + ".resource_pk IN (" + arms + ")";
  }

  /// "(:b1, :b2)" of the keys of parameter `code` on each of `types`.
  std::string keys(const std::vector<std::string>& types, std::string_view code) {
    std::string s = "(";
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (i > 0) s += ", ";
      s += out_.bind(static_cast<long long>(param_key(types[i], code)));
    }
    return s + ")";
  }

  std::string component_keys(const std::vector<std::string>& types, std::string_view code, std::size_t i) {
    std::string s = "(";
    for (std::size_t t = 0; t < types.size(); ++t) {
      if (t > 0) s += ", ";
      s += out_.bind(static_cast<long long>(component_key(types[t], code, i)));
    }
    return s + ")";
  }

  std::string text_list(const std::vector<std::string>& values) {
    std::string s = "(";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) s += ", ";
      s += out_.bind(values[i]);
    }
    return s + ")";
  }

  /// A CAST of a bound text where PostgreSQL could not infer its type.
  std::string text_bind(std::string v) {
    const std::string b = out_.bind(std::move(v));
    return pg_ ? "CAST(" + b + " AS TEXT)" : b;
  }

  sql_text& out() { return out_; }

  /// Index row `x` of `c`'s table holds value `v` (compile_index_rows):
  /// the test final_param makes of each row, for one value.
  hearth::result<index_rows> index_row(const search_criterion& c, const search_value& v, const std::string& x,
                                       const std::vector<std::string>& types) {
    const search_parameter& p = *c.param;
    const char* table = table_of(p.type);
    if (!c.path.empty() || table == nullptr || p.code == "_id" || p.code == "_lastUpdated" ||
        c.modifier == search_modifier::missing) {
      return hearth::unexpected(make_error(error_codes::not_supported, "not a criterion on one index table"));
    }
    auto cond = value_condition(p, c.modifier, c.modifier_type, v, x);
    if (!cond) return hearth::unexpected(std::move(cond).error());
    return index_rows{table, x + ".param IN " + keys(types, p.code) + " AND (" + *cond + ")"};
  }

 private:
  hearth::result<std::string> path_step(const search_criterion& c, std::size_t step, const std::string& r,
                                        const std::vector<std::string>& types) {
    const search_step& s = c.path[step];
    const std::string f = alias("f"), t = alias("t");
    if (s.dir == search_step::direction::forward) {
      // search.html#chaining: a reference of r, to a resource t of the
      // step's types, that satisfies the rest.
      auto inner = criterion(c, step + 1, t, s.types);
      if (!inner) return inner;
      return r + ".resource_pk IN (SELECT " + f + ".resource_pk FROM " + join(t, f) + " WHERE " + t + ".type = " + f +
             ".target_type AND " + t + ".id = " + f + ".target_id AND " + f +
             ".param IN " + keys(types, s.param->code) + " AND " + f +
             ".kind = " + std::to_string(kind_relative) + " AND " + t + ".deleted = 0 AND " + t + ".type IN " +
             text_list(s.types) + " AND " + *inner + ")";
    }
    // search.html#has: a resource t of the step's type whose reference
    // parameter points at r and that satisfies the rest.
    auto inner = criterion(c, step + 1, t, s.types);
    if (!inner) return inner;
    return "(" + r + ".type, " + r + ".id) IN (SELECT " + f + ".target_type, " + f + ".target_id FROM " + join(t, f) +
           " WHERE " + t + ".resource_pk = " + f + ".resource_pk AND " + f + ".param IN " + keys(s.types, s.param->code) + " AND " + f + ".kind = " + std::to_string(kind_relative) +
           " AND " + t + ".deleted = 0 AND " + *inner + ")";
  }

  /// The FROM of a chain step: the resources the rest of the criterion tests
  /// (t), then their references (f). On SQLite a CROSS JOIN keeps that
  /// order: without statistics its planner would otherwise walk every
  /// reference of the parameter; the criterion on t is what narrows a chain
  /// (`subject.name=...`). PostgreSQL's planner orders joins by its own
  /// statistics.
  std::string join(const std::string& t, const std::string& f) const {
    return "resource " + t + (pg_ ? " JOIN " : " CROSS JOIN ") + "idx_reference " + f + (pg_ ? " ON TRUE" : "");
  }

  hearth::result<std::string> final_param(const search_criterion& c, const std::string& r,
                                          const std::vector<std::string>& types) {
    const search_parameter& p = *c.param;
    if (p.code == "_id") return id_condition(c, r);
    if (p.code == "_lastUpdated") return last_updated_condition(c, r);
    if (c.modifier == search_modifier::missing) return missing_condition(c, r, types);
    if (p.type == search_param_type::composite) return composite_condition(c, r, types);
    if (p.type == search_param_type::date && c.modifier == search_modifier::none) return date_terms({&c}, r, types);
    const char* table = table_of(p.type);
    if (table == nullptr) {
      return hearth::unexpected(make_error(error_codes::not_supported, "parameter " + c.name + " is not searchable"));
    }
    const std::string x = alias("x");
    std::string any;
    for (const search_value& v : c.values) {
      auto cond = value_condition(p, c.modifier, c.modifier_type, v, x);
      if (!cond) return cond;
      if (!any.empty()) any += " OR ";
      any += "(" + *cond + ")";
    }
    // search.html#token :not: "includes resources that have no value".
    return r + ".resource_pk " + (c.modifier == search_modifier::not_ ? "NOT IN" : "IN") + " (SELECT " + x +
           ".resource_pk FROM " + table + " " + x + " WHERE " + x + ".param IN " + keys(types, p.code) + " AND (" +
           any + "))";
  }

  hearth::result<std::string> missing_condition(const search_criterion& c, const std::string& r,
                                                const std::vector<std::string>& types) {
    const search_parameter& p = *c.param;
    bool missing = false;
    bool seen_true = false, seen_false = false;
    for (const search_value& v : c.values) {
      if (!v.parts.empty() && v.parts[0] == "true") seen_true = true;
      else seen_false = true;
    }
    if (seen_true && seen_false) return std::string("1 = 1");  // missing=true,false: anything
    missing = seen_true;
    const std::string x = alias("x");
    std::string exists;
    if (p.type == search_param_type::composite) {
      exists = "(SELECT " + x + ".resource_pk FROM " + component_table(p, 0) + " " + x + " WHERE " + x +
               ".param IN " + component_keys(types, p.code, 0) + ")";
    } else {
      const char* table = table_of(p.type);
      if (table == nullptr) {
        return hearth::unexpected(
            make_error(error_codes::not_supported, "parameter " + c.name + " is not searchable"));
      }
      exists = "(SELECT " + x + ".resource_pk FROM " + std::string(table) + " " + x + " WHERE " + x +
               ".param IN " + keys(types, p.code) + ")";
    }
    return r + ".resource_pk " + (missing ? "NOT IN " : "IN ") + exists;
  }

  std::string component_table(const search_parameter& p, std::size_t i) {
    const search_parameter* comp = component(p, i);
    const char* t = comp != nullptr ? table_of(comp->type) : nullptr;
    return t != nullptr ? t : "idx_token";
  }

  const search_parameter* component(const search_parameter& p, std::size_t i) {
    if (i >= p.components.size()) return nullptr;
    return defs_.find_search_parameter_by_url(p.components[i].definition);
  }

  /// search.html#composite: for each value, one item whose components all
  /// match (rows of the same grp).
  hearth::result<std::string> composite_condition(const search_criterion& c, const std::string& r,
                                                  const std::vector<std::string>& types) {
    const search_parameter& p = *c.param;
    std::string any;
    for (const search_value& v : c.values) {
      if (v.components.size() != p.components.size()) {
        return hearth::unexpected(make_error(error_codes::invalid, "a value of " + c.name +
                                                                       " does not have one part per component"));
      }
      std::string from, where;
      std::string first;
      for (std::size_t i = 0; i < p.components.size(); ++i) {
        const search_parameter* comp = component(p, i);
        const char* table = comp != nullptr ? table_of(comp->type) : nullptr;
        if (table == nullptr) {
          return hearth::unexpected(
              make_error(error_codes::not_supported, "a component of " + c.name + " is not searchable"));
        }
        const std::string x = alias("c");
        if (i == 0) {
          first = x;
          from = std::string(table) + " " + x;
          where = "1 = 1";
        } else {
          from += " JOIN " + std::string(table) + " " + x + " ON " + x + ".resource_pk = " + first +
                  ".resource_pk AND " + x + ".grp = " + first + ".grp";
        }
        where += " AND " + x + ".param IN " + component_keys(types, p.code, i);
        auto cond = value_condition(*comp, search_modifier::none, {}, v.components[i], x);
        if (!cond) return cond;
        where += " AND (" + *cond + ")";
      }
      if (!any.empty()) any += " OR ";
      any += r + ".resource_pk IN (SELECT " + first + ".resource_pk FROM " + from + " WHERE " + where + ")";
    }
    return "(" + any + ")";
  }

  /// _id (a token on the resource table).
  hearth::result<std::string> id_condition(const search_criterion& c, const std::string& r) {
    if (c.modifier == search_modifier::missing) {
      const bool missing = !c.values.empty() && !c.values[0].parts.empty() && c.values[0].parts[0] == "true";
      return std::string(missing ? "1 = 0" : "1 = 1");  // every resource has an id
    }
    if (c.modifier != search_modifier::none && c.modifier != search_modifier::not_) {
      return hearth::unexpected(make_error(error_codes::not_supported, "modifier :" +
                                                                           std::string(to_string(c.modifier)) +
                                                                           " is not supported on _id"));
    }
    std::vector<std::string> ids;
    for (const search_value& v : c.values) ids.push_back(v.parts.empty() ? std::string() : v.parts.back());
    const std::string in = r + ".id IN " + text_list(ids);
    return c.modifier == search_modifier::not_ ? "NOT (" + in + ")" : in;
  }

  /// _lastUpdated (a date on the resource table: one instant, ms).
  hearth::result<std::string> last_updated_condition(const search_criterion& c, const std::string& r) {
    if (c.modifier == search_modifier::missing) {
      const bool missing = !c.values.empty() && !c.values[0].parts.empty() && c.values[0].parts[0] == "true";
      return std::string(missing ? "1 = 0" : "1 = 1");
    }
    std::string any;
    for (const search_value& v : c.values) {
      auto cond = date_condition(v, r + ".last_updated", r + ".last_updated");
      if (!cond) return cond;
      if (!any.empty()) any += " OR ";
      any += "(" + *cond + ")";
    }
    return "(" + any + ")";
  }

  hearth::result<std::string> value_condition(const search_parameter& p, search_modifier m,
                                              const std::string& modifier_type, const search_value& v,
                                              const std::string& x) {
    switch (p.type) {
      case search_param_type::string: return string_condition(m, v, x);
      case search_param_type::token: return token_condition(m, v, x);
      case search_param_type::date: return date_condition(v, x + ".low", x + ".high");
      case search_param_type::number: return number_condition(v, x + ".value");
      case search_param_type::quantity: return quantity_condition(v, x);
      case search_param_type::reference: return reference_condition(m, modifier_type, v, x);
      case search_param_type::uri: return uri_condition(m, v, x);
      default:
        return hearth::unexpected(make_error(error_codes::not_supported, "parameter " + std::string(p.code) +
                                                                             " is not searchable"));
    }
  }

  /// `column` starts with folded `text`: a byte range, so the index serves it.
  std::string prefix_range(const std::string& column, const std::string& folded) {
    return column + " >= " + out_.bind(folded) + " AND " + column + " < " + out_.bind(folded + text_ceiling);
  }

  // search.html#string: starts with, after case and accent folding; :exact;
  // :contains.
  hearth::result<std::string> string_condition(search_modifier m, const search_value& v, const std::string& x) {
    const std::string text = v.parts.empty() ? std::string() : v.parts[0];
    switch (m) {
      case search_modifier::none: return prefix_range(x + ".normalized", fold_for_search(text));
      case search_modifier::exact: return x + ".exact = " + out_.bind(text);
      case search_modifier::contains:
        return x + ".normalized LIKE " + out_.bind("%" + like_escape(fold_for_search(text)) + "%") + " ESCAPE '\\'";
      default: return unsupported(m, "string");
    }
  }

  // search.html#token.
  hearth::result<std::string> token_condition(search_modifier m, const search_value& v, const std::string& x) {
    const auto& parts = v.parts;
    switch (m) {
      case search_modifier::text:
        return prefix_range(x + ".text", fold_for_search(parts.empty() ? std::string() : parts[0]));
      case search_modifier::of_type:
        if (parts.size() != 3) {
          return hearth::unexpected(make_error(error_codes::invalid, ":of-type needs system|code|value"));
        }
        return x + ".type_system = " + out_.bind(parts[0]) + " AND " + x + ".type_code = " + out_.bind(parts[1]) +
               " AND " + x + ".code = " + out_.bind(parts[2]);
      case search_modifier::none:
      case search_modifier::not_:
        break;
      case search_modifier::in:
      case search_modifier::not_in:
      case search_modifier::above:
      case search_modifier::below:
        return hearth::unexpected(make_error(
            error_codes::not_supported, "token modifier :" + std::string(to_string(m)) +
                                            " needs the terminology registry: the REST search expands it into codes "
                                            "before the store sees it (here it was not expanded)"));
      default: return unsupported(m, "token");
    }
    if (parts.size() == 1) return x + ".code = " + out_.bind(parts[0]);
    if (parts.size() != 2) return hearth::unexpected(make_error(error_codes::invalid, "a token has at most one '|'"));
    if (parts[1].empty()) return x + ".system = " + out_.bind(parts[0]);  // system|
    return x + ".system = " + out_.bind(parts[0]) + " AND " + x + ".code = " + out_.bind(parts[1]);
  }

  // search.html#date and #prefix: the search value and the indexed value
  // are both ranges [low, high] (inclusive, ms).
  /// A date criterion's OR-ed values on index row alias `x`.
  hearth::result<std::string> term_condition(const search_criterion& c, const std::string& x) {
    std::string any;
    for (const search_value& v : c.values) {
      auto cond = date_condition(v, x + ".low", x + ".high");
      if (!cond) return cond;
      if (!any.empty()) any += " OR ";
      any += "(" + *cond + ")";
    }
    return "(" + any + ")";
  }

  struct low_bounds {
    std::array<std::optional<long long>, date_span_classes> low_min;  ///< per span class
    std::optional<long long> low_max;
  };

  /// What a value matching date criterion `c` (any of its values) has for
  /// `low`, per span class: a value matching `v` has low >= lo_direct,
  /// high >= lo_high (so low >= lo_high - span), low <= hi; the bounds of
  /// the criterion are the loosest of its values'.
  hearth::result<low_bounds> term_bounds(const search_criterion& c) {
    low_bounds out;
    bool first = true;
    for (const search_value& v : c.values) {
      const auto range = v.parts.empty() ? std::nullopt : parse_date_range(v.parts[0]);
      if (!range) return hearth::unexpected(make_error(error_codes::invalid, "not a date search value"));
      const long long vl = range->low, vh = range->high;
      std::optional<long long> lo_direct, lo_high, hi;
      switch (v.prefix) {  // the conditions of date_condition, solved for low
        case search_prefix::eq: lo_direct = vl; hi = vh; break;
        case search_prefix::ne: break;
        case search_prefix::gt: lo_high = vh; break;  // high > vh
        case search_prefix::lt: hi = vl; break;       // low < vl
        case search_prefix::ge: lo_high = vl; break;  // high > vh, or low >= vl and high <= vh: high >= vl
        case search_prefix::le: hi = vh; break;       // low < vl, or contained: low <= vh
        case search_prefix::sa: lo_direct = vh; break;  // low > vh
        case search_prefix::eb: hi = vl; break;       // high < vl, so low < vl
        case search_prefix::ap: {
          const auto [lo, up] = ap_range(vl, vh);
          lo_high = lo;
          hi = up;
          break;
        }
      }
      for (int k = 0; k < date_span_classes; ++k) {
        std::optional<long long> b = lo_direct;
        if (lo_high && k < date_span_classes - 1) {
          const long long span = date_span_limit[k];
          const long long from_high = *lo_high > date_range::min + span ? *lo_high - span : date_range::min;
          if (!b || from_high > *b) b = from_high;
        }
        if (first) out.low_min[k] = b;
        else if (!b || !out.low_min[k]) out.low_min[k].reset();
        else out.low_min[k] = std::min(*out.low_min[k], *b);
      }
      if (first) out.low_max = hi;
      else if (!hi || !out.low_max) out.low_max.reset();
      else out.low_max = std::max(*out.low_max, *hi);
      first = false;
    }
    return out;
  }

  /// The range `ap` matches around [vl, vh]: R4 leaves the margin to the
  /// server; 10% of the distance from now, as the spec suggests, at least a
  /// day.
  std::pair<long long, long long> ap_range(long long vl, long long vh) const {
    const long long distance = vl > now_ms_ ? vl - now_ms_ : now_ms_ - vl;
    const long long margin = std::max<long long>(distance / 10, 86'400'000);
    const long long lo = vl > date_range::min + margin ? vl - margin : date_range::min;
    const long long hi = vh < date_range::max - margin ? vh + margin : date_range::max;
    return {lo, hi};
  }

  hearth::result<std::string> date_condition(const search_value& v, const std::string& low,
                                             const std::string& high) {
    const auto range = v.parts.empty() ? std::nullopt : parse_date_range(v.parts[0]);
    if (!range) return hearth::unexpected(make_error(error_codes::invalid, "not a date search value"));
    const long long vl = range->low, vh = range->high;
    auto b = [this](long long n) { return out_.bind(n); };
    // Built only when used: every bound value must appear in the text.
    auto contained = [&] { return "(" + low + " >= " + b(vl) + " AND " + high + " <= " + b(vh) + ")"; };
    switch (v.prefix) {
      case search_prefix::eq: return contained();
      case search_prefix::ne: return "NOT " + contained();
      case search_prefix::gt: return high + " > " + b(vh);
      case search_prefix::lt: return low + " < " + b(vl);
      case search_prefix::ge: return "(" + high + " > " + b(vh) + " OR " + contained() + ")";
      case search_prefix::le: return "(" + low + " < " + b(vl) + " OR " + contained() + ")";
      case search_prefix::sa: return low + " > " + b(vh);
      case search_prefix::eb: return high + " < " + b(vl);
      case search_prefix::ap: {  // "approximately the same" (ap_range)
        const auto [lo, hi] = ap_range(vl, vh);
        return "(" + high + " >= " + b(lo) + " AND " + low + " <= " + b(hi) + ")";
      }
    }
    return contained();
  }

  // search.html#number: the search value's precision gives its range:
  // eq matches indexed values in [low, high); the comparisons use the value.
  hearth::result<std::string> number_condition(const search_value& v, const std::string& column) {
    const auto n = v.parts.empty() ? std::nullopt : parse_decimal_range(v.parts[0]);
    if (!n) return hearth::unexpected(make_error(error_codes::invalid, "not a number search value"));
    return number_condition(v.prefix, *n, column);
  }

  std::string number_condition(search_prefix prefix, const decimal_range& n, const std::string& column) {
    auto b = [this](double d) { return out_.bind(d); };
    auto in_range = [&] { return "(" + column + " >= " + b(n.low) + " AND " + column + " < " + b(n.high) + ")"; };
    switch (prefix) {
      case search_prefix::eq: return in_range();
      case search_prefix::ne: return "NOT " + in_range();
      case search_prefix::gt:
      case search_prefix::sa: return column + " > " + b(n.value);
      case search_prefix::lt:
      case search_prefix::eb: return column + " < " + b(n.value);
      case search_prefix::ge: return column + " >= " + b(n.value);
      case search_prefix::le: return column + " <= " + b(n.value);
      case search_prefix::ap: {
        // "approximately": within 10% of the value (R4 leaves it to the server).
        const double margin = std::fabs(n.value) * 0.1;
        return "(" + column + " >= " + b(std::min(n.low, n.value - margin)) + " AND " + column + " <= " +
               b(std::max(n.high, n.value + margin)) + ")";
      }
    }
    return in_range();
  }

  // search.html#quantity: [prefix]number|system|code. With a UCUM code that
  // converts, the canonical forms are compared (1 g matches 1000 mg);
  // otherwise system and code (or unit, when no system is given) as written.
  hearth::result<std::string> quantity_condition(const search_value& v, const std::string& x) {
    const auto& parts = v.parts;
    const auto n = parts.empty() ? std::nullopt : parse_decimal_range(parts[0]);
    if (!n) return hearth::unexpected(make_error(error_codes::invalid, "not a quantity search value"));
    if (parts.size() == 1) return number_condition(v.prefix, *n, x + ".value");
    if (parts.size() != 3) {
      return hearth::unexpected(make_error(error_codes::invalid, "a quantity is number or number|system|code"));
    }
    const std::string& system = parts[1];
    const std::string& code = parts[2];
    if (code.empty()) return x + ".system = " + out_.bind(system) + " AND " + number_condition(v.prefix, *n, x + ".value");
    if (system == "http://unitsofmeasure.org") {
      if (auto c = to_canonical_quantity(parts[0], code)) {
        // `<> ''` lets the planner use the partial index of canonical values.
        return x + ".canonical_unit = " + out_.bind(c->unit) + " AND " + x + ".canonical_unit <> '' AND " +
               number_condition(v.prefix, c->value, x + ".canonical_value");
      }
    }
    const std::string value = number_condition(v.prefix, *n, x + ".value");
    if (system.empty()) {
      const std::string c1 = out_.bind(code), c2 = out_.bind(code);
      return "(" + x + ".code = " + c1 + " OR " + x + ".unit = " + c2 + ") AND " + value;
    }
    return x + ".system = " + out_.bind(system) + " AND " + x + ".code = " + out_.bind(code) + " AND " + value;
  }

  // search.html#reference.
  hearth::result<std::string> reference_condition(search_modifier m, const std::string& modifier_type,
                                                  const search_value& v, const std::string& x) {
    const auto& parts = v.parts;
    if (parts.empty()) return hearth::unexpected(make_error(error_codes::invalid, "an empty reference"));
    const std::string relative = x + ".kind = " + std::to_string(kind_relative);
    if (m == search_modifier::identifier) {
      // :identifier system|value (or value alone: any system).
      std::string s = x + ".kind = " + std::to_string(kind_identifier) + " AND " + x +
                      ".identifier_value = " + out_.bind(parts.back());
      if (parts.size() == 2) s += " AND " + x + ".identifier_system = " + out_.bind(parts[0]);
      return s;
    }
    if (m == search_modifier::type) {
      // subject:Patient=123 (or =Patient/123).
      const std::string& text = parts[0];
      const auto slash = text.rfind('/');
      const std::string id = slash == std::string::npos ? text : text.substr(slash + 1);
      return relative + " AND " + x + ".target_type = " + out_.bind(modifier_type) + " AND " + x +
             ".target_id = " + out_.bind(id);
    }
    if (m != search_modifier::none) return unsupported(m, "reference");
    const reference_target t = parse_reference(parts[0], defs_);
    switch (t.kind) {
      case reference_kind::relative: {
        std::string s = relative + " AND " + x + ".target_type = " + out_.bind(t.type) + " AND " + x +
                        ".target_id = " + out_.bind(t.id);
        if (!t.version.empty()) s += " AND " + x + ".target_version = " + out_.bind(t.version);
        return s;
      }
      case reference_kind::absolute:
      case reference_kind::canonical: {
        // A URL: absolute references and canonicals by their text, with the
        // version after '|' when given (search.html#versions).
        // `<> ''` lets the planner use the partial index of URLs.
        std::string s = x + ".url = " + out_.bind(t.url) + " AND " + x + ".url <> ''";
        if (parts.size() == 2) s += " AND " + x + ".target_version = " + out_.bind(parts[1]);
        else if (!t.version.empty()) s += " AND " + x + ".target_version = " + out_.bind(t.version);
        return s;
      }
      case reference_kind::other:
        if (t.url.find('/') == std::string::npos && t.url.find(':') == std::string::npos) {
          // A bare id: of any type the parameter targets (search.html#reference).
          return relative + " AND " + x + ".target_id = " + out_.bind(t.url);
        }
        return x + ".url = " + out_.bind(t.url) + " AND " + x + ".url <> ''";
      default:
        return hearth::unexpected(make_error(error_codes::invalid, "not a reference search value"));
    }
  }

  // search.html#uri: equality; :below a prefix; :above the indexed value is
  // a prefix of the search value.
  hearth::result<std::string> uri_condition(search_modifier m, const search_value& v, const std::string& x) {
    const std::string text = v.parts.empty() ? std::string() : v.parts[0];
    switch (m) {
      case search_modifier::none: return x + ".uri = " + out_.bind(text);
      case search_modifier::below: return prefix_range(x + ".uri", text);
      case search_modifier::above:
        return "substr(" + text_bind(text) + ", 1, length(" + x + ".uri)) = " + x + ".uri";
      default: return unsupported(m, "uri");
    }
  }

  hearth::result<std::string> unsupported(search_modifier m, const char* type) {
    return hearth::unexpected(make_error(error_codes::not_supported, "modifier :" + std::string(to_string(m)) +
                                                                         " is not supported on " + type +
                                                                         " parameters"));
  }

  sql_text& out_;
  const fhir::definitions& defs_;
  bool pg_;
  long long now_ms_;
  unsigned next_alias_ = 0;
};

/// The _sort key of `key` as an expression over `r` (search.html#sort): a
/// resource with several values sorts by its lowest (ascending) or highest
/// (descending); one without a value sorts last (a sentinel beyond any value).
hearth::result<sort_column> sort_key(compiler& c, const search_sort_key& key, const std::string& type,
                                     const std::string& r) {
  const search_parameter& p = *key.param;
  sort_column col;
  col.descending = key.descending;
  const char* agg = key.descending ? "MAX" : "MIN";
  if (p.code == "_id") {
    col.expression = r + ".id";
    col.kind = sort_value_kind::text;
    return col;
  }
  if (p.code == "_lastUpdated") {
    col.expression = r + ".last_updated";
    return col;
  }
  const char* table = table_of(p.type);
  if (table == nullptr) {
    return hearth::unexpected(make_error(error_codes::invalid, "cannot sort by parameter " + std::string(p.code)));
  }
  const std::string x = c.alias("s");
  std::string value;
  switch (p.type) {
    case search_param_type::string: value = x + ".normalized"; col.kind = sort_value_kind::text; break;
    case search_param_type::token: value = x + ".code"; col.kind = sort_value_kind::text; break;
    case search_param_type::date: value = key.descending ? x + ".high" : x + ".low"; break;
    case search_param_type::number:
    case search_param_type::quantity: value = x + ".value"; col.kind = sort_value_kind::real; break;
    case search_param_type::reference: value = x + ".target_id"; col.kind = sort_value_kind::text; break;
    case search_param_type::uri: value = x + ".uri"; col.kind = sort_value_kind::text; break;
    default: break;
  }
  sql_value sentinel;
  switch (col.kind) {
    case sort_value_kind::integer:
      sentinel = key.descending ? std::numeric_limits<long long>::min() : std::numeric_limits<long long>::max();
      break;
    case sort_value_kind::real:
      sentinel = key.descending ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      break;
    case sort_value_kind::text:
      sentinel = key.descending ? std::string() : std::string(text_ceiling) + text_ceiling;
      break;
  }
  std::string filter;
  if (p.type == search_param_type::token) filter = " AND " + x + ".code <> ''";  // text-only entries
  const std::vector<std::string> types{type};
  const std::string keys = c.keys(types, p.code);
  col.expression = "COALESCE((SELECT " + std::string(agg) + "(" + value + ") FROM " + table + " " + x + " WHERE " +
                   x + ".resource_pk = " + r + ".resource_pk AND " + x + ".param IN " + keys + filter + "), " +
                   c.out().bind(std::move(sentinel)) + ")";
  return col;
}

/// The position of the parenthesis closing the one at `open` in SQL text
/// `t` (quoted literals skipped), npos when none does.
std::size_t closing_paren(const std::string& t, std::size_t open) {
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = open; i < t.size(); ++i) {
    const char ch = t[i];
    if (ch == '\'') quoted = !quoted;
    if (quoted) continue;
    if (ch == '(') ++depth;
    if (ch == ')' && --depth == 0) return i;
  }
  return std::string::npos;
}

/// A criterion on a date parameter of the type itself, without modifier.
bool plain_date(const search_criterion& crit) {
  return crit.path.empty() && crit.param->type == search_param_type::date &&
         crit.modifier == search_modifier::none && crit.param->code != "_lastUpdated";
}

/// The criteria of `q` as the compiler answers them, in order: each alone,
/// except that criteria on the same date parameter of the type itself are
/// answered together (compiler::date_terms), in the place of the first.
std::vector<std::vector<const search_criterion*>> criterion_groups(const search_request& q) {
  std::vector<std::vector<const search_criterion*>> out;
  std::vector<bool> done(q.criteria.size(), false);
  for (std::size_t i = 0; i < q.criteria.size(); ++i) {
    if (done[i]) continue;
    const search_criterion& crit = q.criteria[i];
    std::vector<const search_criterion*> group{&crit};
    if (plain_date(crit)) {
      for (std::size_t j = i + 1; j < q.criteria.size(); ++j) {
        if (plain_date(q.criteria[j]) && q.criteria[j].param == crit.param) {
          group.push_back(&q.criteria[j]);
          done[j] = true;
        }
      }
    }
    out.push_back(std::move(group));
  }
  return out;
}

/// The condition of one group of criterion_groups, on alias `r`.
hearth::result<std::string> group_condition(compiler& c, const std::vector<const search_criterion*>& group,
                                            const std::string& r, const std::vector<std::string>& types) {
  const search_criterion& first = *group.front();
  return plain_date(first) ? c.date_terms(group, r, types) : c.criterion(first, 0, r, types);
}

}  // namespace

hearth::result<compiled_search> compile_search(const search_request& q, const fhir::definitions& defs,
                                               bool postgresql, long long now_ms, std::string prefix) {
  compiled_search out;
  out.where.prefix = std::move(prefix);
  compiler c(out.where, defs, postgresql, now_ms);
  const std::string r = "r";
  const std::vector<std::string> types{q.type};
  std::string& w = out.where.text;
  w = r + ".type = " + out.where.bind(q.type) + " AND " + r + ".deleted = 0";

  if (q.compartment) {
    // compartmentdefinition.html: a resource is in Patient/id's compartment
    // when one of its compartment parameters references Patient/id; the
    // patient itself is in its own compartment.
    const auto params = defs.patient_compartment_params(q.type);
    std::string any;
    if (q.type == q.compartment->type) any = r + ".id = " + out.where.bind(q.compartment->id);
    if (!params.empty()) {
      std::string keys = "(";
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (i > 0) keys += ", ";
        keys += out.where.bind(static_cast<long long>(param_key(q.type, params[i])));
      }
      keys += ")";
      const std::string f = c.alias("f");
      if (!any.empty()) any += " OR ";
      any += r + ".resource_pk IN (SELECT " + f + ".resource_pk FROM idx_reference " + f + " WHERE " + f +
             ".param IN " + keys + " AND " + f +
             ".kind = " + std::to_string(kind_relative) + " AND " + f +
             ".target_type = " + out.where.bind(q.compartment->type) + " AND " + f +
             ".target_id = " + out.where.bind(q.compartment->id) + ")";
    }
    if (any.empty()) any = "1 = 0";
    w += " AND (" + any + ")";
  }

  if (!q.list_id.empty()) {
    // search.html#list: the resources List/id's entries reference.
    const std::string l = c.alias("l"), f = c.alias("f");
    w += " AND (" + r + ".type, " + r + ".id) IN (SELECT " + f + ".target_type, " + f + ".target_id FROM resource " +
         l + " JOIN idx_reference " + f + " ON " + f +
         ".resource_pk = " + l + ".resource_pk WHERE " + l + ".type = 'List' AND " + l +
         ".id = " + out.where.bind(q.list_id) + " AND " + l + ".deleted = 0 AND " + f +
         ".param = " + out.where.bind(static_cast<long long>(param_key("List", "item"))) + " AND " + f +
         ".kind = " + std::to_string(kind_relative) + ")";
  }

  for (const auto& group : criterion_groups(q)) {
    auto cond = group_condition(c, group, r, types);
    if (!cond) return hearth::unexpected(std::move(cond).error());
    w += " AND " + *cond;
  }

  compiler sorter(out.sort_binds, defs, postgresql, now_ms);
  for (const search_sort_key& key : q.sort) {
    auto col = sort_key(sorter, key, q.type, r);
    if (!col) return hearth::unexpected(std::move(col).error());
    out.sort.push_back(std::move(*col));
  }
  if (out.where.binds.size() + out.sort_binds.binds.size() > max_bound_values) {
    return hearth::unexpected(make_error(error_codes::too_costly,
                                         "the search has too many criteria and values for one query: more than " +
                                             std::to_string(max_bound_values) + " values to compare"));
  }
  return out;
}

hearth::result<index_rows> compile_index_rows(sql_text& out, const search_request& q, const search_criterion& c,
                                              const search_value& v, const std::string& x,
                                              const fhir::definitions& defs, bool postgresql, long long now_ms) {
  compiler k(out, defs, postgresql, now_ms);
  return k.index_row(c, v, x, {q.type});
}

hearth::result<std::optional<std::vector<pk_set>>> compile_pk_sets(const search_request& q,
                                                                   const fhir::definitions& defs, bool postgresql,
                                                                   long long now_ms, const std::string& prefix) {
  using sets = std::optional<std::vector<pk_set>>;
  if (q.compartment || !q.list_id.empty() || !q.sort.empty()) return sets();
  const std::vector<std::string> types{q.type};
  const std::string in = "p.resource_pk IN (", not_in = "p.resource_pk NOT IN (";
  std::vector<pk_set> out;
  bool positive = false;
  for (const auto& group : criterion_groups(q)) {
    pk_set set{sql_text{prefix + std::to_string(out.size()) + "_", {}, {}}, false};
    compiler c(set.pks, defs, postgresql, now_ms);
    auto cond = group_condition(c, group, "p", types);
    if (!cond) return hearth::unexpected(std::move(cond).error());
    // The compiler's own shapes (search_sql.hpp): one [NOT] IN (subquery) per
    // criterion, its text ending with the subquery's parenthesis.
    const std::string& t = *cond;
    if (t == "1 = 1") continue;  // :missing=true,false
    const bool negated = t.starts_with(not_in);
    if (!(negated || t.starts_with(in))) return sets();
    const std::size_t head = negated ? not_in.size() : in.size();
    if (closing_paren(t, head - 1) != t.size() - 1) return sets();  // not one subquery: "IN (a) OR ..."
    set.pks.text = t.substr(head, t.size() - head - 1);
    set.negated = negated;
    positive = positive || !negated;
    out.push_back(std::move(set));
  }
  if (!positive) return sets();
  return sets(std::move(out));
}

}  // namespace hearth::store::detail
