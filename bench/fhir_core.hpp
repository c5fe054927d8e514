#pragma once
// bench/fhir_core: what its parts share — the corpus (tests/data/fhir) and
// the R4 registry, each loaded once per process.

#include <string>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>

namespace hearth::bench {

/// The bytes of tests/data/fhir/<name>; throws when missing (start-up only).
std::string read_fhir_data(const std::string& name);

/// The corpus: the two resources as written, and a searchset Bundle of 100
/// entries of the two, minified.
struct fhir_corpus {
  std::string patient;
  std::string observation;
  std::string bundle;
};
const fhir_corpus& corpus();
/// 0 patient, 1 observation, 2 bundle100.
const std::string& corpus_text(int which);
extern const char* const corpus_names[3];

/// The R4 registry (HEARTH_DEFINITIONS_DIR).
const hearth::fhir::definitions& definitions();

}  // namespace hearth::bench
