// The FHIRPath evaluator (fhirpath_eval.hpp), its core: evaluate(), the
// evaluator's error state and item limit, types (is, as, ofType), navigation
// of FHIR JSON, the dispatch over expression nodes, and the operators (N1 §6).
// FHIRPath 2.0.0 N1, http://hl7.org/fhirpath/N1/; FHIR R4 fhirpath.html for
// the FHIR specifics. The functions are in fhirpath_functions.cpp, the values
// they work on in fhirpath_items.cpp, fhirpath_math.cpp and fhirpath_text.cpp.
//
// Errors are values throughout: evaluator::fail() records the first error and
// every step returns early once one is recorded (detail/fhirpath_eval_impl.hpp);
// the recursion is bounded by the parser's max_depth.

#include <hearth/fhir/fhirpath_eval.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>

#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/ucum.hpp>

#include "detail/fhirpath_eval_impl.hpp"

namespace hearth::fhir::fhirpath {
namespace detail {
namespace {

// The message for an operator its operands' types do not have.
std::string undefined_operator(const node& n, const value& x, const value& y) {
  return "operator " + std::string(to_string(n.op)) + " is not defined for " + type_name(x) + " and " + type_name(y);
}

}  // namespace

// ---------------------------------------------------------------- evaluator

evaluator::evaluator(const expression& e, const json_value& resource, const definitions& defs, const context& ctx)
    : e_(e), defs_(defs), ctx_(ctx) {
  root_ = node_value(&resource, nullptr, resource_type_of(resource));
  if (ctx.context_node) context_ = node_value(ctx.context_node, nullptr, resource_type_of(*ctx.context_node));
  else context_ = root_;
  now_ = ctx.now ? *ctx.now : std::chrono::system_clock::now();
}

hearth::result<collection> evaluator::run() {
  collection input{root_};
  collection out = eval(e_.root(), input, frame{});
  if (!error_) return out;
  hearth::error err = std::move(*error_);
  err.location = err.offset != hearth::error::npos ? location_of(e_.source(), err.offset) : "";
  return hearth::unexpected(std::move(err));
}

collection evaluator::fail(std::string code, std::string message, std::size_t offset) {
  if (!error_) error_ = hearth::error{std::move(code), std::move(message), {}, offset};
  return {};
}

std::string_view evaluator::resource_type_of(const json_value& j) {
  if (j.is_object())
    if (const json_value* rt = j.find("resourceType"); rt && rt->is_string()) return rt->str();
  return {};
}

value evaluator::node_value(const json_value* j, const json_value* ext, std::string_view type) {
  value v;
  v.k = value::kind::node;
  v.json = j;
  v.ext = ext;
  v.fhir_type = type;
  return v;
}

bool evaluator::count(std::size_t n, const node& at) {
  produced_ += n;
  if (produced_ <= ctx_.max_items) return true;
  fail("too-costly", "the evaluation produced too many items", at.offset);
  return false;
}

// ---- type hierarchy

bool evaluator::fhir_is_a(std::string_view type, std::string_view target) const {
  for (int guard = 0; guard < 16 && !type.empty(); ++guard) {
    if (type == target) return true;
    const type_definition* td = defs_.find_type(type);
    if (!td) return false;
    type = td->base;
  }
  return false;
}

// Does v have type `spec` (is/as/ofType, N1 §6.3)?
// `exact_primitive`: as()/ofType() match a FHIR primitive's own type only
// (the official R4 tests: Patient.gender.as(string) is empty, yet
// Patient.gender.is(string) is true). nullopt after an error (an unknown type).
std::optional<bool> evaluator::has_type(const value& v, const type_specifier& spec, std::size_t offset,
                                        bool exact_primitive) {
  std::string_view q = spec.qualifier, n = spec.name;
  bool system_known = n == "Boolean" || n == "String" || n == "Integer" || n == "Decimal" || n == "Date" ||
                      n == "DateTime" || n == "Time" || n == "Quantity";
  bool fhir_known = defs_.find_type(n) != nullptr;
  if (q == "System") {
    return system_known && v.k != value::kind::node && type_name(v) == n;
  }
  if (q == "FHIR" || (q.empty() && fhir_known)) {
    if (!fhir_known) {
      fail("invalid", "unknown type 'FHIR." + std::string(n) + "'", offset);
      return std::nullopt;
    }
    if (v.k != value::kind::node) return false;
    // FHIR primitives match their own type only: code is not a string here
    // (the official R4 tests: Patient.gender.as(string) is empty).
    if (exact_primitive && defs_.is_primitive_type(n)) return v.fhir_type == n;
    return fhir_is_a(v.fhir_type, n);
  }
  if (!q.empty()) {
    fail("invalid", "unknown type namespace '" + std::string(q) + "'", offset);
    return std::nullopt;
  }
  if (!system_known) {
    fail("invalid", "unknown type '" + std::string(n) + "'", offset);
    return std::nullopt;
  }
  return v.k != value::kind::node && type_name(v) == n;
}

// ---- navigation (FHIR R4 fhirpath.html, json.html)

// The FHIR type of child `j` matched by `m`: a resource's own resourceType
// (the view points into `j`), else the type the definitions give.
std::string_view evaluator::child_type(const child_match& m, const json_value& j) const {
  if (j.is_object())
    if (auto rt = resource_type_of(j); !rt.empty()) return rt;
  if (m.type) return m.type->code;
  const element_definition* el = m.element;
  if (el->content_target) return el->content_target->path;
  if (!el->children.empty()) return el->path;
  if (!el->types.empty()) return el->types.front().code;
  return {};
}

void evaluator::add_children(collection& out, const json_value* j, const json_value* ext, std::string_view type) {
  if (j && j->is_array()) {
    for (std::size_t i = 0; i < j->items().size(); ++i) {
      const json_value* item = &j->items()[i];
      const json_value* e = nullptr;
      if (ext && ext->is_array() && i < ext->items().size() && !ext->items()[i].is_null()) e = &ext->items()[i];
      if (item->is_null()) {
        if (e) out.push_back(node_value(nullptr, e, type));
      } else {
        out.push_back(node_value(item, e, type));
      }
    }
    return;
  }
  if (!j && ext && ext->is_array()) {
    for (const auto& e : ext->items())
      if (!e.is_null()) out.push_back(node_value(nullptr, &e, type));
    return;
  }
  if (j && j->is_null()) j = nullptr;
  if (!j && !ext) return;
  out.push_back(node_value(j, ext && ext->is_object() ? ext : nullptr, type));
}

// The children called `name` of one item (N1 §5 path navigation).
// Returns false when the item's type is known and has no such element
// (the caller reports it when no item of the focus has it).
bool evaluator::navigate(const value& v, const std::string& name, collection& out) {
  if (v.k != value::kind::node) return true;
  if (!v.json || !v.json->is_object()) {
    // A primitive: its id and extensions live in the `_name` object.
    if (v.ext && (name == "extension" || name == "id")) {
      const json_value* c = v.ext->find(name);
      if (c) add_children(out, c, nullptr, name == "id" ? std::string_view("string") : "Extension");
      return true;
    }
    if (v.fhir_type.empty() || !defs_.is_primitive_type(v.fhir_type)) return true;
    return name == "value" || name == "extension" || name == "id";
  }
  const json_value& obj = *v.json;
  bool typed = !v.fhir_type.empty() && defs_.find_type(v.fhir_type) != nullptr;
  if (typed) {
    child_match m = defs_.find_child(v.fhir_type, name);
    if (m && !m.element->is_choice()) {
      const json_value* j = obj.find(name);
      const json_value* ext = obj.find("_" + name);
      // The type may point into *j (a resource's resourceType): pass *j
      // itself, never a copy that dies with this statement.
      if (j || ext) add_children(out, j, ext, j ? child_type(m, *j) : child_type(m, json_value()));
      return true;
    }
    // A choice element's JSON name ("valueQuantity") used directly is not
    // FHIRPath (fhirpath.html#polymorphism): not an element.
    if (m && m.element->is_choice()) return false;
    // A choice element: value[x] is written valueQuantity, valueString, ...
    std::string choice = name + "[x]";
    bool exists = false;
    for (const auto& c : defs_.find_type(v.fhir_type)->children())
      if (c->name == choice) exists = true;
    if (!exists) {
      // Backbone types keep children via the element path too.
      const element_definition* el = defs_.find_element(std::string(v.fhir_type) + "." + choice);
      exists = el != nullptr;
    }
    if (!exists) return false;
    for (const auto& mem : obj.members()) {
      std::string_view key = mem.key;
      bool ext_key = key.starts_with("_");
      std::string_view bare = ext_key ? key.substr(1) : key;
      if (bare.size() <= name.size() || !bare.starts_with(name) ||
          !std::isupper(static_cast<unsigned char>(bare[name.size()])))
        continue;
      child_match cm = defs_.resolve_choice(v.fhir_type, bare);
      if (!cm || cm.element->name != choice) continue;
      if (ext_key) {
        if (obj.find(bare)) continue;  // handled with its value
        add_children(out, nullptr, &mem.value, cm.type->code);
      } else {
        add_children(out, &mem.value, obj.find("_" + std::string(bare)), cm.type->code);
      }
    }
    return true;
  }
  // Untyped JSON: plain navigation.
  const json_value* j = obj.find(name);
  const json_value* ext = obj.find("_" + name);
  if (j || ext) add_children(out, j, ext, {});
  return true;
}

void evaluator::children_of(const value& v, collection& out) {
  if (v.k != value::kind::node) return;
  if (!v.json || !v.json->is_object()) {
    if (v.ext) {
      for (const auto& m : v.ext->members()) {
        if (m.key == "extension") add_children(out, &m.value, nullptr, "Extension");
        if (m.key == "id") add_children(out, &m.value, nullptr, "string");
      }
    }
    return;
  }
  for (const auto& m : v.json->members()) {
    if (m.key == "resourceType") continue;
    std::string_view key = m.key;
    if (key.starts_with("_")) {
      if (v.json->find(key.substr(1))) continue;
      key = key.substr(1);
      std::string_view type;
      if (auto cm = defs_.find_child(v.fhir_type, key)) type = child_type(cm, json_value());
      add_children(out, nullptr, &m.value, type);
      continue;
    }
    std::string_view type;
    if (!v.fhir_type.empty())
      if (auto cm = defs_.find_child(v.fhir_type, key)) type = child_type(cm, m.value);
    add_children(out, &m.value, v.json->find("_" + std::string(key)), type);
  }
}

// ---- singletons and collections

std::optional<value> evaluator::singleton(const collection& c, const node& n, const char* what) {
  if (c.empty()) return std::nullopt;
  if (c.size() > 1) {
    fail("invalid", std::string(what) + " requires a single item, but the collection has " +
                        std::to_string(c.size()),
         n.offset);
    return std::nullopt;
  }
  return c.front();
}

// N1 §4.5 singleton evaluation where a Boolean is expected.
std::optional<bool> evaluator::as_boolean(const collection& c, const node& n, const char* what) {
  auto v = singleton(c, n, what);
  if (!v) return std::nullopt;
  value s = to_system(*v);
  if (s.k == value::kind::boolean) return s.b;
  return true;
}

// The single item as a System value of kind `k`; another kind is an error
// ("`what` requires `type_text`").
std::optional<value> evaluator::typed_singleton(const collection& c, const node& n, const char* what,
                                                value::kind k, const char* type_text) {
  auto v = singleton(c, n, what);
  if (!v) return std::nullopt;
  value s = to_system(*v);
  if (s.k != k) {
    fail("invalid", std::string(what) + " requires " + type_text, n.offset);
    return std::nullopt;
  }
  return s;
}

// A Boolean argument, strictly (a non-Boolean is an error).
std::optional<bool> evaluator::strict_boolean(const collection& c, const node& n, const char* what) {
  auto s = typed_singleton(c, n, what, value::kind::boolean, "a Boolean");
  if (!s) return std::nullopt;
  return s->b;
}

std::optional<std::string> evaluator::string_arg(const collection& c, const node& n, const char* what) {
  auto s = typed_singleton(c, n, what, value::kind::string, "a String");
  if (!s) return std::nullopt;
  return std::move(s->s);
}

std::optional<std::int64_t> evaluator::int_arg(const collection& c, const node& n, const char* what) {
  auto s = typed_singleton(c, n, what, value::kind::integer, "an Integer");
  if (!s) return std::nullopt;
  return s->i;
}

bool evaluator::contains_item(const collection& c, const value& v) {
  for (const auto& x : c) {
    auto eq = items_equal(x, v);
    if (eq && *eq) return true;
  }
  return false;
}

// N1 §5.1.9 distinct(): the first of each group of equal items, in order.
collection evaluator::distinct(const collection& c) {
  collection out;
  out.reserve(c.size());
  item_set seen(out);
  for (const auto& v : c) {
    if (seen.contains(v)) continue;
    out.push_back(v);
    seen.add(out.size() - 1);
  }
  return out;
}

// ---- main dispatch

// Nothing is evaluated once an error is recorded, and what a failing
// subexpression computed is dropped: no partial result flows on.
collection evaluator::eval(node_id id, const collection& input, const frame& f) {
  if (failed()) return {};
  collection out = eval_node(id, input, f);
  if (failed()) return {};
  return out;
}

collection evaluator::eval_node(node_id id, const collection& input, const frame& f) {
  const node& n = at(id);
  switch (n.kind) {
    case node_kind::empty_literal: return {};
    case node_kind::boolean_literal: return single(make_bool(n.text == "true"));
    case node_kind::string_literal: return single(make_str(n.text));
    case node_kind::integer_literal: {
      auto d = decimal::parse(n.text);
      if (!d || d->mantissa > 2147483647) return fail("invalid", "integer literal out of range", n.offset);
      return single(make_int(static_cast<std::int64_t>(d->mantissa)));
    }
    case node_kind::long_literal: return fail("not-supported", "Long literals are not supported yet", n.offset);
    case node_kind::decimal_literal: {
      auto d = decimal::parse(n.text);
      if (!d) return fail("invalid", "decimal literal out of range", n.offset);
      return single(make_dec(*d));
    }
    case node_kind::date_literal:
    case node_kind::date_time_literal:
    case node_kind::time_literal: {
      temporal_value tv;
      tv.t = n.time;
      tv.k = n.kind == node_kind::date_literal        ? temporal_value::kind::date
             : n.kind == node_kind::date_time_literal ? temporal_value::kind::date_time
                                                      : temporal_value::kind::time;
      if (tv.k == temporal_value::kind::time && tv.t.has_timezone)
        return fail("invalid", "a time literal has no time zone", n.offset);
      return single(make_temporal(tv));
    }
    case node_kind::quantity_literal: {
      auto d = decimal::parse(n.text);
      if (!d) return fail("invalid", "quantity value out of range", n.offset);
      quantity_value q;
      q.value = *d;
      if (n.calendar_unit) {
        auto kw = calendar_keyword(n.unit);
        if (!kw) return fail("invalid", "unknown calendar unit", n.offset);
        q.unit = *kw;
        q.calendar = true;
      } else {
        q.unit = n.unit;
      }
      return single(make_quantity(std::move(q)));
    }
    case node_kind::external_constant: return constant(n);
    case node_kind::this_variable:
    case node_kind::index_variable:
    case node_kind::total_variable: {
      collection base;
      if (n.kind == node_kind::this_variable) base = f.this_ ? *f.this_ : input;
      else if (n.kind == node_kind::index_variable) {
        if (f.index < 0) return fail("invalid", "$index is only defined inside an iterating function", n.offset);
        base = single(make_int(f.index));
      } else {
        if (!f.total) return fail("invalid", "$total is only defined inside aggregate()", n.offset);
        base = *f.total;
      }
      return base;
    }
    case node_kind::member: return member(n, input, f);
    case node_kind::function: {
      collection focus = n.focus == no_node ? input : eval(n.focus, input, f);
      if (failed()) return {};
      return call(n, focus, input, f);
    }
    case node_kind::indexer: {
      auto ch = e_.children(n);
      collection base = eval(ch[0], input, f);
      if (failed()) return {};
      collection idx = eval(ch[1], input, f);
      if (failed()) return {};
      auto i = int_arg(idx, n, "the indexer");
      if (!i || *i < 0 || static_cast<std::size_t>(*i) >= base.size()) return {};
      return single(base[static_cast<std::size_t>(*i)]);
    }
    case node_kind::unary: {
      collection a = eval(e_.children(n)[0], input, f);
      if (failed()) return {};
      if (n.op == operator_kind::plus) return a;
      auto v = singleton(a, n, "unary minus");
      if (!v) return {};
      value s = to_system(*v);
      if (s.k == value::kind::integer) return single(make_int(-s.i));
      if (s.k == value::kind::decimal_) return single(make_dec(decimal{-s.d.mantissa, s.d.scale}));
      if (s.k == value::kind::quantity) {
        s.q.value.mantissa = -s.q.value.mantissa;
        return single(s);
      }
      return fail("invalid", "unary minus requires a number or a quantity", n.offset);
    }
    case node_kind::type_operation: {
      collection a = eval(e_.children(n)[0], input, f);
      if (failed()) return {};
      return type_op(n.op == operator_kind::is, n.type, a, n);
    }
    case node_kind::binary: return binary(n, input, f);
  }
  return fail("invalid", "unknown node", n.offset);
}

collection evaluator::constant(const node& n) {
  const std::string& name = n.text;
  if (name == "resource" || name == "rootResource") return single(root_);
  if (name == "context") return single(context_);
  if (name == "ucum") return single(make_str("http://unitsofmeasure.org"));
  if (name == "sct") return single(make_str("http://snomed.info/sct"));
  if (name == "loinc") return single(make_str("http://loinc.org"));
  if (auto it = ctx_.variables.find(name); it != ctx_.variables.end()) return it->second;
  if (name.starts_with("vs-")) return single(make_str("http://hl7.org/fhir/ValueSet/" + name.substr(3)));
  if (name.starts_with("ext-"))
    return single(make_str("http://hl7.org/fhir/StructureDefinition/" + name.substr(4)));
  return fail("invalid", "unknown environment variable", n.offset);
}

collection evaluator::member(const node& n, const collection& input, const frame& f) {
  collection focus = n.focus == no_node ? input : eval(n.focus, input, f);
  if (failed()) return {};
  collection out;
  // A type name as the first segment (`Patient.name`) selects the input
  // items of that type (FHIR R4 fhirpath.html "type name as first step").
  if (n.focus == no_node && !n.text.empty() && std::isupper(static_cast<unsigned char>(n.text[0]))) {
    if (defs_.find_type(n.text)) {
      bool any_node = false;
      for (const auto& v : focus) {
        if (v.k != value::kind::node) continue;
        any_node = true;
        if (fhir_is_a(v.fhir_type, n.text)) out.push_back(v);
      }
      if (out.empty() && any_node && ctx_.strict && defs_.is_resource_type(n.text))
        return fail("invalid", "the input is not of type " + n.text, n.offset);
      if (!out.empty() || defs_.is_resource_type(n.text) || !any_node) return out;
    }
  }
  bool defined = focus.empty();
  for (const auto& v : focus) defined = navigate(v, n.text, out) || defined;
  // No item of the focus has such an element: a semantic error
  // (FHIR R4 fhirpath.html, strict evaluation of element names).
  if (!defined) return fail("invalid", "'" + n.text + "' is not an element of the input's type", n.offset);
  if (!count(out.size(), n)) return {};
  return out;
}

collection evaluator::type_op(bool is, const type_specifier& spec, const collection& a, const node& n) {
  if (a.empty()) return {};
  if (a.size() > 1 && n.text != "ofType")
    return fail("invalid", std::string(is ? "is" : "as") + " requires a single item", n.offset);
  if (is) {
    auto r = has_type(a.front(), spec, n.offset, false);
    if (!r) return {};
    return single(make_bool(*r));
  }
  collection out;
  for (const auto& v : a) {
    auto r = has_type(v, spec, n.offset, true);
    if (!r) return {};
    if (*r) out.push_back(v);
  }
  return out;
}

// ---- binary operators (N1 §6)

collection evaluator::binary(const node& n, const collection& input, const frame& f) {
  auto ch = e_.children(n);
  switch (n.op) {
    case operator_kind::and_:
    case operator_kind::or_:
    case operator_kind::xor_:
    case operator_kind::implies: {
      auto a = as_boolean(eval(ch[0], input, f), n, "a Boolean operator");
      if (failed()) return {};
      // Short-circuit only where the result no longer depends on b.
      if (n.op == operator_kind::and_ && a && !*a) return single(make_bool(false));
      if (n.op == operator_kind::or_ && a && *a) return single(make_bool(true));
      if (n.op == operator_kind::implies && a && !*a) return single(make_bool(true));
      auto b = as_boolean(eval(ch[1], input, f), n, "a Boolean operator");
      if (failed()) return {};
      std::optional<bool> r;
      switch (n.op) {
        case operator_kind::and_:
          if (b && !*b) r = false;
          else if (a && b) r = true;
          break;
        case operator_kind::or_:
          if (b && *b) r = true;
          else if (a && b) r = false;
          break;
        case operator_kind::xor_:
          if (a && b) r = *a != *b;
          break;
        default:  // implies
          if (!a) {
            if (b && *b) r = true;
          } else {
            r = b;  // a is true here
          }
          break;
      }
      if (!r) return {};
      return single(make_bool(*r));
    }
    default: break;
  }
  collection a = eval(ch[0], input, f);
  if (failed()) return {};
  collection b = eval(ch[1], input, f);
  if (failed()) return {};
  switch (n.op) {
    case operator_kind::union_: {
      collection all = a;
      all.insert(all.end(), b.begin(), b.end());
      if (!count(all.size(), n)) return {};
      return distinct(all);
    }
    case operator_kind::equal:
    case operator_kind::not_equal: {
      if (a.empty() || b.empty()) return {};
      std::optional<bool> r = true;
      if (a.size() != b.size()) {
        r = false;
      } else {
        for (std::size_t i = 0; i < a.size(); ++i) {
          auto e = items_equal(a[i], b[i]);
          if (!e) {
            r = std::nullopt;
          } else if (!*e) {
            r = false;
            break;
          }
        }
      }
      if (!r) return {};
      return single(make_bool(n.op == operator_kind::equal ? *r : !*r));
    }
    case operator_kind::equivalent:
    case operator_kind::not_equivalent: {
      auto r = collections_equivalent(a, b);
      // The error comes without an offset: the operator's.
      if (!r) return fail(r.error().code, r.error().message, n.offset);
      return single(make_bool(n.op == operator_kind::equivalent ? *r : !*r));
    }
    case operator_kind::less:
    case operator_kind::less_equal:
    case operator_kind::greater:
    case operator_kind::greater_equal: {
      auto x = singleton(a, n, "a comparison");
      auto y = singleton(b, n, "a comparison");
      if (!x || !y) return {};
      auto c = compare(*x, *y, n);
      if (!c) return {};
      bool r = n.op == operator_kind::less         ? *c < 0
               : n.op == operator_kind::less_equal ? *c <= 0
               : n.op == operator_kind::greater    ? *c > 0
                                                   : *c >= 0;
      return single(make_bool(r));
    }
    case operator_kind::in:
    case operator_kind::contains: {
      const collection& elem = n.op == operator_kind::in ? a : b;
      const collection& coll = n.op == operator_kind::in ? b : a;
      auto v = singleton(elem, n, "a membership operator");
      if (!v) return {};
      return single(make_bool(contains_item(coll, *v)));
    }
    case operator_kind::concat: {
      auto x = singleton(a, n, "&");
      if (failed()) return {};
      auto y = singleton(b, n, "&");
      if (failed()) return {};
      std::string s;
      for (const auto& v : {x, y}) {
        if (!v) continue;
        value sv = to_system(*v);
        if (sv.k != value::kind::string) return fail("invalid", "& requires Strings", n.offset);
        s += sv.s;
      }
      return single(make_str(std::move(s)));
    }
    default: break;
  }
  // arithmetic
  auto x = singleton(a, n, "an arithmetic operator");
  auto y = singleton(b, n, "an arithmetic operator");
  if (!x || !y) return {};
  return arithmetic(n, to_system(*x, true), to_system(*y, true));
}

std::optional<int> evaluator::compare(const value& x0, const value& y0, const node& n) {
  bool q = x0.k == value::kind::quantity || y0.k == value::kind::quantity;
  value x = to_system(x0, q), y = to_system(y0, q);
  if (is_numeric(x) && is_numeric(y)) return dec_cmp(as_dec(x), as_dec(y));
  if (x.k == value::kind::string && y.k == value::kind::string) {
    int c = x.s.compare(y.s);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (is_temporal(x) && is_temporal(y)) {
    bool incomparable = false;
    auto c = temporal_cmp(x.t, y.t, incomparable);
    if (incomparable) {
      fail("invalid", "cannot compare a Time with a Date or DateTime", n.offset);
      return std::nullopt;
    }
    return c;
  }
  if (x.k == value::kind::quantity && y.k == value::kind::quantity) {
    decimal a, b;
    if (!common_units(x.q, y.q, a, b)) return std::nullopt;
    return dec_cmp(a, b);
  }
  fail("invalid", "cannot compare " + type_name(x) + " with " + type_name(y), n.offset);
  return std::nullopt;
}

collection evaluator::arithmetic(const node& n, const value& x, const value& y) {
  using K = value::kind;
  auto overflow = [&]() -> collection { return {}; };  // N1 §6.6: empty on overflow
  if (x.k == K::integer && y.k == K::integer) {
    std::int64_t r = 0;
    // Integer is 32-bit (N1 §2.1.8): a result outside that range overflows.
    auto make_int = [](std::int64_t v) -> value {
      value out;
      out.k = value::kind::integer;
      out.i = v;
      return out;
    };
    auto in_range = [](std::int64_t v) { return v >= -2147483648LL && v <= 2147483647LL; };
    switch (n.op) {
      case operator_kind::plus:
        if (__builtin_add_overflow(x.i, y.i, &r) || !in_range(r)) return overflow();
        return single(make_int(r));
      case operator_kind::minus:
        if (__builtin_sub_overflow(x.i, y.i, &r) || !in_range(r)) return overflow();
        return single(make_int(r));
      case operator_kind::multiply:
        if (__builtin_mul_overflow(x.i, y.i, &r) || !in_range(r)) return overflow();
        return single(make_int(r));
      case operator_kind::div:
        if (y.i == 0) return {};
        return single(make_int(x.i / y.i));
      case operator_kind::mod:
        if (y.i == 0) return {};
        return single(make_int(x.i % y.i));
      default: break;  // divide: Decimal below
    }
  }
  if (is_numeric(x) && is_numeric(y)) {
    decimal a = as_dec(x), b = as_dec(y);
    std::optional<decimal> r;
    switch (n.op) {
      case operator_kind::plus: r = dec_add(a, b, false); break;
      case operator_kind::minus: r = dec_add(a, b, true); break;
      case operator_kind::multiply: r = dec_mul(a, b); break;
      case operator_kind::divide: r = dec_div(a, b); break;
      case operator_kind::div: {
        auto q = dec_div(a, b);
        if (!q) return {};
        decimal t = round_to(*q, q->scale);
        while (t.scale > 0) { t.mantissa /= 10; --t.scale; }
        return single(make_dec(t));
      }
      case operator_kind::mod: {
        if (b.mantissa == 0) return {};
        int s = std::max(a.scale, b.scale);
        if (!rescale(a, s) || !rescale(b, s)) return {};
        return single(make_dec(decimal{a.mantissa % b.mantissa, s}));
      }
      default: break;
    }
    if (!r) return {};
    return single(make_dec(*r));
  }
  if (x.k == K::string && y.k == K::string && n.op == operator_kind::plus) return single(make_str(x.s + y.s));
  if (is_temporal(x) && y.k == K::quantity &&
      (n.op == operator_kind::plus || n.op == operator_kind::minus)) {
    auto t = add_duration(x.t, y.q, n.op == operator_kind::minus, n);
    if (!t) return {};
    return single(make_temporal(std::move(*t)));
  }
  if (x.k == K::quantity && y.k == K::quantity &&
      (n.op == operator_kind::plus || n.op == operator_kind::minus)) {
    // The result is in the left operand's unit.
    decimal a, b;
    if (!common_units(x.q, y.q, a, b)) return {};
    auto r = dec_add(a, b, n.op == operator_kind::minus);
    if (!r) return {};
    quantity_value q = x.q;
    q.value = *r;
    return single(make_quantity(q));
  }
  if ((x.k == K::quantity || y.k == K::quantity) &&
      (n.op == operator_kind::multiply || n.op == operator_kind::divide))
    return quantity_product(n, x, y);
  return fail("invalid", undefined_operator(n, x, y), n.offset);
}

// N1 §6.2.1 / §6.2.2: Quantity * and / Quantity or number. Values multiply
// or divide exactly (/ as for decimals); units combine by UCUM algebra
// (2.0 'cm' * 2.0 'm' is 4.00 'cm.m', equal to 0.040 'm2'). A number is a
// quantity of unit '1'. Division by zero is empty.
collection evaluator::quantity_product(const node& n, const value& x, const value& y) {
  using K = value::kind;
  const bool divide = n.op == operator_kind::divide;
  auto as_quantity = [&](const value& v) -> std::optional<quantity_value> {
    if (v.k == K::quantity) return v.q;
    if (is_numeric(v)) return quantity_value{as_dec(v), "1", false};
    return std::nullopt;
  };
  auto qa = as_quantity(x), qb = as_quantity(y);
  if (!qa || !qb) return fail("invalid", undefined_operator(n, x, y), n.offset);
  const quantity_value& a = *qa;
  const quantity_value& b = *qb;
  auto ua = ucum_unit(a), ub = ucum_unit(b);
  if (!ua || !ub)
    return fail("not-supported", "quantity * and / need UCUM units (calendar years and months have none)", n.offset);
  auto value = divide ? dec_div(a.value, b.value) : dec_mul(a.value, b.value);
  if (!value) return {};
  quantity_value q;
  q.value = *value;
  if (b.unit == "1" && !b.calendar) {
    q.unit = a.unit;
    q.calendar = a.calendar;
  } else if (a.unit == "1" && !a.calendar && !divide) {
    q.unit = b.unit;
    q.calendar = b.calendar;
  } else {
    auto u = divide ? ucum::divide(*ua, *ub) : ucum::multiply(*ua, *ub);
    if (!u)
      return fail(u.error().code, "quantity " + std::string(divide ? "/" : "*") + ": " + u.error().message, n.offset);
    q.unit = u->expression;
  }
  return single(make_quantity(q));
}

// N1 §6.6 date/time arithmetic: calendar units; a fractional amount of a
// unit is truncated to whole units (the official R4 tests: + 7.7 days adds 7
// days, + 0.1 's' adds nothing).
// nullopt after an error.
std::optional<temporal_value> evaluator::add_duration(temporal_value tv, const quantity_value& q, bool subtract,
                                                      const node& n) {
  std::string unit = q.unit;
  if (!q.calendar) {
    static const std::pair<const char*, const char*> ucum[] = {
        {"wk", "week"}, {"d", "day"}, {"h", "hour"},
        {"min", "minute"}, {"s", "second"}, {"ms", "millisecond"}};
    // UCUM 'a' and 'mo' are not calendar years/months (N1 §6.6.1): rejected.
    bool ok = false;
    for (auto [u, c] : ucum)
      if (unit == u) {
        unit = c;
        ok = true;
      }
    if (auto kw = calendar_keyword(unit); !ok && kw) {
      unit = *kw;
      ok = true;
    }
    if (!ok) {
      fail("invalid", "a date/time can only be added a time-valued quantity", n.offset);
      return std::nullopt;
    }
  }
  decimal amount = q.value;
  if (subtract) amount.mantissa = -amount.mantissa;
  temporal& t = tv.t;
  // Dates run from year 1 to 9999 (N1 §2.1.5): no sensible amount moves a
  // date by more than ~3.2e14 ms, so anything larger is an error, and every
  // product below is checked rather than allowed to overflow.
  constexpr std::int64_t max_shift_units = 400'000'000'000'000LL;
  auto out_of_range = [&]() -> std::optional<temporal_value> {
    fail("invalid", "date/time arithmetic out of range", n.offset);
    return std::nullopt;
  };
  // The whole units of `amount` times `factor`; nullopt when out of range.
  auto whole_times = [&](std::int64_t factor) -> std::optional<std::int64_t> {
    decimal d = amount;
    while (d.scale > 0) { d.mantissa /= 10; --d.scale; }
    if (d.mantissa > max_shift_units || d.mantissa < -max_shift_units) return std::nullopt;
    std::int64_t r = 0;
    if (__builtin_mul_overflow(static_cast<std::int64_t>(d.mantissa), factor, &r)) return std::nullopt;
    return r;
  };
  if (tv.k == temporal_value::kind::time && (unit == "year" || unit == "month" || unit == "week" || unit == "day")) {
    fail("invalid", "a time cannot be added a date unit", n.offset);
    return std::nullopt;
  }
  if (unit == "year" || unit == "month") {
    auto months = whole_times(unit == "year" ? 12 : 1);
    if (!months) return out_of_range();
    std::int64_t total = static_cast<std::int64_t>(t.year) * 12 + (t.month ? t.month - 1 : 0) + *months;
    if (total < 12 || total >= 10000 * 12) return out_of_range();
    t.year = static_cast<int>(total / 12);
    if (t.month) t.month = static_cast<int>(total % 12) + 1;
    if (t.day) t.day = std::min(t.day, days_in_month(t.year, t.month));
    return tv;
  }
  std::optional<std::int64_t> shift = 0;
  if (unit == "week") shift = whole_times(7 * 86400000LL);
  else if (unit == "day") shift = whole_times(86400000LL);
  else if (unit == "hour") shift = whole_times(3600000LL);
  else if (unit == "minute") shift = whole_times(60000LL);
  else if (unit == "second") shift = whole_times(1000LL);  // whole units only (testPlusDate19)
  else if (unit == "millisecond") shift = whole_times(1);
  if (!shift) return out_of_range();
  std::int64_t ms = *shift;
  // Below the value's precision the addition is in whole units of that precision.
  static const std::int64_t unit_ms[] = {0, 0, 86400000LL, 3600000LL, 60000LL, 1000LL, 1LL};
  int p = static_cast<int>(t.prec);
  if (p < 2) {
    // year/month precision: only whole years/months can change it (and
    // unit_ms has no entry to round to).
    return tv;
  }
  if (p < static_cast<int>(prec::millisecond)) ms = ms / unit_ms[p] * unit_ms[p];
  if (tv.k == temporal_value::kind::time) {
    std::int64_t day = 86400000LL;
    std::int64_t cur = ((t.hour * 60LL + t.minute) * 60 + t.second) * 1000 + t.millisecond;
    cur = ((cur + ms % day) % day + day) % day;  // ms % day first: no overflow
    t.hour = static_cast<int>(cur / 3600000);
    t.minute = static_cast<int>(cur / 60000 % 60);
    t.second = static_cast<int>(cur / 1000 % 60);
    t.millisecond = static_cast<int>(cur % 1000);
    return tv;
  }
  std::int64_t shifted = 0;
  if (__builtin_add_overflow(epoch_ms(t), ms, &shifted)) return out_of_range();
  set_from_epoch_ms(t, shifted);
  if (t.year < 1 || t.year > 9999) return out_of_range();
  return tv;
}

}  // namespace detail

hearth::result<collection, hearth::error> evaluate(const expression& expr, const json_value& resource,
                                                   const definitions& defs, const context& ctx) {
  return detail::evaluator(expr, resource, defs, ctx).run();
}

}  // namespace hearth::fhir::fhirpath
