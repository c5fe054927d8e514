#include <hearth/store/indexer.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/ucum.hpp>
#include <hearth/store/text_fold.hpp>

namespace hearth::store {

namespace {

namespace fp = fhir::fhirpath;
using fhir::json_value;
using fhir::search_param_type;
using fhir::search_parameter;

/// The FHIRPath variable holding the index of the composite item a
/// component expression is evaluated on (see compile_component).
constexpr std::string_view item_variable = "hearth_item";
constexpr std::string_view ucum_system = "http://unitsofmeasure.org";
constexpr std::string_view iso4217_system = "urn:iso:std:iso:4217";  // R4 datatypes.html#Money
constexpr double infinity = std::numeric_limits<double>::infinity();

struct compiled_component {
  const search_parameter* def = nullptr;  ///< the component's own parameter
  fp::expression expr;                    ///< "(composite)[%hearth_item].select(component)"
};

struct compiled_parameter {
  const search_parameter* param = nullptr;
  fp::expression expr;
  std::vector<compiled_component> components;  ///< composites only
};

// ---- JSON helpers ----------------------------------------------------------

std::string_view string_member(const json_value& obj, std::string_view key) {
  const json_value* j = obj.is_object() ? obj.find(key) : nullptr;
  return j && j->is_string() ? std::string_view(j->str()) : std::string_view();
}

/// Calls f on each value of member `key`: each item of an array, or the value.
template <class F>
void each_member(const json_value& obj, std::string_view key, F&& f) {
  const json_value* j = obj.is_object() ? obj.find(key) : nullptr;
  if (!j) return;
  if (j->is_array()) {
    for (const json_value& item : j->items()) f(item);
  } else {
    f(*j);
  }
}

/// The FHIR type of an item ("" for System values). A resource's type is read
/// from its resourceType: the evaluator's fhir_type for a resource reached
/// through a Resource-typed element (Bundle.entry.resource) may point into a
/// temporary copy (see the report on fhirpath_eval.cpp), so it is not read.
std::string_view item_type(const fp::value& v) {
  if (v.k != fp::value::kind::node) return {};
  if (v.json && v.json->is_object())
    if (const json_value* rt = v.json->find("resourceType"); rt && rt->is_string()) return rt->str();
  return v.fhir_type;
}

bool is_quantity_type(std::string_view t) {
  // Quantity and its R4 specialisations and profiles (datatypes.html#Quantity).
  return t == "Quantity" || t == "Age" || t == "Count" || t == "Distance" || t == "Duration" ||
         t == "SimpleQuantity" || t == "MoneyQuantity";
}

bool is_uri_type(std::string_view t) {
  return t == "canonical" || t == "uri" || t == "url" || t == "oid" || t == "uuid";
}

bool is_date_type(std::string_view t) { return t == "date" || t == "dateTime" || t == "instant"; }

/// `s` cut to at most `max` bytes at a UTF-8 sequence boundary.
std::string cut(std::string_view s, std::size_t max, bool& truncated) {
  if (s.size() <= max) return std::string(s);
  truncated = true;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

/// A Date / DateTime System value as FHIR text ("2015-02-04T14:34:28+09:00").
std::string temporal_text(const fp::value& v) {
  std::string s = v.t.to_string();
  if (!s.empty() && s.back() == 'T') s.pop_back();  // "2015T": a dateTime of year precision
  return s;
}

// ---- conversion of one item ---------------------------------------------------

/// Converts evaluation results into entries for one resource. Lives for one
/// index() call; not shared between threads.
class converter {
 public:
  converter(const fhir::definitions& defs, const indexer_options& opts, const json_value& resource,
            std::vector<index_problem>& problems)
      : defs_(defs), opts_(opts), resource_(resource), problems_(problems) {}

  /// Appends to `out` the entries of parameter `sp` for `item`; problems are
  /// recorded against `owner` (sp itself, or the composite sp belongs to).
  void convert(const search_parameter* sp, const search_parameter* owner, const fp::value& item,
               std::vector<component_entry>& out) {
    sp_ = sp;
    owner_ = owner;
    out_ = &out;
    const std::string_view type = item_type(item);
    const bool node = item.k == fp::value::kind::node;
    // A primitive with only an id or extensions (`_birthDate`) has no value.
    if (node && !item.json) return;
    bool done = false;
    switch (sp->type) {
      case search_param_type::string: done = node ? string_node(*item.json, type) : string_system(item); break;
      case search_param_type::token: done = node ? token_node(*item.json, type) : token_system(item); break;
      case search_param_type::date: done = node ? date_node(*item.json, type) : date_system(item); break;
      case search_param_type::number: done = node ? number_node(*item.json, type) : number_system(item); break;
      case search_param_type::quantity: done = node ? quantity_node(*item.json, type) : quantity_system(item); break;
      case search_param_type::reference: done = reference_item(item, type); break;
      case search_param_type::uri: done = uri_item(item); break;
      case search_param_type::composite:
      case search_param_type::special: break;  // never converted item by item
    }
    if (done) return;
    const std::string where = node ? std::string(type) : fp::type_name(item);
    problem(index_problem_kind::unsupported_item, "not-supported",
            "an item of this type cannot be indexed by a " + std::string(fhir::to_string(sp->type)) + " parameter",
            where);
  }

  void problem(index_problem_kind kind, std::string code, std::string message, std::string_view where) {
    problems_.push_back(index_problem{owner_, kind, hearth::error{std::move(code), std::move(message), std::string(where)}});
  }

 private:
  // ---- string (search.html#string)

  void add_string(std::string_view text) {
    if (text.empty()) return;
    string_entry e;
    e.param = sp_;
    e.exact = cut(text, opts_.max_string_bytes, e.truncated);
    e.normalized = cut(fold_for_search(text), opts_.max_string_bytes, e.truncated);
    out_->emplace_back(std::move(e));
  }

  bool string_system(const fp::value& v) {
    if (v.k != fp::value::kind::string) return false;
    add_string(v.s);
    return true;
  }

  bool string_node(const json_value& j, std::string_view type) {
    if (j.is_string()) {  // string, markdown, code, id, uri, ...
      add_string(j.str());
      return true;
    }
    auto add = [this](const json_value& part) {
      if (part.is_string()) add_string(part.str());
    };
    if (type == "HumanName") {  // R4 search.html#string: family, given, prefix, suffix, text
      for (std::string_view key : {"family", "given", "prefix", "suffix", "text"}) each_member(j, key, add);
      return true;
    }
    if (type == "Address") {  // all parts and text
      for (std::string_view key : {"line", "city", "district", "state", "postalCode", "country", "text"})
        each_member(j, key, add);
      return true;
    }
    return false;
  }

  // ---- token (search.html#token)

  void add_token(std::string_view system, std::string_view code, std::string_view text,
                 std::string_view type_system = {}, std::string_view type_code = {}) {
    if (code.empty() && text.empty()) return;
    const std::size_t max = opts_.max_string_bytes;
    if (system.size() > max || code.size() > max || type_system.size() > max || type_code.size() > max) {
      problem(index_problem_kind::limit_reached, "too-long", "a token longer than max_string_bytes is not indexed", "");
      return;
    }
    token_entry e;
    e.param = sp_;
    e.system = std::string(system);
    e.code = std::string(code);
    bool truncated = false;
    e.text = cut(fold_for_search(text), max, truncated);
    e.type_system = std::string(type_system);
    e.type_code = std::string(type_code);
    out_->emplace_back(std::move(e));
  }

  void add_coding(const json_value& coding) {
    add_token(string_member(coding, "system"), string_member(coding, "code"), string_member(coding, "display"));
  }

  /// CodeableConcept.text, searched by :text like the codings' displays
  /// (search.html#token). It needs a row of its own only when no coding row
  /// of this concept (from `first` on) carries the same folded text; a coding
  /// row without a display takes it instead. One row fewer per concept whose
  /// text repeats a display, the usual case.
  void add_concept_text(std::size_t first, std::string_view text) {
    if (text.empty()) return;
    bool truncated = false;
    std::string folded = cut(fold_for_search(text), opts_.max_string_bytes, truncated);
    token_entry* blank = nullptr;
    for (std::size_t i = first; i < out_->size(); ++i) {
      auto* t = std::get_if<token_entry>(&(*out_)[i]);
      if (!t) continue;
      if (t->text == folded) return;
      if (t->text.empty() && !blank) blank = t;
    }
    if (blank) {
      blank->text = std::move(folded);
      return;
    }
    add_token({}, {}, text);
  }

  bool token_system(const fp::value& v) {
    if (v.k == fp::value::kind::boolean) add_token({}, v.b ? "true" : "false", {});
    else if (v.k == fp::value::kind::string) add_token({}, v.s, {});
    else return false;
    return true;
  }

  bool token_node(const json_value& j, std::string_view type) {
    if (j.is_bool()) {
      add_token({}, j.as_bool() ? "true" : "false", {});
      return true;
    }
    if (j.is_string()) {  // code, string, id, uri, canonical, ...
      add_token({}, j.str(), {});
      return true;
    }
    if (type == "Coding") {
      add_coding(j);
    } else if (type == "CodeableConcept") {
      const std::size_t first = out_->size();
      each_member(j, "coding", [this](const json_value& c) { add_coding(c); });
      add_concept_text(first, string_member(j, "text"));
    } else if (type == "Identifier") {
      const std::string_view system = string_member(j, "system"), value = string_member(j, "value");
      const json_value* id_type = j.find("type");
      const std::string_view type_text = id_type ? string_member(*id_type, "text") : std::string_view();
      bool typed = false;
      if (id_type && !value.empty())
        each_member(*id_type, "coding", [&](const json_value& c) {
          const std::string_view ts = string_member(c, "system"), tc = string_member(c, "code");
          if (tc.empty()) return;
          typed = true;
          add_token(system, value, type_text, ts, tc);
        });
      if (!typed) add_token(system, value, type_text);
    } else if (type == "ContactPoint") {
      add_token({}, string_member(j, "value"), {});
    } else {
      return false;
    }
    return true;
  }

  // ---- date (search.html#date)

  /// The range of a date/dateTime/instant text; records a problem when malformed.
  std::optional<date_range> parse_date(std::string_view text, std::string_view type) {
    auto r = parse_date_range(text);
    if (!r) problem(index_problem_kind::invalid_value, "invalid", "a value that is not a valid FHIR date", type);
    return r;
  }

  void add_date(date_range r) {
    date_entry e;
    e.param = sp_;
    e.range = r;
    out_->emplace_back(e);
  }

  bool date_system(const fp::value& v) {
    if (v.k != fp::value::kind::date && v.k != fp::value::kind::date_time) return false;
    if (auto r = parse_date(temporal_text(v), fp::type_name(v))) add_date(*r);
    return true;
  }

  /// [start.low, end.high] of a Period; nullopt when it has neither or a
  /// malformed one (recorded).
  std::optional<date_range> period_range(const json_value& period) {
    const std::string_view start = string_member(period, "start"), end = string_member(period, "end");
    if (start.empty() && end.empty()) return std::nullopt;
    date_range r;
    if (!start.empty()) {
      auto s = parse_date(start, "Period");
      if (!s) return std::nullopt;
      r.low = s->low;
    }
    if (!end.empty()) {
      auto e = parse_date(end, "Period");
      if (!e) return std::nullopt;
      r.high = e->high;
    }
    if (r.low > r.high) {  // per-1: start <= end
      problem(index_problem_kind::invalid_value, "invalid", "a Period whose start is after its end", "Period");
      return std::nullopt;
    }
    return r;
  }

  bool date_node(const json_value& j, std::string_view type) {
    if (is_date_type(type) && j.is_string()) {
      if (auto r = parse_date(j.str(), type)) add_date(*r);
      return true;
    }
    if (type == "Period") {
      if (auto r = period_range(j)) add_date(*r);
      return true;
    }
    if (type == "Timing") {
      // The outer limits only (R4 search.html#date): events and boundsPeriod.
      std::optional<date_range> hull;
      auto widen = [&](date_range r) {
        if (!hull) hull = r;
        else hull = date_range{std::min(hull->low, r.low), std::max(hull->high, r.high)};
      };
      bool bad = false;
      each_member(j, "event", [&](const json_value& e) {
        if (!e.is_string()) return;
        if (auto r = parse_date(e.str(), "Timing")) widen(*r);
        else bad = true;
      });
      if (const json_value* repeat = j.find("repeat"))
        if (const json_value* bounds = repeat->find("boundsPeriod")) {
          if (auto r = period_range(*bounds)) widen(*r);
          else if (!string_member(*bounds, "start").empty() || !string_member(*bounds, "end").empty()) bad = true;
        }
      if (hull && !bad) add_date(*hull);
      return true;
    }
    return false;
  }

  // ---- number (search.html#number)

  void add_number(decimal_range value) {
    number_entry e;
    e.param = sp_;
    e.value = std::move(value);
    out_->emplace_back(std::move(e));
  }

  std::optional<decimal_range> parse_decimal(std::string_view text, std::string_view type) {
    auto r = parse_decimal_range(text);
    if (!r) problem(index_problem_kind::invalid_value, "invalid", "a value that is not a valid FHIR decimal", type);
    return r;
  }

  bool number_system(const fp::value& v) {
    std::string text;
    if (v.k == fp::value::kind::integer) text = std::to_string(v.i);
    else if (v.k == fp::value::kind::decimal_) text = v.d.to_string();
    else return false;
    if (auto r = parse_decimal(text, fp::type_name(v))) add_number(std::move(*r));
    return true;
  }

  /// A Range's exact ends (datatypes.html#Range: inclusive, arbitrary
  /// precision); nullopt when it has no value at either end.
  std::optional<decimal_range> range_value(const json_value& range) {
    decimal_range r;
    bool any = false;
    for (const bool low : {true, false}) {
      const json_value* q = range.find(low ? "low" : "high");
      const json_value* v = q && q->is_object() ? q->find("value") : nullptr;
      if (!v || !v->is_number()) continue;
      auto d = parse_decimal(v->number_text(), "Range");
      if (!d) return std::nullopt;
      (low ? r.low : r.high) = d->value;
      any = true;
    }
    if (!any) return std::nullopt;
    r.value = std::isfinite(r.low) ? r.low : r.high;
    return r;
  }

  bool number_node(const json_value& j, std::string_view type) {
    if (j.is_number()) {  // integer, decimal, positiveInt, unsignedInt
      if (auto r = parse_decimal(j.number_text(), type)) add_number(std::move(*r));
      return true;
    }
    if (type == "Range") {
      if (auto r = range_value(j)) add_number(std::move(*r));
      return true;
    }
    return false;
  }

  // ---- quantity (search.html#quantity)

  static std::optional<canonical_quantity> canonical(std::string_view text, std::string_view code) {
    return to_canonical_quantity(text, code);
  }

  static void apply_comparator(std::string_view comparator, decimal_range& r) {
    if (comparator == "<" || comparator == "<=") r.low = -infinity;
    else if (comparator == ">" || comparator == ">=") r.high = infinity;
  }

  void add_quantity(quantity_entry e) {
    e.param = sp_;
    out_->emplace_back(std::move(e));
  }

  /// A Quantity (or profile) object; nothing when it has no value.
  void quantity_object(const json_value& j, std::string_view type) {
    const json_value* v = j.find("value");
    if (!v || !v->is_number()) return;
    auto value = parse_decimal(v->number_text(), type);
    if (!value) return;
    quantity_entry e;
    e.value = std::move(*value);
    e.comparator = std::string(string_member(j, "comparator"));
    e.system = std::string(string_member(j, "system"));
    e.code = std::string(string_member(j, "code"));
    e.unit = std::string(string_member(j, "unit"));
    if (e.system == ucum_system && !e.code.empty())
      if (auto c = canonical(e.value.text, e.code)) e.canonical = std::move(*c);
    apply_comparator(e.comparator, e.value);
    if (!e.canonical.unit.empty()) apply_comparator(e.comparator, e.canonical.value);
    add_quantity(std::move(e));
  }

  void range_quantity(const json_value& j) {
    auto value = range_value(j);
    if (!value) return;
    const json_value* low = j.find("low");
    const json_value* high = j.find("high");
    const json_value& units = low && low->is_object() ? *low : high ? *high : j;
    quantity_entry e;
    e.value = std::move(*value);
    e.system = std::string(string_member(units, "system"));
    e.code = std::string(string_member(units, "code"));
    e.unit = std::string(string_member(units, "unit"));
    // Canonical ends when every end present is in the same UCUM unit.
    bool same_units = true;
    for (const json_value* end : {low, high})
      if (end && (string_member(*end, "system") != e.system || string_member(*end, "code") != e.code)) same_units = false;
    if (same_units && e.system == ucum_system && !e.code.empty()) {
      canonical_quantity c;
      bool ok = true;
      for (const json_value* end : {low, high}) {
        const json_value* v = end ? end->find("value") : nullptr;
        if (!v || !v->is_number()) continue;
        auto conv = canonical(v->number_text(), e.code);
        if (!conv) {
          ok = false;
          break;
        }
        c.unit = conv->unit;
        (end == low ? c.value.low : c.value.high) = conv->value.value;
      }
      c.value.value = std::isfinite(c.value.low) ? c.value.low : c.value.high;
      if (ok && !c.unit.empty()) e.canonical = std::move(c);
    }
    add_quantity(std::move(e));
  }

  bool quantity_system(const fp::value& v) {
    if (v.k != fp::value::kind::quantity) return false;
    quantity_entry e;
    auto value = parse_decimal(v.q.value.to_string(), "Quantity");
    if (!value) return true;
    e.value = std::move(*value);
    e.unit = v.q.unit;
    if (!v.q.calendar) {  // a UCUM unit
      e.system = std::string(ucum_system);
      e.code = v.q.unit;
      if (auto c = canonical(e.value.text, e.code)) e.canonical = std::move(*c);
    }
    add_quantity(std::move(e));
    return true;
  }

  bool quantity_node(const json_value& j, std::string_view type) {
    if (is_quantity_type(type)) {
      quantity_object(j, type);
    } else if (type == "Money") {
      const json_value* v = j.find("value");
      if (!v || !v->is_number()) return true;
      auto value = parse_decimal(v->number_text(), type);
      if (!value) return true;
      quantity_entry e;
      e.value = std::move(*value);
      e.code = std::string(string_member(j, "currency"));
      if (!e.code.empty()) e.system = std::string(iso4217_system);
      add_quantity(std::move(e));
    } else if (type == "Range") {
      range_quantity(j);
    } else {
      return false;  // SampledData (no single value), ...
    }
    return true;
  }

  // ---- reference (search.html#reference)

  void add_reference(reference_target target, std::string_view id_system = {}, std::string_view id_value = {}) {
    reference_entry e;
    e.param = sp_;
    e.target = std::move(target);
    e.identifier_system = std::string(id_system);
    e.identifier_value = std::string(id_value);
    out_->emplace_back(std::move(e));
  }

  /// The resourceType of the contained resource with this id, or "".
  std::string contained_type(std::string_view id) const {
    std::string type;
    each_member(resource_, "contained", [&](const json_value& c) {
      if (type.empty() && string_member(c, "id") == id) type = std::string(string_member(c, "resourceType"));
    });
    return type;
  }

  bool reference_item(const fp::value& v, std::string_view type) {
    if (v.k == fp::value::kind::string) {
      add_reference(parse_canonical(v.s));
      return true;
    }
    if (v.k != fp::value::kind::node) return false;
    const json_value& j = *v.json;
    if (j.is_string() && is_uri_type(type)) {  // ConceptMap.source[x], Questionnaire refs, ...
      add_reference(parse_canonical(j.str()));
      return true;
    }
    if (type != "Reference") return false;  // Attachment, a resource, ...
    if (const std::string_view text = string_member(j, "reference"); !text.empty()) {
      reference_target t = parse_reference(text, defs_);
      if (t.kind == reference_kind::contained) t.type = contained_type(t.id);
      else if (t.type.empty()) t.type = std::string(string_member(j, "type"));
      add_reference(std::move(t));
    }
    if (const json_value* id = j.find("identifier"); id && id->is_object()) {
      const std::string_view system = string_member(*id, "system"), value = string_member(*id, "value");
      if (!value.empty()) {
        reference_target t;
        t.kind = reference_kind::identifier;
        t.type = std::string(string_member(j, "type"));
        add_reference(std::move(t), system, value);
      }
    }
    return true;
  }

  // ---- uri (search.html#uri)

  bool uri_item(const fp::value& v) {
    std::string_view text;
    if (v.k == fp::value::kind::string) text = v.s;
    else if (v.k == fp::value::kind::node && v.json->is_string()) text = v.json->str();
    else return false;
    if (!text.empty()) {
      uri_entry e;
      e.param = sp_;
      e.uri = std::string(text);
      out_->emplace_back(std::move(e));
    }
    return true;
  }

  const fhir::definitions& defs_;
  const indexer_options& opts_;
  const json_value& resource_;
  std::vector<index_problem>& problems_;
  const search_parameter* sp_ = nullptr;
  const search_parameter* owner_ = nullptr;
  std::vector<component_entry>* out_ = nullptr;
};

/// Moves converted entries into their per-kind vectors, up to max_entries.
class sink {
 public:
  sink(index_entries& out, std::size_t max_entries) : out_(out), max_(max_entries) {}

  bool full() const { return out_.size() >= max_; }

  /// False once the limit is reached (then records it once).
  bool add(const search_parameter* sp, component_entry&& e) {
    if (!room(sp)) return false;
    std::visit(
        [this](auto&& entry) {
          using T = std::decay_t<decltype(entry)>;
          if constexpr (std::is_same_v<T, string_entry>) out_.strings.push_back(std::move(entry));
          else if constexpr (std::is_same_v<T, token_entry>) out_.tokens.push_back(std::move(entry));
          else if constexpr (std::is_same_v<T, date_entry>) out_.dates.push_back(std::move(entry));
          else if constexpr (std::is_same_v<T, number_entry>) out_.numbers.push_back(std::move(entry));
          else if constexpr (std::is_same_v<T, quantity_entry>) out_.quantities.push_back(std::move(entry));
          else if constexpr (std::is_same_v<T, reference_entry>) out_.references.push_back(std::move(entry));
          else out_.uris.push_back(std::move(entry));
        },
        std::move(e));
    return true;
  }

  bool add(const search_parameter* sp, composite_entry&& e) {
    if (!room(sp)) return false;
    out_.composites.push_back(std::move(e));
    return true;
  }

 private:
  bool room(const search_parameter* sp) {
    if (!full()) return true;
    if (!reported_) {
      reported_ = true;
      out_.problems.push_back(index_problem{sp, index_problem_kind::limit_reached,
                                            hearth::error{"too-costly", "the resource has more index entries than max_entries", ""}});
    }
    return false;
  }

  index_entries& out_;
  std::size_t max_;
  bool reported_ = false;
};

fp::value integer_value(std::int64_t i) {
  fp::value v;
  v.k = fp::value::kind::integer;
  v.i = i;
  return v;
}

}  // namespace

std::string_view to_string(index_problem_kind k) noexcept {
  switch (k) {
    case index_problem_kind::evaluation_failed: return "evaluation-failed";
    case index_problem_kind::invalid_value: return "invalid-value";
    case index_problem_kind::unsupported_item: return "unsupported-item";
    case index_problem_kind::limit_reached: return "limit-reached";
  }
  return "evaluation-failed";
}

struct indexer::impl {
  struct type_parameters {
    std::vector<const compiled_parameter*> compiled;
    std::vector<const search_parameter*> params;  ///< the same, for parameters()
  };

