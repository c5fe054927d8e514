#pragma once
// hearth::terminology::registry — the FHIR R4 code systems, value sets and
// concept maps of the official definitions (valuesets.json, v2-tables.json,
// v3-codesystems.json, conceptmaps.json), and the terminology operations over
// them and over resources stored elsewhere (through a resolver).
//
// FHIR R4 terminologies.html, codesystem.html, valueset.html, conceptmap.html,
// and the operation pages named in operations.hpp.
//
// Semantics chosen where R4 leaves room, each stated once here:
// - A canonical may carry "|version". The registry holds one version of each
//   resource; a version that differs from the one held is accepted for a
//   code system (a warning finding in $validate-code) and ignored elsewhere,
//   except where an $expand request asks for a version (system-version,
//   check-system-version, force-system-version): that version must be held
//   (or come from the resolver), else the expansion fails.
// - Concept status: a concept is inactive when its `status` property is
//   "retired" or "inactive", or its `inactive` property is true ("deprecated"
//   stays active: R4 codesystem-concept-properties). It is abstract when its
//   `notSelectable` or `abstract` property is true. Expansions flag them
//   (`inactive`, `abstract`); $validate-code rejects abstract concepts unless
//   `abstract` is true, and accepts inactive ones with a warning.
// - Hierarchy: by nesting of CodeSystem.concept and by the `parent`/`child`
//   properties, whatever hierarchyMeaning says (R4 codes use is-a or none).
// - Case: codes compare case-sensitively unless CodeSystem.caseSensitive is
//   false (R4 default: unstated, taken as case-sensitive); language tags and
//   MIME types compare case-insensitively (RFC 5646 2.1.1, RFC 2045 5.1).
// - Content: only content "complete" (or unstated) can be enumerated;
//   "example", "fragment", "supplement" and "not-present" code systems
//   answer for the codes they list and cannot tell about others.
// - Grammars instead of lists: http://unitsofmeasure.org (UCUM, by
//   fhir/ucum.hpp), urn:ietf:bcp:13 (MIME types, RFC 6838 syntax with
//   parameters) and urn:ietf:bcp:47 (language tags, RFC 5646 syntax) are
//   checked by syntax; they cannot be expanded ("not-supported").
// - A value set canonical that names no value set but a code system (held,
//   resolvable or a grammar) means all codes of that code system (R4
//   valueset-operation-validate-code.html `url`, "defined implicitly by some
//   code system"), for $expand, $validate-code and check_membership().
// - Code systems whose content is not in the definitions (content
//   "not-present", "example", "fragment", or not known at all such as SNOMED
//   CT and LOINC): a membership that needs their content is `cannot_tell` /
//   "not-supported"; a value set that only lists codes of such a system
//   (compose.include.concept) is still checked by that list.
//
// Thread-safety: load() builds an immutable registry; every const member
// function may be called concurrently from any number of threads. The only
// mutable state is check_membership()'s cache, guarded by a mutex inside.
// Each operation keeps its own per-call state (resources from the resolver,
// compiled filters) and calls the resolver on the calling thread.
// Lifetime: move-only; what it hands out (string_views of concept_info) lives
// as long as the registry and is unaffected by moving it.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/terminology/operations.hpp>
#include <hearth/terminology/resolver.hpp>
#include <hearth/terminology/verdict.hpp>

namespace hearth::terminology {

/// One concept of a code system held by the registry. Views into the registry.
struct concept_info {
  std::string_view system;
  std::string_view code;
  std::string_view display;     ///< empty when the code system gives none
  std::string_view definition;  ///< empty when none
  bool abstract = false;
  bool inactive = false;
};

/// Counts of what load() read, for logs and tests.
struct registry_stats {
  std::size_t code_systems = 0;
  std::size_t value_sets = 0;
  std::size_t concept_maps = 0;
  std::size_t concepts = 0;  ///< over all code systems
};

class registry {
 public:
  /// Reads the four bundles (paths from fhir::definitions::terminology()).
  /// Errors: "not-found" (a file is missing; location = the file), "invalid"
  /// (malformed JSON or not a Bundle; location = the file, offset = byte
  /// offset), "exception" (I/O failure). Code systems are kept per version
  /// (R4's v2 tables hold several versions of a few tables; "url|version"
  /// selects one, the first read is the default); for value sets and concept
  /// maps the first of a canonical URL read wins (valuesets.json, then v2,
  /// v3, concept maps).
  static hearth::result<registry, hearth::error> load(const fhir::terminology_files& files);

  registry(registry&&) noexcept;
  registry& operator=(registry&&) noexcept;
  ~registry();

  registry_stats stats() const noexcept;

