#pragma once
// hearth::terminology::resolver — where the terminology operations find the
// CodeSystems, ValueSets and ConceptMaps that the registry (the official R4
// definitions) does not hold: those stored through the REST API.

#include <functional>
#include <optional>
#include <string_view>

#include <hearth/fhir/json_value.hpp>

namespace hearth::terminology {

/// Finds a terminology resource by canonical URL.
///
/// Called with `resource_type` "CodeSystem", "ValueSet" or "ConceptMap", the
/// canonical `url` without any "|version" suffix, and `version` (empty when
/// the reference named none; the resolver may ignore it when it knows only
/// one version). Returns the resource JSON, or nullopt when unknown. (The
/// server's validation support asks the same function for
/// "StructureDefinition": profiles stored through the API.)
///
/// The registry consults its own definitions first and the resolver only for
/// a canonical it does not hold. An empty std::function means "no other
/// resources". The operations call it synchronously, on the calling thread,
/// possibly several times per operation (once per distinct canonical: the
/// answers are kept for the duration of that one call, never longer, so a
/// resource stored later is seen by the next call). It must not call back into
/// the same operation recursively. A resolver that throws propagates the
/// exception to the caller (the operations themselves do not throw for bad
/// input).
using resolver = std::function<std::optional<fhir::json_value>(
    std::string_view resource_type, std::string_view url, std::string_view version)>;

}  // namespace hearth::terminology
