#pragma once
// Shared by the terminology tests: the registry loaded once per test process
// from the R4 definitions the build fetched, and JSON helpers.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/terminology/registry.hpp>

namespace hearth::terminology::test {

/// The four terminology bundles in HEARTH_DEFINITIONS_DIR (the paths
/// fhir::definitions::terminology() gives, without loading the rest).
inline fhir::terminology_files files() {
  const std::filesystem::path dir = HEARTH_DEFINITIONS_DIR;
  return {dir / "valuesets.json", dir / "v2-tables.json", dir / "v3-codesystems.json", dir / "conceptmaps.json"};
}

/// The registry, loaded once per test process; aborts when it cannot be
/// loaded (every test using it would fail anyway).
inline const registry& reg() {
  static const registry r = [] {
    auto loaded = registry::load(files());
    if (!loaded) {
      std::fprintf(stderr, "registry::load failed: %s (%s)\n", loaded.error().message.c_str(),
                   loaded.error().location.c_str());
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return r;
}

/// Parses JSON written in a test; aborts on a typo in the test itself.
inline fhir::json_value json(std::string_view text) {
  auto v = fhir::parse_json(text);
  if (!v) {
    std::fprintf(stderr, "bad JSON in test: %s at %zu\n", v.error().message.c_str(), v.error().offset);
    std::abort();
  }
  return std::move(v).value();
}

/// The codes of expansion.contains, flattened depth-first, in order.
inline void collect_codes(const fhir::json_value& contains, std::vector<std::string>& out) {
  if (!contains.is_array()) return;
  for (const auto& c : contains.items()) {
    if (const auto* code = c.find("code")) out.push_back(code->str());
    if (const auto* sub = c.find("contains")) collect_codes(*sub, out);
  }
}

inline std::vector<std::string> expansion_codes(const fhir::json_value& vs) {
  std::vector<std::string> out;
  const auto* exp = vs.find("expansion");
  if (!exp) return out;
  if (const auto* c = exp->find("contains")) collect_codes(*c, out);
  return out;
}

/// expansion.total as a number.
inline long expansion_total(const fhir::json_value& vs) {
  const auto* exp = vs.find("expansion");
  const auto* t = exp ? exp->find("total") : nullptr;
  return t && t->is_number() ? std::stol(t->number_text()) : -1;
}

}  // namespace hearth::terminology::test

#include <doctest/doctest.h>

/// Code lists print in failure messages.
template <>
struct doctest::StringMaker<std::vector<std::string>> {
  static doctest::String convert(const std::vector<std::string>& v) {
    std::string s = "{";
    for (const auto& x : v) s += (s.size() > 1 ? ", " : "") + x;
    s += "}";
    return doctest::String(s.c_str());
  }
};
