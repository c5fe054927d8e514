#pragma once
// The inputs and outputs of the FHIR R4 terminology operations, as plain
// values: ValueSet/$expand, ValueSet/$validate-code, CodeSystem/$lookup,
// CodeSystem/$validate-code, CodeSystem/$subsumes, ConceptMap/$translate
// (FHIR R4 valueset-operation-expand.html, valueset-operation-validate-code.html,
// codesystem-operation-lookup.html, codesystem-operation-validate-code.html,
// codesystem-operation-subsumes.html, conceptmap-operation-translate.html).
//
// The registry (registry.hpp) runs them; parameters.hpp reads them from and
// writes them to R4 `Parameters` resources.
//
// Every type here is a plain value: copyable, no thread-safety concerns of its
// own. Requests may point (`const fhir::json_value*`) at resources the caller
// owns; such a pointer must stay valid for the duration of the operation call
// only, and may be null.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/json_value.hpp>
#include <hearth/terminology/verdict.hpp>

namespace hearth::terminology {

/// Most codes in one expansion response: beyond it $expand answers
/// "too-costly" unless the client pages with `count` (HAPI's default
/// maximum is of the same order). Also the largest `count` honoured.
inline constexpr std::size_t max_expansion_codes = 10'000;
/// Most codes an expansion may gather internally before paging, even when the
/// client pages: bounds memory and time for one request ("too-costly").
inline constexpr std::size_t max_expansion_work = 200'000;
/// Deepest chain of value sets including value sets (compose.include.valueSet):
/// bounds recursion for hostile inline resources; R4's deepest is 3 levels.
inline constexpr std::size_t max_value_set_depth = 32;
/// Longest `regex` filter pattern, in bytes ("too-costly" beyond): RE2 runs in
/// linear time, but compiling a huge pattern still costs memory.
inline constexpr std::size_t max_regex_length = 1'000;

/// A code from a code system: FHIR R4 Coding, with the parts the operations
/// use. Empty strings mean absent.
struct coding {
  std::string system;
  std::string version;
  std::string code;
  std::string display;
  friend bool operator==(const coding&, const coding&) = default;
};

/// A ConceptDefinitionDesignation / ValueSet.compose.include.concept.designation
/// / $lookup designation.
struct designation {
  std::string language;  ///< BCP 47 tag; empty when not given
  coding use;            ///< empty system/code when not given
  std::string value;
  friend bool operator==(const designation&, const designation&) = default;
};

// ---------------------------------------------------------------------------
// ValueSet/$expand

/// A code system canonical with an optional version ("system|version"), as
/// $expand's `exclude-system`, `system-version`, `check-system-version` and
/// `force-system-version` give it.
struct system_version {
  std::string system;
  std::string version;  ///< empty: none given
  friend bool operator==(const system_version&, const system_version&) = default;
};

/// The in-parameters of $expand that Hearth implements. R4
/// valueset-operation-expand.html; `date` is refused when read
/// (parameters.hpp: Hearth holds the definitions of now only), and
/// `excludeNotForUI` / `excludePostCoordinated` are not read (what is "for
/// UI" R4 leaves to the server; Hearth's expansions hold no post-coordinated
/// codes).
struct expand_request {
  /// The value set by canonical URL ("url" or "url|version"); ignored when
  /// `value_set` is given.
  std::string url;
  /// The value set itself (in-parameter `valueSet`, or the instance for
  /// ValueSet/[id]/$expand).
  const fhir::json_value* value_set = nullptr;
  /// `valueSetVersion`: when `url` carries no "|version", it is looked up as
  /// "url|value_set_version" (the registry holds one version of each value
  /// set and ignores it; a resolver receives it).
  std::string value_set_version;
  /// `filter`: text that each code or display must contain, case-insensitive
  /// (ASCII case folding; FHIR leaves the matching to the server).
  std::string filter;
  /// `offset` / `count`: paging. No count means "all", up to max_expansion_codes.
  std::size_t offset = 0;
  std::optional<std::size_t> count;
  /// `activeOnly`: leave out inactive concepts.
  bool active_only = false;
  /// `includeDesignations`: copy the concepts' designations into contains[].
  bool include_designations = false;
  /// `excludeNested`: a flat contains[] list. R4 states no default; Hearth's
  /// is flat (true), as HAPI's. When false, and the expansion is not paged
  /// (no offset/count) nor text-filtered, contains[] follows the code system
  /// hierarchy: a concept is nested under its nearest ancestor present in the
  /// expansion; paged or filtered expansions are always flat.
  bool exclude_nested = true;
  /// `includeDefinition`: put the value set's compose into the result as well.
  bool include_definition = false;
  /// `exclude-system`: codes of these code systems are left out (of that
  /// version only, when one is given: the version the expansion uses for it).
  std::vector<system_version> exclude_systems;
  /// `system-version`: the version of a code system to use where an include
  /// (here or in a value set included) names none. The registry must hold
  /// exactly that version (or the resolver give it): otherwise the expansion
  /// fails ("not-supported"), as R4 requires of a server that cannot expand
  /// with the right version. Each system at most once, with a version.
  std::vector<system_version> system_versions;
  /// `check-system-version`: as system_versions, and an include that names
  /// another version of the system fails the expansion ("business-rule",
  /// R4: "an error is returned instead of the expansion").
  std::vector<system_version> check_system_versions;
  /// `force-system-version`: the version to use for the system whatever the
  /// includes say; recorded in expansion.parameter (R4 requires it).
  std::vector<system_version> force_system_versions;
  /// `displayLanguage` (BCP 47): each code's display is the value of its
  /// designation in that language when it has one (the tag itself, else its
  /// primary language: "de-CH" then "de"; case-insensitive), else the code
  /// system's display.
  std::string display_language;
  /// `designation`: which designations to include (and include them even
  /// without includeDesignations): a token "system|code" matching a
  /// designation's use, "urn:ietf:bcp:47|tag" its language, a bare code
  /// either. Empty: all of them, when include_designations.
  std::vector<coding> designations;
  /// `context` ("[StructureDefinition URL]#[element path or id]") and
  /// `contextDirection`: the registry does not know StructureDefinitions, so
  /// it refuses a request with a context ("not-supported"); the REST layer
  /// resolves the context to the bound value set's url first.
  std::string context;
  std::string context_direction;
};

// ---------------------------------------------------------------------------
// $validate-code (ValueSet and CodeSystem)

/// The in-parameters of ValueSet/$validate-code and CodeSystem/$validate-code.
struct validate_request {
  /// The value set (ValueSet/$validate-code) or the code system
  /// (CodeSystem/$validate-code) by canonical URL ("url" or "url|version");
  /// ignored when `resource` is given.
  std::string url;
  /// The ValueSet (`valueSet`) or CodeSystem (`codeSystem`) itself, or the
  /// instance for ValueSet/[id]/$validate-code.
  const fhir::json_value* resource = nullptr;
  /// `valueSetVersion` (ValueSet only).
  std::string value_set_version;
  /// What to check: one entry for `code`+`system`(+`systemVersion`/`version`,
  /// `display`) or for `coding`; one per coding of a `codeableConcept` (then
  /// the request is valid when any coding is). For CodeSystem/$validate-code
  /// an empty system means the code system named by url/resource.
  std::vector<coding> codings;
  /// True when `codings` came from a CodeableConcept (changes messages only).
  bool codeable_concept = false;
  /// `abstract`: abstract (notSelectable) concepts count as valid. Default
  /// false (R4 valueset-operation-validate-code.html).
  bool abstract_ok = false;
};

/// Severity of one finding, as OperationOutcome.issue.severity.
enum class severity : std::uint8_t { error, warning, information };

/// One finding of a validation, for people. Never quotes patient data: it
/// names the code, the system and the value set.
struct finding {
  terminology::severity severity = severity::error;
  std::string text;
  friend bool operator==(const finding&, const finding&) = default;
};

/// The out-parameters of $validate-code, with the three-way verdict.
struct validate_result {
  /// valid / invalid / cannot_tell. `result` (the out-parameter) is
  /// `outcome == verdict::valid`.
  terminology::verdict outcome = verdict::cannot_tell;
  /// When cannot_tell: why, as an error code: "not-found" (value set or code
  /// system unknown), "not-supported" (content not available, e.g. SNOMED CT),
  /// "too-costly". Empty otherwise.
  std::string reason;
  /// Every finding (errors for an invalid code, a warning for a display that
  /// does not match, information...). A wrong display is a warning and does
  /// not make the code invalid (as HL7's validator).
  std::vector<finding> findings;
  /// The display the code system gives the (first valid) code; empty when unknown.
  std::string display;
  /// The coding that was found valid (for a CodeableConcept: the first valid one).
  std::optional<coding> matched;

