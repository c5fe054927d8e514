#pragma once
// Snapshot generation for differential-only StructureDefinitions (private to
// profiles). FHIR R4 profiling.html#snapshot, elementdefinition.html#id.

#include <functional>
#include <memory>
#include <string_view>

#include <rapidjson/document.h>

#include <hearth/core/error.hpp>
#include <hearth/core/result.hpp>

#include "detail/compile.hpp"
#include "detail/model.hpp"
#include "detail/registry.hpp"

namespace hearth::profiles::detail {

/// Models beyond the registry's, by canonical URL; nullptr when unknown.
using model_finder = std::function<const model*(std::string_view url)>;

/// The model of a StructureDefinition that has a differential but no
/// snapshot: a copy of its base's model (baseDefinition, which must be known
/// to `reg` or, failing that, to `more`) with each differential element laid over the element with the
/// same id — created when the differential introduces it: a new slice (a copy
/// of the sliced element), an element inside a slice (a copy of the unsliced
/// one), or an element inside a data type the base does not expand (from the
/// type's definition). Errors: "invalid" (no differential, no
/// baseDefinition), "not-found" (the base is unknown), "not-supported" (an
/// element whose base cannot be found).
hearth::result<std::unique_ptr<model>, hearth::error> generate_model(const rapidjson::Value& sd, const registry& reg,
                                                                     constraint_store& constraints,
                                                                     const model_finder& more = {});

}  // namespace hearth::profiles::detail
