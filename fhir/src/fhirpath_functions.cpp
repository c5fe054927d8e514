// The FHIRPath functions (N1 §5; FHIR R4 fhirpath.html#functions; FHIRPath
// 3.0 STU additions): evaluator::call(), the dispatcher over the function
// name, grouped as existence, filtering and projection, subsetting,
// combining, tree navigation, utility, strings, conversions, math and the
// FHIR functions (resolve, memberOf, conformsTo, ...), with the helpers only
// they use: argument evaluation, sort(), where(), the math functions and
// reference resolution. Errors are values: a failing function records its
// error (evaluator::fail) and returns at once (detail/fhirpath_eval_impl.hpp).

#include "detail/fhirpath_eval_impl.hpp"

#include <hearth/core/base64.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include <hearth/fhir/narrative_check.hpp>
#include <hearth/fhir/ucum.hpp>

#include "detail/fhirpath_regex.hpp"

namespace hearth::fhir::fhirpath::detail {

// ---- references and profiles (FHIR R4 fhirpath.html#functions)

namespace {

// The JSON subtree of `root` that contains `target` (by address).
bool contains_node(const json_value& root, const json_value* target) {
  if (&root == target) return true;
  if (root.is_object()) {
    for (const auto& m : root.members())
      if (contains_node(m.value, target)) return true;
  } else if (root.is_array()) {
    for (const auto& x : root.items())
      if (contains_node(x, target)) return true;
  }
  return false;
}

// A resource's contained resource with `id`.
const json_value* find_contained(const json_value& resource, std::string_view id) {
  if (const json_value* c = resource.find("contained"); c && c->is_array())
    for (const auto& r : c->items())
      if (const json_value* rid = r.find("id"); rid && rid->is_string() && rid->str() == id) return &r;
  return nullptr;
}

}  // namespace

// The resource a Reference (its `reference`) or a uri/url/canonical string
// names: "#id" in the resource that holds the reference (R4
// references.html#contained); otherwise an entry of the Bundle being
// evaluated, by fullUrl or, for "Type/id" (optionally with /_history/v),
// by resource type and id (R4 bundle.html#references, simplified: the
// base URL of a relative reference is not compared); then ctx.resolver.
const json_value* evaluator::resolve_reference(const value& v) {
  if (v.k != value::kind::node || v.json == nullptr) return nullptr;
  std::string_view ref;
  if (v.json->is_object()) {
    const json_value* r = v.json->find("reference");
    if (!r || !r->is_string()) return nullptr;
    ref = r->str();
  } else if (v.json->is_string()) {
    ref = v.json->str();
  } else {
    return nullptr;
  }
  const json_value& root = *root_.json;
  const bool bundle = resource_type_of(root) == "Bundle";
  const json_value* entries = bundle ? root.find("entry") : nullptr;
  if (ref.starts_with("#")) {
    // The resource holding the reference: a Bundle entry's resource, or the root.
    const json_value* holder = &root;
    if (entries && entries->is_array())
      for (const auto& e : entries->items())
        if (const json_value* r = e.find("resource"); r && contains_node(*r, v.json)) holder = r;
    if (ref.size() == 1) return holder;  // "#" is the holding resource itself
    return find_contained(*holder, ref.substr(1));
  }
  if (entries && entries->is_array()) {
    // "[base/]Type/id[/_history/v]" → Type and id.
    std::string_view path = ref.substr(0, ref.find("/_history/"));
    std::size_t slash = path.rfind('/');
    std::string_view want_id = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    std::string_view rest = slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
    std::string_view want_type = rest.substr(rest.rfind('/') + 1);  // npos + 1 == 0
    for (const auto& e : entries->items()) {
      const json_value* r = e.find("resource");
      if (!r || !r->is_object()) continue;
      if (const json_value* fu = e.find("fullUrl"); fu && fu->is_string() && fu->str() == ref) return r;
      const json_value* id = r->find("id");
      if (!want_id.empty() && id && id->is_string() && id->str() == want_id && resource_type_of(*r) == want_type)
        return r;
    }
  }
  return ctx_.resolver ? ctx_.resolver(ref) : nullptr;
}

// conformsTo() for a core StructureDefinition: the item's type is the
// profile's type or specialises it (its base chain reaches it). nullopt
// after an error (no such StructureDefinition).
std::optional<bool> evaluator::conforms_to_core(const value& v, std::string_view url, const node& n) {
  const type_definition* profile = nullptr;
  for (const auto& t : defs_.types())
    if (!t.url.empty() && t.url == url) profile = &t;
  if (!profile) {
    fail("not-found", "conformsTo(): no StructureDefinition with that URL is known", n.offset);
    return std::nullopt;
  }
  std::string_view t = v.k == value::kind::node ? v.fhir_type : std::string_view{};
  for (int guard = 0; !t.empty() && guard < 16; ++guard) {
    if (t == profile->name) return true;
    const type_definition* d = defs_.find_type(t);
    t = d ? d->base : std::string_view{};
  }
  return false;
}

// ---- functions (N1 §5)

// Whether the call has lo..hi arguments; false (error recorded) when not.
bool evaluator::arity(const node& n, std::size_t lo, std::size_t hi) {
  std::size_t c = n.child_count;
  if (c >= lo && c <= hi) return true;
  fail("invalid", "function '" + n.text + "' takes " + std::to_string(lo) +
                      (hi != lo ? ".." + std::to_string(hi) : "") + " arguments",
       n.offset);
  return false;
}

// Evaluates argument `i` with the original input ($this = the function's
// context item when `item` is given).
collection evaluator::arg(const node& n, std::size_t i, const collection& input, const frame& f) {
  return eval(e_.children(n)[i], input, f);
}

collection evaluator::with_item(const node& n, std::size_t i, const value& v, std::int64_t index, const frame& f,
                                const collection* total) {
  collection one{v};
  frame g = f;
  g.this_ = &one;
  g.index = index;
  if (total) g.total = total;
  return eval(e_.children(n)[i], one, g);
}

std::optional<std::string> evaluator::focus_string(const collection& focus, const node& n) {
  auto v = singleton(focus, n, ("function '" + n.text + "'").c_str());
  if (!v) return std::nullopt;
  value s = to_system(*v);
  if (s.k != value::kind::string) {
    fail("invalid", "function '" + n.text + "' requires a String input", n.offset);
    return std::nullopt;
  }
  return s.s;
}

collection evaluator::call(const node& n, const collection& focus, const collection& input, const frame& f) {
  const std::string& fn = n.text;
  // Arguments that are not iterated are evaluated against the expression's
  // input (N1 §5: "evaluated ... with respect to the context of the function"),
  // i.e. the same input the function's focus started from.
  const collection& arg_input = f.this_ ? *f.this_ : input;

  // existence
  if (fn == "empty") return arity(n, 0, 0) ? single(make_bool(focus.empty())) : collection{};
  if (fn == "exists") {
    if (!arity(n, 0, 1)) return {};
    if (n.child_count == 0) return single(make_bool(!focus.empty()));
    collection matching = where(n, focus, f);
    if (failed()) return {};
    return single(make_bool(!matching.empty()));
  }
  if (fn == "all") {
    if (!arity(n, 1, 1)) return {};
    for (std::size_t i = 0; i < focus.size(); ++i) {
      auto r = as_boolean(with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f), n, "all()");
      if (failed()) return {};
      if (!r || !*r) return single(make_bool(false));
    }
    return single(make_bool(true));
  }
  if (fn == "allTrue" || fn == "anyTrue" || fn == "allFalse" || fn == "anyFalse") {
    if (!arity(n, 0, 0)) return {};
    bool want = fn == "allTrue" || fn == "anyTrue";
    bool all = fn.starts_with("all");
    for (const auto& v : focus) {
      value s = to_system(v);
      if (s.k != value::kind::boolean) return fail("invalid", fn + "() requires Booleans", n.offset);
      if (all && s.b != want) return single(make_bool(false));
      if (!all && s.b == want) return single(make_bool(true));
    }
    return single(make_bool(all));
  }
  if (fn == "subsetOf" || fn == "supersetOf") {
    if (!arity(n, 1, 1)) return {};
    collection other = arg(n, 0, arg_input, f);
    if (failed()) return {};
    const collection& sub = fn == "subsetOf" ? focus : other;
    const collection& sup = fn == "subsetOf" ? other : focus;
    item_set in_sup(sup);
    in_sup.add_all();
    for (const auto& v : sub)
      if (!in_sup.contains(v)) return single(make_bool(false));
    return single(make_bool(true));
  }
  if (fn == "isDistinct") {
    if (!arity(n, 0, 0)) return {};
    return single(make_bool(distinct(focus).size() == focus.size()));
  }
  if (fn == "distinct") return arity(n, 0, 0) ? distinct(focus) : collection{};
  if (fn == "count") return arity(n, 0, 0) ? single(make_int(static_cast<std::int64_t>(focus.size()))) : collection{};