  // --- what the registry holds ------------------------------------------------

  /// The registry holds a CodeSystem / ValueSet / ConceptMap with this
  /// canonical ("url" or "url|version").
  bool has_code_system(std::string_view canonical) const noexcept;
  bool has_value_set(std::string_view canonical) const noexcept;
  bool has_concept_map(std::string_view canonical) const noexcept;
  /// One concept of a held code system ("url" or "url|version"), or nullopt
  /// (unknown system or code).
  /// Case-insensitive when the code system says so. Cheap (hash lookups).
  std::optional<concept_info> find_concept(std::string_view system, std::string_view code) const noexcept;

  // --- operations --------------------------------------------------------------
  // Errors (hearth::error): "not-found" (value set / code system / concept map
  // / code unknown, where the operation cannot answer otherwise), "invalid"
  // (malformed request or resource, a cycle of value sets), "not-supported"
  // (content not available, an unsupported filter, a code system version
  // asked for but not held), "too-costly" (a limit of operations.hpp),
  // "business-rule" ($expand: a value set naming another version of a code
  // system than check-system-version allows). Messages name URLs and codes,
  // never other input.

  /// ValueSet/$expand: the ValueSet resource (JSON) with `expansion`
  /// {identifier (urn:uuid), timestamp, total, offset, parameter[] (the code
  /// system versions used, then the request's parameters that shaped the
  /// result), contains[]}; `compose` only with include_definition. A request
  /// with a `context` is "not-supported" (expand_request::context).
  hearth::result<fhir::json_value> expand(const expand_request& req, const resolver& resolve = {}) const;
  /// The same for a ValueSet resource given directly (instance-level
  /// ValueSet/[id]/$expand); `req.url` / `req.value_set` are ignored.
  hearth::result<fhir::json_value> expand(const fhir::json_value& value_set, const expand_request& req,
                                          const resolver& resolve = {}) const;

  /// ValueSet/$validate-code. An unknown value set or code system is not an
  /// error but verdict::cannot_tell (reason "not-found"); errors are for
  /// malformed requests (no code) and resources, and for cycles.
  hearth::result<validate_result> validate_code_in_value_set(const validate_request& req,
                                                             const resolver& resolve = {}) const;
  /// CodeSystem/$validate-code: `req.url` / `req.resource` name the code
  /// system; a coding with another system is invalid.
  hearth::result<validate_result> validate_code_in_code_system(const validate_request& req,
                                                               const resolver& resolve = {}) const;

  /// CodeSystem/$lookup. Errors: "not-found" (unknown system or code),
  /// "not-supported" (content not present; grammar-based systems give only
  /// the code's validity: display = the code).
  hearth::result<lookup_result> lookup(const lookup_request& req, const resolver& resolve = {}) const;

  /// CodeSystem/$subsumes, transitively through the hierarchy. Errors:
  /// "not-found" (unknown system or either code), "invalid" (the codings name
  /// different systems).
  hearth::result<subsumption> subsumes(const subsumes_request& req, const resolver& resolve = {}) const;

  /// ConceptMap/$translate. Errors: "not-found" (no such concept map, or no
  /// map between source and target), "invalid" (no code).
  hearth::result<translate_result> translate(const translate_request& req, const resolver& resolve = {}) const;

  // --- for the profile validator and FHIRPath memberOf() ------------------------

  /// Is system|code in the value set (canonical, "url" or "url|version")?
  /// Cheap when repeated: the membership of a value set built from the
  /// registry alone is computed once and cached (thread-safe); a value set
  /// that needs the resolver is evaluated afresh each time. An empty system
  /// matches a code of any system of the value set. Membership only: abstract
  /// and inactive concepts are members (validate_code_in_value_set() judges
  /// them, and displays). Never fails: unknown value sets, content not
  /// available, cycles and limits give cannot_tell.
  verdict check_membership(std::string_view value_set, std::string_view system, std::string_view code,
                           const resolver& resolve = {}) const;
  /// The same for the codings of a CodeableConcept (or one Coding): valid
  /// when any coding is; else cannot_tell when any cannot tell; else invalid
  /// (also when there are no codings). For bindings and memberOf() on a
  /// Coding/CodeableConcept.
  verdict check_membership(std::string_view value_set, std::span<const coding> codings,
                           const resolver& resolve = {}) const;
  /// Is `code` a code of the code system (including the grammar-based ones)?
  /// cannot_tell for an unknown system or content not present.
  verdict check_code(std::string_view system, std::string_view code, const resolver& resolve = {}) const;

  /// The private state (opaque; defined in the module's sources).
  struct impl;

 private:
  explicit registry(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::terminology
