#pragma once
// One validation: the base layer and the profile walks over one resource
// (private to profiles; validator::validate calls it).

#include <hearth/fhir/json_value.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/profiles/validate_options.hpp>

#include "detail/registry.hpp"

namespace hearth::profiles::detail {

/// The issues of `resource` beyond fhir::check_resource: base invariants,
/// required bindings, extensions, reference targets, then every profile of
/// meta.profile and opts.profiles. Pure function of its arguments.
fhir::issue_list validate_resource(const registry& reg, const fhir::json_value& resource,
                                   const validate_options& opts);

}  // namespace hearth::profiles::detail
