#pragma once
// hearth::profiles::validator — validates FHIR R4 resources (JSON) against
// StructureDefinitions and reports OperationOutcome issues.
//
// Two layers, as in FHIR R4 validation.html:
// 1. the base R4 definitions: the structural check of fhir::check_resource
//    (unknown elements, JSON shapes, cardinality, primitive formats, ele-1,
//    dom-2, dom-3), then every other ElementDefinition.constraint of the base
//    resources and data types (pat-1, obs-6, obs-7, ref-1, per-1, dom-4..6,
//    ...) evaluated with the FHIRPath engine at each element instance where it
//    applies, at its severity (issue code "invariant", expression = the
//    element's path, diagnostics = key and human text); ext-1 natively, and
//    txt-1/txt-2 on Narrative.div natively (fhir::check_narrative: txt-1 for
//    disallowed or malformed XHTML, txt-2 for whitespace only, diagnostics
//    saying what is wrong); the required bindings of the base
//    (Patient.gender, Observation.status, ...) through the terminology
//    callback; the target types of references ("Type/id", absolute URLs,
//    "#id"); every extension checked against its definition, found by
//    Extension.url among the 393 R4 extension definitions and the loaded
//    profiles (an unknown URL is a warning, code "extension", as with the HL7
//    validator). Not evaluated: que-7 (wrong in R4); see src/compile.cpp for
//    the list and the reasons.
// 2. profiles (meta.profile, validate_options::profiles; also meta.profile of
//    contained resources and Bundle entries): each snapshot walked over the
//    resource — cardinality (code "required" below min, "structure" above
//    max, reported at the parent's path), choice types and type profiles,
//    Reference target profiles, fixed[x] (exact) and pattern[x] (contained;
//    code "value"), maxLength ("too-long"), bindings, the profile's own
//    constraints, slicing (FHIR R4 profiling.html#slicing: discriminators
//    value, pattern, type, profile, exists over paths with extension('url'),
//    resolve(), $this; rules closed / open / openAtEnd; ordered; slice
//    cardinality) and extensions (extensibility.html). mustSupport is not a
//    validation rule and is ignored. Where an extension is used outside its
//    definition's context (StructureDefinition.context) is a warning (R4
//    publishes such uses itself; FHIRPath contexts are not evaluated). A
//    Reference that resolves (contained, same Bundle, the resolver) must
//    conform to one of the target profiles of its type.
//
// Lifetime: the validator keeps a reference to the fhir::definitions it was
// built from, which must outlive it. It is move-only.
//
// Thread-safety: build() then add_profile()/load_package() on one thread;
// after the last of those the validator is immutable, and any number of
// threads may call validate() (and the other const members) concurrently.
// Every FHIRPath expression is parsed once, when a definition is added; the
// few regular expressions matched natively are compiled on first use under
// std::call_once.
//
// Cost (measured on the 5,306 official R4 examples, see
// tests/profiles/r4_examples_test.cpp): build() ~0.4 s (reads ~45 MB of
// definitions); validate() ~1,500 resources/s on one core over every
// example (Bundles of thousands of StructureDefinitions among them), ~6,000/s
// over the clinical ones, ~30 µs for a US Core blood pressure.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>
#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/profiles/compiled_profile.hpp>
#include <hearth/profiles/validate_options.hpp>

namespace hearth::profiles {

/// How a validator is built.
struct build_options {
  /// Also read profiles-others.json (the 44 R4 profiles such as vitalsigns,
  /// bp, bodyweight) so that those profiles and everything based on them
  /// (US Core blood pressure) can be used. On by default.
  bool load_other_profiles = true;
};

class validator {
 public:
  /// Builds the validator from the registry and the folder it was loaded from
  /// (the R4 definitions bundles: profiles-types.json, profiles-resources.json,
  /// extension-definitions.json and, per options, profiles-others.json).
  /// Errors: "not-found" (a file missing; location = the file), "invalid"
  /// (malformed JSON / not a Bundle of StructureDefinitions), "exception"
  /// (I/O), "too-long" (a file beyond 256 MB). Takes about 0.4 s (it reads
  /// ~45 MB of JSON); the server may build it at start-up or on first use.
  static hearth::result<validator, hearth::error> build(const fhir::definitions& defs,
                                                        const std::filesystem::path& definitions_dir,
                                                        const build_options& opts = {});