  // filtering and projection
  if (fn == "where") return arity(n, 1, 1) ? where(n, focus, f) : collection{};
  if (fn == "select") {
    if (!arity(n, 1, 1)) return {};
    collection out;
    for (std::size_t i = 0; i < focus.size(); ++i) {
      collection r = with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f);
      if (failed() || !count(r.size(), n)) return {};
      out.insert(out.end(), r.begin(), r.end());
    }
    return out;
  }
  if (fn == "repeat") {
    if (!arity(n, 1, 1)) return {};
    collection out, work = focus;
    item_set seen(out);
    while (!work.empty()) {
      collection next;
      for (std::size_t i = 0; i < work.size(); ++i) {
        collection r = with_item(n, 0, work[i], static_cast<std::int64_t>(i), f);
        if (failed()) return {};
        for (auto& v : r) {
          if (seen.contains(v)) continue;
          out.push_back(v);
          seen.add(out.size() - 1);
          next.push_back(v);
        }
        if (!count(r.size(), n)) return {};
      }
      work = std::move(next);
    }
    return out;
  }
  if (fn == "ofType") {
    if (!arity(n, 1, 1)) return {};
    auto t = e_.type_argument(e_.children(n)[0]);
    if (!t) return fail("invalid", "ofType() requires a type name", n.offset);
    return type_op(false, *t, focus, n);
  }
  if (fn == "is" || fn == "as") {
    if (!arity(n, 1, 1)) return {};
    auto t = e_.type_argument(e_.children(n)[0]);
    if (!t) return fail("invalid", fn + "() requires a type name", n.offset);
    return type_op(fn == "is", *t, focus, n);
  }

  // subsetting
  if (fn == "single") {
    if (!arity(n, 0, 0)) return {};
    if (focus.size() > 1) return fail("invalid", "single() found more than one item", n.offset);
    return focus;
  }
  if (fn == "first") return arity(n, 0, 0) ? focus.empty() ? collection{} : single(focus.front()) : collection{};
  if (fn == "last") return arity(n, 0, 0) ? focus.empty() ? collection{} : single(focus.back()) : collection{};
  if (fn == "tail") {
    if (!arity(n, 0, 0)) return {};
    return focus.size() <= 1 ? collection{} : collection(focus.begin() + 1, focus.end());
  }
  if (fn == "skip" || fn == "take") {
    if (!arity(n, 1, 1)) return {};
    auto k = int_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
    if (failed()) return {};
    if (!k) return fn == "skip" ? focus : collection{};
    std::size_t c = *k <= 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(*k), focus.size());
    if (fn == "skip") return collection(focus.begin() + static_cast<std::ptrdiff_t>(c), focus.end());
    return collection(focus.begin(), focus.begin() + static_cast<std::ptrdiff_t>(c));
  }
  if (fn == "intersect" || fn == "exclude") {
    if (!arity(n, 1, 1)) return {};
    collection other = arg(n, 0, arg_input, f);
    if (failed()) return {};
    collection out;
    item_set in_other(other), in_out(out);
    in_other.add_all();
    for (const auto& v : focus) {
      bool in = in_other.contains(v);
      if (fn == "exclude") {
        if (!in) out.push_back(v);
      } else if (in && !in_out.contains(v)) {
        out.push_back(v);
        in_out.add(out.size() - 1);
      }
    }
    return out;
  }
  if (fn == "union") {
    if (!arity(n, 1, 1)) return {};
    collection all = focus, other = arg(n, 0, arg_input, f);
    if (failed()) return {};
    all.insert(all.end(), other.begin(), other.end());
    return distinct(all);
  }
  if (fn == "combine") {
    if (!arity(n, 1, 1)) return {};
    collection all = focus, other = arg(n, 0, arg_input, f);
    if (failed()) return {};
    all.insert(all.end(), other.begin(), other.end());
    if (!count(all.size(), n)) return {};
    return all;
  }

  // tree navigation
  if (fn == "children") {
    if (!arity(n, 0, 0)) return {};
    collection out;
    for (const auto& v : focus) children_of(v, out);
    if (!count(out.size(), n)) return {};
    return out;
  }
  if (fn == "descendants") {
    if (!arity(n, 0, 0)) return {};
    collection out, work = focus;
    while (!work.empty()) {
      collection next;
      for (const auto& v : work) children_of(v, next);
      if (!count(next.size(), n)) return {};
      out.insert(out.end(), next.begin(), next.end());
      work = std::move(next);
    }
    return out;
  }

  // utility
  if (fn == "trace") return arity(n, 1, 2) ? focus : collection{};
  if (fn == "now" || fn == "today" || fn == "timeOfDay") return arity(n, 0, 0) ? single(clock_value(fn)) : collection{};
  if (fn == "iif") {
    if (!arity(n, 2, 3)) return {};
    if (focus.size() > 1) return fail("invalid", "iif() requires a single input item", n.offset);
    // With an explicit focus (`x.iif(...)`) the arguments see it as $this.
    collection iif_this = n.focus != no_node ? focus : arg_input;
    frame g = f;
    if (n.focus != no_node) g.this_ = &iif_this;
    const collection& ai = n.focus != no_node ? iif_this : arg_input;
    collection c = arg(n, 0, ai, g);
    auto v = singleton(c, n, "iif() criterion");
    if (failed()) return {};
    bool cond = false;
    if (v) {
      value s = to_system(*v);
      if (s.k != value::kind::boolean) return fail("invalid", "iif() criterion must be a Boolean", n.offset);
      cond = s.b;
    }
    if (cond) return arg(n, 1, ai, g);
    if (n.child_count == 3) return arg(n, 2, ai, g);
    return {};
  }
  if (fn == "not") {
    if (!arity(n, 0, 0)) return {};
    auto b = as_boolean(focus, n, "not()");
    if (!b) return {};
    return single(make_bool(!*b));
  }
  if (fn == "aggregate") {
    if (!arity(n, 1, 2)) return {};
    collection total = n.child_count == 2 ? arg(n, 1, arg_input, f) : collection{};
    if (failed()) return {};
    for (std::size_t i = 0; i < focus.size(); ++i) {
      collection t = total;
      total = with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f, &t);
      if (failed()) return {};
    }
    return total;
  }
  if (fn == "hasValue") {
    if (!arity(n, 0, 0)) return {};
    if (focus.size() != 1) return single(make_bool(false));
    const value& v = focus.front();
    bool has = v.k != value::kind::node || (v.json && !v.json->is_object() && !v.json->is_array());
    return single(make_bool(has));
  }
  if (fn == "extension") {
    if (!arity(n, 1, 1)) return {};
    auto url = string_arg(arg(n, 0, arg_input, f), n, "extension()");
    if (!url) return {};
    collection out;
    for (const auto& v : focus) {
      collection exts;
      navigate_extension(v, exts);
      for (auto& x : exts) {
        const json_value* u = x.json ? x.json->find("url") : nullptr;
        if (u && u->is_string() && u->str() == *url) out.push_back(x);
      }
    }
    return out;
  }

  // strings
  if (fn == "toString") {
    if (!arity(n, 0, 0)) return {};
    auto v = singleton(focus, n, "toString()");
    if (!v) return {};
    auto s = to_string_value(*v);
    if (!s) return {};
    return single(make_str(*s));
  }
  if (fn == "length" || fn == "upper" || fn == "lower" || fn == "toChars" || fn == "trim") {
    if (!arity(n, 0, 0)) return {};
    auto s = focus_string(focus, n);
    if (!s) return {};
    if (fn == "length") return single(make_int(static_cast<std::int64_t>(utf8_chars(*s).size())));
    if (fn == "upper" || fn == "lower") {
      std::string r = *s;
      for (char c : r)
        if (static_cast<unsigned char>(c) >= 0x80)
          return fail("not-supported", fn + "() of non-ASCII text is not supported yet", n.offset);
      for (auto& c : r)
        c = static_cast<char>(fn == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                            : std::tolower(static_cast<unsigned char>(c)));
      return single(make_str(r));
    }
    if (fn == "trim") {
      std::size_t b = 0, e = s->size();
      while (b < e && std::isspace(static_cast<unsigned char>((*s)[b]))) ++b;
      while (e > b && std::isspace(static_cast<unsigned char>((*s)[e - 1]))) --e;
      return single(make_str(s->substr(b, e - b)));
    }
    collection out;
    for (auto& c : utf8_chars(*s)) out.push_back(make_str(c));
    return out;
  }
  if (fn == "indexOf" || fn == "startsWith" || fn == "endsWith" || fn == "contains") {
    if (!arity(n, 1, 1)) return {};
    auto s = focus_string(focus, n);
    auto a = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
    if (!s || !a) return {};
    if (fn == "startsWith") return single(make_bool(s->starts_with(*a)));
    if (fn == "endsWith") return single(make_bool(s->ends_with(*a)));
    if (fn == "contains") return single(make_bool(s->find(*a) != std::string::npos));
    std::size_t p = s->find(*a);
    if (p == std::string::npos) return single(make_int(-1));
    return single(make_int(static_cast<std::int64_t>(utf8_chars(s->substr(0, p)).size())));
  }
  if (fn == "substring") {
    if (!arity(n, 1, 2)) return {};
    auto s = focus_string(focus, n);
    auto start = int_arg(arg(n, 0, arg_input, f), n, "substring()");
    if (!s || !start) return {};
    auto chars = utf8_chars(*s);
    if (*start < 0 || static_cast<std::size_t>(*start) >= chars.size()) return {};
    std::size_t len = chars.size() - static_cast<std::size_t>(*start);
    if (n.child_count == 2) {
      auto l = int_arg(arg(n, 1, arg_input, f), n, "substring()");
      if (failed()) return {};
      if (l) len = *l <= 0 ? 0 : std::min<std::size_t>(len, static_cast<std::size_t>(*l));
    }
    std::string r;
    for (std::size_t i = 0; i < len; ++i) r += chars[static_cast<std::size_t>(*start) + i];
    return single(make_str(r));
  }
  if (fn == "replace") {
    if (!arity(n, 2, 2)) return {};
    auto s = focus_string(focus, n);
    auto pat = string_arg(arg(n, 0, arg_input, f), n, "replace()");
    auto rep = string_arg(arg(n, 1, arg_input, f), n, "replace()");
    if (!s || !pat || !rep) return {};
    std::string r;
    if (pat->empty()) {
      // N1: an empty pattern inserts the substitution around every character.
      r = *rep;
      for (auto& c : utf8_chars(*s)) r += c + *rep;
      return single(make_str(r));
    }
    std::size_t pos = 0;
    for (;;) {
      std::size_t p = s->find(*pat, pos);
      if (p == std::string::npos) break;
      r += s->substr(pos, p - pos) + *rep;
      pos = p + pat->size();
    }
    r += s->substr(pos);
    return single(make_str(r));
  }
  if (fn == "matches" || fn == "matchesFull" || fn == "replaceMatches") {
    if (!arity(n, fn == "replaceMatches" ? 2 : 1, fn == "replaceMatches" ? 2 : 1)) return {};
    auto s = focus_string(focus, n);
    auto pat = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
    std::optional<std::string> rep;
    if (fn == "replaceMatches") rep = string_arg(arg(n, 1, arg_input, f), n, "replaceMatches()");
    if (!s || !pat || (fn == "replaceMatches" && !rep)) return {};
    // RE2 matches in linear time (detail/fhirpath_regex.hpp); the bounds only
    // keep one call's work and memory proportionate: a narrative div fits.
    if (s->size() > (1u << 20) || pat->size() > 4096)
      return fail("too-costly", "string or pattern too long for a regular expression", n.offset);
    if (fn == "replaceMatches" && pat->empty()) return single(make_str(*s));
    const std::string& re = *pat;
    if (fn == "replaceMatches") {
      auto r = detail::regex_replace_all(*s, re, *rep);
      if (!r) return fail("invalid", "invalid regular expression", n.offset);
      return single(make_str(*r));
    }
    auto m = detail::regex_matches(*s, re, fn == "matchesFull");
    if (!m) return fail("invalid", "invalid regular expression", n.offset);
    return single(make_bool(*m));
  }
  if (fn == "split") {
    if (!arity(n, 1, 1)) return {};
    auto s = focus_string(focus, n);
    auto sep = string_arg(arg(n, 0, arg_input, f), n, "split()");
    if (!s || !sep) return {};
    collection out;
    if (sep->empty()) {
      for (auto& c : utf8_chars(*s)) out.push_back(make_str(c));
      return out;
    }
    std::size_t pos = 0;
    for (;;) {
      std::size_t p = s->find(*sep, pos);
      if (p == std::string::npos) break;
      out.push_back(make_str(s->substr(pos, p - pos)));
      pos = p + sep->size();
    }
    out.push_back(make_str(s->substr(pos)));
    return out;
  }
  if (fn == "join") {
    if (!arity(n, 0, 1)) return {};
    std::string sep;
    if (n.child_count == 1) sep = string_arg(arg(n, 0, arg_input, f), n, "join()").value_or("");
    if (failed()) return {};
    std::string r;
    for (std::size_t i = 0; i < focus.size(); ++i) {
      value s = to_system(focus[i]);
      if (s.k != value::kind::string) return fail("invalid", "join() requires Strings", n.offset);
      if (i) r += sep;
      r += s.s;
    }
    return single(make_str(r));
  }

  // conversions
  if (fn.starts_with("to") || fn.starts_with("convertsTo")) {
    bool converts = fn.starts_with("convertsTo");
    std::string target = converts ? fn.substr(10) : fn.substr(2);
    static const char* known[] = {"Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity"};
    bool ok = false;
    for (const char* k : known) ok = ok || target == k;
    if (ok) {
      if (!arity(n, 0, target == "Quantity" ? 1 : 0)) return {};
      auto v = singleton(focus, n, (fn + "()").c_str());
      if (!v) return {};
      std::optional<std::string> unit;
      if (n.child_count == 1) unit = string_arg(arg(n, 0, arg_input, f), n, fn.c_str());
      if (failed()) return {};
      auto r = convert(to_system(*v, true), target, unit);
      if (converts) return single(make_bool(r.has_value()));
      if (!r) return {};
      return single(*r);
    }
  }

  // math
  if (fn == "abs" || fn == "ceiling" || fn == "floor" || fn == "truncate" || fn == "exp" || fn == "ln" ||
      fn == "sqrt" || fn == "round" || fn == "log" || fn == "power") {
    bool two = fn == "log" || fn == "power";
    if (!arity(n, two ? 1 : 0, fn == "round" || two ? 1 : 0)) return {};
    auto v = singleton(focus, n, (fn + "()").c_str());
    if (!v) return {};
    value x = to_system(*v, true);
    if (fn == "abs" && x.k == value::kind::quantity) {
      if (x.q.value.mantissa < 0) x.q.value.mantissa = -x.q.value.mantissa;
      return single(x);
    }
    if (!is_numeric(x)) return fail("invalid", fn + "() requires a number", n.offset);
    return math(n, fn, x, arg_input, f);
  }

  if (fn == "sort") return sort(n, focus, f);
  if (fn == "type") {
    if (!arity(n, 0, 0)) return {};
    collection out;
    for (const auto& v : focus) {
      if (v.k != value::kind::node) {
        out.push_back(node_value(type_info_json("System", type_name(v)), nullptr, {}));
      } else if (!v.fhir_type.empty() && defs_.find_type(v.fhir_type)) {
        out.push_back(node_value(type_info_json("FHIR", v.fhir_type), nullptr, {}));
      } else {
        return fail("not-supported", "type() of an element of unknown type is not supported yet", n.offset);
      }
    }
    return out;
  }
  if (fn == "precision") {
    // FHIRPath 3.0 (STU) precision(): fraction digits of a decimal, digits of a date/time.
    if (!arity(n, 0, 0)) return {};
    auto v = singleton(focus, n, "precision()");
    if (!v) return {};
    value x = to_system(*v);
    if (x.k == value::kind::decimal_) return single(make_int(x.d.scale));
    if (is_temporal(x)) {
      static const int dt_digits[] = {4, 6, 8, 10, 12, 14, 17};
      static const int time_digits[] = {0, 0, 0, 2, 4, 6, 9};
      int p = static_cast<int>(x.t.t.prec);
      return single(make_int(x.k == value::kind::time ? time_digits[p] : dt_digits[p]));
    }
    return fail("invalid", "precision() requires a Decimal, Date, DateTime or Time", n.offset);
  }
  if (fn == "resolve") {
    if (!arity(n, 0, 0)) return {};
    collection out;
    for (const auto& v : focus) {
      const json_value* target = resolve_reference(v);
      if (target) out.push_back(node_value(target, nullptr, resource_type_of(*target)));
    }
    if (!count(out.size(), n)) return {};
    return out;
  }
  if (fn == "memberOf") {
    if (!arity(n, 1, 1)) return {};
    auto url = string_arg(arg(n, 0, arg_input, f), n, "memberOf()");
    auto v = singleton(focus, n, "memberOf()");
    if (!url || !v) return {};
    if (!ctx_.member_of) return fail("not-supported", "memberOf() needs a terminology service", n.offset);
    auto r = ctx_.member_of(*v, *url);
    if (!r) return fail(r.error().code, r.error().message, n.offset);
    return single(make_bool(*r));
  }
  if (fn == "conformsTo") {
    if (!arity(n, 1, 1)) return {};
    auto url = string_arg(arg(n, 0, arg_input, f), n, "conformsTo()");
    auto v = singleton(focus, n, "conformsTo()");
    if (!url || !v) return {};
    if (ctx_.conforms_to) {
      if (auto r = ctx_.conforms_to(*v, *url)) {
        if (!*r) return fail(r->error().code, r->error().message, n.offset);
        return single(make_bool(**r));
      }
    }
    auto r = conforms_to_core(*v, *url, n);
    if (!r) return {};
    return single(make_bool(*r));
  }
  if (fn == "comparable") {
    // FHIRPath 3.0 (STU) comparable(): the two quantities' units convert
    // into each other (UCUM).
    if (!arity(n, 1, 1)) return {};
    auto v = singleton(focus, n, "comparable()");
    auto w = singleton(arg(n, 0, arg_input, f), n, "comparable()");
    if (!v || !w) return {};
    value a = to_system(*v, true), b = to_system(*w, true);
    if (a.k != value::kind::quantity || b.k != value::kind::quantity)
      return fail("invalid", "comparable() requires two Quantities", n.offset);
    if (canonical_unit(a.q) == canonical_unit(b.q)) return single(make_bool(true));
    auto ua = ucum_unit(a.q), ub = ucum_unit(b.q);
    return single(make_bool(ua && ub && ucum::comparable(*ua, *ub)));
  }
  if (fn == "lowBoundary" || fn == "highBoundary") {
    if (!arity(n, 0, 1)) return {};
    const bool high = fn == "highBoundary";
    auto v = singleton(focus, n, (fn + "()").c_str());
    if (!v) return {};
    value x = to_system(*v, true);
    std::optional<std::int64_t> digits;
    if (n.child_count == 1) {
      digits = int_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
      if (!digits) return {};
    }
    switch (x.k) {
      case value::kind::integer:
      case value::kind::decimal_: {
        auto r = decimal_boundary(as_dec(x), digits.value_or(8), high);
        return r ? single(make_dec(*r)) : collection{};
      }
      case value::kind::quantity: {
        auto r = decimal_boundary(x.q.value, digits.value_or(8), high);
        if (!r) return {};
        x.q.value = *r;
        return single(make_quantity(x.q));
      }
      case value::kind::date:
      case value::kind::date_time:
      case value::kind::time: {
        int def = x.k == value::kind::date ? 8 : x.k == value::kind::time ? 9 : 17;
        auto r = temporal_boundary(x.t, digits.value_or(def), high);
        return r ? single(make_temporal(*r)) : collection{};
      }
      default:
        return fail("invalid", fn + "() requires a Decimal, Integer, Quantity, Date, DateTime or Time", n.offset);
    }
  }
  if (fn == "encode" || fn == "decode") {
    // FHIRPath 3.0 (STU) encode/decode: base64, urlbase64, hex.
    if (!arity(n, 1, 1)) return {};
    auto s = focus_string(focus, n);
    auto enc = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
    if (!s || !enc) return {};
    std::optional<std::string> r;
    if (*enc == "hex") r = fn == "encode" ? hex_encode(*s) : hex_decode(*s);
    else if (*enc == "base64" || *enc == "urlbase64")
      r = fn == "encode" ? base64::encode(*s, *enc == "urlbase64") : base64::decode(*s, *enc == "urlbase64");
    else return fail("not-supported", "encoding '" + *enc + "' is not supported", n.offset);
    if (!r) return {};
    return single(make_str(*r));
  }
  if (fn == "escape" || fn == "unescape") {
    // FHIRPath 3.0 (STU) escape/unescape: html, json.
    if (!arity(n, 1, 1)) return {};
    auto s = focus_string(focus, n);
    auto kind = string_arg(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
    if (!s || !kind) return {};
    if (*kind != "html" && *kind != "json")
      return fail("not-supported", "escape kind '" + *kind + "' is not supported", n.offset);
    return single(make_str(fn == "escape" ? escape(*s, *kind == "html") : unescape(*s, *kind == "html")));
  }
  if (fn == "htmlChecks") {
    // FHIR R4 txt-1 (narrative.html#xhtml), as build.fhir.org
    // fhirpath.html#fn-htmlChecks defines the function: an xhtml item is
    // checked as the whole div, a string as the content of a div; true when
    // the rules are met, false when not, empty for anything else (other
    // types, an empty or a larger collection). A narrative past the
    // checker's limits is an error, not a verdict. txt-2 (some content) is
    // not part of it: the validator checks it natively (profiles/src/compile.cpp).
    if (!arity(n, 0, 0)) return {};
    if (focus.size() != 1) return {};
    const value& v = focus[0];
    std::optional<narrative_verdict> verdict;
    if (v.k == value::kind::node && v.fhir_type == "xhtml") {
      if (v.json && v.json->is_string()) verdict = check_narrative(v.json->str());
    } else if (v.k == value::kind::string ||
               (v.k == value::kind::node && (v.fhir_type == "string" || v.fhir_type == "code" ||
                                             v.fhir_type == "id" || v.fhir_type == "markdown"))) {
      value s = to_system(v);
      if (s.k == value::kind::string) verdict = check_narrative_content(s.s);
    }
    if (!verdict) return {};
    if (verdict->result == narrative_verdict::status::too_costly)
      return fail("too-costly", "htmlChecks(): " + verdict->problem, n.offset);
    return single(make_bool(verdict->allowed()));
  }
  static const char* unsupported[] = {"getValue", "subsumes", "subsumedBy",
                                      "elementDefinition", "slice", "checkModifiers", "defineVariable"};
  for (const char* u : unsupported)
    if (fn == u) return fail("not-supported", "function '" + fn + "' is not supported yet", n.offset);
  return fail("invalid", "unknown function '" + fn + "'", n.offset);
}

