// bench/fhir_core, part 3: FHIRPath evaluations per second for the search parameter expressions of
// Patient and Observation (what indexing a resource costs), on
// tests/data/fhir/patient.json and observation.json. Expressions come from
// the R4 search-parameters.json through the registry; those the evaluator
// cannot run are counted and left out. The ceiling of the
// same run: reading the same resource's top-level element directly from the
// JSON tree (`find("birthDate")`), i.e. the cost of the data access alone.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>

#include "fhir_core.hpp"

namespace {

namespace f = hearth::fhir;
namespace fp = hearth::fhir::fhirpath;

const f::definitions& defs() { return hearth::bench::definitions(); }

f::json_value load(const char* name) {
  auto v = f::parse_json(hearth::bench::read_fhir_data(name));
  if (!v) throw std::runtime_error(std::string("cannot parse ") + name);
  return std::move(v).value();
}

struct workload {
  f::json_value resource;
  std::vector<fp::expression> expressions;  // those that evaluate without error
  std::size_t skipped = 0;
};

workload make(const char* type, const char* file) {
  workload w{load(file), {}, 0};
  for (const f::search_parameter* sp : defs().search_parameters(type)) {
    if (sp->expression.empty()) continue;
    auto e = fp::parse(sp->expression);
    if (!e || !fp::evaluate(*e, w.resource, defs())) {
      ++w.skipped;
      continue;
    }
    w.expressions.push_back(std::move(e).value());
  }
  std::fprintf(stderr, "%s: %zu search parameter expressions, %zu not evaluable yet\n", type, w.expressions.size(),
               w.skipped);
  return w;
}

void bm_search_expressions(benchmark::State& state, const char* type, const char* file) {
  const workload w = make(type, file);
  std::size_t items = 0;
  for (auto _ : state) {
    for (const fp::expression& e : w.expressions) {
      auto r = fp::evaluate(e, w.resource, defs());
      items += r ? r->size() : 0;
    }
  }
  benchmark::DoNotOptimize(items);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.expressions.size()));
}

void bm_simple_path(benchmark::State& state) {
  const f::json_value p = load("patient.json");
  const fp::expression e = fp::parse("Patient.birthDate").value();
  for (auto _ : state) {
    auto r = fp::evaluate(e, p, defs());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void bm_ceiling_direct_lookup(benchmark::State& state) {
  const f::json_value p = load("patient.json");
  for (auto _ : state) {
    const f::json_value* v = p.find("birthDate");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK_CAPTURE(bm_search_expressions, patient, "Patient", "patient.json")->Name("fhirpath/search_expressions/patient");
BENCHMARK_CAPTURE(bm_search_expressions, observation, "Observation", "observation.json")
    ->Name("fhirpath/search_expressions/observation");
BENCHMARK(bm_simple_path)->Name("fhirpath/simple_path");
BENCHMARK(bm_ceiling_direct_lookup)->Name("fhirpath/ceiling_direct_lookup");
