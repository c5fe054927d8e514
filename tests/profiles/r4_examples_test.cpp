// Every official R4 example (hl7.fhir.r4.examples 4.0.1) through the
// validator (validator.hpp): no error-level issue on any of them, except the
// documented examples below that break R4 themselves (the HL7 validator
// reports them too). The examples that claim profiles in meta.profile
// (vitalsigns, ...) are validated against them as well.
#include <hearth/profiles/validator.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "test_support.hpp"

using namespace hearth;
using namespace hearth::profiles::test;

namespace {

// FILE → why it is not valid R4 (the structural check or an invariant
// rejects it, as the HL7 validator does). The test fails if one of them has no
// error, so the list cannot go stale.
const std::map<std::string, std::string> known_invalid = {
    {"ImplementationGuide-fhir.json", "ImplementationGuide.name is 1..1 and missing"},
    {"ig-r4.json", "ImplementationGuide.name is 1..1 and missing"},
    {"Questionnaire-qs1.json", "Questionnaire.item.item.linkId is 1..1 and missing"},
    {"SearchParameter-codesystem-extensions-CodeSystem-author.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-codesystem-extensions-CodeSystem-effective.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-codesystem-extensions-CodeSystem-end.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-codesystem-extensions-CodeSystem-keyword.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-codesystem-extensions-CodeSystem-workflow.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-valueset-extensions-ValueSet-author.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-valueset-extensions-ValueSet-effective.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-valueset-extensions-ValueSet-end.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-valueset-extensions-ValueSet-keyword.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-valueset-extensions-ValueSet-workflow.json", "SearchParameter.base is 1..* and missing"},
    {"SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
     "its id has 67 characters; an id has at most 64 (datatypes.html#id)"},
    {"Bundle-dataelements.json",
     "bdl-7: a collection Bundle with the same fullUrl several times, without meta.versionId"},
    {"DeviceMetric-example.json", "DeviceMetric.parent refers to a DeviceDefinition; R4 allows Device only"},
    {"DeviceUseStatement-example.json",
     "DeviceUseStatement.reasonReference refers to a Procedure; R4 allows Condition, Observation, "
     "DiagnosticReport, DocumentReference, Media"},
    {"MedicationRequest-medrx0301.json",
     "MedicationRequest.dispenseRequest.performer refers to a Practitioner; R4 allows Organization only"},
    {"Observation-clinical-gender.json", "Observation.performer refers to an Encounter, not an allowed target"},
    {"Observation-example-genetics-brcapat.json",
     "uses the us-core-ethnicity extension with a value[x]; US Core 5.0.1 (loaded by this test) defines it "
     "as a complex extension without value"},
    {"ActivityDefinition-blood-tubes-supply.json", "txt-2: the narrative div holds nothing but whitespace"},
    {"ActivityDefinition-heart-valve-replacement.json", "txt-2: the narrative div holds nothing but whitespace"},
    {"EventDefinition-example.json", "txt-2: the narrative div holds nothing but whitespace"},
    {"Questionnaire-zika-virus-exposure-assessment.json",
     "txt-2: the narrative div holds nothing but an empty pre element (whitespace)"},
    {"StructureDefinition-Definition.json", "sdf-4: a logical model, not abstract, without baseDefinition"},
    {"StructureDefinition-Event.json", "sdf-4: a logical model, not abstract, without baseDefinition"},
    {"StructureDefinition-FiveWs.json", "sdf-4: a logical model, not abstract, without baseDefinition"},
    {"StructureDefinition-Request.json", "sdf-4: a logical model, not abstract, without baseDefinition"},
};

}  // namespace

TEST_CASE("r4 examples: no errors on any official example but the documented invalid ones") {
  const std::filesystem::path dir = HEARTH_R4_EXAMPLES_DIR;
  if (dir.empty()) return;  // configured without the examples
  const auto& v = shared();
  MESSAGE("validator build: " << build_ms() << " ms");
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".json" && e.path().filename() != "package.json" &&
        !e.path().filename().string().starts_with("."))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() > 5000);
  std::vector<fhir::json_value> resources;
  std::vector<std::string> names;
  for (const auto& f : files) {
    auto j = fhir::parse_json(read_file(f));
    if (!j) continue;
    resources.push_back(std::move(*j));
    names.push_back(f.filename().string());
  }
  std::size_t failures = 0, warnings = 0, errors_expected = 0;
  profiles::validate_options opts;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < resources.size(); ++i) {
    auto issues = v.validate(resources[i], opts);
    bool errors = fhir::has_errors(issues);
    for (const auto& is : issues) warnings += is.severity == fhir::issue_severity::warning;
    bool expected = known_invalid.count(names[i]) > 0;
    if (expected) {
      ++errors_expected;
      CHECK_MESSAGE(errors, names[i] << " is listed as invalid but has no error");
      continue;
    }
    if (errors) {
      ++failures;
      for (const auto& is : issues)
        if (is.severity <= fhir::issue_severity::error) {
          MESSAGE(names[i] << ": " << is.code << " @" << is.expression << ": " << is.diagnostics);
          break;
        }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE(resources.size() << " examples validated in " << secs << " s (" << resources.size() / secs
                           << " resources/s); " << warnings << " warnings");
  CHECK(failures == 0);
  CHECK(errors_expected == known_invalid.size());
}