// FHIRPath 3.0 (STU) sort(): by the items themselves, or by each argument
// in turn; an argument written `-key` sorts that key descending. Stable.
collection evaluator::sort(const node& n, const collection& focus, const frame& f) {
  struct key_spec {
    node_id expr;
    bool descending;
  };
  std::vector<key_spec> keys;
  for (node_id c : e_.children(n)) {
    const node& k = at(c);
    if (k.kind == node_kind::unary && k.op == operator_kind::minus) keys.push_back({e_.children(k)[0], true});
    else keys.push_back({c, false});
  }
  std::vector<std::vector<std::optional<value>>> vals(focus.size());
  for (std::size_t i = 0; i < focus.size(); ++i) {
    if (keys.empty()) {
      vals[i].push_back(focus[i]);
      continue;
    }
    collection one{focus[i]};
    frame g = f;
    g.this_ = &one;
    g.index = static_cast<std::int64_t>(i);
    for (const auto& k : keys) {
      vals[i].push_back(singleton(eval(k.expr, one, g), n, "a sort key"));
      if (failed()) return {};
    }
  }
  std::vector<std::size_t> order(focus.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Once a comparison fails (the error is recorded) every pair compares
  // equal: the order stays consistent for the rest of the sort, whose result
  // is then dropped.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (failed()) return false;
    for (std::size_t k = 0; k < vals[a].size(); ++k) {
      const auto& x = vals[a][k];
      const auto& y = vals[b][k];
      bool desc = !keys.empty() && keys[k].descending;
      if (!x && !y) continue;
      // An empty key sorts first in either direction (the official R4
      // tests: testSort10).
      if (!x) return true;
      if (!y) return false;
      auto c = compare(*x, *y, n);
      if (failed()) return false;
      if (!c || *c == 0) continue;
      return desc ? *c > 0 : *c < 0;
    }
    return false;
  });
  if (failed()) return {};
  collection out;
  for (std::size_t i : order) out.push_back(focus[i]);
  return out;
}

