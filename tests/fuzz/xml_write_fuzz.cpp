// libFuzzer target: the FHIR XML writer on arbitrary FHIR JSON, with the
// real R4 registry. Input bytes -> parse_json -> write_fhir_xml ->
// parse_fhir_xml. Properties (a failure traps, so libFuzzer keeps the input):
// - write_fhir_xml() never crashes, leaks or hits UB; its errors carry one of
//   the documented codes and no offset;
// - whatever it writes, parse_fhir_xml reads back (with default options),
//   compact and pretty alike, to the same resource: equal to the parsed JSON
//   up to what the XML form does not carry (member order, which follows the
//   definitions; nulls that only pad a primitive array or its `_name` array;
//   the narrative div, which comes back as the reader serialises it, and so
//   is compared with the div read on its own);
// - that read-back resource is a fixed point: written and read again, it is
//   equal member for member.

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/xml_reader.hpp>
#include <hearth/fhir/xml_writer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "../fhir/xml_round_trip.hpp"

#include "fuzz_registry.hpp"

using hearth::fuzz::registry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto j = hearth::fhir::parse_json(input);
  if (!j) return 0;
  auto x = hearth::fhir::write_fhir_xml(*j, registry());
  if (!x) {
    const hearth::error& e = x.error();
    if (e.code != "structure" && e.code != "invalid" && e.code != "too-costly") __builtin_trap();
    if (e.offset != hearth::error::npos) __builtin_trap();
    return 0;
  }
  auto back = hearth::fhir::parse_fhir_xml(*x, registry());
  if (!back) __builtin_trap();
  // A div the writer let through but the reader refuses fails here too.
  if (!(hearth::fhir::test::xml_canonical(*back, registry()) == hearth::fhir::test::xml_canonical(*j, registry()))) {
    __builtin_trap();
  }

  hearth::fhir::xml_write_options pretty;
  pretty.pretty = true;
  auto xp = hearth::fhir::write_fhir_xml(*j, registry(), pretty);
  if (!xp) __builtin_trap();
  auto back_pretty = hearth::fhir::parse_fhir_xml(*xp, registry());
  if (!back_pretty || !(*back_pretty == *back)) __builtin_trap();

  auto x2 = hearth::fhir::write_fhir_xml(*back, registry());
  if (!x2) __builtin_trap();
  auto back2 = hearth::fhir::parse_fhir_xml(*x2, registry());
  if (!back2 || !(*back2 == *back)) __builtin_trap();
  return 0;
}