  const fhir::definitions* defs = nullptr;
  indexer_options opts;
  std::deque<compiled_parameter> compiled;  // a deque: addresses stay stable while it grows
  std::vector<unindexed_parameter> unindexed;
  std::map<std::string, type_parameters, std::less<>> by_type;

  void compile(const search_parameter& sp, std::unordered_map<const search_parameter*, const compiled_parameter*>& by_param);
  void index_composite(const compiled_parameter& c, const fp::collection& items, const json_value& resource,
                       fp::context& ctx, converter& conv, sink& out, std::vector<index_problem>& problems) const;
};

void indexer::impl::compile(const search_parameter& sp,
                            std::unordered_map<const search_parameter*, const compiled_parameter*>& by_param) {
  auto skip = [&](std::string reason) { unindexed.push_back(unindexed_parameter{&sp, std::move(reason)}); };
  if (sp.expression.empty()) {
    skip("no expression: a full-text (_text, _content) or named-query (_query) parameter, not a value index");
    return;
  }
  if (sp.type == search_param_type::special) {
    skip("special parameter: searched by its own algorithm (Location.near: distance from latitude/longitude)");
    return;
  }
  auto expr = fp::parse(sp.expression);
  if (!expr) {
    skip("the expression does not parse: " + expr.error().message);
    return;
  }
  compiled_parameter c{&sp, std::move(*expr), {}};
  for (const auto& component : sp.components) {
    const search_parameter* def = defs->find_search_parameter_by_url(component.definition);
    if (!def || def->type == search_param_type::composite || def->type == search_param_type::special) {
      skip("a component's definition is unknown or not a value parameter");
      return;
    }
    // The component expression is relative to each item of the composite's
    // expression (search.html#composite); the evaluator starts from the
    // resource, so it reaches the item as (composite)[i] and evaluates the
    // component within select(), where %resource is still the resource.
    const std::string source = "(" + std::string(sp.expression) + ")[%" + std::string(item_variable) + "].select(" +
                               std::string(component.expression) + ")";
    auto cexpr = fp::parse(source);
    if (!cexpr) {
      skip("a component expression does not parse: " + cexpr.error().message);
      return;
    }
    c.components.push_back(compiled_component{def, std::move(*cexpr)});
  }
  if (sp.type == search_param_type::composite && c.components.empty()) {
    skip("a composite parameter without components");
    return;
  }
  compiled.push_back(std::move(c));
  by_param.emplace(&sp, &compiled.back());
}

void indexer::impl::index_composite(const compiled_parameter& c, const fp::collection& items, const json_value& resource,
                                    fp::context& ctx, converter& conv, sink& out,
                                    std::vector<index_problem>& problems) const {
  const std::size_t n = c.components.size();
  std::vector<std::vector<component_entry>> parts(n);
  for (std::size_t k = 0; k < items.size() && !out.full(); ++k) {
    ctx.variables.insert_or_assign(std::string(item_variable), fp::collection{integer_value(static_cast<std::int64_t>(k))});
    bool complete = true;
    for (std::size_t i = 0; i < n && complete; ++i) {
      parts[i].clear();
      auto r = fp::evaluate(c.components[i].expr, resource, *defs, ctx);
      if (!r) {
        problems.push_back(index_problem{c.param, index_problem_kind::evaluation_failed, std::move(r).error()});
        complete = false;
        break;
      }
      for (const fp::value& v : *r) conv.convert(c.components[i].def, c.param, v, parts[i]);
      complete = !parts[i].empty();
    }
    if (!complete) continue;  // a combination needs a value for every component
    // Every combination, odometer order, up to max_composite_combinations.
    std::vector<std::size_t> at(n, 0);
    for (std::size_t made = 0;; ++made) {
      if (made == opts.max_composite_combinations) {
        problems.push_back(index_problem{c.param, index_problem_kind::limit_reached,
                                         hearth::error{"too-costly", "a composite item has more combinations than max_composite_combinations", ""}});
        break;
      }
      composite_entry e;
      e.param = c.param;
      e.components.reserve(n);
      for (std::size_t i = 0; i < n; ++i) e.components.push_back(parts[i][at[i]]);
      if (!out.add(c.param, std::move(e))) break;
      std::size_t i = n;
      while (i > 0 && ++at[i - 1] == parts[i - 1].size()) at[--i] = 0;
      if (i == 0) break;
    }
  }
  ctx.variables.erase(std::string(item_variable));
}

indexer::indexer(const fhir::definitions& defs, indexer_options opts) {
  auto p = std::make_unique<impl>();
  p->defs = &defs;
  p->opts = opts;
  std::unordered_map<const search_parameter*, const compiled_parameter*> by_param;
  for (const search_parameter& sp : defs.all_search_parameters()) p->compile(sp, by_param);
  for (std::string_view type : defs.resource_types()) {
    impl::type_parameters tp;
    for (const search_parameter* sp : defs.search_parameters(type)) {
      auto it = by_param.find(sp);
      if (it == by_param.end()) continue;
      tp.compiled.push_back(it->second);
      tp.params.push_back(sp);
    }
    p->by_type.emplace(std::string(type), std::move(tp));
  }
  impl_ = std::move(p);
}

indexer::indexer(indexer&&) noexcept = default;
indexer& indexer::operator=(indexer&&) noexcept = default;
indexer::~indexer() = default;

const indexer_options& indexer::options() const noexcept { return impl_->opts; }

const fhir::definitions& indexer::definitions() const noexcept { return *impl_->defs; }

std::span<const unindexed_parameter> indexer::unindexed() const noexcept { return impl_->unindexed; }

std::span<const fhir::search_parameter* const> indexer::parameters(std::string_view resource_type) const noexcept {
  auto it = impl_->by_type.find(resource_type);
  if (it == impl_->by_type.end()) return {};
  return it->second.params;
}

hearth::result<index_entries> indexer::index(const json_value& resource) const { return index(resource, {}); }

hearth::result<index_entries> indexer::index(const json_value& resource, std::span<const std::string_view> codes) const {
  const json_value* rt = resource.is_object() ? resource.find("resourceType") : nullptr;
  if (!rt || !rt->is_string())
    return hearth::unexpected(hearth::error{"invalid", "a resource must be a JSON object with a resourceType", ""});
  auto it = impl_->by_type.find(rt->str());
  if (it == impl_->by_type.end())
    return hearth::unexpected(hearth::error{"not-supported", "resourceType is not an R4 resource type", "resourceType"});
  const fhir::definitions& defs = *impl_->defs;

  index_entries out;
  // resolve() of references outside the resource: a stub naming the type and
  // id (see indexer.hpp). Kept, one per reference text, until index() returns.
  std::map<std::string, json_value, std::less<>> stubs;
  fp::context ctx;
  ctx.max_items = impl_->opts.max_items_per_evaluation;
  ctx.resolver = [&stubs, &defs](std::string_view reference) -> const json_value* {
    if (auto found = stubs.find(reference); found != stubs.end()) return &found->second;
    const reference_target t = parse_reference(reference, defs);
    if (t.kind != reference_kind::relative && t.kind != reference_kind::absolute) return nullptr;
    if (t.type.empty()) return nullptr;
    json_value stub = json_value::object();
    stub.set("resourceType", json_value(t.type));
    stub.set("id", json_value(t.id));
    return &stubs.emplace(std::string(reference), std::move(stub)).first->second;
  };

  converter conv(defs, impl_->opts, resource, out.problems);
  sink entries(out, impl_->opts.max_entries);
  std::vector<component_entry> converted;
  for (const compiled_parameter* c : it->second.compiled) {
    if (entries.full()) break;
    if (!codes.empty() && std::find(codes.begin(), codes.end(), c->param->code) == codes.end()) continue;
    auto r = fp::evaluate(c->expr, resource, defs, ctx);
    if (!r) {
      out.problems.push_back(index_problem{c->param, index_problem_kind::evaluation_failed, std::move(r).error()});
      continue;
    }
    if (c->param->type == search_param_type::composite) {
      impl_->index_composite(*c, *r, resource, ctx, conv, entries, out.problems);
      continue;
    }
    converted.clear();
    for (const fp::value& v : *r) conv.convert(c->param, c->param, v, converted);
    for (component_entry& e : converted)
      if (!entries.add(c->param, std::move(e))) break;
  }
  return out;
}

std::optional<canonical_quantity> to_canonical_quantity(std::string_view text, std::string_view code) {
  auto unit = fhir::ucum::parse(code);
  if (!unit) return std::nullopt;
  auto c = fhir::ucum::canonical(text, *unit);
  if (!c) return std::nullopt;
  canonical_quantity q;
  q.value.text = c->value.text;
  q.value.value = static_cast<double>(c->approx);
  q.unit = c->unit;
  auto bounds = decimal_bounds(text);
  if (!bounds) return std::nullopt;
  auto low = fhir::ucum::canonical(bounds->low, *unit), high = fhir::ucum::canonical(bounds->high, *unit);
  if (!low || !high) return std::nullopt;
  q.value.low = static_cast<double>(low->approx);
  q.value.high = static_cast<double>(high->approx);
  return q;
}

}  // namespace hearth::store