collection evaluator::where(const node& n, const collection& focus, const frame& f) {
  collection out;
  for (std::size_t i = 0; i < focus.size(); ++i) {
    auto r = as_boolean(with_item(n, 0, focus[i], static_cast<std::int64_t>(i), f), n, "where()");
    if (failed()) return {};
    if (r && *r) out.push_back(focus[i]);
  }
  return out;
}

void evaluator::navigate_extension(const value& v, collection& out) {
  if (v.k != value::kind::node) return;
  if (v.json && v.json->is_object()) {
    if (const json_value* e = v.json->find("extension")) add_children(out, e, nullptr, "Extension");
  } else if (v.ext) {
    if (const json_value* e = v.ext->find("extension")) add_children(out, e, nullptr, "Extension");
  }
}

value evaluator::clock_value(const std::string& fn) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count();
  temporal_value tv;
  set_from_epoch_ms(tv.t, ms);
  tv.t.has_timezone = true;
  tv.t.timezone_minutes = 0;
  if (fn == "now") {
    tv.k = temporal_value::kind::date_time;
    tv.t.prec = prec::millisecond;
  } else if (fn == "today") {
    tv.k = temporal_value::kind::date;
    tv.t.prec = prec::day;
    tv.t.hour = tv.t.minute = tv.t.second = tv.t.millisecond = 0;
    tv.t.has_timezone = false;
  } else {
    tv.k = temporal_value::kind::time;
    tv.t.prec = prec::millisecond;
    tv.t.year = tv.t.month = tv.t.day = 0;
    tv.t.has_timezone = false;
  }
  return make_temporal(tv);
}

