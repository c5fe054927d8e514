#pragma once
// The search index entries of one resource: what the indexer (indexer.hpp)
// extracts for every R4 SearchParameter of the resource's type, one entry type
// per parameter kind (FHIR R4 search.html#ptypes), matching the index tables
// of DESIGN.md (Storage): idx_string, idx_token, idx_date, idx_number,
// idx_quantity, idx_reference, idx_uri, plus composites.
//
// Conventions shared by every entry:
// - `param` is the SearchParameter the entry belongs to (code, url, type,
//   base). It points into the fhir::definitions the indexer was built from:
//   entries must not outlive them. A parameter shared by several types
//   ("clinical-code" on Condition, Observation, ...) is one object; the
//   resource type comes from the resource being indexed.
// - A parameter has no entries when the resource has no value for it (that is
//   what :missing=true means). A resource may have several entries for one
//   parameter (repeating elements, several codings): a search matches when ANY
//   entry matches, and entries may repeat values, so the query side must
//   test with EXISTS or DISTINCT, never count rows.
// - An empty std::string means "absent": FHIR strings are never empty (R4
//   datatypes.html#string, json.html "empty values are not allowed").
// - Text is UTF-8 as in the resource. Limits: see indexer_options.
//
// Value types; no thread-safety concerns.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/store/date_range.hpp>
#include <hearth/store/decimal_range.hpp>
#include <hearth/store/reference_target.hpp>

