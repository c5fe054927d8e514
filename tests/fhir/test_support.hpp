#pragma once
// Shared by the fhir tests: the registry loaded once from the definitions the
// build fetched, and where the official conformance inputs are.

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <hearth/fhir/definitions.hpp>

namespace hearth::fhir::test {

/// The R4 registry, loaded once per test process; aborts when it cannot be
/// loaded (every test using it would fail anyway).
inline const definitions& registry() {
  static const definitions d = [] {
    auto r = definitions::load(HEARTH_DEFINITIONS_DIR);
    if (!r) {
      std::fprintf(stderr, "definitions::load failed: %s\n", r.error().message.c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return d;
}

/// The official FHIRPath suite's inputs (R4 examples), in ../shared beside the checkout.
inline std::filesystem::path conformance_inputs() {
  return std::filesystem::path(HEARTH_CONFORMANCE_DIR) / "fhirpath" / "input";
}

}  // namespace hearth::fhir::test
