#include <hearth/terminology/registry.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "terminology/test_support.hpp"

using namespace hearth::terminology;

namespace {

/// Resident set size in KiB (Linux /proc/self/status VmRSS), 0 when unknown.
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

}  // namespace

TEST_CASE("registry: load reads the four R4 terminology bundles") {
  // A load of its own, measured (informational: `-s` shows it). The other
  // cases share test::reg().
  const long before = rss_kib();
  const auto t0 = std::chrono::steady_clock::now();
  auto loaded = registry::load(test::files());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  const long after = rss_kib();
  REQUIRE(loaded);
  MESSAGE("registry load: " << ms << " ms, RSS +" << (after - before) / 1024 << " MiB (" << after / 1024 << " MiB total)");
  const registry& r = *loaded;
  const auto s = r.stats();
  // 496 + 424 + 143 CodeSystems (v2-0360 twice, in versions 2.3.1 and 2.7).
  CHECK(s.code_systems == 1063);
  // 673 + 428 + 216 ValueSets, all distinct.
  CHECK(s.value_sets == 1317);
  CHECK(s.concept_maps == 19);
  CHECK(s.concepts > 20'000);
  CHECK(r.has_code_system("http://hl7.org/fhir/administrative-gender"));
  CHECK(r.has_code_system("http://hl7.org/fhir/administrative-gender|4.0.1"));
  CHECK(r.has_value_set("http://terminology.hl7.org/ValueSet/v2-0001"));
  CHECK(r.has_concept_map("http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"));
  CHECK_FALSE(r.has_code_system("http://example.org/CodeSystem/none"));
  // SNOMED CT is declared (content "not-present"), but has no concepts.
  CHECK(r.has_code_system("http://snomed.info/sct"));
  CHECK_FALSE(r.find_concept("http://snomed.info/sct", "22298006"));
  const auto male = r.find_concept("http://hl7.org/fhir/administrative-gender", "male");
  REQUIRE(male);
  CHECK(male->display == "Male");
  CHECK_FALSE(male->abstract);
}

TEST_CASE("registry: load reports a missing file as not-found") {
  auto f = test::files();
  f.v2_tables = "/nonexistent/v2-tables.json";
  auto r = registry::load(f);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "not-found");
  CHECK(r.error().location == "/nonexistent/v2-tables.json");
}
