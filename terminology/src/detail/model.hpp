#pragma once
// The compiled, in-memory form of CodeSystems, ValueSets and ConceptMaps,
// shared by the registry (built at load from the definition bundles) and the
// operations (built per call from resources a resolver or the request gives).
//
// Plain values. Once built they are never modified: a registry's are read by
// any number of threads at once.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hearth/fhir/json_value.hpp>
#include <hearth/terminology/operations.hpp>

namespace hearth::terminology::detail {

/// Heterogeneous lookup by string_view in unordered maps keyed by std::string.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class T>
using url_map = std::unordered_map<std::string, T, string_hash, std::equal_to<>>;

/// One property value of a concept (CodeSystem.concept.property), except
/// parent/child, which become the hierarchy.
struct property_value {
  std::string code;       ///< the property code: "status", "notSelectable"
  std::string value_key;  ///< "valueCode", "valueBoolean", ...
  fhir::json_value value; ///< string, boolean or number
  /// The value as text, for filters ('=', regex, in): a string as is,
  /// booleans "true"/"false", numbers as written, a Coding's code.
  std::string text;
};

/// One concept of a code system.
struct concept_def {
  std::string code;
  std::string display;
  std::string definition;
  std::vector<designation> designations;
  std::vector<property_value> properties;
  std::vector<std::uint32_t> parents;   ///< indexes into code_system::concepts
  std::vector<std::uint32_t> children;  ///< indexes, in definition order
  bool abstract = false;
  bool inactive = false;
};

/// A property declared by CodeSystem.property.
struct property_def {
  std::string code;
  std::string type;
  std::string description;
};

/// A compiled CodeSystem.
struct code_system {
  std::string url;
  std::string version;
  std::string name;   ///< title, else name
  std::string content;  ///< CodeSystem.content: "complete", "not-present", ...
  bool case_sensitive = true;
  std::vector<property_def> property_defs;
  std::vector<concept_def> concepts;  ///< in document order (depth first)
  /// code (folded to lower case when not case-sensitive) -> index
  url_map<std::uint32_t> index;

  /// The whole content is present: expansions may enumerate it.
  bool complete() const noexcept { return content.empty() || content == "complete"; }
  /// The concept with this code, or nullptr.
  const concept_def* find(std::string_view code) const;
  std::uint32_t index_of(const concept_def* c) const noexcept {
    return static_cast<std::uint32_t>(c - concepts.data());
  }
};

/// ValueSet.compose.include.filter.
struct vs_filter {
  std::string property;
  std::string op;
  std::string value;
};

/// ValueSet.compose.include.concept.
struct vs_concept {
  std::string code;
  std::string display;
  std::vector<designation> designations;
};

/// ValueSet.compose.include / exclude.
struct vs_include {
  std::string system;
  std::string version;
  std::vector<vs_concept> concepts;
  std::vector<vs_filter> filters;
  std::vector<std::string> value_sets;  ///< canonicals, possibly "url|version"
};

/// A compiled ValueSet.
struct value_set {
  std::string id;
  std::string url;
  std::string version;
  std::string name;
  std::string title;
  std::string status;
  std::vector<vs_include> includes;
  std::vector<vs_include> excludes;
  /// compose as JSON, for includeDefinition; null when none.
  fhir::json_value compose;
};

/// ConceptMap.group.element.target.
struct cm_target {
  std::string code;
  std::string display;
  std::string equivalence;
};

/// ConceptMap.group.element.
struct cm_element {
  std::string code;
  std::string display;
  std::vector<cm_target> targets;
};

/// A compiled ConceptMap group.
struct cm_group {
  std::string source;
  std::string source_version;
  std::string target;
  std::string target_version;
  std::vector<cm_element> elements;
  std::string unmapped_mode;  ///< "provided", "fixed", "other-map"; empty when none
  std::string unmapped_code;
  std::string unmapped_display;
  std::string unmapped_url;
};

/// A compiled ConceptMap.
struct concept_map {
  std::string url;
  std::string version;
  std::string source;  ///< sourceUri / sourceCanonical
  std::string target;  ///< targetUri / targetCanonical
  std::vector<cm_group> groups;
};

/// "url|version" -> {url, version}.
struct canonical_parts {
  std::string_view url;
  std::string_view version;
};
inline canonical_parts split_canonical(std::string_view c) {
  const auto bar = c.find('|');
  if (bar == std::string_view::npos) return {c, {}};
  return {c.substr(0, bar), c.substr(bar + 1)};
}

/// ASCII lower case.
std::string ascii_lower(std::string_view s);

}  // namespace hearth::terminology::detail
