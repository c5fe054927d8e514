#pragma once
// Shared by the profiles tests: the R4 registry and one validator (with US
// Core 5.0.1 and the US Core 7 smoking status profile loaded), built once per
// test process; a fake terminology service answering from a small table.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <hearth/fhir/definitions.hpp>
#include <hearth/fhir/json_reader.hpp>
#include <hearth/fhir/operation_outcome.hpp>
#include <hearth/profiles/validator.hpp>

namespace hearth::profiles::test {

inline std::filesystem::path definitions_dir() { return HEARTH_DEFINITIONS_DIR; }

inline const fhir::definitions& registry() {
  static const fhir::definitions d = [] {
    auto r = fhir::definitions::load(definitions_dir());
    if (!r) {
      std::fprintf(stderr, "definitions::load failed: %s\n", r.error().message.c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return d;
}

/// Milliseconds validator::build took (measured once, by shared()).
inline double& build_ms() {
  static double ms = 0;
  return ms;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Parses JSON text; aborts on malformed test input.
inline fhir::json_value json(std::string_view text) {
  auto r = fhir::parse_json(text);
  if (!r) {
    std::fprintf(stderr, "bad test JSON: %s\n", r.error().message.c_str());
    std::abort();
  }
  return std::move(r).value();
}

/// The test fixtures (tests/data/profiles).
inline std::filesystem::path data_dir() {
  return std::filesystem::path(__FILE__).parent_path() / ".." / "data" / "profiles";
}

/// What loading the fixtures into the shared validator gave (checked by the
/// load tests: the validator is built once per test process).
struct load_results {
  std::size_t us_core = 0;        ///< US Core 5.0.1 definitions added
  std::size_t test_package = 0;   ///< from tests/data/profiles/test-package.tgz
  std::string generated_url;      ///< the differential-only smoking status, added
  hearth::error missing;          ///< load_package of a path that does not exist
  hearth::error not_sd;           ///< add_profile of a Patient
  hearth::error unknown_base;     ///< add_profile of a differential whose base is unknown
  hearth::error no_definitions;   ///< load_package of a JSON file without StructureDefinitions
};

inline load_results& loaded() {
  static load_results r;
  return r;
}

/// The URL of US Core 7 smoking status, shipped with its snapshot, and of the
/// same definition without snapshot (generated from its differential).
constexpr const char* smoking_shipped_url = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-smokingstatus";
constexpr const char* smoking_generated_url = "http://example.org/generated/us-core-smokingstatus";

/// The validator every test shares, built once: base R4 + US Core 5.0.1
/// (8 profiles) + the test package (.tgz: test-patient, test-recursive,
/// test-recursive-quantity) + test-panel + test-observation + US Core 7
/// smoking status, shipped and differential-only. Aborts when it cannot be
/// built.
inline const validator& shared() {
  static const validator v = [] {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = validator::build(registry(), definitions_dir());
    build_ms() = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
      std::fprintf(stderr, "validator::build failed: %s (%s)\n", r.error().message.c_str(), r.error().location.c_str());
      std::abort();
    }
    auto need = [](auto result, const char* what) {
      if (!result) {
        std::fprintf(stderr, "%s: %s\n", what, result.error().message.c_str());
        std::abort();
      }
      return *result;
    };
    load_results& l = loaded();
    l.us_core = need(r->load_package(definitions_dir() / "testing" / "uscore-v5.0.1-structuredefinitions.json"), "US Core");
    l.test_package = need(r->load_package(data_dir() / "test-package.tgz"), "test package");
    need(r->load_package(data_dir() / "test-panel.json"), "test-panel");
    need(r->load_package(data_dir() / "test-observation.json"), "test-observation");
    fhir::json_value smoking = json(read_file(definitions_dir() / "testing" / "uscore-v7.0.0-smoking-status.json"));
    need(r->add_profile(smoking), "smoking status");
    smoking.erase("snapshot");
    smoking.set("url", smoking_generated_url);
    l.generated_url = need(r->add_profile(smoking), "smoking status differential");
    l.missing = r->load_package(data_dir() / "does-not-exist").error();
    l.not_sd = r->add_profile(json(R"({"resourceType": "Patient"})")).error();
    l.unknown_base = r->add_profile(json(R"({"resourceType": "StructureDefinition", "url": "http://x/y",
        "type": "Patient", "baseDefinition": "http://example.org/unknown", "derivation": "constraint",
        "differential": {"element": [{"id": "Patient", "path": "Patient"}]}})")).error();
    l.no_definitions = r->load_package(data_dir() / "package" / "package" / "package.json").error();
    return std::move(r).value();
  }();
  return v;
}

/// A fake terminology service: administrative-gender, observation-status and
/// a few LOINC codes; "cannot tell" for any other value set.
inline code_verdict fake_terminology(std::string_view vs, std::string_view system, std::string_view code,
                                     std::string_view) {
  auto bar = vs.find('|');
  if (bar != std::string_view::npos) vs = vs.substr(0, bar);
  auto in = [&](std::initializer_list<std::string_view> codes) {
    for (auto c : codes)
      if (c == code) return code_verdict{code_verdict::status::valid, {}};
    return code_verdict{code_verdict::status::invalid, "not in the test table"};
  };
  if (vs == "http://hl7.org/fhir/ValueSet/administrative-gender") return in({"male", "female", "other", "unknown"});
  if (vs == "http://hl7.org/fhir/ValueSet/observation-status")
    return in({"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"});
  if (vs == "http://hl7.org/fhir/ValueSet/observation-category") {
    if (!system.empty() && system != "http://terminology.hl7.org/CodeSystem/observation-category")
      return {code_verdict::status::invalid, "wrong system"};
    return in({"vital-signs", "laboratory", "social-history", "exam", "imaging", "survey", "procedure", "therapy", "activity"});
  }
  return {code_verdict::status::cannot_tell, "unknown value set in the test table"};
}

/// The issues of a list with this severity, code and expression.
inline std::size_t count_issues(const fhir::issue_list& l, fhir::issue_severity s, std::string_view code,
                                std::string_view expression) {
  std::size_t n = 0;
  for (const auto& i : l) n += i.severity == s && i.code == code && i.expression == expression;
  return n;
}

/// Every issue, one a line, for failure messages.
inline std::string dump(const fhir::issue_list& l) {
  std::string out;
  for (const auto& i : l)
    out += std::string(fhir::to_string(i.severity)) + " " + i.code + " @" + i.expression + ": " + i.diagnostics + "\n";
  return out;
}

}  // namespace hearth::profiles::test