namespace hearth::store {

/// string (search.html#string). From string, markdown, and the parts of
/// HumanName (family, each given, each prefix, each suffix, text) and Address
/// (each line, city, district, state, postalCode, country, text): one entry
/// per part, so that "starts with" applies to each part on its own. Also
/// from code, id, uri and the like when a string parameter points at them.
struct string_entry {
  const fhir::search_parameter* param = nullptr;
  /// fold_for_search(exact) (text_fold.hpp): for the default (starts-with)
  /// and :contains matches, after folding the search value the same way.
  std::string normalized;
  /// The text as in the resource, for :exact (case- and accent-sensitive).
  std::string exact;
  /// The value was longer than indexer_options::max_string_bytes and both
  /// fields hold its first bytes only (cut at a UTF-8 boundary): :exact and
  /// :contains cannot be decided beyond them.
  bool truncated = false;
};

/// token (search.html#token). What fills each field, by element type:
///
///   type             system                code                       text (folded)
///   Coding           system                code                       display
///   CodeableConcept  one entry per coding as Coding; plus, when it has text, an
///                    entry with empty system and code and text = CodeableConcept.text
///   Identifier       system                value                      type.text
///   ContactPoint     (empty)               value                      (empty)
///   code             (empty)               the code                   (empty)
///   boolean          (empty)               "true" / "false"           (empty)
///   string, id, uri, canonical, ... (empty) the text                  (empty)
///
/// For an Identifier whose type has codings there is one entry per type
/// coding, with type_system / type_code set, for :of-type
/// (system|code|value against type.coding and value); otherwise one entry with
/// them empty. The system of a `code` element (implied by its value set
/// binding, e.g. http://hl7.org/fhir/administrative-gender) is NOT filled in:
/// `gender=male` and `gender=|male` match, `gender=<system>|male` does not.
/// Codes are kept exactly (token matching is case-sensitive, search.html#token).
/// `text` is cut to indexer_options::max_string_bytes; a system or code longer
/// than that is not indexed at all (a limit_reached problem), as a cut code
/// would match what it is not.
struct token_entry {
  const fhir::search_parameter* param = nullptr;
  std::string system;  ///< empty: no system ("|code" matches only these)
  std::string code;    ///< empty for a text-only entry (never matches a code search)
  std::string text;    ///< for :text, folded with fold_for_search; empty when none
  std::string type_system;  ///< Identifier.type.coding.system, for :of-type
  std::string type_code;    ///< Identifier.type.coding.code, for :of-type
};

/// date (search.html#date): the value as an inclusive range of instants
/// (date_range.hpp: precision, time zones, zone-less values taken as UTC).
/// date, dateTime, instant: the range of the value. Period: [start.low,
/// end.high]; a missing start gives date_range::min, a missing end
/// date_range::max ("ongoing", datatypes.html#Period). Timing: the outer
/// limits only, as R4 prescribes ("the specified scheduling details are
/// ignored and only the outer limits matter"): from the earliest event or
/// repeat.boundsPeriod.start to the latest event or boundsPeriod.end (max when
/// boundsPeriod has no end); a Timing with neither events nor boundsPeriod
/// (only a code, or a bounds Duration/Range, which are not dates) has no entry.
struct date_entry {
  const fhir::search_parameter* param = nullptr;
  date_range range;
};

/// number (search.html#number): integer, decimal, positiveInt, unsignedInt
/// as decimal_range (decimal_range.hpp: exact text, double, precision-implied
/// [low, high)); a Range (RiskAssessment probability) as its exact ends.
struct number_entry {
  const fhir::search_parameter* param = nullptr;
  decimal_range value;
};

/// The value of a quantity in canonical UCUM units (fhir/ucum.hpp canonical()):
/// what makes 1 mg/dL comparable with 10 mg/L (both are "10" "m-3.g").
struct canonical_quantity {
  /// text: the exact canonical value (up to 28 fraction digits, rounded when
  /// not exact); value: its double; low/high: the converted bounds of the
  /// original value (so the precision-implied range converts too).
  decimal_range value;
  std::string unit;  ///< canonical unit: "m-3.g", "m", "s-1", "1", "K"; empty: none
};

/// The canonical form of decimal `text` in UCUM unit `code`, with its
/// precision bounds converted too; nullopt when `text` is not a decimal, the
/// code is not UCUM or does not convert (special units other than
/// temperatures). The indexer and the search compiler both use it, so that
/// stored and searched values are converted the same way.
std::optional<canonical_quantity> to_canonical_quantity(std::string_view text, std::string_view code);

/// quantity (search.html#quantity). From Quantity and its profiles (Age,
/// Count, Distance, Duration, SimpleQuantity, MoneyQuantity), Money (system
/// "urn:iso:std:iso:4217", code = currency), and Range (value.low/high = the
/// exact ends of Range.low/high, ±infinity when absent; system, code and unit
/// from Range.low, else Range.high). SampledData is not indexed (no single value).
///
/// A comparator widens the range: "<" / "<=" make low -infinity (high stays
/// the value's high bound), ">" / ">=" make high +infinity. `value.text`
/// stays the number as written.
///
/// `canonical` is set when system is http://unitsofmeasure.org, code parses
/// as UCUM and converts to base units (ucum::canonical): temperatures go to
/// kelvin; arbitrary units keep their atom ("[iU]"). Otherwise it is empty
/// (canonical.unit empty) and only system/code/unit matches apply.
struct quantity_entry {
  const fhir::search_parameter* param = nullptr;
  decimal_range value;
  std::string comparator;  ///< "<", "<=", ">=", ">" or empty
  std::string system;      ///< Quantity.system
  std::string code;        ///< Quantity.code (the UCUM code when system is UCUM)
  std::string unit;        ///< Quantity.unit, the human-readable unit
  canonical_quantity canonical;  ///< canonical.unit empty: no canonical form
};

/// reference (search.html#reference). One entry per reference value:
/// - Reference.reference as parse_reference() splits it (reference_target.hpp);
///   for "#id" the indexer sets target.type from the contained resource.
/// - canonical and uri elements as parse_canonical() splits them.
/// - Reference.identifier (a logical reference, for the :identifier modifier)
///   as a SEPARATE entry of kind identifier, with identifier_system/_value
///   and target.type from Reference.type when given. A Reference with both
///   reference and identifier gives two entries.
/// Query side: `subject=Patient/1`, `subject:Patient=1` match kind relative
/// (and absolute whose URL starts with the server's base) on type and id;
/// `subject=1` matches id alone (with the parameter's target types);
/// versioned references carry their version (R4: a search on a plain
/// reference also matches versioned ones); kind contained must not match a
/// reference search (a contained resource has no identity on the server);
/// canonical values match by url (and version when the search gives one).
struct reference_entry {
  const fhir::search_parameter* param = nullptr;
  reference_target target;
  std::string identifier_system;  ///< kind identifier only
  std::string identifier_value;   ///< kind identifier only
};

/// uri (search.html#uri): uri, url, canonical, oid, uuid, as written (a
/// canonical keeps its "|version"); :above and :below compare prefixes.
struct uri_entry {
  const fhir::search_parameter* param = nullptr;
  std::string uri;
};

/// One part of a composite: an entry of the kind of the component's own
/// SearchParameter (component.definition), whose `param` is that parameter.
using component_entry =
    std::variant<string_entry, token_entry, date_entry, number_entry, quantity_entry, reference_entry, uri_entry>;

/// composite (search.html#composite): for each item of the composite's
/// expression, every combination of its components' values (each component
/// expression evaluated on that item, %resource still the resource), so that
/// `code-value-quantity=loinc|x$gt5` needs the code and the value from the
/// SAME item. `components` follow param->components in order; an item missing
/// a component value gives no entry. The database stores these as it sees fit
/// (e.g. one row per entry with one column group per component).
struct composite_entry {
  const fhir::search_parameter* param = nullptr;
  std::vector<component_entry> components;
};

/// Why a parameter's value is missing from or incomplete in the index.
enum class index_problem_kind : std::uint8_t {
  /// The parameter's expression failed on this resource (error from the
  /// FHIRPath evaluator); its other parameters are still indexed.
  evaluation_failed,
  /// A value that should be indexable is malformed (a date or a decimal that
  /// does not parse: possible only for resources that were not validated).
  invalid_value,
  /// The expression gave an item of a type this parameter kind cannot index:
  /// a string in a date parameter (CarePlan.activity.detail.scheduledString),
  /// SampledData in a quantity parameter, an Attachment or a whole resource
  /// in a reference parameter (Bundle.entry[0].resource). Expected for some
  /// R4 parameters; not an error of the resource.
  unsupported_item,
  /// A limit of indexer_options was reached; the entries beyond it are left out.
  limit_reached,
};

/// "evaluation-failed", "invalid-value", "unsupported-item", "limit-reached".
std::string_view to_string(index_problem_kind k) noexcept;

/// One problem met while indexing a resource. `error.location` is the FHIR
/// type of the item concerned (for unsupported_item / invalid_value) or
/// empty; messages never hold resource content.
struct index_problem {
  const fhir::search_parameter* param = nullptr;
  index_problem_kind kind = index_problem_kind::evaluation_failed;
  hearth::error error;
};

/// Everything the indexer extracted from one resource, by kind (one vector
/// per index table), each in parameter order (by code) and then in the
/// order the expression returned the values.
struct index_entries {
  std::vector<string_entry> strings;
  std::vector<token_entry> tokens;
  std::vector<date_entry> dates;
  std::vector<number_entry> numbers;
  std::vector<quantity_entry> quantities;
  std::vector<reference_entry> references;
  std::vector<uri_entry> uris;
  std::vector<composite_entry> composites;
  /// Problems met; the entries above are what could be indexed despite them.
  std::vector<index_problem> problems;

  /// Entries of all kinds (composites count once each), problems excluded.
  std::size_t size() const noexcept {
    return strings.size() + tokens.size() + dates.size() + numbers.size() + quantities.size() +
           references.size() + uris.size() + composites.size();
  }
};

}  // namespace hearth::store
