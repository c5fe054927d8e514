// libFuzzer target: UCUM unit expressions (units arrive from clients in
// Quantity.code, search parameters and FHIRPath). Properties (a failure traps,
// so libFuzzer keeps the input):
// - parse() never crashes, leaks or hits UB; an error's offset lies within the input;
// - a parsed unit is comparable with itself and with its canonical unit, which
//   parses again to the same dimension;
// - converting 1 of it to itself gives 1 (not for unsupported special units);
// - multiply(u, u) and divide(u, u) either fail cleanly or give units of
//   doubled / zero dimension.

#include <hearth/fhir/ucum.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ucum = hearth::fhir::ucum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto u = ucum::parse(input);
  if (!u) {
    if (u.error().offset != hearth::error::npos && u.error().offset > size) __builtin_trap();
    return 0;
  }
  if (u->special == ucum::special_kind::unsupported) return 0;
  if (!ucum::comparable(*u, *u)) __builtin_trap();
  auto same = ucum::convert("1", *u, *u);
  if (!same || same->text != "1") __builtin_trap();
  if (u->special == ucum::special_kind::none) {
    auto c = ucum::parse(ucum::canonical_unit(*u));
    if (!c || c->dimension != u->dimension || !ucum::comparable(*u, *c)) __builtin_trap();
    if (auto m = ucum::multiply(*u, *u)) {
      for (std::size_t i = 0; i < 7; ++i)
        if (m->dimension[i] != 2 * u->dimension[i]) __builtin_trap();
    }
    if (auto d = ucum::divide(*u, *u)) {
      for (int x : d->dimension)
        if (x != 0) __builtin_trap();
    }
  }
  return 0;
}
