// Snapshot generation (validator::add_profile of a differential-only
// StructureDefinition): US Core 7 smoking status, its shipped snapshot
// against the one generated from its differential, must give the same
// issues on valid and invalid instances.
#include <hearth/profiles/validator.hpp>

#include <string>
#include <tuple>
#include <vector>

#include <doctest/doctest.h>

#include "test_support.hpp"

using namespace hearth;
using namespace hearth::profiles;
using namespace hearth::profiles::test;

namespace {

/// (severity, code, expression) of each issue, and whether it names the profile.
std::vector<std::tuple<fhir::issue_severity, std::string, std::string>> shape(const fhir::issue_list& l) {
  std::vector<std::tuple<fhir::issue_severity, std::string, std::string>> out;
  for (const auto& i : l) out.emplace_back(i.severity, i.code, i.expression);
  return out;
}

std::string smoker(std::string_view value, std::string_view extra = {}) {
  return std::string(R"({"resourceType": "Observation", "id": "s", "status": "final",
      "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "social-history"}]}],
      "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
      "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2020-01-01", )") +
         std::string(extra) + std::string(value) + "}";
}

}  // namespace

TEST_CASE("snapshot: a differential-only profile validates like its shipped snapshot (US Core 7 smoking status)") {
  // The shared validator holds the definition twice (test_support.hpp):
  // as shipped, and without its snapshot under another URL.
  const validator* v = &shared();
  CHECK(loaded().generated_url == smoking_generated_url);
  CHECK(v->has_profile(smoking_shipped_url));

  const std::vector<std::string> cases = {
      smoker(R"("valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]})"),
      smoker(R"("valueQuantity": {"value": 5, "unit": "/d", "system": "http://unitsofmeasure.org", "code": "/d"})"),
      smoker(R"("valueString": "smokes")"),                                      // value[x] type not allowed
      smoker(R"("valueBoolean": true)", R"("dataAbsentReason": {"text": "x"}, )"),  // obs-6 and type
      R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"}})",  // category, subject, value
      R"({"resourceType": "Observation", "status": "final", "category": [{"text": "x"}], "code": {"text": "x"},
          "subject": {"reference": "Group/1"}, "effectivePeriod": {"start": "2020"}, "valueCodeableConcept": {"text": "x"}})",
  };
  for (const auto& c : cases) {
    validate_options a, b;
    a.profiles = {smoking_shipped_url};
    b.profiles = {smoking_generated_url};
    a.terminology = b.terminology = fake_terminology;
    auto resource = json(c);
    auto with_snapshot = v->validate(resource, a);
    auto generated = v->validate(resource, b);
    CAPTURE(c);
    CHECK_MESSAGE(shape(with_snapshot) == shape(generated), "shipped:\n" << dump(with_snapshot) << "generated:\n"
                                                                          << dump(generated));
  }
  // The invalid ones are invalid.
  validate_options b;
  b.profiles = {smoking_generated_url};
  auto first = v->validate(json(cases[0]), b);
  CHECK_MESSAGE(!fhir::has_errors(first), dump(first));
  CHECK(fhir::has_errors(v->validate(json(cases[2]), b)));
  CHECK(fhir::has_errors(v->validate(json(cases[4]), b)));
}