  bool result() const noexcept { return outcome == verdict::valid; }
  /// The findings' texts joined with "; " (the `message` out-parameter);
  /// empty when there are none.
  std::string message() const;
};

// ---------------------------------------------------------------------------
// CodeSystem/$lookup

/// The in-parameters of $lookup.
struct lookup_request {
  /// `code`+`system`+`version`, or `coding`.
  coding input;
  /// A code system given inline (not an R4 in-parameter, but lets the REST
  /// layer run CodeSystem/[id]/$lookup on a stored instance); may be null.
  const fhir::json_value* code_system = nullptr;
  /// `property`: the properties wanted ("parent", "child", "inactive",
  /// "definition", "designation", or a code system property code). Empty:
  /// the defaults (all the code system's properties, parent, child, inactive).
  std::vector<std::string> properties;
};

/// One `property` out-parameter of $lookup.
struct lookup_property {
  std::string code;         ///< "parent", "child", "inactive", "status", ...
  std::string value_key;    ///< value[x] member name: "valueCode", "valueBoolean", "valueString", ...
  fhir::json_value value;   ///< its value (JSON string, boolean or number)
  std::string description;  ///< may be empty
  friend bool operator==(const lookup_property&, const lookup_property&) = default;
};

/// The out-parameters of $lookup.
struct lookup_result {
  std::string name;     ///< the code system's title, or its name
  std::string version;  ///< may be empty
  std::string display;  ///< may be empty when the code system gives none
  std::string definition;  ///< may be empty
  std::vector<designation> designations;
  std::vector<lookup_property> properties;
  bool abstract = false;  ///< notSelectable / abstract
  bool inactive = false;  ///< status retired or inactive = true
};

// ---------------------------------------------------------------------------
// CodeSystem/$subsumes

/// The in-parameters of $subsumes: `codeA`/`codeB` (+`system`, `version`) or
/// `codingA`/`codingB`; an empty system in a coding means `system`.
struct subsumes_request {
  std::string system;
  std::string version;
  coding a;
  coding b;
  /// The code system inline / the instance for CodeSystem/[id]/$subsumes; may be null.
  const fhir::json_value* code_system = nullptr;
};

/// `outcome` of $subsumes (R4 concept-subsumption-outcome).
enum class subsumption : std::uint8_t { equivalent, subsumes, subsumed_by, not_subsumed };

/// "equivalent", "subsumes", "subsumed-by", "not-subsumed".
std::string_view to_string(subsumption s) noexcept;

// ---------------------------------------------------------------------------
// ConceptMap/$translate

/// The in-parameters of $translate.
struct translate_request {
  /// The concept map by canonical URL ("url" or "url|version"); may be empty
  /// when `concept_map` is given, or when `source`/`target` select maps.
  std::string url;
  /// `conceptMap` inline, or the instance for ConceptMap/[id]/$translate.
  const fhir::json_value* concept_map = nullptr;
  /// `source` / `target`: value set canonicals selecting the maps to use
  /// (by ConceptMap.source[x] / target[x]) when no url or concept_map is given.
  std::string source;
  std::string target;
  /// `targetsystem`: only matches in this code system.
  std::string target_system;
  /// What to translate: `code`+`system`+`version`, `coding`, or each coding
  /// of a `codeableConcept`.
  std::vector<coding> codings;
  /// `reverse`: translate from target to source.
  bool reverse = false;
};

/// One `match` out-parameter of $translate.
struct translate_match {
  /// ConceptMapEquivalence: "equivalent", "equal", "wider", "subsumes",
  /// "narrower", "specializes", "inexact", "unmatched", "disjoint", "relatedto".
  std::string equivalence;
  coding mapped;       ///< `concept`: the target (source when reversed); empty for unmatched
  std::string source;  ///< the ConceptMap's canonical URL
  friend bool operator==(const translate_match&, const translate_match&) = default;
};

/// The out-parameters of $translate.
struct translate_result {
  /// True when at least one match has an equivalence other than "unmatched"
  /// and "disjoint" (R4 conceptmap-operation-translate.html `result`).
  bool result = false;
  std::string message;  ///< empty when nothing to say
  std::vector<translate_match> matches;
};

}  // namespace hearth::terminology
