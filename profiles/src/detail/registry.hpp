#pragma once
// The validator's state (private to profiles): every compiled
// StructureDefinition by URL, and for the base layer the constraints and
// required bindings of each registry element. Immutable once built.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hearth/fhir/definitions.hpp>

#include "detail/compile.hpp"
#include "detail/model.hpp"

namespace hearth::profiles::detail {

/// What the base layer evaluates at one registry element (or type root).
struct base_extras {
  std::vector<const constraint_def*> constraints;  ///< evaluable ones only
  const binding_def* binding = nullptr;            ///< required bindings only
};

struct registry {
  const fhir::definitions* defs = nullptr;
  constraint_store constraints;
  /// Every StructureDefinition by canonical URL (no version).
  std::unordered_map<std::string, std::unique_ptr<model>> by_url;
  /// Base layer: per registry element (and per type root element).
  std::unordered_map<const fhir::element_definition*, base_extras> base;

  const model* find(std::string_view url) const {
    if (std::size_t bar = url.find('|'); bar != std::string_view::npos) url = url.substr(0, bar);
    auto it = by_url.find(std::string(url));
    return it == by_url.end() ? nullptr : it->second.get();
  }
  const base_extras* extras(const fhir::element_definition* e) const {
    auto it = base.find(e);
    return it == base.end() ? nullptr : &it->second;
  }
};

}  // namespace hearth::profiles::detail
