#pragma once
// The R4 registry for the fuzz targets that need one, loaded once per process
// (HEARTH_DEFINITIONS_DIR, set by tests/fuzz/CMakeLists.txt).

#include <cstdlib>
#include <utility>

#include <hearth/fhir/definitions.hpp>

namespace hearth::fuzz {

inline const hearth::fhir::definitions& registry() {
  static const hearth::fhir::definitions defs = [] {
    auto d = hearth::fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
    if (!d) std::abort();  // the fuzzer cannot run without the definitions
    return std::move(d).value();
  }();
  return defs;
}

}  // namespace hearth::fuzz
