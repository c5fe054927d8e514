// libFuzzer target: the FHIR XML reader on arbitrary bytes, with the real R4
// registry. Properties (a failure traps, so libFuzzer keeps the input):
// - parse_fhir_xml() never crashes, leaks or hits UB;
// - an error's offset lies within the input;
// - what converts is valid FHIR JSON: written and read back under FHIR's
//   JSON rules, it gives the same value.

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>
#include <hearth/fhir/xml_reader.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_registry.hpp"

using hearth::fuzz::registry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  hearth::fhir::xml_read_options opts;
  opts.max_depth = 64;
  auto v = hearth::fhir::parse_fhir_xml(input, registry(), opts);
  if (!v) {
    if (v.error().offset != hearth::error::npos && v.error().offset > size) __builtin_trap();
    return 0;
  }
  auto again = hearth::fhir::parse_json(hearth::fhir::to_json(*v));
  if (!again || !(*again == *v)) __builtin_trap();
  return 0;
}
