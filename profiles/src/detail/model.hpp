#pragma once
// The compiled form of a StructureDefinition snapshot (private to profiles).
//
// A snapshot is a flat list of ElementDefinitions; validation needs it as a
// tree: each element's children (by path) and, for a sliced element, its
// slices (elements with the same path and a sliceName; FHIR R4
// elementdefinition.html#slicing, profiling.html#slicing). The tree is built
// from ElementDefinition.id ("Observation.component:systolic.code"), whose
// segments name the slice an element belongs to.
//
// Everything here is immutable once the validator is built; models refer to
// constraints by pointer into the validator's constraint store.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <hearth/fhir/fhirpath_ast.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/operation_outcome.hpp>

namespace re2 {
class RE2;
}

namespace hearth::profiles::detail {

/// One ElementDefinition.constraint, its FHIRPath expression parsed once.
struct constraint_def {
  std::string key;
  fhir::issue_severity severity = fhir::issue_severity::error;
  std::string human;
  std::string expression;
  /// ElementDefinition.constraint.source: the StructureDefinition that defined it.
  std::string source;
  /// The expression wrapped as `%hearthFocus.select(<expression>)`, so that it
  /// is evaluated with the element instance as focus ($this) while %resource
  /// stays the resource. Empty when skipped or unparsable.
  std::shared_ptr<const fhir::fhirpath::expression> compiled;
  /// For an expression of the form `member.matches('regex')` (the name
  /// invariants of every canonical resource, eld-19, eld-20): the member and
  /// the pattern compiled once; evaluated natively with the engine's
  /// semantics (RE2, partial match, UTF-8, '.' matches line breaks).
  std::string native_member;
  std::string native_pattern;
  /// The compiled pattern, on first use (compiling eld-19's pattern alone
  /// takes milliseconds; most validators never meet an ElementDefinition).
  /// Thread-safe through the once_flag.
  const re2::RE2* native_re() const;
  mutable std::once_flag native_once;
  mutable std::shared_ptr<const re2::RE2> native_compiled;
  /// R4 invariants whose isDistinct() runs over large collections and is
  /// evaluated natively with a hash set of the strings instead (bdl-7,
  /// csd-1, sdf-1, sdf-16, sdf-17: a Bundle of thousands of entries, a
  /// CodeSystem of thousands of concepts, a StructureDefinition of thousands
  /// of elements; the engine's isDistinct() hashes too, but builds a FHIRPath
  /// item of each first); empty for the others. Same results as the
  /// expression (walk.cpp).
  std::string native_distinct;
  /// "txt-1" or "txt-2" for the R4 Narrative.div invariants, both written
  /// `htmlChecks()`, checked natively (fhir::check_narrative) as the HL7
  /// validator reads them: txt-1 fails on disallowed or malformed XHTML,
  /// txt-2 on XHTML with no content but whitespace; empty for the others.
  std::string native_narrative;
  /// Why it is not evaluated (a known-bad R4 constraint, a parse error); empty
  /// when it is.
  std::string skip_reason;
};

/// ElementDefinition.type, one entry.
struct type_def {
  std::string code;                          ///< "Quantity", "Reference", "BackboneElement"
  std::vector<std::string> profiles;         ///< type.profile
  std::vector<std::string> target_profiles;  ///< type.targetProfile
};

enum class binding_strength : std::uint8_t { required, extensible, preferred, example };

struct binding_def {
  binding_strength strength = binding_strength::example;
  std::string value_set;  ///< canonical URL, may hold "|version"
};

/// ElementDefinition.slicing.discriminator.type.
enum class discriminator_kind : std::uint8_t { value, exists, pattern, type, profile };

struct discriminator_def {
  discriminator_kind kind = discriminator_kind::value;
  std::string path;  ///< FHIRPath-ish: "$this", "url", "code.coding", "extension('x').value", "resolve()"
};

enum class slicing_rules : std::uint8_t { closed, open, open_at_end };

struct slicing_def {
  std::vector<discriminator_def> discriminators;
  bool ordered = false;
  slicing_rules rules = slicing_rules::open;
};

/// One element of a snapshot.
struct element {
  std::string id;          ///< "Observation.component:systolic.code"
  std::string path;        ///< "Observation.component.code"
  std::string name;        ///< last path segment: "code", "value[x]"
  std::string slice_name;  ///< sliceName, empty for an unsliced element
  std::uint32_t min = 0;
  std::uint32_t max = UINT32_MAX;  ///< UINT32_MAX for "*"
  std::vector<type_def> types;
  std::vector<const constraint_def*> constraints;
  std::optional<binding_def> binding;
  /// fixed[x] / pattern[x] value and the type its JSON name gives ("Coding").
  std::unique_ptr<fhir::json_value> fixed;
  std::unique_ptr<fhir::json_value> pattern;
  std::string fixed_type;
  std::optional<std::uint32_t> max_length;
  std::optional<slicing_def> slicing;
  /// "#Questionnaire.item": the element whose children this one reuses.
  std::string content_reference;
  /// Indices (into model::elements) of the children and of the slices.
  std::vector<std::uint32_t> children;
  std::vector<std::uint32_t> slices;

  bool is_choice() const noexcept { return name.ends_with("[x]"); }
};

/// One StructureDefinition, compiled.
struct model {
  std::string url;
  std::string name;
  std::string type;        ///< StructureDefinition.type: "Patient", "Extension"
  std::string kind;        ///< resource, complex-type, primitive-type, logical
  std::string derivation;  ///< specialization / constraint
  std::string base_definition;
  /// A definition of the R4 core (profiles-types/resources.json): its own
  /// constraints are evaluated by the base layer, not again for profiles.
  bool core = false;
  std::vector<element> elements;  ///< [0] is the root
  /// For an extension definition: StructureDefinition.context, where it may
  /// be used (extensibility.html#context): ("element" | "extension" |
  /// "fhirpath", expression). Empty: anywhere.
  std::vector<std::pair<std::string, std::string>> contexts;

  /// Index of the element with this id, or npos.
  std::size_t find_id(std::string_view id) const noexcept;
};

inline std::size_t model::find_id(std::string_view id) const noexcept {
  for (std::size_t i = 0; i < elements.size(); ++i)
    if (elements[i].id == id) return i;
  return static_cast<std::size_t>(-1);
}

}  // namespace hearth::profiles::detail
