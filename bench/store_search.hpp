#pragma once
// bench/store's search phase: first-page latency of the searches the issue
// names, over the corpus just created (bench/store.cpp runs it).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_value.hpp>
#include <hearth/store/resource_store.hpp>

namespace bench_store {

/// Search values drawn from the corpus while it loads (before the bodies move
/// into the store): every Observation code and Patient family name.
struct search_inputs {
  std::vector<std::string> codes;     ///< "system|code", distinct
  std::vector<std::string> families;  ///< distinct
  void collect(const std::string& type, const hearth::fhir::json_value& resource);
};

/// One kind of search: its latency over `runs` first pages.
struct search_figures {
  std::string name;     ///< "token", "date", "chain", "include"
  std::string example;  ///< one query, as a client would write it
  std::size_t runs = 0;
  std::size_t failures = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double mean_matches = 0, mean_included = 0;
};

/// Runs each search `runs` times on one thread, with values chosen by a
/// fixed seed (the same queries every run): Observation?code=, a one-week
/// Observation?date= range, Observation?subject.name=, and
/// Observation?code=&_include=Observation:subject.
std::vector<search_figures> run_searches(const hearth::store::resource_store& store,
                                         const hearth::fhir::definitions& defs, const search_inputs& in,
                                         std::size_t runs);

}  // namespace bench_store
