#pragma once
// hearth::store::search_request — an R4 search (search.html) as the store
// executes it: the criteria, the result parameters, each checked against the
// search parameters of the definitions. parse_search() builds it from the
// (name, value) pairs of a query string; resource_store::search() runs it.
//
// What parse_search() reads (FHIR R4 search.html):
// - `name[:modifier]=value[,value...]` for every SearchParameter of the type
//   (its own and those of Resource/DomainResource: _id, _lastUpdated, _tag,
//   _profile, _security, _source). Commas separate OR values; a name given
//   several times is AND (#combining). Escapes `\,` `\|` `\$` `\\` (#escaping)
//   are resolved when a value is split, so parts hold plain text.
// - prefixes eq ne gt lt ge le sa eb ap on number, date and quantity values
//   (#prefix), and on the number/date/quantity components of a composite;
// - modifiers (#modifiers): :missing (all types; value true|false), :exact and
//   :contains (string), :text :not :above :below :in :not-in :of-type (token),
//   :[type] and :identifier (reference), :above :below (uri);
// - chains `subject.name`, `subject:Patient.name` (#chaining), up to
//   max_chain_depth reference steps; reverse chains `_has:Type:param:...`
//   (#has), nested, counted in the same depth;
// - `_list=id` (#list), `_include`, `_revinclude` (with :iterate; :recurse is
//   read as :iterate), `_sort`, `_count`, `_total`, `_summary`, `_elements`,
//   and `_cursor` (Hearth's keyset paging position, from a next link).
// - `_format` and `_pretty` are the REST layer's; they are skipped here.
// What it refuses or ignores (see search_handling): unknown parameters,
// `special` parameters (Location near), parameters without an index (_text,
// _content, _query), `_filter`, `_contained`, `_containedType`.
//
// Plain values; copyable. The search_parameter pointers point into the
// definitions given to parse_search(): they must outlive the request.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>

