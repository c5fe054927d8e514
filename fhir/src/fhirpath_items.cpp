// Items of FHIRPath collections (fhirpath_eval.hpp): FHIR primitives as
// System values, equality and equivalence of items (N1 §6.1), the
// conversion functions (N1 §5.5), type names and TypeInfo objects. Pure
// functions; equivalence reports its one error as a value.

#include "detail/fhirpath_eval_impl.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace hearth::fhir::fhirpath {
namespace detail {
namespace {

bool is_quantity_type(std::string_view t) {
  return t == "Quantity" || t == "Age" || t == "Distance" || t == "Duration" || t == "Count" ||
         t == "SimpleQuantity" || t == "MoneyQuantity";
}

std::string normalize_ws_lower(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

// A FHIR primitive node as a System value; a complex node (or a primitive
// without a value) unchanged. A FHIR Quantity becomes a System Quantity only
// when `quantities` (comparisons with a quantity).
value to_system(const value& v, bool quantities) {
  if (v.k != value::kind::node) return v;
  if (!v.json) return v;
  const json_value& j = *v.json;
  std::string_view t = v.fhir_type;
  if (j.is_bool()) return make_bool(j.as_bool());
  if (j.is_number()) {
    const std::string& text = j.number_text();
    if (t == "decimal" || (t.empty() && text.find_first_of(".eE") != std::string::npos)) {
      if (auto d = decimal::parse(text)) return make_dec(*d);
      return v;
    }
    char* end = nullptr;
    long long ll = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0') return make_int(ll);
    if (auto d = decimal::parse(text)) return make_dec(*d);
    return v;
  }
  if (j.is_string()) {
    if (t == "date") {
      if (auto tv = parse_temporal(j.str(), temporal_value::kind::date)) return make_temporal(*tv);
    } else if (t == "dateTime" || t == "instant") {
      if (auto tv = parse_temporal(j.str(), temporal_value::kind::date_time)) return make_temporal(*tv);
    } else if (t == "time") {
      if (auto tv = parse_temporal(j.str(), temporal_value::kind::time)) return make_temporal(*tv);
    }
    return make_str(j.str());
  }
  if (quantities && j.is_object() && is_quantity_type(t)) {
    const json_value* val = j.find("value");
    if (!val || !val->is_number()) return v;
    auto d = decimal::parse(val->number_text());
    if (!d) return v;
    quantity_value q;
    q.value = *d;
    const json_value* code = j.find("code");
    const json_value* unit = j.find("unit");
    const json_value* sys = j.find("system");
    if (code && code->is_string() && sys && sys->is_string() && sys->str() == "http://unitsofmeasure.org")
      q.unit = code->str();
    else if (unit && unit->is_string())
      q.unit = unit->str();
    else if (code && code->is_string())
      q.unit = code->str();
    else
      q.unit = "1";
    return make_quantity(std::move(q));
  }
  return v;
}

// N1 §6.1.1 equality of two items: nullopt = empty.
std::optional<bool> items_equal(const value& a0, const value& b0) {
  bool q = a0.k == value::kind::quantity || b0.k == value::kind::quantity;
  value a = to_system(a0, q), b = to_system(b0, q);
  using K = value::kind;
  if (a.k == K::node || b.k == K::node) {
    if (a.k != b.k) return false;
    if (!a.json || !b.json) return a.json == b.json && a.ext == b.ext;
    return *a.json == *b.json;
  }
  if (is_numeric(a) && is_numeric(b)) return dec_cmp(as_dec(a), as_dec(b)) == 0;
  if (is_temporal(a) && is_temporal(b)) {
    bool incomparable = false;
    auto c = temporal_cmp(a.t, b.t, incomparable);
    if (incomparable) return false;
    if (!c) return std::nullopt;
    return *c == 0;
  }
  if (a.k != b.k) return false;
  switch (a.k) {
    case K::boolean: return a.b == b.b;
    case K::string: return a.s == b.s;
    case K::quantity: {
      decimal x, y;
      if (!common_units(a.q, b.q, x, y)) {
        // Calendar years and months against UCUM 'a'/'mo' are not known to be
        // equal or different (N1 §6.1.1); other different units: different.
        bool cal = (a.q.calendar && (a.q.unit == "year" || a.q.unit == "month")) ||
                   (b.q.calendar && (b.q.unit == "year" || b.q.unit == "month"));
        if (cal) return std::nullopt;
        return false;
      }
      return dec_cmp(x, y) == 0;
    }
    default: return false;
  }
}

// N1 §6.1.3 equivalence of two items; an error without an offset.
hearth::result<bool> items_equivalent(const value& a0, const value& b0) {
  bool q = a0.k == value::kind::quantity || b0.k == value::kind::quantity;
  value a = to_system(a0, q), b = to_system(b0, q);
  using K = value::kind;
  if (a.k == K::node || b.k == K::node) {
    if (a.k != b.k) return false;
    if (!a.json || !b.json) return a.json == b.json;
    return *a.json == *b.json;
  }
  if (is_numeric(a) && is_numeric(b)) {
    decimal x = as_dec(a), y = as_dec(b);
    int s = std::min(x.scale, y.scale);
    return dec_cmp(round_to(x, s), round_to(y, s)) == 0;
  }
  if (is_temporal(a) && is_temporal(b)) {
    bool incomparable = false;
    auto c = temporal_cmp(a.t, b.t, incomparable);
    return c && *c == 0;
  }
  if (a.k != b.k) return false;
  switch (a.k) {
    case K::boolean: return a.b == b.b;
    case K::string: {
      std::string x = normalize_ws_lower(a.s), y = normalize_ws_lower(b.s);
      if (x == y) return true;
      // Case folding is ASCII only: for other text the answer is not known.
      for (const std::string* t : {&x, &y})
        for (char c : *t)
          if (static_cast<unsigned char>(c) >= 0x80)
            return hearth::unexpected(hearth::error{"not-supported",
                                                    "case-insensitive comparison of non-ASCII text is not supported yet",
                                                    {}, hearth::error::npos});
      return false;
    }
    case K::quantity: {
      quantity_value qa = a.q, qb = b.q;
      // N1 §6.1.3: calendar years/months are equivalent to the UCUM 'a'/'mo'.
      if (qa.calendar && qa.unit == "year") { qa.calendar = false; qa.unit = "a"; }
      if (qb.calendar && qb.unit == "year") { qb.calendar = false; qb.unit = "a"; }
      if (qa.calendar && qa.unit == "month") { qa.calendar = false; qa.unit = "mo"; }
      if (qb.calendar && qb.unit == "month") { qb.calendar = false; qb.unit = "mo"; }
      decimal x, y;
      if (!common_units(qa, qb, x, y)) return false;
      int s = std::min(x.scale, y.scale);
      return dec_cmp(round_to(x, s), round_to(y, s)) == 0;
    }
    default: return false;
  }
}

// N1 §6.1.3 equivalence of collections: the same size, and each item of `a`
// equivalent to a different item of `b`, in any order.
hearth::result<bool> collections_equivalent(const collection& a, const collection& b) {
  if (a.size() != b.size()) return false;
  std::vector<bool> used(b.size(), false);
  for (const auto& x : a) {
    bool found = false;
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (used[i]) continue;
      auto e = items_equivalent(x, b[i]);
      if (!e) return e;
      if (*e) {
        used[i] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

namespace {

// "10 'mg'", "4 days", "1.5" (N1 §5.5.8 toQuantity).
std::optional<value> parse_quantity_string(std::string_view s) {
  std::size_t sp = s.find(' ');
  std::string_view numtext = s.substr(0, sp);
  std::size_t i = (!numtext.empty() && (numtext[0] == '+' || numtext[0] == '-')) ? 1 : 0;
  bool digits = false, dot = false;
  for (std::size_t j = i; j < numtext.size(); ++j) {
    if (numtext[j] >= '0' && numtext[j] <= '9') digits = true;
    else if (numtext[j] == '.' && !dot) dot = true;
    else return std::nullopt;
  }
  if (!digits || numtext.ends_with(".")) return std::nullopt;
  auto d = decimal::parse(numtext);
  if (!d) return std::nullopt;
  quantity_value q;
  q.value = *d;
  q.unit = "1";
  if (sp != std::string_view::npos) {
    std::string_view u = s.substr(sp + 1);
    while (u.starts_with(" ")) u.remove_prefix(1);
    if (u.size() >= 2 && u.front() == '\'' && u.back() == '\'') {
      q.unit = std::string(u.substr(1, u.size() - 2));
    } else if (auto kw = calendar_keyword(u)) {
      q.unit = *kw;
      q.calendar = true;
    } else {
      return std::nullopt;
    }
  }
  return make_quantity(q);
}

}  // namespace

// N1 §5.5 conversions; nullopt = does not convert.
std::optional<value> convert(const value& v, const std::string& target, const std::optional<std::string>& unit) {
  using K = value::kind;
  if (target == "Boolean") {
    if (v.k == K::boolean) return v;
    if (v.k == K::integer) {
      if (v.i == 1 || v.i == 0) return make_bool(v.i == 1);
      return std::nullopt;
    }
    if (v.k == K::decimal_) {
      if (dec_cmp(v.d, from_int(1)) == 0) return make_bool(true);
      if (dec_cmp(v.d, from_int(0)) == 0) return make_bool(false);
      return std::nullopt;
    }
    if (v.k == K::string) {
      std::string l = v.s;
      for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (l == "true" || l == "t" || l == "yes" || l == "y" || l == "1" || l == "1.0") return make_bool(true);
      if (l == "false" || l == "f" || l == "no" || l == "n" || l == "0" || l == "0.0") return make_bool(false);
    }
    return std::nullopt;
  }
  if (target == "Integer") {
    if (v.k == K::integer) return v;
    if (v.k == K::boolean) return make_int(v.b ? 1 : 0);
    if (v.k == K::string) {
      std::string_view s = v.s;
      std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
      if (i == s.size() || s.size() > 11) return std::nullopt;
      for (std::size_t j = i; j < s.size(); ++j)
        if (s[j] < '0' || s[j] > '9') return std::nullopt;
      long long r = std::strtoll(v.s.c_str(), nullptr, 10);
      if (r > 2147483647LL || r < -2147483648LL) return std::nullopt;
      return make_int(r);
    }
    return std::nullopt;
  }
  if (target == "Decimal") {
    if (v.k == K::decimal_) return v;
    if (v.k == K::integer) return make_dec(from_int(v.i));
    if (v.k == K::boolean) return make_dec(decimal{v.b ? 10 : 0, 1});  // N1 §5.5.4: 1.0 / 0.0
    if (v.k == K::string) {
      std::string_view s = v.s;
      // FHIRPath decimal syntax: (\+|-)?\d+(\.\d+)?
      std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
      std::size_t d = i;
      while (d < s.size() && s[d] >= '0' && s[d] <= '9') ++d;
      if (d == i) return std::nullopt;
      if (d < s.size()) {
        if (s[d] != '.') return std::nullopt;
        std::size_t e = d + 1;
        while (e < s.size() && s[e] >= '0' && s[e] <= '9') ++e;
        if (e == d + 1 || e != s.size()) return std::nullopt;
      }
      if (auto r = decimal::parse(s)) return make_dec(*r);
    }
    return std::nullopt;
  }
  if (target == "String") {
    if (v.k == K::node) return std::nullopt;
    if (auto s = to_string_value(v)) return make_str(*s);
    return std::nullopt;
  }
  if (target == "Date" || target == "DateTime" || target == "Time") {
    auto k = target == "Date"       ? temporal_value::kind::date
             : target == "DateTime" ? temporal_value::kind::date_time
                                    : temporal_value::kind::time;
    if (v.k == K::string) {
      if (auto t = parse_temporal(v.s, k)) return make_temporal(*t);
      return std::nullopt;
    }
    if (k == temporal_value::kind::time) return v.k == K::time ? std::optional<value>(v) : std::nullopt;
    if (v.k == K::date || v.k == K::date_time) {
      value r = v;
      if (k == temporal_value::kind::date) {
        r.k = K::date;
        r.t.k = temporal_value::kind::date;
        if (r.t.t.prec > prec::day) r.t.t.prec = prec::day;
        r.t.t.has_timezone = false;
      } else {
        r.k = K::date_time;
        r.t.k = temporal_value::kind::date_time;
      }
      return r;
    }
    return std::nullopt;
  }
  if (target == "Quantity") {
    std::optional<value> r;
    if (v.k == K::quantity) r = v;
    else if (is_numeric(v)) r = make_quantity(quantity_value{as_dec(v), "1", false});
    else if (v.k == K::boolean) r = make_quantity(quantity_value{from_int(v.b ? 1 : 0), "1", false});
    else if (v.k == K::string) r = parse_quantity_string(v.s);
    if (r && unit) {
      // N1 §5.5.8: converted to `unit` by UCUM's rules when it can be, else empty.
      quantity_value target{decimal{}, *unit, false};
      if (auto kw = calendar_keyword(*unit)) target = quantity_value{decimal{}, *kw, true};
      if (canonical_unit(r->q) == canonical_unit(target)) return r;
      auto from = ucum_unit(r->q), to = ucum_unit(target);
      if (!from || !to || !ucum::comparable(*from, *to)) return std::nullopt;
      auto converted = convert_units(r->q.value, *from, *to);
      if (!converted) return std::nullopt;
      return make_quantity(quantity_value{*converted, target.unit, target.calendar});
    }
    return r;
  }
  return std::nullopt;
}

// The TypeInfo object type() returns (N1 §10 "Reflection": namespace and
// name), as a JSON node so that `.name` / `.namespace` navigate it. Kept for
// the life of the process, so results referring to it never dangle; the cache
// is bounded because only names of real types (the System types and those in
// the definitions) are ever added. Thread-safe.
const json_value* type_info_json(std::string_view ns, std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<const json_value>, std::less<>> cache;
  std::string key = std::string(ns) + "." + std::string(name);
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  auto j = std::make_unique<json_value>(json_value::object());
  j->set("namespace", json_value(std::string(ns)));
  j->set("name", json_value(std::string(name)));
  const json_value* out = j.get();
  cache.emplace(std::move(key), std::move(j));
  return out;
}

}  // namespace detail

std::string type_name(const value& v) {
  switch (v.k) {
    case value::kind::node: return std::string(v.fhir_type);
    case value::kind::boolean: return "Boolean";
    case value::kind::integer: return "Integer";
    case value::kind::decimal_: return "Decimal";
    case value::kind::string: return "String";
    case value::kind::date: return "Date";
    case value::kind::date_time: return "DateTime";
    case value::kind::time: return "Time";
    case value::kind::quantity: return "Quantity";
  }
  return "";
}

std::optional<std::string> to_string_value(const value& v0) {
  value v = detail::to_system(v0);
  switch (v.k) {
    case value::kind::node: return std::nullopt;
    case value::kind::boolean: return v.b ? "true" : "false";
    case value::kind::integer: return std::to_string(v.i);
    case value::kind::decimal_: return v.d.to_string();
    case value::kind::string: return v.s;
    case value::kind::date:
    case value::kind::date_time:
    case value::kind::time: return v.t.to_string();
    case value::kind::quantity: return detail::quantity_to_string(v.q);
  }
  return std::nullopt;
}

}  // namespace hearth::fhir::fhirpath
