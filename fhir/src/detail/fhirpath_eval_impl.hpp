#pragma once
// The FHIRPath evaluator's private parts (fhirpath_eval.hpp): the evaluator
// class and the value helpers its files share. FHIRPath 2.0.0 N1,
// http://hl7.org/fhirpath/N1/; FHIR R4 fhirpath.html for the FHIR specifics.
//
//   fhirpath_eval.cpp       the evaluator core: eval(), navigation, operators, evaluate()
//   fhirpath_functions.cpp  the functions (N1 §5): call() and its helpers
//   fhirpath_items.cpp      System values, equality and equivalence, conversions
//   fhirpath_item_set.cpp   item_set: finding equal items without a pairwise scan
//   fhirpath_math.cpp       decimals, temporals, boundaries, quantities
//   fhirpath_text.cpp       string helpers: UTF-8 characters, escape, encode
//
// Errors are values throughout: a helper that can fail returns nullopt,
// false or a hearth::result, and the evaluator records its first error and
// unwinds with early returns (see evaluator::fail). Thread-safety: the free
// functions are pure (type_info_json() locks its own cache); an evaluator is
// used by one thread for one evaluation.

#include <hearth/fhir/fhirpath_eval.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/ucum.hpp>

namespace hearth::fhir::fhirpath::detail {

using int128 = decimal::int128;
using prec = temporal::precision;

// ---------------------------------------------------------------- decimals (fhirpath_math.cpp)

constexpr int128 pow10(int n) {
  int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

constexpr int max_scale = 28;
// |mantissa| limit: 10^38 fits in int128 (max about 1.7e38).
inline constexpr int128 mantissa_limit = pow10(38);

bool rescale(decimal& d, int scale);  // only upwards; false on overflow
// Rounds half away from zero to `scale` fraction digits (downwards only).
decimal round_to(decimal d, int scale);
decimal trim_zeros(decimal d, int min_scale = 0);
inline decimal from_int(std::int64_t i) { return decimal{static_cast<int128>(i), 0}; }
int dec_cmp(decimal a, decimal b);
std::optional<decimal> dec_add(decimal a, decimal b, bool subtract);
std::optional<decimal> dec_mul(decimal a, decimal b);
// a / b with at least 8 fraction digits, trailing zeros removed; nullopt when b is 0.
std::optional<decimal> dec_div(decimal a, decimal b);
long double to_ld(decimal d);
std::optional<decimal> from_ld(long double x);

// ---------------------------------------------------------------- temporals (fhirpath_math.cpp)

int days_in_month(int y, int m);
// Milliseconds since the epoch of the fields as written (time zone ignored);
// missing month/day count as 1.
std::int64_t epoch_ms(const temporal& t);
void set_from_epoch_ms(temporal& t, std::int64_t ms);
// FHIR / FHIRPath text without '@': "2015", "2015-02-04T14:34:28.123+09:00", "14:30".
std::optional<temporal_value> parse_temporal(std::string_view s, temporal_value::kind k);
// Compares two temporal values per N1 §6.1.1/§6.2: nullopt when the answer
// depends on parts one of them lacks. Seconds and milliseconds are one precision.
std::optional<int> temporal_cmp(const temporal_value& a, const temporal_value& b, bool& incomparable_kind);

// ---------------------------------------------------------------- boundaries (fhirpath_math.cpp)
// lowBoundary()/highBoundary() (FHIRPath 3.0 STU): see fhirpath_math.cpp.

std::optional<decimal> decimal_boundary(decimal d, std::int64_t digits, bool high);
std::optional<temporal_value> temporal_boundary(temporal_value v, std::int64_t digits, bool high);

// ---------------------------------------------------------------- quantities (fhirpath_math.cpp)

std::string canonical_unit(const quantity_value& q);
// The UCUM unit of a quantity (ucum.hpp); nullopt for calendar years and
// months (no UCUM equivalent: N1 §6.6.1) and for a unit that is not UCUM.
std::optional<ucum::unit> ucum_unit(const quantity_value& q);
// `v` in unit `from` expressed in unit `to` (exact where UCUM is; else
// rounded to 28 fraction digits); nullopt when not convertible.
std::optional<decimal> convert_units(const decimal& v, const ucum::unit& from, const ucum::unit& to);
// Both values in a common unit (a's), through UCUM (N1 §6.1.1: quantities
// compare after conversion to a common unit); false when not comparable.
bool common_units(const quantity_value& a, const quantity_value& b, decimal& x, decimal& y);
std::optional<std::string> calendar_keyword(std::string_view u);
std::string quantity_to_string(const quantity_value& q);

// ---------------------------------------------------------------- values (fhirpath_items.cpp)

inline value make_bool(bool b) {
  value v;
  v.k = value::kind::boolean;
  v.b = b;
  return v;
}
inline value make_int(std::int64_t i) {
  value v;
  v.k = value::kind::integer;
  v.i = i;
  return v;
}
inline value make_dec(decimal d) {
  value v;
  v.k = value::kind::decimal_;
  v.d = d;
  return v;
}
inline value make_str(std::string s) {
  value v;
  v.k = value::kind::string;
  v.s = std::move(s);
  return v;
}
inline value make_temporal(temporal_value t) {
  value v;
  v.k = t.k == temporal_value::kind::date        ? value::kind::date
        : t.k == temporal_value::kind::date_time ? value::kind::date_time
                                                 : value::kind::time;
  v.t = std::move(t);
  return v;
}
inline value make_quantity(quantity_value q) {
  value v;
  v.k = value::kind::quantity;
  v.q = std::move(q);
  return v;
}

inline bool is_numeric(const value& v) { return v.k == value::kind::integer || v.k == value::kind::decimal_; }
inline decimal as_dec(const value& v) { return v.k == value::kind::integer ? from_int(v.i) : v.d; }
inline bool is_temporal(const value& v) {
  return v.k == value::kind::date || v.k == value::kind::date_time || v.k == value::kind::time;
}

// A FHIR primitive node as a System value; a complex node (or a primitive
// without a value) unchanged. A FHIR Quantity becomes a System Quantity only
// when `quantities` (comparisons with a quantity).
value to_system(const value& v, bool quantities = false);

// N1 §6.1.1 equality of two items: nullopt = empty.
std::optional<bool> items_equal(const value& a, const value& b);
// N1 §6.1.3 equivalence of two items, and of two collections (order
// ignored). The error ("not-supported": case-insensitive comparison of
// non-ASCII text) has no offset: the caller knows the operator's.
hearth::result<bool> items_equivalent(const value& a, const value& b);
hearth::result<bool> collections_equivalent(const collection& a, const collection& b);

// Items of a collection under N1 §6.1.1 equality, for distinct(),
// isDistinct(), union, intersect(), exclude(), subsetOf(), supersetOf() and
// repeat(). contains(v) answers exactly what a scan calling
// items_equal(held, v) on every held item answers, but in near-constant time
// for items a hash describes: booleans, strings, numbers, dates and times
// (a key of their precision and their fields, in UTC where the comparison
// normalises), complex nodes (their JSON). The hash is only a filter: every
// candidate is still confirmed by items_equal. Items whose equality no key
// can capture are compared pairwise with the items of their class that might
// equal them: quantities (unit conversion), times with a zone, and numbers
// too large to compare exactly. Items of different classes (boolean, number,
// string, date/time, node or quantity) are never equal, so never compared.
// Refers to `items` by index: the collection must outlive the set and may
// grow (add() then names a new index). Not thread-safe.
class item_set {
 public:
  explicit item_set(const collection& items);
  // Adds items[i], which must exist.
  void add(std::size_t i);
  // Adds every item of the collection (on a set with nothing added yet).
  void add_all();
  // Whether an added item x has items_equal(x, v) true.
  bool contains(const value& v) const;

 private:
  enum class item_class : std::uint8_t { boolean, number, string, temporal, complex };
  static constexpr std::size_t class_count = 5;
  struct probe {
    item_class c = item_class::complex;
    std::optional<std::uint64_t> key;  // nullopt: no key; compared with every item of its class
  };
  static probe probe_of(const value& v);
  bool equal_at(std::size_t i, const value& v) const;

  const collection& items_;
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> buckets_;  // key (with class) -> indexes
  std::array<std::vector<std::size_t>, class_count> unkeyed_;            // per class
  std::array<std::vector<std::size_t>, class_count> members_;            // per class, all
};

// N1 §5.5 conversions; nullopt = does not convert.
std::optional<value> convert(const value& v, const std::string& target, const std::optional<std::string>& unit);

// The TypeInfo object type() returns (N1 §10 "Reflection"), as a JSON node
// that lives as long as the process.
const json_value* type_info_json(std::string_view ns, std::string_view name);

// ---------------------------------------------------------------- text (fhirpath_text.cpp)

// The characters of UTF-8 text, one string each (an invalid lead byte is one character).
std::vector<std::string> utf8_chars(const std::string& s);
// FHIRPath 3.0 (STU) escape()/unescape(): html when `html`, else json.
std::string escape(const std::string& s, bool html);
std::string unescape(const std::string& s, bool html);
// FHIRPath 3.0 (STU) encode()/decode(); nullopt when the text does not decode.
std::string hex_encode(const std::string& s);
std::optional<std::string> hex_decode(const std::string& s);

// ---------------------------------------------------------------- evaluator

struct frame {
  const collection* this_ = nullptr;  // $this (one item), nullptr at top level
  std::int64_t index = -1;            // $index, -1 when none
  const collection* total = nullptr;  // $total in aggregate()
};

// One evaluation of one expression. Errors are values: fail() records the
// first error (later ones are consequences of it) and returns an empty
// collection, so that `return fail(...)` ends the member at hand; a helper
// that can fail returns nullopt or false after recording it, and its caller
// returns at once. eval() returns empty without doing anything once an error
// is recorded, and discards what a failing subexpression computed, so no work
// follows the first error and run() reports it. Not thread-safe; lives for
// one call of evaluate(); refers to the expression, resource, definitions
// and context, which must outlive it.
class evaluator {
 public:
  evaluator(const expression& e, const json_value& resource, const definitions& defs, const context& ctx);

  // Evaluates the expression on the resource; the first error, with its
  // location in the expression, when there is one.
  hearth::result<collection> run();

 private:
  const expression& e_;
  const definitions& defs_;
  const context& ctx_;
  value root_;
  value context_;
  std::chrono::system_clock::time_point now_;
  std::size_t produced_ = 0;
  std::optional<hearth::error> error_;  // the first evaluation error

  // ---- errors and limits (fhirpath_eval.cpp)

  collection fail(std::string code, std::string message, std::size_t offset);
  bool failed() const { return error_.has_value(); }
  // Counts produced items against ctx.max_items; false (error recorded) beyond it.
  bool count(std::size_t n, const node& at);

  static std::string_view resource_type_of(const json_value& j);
  static value node_value(const json_value* j, const json_value* ext, std::string_view type);

  // ---- type hierarchy (fhirpath_eval.cpp)

  bool fhir_is_a(std::string_view type, std::string_view target) const;
  std::optional<bool> has_type(const value& v, const type_specifier& spec, std::size_t offset,
                               bool exact_primitive);

  // ---- navigation (fhirpath_eval.cpp)

  std::string_view child_type(const child_match& m, const json_value& j) const;
  void add_children(collection& out, const json_value* j, const json_value* ext, std::string_view type);
  bool navigate(const value& v, const std::string& name, collection& out);
  void children_of(const value& v, collection& out);

  // ---- singletons and collections (fhirpath_eval.cpp); nullopt when empty
  // or after an error (failed() tells which)

  const node& at(node_id id) const { return e_.at(id); }
  std::optional<value> singleton(const collection& c, const node& n, const char* what);
  std::optional<bool> as_boolean(const collection& c, const node& n, const char* what);
  std::optional<value> typed_singleton(const collection& c, const node& n, const char* what, value::kind k,
                                       const char* type_text);
  std::optional<bool> strict_boolean(const collection& c, const node& n, const char* what);
  std::optional<std::string> string_arg(const collection& c, const node& n, const char* what);
  std::optional<std::int64_t> int_arg(const collection& c, const node& n, const char* what);
  static collection single(value v) { return collection{std::move(v)}; }
  bool contains_item(const collection& c, const value& v);
  collection distinct(const collection& c);

  // ---- expressions and operators (fhirpath_eval.cpp)

  collection eval(node_id id, const collection& input, const frame& f);
  collection eval_node(node_id id, const collection& input, const frame& f);
  collection constant(const node& n);
  collection member(const node& n, const collection& input, const frame& f);
  collection type_op(bool is, const type_specifier& spec, const collection& a, const node& n);
  collection binary(const node& n, const collection& input, const frame& f);
  std::optional<int> compare(const value& x0, const value& y0, const node& n);
  collection arithmetic(const node& n, const value& x, const value& y);
  collection quantity_product(const node& n, const value& x, const value& y);
  std::optional<temporal_value> add_duration(temporal_value tv, const quantity_value& q, bool subtract,
                                             const node& n);

  // ---- functions (fhirpath_functions.cpp)

  bool arity(const node& n, std::size_t lo, std::size_t hi);
  collection arg(const node& n, std::size_t i, const collection& input, const frame& f);
  collection with_item(const node& n, std::size_t i, const value& v, std::int64_t index, const frame& f,
                       const collection* total = nullptr);
  std::optional<std::string> focus_string(const collection& focus, const node& n);
  collection call(const node& n, const collection& focus, const collection& input, const frame& f);
  collection sort(const node& n, const collection& focus, const frame& f);
  collection where(const node& n, const collection& focus, const frame& f);
  void navigate_extension(const value& v, collection& out);
  value clock_value(const std::string& fn);
  collection math(const node& n, const std::string& fn, const value& x, const collection& arg_input,
                  const frame& f);
  const json_value* resolve_reference(const value& v);
  std::optional<bool> conforms_to_core(const value& v, std::string_view url, const node& n);
};

}  // namespace hearth::fhir::fhirpath::detail
