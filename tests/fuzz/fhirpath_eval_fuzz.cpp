// libFuzzer target: FHIRPath evaluation of arbitrary expressions against a
// real resource (tests/data/fhir/patient.json) with the R4 registry.
// Properties: parse() then evaluate() never crash, overflow the stack, leak or
// hit UB; an evaluation error points inside the expression; runaway
// evaluations stop at the item limit (libFuzzer's -timeout catches the rest).

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/fhirpath_eval.hpp>
#include <hearth/fhir/fhirpath_parser.hpp>
#include <hearth/fhir/json_reader.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace {

namespace f = hearth::fhir;

struct fixture {
  f::definitions defs;
  f::json_value patient;
};

const fixture& data() {
  static const fixture fx = [] {
    auto d = f::definitions::load(HEARTH_DEFINITIONS_DIR);
    std::ifstream in(HEARTH_FHIR_DATA "/patient.json", std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto p = f::parse_json(text);
    if (!d || !p) std::abort();  // the fuzzer cannot run without its fixture
    return fixture{std::move(d).value(), std::move(p).value()};
  }();
  return fx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data_in, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data_in), size);
  auto expr = f::fhirpath::parse(text);
  if (!expr) return 0;
  f::fhirpath::context ctx;
  ctx.max_items = 100'000;  // keeps each run short; the limit itself is exercised
  auto r = f::fhirpath::evaluate(*expr, data().patient, data().defs, ctx);
  if (!r && r.error().offset != hearth::error::npos && r.error().offset > size) __builtin_trap();
  return 0;
}