namespace hearth::store {

/// search.html#prefix. `eq` when none is written.
enum class search_prefix : std::uint8_t { eq, ne, gt, lt, ge, le, sa, eb, ap };

/// "eq", "ne", ...
std::string_view to_string(search_prefix p) noexcept;

/// search.html#modifiers. `type` is the :[type] modifier of a reference
/// (`subject:Patient=123`); the type is in search_criterion::modifier_type.
enum class search_modifier : std::uint8_t {
  none, missing, exact, contains, text, not_, above, below, in, not_in, of_type, identifier, type,
};

/// "missing", "exact", ..., "not", "not-in", "of-type", "type" for `type` (the
/// type itself is in search_criterion::modifier_type); "" for none.
std::string_view to_string(search_modifier m) noexcept;

/// One value of a criterion (one of its comma-separated OR values), split
/// and unescaped.
struct search_value {
  /// number, date, quantity (and such components): the prefix, eq when none.
  search_prefix prefix = search_prefix::eq;
  /// The value split at unescaped '|' and unescaped; what each part is, by
  /// parameter type and modifier:
  ///   string, uri (also :above/:below), token :text/:in/:not-in: one part,
  ///     the text
  ///   number, date: one part, the number / date without its prefix (checked:
  ///     parse_decimal_range / parse_date_range accept it)
  ///   token (also :not, :above, :below, whose value is a concept,
  ///           [system]|[code]):
  ///           "code" -> {code}; "system|code" -> {system, code};
  ///           "|code" -> {"", code}; "system|" -> {system, ""};
  ///           :of-type "system|code|value" -> {system, code, value}
  ///   quantity: "5.4" -> {number}; "5.4|system|code" -> {number, system, code};
  ///           "5.4||mg" -> {number, "", "mg"} (code or unit)
  ///   reference: "Type/id" -> {"Type/id"}; "id" -> {"id"}; an absolute URL
  ///           -> {url}; "url|version" (canonical) -> {url, version};
  ///           :identifier "system|value" -> {system, value} or {value}
  ///   :missing: {"true"} or {"false"}
  std::vector<std::string> parts;
  /// composite: the value split at unescaped '$', one value per component
  /// (search_criterion::param->components order), each parsed by the
  /// component parameter's type. Empty otherwise.
  std::vector<search_value> components;
};

/// One step from the resources being searched to those a criterion tests.
struct search_step {
  enum class direction : std::uint8_t {
    /// Chaining (`subject:Patient.name`): follow `param`, a reference
    /// parameter of the current type, to resources of one of `types`.
    forward,
    /// Reverse chaining (`_has:Observation:patient:code`): resources of
    /// `types` (exactly one) whose reference parameter `param` points at the
    /// current resource.
    reverse,
  };
  direction dir = direction::forward;
  /// The reference parameter: of the current type (forward) or of types[0]
  /// (reverse).
  const fhir::search_parameter* param = nullptr;
  /// forward: the target types the next step or the final parameter applies
  /// to — the one given by `:Type`, else every target type of `param` that
  /// has the next parameter (several when it is ambiguous; R4 lets the server
  /// search them all). reverse: the one type named after _has.
  std::vector<std::string> types;
};

/// One AND-ed criterion: a parameter, an optional path to it, a modifier and
/// its OR-ed values.
struct search_criterion {
  /// The name as written, modifier included (`subject:Patient.name:exact`),
  /// for messages and self links.
  std::string name;
  /// The value as written (before splitting), for self links.
  std::string raw_value;
  /// The steps to the resources the parameter applies to; empty for a
  /// parameter of the searched type itself.
  std::vector<search_step> path;
  /// The parameter tested: of the searched type, or of the last step's types.
  /// With several candidate types (see search_step::types) this is the one of
  /// the first type; every candidate has a parameter with the same code and
  /// type (parse_search refuses it otherwise).
  const fhir::search_parameter* param = nullptr;
  search_modifier modifier = search_modifier::none;
  /// The type of a :[type] modifier ("Patient"); empty otherwise.
  std::string modifier_type;
  /// OR-ed values; never empty.
  std::vector<search_value> values;
};

/// `_include` / `_revinclude` (search.html#include).
struct search_include {
  /// _include: the type whose reference parameter is followed (the searched
  /// type, or any type for :iterate); _revinclude: the type whose references
  /// point at the results.
  std::string source_type;
  /// The reference parameter of source_type; nullptr for `*` or `Type:*`
  /// (every reference parameter of source_type; a bare `*` in _include only).
  const fhir::search_parameter* param = nullptr;
  /// `Type:param:target`: only referenced resources of this type; empty: any.
  std::string target_type;
  bool iterate = false;  ///< :iterate (or :recurse)
  std::string raw_value; ///< as written, for self links
};

/// One `_sort` key (search.html#sort): any parameter of the searched type
/// except composite and special; _id and _lastUpdated included. A resource
/// with several values sorts by its lowest (ascending) or highest
/// (descending); resources without a value sort last.
struct search_sort_key {
  const fhir::search_parameter* param = nullptr;
  bool descending = false;
};

/// `_total` (search.html#total).
enum class search_total : std::uint8_t { none, estimate, accurate };

/// `_summary` (search.html#summary). `none` when not given.
enum class search_summary : std::uint8_t { none, true_, text, data, count, false_ };

/// Prefer: handling (search.html#errors): what to do with a parameter the
/// server does not know or does not support.
enum class search_handling : std::uint8_t {
  /// Fail the search ("not-supported" for an unknown or unsupported
  /// parameter, "invalid" for a malformed value).
  strict,
  /// Leave out unknown and unsupported parameters and list them in
  /// search_request::ignored. Malformed values of known parameters are still
  /// errors: ignoring them would widen the search silently.
  lenient,
};

/// A parameter parse_search() left out (lenient handling), and why; for the
/// OperationOutcome the REST layer adds to the Bundle.
struct ignored_parameter {
  std::string name;
  std::string reason;
};

/// A compartment search `[base]/Patient/123/Observation` (R4
/// compartmentdefinition.html): only resources whose compartment parameters
/// (fhir::definitions::patient_compartment_params) reference Patient/123.
struct search_compartment {
  std::string type;  ///< "Patient" (the only compartment the definitions load)
  std::string id;
};

/// An R4 search, checked. See parse_search().
struct search_request {
  /// The type searched ("Observation").
  std::string type;
  std::optional<search_compartment> compartment;
  /// AND-ed criteria, in the order given.
  std::vector<search_criterion> criteria;
  /// `_list=id`: only resources that List/id's entries reference; empty: none.
  std::string list_id;
  std::vector<search_include> includes;
  std::vector<search_include> revincludes;
  /// Sort keys in order; empty: the store's stable default order.
  std::vector<search_sort_key> sort;
  /// `_count`: matches per page; 0 asks for no matches (a count or total
  /// only). Larger values than max_count are lowered to it (R4 lets a server
  /// return fewer than asked).
  std::size_t count = default_count;
  search_total total = search_total::none;
  search_summary summary = search_summary::none;
  /// `_elements`, split at commas, as given (the REST layer applies them).
  std::vector<std::string> elements;
  /// `_cursor`: where the previous page ended (search_page::next_cursor).
  std::string cursor;
  /// Parameters left out under lenient handling.
  std::vector<ignored_parameter> ignored;

  static constexpr std::size_t default_count = 50;
  static constexpr std::size_t max_count = 1000;
  /// Most reference steps (chain links and _has together) in one criterion.
  static constexpr std::size_t max_chain_depth = 4;
  /// Most criteria, includes and sort keys together; most OR values in one
  /// criterion: each becomes SQL, and bounds the work of one request.
  static constexpr std::size_t max_terms = 64;
  static constexpr std::size_t max_values = 100;
};

/// Reads an R4 search of resources of `type` from the (name, value) pairs of
/// its query string, already split at '&' and '=' and percent-decoded, in
/// order. `compartment`, when given, makes it a compartment search.
///
/// Errors (hearth::error, code and message naming the parameter, never
/// echoing more than its name):
/// - "not-supported": `type` is not a resource type; an unknown or
///   unsupported parameter, modifier or prefix under strict handling; a
///   compartment search on a type that is not in that compartment.
/// - "invalid": a malformed value (bad date, number, :missing value, too many
///   '|' parts, an empty value), a chain on a parameter that is not a
///   reference, an ambiguous chain (candidate types whose parameters differ in
///   type), a bad _include/_sort/_count/_total/_summary, a repeated _count or
///   _sort.
/// - "too-costly": beyond max_chain_depth, max_terms or max_values.
hearth::result<search_request> parse_search(const fhir::definitions& defs, std::string_view type,
                                            std::span<const std::pair<std::string, std::string>> params,
                                            search_handling handling = search_handling::lenient,
                                            std::optional<search_compartment> compartment = std::nullopt);

}  // namespace hearth::store
