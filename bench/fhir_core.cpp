// bench/fhir_core: FHIR JSON (fhir_core_json.cpp), XML (fhir_core_xml.cpp)
// and FHIRPath (fhir_core_fhirpath.cpp) in one driver; results in
// bench/RESULTS.md. This file holds the shared corpus and main().

#include "fhir_core.hpp"

#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

namespace hearth::bench {

std::string read_fhir_data(const std::string& name) {
  std::ifstream in(std::string(HEARTH_FHIR_DATA) + "/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

namespace {

std::string minified(const std::string& text) { return hearth::fhir::to_json(hearth::fhir::parse_json(text).value()); }

// A searchset Bundle of 100 entries, alternating the two resources.
std::string bundle_of_100(const std::string& patient, const std::string& observation) {
  std::string b = R"({"resourceType":"Bundle","id":"bench","type":"searchset","total":100,"entry":[)";
  for (int i = 0; i < 100; ++i) {
    if (i > 0) b += ',';
    const bool p = i % 2 == 0;
    b += R"({"fullUrl":"https://hearth.example/fhir/)";
    b += p ? "Patient/" : "Observation/";
    b += std::to_string(i);
    b += R"(","resource":)";
    b += p ? patient : observation;
    b += R"(,"search":{"mode":"match"}})";
  }
  b += "]}";
  return b;
}

}  // namespace

const char* const corpus_names[3] = {"patient", "observation", "bundle100"};

const fhir_corpus& corpus() {
  static const fhir_corpus c = [] {
    fhir_corpus x{read_fhir_data("patient.json"), read_fhir_data("observation.json"), {}};
    x.bundle = bundle_of_100(minified(x.patient), minified(x.observation));
    return x;
  }();
  return c;
}

const std::string& corpus_text(int which) {
  const fhir_corpus& c = corpus();
  return which == 0 ? c.patient : which == 1 ? c.observation : c.bundle;
}

const hearth::fhir::definitions& definitions() {
  static const hearth::fhir::definitions d = [] {
    auto r = hearth::fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
    if (!r) throw std::runtime_error("definitions: " + r.error().message);
    return std::move(r).value();
  }();
  return d;
}

}  // namespace hearth::bench

BENCHMARK_MAIN();
