#pragma once
// The state of a compiled_profile (compiled_profile.hpp; private to profiles).

#include <memory>
#include <vector>

#include <hearth/profiles/compiled_profile.hpp>

#include "detail/compile.hpp"
#include "detail/model.hpp"

namespace hearth::profiles {

struct compiled_profile::impl {
  /// The constraints of this definition's own elements (its model points
  /// into it; those cloned from a base point into the base's store).
  detail::constraint_store constraints;
  std::unique_ptr<detail::model> m;
  /// Compiled profiles the model was derived from (a differential's base
  /// found through a lookup): their models and constraints are referred to.
  std::vector<std::shared_ptr<const compiled_profile>> depends;
};

}  // namespace hearth::profiles
