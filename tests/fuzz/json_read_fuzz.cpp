// libFuzzer target: the FHIR JSON reader and writer on arbitrary bytes.
// Properties (a failure traps, so libFuzzer keeps the input):
// - parse_json() never crashes, leaks or hits UB, with FHIR rules on and off;
// - what parses writes back to JSON that parses to an equal value, compact
//   and pretty (numbers keep their text, members their order);
// - compact output written again is byte-identical (the writer is stable).

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_writer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace f = hearth::fhir;

void check(std::string_view input, const f::json_read_options& opts) {
  auto v = f::parse_json(input, opts);
  if (!v) {
    if (v.error().offset > input.size()) __builtin_trap();
    return;
  }
  const std::string compact = f::to_json(*v);
  auto again = f::parse_json(compact, opts);
  if (!again || !(*again == *v)) __builtin_trap();
  if (f::to_json(*again) != compact) __builtin_trap();
  auto pretty = f::parse_json(f::to_json(*v, {.pretty = true}), opts);
  if (!pretty || !(*pretty == *v)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  f::json_read_options fhir;
  fhir.max_depth = 64;  // small limits: each run stays fast, the limits get hit
  fhir.max_items = 1000;
  check(input, fhir);
  f::json_read_options plain = fhir;
  plain.fhir_rules = false;
  check(input, plain);
  return 0;
}
