#pragma once
// Evaluating a parsed FHIRPath expression (FHIRPath 2.0.0 N1,
// http://hl7.org/fhirpath/N1/, with FHIR R4 fhirpath.html) against a FHIR
// resource in its JSON form.
//
// Value model (N1 §4 "Collections", §2.1 "Literals"): the result is a
// collection (ordered, may hold duplicates) of values. A value is either a
// node of the resource — a JSON value plus its FHIR type, resolved through
// the definitions registry while navigating (choice elements `value[x]` give
// the type their JSON name selects; a primitive element keeps its `_name`
// object so that extension() and hasValue() work) — or a System value:
// Boolean, String, Integer (held in 64 bits; arithmetic whose result leaves
// the 32-bit range of N1 §2.1.8 gives empty), Decimal, Date, DateTime, Time,
// Quantity.
// FHIR primitive nodes convert to System values wherever an operator or a
// function needs one (FHIR R4 fhirpath.html#types).
//
// Decimal: an exact scaled integer (128-bit mantissa, up to 28 fraction
// digits). + - and comparisons are exact, * is exact unless the result needs
// more than 28 fraction digits (then rounded half away from zero), / gives
// 8 fraction digits minimum (trailing zeros removed), and the transcendental
// functions (exp, ln, log, power with a fractional exponent, sqrt) go through
// long double and keep 15 significant digits.
//
// Quantities compare, add and subtract after conversion through UCUM
// (ucum.hpp; the result of + and - is in the left operand's unit), multiply
// and divide with UCUM unit algebra, and convert in toQuantity(unit);
// calendar durations below a month equal their UCUM counterparts
// (7 days = 1 'wk'); calendar years and months have no UCUM unit.
//
// Implemented: N1 §5 functions (existence, filtering, subsetting, combining,
// conversion, string, math, tree navigation, utility), §6 operators, plus
// FHIR R4 extension(), hasValue(), and from FHIRPath 3.0 (STU) sort(),
// precision(), encode/decode, escape/unescape, split/join/trim, type().
// FHIR R4 resolve() (contained resources, Bundle entries, then
// context::resolver), memberOf() and conformsTo() through context hooks,
// lowBoundary()/highBoundary(), comparable(), htmlChecks() (the txt-1 rules
// of narrative_check.hpp, on an xhtml item or a string).
// Not implemented (error "not-supported"): Long literals,
// case-insensitive comparison (~, upper(), lower()) of non-ASCII text. Not
// done at all: static type checking before evaluation (an expression such as
// `(Observation.value as Period).unit` is evaluated, and gives empty).
//
// Errors are values (hearth::error): code "invalid" for a semantic error (a
// singleton required but more given, an operator on the wrong types, an
// element name the type does not have),
// "not-supported" for a function this evaluator does not implement (message
// "function 'x' is not supported yet"), "too-costly" for a limit; offset is
// the byte offset of the AST node in the expression's source.
//
// Thread-safety: evaluate() is a pure function of its arguments; an
// expression, a resource and the definitions may be shared by any number of
// concurrent evaluations. Lifetime: values that are nodes point into the
// resource (and type names into the definitions): a collection must not
// outlive either.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_ast.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::fhir::fhirpath {

/// An exact decimal: mantissa / 10^scale. Value type.
struct decimal {
  __extension__ using int128 = __int128;
  int128 mantissa = 0;
  int scale = 0;  ///< number of fraction digits, 0..28

  /// Parses "-12.50", "3" (JSON / FHIRPath number text); nullopt when not a number
  /// or beyond 28 fraction digits / 38 digits.
  static std::optional<decimal> parse(std::string_view text);
  /// The text with `scale` fraction digits ("1.50").
  std::string to_string() const;
};

/// A date, dateTime or time value with its precision (N1 §2.1.20). For a
/// time, the date fields are 0 and precision is at least hour.
struct temporal_value {
  enum class kind : std::uint8_t { date, date_time, time };
  kind k = kind::date;
  temporal t;  ///< the parts, their precision and time zone
  /// "2015-02-04T14:34:28.123+09:00" as FHIRPath writes it, without '@'.
  std::string to_string() const;
};