  validator(validator&&) noexcept;
  validator& operator=(validator&&) noexcept;
  ~validator();

  /// Adds one StructureDefinition (a profile on a resource or data type, or an
  /// extension definition). It must have a snapshot or a differential whose
  /// baseDefinition is known (the snapshot is then generated from the base).
  /// Replaces an earlier definition with the same url. Returns its url.
  /// Errors: "invalid" (not a StructureDefinition, no url, neither snapshot nor
  /// usable differential), "not-found" (a differential's base is unknown).
  /// Not thread-safe: call before sharing the validator.
  hearth::result<std::string, hearth::error> add_profile(const fhir::json_value& structure_definition);

  /// Adds every StructureDefinition of a FHIR package: an npm-layout folder
  /// (`package/*.json` or `*.json` directly), an npm package archive (.tgz:
  /// its `package/*.json`), a single JSON file holding one
  /// StructureDefinition, a Bundle of them or a JSON array of them. Other
  /// resources are skipped. Definitions whose base is another definition of
  /// the same package are added after it (differentials need their base).
  /// Returns how many were added; one that cannot be added (say, a
  /// differential whose base is in no loaded package) is skipped, and when
  /// none can be, the last error is returned. Errors: "not-found", "invalid"
  /// (a file that is not JSON, a damaged archive; the location names it),
  /// "too-long" (a file or archive beyond the size limits). Not thread-safe:
  /// call before sharing the validator.
  hearth::result<std::size_t, hearth::error> load_package(const std::filesystem::path& path);

  /// True when a StructureDefinition with this canonical URL (base,
  /// extension, profile; "|version" ignored) is known.
  bool has_profile(std::string_view url) const;

  /// Compiles a StructureDefinition as add_profile() would, without adding
  /// it: for definitions that may change while the validator is shared
  /// (stored through the REST API), handed to validate() through
  /// validate_options::lookup_profile. A differential-only definition gets
  /// its snapshot generated from its base, which is one of the validator's
  /// definitions or else what `lookup` finds (a profile on a stored
  /// profile). Thread-safe: const, and shares nothing mutable. Errors: as
  /// add_profile(); the base's lookup error, when it gave one.
  hearth::result<std::shared_ptr<const compiled_profile>, hearth::error> compile(
      const fhir::json_value& structure_definition, const profile_lookup& lookup = {}) const;

  /// The value set bound to an element of a StructureDefinition (the
  /// `context` of ValueSet/$expand, "[url]#[path]"): `element` is an
  /// ElementDefinition id ("Observation.component:systolic.code") or a path
  /// ("Observation.status", its first element). The definition is one of the
  /// validator's or what `lookup` finds. Errors: "not-found" (no such
  /// definition or element; an element without a bound value set), the
  /// lookup's error.
  hearth::result<std::string, hearth::error> bound_value_set(std::string_view structure_definition_url,
                                                             std::string_view element,
                                                             const profile_lookup& lookup = {}) const;

  /// Validates `resource` (a FHIR resource in its JSON form) against the base
  /// R4 definitions, the profiles in its meta.profile and opts.profiles.
  /// Returns the issues found, in order, at most opts.max_issues (+1 summary);
  /// each has a FHIRPath expression ("Observation.component[1].code") and a
  /// message that does not quote the input. The resource is valid when
  /// fhir::has_errors() is false for the result. Never throws for bad input;
  /// bounded in time and memory for hostile resources and profiles.
  fhir::issue_list validate(const fhir::json_value& resource, const validate_options& opts = {}) const;

  /// The registry the validator was built from.
  const fhir::definitions& definitions() const noexcept;

 private:
  struct impl;
  explicit validator(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

}  // namespace hearth::profiles