collection evaluator::math(const node& n, const std::string& fn, const value& x, const collection& arg_input,
                           const frame& f) {
  decimal d = as_dec(x);
  bool integer = x.k == value::kind::integer;
  auto whole = [](decimal v, int dir) {  // dir: -1 floor, 1 ceiling, 0 truncate
    decimal t = v;
    bool frac = false;
    while (t.scale > 0) {
      if (t.mantissa % 10 != 0) frac = true;
      t.mantissa /= 10;
      --t.scale;
    }
    if (frac && dir < 0 && v.mantissa < 0) --t.mantissa;
    if (frac && dir > 0 && v.mantissa > 0) ++t.mantissa;
    return t;
  };
  auto as_int_value = [&](decimal v) -> collection {
    if (v.mantissa > INT64_MAX || v.mantissa < INT64_MIN) return {};
    return single(make_int(static_cast<std::int64_t>(v.mantissa)));
  };
  if (fn == "abs") {
    if (integer) return single(make_int(x.i < 0 ? -x.i : x.i));
    if (d.mantissa < 0) d.mantissa = -d.mantissa;
    return single(make_dec(d));
  }
  if (fn == "ceiling") return as_int_value(whole(d, 1));
  if (fn == "floor") return as_int_value(whole(d, -1));
  if (fn == "truncate") return as_int_value(whole(d, 0));
  if (fn == "round") {
    std::int64_t p = 0;
    if (n.child_count == 1) {
      auto a = int_arg(arg(n, 0, arg_input, f), n, "round()");
      if (!a) return {};
      if (*a < 0) return fail("invalid", "round() precision must be >= 0", n.offset);
      p = std::min<std::int64_t>(*a, max_scale);
    }
    decimal r = round_to(d, static_cast<int>(p));
    return single(make_dec(r));
  }
  long double v = to_ld(d);
  long double r = 0;
  if (fn == "exp") r = std::exp(v);
  else if (fn == "ln") {
    if (v <= 0) return {};
    r = std::log(v);
  } else if (fn == "sqrt") {
    if (v < 0) return {};
    r = std::sqrt(v);
  } else if (fn == "log" || fn == "power") {
    auto a = singleton(arg(n, 0, arg_input, f), n, (fn + "()").c_str());
    if (!a) return {};
    value b = to_system(*a);
    if (!is_numeric(b)) return fail("invalid", fn + "() requires a number", n.offset);
    long double w = to_ld(as_dec(b));
    if (fn == "log") {
      if (v <= 0 || w <= 0 || w == 1) return {};
      r = std::log(v) / std::log(w);
    } else {
      if (integer && b.k == value::kind::integer && b.i >= 0) {
        std::int64_t acc = 1;
        for (std::int64_t i = 0; i < b.i; ++i)
          if (__builtin_mul_overflow(acc, x.i, &acc) || acc > 2147483647LL || acc < -2147483648LL) return {};
        return single(make_int(acc));
      }
      r = std::pow(v, w);
      if (std::isnan(r)) return {};
    }
  }
  auto out = from_ld(r);
  if (!out) return {};
  return single(make_dec(*out));
}

}  // namespace hearth::fhir::fhirpath::detail
