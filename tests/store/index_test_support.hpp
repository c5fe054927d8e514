#pragma once
// Shared by the indexer tests ("index: ..."): the R4 registry and one indexer
// built from it, both loaded once per test process, and small helpers.

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/store/indexer.hpp>

namespace hearth::store::test {

/// The R4 registry; aborts when it cannot be loaded (every case needs it).
inline const fhir::definitions& registry() {
  static const fhir::definitions d = [] {
    auto r = fhir::definitions::load(HEARTH_DEFINITIONS_DIR);
    if (!r) {
      std::fprintf(stderr, "definitions::load failed: %s\n", r.error().message.c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return d;
}

/// An indexer with the default options over registry().
inline const indexer& default_indexer() {
  static const indexer ix(registry());
  return ix;
}

/// Parses JSON text written by a test; aborts on a typo in the test itself.
inline fhir::json_value json(std::string_view text) {
  auto r = fhir::parse_json(text);
  if (!r) {
    std::fprintf(stderr, "bad test JSON: %s at %zu\n", r.error().message.c_str(), r.error().offset);
    std::abort();
  }
  return std::move(r).value();
}

/// The entries of one parameter (by code) in one of index_entries' vectors.
template <class Entry>
std::vector<Entry> of(const std::vector<Entry>& entries, std::string_view code) {
  std::vector<Entry> out;
  for (const Entry& e : entries)
    if (e.param && e.param->code == code) out.push_back(e);
  return out;
}

}  // namespace hearth::store::test