/// A quantity: a decimal and a unit (UCUM, or a calendar keyword in its
/// singular form: "year", "month", "week", "day", "hour", "minute",
/// "second", "millisecond").
struct quantity_value {
  decimal value;
  std::string unit;
  bool calendar = false;  ///< the unit is a calendar keyword
};

/// One item of a collection.
struct value {
  enum class kind : std::uint8_t {
    node,       ///< a node of the resource: json / ext / fhir_type
    boolean, integer, decimal_, string, date, date_time, time, quantity,
  };
  kind k = kind::boolean;
  /// node: the JSON value, or nullptr for a primitive that has only its `_name` object.
  const json_value* json = nullptr;
  /// node: the `_name` object of a primitive (id, extension), or nullptr.
  const json_value* ext = nullptr;
  /// node: the FHIR type: "Patient", "HumanName", "string", or a backbone
  /// element's path "Observation.component". Points into the definitions or
  /// into static storage.
  std::string_view fhir_type;
  bool b = false;
  std::int64_t i = 0;
  decimal d;
  std::string s;
  temporal_value t;
  quantity_value q;
};

using collection = std::vector<value>;

/// What an evaluation may refer to besides the resource (N1 §7 "Environment
/// variables", FHIR R4 fhirpath.html#variables).
struct context {
  /// %name → value, for names other than resource, context, ucum.
  std::map<std::string, collection, std::less<>> variables;
  /// %context when it is not the resource itself; nullptr = the resource.
  const json_value* context_node = nullptr;
  /// The instant now()/today()/timeOfDay() report; the clock when unset (set
  /// it for reproducible tests). Evaluated once per evaluation (N1: now() is
  /// the same for every call within one evaluation).
  std::optional<std::chrono::system_clock::time_point> now;
  /// Upper bound on items produced by one evaluation (repeat(), descendants(),
  /// combine...): bounds memory and time for untrusted expressions.
  std::size_t max_items = 1'000'000;
  /// A resource type as the first step that the input is not of
  /// (`Encounter.name` on a Patient) is an error instead of empty. Off by
  /// default: search parameters write `Patient.birthDate | Person.birthDate`
  /// and evaluate it on either type.
  bool strict = false;
  /// resolve() (FHIR R4 fhirpath.html#functions) of a reference that is neither
  /// a contained resource ("#id") nor an entry of the Bundle being evaluated:
  /// the reference text as written ("Patient/123", an absolute URL,
  /// "urn:uuid:..."); the resource it names, or nullptr when unknown. Unset:
  /// such references resolve to nothing. What it returns must outlive the
  /// result collection. Called from the evaluating thread only.
  std::function<const json_value*(std::string_view reference)> resolver;
  /// memberOf(valueSet) (FHIR R4 fhirpath.html#functions): whether a code,
  /// Coding or CodeableConcept item is in the value set at the canonical URL,
  /// answered by the terminology module. Unset: memberOf() is "not-supported".
  std::function<hearth::result<bool>(const value& item, std::string_view value_set)> member_of;
  /// conformsTo(profile) (FHIR R4 fhirpath.html#functions) for profiles other
  /// than the core StructureDefinitions (validation against a profile, by the
  /// profiles module). Unset, or when it answers nullopt: a core
  /// StructureDefinition URL is answered from the registry (the item is of
  /// that type or a specialisation of it), any other URL is an error.
  std::function<std::optional<hearth::result<bool>>(const value& item, std::string_view profile)> conforms_to;
};

/// Evaluates `expr` with the resource as the input collection and as
/// %resource / %context.
hearth::result<collection, hearth::error> evaluate(const expression& expr, const json_value& resource,
                                                   const definitions& defs, const context& ctx = {});

/// The System type name of a value ("Boolean", "Decimal", ...) or, for a
/// node, its FHIR type name.
std::string type_name(const value& v);

/// A value written as FHIRPath's toString() writes it (a node primitive as its
/// string form; a complex node as its JSON text is not offered: nullopt).
std::optional<std::string> to_string_value(const value& v);

}  // namespace hearth::fhir::fhirpath
